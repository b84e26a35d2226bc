//! Replay (feature `replay`, for `ingest-dev replay`): bodies kept in the quarantine or in a
//! (dead-letter) queue go through today's code again — the drain's own
//! [`WebhookHandler::redeliver`], on the table, without verification (they were verified when they
//! first arrived).
//!
//! - From the quarantine: a body that is stored, a duplicate, an update or ignored now leaves
//!   the quarantine (its item is deleted); one still invalid stays, its item rewritten with
//!   today's error (same key: same `received_at` and body); one the table could not take
//!   stays as it is.
//! - From a queue: a settled body is deleted from the queue; one the table could not take is
//!   released for a later replay. Records read like the drain's (malformed ones are
//!   quarantined under the provider they name); a record naming no registered provider stays.
//!
//! Bodies are taken oldest first, in two passes: a status update whose message is not stored
//! yet is tried again after all the others (its message may be among them), and only then
//! ignored as row 12. Running a replay twice changes nothing the second time: what the first
//! settled is gone, and what it left is rewritten identically.
//!
//! A dry run reads the table only ([`DynamoDbStore::read_only`]), deletes and writes nothing,
//! and releases the queue's messages; each body is predicted against the table as it is, so a
//! status update whose message would be stored by the same run shows as ignored.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use serde_json::{json, Value};

use crate::aws::failed;
use crate::handler::{Disposition, Drained, WebhookHandler};
use crate::providers::{Provider, ProviderId, ProviderVisitor};
use crate::response::{Outcome, OutcomeName};
use crate::spool::event::{read_record, Record, Spooled};
use crate::spool::BoxFuture;
use crate::storage::keys::quarantine_key;
use crate::storage::{item_key, DynamoDbStore};

/// Where the bodies come from.
#[derive(Clone, Debug)]
pub enum Source {
    /// The quarantine items of these providers.
    Quarantine(Vec<ProviderId>),
    /// The messages of this queue (a spool queue's dead-letter queue).
    Queue {
        client: aws_sdk_sqs::Client,
        url: String,
    },
}

/// What happened to one body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The quarantine item's `sk`, or the queue message's id.
    pub key: String,
    pub provider: String,
    pub outcome: Ended,
    pub message_id: Option<String>,
    pub detail: Option<String>,
    pub action: Action,
}

/// How a body's replay ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// It went through the drain: the contract's outcome name (`stored`, `invalid`, …).
    Handled(OutcomeName),
    /// A queue message naming no registered provider: left in the queue, not handled.
    UnknownProvider,
}

impl Ended {
    pub fn as_str(self) -> &'static str {
        match self {
            Ended::Handled(outcome) => outcome.as_str(),
            Ended::UnknownProvider => "unknown_provider",
        }
    }
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<OutcomeName> for Ended {
    fn eq(&self, outcome: &OutcomeName) -> bool {
        *self == Ended::Handled(*outcome)
    }
}

/// An ending compares equal to its name (`stored`, `unknown_provider`).
impl PartialEq<&str> for Ended {
    fn eq(&self, name: &&str) -> bool {
        self.as_str() == *name
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Deleted from the quarantine or the queue (a dry run: would be).
    Removed,
    /// Stays where it was (quarantined again with today's error, or released to the queue).
    Stays,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub dry_run: bool,
    pub entries: Vec<Entry>,
}

impl Report {
    /// How many bodies ended with `outcome` (an [`OutcomeName`], an [`Ended`] or its name).
    pub fn count<O>(&self, outcome: O) -> usize
    where
        Ended: PartialEq<O>,
    {
        self.entries.iter().filter(|e| e.outcome == outcome).count()
    }

    pub fn removed(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| e.action == Action::Removed)
            .count()
    }

    /// One line per body, then a summary.
    pub fn lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .entries
            .iter()
            .map(|e| {
                let action = match (e.action, self.dry_run) {
                    (Action::Removed, false) => "removed",
                    (Action::Removed, true) => "would be removed",
                    (Action::Stays, false) => "stays",
                    (Action::Stays, true) => "would stay",
                };
                let mut line = format!("{} {}: {} → {action}", e.provider, e.key, e.outcome);
                if let Some(id) = &e.message_id {
                    line.push_str(&format!(" (message {id})"));
                }
                if let Some(detail) = &e.detail {
                    line.push_str(&format!(": {detail}"));
                }
                line
            })
            .collect();
        let mut outcomes: Vec<Ended> = self.entries.iter().map(|e| e.outcome).collect();
        outcomes.sort_unstable_by_key(|o| o.as_str());
        outcomes.dedup();
        let counts: Vec<String> = outcomes
            .iter()
            .map(|o| format!("{} {o}", self.count(*o)))
            .collect();
        lines.push(format!(
            "{}{} bodies{}{}; {} {}",
            if self.dry_run { "dry run: " } else { "" },
            self.entries.len(),
            if counts.is_empty() { "" } else { ": " },
            counts.join(", "),
            self.removed(),
            if self.dry_run {
                "would be removed"
            } else {
                "removed"
            },
        ));
        lines
    }
}

