//! Backfill (feature `backfill`, for `ingest-dev backfill`): the read side's summaries built for
//! messages stored before it existed, so that an upgraded stack lists its history
//! (docs/CONTRACT.md, "Our design: the read side").
//!
//! A parallel Scan of the table, message items only (`begins_with(sk, "MSG#")`), each item read
//! for the attributes the fold needs and nothing else. Each page's messages are grouped by
//! conversation and each conversation is folded through [`DynamoDbStore::project`], the
//! projector's own fold: one read of its summary and at most one write, conditional on the
//! revision read. So a backfill and the live projector can never disagree, and when they race
//! for a summary the loser reads it again and folds into it. The fold is order-free and changes
//! nothing when the messages are already in, so a second run writes nothing, and a run resumed
//! from any page ends with the same summaries.
//!
//! A Scan is fine here: an operator's one-off, never the read path. After each page the run's
//! position (each segment's last evaluated key) is handed over as a [`ResumeToken`]; a run
//! started from it goes on after the pages already folded.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::ControlFlow;
use std::sync::Mutex;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine as _;
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};

use crate::aws::failed;
use crate::error::StoreError;
use crate::read::summary::MessageImage;
use crate::storage::keys::MESSAGE_PREFIX;
use crate::storage::{image_projection, item_key, DynamoDbStore, Folded, Item};

/// Segments when none are asked for: a few Scans at once finish sooner without a burst the
/// table's on-demand capacity would throttle.
pub const DEFAULT_SEGMENTS: u32 = 4;
/// More segments than this would be more Scans at once than one machine's run makes use of.
pub const MAX_SEGMENTS: u32 = 1000;
/// Conversations of one page folded at once, as the projector folds a batch's.
const CONCURRENCY: usize = 8;

/// How many of each thing a run read and wrote (or, dry, would write).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Message items read.
    pub messages: u64,
    /// Conversations folded. One whose messages straddle two pages of a segment counts once,
    /// but is folded (and may be written) once per page.
    pub conversations: u64,
    /// Summaries written (made or updated), one per fold: a conversation straddling pages is
    /// folded once per page.
    pub written: u64,
    /// Folds that found the summary already holding their messages: nothing written.
    pub unchanged: u64,
    /// Message items that could not be read as messages (left out of their summary).
    pub failed: u64,
    /// Which ones, and why (their keys; never content).
    pub failures: Vec<String>,
}

impl Report {
    fn add(&mut self, other: Report) {
        self.messages += other.messages;
        self.conversations += other.conversations;
        self.written += other.written;
        self.unchanged += other.unchanged;
        self.failed += other.failed;
        self.failures.extend(other.failures);
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "messages read\t{}", self.messages)?;
        writeln!(f, "conversations\t{}", self.conversations)?;
        writeln!(f, "summaries written\t{}", self.written)?;
        writeln!(f, "summaries unchanged\t{}", self.unchanged)?;
        write!(f, "failures\t{}", self.failed)
    }
}

/// Where a segment's Scan stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Position {
    /// Not begun.
    Start,
    /// Everything up to this item's key is folded (the page's last evaluated key).
    After { pk: String, sk: String },
    /// Scanned to its end.
    Done,
}

/// Where a run stands: the table and each segment's position. Printed as base64url of its JSON,
/// so that an operator can copy it whole into `--resume`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeToken {
    pub table: String,
    pub positions: Vec<Position>,
}

impl ResumeToken {
    /// A run from the beginning, in `segments` segments.
    pub fn start(table: &str, segments: u32) -> Result<Self, BackfillError> {
        if !(1..=MAX_SEGMENTS).contains(&segments) {
            return Err(BackfillError::Segments(segments));
        }
        Ok(ResumeToken {
            table: table.to_string(),
            positions: vec![Position::Start; segments as usize],
        })
    }

