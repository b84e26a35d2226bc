//! Conversation summaries: what the list of conversations shows of each, kept in one item per
//! conversation (`<provider>#<conversation_id>`, `SUMMARY`) beside its messages, and how the
//! messages' images fold into it.
//!
//! The fold ([`merge`]) is the one rule for every writer — the projector on the table's stream,
//! `ingest-dev backfill` over stored messages — and it is order-free: the last message is the
//! one with the greatest sort key whatever order the images come in, a late redelivery of an
//! older message never becomes the last one, and folding the same images twice changes nothing
//! (so a retried batch writes nothing). See docs/CONTRACT.md, "Our design: the read side".

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The sort key of a conversation's summary item.
pub const SUMMARY_SORT_KEY: &str = "SUMMARY";
/// How many partitions the `by_activity` index spreads summaries over.
pub const ACTIVITY_SHARDS: u8 = 16;
/// A summary's text is the last message's, cut to this many characters.
pub const SUMMARY_TEXT_CHARS: usize = 280;
/// The `schema_version` of summary items.
pub const SUMMARY_SCHEMA_VERSION: u8 = 3;

/// The `activity_shard` of a conversation: `ACT#00` to `ACT#15`, from its partition key's
/// SHA-256, so that every conversation stays in one shard and the shards share the load.
pub fn activity_shard(pk: &str) -> String {
    format!(
        "ACT#{:02}",
        crate::digest::sha256(pk.as_bytes())[0] % ACTIVITY_SHARDS
    )
}

/// Every shard, for a reader that must look at all of them.
pub fn activity_shards() -> impl Iterator<Item = String> {
    (0..ACTIVITY_SHARDS).map(|n| format!("ACT#{n:02}"))
}

/// `<last_activity_at>#<pk>`: newest first in text order, and unique per conversation.
pub fn activity_key(last_activity_at: &str, pk: &str) -> String {
    format!("{last_activity_at}#{pk}")
}

/// The last message, as a summary shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastMessage {
    pub message_id: String,
    pub created_at: String,
    pub direction: String,
    #[serde(default)]
    pub sender: BTreeMap<String, String>,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// A conversation summary as the read API answers it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub provider: String,
    pub conversation_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub contact: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub business: BTreeMap<String, String>,
    pub last_message: LastMessage,
    pub last_activity_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_inbound_at: Option<String>,
    pub awaiting_reply: bool,
}

/// The summary item: the summary and what the writers and the indexes need besides.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryItem {
    pub pk: String,
    pub sk: String,
    pub schema_version: u8,
    #[serde(flatten)]
    pub summary: Summary,
    /// The sort key (`MSG#…`) of the last message.
    pub last_sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_inbound_sk: Option<String>,
    pub activity_shard: String,
    pub activity_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_email: Option<String>,
    /// Bumped by every write; a writer writes only over the revision it read.
    pub revision: u64,
    /// The table's TTL: the latest of its messages' (absent when they carry none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

/// What the fold reads of a message item (its image in a stream record, or the item itself).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct MessageImage {
    pub pk: String,
    pub sk: String,
    pub provider: String,
    pub conversation_id: String,
    pub message_id: String,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
    pub direction: String,
    #[serde(default)]
    pub sender: BTreeMap<String, String>,
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub contact: BTreeMap<String, String>,
    #[serde(default)]
    pub business: BTreeMap<String, String>,
    pub created_at: String,
    #[serde(default)]
    pub expires_at: Option<i64>,
}

/// The summary after `images` (messages of its conversation, in any order) are folded into
/// `current`; `None` when that changes nothing, so nothing needs writing. The result's
/// `revision` is one past `current`'s.
pub fn merge(current: Option<&SummaryItem>, images: &[&MessageImage]) -> Option<SummaryItem> {
    let mut sorted: Vec<&MessageImage> = images.to_vec();
    sorted.sort_by(|a, b| a.sk.cmp(&b.sk));
    let mut next = match current {
        Some(current) => current.clone(),
        None => SummaryItem::empty(sorted.first()?),
    };
    for image in sorted {
        if image.pk == next.pk {
            next.absorb(image);
        }
    }
    next.derive();
    if current.is_some_and(|c| *c == next) {
        return None;
    }
    next.revision = current.map_or(1, |c| c.revision + 1);
    Some(next)
}

impl SummaryItem {
    /// A summary with the conversation's identity and nothing else yet.
    fn empty(image: &MessageImage) -> Self {
        SummaryItem {
            pk: image.pk.clone(),
            sk: SUMMARY_SORT_KEY.to_string(),
            schema_version: SUMMARY_SCHEMA_VERSION,
            summary: Summary {
                provider: image.provider.clone(),
                conversation_id: image.conversation_id.clone(),
                ..Summary::default()
            },
            last_sk: String::new(),
            last_inbound_sk: None,
            activity_shard: activity_shard(&image.pk),
            activity_key: String::new(),
            customer_phone: None,
            customer_email: None,
            revision: 0,
            expires_at: None,
        }
    }