/// One body to replay, and where it came from.
struct Pending {
    key: String,
    provider: ProviderId,
    record: Record,
    /// The queue message's receipt handle.
    receipt: Option<String>,
}

/// Replays every body of `source` into `store`'s table.
pub async fn replay(
    store: &DynamoDbStore,
    source: &Source,
    dry_run: bool,
) -> Result<Report, String> {
    let store = if dry_run {
        store.clone().read_only()
    } else {
        store.clone()
    };
    let mut report = Report {
        dry_run,
        entries: Vec::new(),
    };
    let pending = match source {
        Source::Quarantine(providers) => quarantined(&store, providers).await?,
        Source::Queue { client, url } => {
            let (pending, strays) = received(client, url).await?;
            for (key, provider, receipt) in strays {
                report.entries.push(Entry {
                    key,
                    provider,
                    outcome: Ended::UnknownProvider,
                    message_id: None,
                    detail: Some("no registered provider of that name; left in the queue".into()),
                    action: Action::Stays,
                });
                release(client, url, &receipt).await;
            }
            pending
        }
    };

    // First pass: nothing is the last try yet; then the retries, for good.
    let mut results: Vec<(Pending, Drained)> = Vec::new();
    let mut again = Vec::new();
    for item in pending {
        let drained = replay_one(&store, &item, false).await;
        if drained.disposition == Disposition::Retry {
            again.push(item);
        } else {
            results.push((item, drained));
        }
    }
    for item in again {
        let drained = replay_one(&store, &item, true).await;
        results.push((item, drained));
    }

    for (item, drained) in results {
        let outcome = &drained.handled.outcome;
        let removed = drained.disposition == Disposition::Done
            && !matches!(
                (source, outcome),
                // A body still invalid was quarantined again, under the same key.
                (Source::Quarantine(_), Outcome::Quarantined(_))
            );
        if !dry_run {
            match source {
                Source::Quarantine(_) if removed => {
                    delete_quarantined(&store, item.provider, &item.key).await?
                }
                Source::Queue { client, url } => {
                    let receipt = item.receipt.as_deref().unwrap_or_default();
                    if removed {
                        client
                            .delete_message()
                            .queue_url(url)
                            .receipt_handle(receipt)
                            .send()
                            .await
                            .map_err(failed("DeleteMessage", "the queue"))?;
                    } else {
                        release(client, url, receipt).await;
                    }
                }
                _ => {}
            }
        } else if let (Source::Queue { client, url }, Some(receipt)) = (source, &item.receipt) {
            release(client, url, receipt).await;
        }
        report.entries.push(Entry {
            key: item.key,
            provider: item.provider.name().to_string(),
            outcome: Ended::Handled(outcome.name()),
            message_id: drained.handled.message.map(|m| m.message_id),
            detail: outcome.detail(),
            action: if removed {
                Action::Removed
            } else {
                Action::Stays
            },
        });
    }
    Ok(report)
}

/// Runs one body through provider `P`'s drain.
struct ReplayOne<'a> {
    store: &'a DynamoDbStore,
    record: &'a Record,
    last_receive: bool,
}

impl<'a> ProviderVisitor for ReplayOne<'a> {
    type Output = BoxFuture<'a, Drained>;
    fn visit<P: Provider>(self) -> BoxFuture<'a, Drained> {
        Box::pin(async move {
            let handler = WebhookHandler::<P, DynamoDbStore>::replayer(self.store.clone());
            handler.drain_as(self.record, self.last_receive).await
        })
    }
}

async fn replay_one(store: &DynamoDbStore, item: &Pending, last_receive: bool) -> Drained {
    item.provider
        .visit(ReplayOne {
            store,
            record: &item.record,
            last_receive,
        })
        .await
}