    /// The run `ingest-dev backfill` asks for: from `resume` when given (which must be of
    /// `table`, and of `segments` when that is given too), else from the beginning.
    pub fn start_or_resume(
        table: &str,
        segments: Option<u32>,
        resume: Option<&str>,
    ) -> Result<Self, BackfillError> {
        let Some(text) = resume else {
            return Self::start(table, segments.unwrap_or(DEFAULT_SEGMENTS));
        };
        let token = Self::decode(text)?;
        if token.table != table {
            return Err(BackfillError::OtherTable {
                token: token.table,
                table: table.to_string(),
            });
        }
        // A segment is a share of the key space that depends on the count: another count
        // would scan other shares from the same keys, and skip or repeat items.
        if let Some(segments) = segments.filter(|s| *s != token.segments()) {
            return Err(BackfillError::OtherSegments {
                token: token.segments(),
                asked: segments,
            });
        }
        Ok(token)
    }

    pub fn segments(&self) -> u32 {
        self.positions.len() as u32
    }

    /// Every segment scanned to its end: nothing is left to resume.
    pub fn is_done(&self) -> bool {
        self.positions.iter().all(|p| *p == Position::Done)
    }

    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).expect("a resume token serializes");
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    pub fn decode(text: &str) -> Result<Self, BackfillError> {
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text.trim())
            .map_err(|e| BackfillError::BadToken(format!("not base64url: {e}")))?;
        let token: ResumeToken = serde_json::from_slice(&json)
            .map_err(|e| BackfillError::BadToken(format!("not a token's JSON: {e}")))?;
        if !(1..=MAX_SEGMENTS).contains(&token.segments()) {
            return Err(BackfillError::BadToken(format!(
                "{} segments",
                token.segments()
            )));
        }
        Ok(token)
    }
}

/// What went wrong. A run that stops may be resumed from its last token (or run again: it
/// writes nothing for what is already in).
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error("the segment count must be from 1 to {MAX_SEGMENTS}, not {0}")]
    Segments(u32),
    #[error("not a backfill resume token ({0})")]
    BadToken(String),
    #[error("the resume token is for table {token:?}, not {table:?}")]
    OtherTable { token: String, table: String },
    #[error("the resume token is of {token} segments, not {asked}: leave --segments out")]
    OtherSegments { token: u32, asked: u32 },
    #[error("segment {segment}: {message}")]
    Scan { segment: u32, message: String },
    #[error("segment {segment}: a last evaluated key without string keys: {key:?}")]
    Key { segment: u32, key: Item },
    #[error("conversation {pk}: {source}")]
    Fold { pk: String, source: StoreError },
}

/// A run that failed, with what it had done and where to resume it.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct Stopped {
    pub error: BackfillError,
    pub report: Report,
    pub resume: ResumeToken,
}

/// What a run hands over after each page (of any segment).
pub struct Progress<'a> {
    /// The whole run's counts so far.
    pub report: &'a Report,
    /// Where to resume: every page before it is folded.
    pub resume: &'a ResumeToken,
}

/// A run's table and how it runs.
pub struct Backfill {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub table: String,
    /// Read only: count what would be written, write nothing.
    pub dry_run: bool,
    /// Items read per Scan request (DynamoDB's `Limit`, counted before the filter); `None`:
    /// DynamoDB's pages of 1 MB.
    pub page_size: Option<i32>,
}

/// The state the segments share.
struct Shared {
    report: Report,
    resume: ResumeToken,
    /// The callback asked to stop: no segment reads another page.
    stopping: bool,
}

