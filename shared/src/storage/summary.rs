//! Conversation summaries in the table: one item per conversation (`<provider>#<conversation_id>`,
//! `SUMMARY`), holding the read model's [`SummaryState`] and the keys of the read side's indexes
//! (`by_activity`, `by_phone`, `by_email`), written over the revision it read.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::dynamodb::store_error;
use super::keys::{activity_key, activity_shard, MESSAGE_PREFIX, SUMMARY_SORT_KEY};
use super::{consistent_get, item_key, DynamoDbStore, Item};
use crate::error::StoreError;
use crate::read::summary::{after_removal, merge, MessageImage, SummaryState};

/// The `schema_version` of summary items.
pub const SUMMARY_SCHEMA_VERSION: u8 = 3;

/// How often a summary write is tried when another writer (a second projector, a backfill)
/// wrote the item between reading and writing it.
const FOLD_ATTEMPTS: u32 = 4;

/// The attributes of a message item the fold reads ([`MessageImage`]'s): what the removal path's
/// queries ask for, so that they never carry the messages' bodies (`raw`).
const IMAGE_ATTRIBUTES: [&str; 15] = [
    "pk",
    "sk",
    "provider",
    "conversation_id",
    "message_id",
    "account_id",
    "channel",
    "direction",
    "sender",
    "kind",
    "text",
    "contact",
    "business",
    "created_at",
    "expires_at",
];

/// A page of the search for the newest inbound message left (filtered after reading).
const INBOUND_PAGE: i32 = 100;

/// The summary item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryItem {
    pub pk: String,
    pub sk: String,
    pub schema_version: u8,
    #[serde(flatten)]
    pub state: SummaryState,
    pub activity_shard: String,
    pub activity_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_email: Option<String>,
    /// Bumped by every write; a writer writes only over the revision it read.
    pub revision: u64,
}

impl SummaryItem {
    /// The item of `state` for the conversation at `pk`, at `revision`.
    pub fn new(pk: &str, state: SummaryState, revision: u64) -> Self {
        let (customer_phone, customer_email) = state.customer_keys();
        SummaryItem {
            pk: pk.to_string(),
            sk: SUMMARY_SORT_KEY.to_string(),
            schema_version: SUMMARY_SCHEMA_VERSION,
            activity_shard: activity_shard(pk),
            activity_key: activity_key(&state.summary.last_activity_at, pk),
            customer_phone,
            customer_email,
            state,
            revision,
        }
    }

    pub fn to_item(&self) -> Item {
        serde_dynamo::to_item(self).expect("a summary always serializes to a map")
    }

    pub fn from_item(item: Item) -> Result<Self, StoreError> {
        serde_dynamo::from_item(item)
            .map_err(|e| StoreError::Unavailable(format!("unreadable summary item: {e}")))
    }
}

/// What folding a conversation's messages into its summary did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Folded {
    /// Written (`created`: there was none before).
    Written { created: bool },
    /// Nothing changed: nothing written.
    Unchanged,
    /// There was no summary and the last message is gone (erased, or expired): none made.
    Gone,
    /// The summary's last message is gone and no message is left: the summary was deleted.
    Deleted,
}

/// What [`DynamoDbStore::project`] did, and how often another writer came between its read and
/// its write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Projected {
    pub folded: Folded,
    pub conflicts: u32,
}

impl DynamoDbStore {
    /// The summary of the conversation at `pk`, if it has one.
    pub async fn summary(&self, pk: &str) -> Result<Option<SummaryItem>, StoreError> {
        let output = consistent_get(self.client(), self.table(), pk, SUMMARY_SORT_KEY)
            .send()
            .await
            .map_err(store_error)?;
        output.item.map(SummaryItem::from_item).transpose()
    }

    /// Folds `images` — messages of the conversation at `pk`, in any order — into its summary
    /// ([`merge`]), and writes it when that changes it, over the revision it read. A summary
    /// that does not exist yet is made only while its last message still exists, so that a
    /// late stream record never brings back a conversation `ingest-dev erase` removed.
    pub async fn fold_summary(
        &self,
        pk: &str,
        images: &[&MessageImage],
    ) -> Result<Folded, StoreError> {
        Ok(self.project(pk, images, &[]).await?.folded)
    }

