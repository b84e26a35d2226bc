//! The real spool: the function's SQS queue (`SPOOL_QUEUE_URL`).

use std::time::Duration;

use aws_sdk_sqs::types::MessageAttributeValue;
use aws_sdk_sqs::Client;

use super::{
    BoxFuture, Spool, SpoolError, SpoolMessage, ACCOUNT_ATTRIBUTE, BASE64, BODY_ENCODING_ATTRIBUTE,
    PROVIDER_ATTRIBUTE, RECEIVED_AT_ATTRIBUTE,
};

/// An SQS client for the functions, made like [`crate::storage::dynamodb_client`]: region and
/// credentials from the variables Lambda sets, the rustls-*ring* HTTPS client, the SDK's
/// standard `AWS_ENDPOINT_URL_SQS` / `AWS_ENDPOINT_URL` overrides, and timeouts short enough for
/// the queue's share of the budget. Making it sends nothing: the first request connects.
pub fn sqs_client() -> Client {
    sqs_client_on(crate::storage::https_client())
}

/// [`sqs_client`] on a given HTTP client (the one the function's DynamoDB client uses).
pub fn sqs_client_on(http: aws_sdk_sqs::config::SharedHttpClient) -> Client {
    use aws_config::environment::EnvironmentVariableCredentialsProvider;
    use aws_config::retry::RetryConfig;
    use aws_config::timeout::TimeoutConfig;
    use aws_sdk_sqs::config::BehaviorVersion;

    let mut config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(crate::storage::lambda_region())
        .credentials_provider(EnvironmentVariableCredentialsProvider::new())
        .http_client(http)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(300))
                .operation_attempt_timeout(Duration::from_millis(400))
                .operation_timeout(Duration::from_millis(1500))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(3));
    if let Some(url) = crate::storage::endpoint_override("AWS_ENDPOINT_URL_SQS") {
        config = config.endpoint_url(url);
    }
    Client::from_conf(config.build())
}

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
                .message_attributes(PROVIDER_ATTRIBUTE, string_attribute(message.provider))
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
