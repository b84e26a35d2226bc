//! One invocation of the media function: a batch of stream records, in order.
//!
//! For each record: a message item's new image with an attachment that has a URL and no
//! `stored`, on a channel `MEDIA_CHANNELS` allows, is read again (a consistent GetItem, so a
//! record whose work another record already did costs no fetch); then each such attachment is
//! decided — `expired` without a fetch, or fetched and copied, or `gone`, `too_large`,
//! `refused` — and written with [`MediaTable::set_stored`]. A failure that may pass (timeout,
//! 5xx, S3 or the table unavailable) fails the record: the answer names its sequence number in
//! `batchItemFailures`, and the records after it are left for the retry, which starts there.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

use super::fetch::{FetchError, Fetcher};
use super::keys::object_key;
use super::settings::MediaSettings;
use super::table::{AttachmentView, MediaTable, MessageView};
use super::upload::{copy, CopyError, Target};
use super::url::stated_expiry;
use crate::error::Misconfigured;
use crate::message::{format_timestamp, MediaError, StoredMedia};
use crate::response::{BatchResponse, ItemFailure};
use crate::storage::stream::{Change, StreamEvent, StreamRecord};
use crate::telemetry::{metric, Metadata, Metric, MetricsSink};

/// An attachment is not started with less time than this left in the invocation.
const MIN_TIME_LEFT: Duration = Duration::from_secs(15);
/// A copy must be over this long before the invocation's deadline.
const DEADLINE_MARGIN: Duration = Duration::from_secs(5);

/// What became of one attachment.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Decided {
    Stored(StoredMedia),
    /// Try again later (the record fails).
    Retry(String),
}

/// Counts for the invocation's metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub copied: u64,
    pub bytes: u64,
    pub gone: u64,
    pub expired: u64,
    pub too_large: u64,
    pub refused: u64,
    pub retried: u64,
    /// `stored` already set by someone else when the update came.
    pub raced: u64,
}

/// The media function's handler.
pub struct MediaHandler {
    settings: Result<MediaSettings, Misconfigured>,
    fetcher: Option<Fetcher>,
    s3: aws_sdk_s3::Client,
    table: MediaTable,
    clock: fn() -> DateTime<Utc>,
    metrics: MetricsSink,
}

impl MediaHandler {
    pub fn new(
        settings: Result<MediaSettings, Misconfigured>,
        dynamodb: aws_sdk_dynamodb::Client,
        s3: aws_sdk_s3::Client,
    ) -> Self {
        let table = MediaTable::new(
            dynamodb,
            settings
                .as_ref()
                .map(|s| s.table_name.clone())
                .unwrap_or_default(),
        );
        let fetcher = settings
            .as_ref()
            .ok()
            .map(|s| Fetcher::new(super::fetch::FetchRules::from_settings(s)));
        MediaHandler {
            settings,
            fetcher,
            s3,
            table,
            clock: Utc::now,
            metrics: MetricsSink::stdout(),
        }
    }