    /// One conversation's share of a stream batch: `images`, the messages written (their
    /// newest images), folded as [`fold_summary`](Self::fold_summary) does, and `removed`, the
    /// sort keys of messages deleted (erased, or expired by the TTL). When the summary's last
    /// message, or its last inbound one, is among them, the newest ones left are read back
    /// (two short queries) and take their place; when none is left, the summary is deleted.
    /// One read of the summary and at most one write, conditional on the revision read; tried
    /// again from the read when another writer came first.
    pub async fn project(
        &self,
        pk: &str,
        images: &[&MessageImage],
        removed: &[&str],
    ) -> Result<Projected, StoreError> {
        let mut conflicts = 0;
        let done = |folded, conflicts| Ok(Projected { folded, conflicts });
        for _ in 0..FOLD_ATTEMPTS {
            let current = self.summary(pk).await?;
            // The summary to put, or `None`: delete it.
            let next: Option<SummaryState> = match &current {
                None => {
                    let Some(state) = merge(None, images) else {
                        return done(Folded::Unchanged, conflicts);
                    };
                    if !self.exists(pk, &state.last_sk).await? {
                        return done(Folded::Gone, conflicts);
                    }
                    Some(state)
                }
                Some(current) => match self.without_removed(pk, &current.state, removed).await? {
                    None => None,
                    Some(base) => {
                        let next = merge(Some(&base), images).unwrap_or(base);
                        if next == current.state {
                            return done(Folded::Unchanged, conflicts);
                        }
                        Some(next)
                    }
                },
            };
            let folded = match &next {
                Some(_) => Folded::Written {
                    created: current.is_none(),
                },
                None => Folded::Deleted,
            };
            if self.is_read_only() {
                return done(folded, conflicts);
            }
            let revision = current.as_ref().map_or(0, |c| c.revision);
            let seen = AttributeValue::N(revision.to_string());
            let sent = match next {
                Some(state) => {
                    let put = self
                        .client()
                        .put_item()
                        .table_name(self.table())
                        .set_item(Some(SummaryItem::new(pk, state, revision + 1).to_item()));
                    let put = match &current {
                        Some(_) => put
                            .condition_expression("revision = :seen")
                            .expression_attribute_values(":seen", seen),
                        None => put.condition_expression("attribute_not_exists(pk)"),
                    };
                    put.send().await.map(drop).map_err(conflict_or_error)
                }
                None => self
                    .client()
                    .delete_item()
                    .table_name(self.table())
                    .set_key(Some(item_key(pk, SUMMARY_SORT_KEY)))
                    .condition_expression("revision = :seen")
                    .expression_attribute_values(":seen", seen)
                    .send()
                    .await
                    .map(drop)
                    .map_err(conflict_or_error),
            };
            match sent {
                Ok(()) => return done(folded, conflicts),
                Err(None) => conflicts += 1,
                Err(Some(e)) => return Err(e),
            }
        }
        Err(StoreError::Unavailable(
            "the summary kept changing while writing it".into(),
        ))
    }

    /// `state` without the messages of `removed`: itself when it names none of them; the
    /// newest messages left in their place; `None` when its last message is gone and no
    /// message is left.
    async fn without_removed(
        &self,
        pk: &str,
        state: &SummaryState,
        removed: &[&str],
    ) -> Result<Option<SummaryState>, StoreError> {
        let last_gone = removed.contains(&state.last_sk.as_str());
        let inbound_gone = state
            .last_inbound_sk
            .as_deref()
            .filter(|sk| removed.contains(sk));
        if !last_gone && inbound_gone.is_none() {
            return Ok(Some(state.clone()));
        }
        let last = match last_gone {
            true => match self.newest_message(pk).await? {
                Some(last) => Some(last),
                None => return Ok(None),
            },
            false => None,
        };
        let last_inbound = match inbound_gone {
            None => None,
            // The newest message left is inbound: it is the last inbound one too.
            Some(_) if last.as_ref().is_some_and(|l| l.direction == "inbound") => {
                Some(last.clone())
            }
            Some(gone) => Some(self.newest_inbound_before(pk, gone).await?),
        };
        Ok(Some(after_removal(
            state,
            last.as_ref(),
            last_inbound.as_ref().map(Option::as_ref),
        )))
    }

    /// The conversation's newest message (the greatest `MSG#` key), read strongly consistent.
    async fn newest_message(&self, pk: &str) -> Result<Option<MessageImage>, StoreError> {
        let page = self
            .image_query(pk)
            .key_condition_expression("pk = :pk AND begins_with(sk, :msg)")
            .expression_attribute_values(":msg", AttributeValue::S(MESSAGE_PREFIX.into()))
            .limit(1)
            .send()
            .await
            .map_err(store_error)?;
        page.items
            .unwrap_or_default()
            .into_iter()
            .next()
            .map(read_image)
            .transpose()
    }