    fn absorb(&mut self, image: &MessageImage) {
        let summary = &mut self.summary;
        if image.sk >= self.last_sk {
            // The last message so far (or the last one again, perhaps with new content): it
            // also says best who the conversation is with.
            self.last_sk = image.sk.clone();
            summary.last_activity_at = image.created_at.clone();
            summary.last_message = LastMessage {
                message_id: image.message_id.clone(),
                created_at: image.created_at.clone(),
                direction: image.direction.clone(),
                sender: image.sender.clone(),
                kind: image.kind.clone(),
                text: image
                    .text
                    .as_deref()
                    .map(|t| t.chars().take(SUMMARY_TEXT_CHARS).collect()),
            };
            overwrite(&mut summary.account_id, &image.account_id);
            overwrite(&mut summary.channel, &image.channel);
            summary.contact.extend(image.contact.clone());
            summary.business.extend(image.business.clone());
        } else {
            // An older message fills in only what no newer one said.
            fill(&mut summary.account_id, &image.account_id);
            fill(&mut summary.channel, &image.channel);
            for (field, value) in &image.contact {
                summary
                    .contact
                    .entry(field.clone())
                    .or_insert(value.clone());
            }
            for (field, value) in &image.business {
                summary
                    .business
                    .entry(field.clone())
                    .or_insert(value.clone());
            }
        }
        if image.direction == "inbound"
            && self
                .last_inbound_sk
                .as_ref()
                .is_none_or(|sk| image.sk >= *sk)
        {
            self.last_inbound_sk = Some(image.sk.clone());
            summary.last_inbound_at = Some(image.created_at.clone());
        }
        self.expires_at = self.expires_at.max(image.expires_at);
    }

    /// The attributes that follow from the others.
    fn derive(&mut self) {
        let summary = &mut self.summary;
        summary.awaiting_reply = summary.last_message.direction == "inbound";
        self.activity_key = activity_key(&summary.last_activity_at, &self.pk);
        self.customer_phone = summary
            .contact
            .get("phone")
            .and_then(|p| super::customer::phone_key(p));
        self.customer_email = summary
            .contact
            .get("email")
            .and_then(|e| super::customer::email_key(e));
    }
}

fn overwrite(field: &mut Option<String>, value: &Option<String>) {
    if value.is_some() {
        field.clone_from(value);
    }
}

