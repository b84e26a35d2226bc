//! The table's key layout (docs/ARCHITECTURE.md, "The table"): one partition per conversation, the
//! messages in order under `MSG#` (by the [`OrderKey`] their provider gives them), an id item per
//! message under `ID#`, quarantined bodies apart. Only storage makes keys; nothing else knows their
//! layout.

use crate::error::Invalid;
use crate::message::{Message, OrderKey};
use crate::providers::ProviderId;

/// Sort key prefix of message items; a conversation is read with `begins_with(sk, "MSG#")`.
pub const MESSAGE_PREFIX: &str = "MSG#";
/// Sort key prefix of id items.
pub const ID_PREFIX: &str = "ID#";
/// Partition key prefix of quarantine items.
pub const QUARANTINE_PREFIX: &str = "QUARANTINE#";

/// DynamoDB's key limits, in bytes.
const MAX_PARTITION_KEY: usize = 2048;
const MAX_SORT_KEY: usize = 1024;

/// `<provider>#<conversation_id>`: the partition key of a conversation.
pub fn conversation_key(provider: ProviderId, conversation_id: &str) -> String {
    format!("{provider}#{conversation_id}")
}

/// `MSG#<order key>`: the sort key of a message item.
pub fn message_sort_key(order_key: &OrderKey) -> String {
    format!("{MESSAGE_PREFIX}{order_key}")
}

/// `ID#<message_id>`: the sort key of a message's id item.
pub fn id_sort_key(message_id: &str) -> String {
    format!("{ID_PREFIX}{message_id}")
}

/// `QUARANTINE#<provider>`: the partition of a provider's quarantined bodies.
pub fn quarantine_key(provider: ProviderId) -> String {
    format!("{QUARANTINE_PREFIX}{provider}")
}

/// `<received_at>#<sha256 of the body>`: a quarantined body's sort key.
pub fn quarantine_sort_key(received_at: &str, body_sha256: &str) -> String {
    format!("{received_at}#{body_sha256}")
}

/// The sort key of a conversation's summary item (the read side), in the conversation's own
/// partition beside its messages.
pub const SUMMARY_SORT_KEY: &str = "SUMMARY";

/// The read side's global secondary indexes (docs/CONTRACT.md, "Our design: the read side").
/// Conversations by their last activity, newest first within each of [`ACTIVITY_SHARDS`]
/// partitions (`activity_shard`, `activity_key`).
pub const BY_ACTIVITY_INDEX: &str = "by_activity";
/// Conversations by their customer's phone digits (`customer_phone`), keys only.
pub const BY_PHONE_INDEX: &str = "by_phone";
/// Conversations by their customer's address, lower case (`customer_email`), keys only.
pub const BY_EMAIL_INDEX: &str = "by_email";

/// How many partitions `by_activity` spreads summaries over: a thousand messages a second are at
/// most a thousand summary writes, two index writes each, ~125 a second per shard.
pub const ACTIVITY_SHARDS: u8 = 16;

/// The `activity_shard` of a conversation (`ACT#00` to `ACT#15`), from its partition key's
/// SHA-256: a conversation stays in one shard, and the shards share the load.
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

/// The keys of a message's two items.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageKeys {
    pub pk: String,
    /// The message item's sort key.
    pub sk: String,
    /// The id item's sort key.
    pub id_sk: String,
}

impl MessageKeys {
    pub fn of(message: &Message) -> Self {
        MessageKeys {
            pk: conversation_key(message.provider, &message.conversation_id),
            sk: message_sort_key(&message.order_key),
            id_sk: id_sort_key(&message.message_id),
        }
    }

    /// Keys a table can hold. A message whose ids don't fit can never be stored, so it is
    /// invalid rather than a reason to retry forever.
    pub fn check_sizes(&self) -> Result<(), Invalid> {
        check_sizes(&self.pk, &[&self.sk, &self.id_sk])
    }
}

/// DynamoDB's limits: 2048 bytes for a partition key, 1024 for a sort key.
pub fn check_sizes(pk: &str, sort_keys: &[&str]) -> Result<(), Invalid> {
    if pk.len() > MAX_PARTITION_KEY {
        return Err(Invalid::body(
            "conversation id is too long to be stored (over 2 KB)",
        ));
    }
    if sort_keys.iter().any(|k| k.len() > MAX_SORT_KEY) {
        return Err(Invalid::body(
            "message id or order key is too long to be stored (over 1 KB)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_shards_are_stable_spread_and_all_named() {
        let shards: Vec<String> = activity_shards().collect();
        assert_eq!(shards.len(), usize::from(ACTIVITY_SHARDS));
        assert_eq!(activity_shard("callbell#x"), activity_shard("callbell#x"));
        let spread: std::collections::HashSet<String> = (0..200)
            .map(|n| activity_shard(&format!("partoo#{n}")))
            .collect();
        assert!(spread.len() > 12, "{spread:?}");
        assert!(spread.iter().all(|s| shards.contains(s)));
        assert!(
            activity_key("2024-05-01T10:00:02.000Z", "p#1")
                > activity_key("2024-05-01T10:00:01.000Z", "p#2")
        );
    }

    #[test]
    fn keys_over_dynamodb_limits_are_invalid() {
        assert!(check_sizes("callbell#c", &["MSG#x"]).is_ok());
        assert!(check_sizes(&"c".repeat(2049), &["MSG#x"]).is_err());
        assert!(check_sizes("c", &[&"i".repeat(1025)]).is_err());
    }
}