impl Backfill {
    /// Runs from `from` until every segment is done, `on_page` breaks (after the page it was
    /// given), or a segment fails. Returns the counts and where the run ended (done, or where
    /// to resume).
    pub async fn run<F>(
        &self,
        from: ResumeToken,
        on_page: F,
    ) -> Result<(Report, ResumeToken), Stopped>
    where
        F: FnMut(Progress<'_>) -> ControlFlow<()>,
    {
        let segments = from.segments();
        let shared = Mutex::new(Shared {
            report: Report::default(),
            resume: from,
            stopping: false,
        });
        let on_page = Mutex::new(on_page);
        let mut store = DynamoDbStore::new(self.dynamodb.clone(), &self.table);
        if self.dry_run {
            store = store.read_only();
        }
        // All on this task: the segments' Scans and folds overlap while each waits on the
        // table, and the shared state is never held across an await.
        let outcomes = futures_util::future::join_all(
            (0..segments).map(|segment| self.segment(&store, segment, &shared, &on_page)),
        )
        .await;
        let shared = shared.into_inner().expect("no segment panicked holding it");
        match outcomes.into_iter().find_map(Result::err) {
            Some(error) => Err(Stopped {
                error,
                report: shared.report,
                resume: shared.resume,
            }),
            None => Ok((shared.report, shared.resume)),
        }
    }

    async fn segment<F>(
        &self,
        store: &DynamoDbStore,
        segment: u32,
        shared: &Mutex<Shared>,
        on_page: &Mutex<F>,
    ) -> Result<(), BackfillError>
    where
        F: FnMut(Progress<'_>) -> ControlFlow<()>,
    {
        // The projection names `sk` as `#sk` already, which the filter uses too.
        let (projection, names) = image_projection();
        let segments = shared.lock().expect("unpoisoned").resume.segments();
        // The conversation the previous page ended with: counted once when the next goes on.
        let mut previous: Option<String> = None;
        loop {
            let start = {
                let shared = shared.lock().expect("unpoisoned");
                if shared.stopping {
                    return Ok(());
                }
                match &shared.resume.positions[segment as usize] {
                    Position::Done => return Ok(()),
                    Position::Start => None,
                    Position::After { pk, sk } => Some(item_key(pk, sk)),
                }
            };
            let page = self
                .dynamodb
                .scan()
                .table_name(&self.table)
                .segment(segment as i32)
                .total_segments(segments as i32)
                .filter_expression("begins_with(#sk, :msg)")
                .expression_attribute_values(":msg", AttributeValue::S(MESSAGE_PREFIX.into()))
                .projection_expression(&projection)
                .set_expression_attribute_names(Some(names.clone()))
                .set_limit(self.page_size)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| BackfillError::Scan {
                    segment,
                    message: failed("Scan", "the table")(e),
                })?;
            let next = match page.last_evaluated_key {
                None => Position::Done,
                Some(key) => match (key.get("pk"), key.get("sk")) {
                    (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) => Position::After {
                        pk: pk.clone(),
                        sk: sk.clone(),
                    },
                    _ => return Err(BackfillError::Key { segment, key }),
                },
            };
            let (mut report, conversations) = group(page.items.unwrap_or_default());
            report.conversations = conversations.len() as u64;
            if previous.is_some() && conversations.keys().next() == previous.as_ref() {
                report.conversations -= 1;
            }
            // A page of id items only (the limit counts items before the filter) leaves the
            // conversation going on as it was.
            if let Some(last) = conversations.keys().next_back() {
                previous = Some(last.clone());
            }
            let outcomes: Vec<(&String, Result<Folded, StoreError>)> =
                futures_util::stream::iter(conversations.iter())
                    .map(|(pk, images)| async move {
                        let images: Vec<&MessageImage> = images.iter().collect();
                        (pk, store.project(pk, &images, &[]).await.map(|p| p.folded))
                    })
                    .buffer_unordered(CONCURRENCY)
                    .collect()
                    .await;
            let mut first_error = None;
            for (pk, outcome) in outcomes {
                match outcome {
                    Ok(Folded::Written { .. }) => report.written += 1,
                    // Gone: its last message was deleted since the Scan read it; no summary.
                    Ok(Folded::Unchanged | Folded::Gone | Folded::Deleted) => report.unchanged += 1,
                    Err(source) => {
                        first_error.get_or_insert(BackfillError::Fold {
                            pk: pk.clone(),
                            source,
                        });
                    }
                }
            }
            let mut shared = shared.lock().expect("unpoisoned");
            shared.report.add(report);
            if let Some(error) = first_error {
                // The position stays before this page: a resumed run folds it again.
                return Err(error);
            }
            shared.resume.positions[segment as usize] = next;
            let shared = &mut *shared;
            let flow = (on_page.lock().expect("unpoisoned"))(Progress {
                report: &shared.report,
                resume: &shared.resume,
            });
            if flow.is_break() {
                shared.stopping = true;
            }
        }
    }
}

/// A page's message items by conversation (sorted by key within each, as the Scan returns
/// them), and the counts of what was read.
fn group(items: Vec<Item>) -> (Report, BTreeMap<String, Vec<MessageImage>>) {
    let mut report = Report {
        messages: items.len() as u64,
        ..Report::default()
    };
    let mut conversations: BTreeMap<String, Vec<MessageImage>> = BTreeMap::new();
    for item in items {
        let key = |name: &str| match item.get(name) {
            Some(AttributeValue::S(value)) => value.clone(),
            _ => format!("(no {name})"),
        };
        let (pk, sk) = (key("pk"), key("sk"));
        match serde_dynamo::from_item::<_, MessageImage>(item) {
            Ok(image) => conversations.entry(pk).or_default().push(image),
            Err(e) => {
                report.failed += 1;
                report
                    .failures
                    .push(format!("{pk} {sk}: not readable as a message: {e}"));
            }
        }
    }
    (report, conversations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_refuse_what_is_not_theirs() {
        let mut token = ResumeToken::start("messages", 3).unwrap();
        token.positions[1] = Position::After {
            pk: "partoo#77".into(),
            sk: "MSG#2024-05-01T10:00:01.000Z#1".into(),
        };
        token.positions[2] = Position::Done;
        let text = token.encode();
        assert!(!text.contains('='), "unpadded: {text}");
        assert_eq!(ResumeToken::decode(&text).unwrap(), token);
        assert_eq!(
            ResumeToken::start_or_resume("messages", None, Some(&text)).unwrap(),
            token
        );
        assert_eq!(
            ResumeToken::start_or_resume("messages", Some(3), Some(&text)).unwrap(),
            token
        );
        assert!(!token.is_done());
        assert!(matches!(
            ResumeToken::start_or_resume("other", None, Some(&text)),
            Err(BackfillError::OtherTable { .. })
        ));
        assert!(matches!(
            ResumeToken::start_or_resume("messages", Some(4), Some(&text)),
            Err(BackfillError::OtherSegments { token: 3, asked: 4 })
        ));
        for garbage in ["", "!!!", "e30", &text[..text.len() - 2]] {
            assert!(
                matches!(
                    ResumeToken::decode(garbage),
                    Err(BackfillError::BadToken(_))
                ),
                "{garbage:?}"
            );
        }
        assert!(matches!(
            ResumeToken::start("messages", 0),
            Err(BackfillError::Segments(0))
        ));
        let fresh = ResumeToken::start_or_resume("messages", None, None).unwrap();
        assert_eq!(fresh.segments(), DEFAULT_SEGMENTS);
    }

    #[test]
    fn an_item_that_is_no_message_is_counted_and_named_by_its_keys() {
        let item = |sk: &str, direction: Option<&str>| {
            let mut item: Item = [
                ("pk", "partoo#1"),
                ("sk", sk),
                ("provider", "partoo"),
                ("conversation_id", "1"),
                ("message_id", sk),
                ("kind", "text"),
                ("created_at", "2024-05-01T10:00:00.000Z"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), AttributeValue::S(v.to_string())))
            .collect();
            if let Some(direction) = direction {
                item.insert("direction".into(), AttributeValue::S(direction.into()));
            }
            item
        };
        let (report, conversations) =
            group(vec![item("MSG#1", Some("inbound")), item("MSG#2", None)]);
        assert_eq!((report.messages, report.failed), (2, 1));
        assert!(
            report.failures[0].starts_with("partoo#1 MSG#2:"),
            "{report:?}"
        );
        assert_eq!(conversations["partoo#1"].len(), 1);
    }
}