    /// The newest inbound message older than `before` (the gone last inbound one). Every
    /// message between the two is outbound, so this reads as many as the business sent since
    /// the customer last wrote — usually a few, and with the TTL, which removes the oldest first,
    /// even fewer.
    async fn newest_inbound_before(
        &self,
        pk: &str,
        before: &str,
    ) -> Result<Option<MessageImage>, StoreError> {
        let mut start = None;
        loop {
            let page = self
                .image_query(pk)
                // Inclusive, but `before` is gone.
                .key_condition_expression("pk = :pk AND sk BETWEEN :msg AND :before")
                .expression_attribute_values(":msg", AttributeValue::S(MESSAGE_PREFIX.into()))
                .expression_attribute_values(":before", AttributeValue::S(before.into()))
                .filter_expression("#direction = :inbound")
                .expression_attribute_values(":inbound", AttributeValue::S("inbound".into()))
                .limit(INBOUND_PAGE)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(store_error)?;
            if let Some(item) = page.items.unwrap_or_default().into_iter().next() {
                return read_image(item).map(Some);
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(None);
            }
        }
    }

    /// A strongly consistent query of the conversation at `pk`, newest first, for the
    /// attributes of [`MessageImage`] only (`#direction` names `direction`).
    fn image_query(
        &self,
        pk: &str,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        let (projection, names) = image_projection();
        self.client()
            .query()
            .table_name(self.table())
            .consistent_read(true)
            .scan_index_forward(false)
            .expression_attribute_values(":pk", AttributeValue::S(pk.into()))
            .projection_expression(projection)
            .set_expression_attribute_names(Some(names))
    }

    async fn exists(&self, pk: &str, sk: &str) -> Result<bool, StoreError> {
        let output = consistent_get(self.client(), self.table(), pk, sk)
            .projection_expression("pk")
            .send()
            .await
            .map_err(store_error)?;
        Ok(output.item.is_some())
    }
}

/// The projection of a message item's [`MessageImage`] attributes, and the names it uses
/// (`#direction` names `direction`, and so on), for a query or scan of message items that must
/// not carry their bodies (`raw`).
pub fn image_projection() -> (String, HashMap<String, String>) {
    // Every name through a placeholder: some (`text`, `channel`...) are reserved words.
    let names: HashMap<String, String> = IMAGE_ATTRIBUTES
        .iter()
        .map(|name| (format!("#{name}"), name.to_string()))
        .collect();
    let projection = IMAGE_ATTRIBUTES.map(|name| format!("#{name}")).join(", ");
    (projection, names)
}

/// A message item as the fold reads it.
fn read_image(item: Item) -> Result<MessageImage, StoreError> {
    serde_dynamo::from_item(item)
        .map_err(|e| StoreError::Unavailable(format!("unreadable message item: {e}")))
}

/// A failed conditional write: `None` when the condition failed (another writer came first),
/// else the error.
fn conflict_or_error<E, R>(error: SdkError<E, R>) -> Option<StoreError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match &error {
        SdkError::ServiceError(e) if e.err().code() == Some("ConditionalCheckFailedException") => {
            None
        }
        _ => Some(store_error(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn image(n: u32) -> MessageImage {
        MessageImage {
            pk: "partoo#42".into(),
            sk: format!("MSG#2024-05-01T10:00:{n:02}.000Z#{n:020}"),
            provider: "partoo".into(),
            conversation_id: "42".into(),
            message_id: n.to_string(),
            account_id: Some("7".into()),
            channel: Some("whatsapp".into()),
            direction: "inbound".into(),
            sender: BTreeMap::from([("role".to_string(), "customer".to_string())]),
            kind: "text".into(),
            text: Some(format!("message {n}")),
            contact: BTreeMap::from([
                ("name".to_string(), "Jane".to_string()),
                ("phone".to_string(), "+33 6 12 34 56 78".to_string()),
            ]),
            business: BTreeMap::new(),
            created_at: format!("2024-05-01T10:00:{n:02}.000Z"),
            expires_at: Some(1_900_000_000),
        }
    }

    #[test]
    fn summary_items_carry_the_index_keys_and_round_trip() {
        let state = merge(None, &[&image(1), &image(2)]).unwrap();
        let item = SummaryItem::new("partoo#42", state, 3);
        assert_eq!(item.activity_key, "2024-05-01T10:00:02.000Z#partoo#42");
        assert_eq!(item.activity_shard, activity_shard("partoo#42"));
        assert_eq!(item.customer_phone.as_deref(), Some("33612345678"));
        assert_eq!(item.customer_email, None);
        let values = item.to_item();
        assert_eq!(values["sk"], AttributeValue::S("SUMMARY".into()));
        assert_eq!(values["revision"], AttributeValue::N("3".into()));
        assert_eq!(values["expires_at"], AttributeValue::N("1900000000".into()));
        assert_eq!(values["awaiting_reply"], AttributeValue::Bool(true));
        assert!(
            !values.contains_key("customer_email"),
            "sparse: no address, no index entry"
        );
        assert_eq!(SummaryItem::from_item(values).unwrap(), item);
    }
}
