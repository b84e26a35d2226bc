//! What a change of the table means to a reader of the bus: which of a stream record's changes
//! to a message item are public (docs/CONTRACT.md, "Events (3)").
//!
//! A change is judged on the message as the read API shows it (`storage::message_view`), so
//! what no reader can see — the keys, `raw`, the internal digests, the TTL's `expires_at`,
//! read-side items — never makes an event.

use serde_json::{Map, Value};

use crate::digest::sha256_hex;
use crate::storage::keys::MESSAGE_PREFIX;
use crate::storage::{message_view, Item};

/// The three detail-types of the contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DetailType {
    MessageStored,
    MessageUpdated,
    AttachmentStored,
}

impl DetailType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MessageStored => "Message Stored",
            Self::MessageUpdated => "Message Updated",
            Self::AttachmentStored => "Attachment Stored",
        }
    }
}

/// What a stream record says happened to its item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    Insert,
    Modify,
    Remove,
}

/// One public change of one message: what an event says.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub detail_type: DetailType,
    /// The same for every delivery of this change (32 hex digits).
    pub event_id: String,
    /// The message as the read API shows it after the change (without `raw`).
    pub message: Map<String, Value>,
    /// `Attachment Stored`: which attachment.
    pub attachment_index: Option<usize>,
}

/// The attributes a change of which is not a change of content: they have events of their own
/// (`status`, `deleted`) or say only when something happened (`updated_at`).
const NOT_CONTENT: &[&str] = &["status", "deleted", "updated_at"];

/// The public changes a stream record of `kind` carries, in the order they are published.
/// Nothing for a record that is not a message item's, a REMOVE (erasure, TTL), or a MODIFY that
/// changed nothing a reader sees. An image that cannot be read as a message gives nothing
/// either: it is no message of ours.
pub fn changes(kind: RecordKind, old: Option<&Item>, new: Option<&Item>) -> Vec<Change> {
    let Some(new) = new.filter(|item| is_message_item(item)) else {
        return Vec::new();
    };
    let Some((pk, sk)) = keys(new) else {
        return Vec::new();
    };
    let Ok(after) = message_view(new.clone(), false) else {
        return Vec::new();
    };
    match kind {
        RecordKind::Remove => Vec::new(),
        RecordKind::Insert => {
            let marker = text(&after, "received_at").unwrap_or_default();
            vec![change(
                DetailType::MessageStored,
                &pk,
                &sk,
                &marker,
                after,
                None,
            )]
        }
        RecordKind::Modify => {
            // A MODIFY without its old image (a stream that is not NEW_AND_OLD_IMAGES) cannot
            // tell what changed: nothing, rather than a guess.
            let Some(before) = old.and_then(|old| message_view(old.clone(), false).ok()) else {
                return Vec::new();
            };
            modified(&pk, &sk, &before, after)
        }
    }
}

fn modified(
    pk: &str,
    sk: &str,
    before: &Map<String, Value>,
    after: Map<String, Value>,
) -> Vec<Change> {
    let mut out = Vec::new();
    let newly_stored = newly_stored_attachments(before, &after);
    let updated = before.get("status") != after.get("status")
        || before.get("deleted") != after.get("deleted")
        || content(before) != content(&after);
    if updated {
        // `updated_at` marks an update; a change without one (an item rewritten by hand, a
        // tool) is marked by what it made.
        let marker = text(&after, "updated_at")
            .unwrap_or_else(|| sha256_hex(Value::Object(after.clone()).to_string().as_bytes()));
        out.push(change(
            DetailType::MessageUpdated,
            pk,
            sk,
            &marker,
            after.clone(),
            None,
        ));
    }
    for index in newly_stored {
        let stored = after["attachments"][index]["stored"].to_string();
        let marker = format!("{index}#{stored}");
        out.push(change(
            DetailType::AttachmentStored,
            pk,
            sk,
            &marker,
            after.clone(),
            Some(index),
        ));
    }
    out
}

