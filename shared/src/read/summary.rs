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

/// A summary's text is the last message's, cut to this many characters.
pub const SUMMARY_TEXT_CHARS: usize = 280;
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

/// A conversation's summary and what folding more messages into it needs to know besides
/// (storage keeps it in the summary item, with the keys the indexes need).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryState {
    #[serde(flatten)]
    pub summary: Summary,
    /// The sort key (`MSG#…`) of the last message.
    pub last_sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_inbound_sk: Option<String>,
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

/// The summary after `images` (messages of its conversation, in any order; others are passed
/// over) are folded into `current`; `None` when that changes nothing, so nothing needs writing.
pub fn merge(current: Option<&SummaryState>, images: &[&MessageImage]) -> Option<SummaryState> {
    let mut sorted: Vec<&MessageImage> = images.to_vec();
    // Stable: a message's images keep their order (a later one is its newer content).
    sorted.sort_by(|a, b| a.sk.cmp(&b.sk));
    let mut next = match current {
        Some(current) => current.clone(),
        None => SummaryState::empty(sorted.first()?),
    };
    for image in sorted {
        if image.provider == next.summary.provider
            && image.conversation_id == next.summary.conversation_id
        {
            next.absorb(image);
        }
    }
    next.summary.awaiting_reply = next.summary.last_message.direction == "inbound";
    (current != Some(&next)).then_some(next)
}

/// The summary once messages it names are gone (erased, or expired by the table's TTL):
/// `last`, when given, is the newest message left, folded in as the last one in place of the
/// gone one; `last_inbound`, when given, is what replaces a gone last inbound message (`None`
/// inside: no inbound message is left). What older messages said of the conversation (its contact, the
/// TTL) stays: it is still true of the messages left, and a summary outlives none of them.
pub fn after_removal(
    current: &SummaryState,
    last: Option<&MessageImage>,
    last_inbound: Option<Option<&MessageImage>>,
) -> SummaryState {
    let mut next = current.clone();
    if let Some(inbound) = last_inbound {
        next.last_inbound_sk = inbound.map(|i| i.sk.clone());
        next.summary.last_inbound_at = inbound.map(|i| i.created_at.clone());
    }
    if let Some(last) = last {
        // Below every `MSG#` key: `last` becomes the last message whatever it is.
        next.last_sk = String::new();
        next.absorb(last);
    }
    next.summary.awaiting_reply = next.summary.last_message.direction == "inbound";
    next
}

impl SummaryState {
    /// A summary with the conversation's identity and nothing else yet.
    fn empty(image: &MessageImage) -> Self {
        SummaryState {
            summary: Summary {
                provider: image.provider.clone(),
                conversation_id: image.conversation_id.clone(),
                ..Summary::default()
            },
            last_sk: String::new(),
            last_inbound_sk: None,
            expires_at: None,
        }
    }

    /// The customer's phone digits and address, the keys `GET /customers` finds them by.
    pub fn customer_keys(&self) -> (Option<String>, Option<String>) {
        let contact = &self.summary.contact;
        (
            contact
                .get("phone")
                .and_then(|p| super::customer::phone_key(p)),
            contact
                .get("email")
                .and_then(|e| super::customer::email_key(e)),
        )
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

    fn fold_in_order(order: &[u32]) -> SummaryState {
        let images: Vec<MessageImage> = order
            .iter()
            .map(|&n| image(n, if n % 2 == 0 { "outbound" } else { "inbound" }))
            .collect();
        let mut summary: Option<SummaryState> = None;
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
            assert_eq!(
                summary.customer_keys(),
                (Some("33612345678".into()), Some("jane@example.com".into()))
            );
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
    fn a_removed_last_message_gives_way_to_the_newest_left() {
        let images: Vec<MessageImage> = (1..=4)
            .map(|n| image(n, if n == 4 { "inbound" } else { "outbound" }))
            .collect();
        let refs: Vec<&MessageImage> = images.iter().collect();
        let all = merge(None, &refs).unwrap();
        assert!(all.summary.awaiting_reply);
        // 4 (the last, and the last inbound) is gone; 3 is the newest left, no inbound left.
        let next = after_removal(&all, Some(&images[2]), Some(None));
        assert_eq!(next.summary.last_message.message_id, "3");
        assert_eq!(next.last_sk, images[2].sk);
        assert_eq!(next.summary.last_activity_at, images[2].created_at);
        assert_eq!(
            (
                next.last_inbound_sk.as_deref(),
                next.summary.last_inbound_at.as_deref()
            ),
            (None, None)
        );
        assert!(!next.summary.awaiting_reply, "3 is outbound");
        assert_eq!(
            next,
            merge(None, &refs[..3]).unwrap(),
            "as if 4 had never come"
        );
        // An older inbound message gone, the last one left: only the inbound mark moves.
        let older = merge(None, &[&image(1, "inbound"), &image(2, "outbound")]).unwrap();
        let next = after_removal(&older, None, Some(None));
        assert_eq!(next.summary.last_message, older.summary.last_message);
        assert_eq!(next.summary.last_inbound_at, None);
    }

    #[test]
    fn the_state_shows_only_the_summary() {
        let images = [image(1, "inbound"), image(2, "outbound")];
        let state = merge(None, &[&images[0], &images[1]]).unwrap();
        let shown = serde_json::to_value(&state.summary).unwrap();
        assert!(shown.get("last_sk").is_none() && shown.get("expires_at").is_none());
        assert_eq!(shown["awaiting_reply"], false);
        assert_eq!(shown["last_message"]["message_id"], "2");
        assert_eq!(shown["contact"]["name"], "Jane");
    }
}
