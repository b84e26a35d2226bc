//! The local SQS server (moto, started by scripts/test.sh) for the spool tests: queues, and a
//! drain that acts like Lambda's SQS event source mapping.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use aws_sdk_sqs::Client;
use ingest::response::Answer;
use ingest::spool::event::sqs_event;
use ingest::spool::PROVIDER_ATTRIBUTE;
use ingest::testkit::AnyHandler;
use ingest::ProviderId;

/// The local SQS server's endpoint. Spool tests refuse to pass without it.
pub fn sqs_endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL_SQS").unwrap_or_else(|_| {
        panic!(
            "spool tests need the local SQS server: run them with scripts/test.sh \
             (or start scripts/aws-local.sh and set AWS_ENDPOINT_URL_SQS)"
        )
    })
}

/// A client for setting up and reading queues, with the SDK's default timeouts.
pub async fn sqs_admin() -> Client {
    sqs_endpoint();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(ingest::aws::https_client())
        .load()
        .await;
    Client::new(&config)
}

/// A fresh spool queue and its dead-letter queue (redrive after `max_receives` receives):
/// (queue URL, dead-letter queue URL).
pub async fn create_queues(client: &Client, prefix: &str, max_receives: u32) -> (String, String) {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    let dlq = client
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await
        .expect("create the dead-letter queue")
        .queue_url
        .unwrap();
    let arn = client
        .get_queue_attributes()
        .queue_url(&dlq)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    let redrive = serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": max_receives});
    let queue = client
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .attributes(QueueAttributeName::VisibilityTimeout, "30")
        .send()
        .await
        .expect("create the spool queue")
        .queue_url
        .unwrap();
    (queue, dlq)
}

/// (visible, in flight) messages of a queue.
pub async fn depth(client: &Client, url: &str) -> (u64, u64) {
    ingest::replay::queue_depth(client, url).await.unwrap()
}

/// What a drain did.
#[derive(Debug, Default)]
pub struct Drain {
    pub batches: usize,
    pub records: usize,
    /// Records reported as batch item failures (received again later).
    pub failures: usize,
}

/// Drains `url` the way Lambda's event source mapping would, into the handler of the provider
/// each message names: batches of up to 10 as SQS events; what the answer does not list as a
/// failure is deleted. Failures stay in flight until the queue has nothing else visible (as a
/// visibility timeout would keep them), then come back; at most `rounds` rounds.
pub async fn drain(
    client: &Client,
    url: &str,
    handlers: &HashMap<ProviderId, Box<dyn AnyHandler>>,
    rounds: usize,
) -> Drain {
    let mut drain = Drain::default();
    for _ in 0..rounds {
        let mut failed = Vec::new();
        loop {
            let messages = client
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                // Long enough for a whole round: failures stay in flight until it ends, and
                // a round of 600 records took 50 s on this machine under load (at 60 s their
                // receipts went stale before they were released).
                .visibility_timeout(600)
                .wait_time_seconds(0)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await
                .expect("receive from the spool queue")
                .messages
                .unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            let mut by_provider: HashMap<ProviderId, Vec<_>> = HashMap::new();
            for message in messages {
                let provider = message
                    .message_attributes()
                    .and_then(|a| a.get(PROVIDER_ATTRIBUTE))
                    .and_then(|v| v.string_value())
                    .and_then(ProviderId::find)
                    .expect("every spooled message names its provider");
                by_provider.entry(provider).or_default().push(message);
            }
            for (provider, messages) in by_provider {
                let records = messages.iter().map(ingest::replay::lambda_record).collect();
                let Answer::Batch(response) = handlers[&provider].invoke(&sqs_event(records)).await
                else {
                    panic!("{provider}: an SQS event answered as HTTP");
                };
                drain.batches += 1;
                drain.records += messages.len();
                let failures = response.failed_ids();
                assert!(
                    !failures.contains(&""),
                    "{provider}: the whole batch failed"
                );
                for message in &messages {
                    let receipt = message.receipt_handle().unwrap().to_string();
                    if failures.contains(&message.message_id().unwrap()) {
                        drain.failures += 1;
                        failed.push(receipt);
                    } else {
                        client
                            .delete_message()
                            .queue_url(url)
                            .receipt_handle(receipt)
                            .send()
                            .await
                            .unwrap();
                    }
                }
            }
        }
        if failed.is_empty() {
            break;
        }
        for receipt in failed {
            client
                .change_message_visibility()
                .queue_url(url)
                .receipt_handle(receipt)
                .visibility_timeout(0)
                .send()
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drain
}