fn fill(field: &mut Option<String>, value: &Option<String>) {
    if field.is_none() {
        field.clone_from(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(n: u32, direction: &str) -> MessageImage {
        MessageImage {
            pk: "partoo#42".into(),
            sk: format!("MSG#2024-05-01T10:00:{n:02}.000Z#{n:020}"),
            provider: "partoo".into(),
            conversation_id: "42".into(),
            message_id: n.to_string(),
            account_id: Some("7".into()),
            channel: Some("whatsapp".into()),
            direction: direction.into(),
            sender: BTreeMap::from([(
                "role".to_string(),
                if direction == "inbound" {
                    "customer"
                } else {
                    "agent"
                }
                .to_string(),
            )]),
            kind: "text".into(),
            text: Some(format!("message {n}")),
            contact: BTreeMap::from([("name".to_string(), "Jane".to_string())]),
            business: BTreeMap::new(),
            created_at: format!("2024-05-01T10:00:{n:02}.000Z"),
            expires_at: None,
        }
    }

    fn fold_in_order(order: &[u32]) -> SummaryItem {
        let images: Vec<MessageImage> = order
            .iter()
            .map(|&n| image(n, if n % 2 == 0 { "outbound" } else { "inbound" }))
            .collect();
        let mut summary: Option<SummaryItem> = None;
        for image in &images {
            if let Some(next) = merge(summary.as_ref(), &[image]) {
                summary = Some(next);
            }
        }
        summary.unwrap()
    }

    #[test]
    fn the_last_message_is_the_greatest_key_whatever_the_order() {
        let in_order = fold_in_order(&[1, 2, 3, 4, 5]);
        for order in [[5, 4, 3, 2, 1], [3, 5, 1, 4, 2], [2, 1, 5, 3, 4]] {
            let shuffled = fold_in_order(&order);
            assert_eq!(shuffled.summary, in_order.summary, "{order:?}");
            assert_eq!(shuffled.last_sk, in_order.last_sk);
        }
        let summary = &in_order.summary;
        assert_eq!(summary.last_message.message_id, "5");
        assert_eq!(summary.last_activity_at, "2024-05-01T10:00:05.000Z");
        assert_eq!(
            summary.last_inbound_at.as_deref(),
            Some("2024-05-01T10:00:05.000Z")
        );
        assert!(summary.awaiting_reply, "5 is inbound");
        assert_eq!(in_order.activity_key, "2024-05-01T10:00:05.000Z#partoo#42");
        assert_eq!(in_order.activity_shard, activity_shard("partoo#42"));
    }

    #[test]
    fn awaiting_reply_follows_the_last_message() {
        let answered = fold_in_order(&[1, 2, 3, 4]);
        assert_eq!(answered.summary.last_message.direction, "outbound");
        assert!(!answered.summary.awaiting_reply);
        assert_eq!(
            answered.summary.last_inbound_at.as_deref(),
            Some("2024-05-01T10:00:03.000Z")
        );
    }

    #[test]
    fn folding_again_changes_nothing_and_a_batch_is_one_write() {
        let images: Vec<MessageImage> = (1..=6).map(|n| image(n, "inbound")).collect();
        let refs: Vec<&MessageImage> = images.iter().collect();
        let once = merge(None, &refs).unwrap();
        assert_eq!(once.revision, 1);
        assert_eq!(
            merge(Some(&once), &refs),
            None,
            "a retried batch writes nothing"
        );
        assert_eq!(
            merge(Some(&once), &refs[..2]),
            None,
            "older messages change nothing"
        );
        let later = image(7, "outbound");
        let next = merge(Some(&once), &[&later]).unwrap();
        assert_eq!(next.revision, 2);
        assert_eq!(next.summary.last_message.message_id, "7");
    }

    #[test]
    fn newer_messages_say_who_the_conversation_is_with_older_ones_fill_in() {
        let mut first = image(1, "inbound");
        first
            .contact
            .insert("phone".into(), "+33 6 12 34 56 78".into());
        first.contact.insert("name".into(), "Old Name".into());
        let mut second = image(2, "inbound");
        second.contact = BTreeMap::from([("name".to_string(), "New Name".to_string())]);
        second
            .contact
            .insert("email".into(), "Jane@Example.com".into());
        for order in [[&first, &second], [&second, &first]] {
            let summary = merge(None, &order).unwrap();
            assert_eq!(summary.summary.contact["name"], "New Name");
            assert_eq!(summary.summary.contact["phone"], "+33 6 12 34 56 78");
            assert_eq!(summary.customer_phone.as_deref(), Some("33612345678"));
            assert_eq!(summary.customer_email.as_deref(), Some("jane@example.com"));
        }
    }

    #[test]
    fn a_content_update_of_the_last_message_refreshes_it() {
        let mut last = image(3, "inbound");
        let summary = merge(None, &[&image(1, "inbound"), &last]).unwrap();
        last.text = Some("edited".into());
        let updated = merge(Some(&summary), &[&last]).unwrap();
        assert_eq!(updated.summary.last_message.text.as_deref(), Some("edited"));
        let mut older = image(1, "inbound");
        older.text = Some("edited too".into());
        assert_eq!(merge(Some(&updated), &[&older]), None);
    }

    #[test]
    fn text_is_cut_to_280_characters_and_ttl_follows_the_latest() {
        let mut long = image(1, "inbound");
        long.text = Some("é".repeat(500));
        long.expires_at = Some(1_000);
        let mut later = image(2, "outbound");
        later.text = Some("ü".repeat(300));
        later.expires_at = Some(2_000);
        let summary = merge(None, &[&long, &later]).unwrap();
        let text = summary.summary.last_message.text.as_deref().unwrap();
        assert_eq!(text.chars().count(), SUMMARY_TEXT_CHARS);
        assert_eq!(summary.expires_at, Some(2_000));
    }

    #[test]
    fn shards_are_stable_and_all_named() {
        let shards: Vec<String> = activity_shards().collect();
        assert_eq!(shards.len(), 16);
        assert_eq!(activity_shard("callbell#x"), activity_shard("callbell#x"));
        let spread: std::collections::HashSet<String> = (0..200)
            .map(|n| activity_shard(&format!("partoo#{n}")))
            .collect();
        assert!(spread.len() > 12, "{spread:?}");
        assert!(spread.iter().all(|s| shards.contains(s)));
    }

    #[test]
    fn summary_items_round_trip_through_dynamodb_values() {
        let images = [image(1, "inbound"), image(2, "outbound")];
        let summary = merge(None, &[&images[0], &images[1]]).unwrap();
        let item: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> =
            serde_dynamo::to_item(&summary).unwrap();
        assert!(item.contains_key("last_message") && item.contains_key("activity_key"));
        let back: SummaryItem = serde_dynamo::from_item(item).unwrap();
        assert_eq!(back, summary);
        let shown = serde_json::to_value(&summary.summary).unwrap();
        assert!(shown.get("last_sk").is_none() && shown.get("revision").is_none());
        assert_eq!(shown["awaiting_reply"], false);
    }
}