    /// The same handler fetching through `fetcher` (tests: their resolver and certificates).
    pub fn with_fetcher(mut self, fetcher: Fetcher) -> Self {
        self.fetcher = Some(fetcher);
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

    /// Handles one stream event; `deadline` is when the invocation must have answered. An
    /// event that is not a stream event, or a misconfigured function, is an error: the whole
    /// batch is retried and, in the end, kept by the dead-letter queue.
    pub async fn handle(&self, event: &[u8], deadline: Instant) -> Result<BatchResponse, String> {
        let settings = self
            .settings
            .as_ref()
            .map_err(|e| format!("misconfigured: {e}"))?;
        let fetcher = self.fetcher.as_ref().ok_or("misconfigured: no fetcher")?;
        let event: StreamEvent = serde_json::from_slice(event)
            .map_err(|e| format!("not a DynamoDB stream event: {e}"))?;
        let started = std::time::Instant::now();
        tracing::info!(
            records = event.records.len(),
            time_left_s = deadline
                .saturating_duration_since(Instant::now())
                .as_secs_f64(),
            "batch"
        );
        let mut tally = Tally::default();
        let mut response = BatchResponse::default();
        for record in &event.records {
            if let Err(why) = self
                .record(settings, fetcher, record, deadline, &mut tally)
                .await
            {
                tracing::warn!(
                    record = %record.identifier(),
                    reason = %why,
                    "record failed; the stream will retry it"
                );
                response.batch_item_failures.push(ItemFailure {
                    item_identifier: record.identifier(),
                });
                // The retry starts at this record: the ones after it come again with it.
                break;
            }
        }
        self.emit_metrics(&tally, &response, started.elapsed());
        Ok(response)
    }

    async fn record(
        &self,
        settings: &MediaSettings,
        fetcher: &Fetcher,
        record: &StreamRecord,
        deadline: Instant,
        tally: &mut Tally,
    ) -> Result<(), String> {
        if record.change() == Some(Change::Remove) {
            return Ok(());
        }
        let Some(image) = record.new_image() else {
            return Ok(());
        };
        let Some(seen) = MessageView::of_image(image) else {
            return Ok(());
        };
        if !seen.has_pending() || !settings.channels.allows(seen.channel.as_deref()) {
            return Ok(());
        }
        // The image may be older than the item: another record (or this function's own
        // update) may have stored what it lacks.
        let Some(message) = self.table.current(&seen.pk, &seen.sk).await? else {
            return Ok(());
        };
        if !settings.channels.allows(message.channel.as_deref()) {
            return Ok(());
        }
        let mut retry = None;
        for (index, attachment) in message.attachments.iter().enumerate() {
            let Some(url) = attachment.pending_url() else {
                continue;
            };
            let started = std::time::Instant::now();
            let decided = self
                .decide(
                    settings, fetcher, &message, index, attachment, url, deadline,
                )
                .await;
            let (outcome, why) = match decided {
                Decided::Retry(why) => (AttachmentOutcome::Retry, Some(why)),
                Decided::Stored(stored) => match self
                    .table
                    .set_stored(&message.pk, &message.sk, index, url, &stored)
                    .await
                {
                    Ok(true) => (AttachmentOutcome::of(&stored), None),
                    Ok(false) => (AttachmentOutcome::AlreadyStored, None),
                    Err(why) => (AttachmentOutcome::Retry, Some(why)),
                },
            };
            tally.count(outcome);
            self.log(&message, index, url, outcome, why.as_deref(), started);
            if let Some(why) = why {
                retry = Some(why);
            }
        }
        retry.map_or(Ok(()), Err)
    }

    #[allow(clippy::too_many_arguments)]
    async fn decide(
        &self,
        settings: &MediaSettings,
        fetcher: &Fetcher,
        message: &MessageView,
        index: usize,
        attachment: &AttachmentView,
        url: &str,
        deadline: Instant,
    ) -> Decided {
        let now = (self.clock)();
        let failed = |error| {
            Decided::Stored(StoredMedia::Failed {
                error,
                at: format_timestamp(now),
            })
        };
        // When the provider said when the link dies, or the link says it itself.
        let expired = attachment
            .expires_at
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
            .or_else(|| stated_expiry(url))
            .is_some_and(|t| t <= now);
        if expired {
            return failed(MediaError::Expired);
        }
        if deadline.saturating_duration_since(Instant::now()) < MIN_TIME_LEFT {
            return Decided::Retry("not enough time left in this invocation".into());
        }
        let mut response = match fetcher.get(url).await {
            Ok(response) => response,
            Err(FetchError::Refused(why)) => {
                tracing::info!(reason = %why, "media URL refused");
                return failed(MediaError::Refused);
            }
            Err(FetchError::Gone(_)) => return failed(MediaError::Gone),
            Err(FetchError::TooLarge(_)) => return failed(MediaError::TooLarge),
            Err(FetchError::Transient(why)) => return Decided::Retry(why),
        };
        let content_type = response
            .content_type
            .clone()
            .or_else(|| attachment.mime_type.clone())
            .unwrap_or_else(|| "application/octet-stream".to_string());
        let key = object_key(
            &message.provider,
            &message.conversation_id,
            &message.message_id,
            index,
        );
        let target = Target {
            client: &self.s3,
            bucket: &settings.bucket,
            key: &key,
            content_type: &content_type,
            max_bytes: settings.max_bytes,
            part_size: settings.part_size,
            deadline: deadline
                .checked_sub(DEADLINE_MARGIN)
                .unwrap_or_else(Instant::now),
        };
        match copy(&target, &mut response).await {
            Ok(copied) => Decided::Stored(StoredMedia::Copy {
                bucket: settings.bucket.clone(),
                key,
                sha256: copied.sha256,
                size_bytes: copied.size,
                content_type,
                stored_at: format_timestamp((self.clock)()),
            }),
            Err(CopyError::TooLarge(_)) => failed(MediaError::TooLarge),
            Err(CopyError::Transient(why)) => Decided::Retry(why),
        }
    }

    fn log(
        &self,
        message: &MessageView,
        index: usize,
        url: &str,
        outcome: AttachmentOutcome,
        reason: Option<&str>,
        started: std::time::Instant,
    ) {
        // The host only: the rest of a media URL is often a signed token.
        let host = super::url::MediaUrl::parse(url)
            .map(|u| u.host)
            .unwrap_or_default();
        tracing::info!(
            provider = %message.provider,
            conversation_id = %message.conversation_id,
            message_id = %message.message_id,
            index,
            host = %host,
            outcome = outcome.as_str(),
            reason = reason.unwrap_or(""),
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "attachment"
        );
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

/// What became of one attachment, as its log line says and the invocation's metrics count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AttachmentOutcome {
    /// A copy of this many bytes is in the bucket.
    Copied(u64),
    /// It can never be copied (its `stored` says why).
    Failed(MediaError),
    /// Someone set its `stored` first.
    AlreadyStored,
    /// Not now: the record fails, and the stream brings it again.
    Retry,
}

impl AttachmentOutcome {
    /// What has become of an attachment whose `stored` is set to `stored`.
    fn of(stored: &StoredMedia) -> AttachmentOutcome {
        match stored {
            StoredMedia::Copy { size_bytes, .. } => AttachmentOutcome::Copied(*size_bytes),
            StoredMedia::Failed { error, .. } => AttachmentOutcome::Failed(*error),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            AttachmentOutcome::Copied(_) => "copied",
            AttachmentOutcome::Failed(MediaError::Gone) => "gone",
            AttachmentOutcome::Failed(MediaError::Expired) => "expired",
            AttachmentOutcome::Failed(MediaError::TooLarge) => "too_large",
            AttachmentOutcome::Failed(MediaError::Refused) => "refused",
            AttachmentOutcome::AlreadyStored => "already_stored",
            AttachmentOutcome::Retry => "retry",
        }
    }
}

impl Tally {
    /// Counts one attachment's outcome.
    fn count(&mut self, outcome: AttachmentOutcome) {
        let counter = match outcome {
            AttachmentOutcome::Copied(bytes) => {
                self.bytes += bytes;
                &mut self.copied
            }
            AttachmentOutcome::Failed(MediaError::Gone) => &mut self.gone,
            AttachmentOutcome::Failed(MediaError::Expired) => &mut self.expired,
            AttachmentOutcome::Failed(MediaError::TooLarge) => &mut self.too_large,
            AttachmentOutcome::Failed(MediaError::Refused) => &mut self.refused,
            AttachmentOutcome::AlreadyStored => &mut self.raced,
            AttachmentOutcome::Retry => &mut self.retried,
        };
        *counter += 1;
    }
}

/// One invocation's metrics in Embedded Metric Format, dimension `Function` = `media`: the
/// telemetry's document metadata, with the members in name order (`_aws` last), as this
/// function's documents have always been written.
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
        media_copied: u64,
        media_bytes: u64,
        media_gone: u64,
        media_expired: u64,
        media_too_large: u64,
        media_refused: u64,
        media_retried: u64,
        media_failed_records: u64,
        latency: f64,
    }
    const METRICS: &[Metric] = &[
        metric("MediaCopied", "Count"),
        metric("MediaBytes", "Bytes"),
        metric("MediaGone", "Count"),
        metric("MediaExpired", "Count"),
        metric("MediaTooLarge", "Count"),
        metric("MediaRefused", "Count"),
        metric("MediaRetried", "Count"),
        metric("MediaFailedRecords", "Count"),
        metric("Latency", "Milliseconds"),
    ];
    let document = Invocation {
        aws: Metadata::new(timestamp_ms, &[&["Function"]], METRICS),
        function: "media",
        media_copied: tally.copied,
        media_bytes: tally.bytes,
        media_gone: tally.gone,
        media_expired: tally.expired,
        media_too_large: tally.too_large,
        media_refused: tally.refused,
        media_retried: tally.retried,
        media_failed_records: failed_records,
        latency: (latency_ms * 1000.0).round() / 1000.0,
    };
    // A JSON value's members are in name order: the same text as ever.
    serde_json::to_value(document).expect("an EMF document serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_response_shape() {
        let response = BatchResponse {
            batch_item_failures: vec![ItemFailure {
                item_identifier: "000000000000000000042".into(),
            }],
        };
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": "000000000000000000042"}]})
        );
        assert_eq!(
            serde_json::to_string(&BatchResponse::default()).unwrap(),
            r#"{"batchItemFailures":[]}"#
        );
    }

    #[test]
    fn records_are_identified_by_sequence_number() {
        let event: StreamEvent = serde_json::from_str(
            r#"{"Records":[{"eventID":"e1","eventName":"INSERT","dynamodb":{"SequenceNumber":"000042","NewImage":{}}},
                           {"eventID":"e2","eventName":"REMOVE","dynamodb":{"Keys":{}}}]}"#,
        )
        .unwrap();
        assert_eq!(event.records[0].identifier(), "000042");
        assert_eq!(event.records[1].identifier(), "e2");
    }

    #[test]
    fn emf_declares_its_metrics() {
        let tally = Tally {
            copied: 2,
            bytes: 10,
            ..Tally::default()
        };
        let doc = emf_document(&tally, 1, 3.0, 0);
        for metric in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
        {
            assert!(doc.get(metric["Name"].as_str().unwrap()).is_some());
        }
        assert_eq!(doc["MediaCopied"], 2);
        assert_eq!(doc["MediaFailedRecords"], 1);
    }

    #[test]
    fn emf_documents_are_the_same_text_as_ever() {
        let tally = Tally {
            copied: 2,
            bytes: 10,
            ..Tally::default()
        };
        assert_eq!(
            emf_document(&tally, 1, 3.0, 0).to_string(),
            concat!(
                r#"{"Function":"media","Latency":3.0,"MediaBytes":10,"MediaCopied":2,"#,
                r#""MediaExpired":0,"MediaFailedRecords":1,"MediaGone":0,"MediaRefused":0,"#,
                r#""MediaRetried":0,"MediaTooLarge":0,"_aws":{"CloudWatchMetrics":[{"#,
                r#""Dimensions":[["Function"]],"Metrics":[{"Name":"MediaCopied","Unit":"Count"},"#,
                r#"{"Name":"MediaBytes","Unit":"Bytes"},{"Name":"MediaGone","Unit":"Count"},"#,
                r#"{"Name":"MediaExpired","Unit":"Count"},{"Name":"MediaTooLarge","Unit":"Count"},"#,
                r#"{"Name":"MediaRefused","Unit":"Count"},{"Name":"MediaRetried","Unit":"Count"},"#,
                r#"{"Name":"MediaFailedRecords","Unit":"Count"},"#,
                r#"{"Name":"Latency","Unit":"Milliseconds"}],"Namespace":"MessageIngest"}],"#,
                r#""Timestamp":0}}"#
            )
        );
    }
}
