//! One invocation of the projector: a batch of stream records → the summaries of their
//! conversations.
//!
//! The records are grouped by conversation (`pk`). Within one, each message's last record in
//! the batch is what the table now holds of it (the stream keeps one item's records in order):
//! its newest image, or its removal. Each conversation is then folded once
//! ([`DynamoDbStore::project`]), several conversations at a time. A conversation that failed
//! (the table unavailable, a record that cannot be read) is answered in `batchItemFailures` by
//! its earliest record's sequence number: Lambda takes the lowest one reported and retries the
//! shard from there, so nothing of that conversation, nor anything after it, is skipped; the
//! conversations already folded fold again to no change, and write nothing.
//!
//! Then, when a bus is configured, the batch's events (docs/CONTRACT.md, "Events (3)"): the
//! public changes of its records, in stream order, published in order per conversation
//! ([`Publisher`]). The projector publishes them because the stream allows two readers a shard
//! and has two (media, projector): a third reader would be throttled. A conversation whose
//! event failed to publish is answered in `batchItemFailures` from that event's record, as a
//! failed fold is: the retry folds again to no change, and publishes the same events again
//! (the same `event_id`s, which consumers deduplicate on). Conversations whose fold failed
//! publish nothing now: the retry from their first record publishes them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::settings::ProjectorSettings;
use crate::error::Misconfigured;
use crate::events::{changes, Event, Fate, Publisher, RecordKind};
use crate::read::summary::MessageImage;
use crate::response::{BatchResponse, ItemFailure};
use crate::storage::keys::MESSAGE_PREFIX;
use crate::storage::stream::{Change, StreamEvent, StreamRecord};
use crate::storage::{DynamoDbStore, Folded, Projected};
use crate::telemetry::{metric, Metadata, Metric, MetricsSink};

/// Conversations folded at once: a batch of 100 records of as many conversations answers in a
/// fraction of the time one at a time would take, without a burst of 100 requests.
const CONCURRENCY: usize = 8;

/// Counts for the invocation's log line and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Records in the batch.
    pub records: u64,
    /// Conversations they are of (message items only).
    pub conversations: u64,
    /// Summaries written (made or updated).
    pub written: u64,
    /// Summaries deleted (their last message gone, none left).
    pub deleted: u64,
    /// Conversations whose summary did not change (redeliveries, older messages' updates).
    pub unchanged: u64,
    /// Times another writer came between a summary's read and its write (each retried).
    pub conflicts: u64,
    /// Conversations that failed (answered in `batchItemFailures`): their fold, or one of
    /// their events.
    pub failed: u64,
    /// Events the bus accepted.
    pub events_published: u64,
    /// Events the bus refused for good, kept in the events' dead-letter queue.
    pub events_dead_lettered: u64,
    /// Events not published (to be retried with their records).
    pub events_failed: u64,
}

/// What the batch holds of one conversation.
#[derive(Debug, Default)]
struct Conversation {
    /// Its earliest record's place in the batch.
    first: usize,
    /// Sort key → what its last record says of that message.
    latest: BTreeMap<String, Latest>,
    /// Why one of its records could not be read, if one could not.
    unreadable: Option<String>,
}

#[derive(Debug)]
enum Latest {
    Image(Box<MessageImage>),
    Removed,
}

/// A record's keys.
#[derive(Deserialize)]
struct Keys {
    pk: String,
    sk: String,
}

impl Keys {
    /// The keys of the item `record` is of, when it has readable ones.
    fn of(record: &StreamRecord) -> Option<Keys> {
        let keys = record.dynamodb.as_ref()?.keys.clone()?;
        serde_dynamo::from_item(keys).ok()
    }
}

/// The projector's handler.
pub struct ProjectorHandler {
    settings: Result<ProjectorSettings, Misconfigured>,
    store: DynamoDbStore,
    clock: fn() -> DateTime<Utc>,
    metrics: MetricsSink,
    /// Where events go; `None` (no `EVENT_BUS_NAME`): summaries only.
    publisher: Option<Publisher>,
}

