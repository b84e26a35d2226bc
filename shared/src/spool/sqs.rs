//! The real spool: the function's SQS queue (`SPOOL_QUEUE_URL`).

use aws_sdk_sqs::types::MessageAttributeValue;
use aws_sdk_sqs::Client;

use super::{
    BoxFuture, Spool, SpoolError, SpoolMessage, ACCOUNT_ATTRIBUTE, BASE64, BODY_ENCODING_ATTRIBUTE,
    PROVIDER_ATTRIBUTE, RECEIVED_AT_ATTRIBUTE,
};

/// A spool queue.
#[derive(Clone, Debug)]
pub struct SqsSpool {
    client: Client,
    queue_url: String,
}

impl SqsSpool {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        SqsSpool {
            client,
            queue_url: queue_url.into(),
        }
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }
}

/// A String message attribute.
pub(crate) fn string_attribute(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .expect("the data type is set")
}

impl Spool for SqsSpool {
    fn send<'a>(&'a self, message: &'a SpoolMessage) -> BoxFuture<'a, Result<(), SpoolError>> {
        Box::pin(async move {
            let mut request = self
                .client
                .send_message()
                .queue_url(&self.queue_url)
                .message_body(&message.body.text)
                .message_attributes(
                    PROVIDER_ATTRIBUTE,
                    string_attribute(message.provider.name()),
                )
                .message_attributes(
                    RECEIVED_AT_ATTRIBUTE,
                    string_attribute(&message.received_at),
                );
            if message.body.base64 {
                request =
                    request.message_attributes(BODY_ENCODING_ATTRIBUTE, string_attribute(BASE64));
            }
            if let Some(account) = &message.account {
                request = request.message_attributes(ACCOUNT_ATTRIBUTE, string_attribute(account));
            }
            request.send().await.map(|_| ()).map_err(|e| {
                SpoolError::Unavailable(aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
            })
        })
    }
}
