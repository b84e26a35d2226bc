//! `create-queue` and `replay`: a spool queue with its dead-letter queue (for local runs), and
//! replaying quarantined or dead-lettered bodies through today's code.

use std::collections::HashMap;

use aws_sdk_sqs::types::QueueAttributeName;
use ingest::replay::{replay, Source};
use ingest::storage::DynamoDbStore;
use ingest::ProviderId;

use crate::error::{aws, Context, Error, Result};

/// 14 days, the most SQS keeps a message (as template.yaml's queues).
const RETENTION_SECONDS: u32 = 1_209_600;

/// Creates `<name>-dlq` and `<name>` (redriving to it after `max_receives` receives) unless
/// they exist with these settings, and prints the spool queue's URL.
pub async fn create(
    client: &aws_sdk_sqs::Client,
    name: &str,
    max_receives: u32,
    visibility_seconds: u32,
) -> Result<()> {
    let dlq_url = client
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .attributes(
            QueueAttributeName::MessageRetentionPeriod,
            RETENTION_SECONDS.to_string(),
        )
        .attributes(QueueAttributeName::SqsManagedSseEnabled, "true")
        .send()
        .await
        .map_err(aws)
        .context("CreateQueue (dead-letter queue)")?
        .queue_url
        .ok_or_else(|| Error::msg("CreateQueue returned no URL"))?;
    let dlq_arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(aws)
        .context("GetQueueAttributes")?
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .ok_or_else(|| Error::msg("the dead-letter queue has no ARN"))?;
    let redrive =
        serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives});
    let attributes = HashMap::from([
        (
            QueueAttributeName::MessageRetentionPeriod,
            RETENTION_SECONDS.to_string(),
        ),
        (QueueAttributeName::SqsManagedSseEnabled, "true".to_string()),
        (
            QueueAttributeName::VisibilityTimeout,
            visibility_seconds.to_string(),
        ),
        (QueueAttributeName::RedrivePolicy, redrive.to_string()),
    ]);
    let url = client
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes))
        .send()
        .await
        .map_err(aws)
        .context("CreateQueue")?
        .queue_url
        .ok_or_else(|| Error::msg("CreateQueue returned no URL"))?;
    println!("{url}");
    Ok(())
}

/// Replays the quarantine of `provider` (of every provider when `None`), or the messages of
/// `queue_url`, into `table`.
pub async fn run_replay(
    dynamodb: aws_sdk_dynamodb::Client,
    table: &str,
    provider: Option<ProviderId>,
    queue_url: Option<String>,
    dry_run: bool,
) -> Result<()> {
    // A replay writes what the functions would have: with their TTL when RETENTION_DAYS is
    // set here as it is on the stack, and it refuses a value the functions would refuse.
    let retention = ingest::config::Retention::read(&ingest::config::Env::process())
        .map_err(|e| Error::msg(e.0))?;
    let store = DynamoDbStore::new(dynamodb, table).with_retention(retention);
    let source = match queue_url {
        Some(url) => Source::Queue {
            client: crate::sqs_client().await,
            url,
        },
        None => Source::Quarantine(quarantines(provider)),
    };
    let report = replay(&store, &source, dry_run).await.map_err(Error::msg)?;
    for line in report.lines() {
        println!("{line}");
    }
    Ok(())
}

/// The providers whose quarantine `replay` reads: the one asked for, or every one.
fn quarantines(provider: Option<ProviderId>) -> Vec<ProviderId> {
    provider.map_or_else(|| ProviderId::ALL.to_vec(), |id| vec![id])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_reads_every_quarantine_unless_one_is_named() {
        assert_eq!(quarantines(None), ProviderId::ALL);
        assert_eq!(
            quarantines(Some(ProviderId::Callbell)),
            [ProviderId::Callbell]
        );
    }
}