impl ProjectorHandler {
    pub fn new(
        settings: Result<ProjectorSettings, Misconfigured>,
        dynamodb: aws_sdk_dynamodb::Client,
    ) -> Self {
        let table = settings
            .as_ref()
            .map(|s| s.table_name.clone())
            .unwrap_or_default();
        ProjectorHandler {
            settings,
            store: DynamoDbStore::new(dynamodb, table),
            clock: Utc::now,
            metrics: MetricsSink::stdout(),
            publisher: None,
        }
    }

    /// Publishes each batch's events through `publisher` (`None`: no events).
    pub fn with_publisher(mut self, publisher: Option<Publisher>) -> Self {
        self.publisher = publisher;
        self
    }

    pub fn with_clock(mut self, clock: fn() -> DateTime<Utc>) -> Self {
        self.clock = clock;
        self
    }

    pub fn with_metrics(mut self, metrics: MetricsSink) -> Self {
        self.metrics = metrics;
        self
    }

    /// Handles one stream event. An event that is not a stream event, or a misconfigured
    /// function, is an error: the whole batch is retried and, in the end, its place in the
    /// stream is kept by the dead-letter queue.
    pub async fn handle(&self, event: &[u8]) -> Result<BatchResponse, String> {
        self.settings
            .as_ref()
            .map_err(|e| format!("misconfigured: {e}"))?;
        let event: StreamEvent = serde_json::from_slice(event)
            .map_err(|e| format!("not a DynamoDB stream event: {e}"))?;
        let started = std::time::Instant::now();
        let mut tally = Tally {
            records: event.records.len() as u64,
            ..Tally::default()
        };
        let (conversations, unattributed) = group(&event.records);
        tally.conversations = conversations.len() as u64;
        // (place in the batch of the record to retry from, why).
        let mut failures: Vec<(usize, String)> = unattributed;
        let outcomes: Vec<(&String, &Conversation, Result<Projected, String>)> =
            futures_util::stream::iter(conversations.iter())
                .map(|(pk, conversation)| async move {
                    (pk, conversation, self.fold(pk, conversation).await)
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
        let mut folds_failed: BTreeSet<&str> = BTreeSet::new();
        for (pk, conversation, outcome) in outcomes {
            let failed = match outcome {
                Ok(projected) => {
                    tally.conflicts += u64::from(projected.conflicts);
                    match projected.folded {
                        Folded::Written { .. } => tally.written += 1,
                        Folded::Deleted => tally.deleted += 1,
                        Folded::Unchanged | Folded::Gone => tally.unchanged += 1,
                    }
                    // The readable records are folded; the unreadable one is not, and is
                    // retried (with the conversation's others, which then change nothing).
                    conversation.unreadable.clone()
                }
                Err(why) => Some(why),
            };
            if let Some(why) = failed {
                tally.failed += 1;
                folds_failed.insert(pk.as_str());
                tracing::warn!(
                    conversation = %pk,
                    record = %event.records[conversation.first].identifier(),
                    reason = %why,
                    "conversation failed; the stream will retry it from this record"
                );
                failures.push((conversation.first, why));
            }
        }
        if let Some(publisher) = &self.publisher {
            // Unattributed records are retried from, so nothing after them is lost either.
            let (events, origins) = batch_events(&event.records, &folds_failed);
            let fates = publisher.publish(&events).await;
            let mut events_failed: BTreeSet<&str> = BTreeSet::new();
            for ((one, &at), fate) in events.iter().zip(&origins).zip(fates) {
                match fate {
                    Fate::Published => tally.events_published += 1,
                    Fate::DeadLettered { error } => {
                        tally.events_dead_lettered += 1;
                        tracing::warn!(
                            conversation = %one.conversation,
                            event_id = %one.event_id,
                            detail_type = one.detail_type,
                            reason = %error,
                            "event refused by the bus for good; kept in the events' dead-letter queue"
                        );
                    }
                    Fate::Failed { error } => {
                        tally.events_failed += 1;
                        // The conversation's first failed event: the publisher sent none of
                        // its later ones, and the stream retries from this record.
                        if events_failed.insert(one.conversation.as_str()) {
                            tally.failed += 1;
                            tracing::warn!(
                                conversation = %one.conversation,
                                record = %event.records[at].identifier(),
                                reason = %error,
                                "events not published; the stream will retry from this record"
                            );
                            failures.push((at, error));
                        }
                    }
                }
            }
        }
        failures.sort();
        failures.dedup_by_key(|(at, _)| *at);
        let response = BatchResponse {
            batch_item_failures: failures
                .iter()
                .map(|(at, _)| ItemFailure {
                    item_identifier: event.records[*at].identifier(),
                })
                .collect(),
        };
        let elapsed = started.elapsed();
        tracing::info!(
            records = tally.records,
            conversations = tally.conversations,
            written = tally.written,
            deleted = tally.deleted,
            unchanged = tally.unchanged,
            conflicts = tally.conflicts,
            failed = tally.failed,
            events_published = tally.events_published,
            events_dead_lettered = tally.events_dead_lettered,
            events_failed = tally.events_failed,
            elapsed_ms = elapsed.as_secs_f64() * 1000.0,
            "batch projected"
        );
        self.emit_metrics(&tally, &response, elapsed);
        Ok(response)
    }

    async fn fold(&self, pk: &str, conversation: &Conversation) -> Result<Projected, String> {
        let mut images = Vec::new();
        let mut removed = Vec::new();
        for (sk, latest) in &conversation.latest {
            match latest {
                Latest::Image(image) => images.push(&**image),
                Latest::Removed => removed.push(sk.as_str()),
            }
        }
        self.store
            .project(pk, &images, &removed)
            .await
            .map_err(|e| e.to_string())
    }

    fn emit_metrics(&self, tally: &Tally, response: &BatchResponse, elapsed: Duration) {
        let document = emf_document(
            tally,
            response.batch_item_failures.len() as u64,
            elapsed.as_secs_f64() * 1000.0,
            (self.clock)().timestamp_millis(),
        );
        self.metrics.write(&document.to_string());
    }
}

/// The batch's message records by conversation, and the records no conversation can be named
/// for (with why).
fn group(records: &[StreamRecord]) -> (BTreeMap<String, Conversation>, Vec<(usize, String)>) {
    let mut conversations: BTreeMap<String, Conversation> = BTreeMap::new();
    let mut unattributed = Vec::new();
    for (at, record) in records.iter().enumerate() {
        let Some(Keys { pk, sk }) = Keys::of(record) else {
            unattributed.push((at, "a record without a message's keys".to_string()));
            continue;
        };
        // The mapping's filter admits message items only; anything else changes no summary.
        if !sk.starts_with(MESSAGE_PREFIX) {
            continue;
        }
        let conversation = conversations.entry(pk).or_insert_with(|| Conversation {
            first: at,
            ..Conversation::default()
        });
        let latest = match record.change() {
            Some(Change::Remove) => Ok(Latest::Removed),
            Some(Change::Insert | Change::Modify) => match record.new_image() {
                Some(image) => serde_dynamo::from_item::<_, MessageImage>(image.clone())
                    .map(|image| Latest::Image(Box::new(image)))
                    .map_err(|e| format!("unreadable message image {sk}: {e}")),
                None => Err(format!("no new image for {sk}")),
            },
            None => Err(format!("unknown event {:?} for {sk}", record.event_name)),
        };
        match latest {
            Ok(latest) => {
                conversation.latest.insert(sk, latest);
            }
            Err(why) => {
                // What the table holds of this message is unknown: its older records are no
                // better, and it stays out of the fold.
                conversation.latest.remove(&sk);
                conversation.unreadable.get_or_insert(why);
            }
        }
    }
    (conversations, unattributed)
}

/// The events of a batch's records, in stream order, and the place in the batch of the record
/// each is of. Records of conversations in `skip` (their fold failed: they are retried, events
/// and all) and records that are not a message item's make none.
pub fn batch_events(records: &[StreamRecord], skip: &BTreeSet<&str>) -> (Vec<Event>, Vec<usize>) {
    let mut events = Vec::new();
    let mut origins = Vec::new();
    for (at, record) in records.iter().enumerate() {
        let Some(Keys { pk, sk }) = Keys::of(record) else {
            continue;
        };
        if !sk.starts_with(MESSAGE_PREFIX) || skip.contains(pk.as_str()) {
            continue;
        }
        let kind = match record.change() {
            Some(Change::Insert) => RecordKind::Insert,
            Some(Change::Modify) => RecordKind::Modify,
            Some(Change::Remove) => RecordKind::Remove,
            None => continue,
        };
        let image = |image: Option<&serde_dynamo::Item>| -> Option<crate::storage::Item> {
            image.cloned().map(Into::into)
        };
        let (old, new) = (image(record.old_image()), image(record.new_image()));
        for change in changes(kind, old.as_ref(), new.as_ref()) {
            events.push(Event::of(change, &pk));
            origins.push(at);
        }
    }
    (events, origins)
}

/// One invocation's metrics in Embedded Metric Format, dimension `Function` = `projector`.
pub fn emf_document(
    tally: &Tally,
    failed_records: u64,
    latency_ms: f64,
    timestamp_ms: i64,
) -> Value {
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Invocation {
        #[serde(rename = "_aws")]
        aws: Metadata,
        function: &'static str,
        projected_records: u64,
        projected_conversations: u64,
        summaries_written: u64,
        summaries_deleted: u64,
        summary_conflicts: u64,
        projector_failed_conversations: u64,
        projector_failed_records: u64,
        events_published: u64,
        events_dead_lettered: u64,
        latency: f64,
    }
    const METRICS: &[Metric] = &[
        metric("ProjectedRecords", "Count"),
        metric("ProjectedConversations", "Count"),
        metric("SummariesWritten", "Count"),
        metric("SummariesDeleted", "Count"),
        metric("SummaryConflicts", "Count"),
        metric("ProjectorFailedConversations", "Count"),
        metric("ProjectorFailedRecords", "Count"),
        // The template's dashboard charts these two by name.
        metric("EventsPublished", "Count"),
        metric("EventsDeadLettered", "Count"),
        metric("Latency", "Milliseconds"),
    ];
    let document = Invocation {
        aws: Metadata::new(timestamp_ms, &[&["Function"]], METRICS),
        function: "projector",
        projected_records: tally.records,
        projected_conversations: tally.conversations,
        summaries_written: tally.written,
        summaries_deleted: tally.deleted,
        summary_conflicts: tally.conflicts,
        projector_failed_conversations: tally.failed,
        projector_failed_records: failed_records,
        events_published: tally.events_published,
        events_dead_lettered: tally.events_dead_lettered,
        latency: (latency_ms * 1000.0).round() / 1000.0,
    };
    serde_json::to_value(document).expect("an EMF document serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, seq: u32, sk: &str, image: Option<Value>) -> Value {
        let mut dynamodb = serde_json::json!({
            "SequenceNumber": format!("{seq:05}"),
            "Keys": {"pk": {"S": "partoo#1"}, "sk": {"S": sk}},
        });
        if let Some(image) = image {
            dynamodb["NewImage"] = image;
        }
        serde_json::json!({"eventName": name, "dynamodb": dynamodb})
    }

    fn image(sk: &str, text: &str) -> Value {
        serde_json::json!({
            "pk": {"S": "partoo#1"}, "sk": {"S": sk}, "provider": {"S": "partoo"},
            "conversation_id": {"S": "1"}, "message_id": {"S": sk}, "direction": {"S": "inbound"},
            "kind": {"S": "text"}, "text": {"S": text}, "created_at": {"S": "2024-05-01T10:00:00.000Z"}
        })
    }

    fn records(values: Vec<Value>) -> Vec<StreamRecord> {
        let event: StreamEvent =
            serde_json::from_value(serde_json::json!({ "Records": values })).unwrap();
        event.records
    }

    #[test]
    fn a_messages_last_record_is_what_the_table_holds() {
        let batch = records(vec![
            record("INSERT", 1, "MSG#1", Some(image("MSG#1", "first"))),
            record("INSERT", 2, "MSG#2", Some(image("MSG#2", "gone soon"))),
            record("MODIFY", 3, "MSG#1", Some(image("MSG#1", "edited"))),
            record("REMOVE", 4, "MSG#2", None),
            record("MODIFY", 5, "SUMMARY", Some(serde_json::json!({}))),
        ]);
        let (conversations, unattributed) = group(&batch);
        assert!(unattributed.is_empty());
        let conversation = &conversations["partoo#1"];
        assert_eq!(conversation.first, 0);
        assert!(conversation.unreadable.is_none());
        let Latest::Image(first) = &conversation.latest["MSG#1"] else {
            panic!("an image")
        };
        assert_eq!(first.text.as_deref(), Some("edited"));
        assert!(matches!(conversation.latest["MSG#2"], Latest::Removed));
        assert_eq!(
            conversation.latest.len(),
            2,
            "the summary's record is no message"
        );
    }

    #[test]
    fn an_unreadable_record_marks_its_conversation_and_one_without_keys_itself() {
        let mut keyless = record("INSERT", 3, "MSG#3", None);
        keyless["dynamodb"].as_object_mut().unwrap().remove("Keys");
        let batch = records(vec![
            record("INSERT", 1, "MSG#1", Some(image("MSG#1", "fine"))),
            record(
                "INSERT",
                2,
                "MSG#2",
                Some(serde_json::json!({"pk": {"S": "partoo#1"}})),
            ),
            keyless,
        ]);
        let (conversations, unattributed) = group(&batch);
        let conversation = &conversations["partoo#1"];
        assert!(conversation
            .unreadable
            .as_deref()
            .unwrap()
            .contains("MSG#2"));
        assert_eq!(
            conversation.latest.keys().collect::<Vec<_>>(),
            ["MSG#1"],
            "the readable one is still folded"
        );
        assert_eq!(unattributed.len(), 1);
        assert_eq!(unattributed[0].0, 2);
    }

    #[test]
    fn a_batchs_events_are_its_public_changes_in_stream_order() {
        let mut modify = record("MODIFY", 2, "MSG#1", Some(image("MSG#1", "edited")));
        modify["dynamodb"]["OldImage"] = image("MSG#1", "first");
        let mut other = record("INSERT", 3, "MSG#9", Some(image("MSG#9", "elsewhere")));
        other["dynamodb"]["Keys"]["pk"] = serde_json::json!({"S": "partoo#2"});
        other["dynamodb"]["NewImage"]["pk"] = serde_json::json!({"S": "partoo#2"});
        let batch = records(vec![
            record("INSERT", 1, "MSG#1", Some(image("MSG#1", "first"))),
            modify,
            other,
            record("REMOVE", 4, "MSG#1", None),
            record("MODIFY", 5, "SUMMARY", Some(serde_json::json!({}))),
        ]);
        let (events, origins) = batch_events(&batch, &BTreeSet::new());
        let types: Vec<_> = events.iter().map(|e| e.detail_type).collect();
        assert_eq!(
            types,
            ["Message Stored", "Message Updated", "Message Stored"],
            "a removal and a summary make none"
        );
        assert_eq!(origins, [0, 1, 2]);
        assert_eq!(events[2].conversation, "partoo#2");
        // A conversation whose fold failed publishes on the retry, not now.
        let (events, origins) = batch_events(&batch, &BTreeSet::from(["partoo#1"]));
        assert_eq!(events.len(), 1);
        assert_eq!(origins, [2]);
    }

    #[test]
    fn the_emf_document_declares_its_metrics() {
        let tally = Tally {
            records: 7,
            conversations: 3,
            written: 2,
            conflicts: 1,
            failed: 1,
            events_published: 4,
            events_dead_lettered: 1,
            ..Tally::default()
        };
        let doc = emf_document(&tally, 1, 12.3456789, 1_700_000_000_000);
        assert_eq!(doc["Function"], "projector");
        assert_eq!(doc["SummariesWritten"], 2);
        assert_eq!(doc["EventsPublished"], 4);
        assert_eq!(doc["EventsDeadLettered"], 1);
        assert_eq!(doc["Latency"], 12.346);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(doc.get(name).is_some(), "metric {name} has no value");
        }
    }
}
