//! Conversation summaries in the table: one item per conversation (`<provider>#<conversation_id>`,
//! `SUMMARY`), holding the read model's [`SummaryState`] and the keys of the read side's indexes
//! (`by_activity`, `by_phone`, `by_email`), written over the revision it read.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::dynamodb::store_error;
use super::keys::{activity_key, activity_shard, SUMMARY_SORT_KEY};
use super::{consistent_get, DynamoDbStore, Item};
use crate::error::StoreError;
use crate::read::summary::{merge, MessageImage, SummaryState};

/// The `schema_version` of summary items.
pub const SUMMARY_SCHEMA_VERSION: u8 = 3;

/// How often a summary write is tried when another writer (a backfill beside the projector)
/// wrote the item between reading and writing it.
const FOLD_ATTEMPTS: u32 = 4;

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
        for _ in 0..FOLD_ATTEMPTS {
            let current = self.summary(pk).await?;
            let Some(state) = merge(current.as_ref().map(|c| &c.state), images) else {
                return Ok(Folded::Unchanged);
            };
            if current.is_none() && !self.exists(pk, &state.last_sk).await? {
                return Ok(Folded::Gone);
            }
            let revision = current.as_ref().map_or(0, |c| c.revision);
            let item = SummaryItem::new(pk, state, revision + 1);
            if self.is_read_only() {
                return Ok(Folded::Written {
                    created: current.is_none(),
                });
            }
            let put = self
                .client()
                .put_item()
                .table_name(self.table())
                .set_item(Some(item.to_item()));
            let put = match &current {
                Some(_) => put
                    .condition_expression("revision = :seen")
                    .expression_attribute_values(":seen", AttributeValue::N(revision.to_string())),
                None => put.condition_expression("attribute_not_exists(pk)"),
            };
            match put.send().await {
                Ok(_) => {
                    return Ok(Folded::Written {
                        created: current.is_none(),
                    })
                }
                Err(SdkError::ServiceError(e))
                    if e.err().is_conditional_check_failed_exception() =>
                {
                    continue
                }
                Err(e) => return Err(store_error(e)),
            }
        }
        Err(StoreError::Unavailable(
            "the summary kept changing while writing it".into(),
        ))
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