/// The quarantine items of `providers`, oldest first.
async fn quarantined(
    store: &DynamoDbStore,
    providers: &[ProviderId],
) -> Result<Vec<Pending>, String> {
    let mut pending = Vec::new();
    for &provider in providers {
        let mut items = store
            .client()
            .query()
            .table_name(store.table())
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(quarantine_key(provider)))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        while let Some(item) = items.next().await {
            let item = item.map_err(failed(
                format!("cannot read the quarantine of {provider}"),
                "the table",
            ))?;
            let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
            let key = text("sk").unwrap_or_default();
            // A quarantine item keeps the plain bytes; any form of `raw` reads (a string, or
            // gzip), should one have been written by hand.
            let body = item
                .get("raw")
                .and_then(|v| crate::storage::raw::body_of(v).ok())
                .unwrap_or_default();
            // The sort key starts with the time the body was received.
            let received_at = text("received_at")
                .or_else(|| key.split('#').next().map(str::to_string))
                .unwrap_or_default();
            pending.push(Pending {
                record: Record {
                    message_id: Some(key.clone()),
                    receive_count: None,
                    content: Ok(Spooled {
                        provider,
                        received_at,
                        body,
                        account: text(crate::storage::ACCOUNT_ATTRIBUTE),
                    }),
                },
                key,
                provider,
                receipt: None,
            });
        }
    }
    Ok(pending)
}

async fn delete_quarantined(
    store: &DynamoDbStore,
    provider: ProviderId,
    sk: &str,
) -> Result<(), String> {
    store
        .client()
        .delete_item()
        .table_name(store.table())
        .set_key(Some(item_key(quarantine_key(provider), sk)))
        .send()
        .await
        .map_err(failed(
            format!("cannot delete quarantine item {sk}"),
            "the table",
        ))?;
    Ok(())
}

/// How long received messages stay invisible to others while a replay handles them.
const VISIBILITY_SECONDS: i32 = 300;
/// A bound on one replay's size; run it again for more.
const MAX_MESSAGES: usize = 10_000;

/// Every message of the queue (up to [`MAX_MESSAGES`]), read as the drain reads its records;
/// and those naming no registered provider, apart: (message id, provider, receipt handle).
async fn received(
    client: &aws_sdk_sqs::Client,
    url: &str,
) -> Result<(Vec<Pending>, Vec<(String, String, String)>), String> {
    let mut pending = Vec::new();
    let mut strays = Vec::new();
    while pending.len() + strays.len() < MAX_MESSAGES {
        let output = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(VISIBILITY_SECONDS)
            .wait_time_seconds(0)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(failed("ReceiveMessage", "the queue"))?;
        let messages = output.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for message in messages {
            let record = read_record(&lambda_record(&message));
            let receipt = message.receipt_handle().unwrap_or_default().to_string();
            let key = message.message_id().unwrap_or_default().to_string();
            let named = match &record.content {
                Ok(spooled) => Some(spooled.provider().name().to_string()),
                Err(malformed) => malformed.provider.clone(),
            };
            match named.as_deref().and_then(ProviderId::named) {
                Some(provider) => pending.push(Pending {
                    key,
                    provider,
                    record,
                    receipt: Some(receipt),
                }),
                None => strays.push((key, named.unwrap_or_else(|| "(none)".into()), receipt)),
            }
        }
    }
    Ok((pending, strays))
}

/// A received message in the shape of a Lambda SQS event record, so that it is read exactly as
/// the drain reads its events.
pub fn lambda_record(message: &aws_sdk_sqs::types::Message) -> Value {
    let attributes: serde_json::Map<String, Value> = message
        .message_attributes()
        .map(|attributes| {
            attributes
                .iter()
                .map(|(name, value)| {
                    (
                        name.clone(),
                        json!({"stringValue": value.string_value(), "dataType": value.data_type()}),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let system: HashMap<String, String> = message
        .attributes()
        .map(|a| {
            a.iter()
                .map(|(name, value)| (name.as_str().to_string(), value.clone()))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "messageId": message.message_id(),
        "receiptHandle": message.receipt_handle(),
        "body": message.body(),
        "attributes": system,
        "messageAttributes": attributes,
        "eventSource": "aws:sqs",
    })
}

/// Makes a message visible again at once.
async fn release(client: &aws_sdk_sqs::Client, url: &str, receipt: &str) {
    let _ = client
        .change_message_visibility()
        .queue_url(url)
        .receipt_handle(receipt)
        .visibility_timeout(0)
        .send()
        .await;
}

/// How many messages a queue holds, visible and in flight.
pub async fn queue_depth(client: &aws_sdk_sqs::Client, url: &str) -> Result<(u64, u64), String> {
    let output = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(failed("GetQueueAttributes", "the queue"))?;
    let number = |name: QueueAttributeName| {
        output
            .attributes()
            .and_then(|a| a.get(&name))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok((
        number(QueueAttributeName::ApproximateNumberOfMessages),
        number(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    ))
}