/// The message without what is not content: the attributes above, and the attachments'
/// `stored` (the media function's, with an event of its own).
fn content(message: &Map<String, Value>) -> Map<String, Value> {
    let mut content = message.clone();
    for attribute in NOT_CONTENT {
        content.remove(*attribute);
    }
    if let Some(Value::Array(attachments)) = content.get_mut("attachments") {
        for attachment in attachments.iter_mut() {
            if let Value::Object(attachment) = attachment {
                attachment.remove("stored");
            }
        }
    }
    content
}

/// The indexes of the attachments whose `stored` the change set (absent before, present now).
fn newly_stored_attachments(before: &Map<String, Value>, after: &Map<String, Value>) -> Vec<usize> {
    let stored = |message: &Map<String, Value>, index: usize| {
        message
            .get("attachments")
            .and_then(|a| a.get(index))
            .and_then(|a| a.get("stored"))
            .is_some()
    };
    let count = after
        .get("attachments")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    (0..count)
        .filter(|&i| stored(after, i) && !stored(before, i))
        .collect()
}

fn change(
    detail_type: DetailType,
    pk: &str,
    sk: &str,
    marker: &str,
    message: Map<String, Value>,
    attachment_index: Option<usize>,
) -> Change {
    Change {
        detail_type,
        event_id: event_id(detail_type, pk, sk, marker),
        message,
        attachment_index,
    }
}

/// 32 hex digits of SHA-256 over the detail-type, the item's keys and the change's marker:
/// the same for every delivery of one change (a redelivered batch, a retried record), another
/// for every other change.
pub fn event_id(detail_type: DetailType, pk: &str, sk: &str, marker: &str) -> String {
    let input = format!("{}\n{pk}\n{sk}\n{marker}", detail_type.as_str());
    let mut id = sha256_hex(input.as_bytes());
    id.truncate(32);
    id
}

fn is_message_item(item: &Item) -> bool {
    matches!(item.get("sk"), Some(aws_sdk_dynamodb::types::AttributeValue::S(sk)) if sk.starts_with(MESSAGE_PREFIX))
}

fn keys(item: &Item) -> Option<(String, String)> {
    use aws_sdk_dynamodb::types::AttributeValue::S;
    match (item.get("pk"), item.get("sk")) {
        (Some(S(pk)), Some(S(sk))) => Some((pk.clone(), sk.clone())),
        _ => None,
    }
}

fn text(message: &Map<String, Value>, attribute: &str) -> Option<String> {
    message
        .get(attribute)
        .and_then(Value::as_str)
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue::{Bool, L, M, N, S};

    fn item(extra: &[(&str, aws_sdk_dynamodb::types::AttributeValue)]) -> Item {
        let mut item: Item = [
            ("pk", S("partoo#c1".into())),
            ("sk", S("MSG#2026-12-02T10:00:00.000Z#m1".into())),
            ("schema_version", N("3".into())),
            ("provider", S("partoo".into())),
            ("conversation_id", S("c1".into())),
            ("message_id", S("m1".into())),
            ("text", S("hello".into())),
            ("status", S("sent".into())),
            ("received_at", S("2026-12-02T10:00:01.000Z".into())),
            (
                "raw",
                aws_sdk_dynamodb::types::AttributeValue::B(vec![1, 2].into()),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for (k, v) in extra {
            item.insert((*k).to_string(), v.clone());
        }
        item
    }

    fn attachment(stored: bool) -> aws_sdk_dynamodb::types::AttributeValue {
        let mut map: std::collections::HashMap<String, _> = [
            ("kind".to_string(), S("image".into())),
            ("url".to_string(), S("https://x/1".into())),
        ]
        .into_iter()
        .collect();
        if stored {
            map.insert(
                "stored".into(),
                M([("key".to_string(), S("media/partoo/c1/m1/0".into()))]
                    .into_iter()
                    .collect()),
            );
        }
        M(map)
    }

    fn kinds(changes: &[Change]) -> Vec<(DetailType, Option<usize>)> {
        changes
            .iter()
            .map(|c| (c.detail_type, c.attachment_index))
            .collect()
    }

    #[test]
    fn an_insert_is_stored_with_the_read_apis_message() {
        let new = item(&[]);
        let out = changes(RecordKind::Insert, None, Some(&new));
        assert_eq!(kinds(&out), [(DetailType::MessageStored, None)]);
        assert_eq!(out[0].message, message_view(new, false).unwrap());
        assert!(!out[0].message.contains_key("raw"));
        assert!(!out[0].message.contains_key("pk"));
        assert_eq!(out[0].event_id.len(), 32);
    }

    #[test]
    fn status_deletion_and_content_are_updates() {
        let old = item(&[]);
        for (attribute, value) in [
            ("status", S("read".into())),
            ("deleted", Bool(true)),
            ("text", S("edited".into())),
        ] {
            let new = item(&[
                (attribute, value),
                ("updated_at", S("2026-12-02T11:00:00.000Z".into())),
            ]);
            let out = changes(RecordKind::Modify, Some(&old), Some(&new));
            assert_eq!(
                kinds(&out),
                [(DetailType::MessageUpdated, None)],
                "{attribute}"
            );
        }
    }

    #[test]
    fn what_no_reader_sees_makes_no_event() {
        let old = item(&[]);
        // The TTL, the internal digests, raw's form: not in the read API's message.
        let new = item(&[
            ("expires_at", N("1800000000".into())),
            ("content_sha256", S("ab".into())),
            ("raw", S("{}".into())),
        ]);
        assert!(changes(RecordKind::Modify, Some(&old), Some(&new)).is_empty());
        // A no-op update (same status, a new updated_at only).
        let touched = item(&[("updated_at", S("2026-12-02T11:00:00.000Z".into()))]);
        assert!(changes(RecordKind::Modify, Some(&old), Some(&touched)).is_empty());
        // Removals (erasure, TTL) and read-side items.
        assert!(changes(RecordKind::Remove, Some(&old), None).is_empty());
        let summary = item(&[("sk", S("SUMMARY".into()))]);
        assert!(changes(RecordKind::Insert, None, Some(&summary)).is_empty());
        // A MODIFY without its old image cannot say what changed.
        assert!(changes(RecordKind::Modify, None, Some(&old)).is_empty());
    }

    #[test]
    fn a_copy_set_by_the_media_function_is_attachment_stored_per_attachment() {
        let old = item(&[("attachments", L(vec![attachment(false), attachment(false)]))]);
        let one = item(&[("attachments", L(vec![attachment(false), attachment(true)]))]);
        let out = changes(RecordKind::Modify, Some(&old), Some(&one));
        assert_eq!(kinds(&out), [(DetailType::AttachmentStored, Some(1))]);
        let both = item(&[("attachments", L(vec![attachment(true), attachment(true)]))]);
        let out = changes(RecordKind::Modify, Some(&one), Some(&both));
        assert_eq!(kinds(&out), [(DetailType::AttachmentStored, Some(0))]);
        assert!(changes(RecordKind::Modify, Some(&both), Some(&both)).is_empty());
    }

    #[test]
    fn event_ids_are_stable_per_change_and_differ_between_changes() {
        let new = item(&[]);
        let first = changes(RecordKind::Insert, None, Some(&new));
        let again = changes(RecordKind::Insert, None, Some(&new.clone()));
        assert_eq!(
            first[0].event_id, again[0].event_id,
            "a redelivery has the same id"
        );
        let old = item(&[]);
        let read = |at: &str| {
            let new = item(&[("status", S("read".into())), ("updated_at", S(at.into()))]);
            changes(RecordKind::Modify, Some(&old), Some(&new))[0]
                .event_id
                .clone()
        };
        assert_eq!(
            read("2026-12-02T11:00:00.000Z"),
            read("2026-12-02T11:00:00.000Z")
        );
        assert_ne!(
            read("2026-12-02T11:00:00.000Z"),
            read("2026-12-02T12:00:00.000Z")
        );
        assert_ne!(first[0].event_id, read("2026-12-02T11:00:00.000Z"));
        assert_ne!(
            event_id(DetailType::MessageStored, "a#b", "MSG#1", "t"),
            event_id(DetailType::MessageUpdated, "a#b", "MSG#1", "t")
        );
    }
}
