//! The read side of storage: what the `inbox` function reads, behind [`ConversationReader`],
//! beside the writer ([`super::MessageStore`]). Only Query, GetItem and BatchGetItem: no read
//! scans the table, every page reads in proportion to its limit, and nothing is written.
//!
//! - the conversation list: the 16 `by_activity` shards queried at once, newest first, merged
//!   by [`crate::read::listing::merge_shards`], then the page's summaries in one BatchGetItem;
//! - one summary, or — while the projector has not made it yet — one made from the newest
//!   message, so that a conversation just stored is never unknown;
//! - a conversation's messages: one strongly consistent Query, in order-key order;
//! - a customer's conversations through `by_phone` or `by_email`.
//!
//! Expired items are left out of every read: DynamoDB's TTL deletes an item within days of its
//! `expires_at`, not at that second, and until then a read must not show what retention has
//! already given up. Messages are filtered by the Query itself (a FilterExpression: same read
//! units, and DynamoDB's own cursor stays right when it drops items); summaries come from
//! GetItem and BatchGetItem, which take no filter, and are filtered after the read. Either way
//! a page may come back short of its limit, and its cursor still goes on from where it stopped.
//!
//! Messages are read back as plain JSON ([`message_view`]): the normalized message's
//! attributes only, numbers as numbers and maps as objects, `raw` as text when asked for.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use serde_json::{Map, Value};

use super::dynamodb::store_error;
use super::keys::{
    activity_shards, BY_ACTIVITY_INDEX, BY_EMAIL_INDEX, BY_PHONE_INDEX, MESSAGE_PREFIX,
    SUMMARY_SORT_KEY,
};
use super::table::TTL_ATTRIBUTE;
use super::{item_key, string, DynamoDbStore, Item, SummaryItem};
use crate::error::StoreError;
use crate::read::listing::{merge_shards, ShardPage};
use crate::read::query::{Customer, Filters, Order};
use crate::read::summary::{merge, MessageImage, Summary};

/// The most conversations `/customers` answers with (the documented cap): one BatchGetItem.
pub const CUSTOMER_CONVERSATIONS_CAP: i32 = 100;

/// How often a BatchGetItem's unprocessed keys are asked for again.
const BATCH_GET_ATTEMPTS: u32 = 4;

/// The attributes of the normalized message (docs/CONTRACT.md, "The normalized message"): all
/// a message read back shows. Everything else on a message item is internal — its keys, `raw`
/// (shown on request), `content_sha256`, the TTL's `expires_at` — and stays out.
pub const MESSAGE_ATTRIBUTES: &[&str] = &[
    "schema_version",
    "provider",
    "account_id",
    "conversation_id",
    "message_id",
    "channel",
    "direction",
    "sender",
    "kind",
    "text",
    "attachments",
    "refs",
    "location",
    "contact",
    "status",
    "visible",
    "automated",
    "deleted",
    "created_at",
    "received_at",
    "updated_at",
    "business",
    "channel_account",
    "forwarded",
    "metadata",
    "interactive",
    "contact_cards",
    "body_sha256",
];

/// One page of the conversation list, newest activity first.
#[derive(Clone, Debug, PartialEq)]
pub struct ConversationPage {
    pub summaries: Vec<Summary>,
    /// The next page holds conversations whose activity key is below this; `None`: the end.
    pub next_before: Option<String>,
}

/// A message read back: its sort key (where a page ends) and its attributes as plain JSON.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredMessage {
    pub sk: String,
    pub message: Map<String, Value>,
}

/// One page of a conversation's messages.
#[derive(Clone, Debug, PartialEq)]
pub struct MessagePage {
    pub messages: Vec<StoredMessage>,
    /// The next page starts after this sort key; `None`: the end.
    pub next_after: Option<String>,
}

/// What the read API asks of the table.
pub trait ConversationReader: Send + Sync {
    /// Up to `limit` conversations matching `filters`, newest activity first, below the
    /// activity key `before` (the previous page's `next_before`).
    fn list_conversations(
        &self,
        filters: &Filters,
        limit: u32,
        before: Option<&str>,
    ) -> impl Future<Output = Result<ConversationPage, StoreError>> + Send;

    /// The summary of the conversation at `pk`; made from its newest message while it has
    /// none yet; `None` when the conversation has no message at all.
    fn summary_of(
        &self,
        pk: &str,
    ) -> impl Future<Output = Result<Option<Summary>, StoreError>> + Send;

    /// Up to `limit` messages of the conversation at `pk` in `order`, after the sort key
    /// `after` (the previous page's `next_after`), strongly consistent.
    fn list_messages(
        &self,
        pk: &str,
        order: Order,
        limit: u32,
        after: Option<&str>,
        include_raw: bool,
    ) -> impl Future<Output = Result<MessagePage, StoreError>> + Send;

    /// Every conversation of `customer`, on any provider (at most
    /// [`CUSTOMER_CONVERSATIONS_CAP`]), newest activity first.
    fn customers(
        &self,
        customer: &Customer,
    ) -> impl Future<Output = Result<Vec<Summary>, StoreError>> + Send;
}

impl ConversationReader for DynamoDbStore {
    async fn list_conversations(
        &self,
        filters: &Filters,
        limit: u32,
        before: Option<&str>,
    ) -> Result<ConversationPage, StoreError> {
        let filter = ListFilter::of(filters);
        let queries =
            activity_shards().map(|shard| self.query_shard(shard, &filter, limit, before));
        let mut shards = Vec::with_capacity(usize::from(super::keys::ACTIVITY_SHARDS));
        for shard in futures_util::future::join_all(queries).await {
            shards.push(shard?);
        }
        let page = merge_shards(shards, limit as usize);
        let keys: Vec<String> = page.entries.iter().map(|(_, pk)| pk.clone()).collect();
        let mut found: HashMap<String, SummaryItem> = self
            .summaries(&keys)
            .await?
            .into_iter()
            .map(|item| (item.pk.clone(), item))
            .collect();
        // A summary whose activity moved since the index said is left out: it moved up, and the
        // list shows it at the top when read again.
        let now = now_epoch();
        let summaries = page
            .entries
            .iter()
            .filter_map(|(activity_key, pk)| {
                found
                    .remove(pk)
                    .filter(|item| item.activity_key == *activity_key)
            })
            .filter(|item| live(item.state.expires_at, now))
            .map(|item| item.state.summary)
            .collect();
        Ok(ConversationPage {
            summaries,
            next_before: page.next_before,
        })
    }

    async fn summary_of(&self, pk: &str) -> Result<Option<Summary>, StoreError> {
        let output = self
            .client()
            .get_item()
            .table_name(self.table())
            .set_key(Some(item_key(pk, SUMMARY_SORT_KEY)))
            .send()
            .await
            .map_err(store_error)?;
        if let Some(item) = output.item {
            let item = SummaryItem::from_item(item)?;
            if live(item.state.expires_at, now_epoch()) {
                return Ok(Some(item.state.summary));
            }
            // Expired with its latest message: whatever is left (a message the projector has
            // not folded yet) says, as for a conversation without one.
        }
        // Not made yet (the projector runs a second or so behind): the newest message says.
        let newest = self.query_messages(pk, Order::Desc, 1, None, false).await?;
        let Some(item) = newest.items.into_iter().next() else {
            return Ok(None);
        };
        let image: MessageImage = serde_dynamo::from_item(item)
            .map_err(|e| StoreError::Unavailable(format!("unreadable message item: {e}")))?;
        Ok(merge(None, &[&image]).map(|state| state.summary))
    }

    async fn list_messages(
        &self,
        pk: &str,
        order: Order,
        limit: u32,
        after: Option<&str>,
        include_raw: bool,
    ) -> Result<MessagePage, StoreError> {
        // One more than asked for tells whether there is a next page, so that the last page
        // says it is the last (no empty page after it).
        let read = self
            .query_messages(pk, order, limit + 1, after, include_raw)
            .await?;
        let mut messages = read
            .items
            .into_iter()
            .map(|item| {
                let sk = string(&item, "sk").unwrap_or_default();
                message_view(item, include_raw).map(|message| StoredMessage { sk, message })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let next_after = if messages.len() > limit as usize {
            messages.truncate(limit as usize);
            messages.last().map(|m| m.sk.clone())
        } else {
            // Cut short by DynamoDB's 1 MB a call, or by expired items the filter dropped: go
            // on from where it stopped.
            read.last_sk
        };
        Ok(MessagePage {
            messages,
            next_after,
        })
    }

    async fn customers(&self, customer: &Customer) -> Result<Vec<Summary>, StoreError> {
        let (index, attribute, key) = match customer {
            Customer::Phone(digits) => (BY_PHONE_INDEX, "customer_phone", digits),
            Customer::Email(address) => (BY_EMAIL_INDEX, "customer_email", address),
        };
        let output = self
            .client()
            .query()
            .table_name(self.table())
            .index_name(index)
            .key_condition_expression("#key = :key")
            .expression_attribute_names("#key", attribute)
            .expression_attribute_values(":key", AttributeValue::S(key.clone()))
            .limit(CUSTOMER_CONVERSATIONS_CAP)
            .send()
            .await
            .map_err(store_error)?;
        let keys: Vec<String> = output
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|item| string(item, "pk"))
            .collect();
        let now = now_epoch();
        let mut found = self.summaries(&keys).await?;
        found.retain(|item| live(item.state.expires_at, now));
        found.sort_by(|a, b| b.activity_key.cmp(&a.activity_key));
        Ok(found.into_iter().map(|item| item.state.summary).collect())
    }
}

/// Now, in epoch seconds, as the TTL counts.
fn now_epoch() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Whether an item with this TTL is still to be shown at `now`: no TTL is kept for ever; one
/// at or before now is expired, whether or not DynamoDB has got round to deleting it.
fn live(expires_at: Option<i64>, now: i64) -> bool {
    expires_at.is_none_or(|at| at > now)
}

/// A Query's answer: the items, and the sort key of the last one evaluated when it stopped
/// short.
struct Read {
    items: Vec<Item>,
    last_sk: Option<String>,
}

/// The list's filters as a FilterExpression over the attributes `by_activity` projects.
struct ListFilter {
    expression: Option<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl ListFilter {
    fn of(filters: &Filters) -> Self {
        let mut filter = ListFilter {
            expression: None,
            names: HashMap::new(),
            values: HashMap::new(),
        };
        let mut terms = Vec::new();
        let mut term = |attribute: &str, value: AttributeValue| {
            terms.push(format!("#{attribute} = :{attribute}"));
            filter
                .names
                .insert(format!("#{attribute}"), attribute.to_string());
            filter.values.insert(format!(":{attribute}"), value);
        };
        if let Some(provider) = &filters.provider {
            term("provider", AttributeValue::S(provider.clone()));
        }
        if let Some(account) = &filters.account_id {
            term("account_id", AttributeValue::S(account.clone()));
        }
        if let Some(channel) = &filters.channel {
            term("channel", AttributeValue::S(channel.clone()));
        }
        if let Some(awaiting) = filters.awaiting_reply {
            term("awaiting_reply", AttributeValue::Bool(awaiting));
        }
        if !terms.is_empty() {
            filter.expression = Some(terms.join(" AND "));
        }
        filter
    }
}

impl DynamoDbStore {
    /// One `by_activity` shard, newest first below `before`, evaluating at most `limit`
    /// entries (the filter applies to those).
    async fn query_shard(
        &self,
        shard: String,
        filter: &ListFilter,
        limit: u32,
        before: Option<&str>,
    ) -> Result<ShardPage<String>, StoreError> {
        let mut query = self
            .client()
            .query()
            .table_name(self.table())
            .index_name(BY_ACTIVITY_INDEX)
            .scan_index_forward(false)
            .limit(limit as i32)
            .expression_attribute_values(":shard", AttributeValue::S(shard))
            .set_filter_expression(filter.expression.clone());
        query = match before {
            Some(before) => query
                .key_condition_expression("activity_shard = :shard AND activity_key < :before")
                .expression_attribute_values(":before", AttributeValue::S(before.to_string())),
            None => query.key_condition_expression("activity_shard = :shard"),
        };
        for (name, attribute) in &filter.names {
            query = query.expression_attribute_names(name, attribute);
        }
        for (name, value) in &filter.values {
            query = query.expression_attribute_values(name, value.clone());
        }
        let output = query.send().await.map_err(store_error)?;
        let entries = output
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|item| Some((string(item, "activity_key")?, string(item, "pk")?)))
            .collect();
        Ok(ShardPage {
            entries,
            last_evaluated: output
                .last_evaluated_key
                .as_ref()
                .and_then(|key| string(key, "activity_key")),
        })
    }

    /// The summary items at `pks` (at most 100), eventually consistent, in no order; missing
    /// ones are left out.
    async fn summaries(&self, pks: &[String]) -> Result<Vec<SummaryItem>, StoreError> {
        let mut found = Vec::with_capacity(pks.len());
        if pks.is_empty() {
            return Ok(found);
        }
        let keys: Vec<Item> = pks
            .iter()
            .map(|pk| item_key(pk, SUMMARY_SORT_KEY))
            .collect();
        let mut request = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .build()
                .expect("keys are set"),
        );
        for attempt in 0..BATCH_GET_ATTEMPTS {
            let Some(asked) = request.take() else {
                break;
            };
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(25 << attempt)).await;
            }
            let output = self
                .client()
                .batch_get_item()
                .request_items(self.table(), asked)
                .send()
                .await
                .map_err(store_error)?;
            for item in output
                .responses
                .and_then(|mut r| r.remove(self.table()))
                .unwrap_or_default()
            {
                found.push(SummaryItem::from_item(item)?);
            }
            request = output
                .unprocessed_keys
                .and_then(|mut u| u.remove(self.table()))
                .filter(|k| !k.keys().is_empty());
        }
        if request.is_some() {
            return Err(StoreError::Unavailable(
                "BatchGetItem kept leaving summaries unprocessed".into(),
            ));
        }
        Ok(found)
    }

    /// Query the `MSG#` items of `pk` in `order`, `limit` at most, after the sort key `after`;
    /// only the message's attributes (and `raw` when asked for).
    async fn query_messages(
        &self,
        pk: &str,
        order: Order,
        limit: u32,
        after: Option<&str>,
        include_raw: bool,
    ) -> Result<Read, StoreError> {
        let mut query = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk AND begins_with(sk, :msg)")
            .expression_attribute_values(":pk", AttributeValue::S(pk.to_string()))
            .expression_attribute_values(":msg", AttributeValue::S(MESSAGE_PREFIX.to_string()))
            .consistent_read(true)
            .scan_index_forward(order == Order::Asc)
            .limit(limit as i32)
            .set_exclusive_start_key(after.map(|sk| item_key(pk, sk)))
            // Applied after the `limit` items are read: an expired one makes the page shorter,
            // and LastEvaluatedKey still says where the next one starts.
            .filter_expression("attribute_not_exists(#ttl) OR #ttl > :now")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":now", AttributeValue::N(now_epoch().to_string()));
        // The keys and the message's attributes, by name (many are DynamoDB reserved words).
        let mut projected = vec!["pk", "sk"];
        projected.extend_from_slice(MESSAGE_ATTRIBUTES);
        if include_raw {
            projected.push("raw");
        }
        let mut expression = Vec::with_capacity(projected.len());
        for (n, attribute) in projected.iter().enumerate() {
            expression.push(format!("#a{n}"));
            query = query.expression_attribute_names(format!("#a{n}"), *attribute);
        }
        let output = query
            .projection_expression(expression.join(", "))
            .send()
            .await
            .map_err(store_error)?;
        Ok(Read {
            items: output.items.unwrap_or_default(),
            last_sk: output
                .last_evaluated_key
                .as_ref()
                .and_then(|key| string(key, "sk")),
        })
    }
}

/// A message item as the read API shows it: the normalized message's attributes
/// ([`MESSAGE_ATTRIBUTES`]) as plain JSON — numbers as numbers, maps as objects, lists as
/// arrays — and, with `include_raw`, `raw` as the text of the first delivery's body.
pub fn message_view(mut item: Item, include_raw: bool) -> Result<Map<String, Value>, StoreError> {
    let raw = item.remove("raw");
    let mut shown = Item::with_capacity(MESSAGE_ATTRIBUTES.len());
    for attribute in MESSAGE_ATTRIBUTES {
        if let Some(value) = item.remove(*attribute) {
            shown.insert((*attribute).to_string(), value);
        }
    }
    let mut message: Map<String, Value> = serde_dynamo::from_item(shown)
        .map_err(|e| StoreError::Unavailable(format!("unreadable message item: {e}")))?;
    if include_raw {
        if let Some(raw) = raw {
            let body = super::raw::body_of(&raw)
                .map_err(|e| StoreError::Unavailable(format!("unreadable raw: {e}")))?;
            message.insert(
                "raw".into(),
                Value::String(String::from_utf8_lossy(&body).into_owned()),
            );
        }
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message with every kind of attribute: strings, numbers (whole and not), booleans,
    /// maps, lists of maps, an attachment's copy.
    fn full_message() -> crate::message::Message {
        use crate::message::*;
        use crate::providers::ProviderId;
        let mut m = Message::new(
            ProviderId::Callbell,
            "chat-9".into(),
            "u1".into(),
            chrono::DateTime::from_timestamp(1_714_557_600, 250_000_000).unwrap(),
            Sender {
                role: Role::Customer,
                id: Some("33612345678".into()),
                name: Some("Jane".into()),
            },
            Direction::Inbound,
        );
        m.kind = Kind::Video;
        m.channel = Some("whatsapp".into());
        m.text = Some("look \u{1f600}".into());
        let mut video = Attachment::new(AttachmentKind::Video, "https://cdn/v.mp4".into());
        video.width = Some(640);
        video.duration_s = Some(12.5);
        video.size_bytes = Some(1_048_576);
        video.stored = Some(StoredMedia::Copy {
            bucket: "media".into(),
            key: "media/callbell/chat-9/v".into(),
            sha256: "ab".repeat(32),
            size_bytes: 1_048_576,
            content_type: "video/mp4".into(),
            stored_at: "2024-05-01T10:00:01.000Z".into(),
        });
        m.attachments = vec![video];
        m.location = Some(Location {
            latitude: 48.8566,
            longitude: -2.5,
        });
        m.contact.phone = Some("+33 6 12 34 56 78".into());
        m.visible = Some(true);
        m.forwarded = Some(false);
        m.interactive.buttons = vec!["Yes".into(), "No".into()];
        m.contact_cards = vec![ContactCard {
            name: Some("Bob".into()),
            phones: vec![Phone {
                number: "+1 555".into(),
                kind: Some("work".into()),
            }],
        }];
        m.received_at = "2024-05-01T10:00:00.300Z".into();
        m.raw = r#"{"event":"message_created"}"#.into();
        m.order_key = OrderKey::time(&m.created_at, &m.message_id);
        m
    }

    #[test]
    fn a_message_reads_back_as_exactly_its_normalized_attributes() {
        let message = full_message();
        let mut item = crate::storage::message_item(
            &message,
            &crate::storage::Fingerprint::of(message.raw.as_bytes()),
        );
        item.insert("content_sha256".into(), AttributeValue::S("cd".repeat(32)));
        item.insert("expires_at".into(), AttributeValue::N("1900000000".into()));
        item.insert("body_sha256".into(), AttributeValue::S("ef".repeat(32)));
        let mut expected = serde_json::to_value(&message).unwrap();
        let expected = expected.as_object_mut().unwrap();
        let raw = expected.remove("raw").unwrap();
        expected.insert("body_sha256".into(), Value::String("ef".repeat(32)));
        let shown = message_view(item.clone(), false).unwrap();
        assert_eq!(&shown, expected);
        assert_eq!(shown["attachments"][0]["width"], 640);
        assert_eq!(shown["attachments"][0]["duration_s"], 12.5);
        assert_eq!(shown["location"]["longitude"], -2.5);
        for internal in ["pk", "sk", "raw", "content_sha256", "expires_at"] {
            assert!(!shown.contains_key(internal), "{internal}");
        }
        let with_raw = message_view(item.clone(), true).unwrap();
        assert_eq!(with_raw["raw"], raw);
        // A schema-3 item: raw gzip-compressed, read back as the same text.
        let body = raw.as_str().unwrap().as_bytes();
        item.insert("raw".into(), crate::storage::raw::attribute(body));
        assert_eq!(message_view(item, true).unwrap()["raw"], raw);
    }

    #[test]
    fn list_filters_are_one_expression_over_the_projected_attributes() {
        let none = ListFilter::of(&Filters::default());
        assert_eq!(none.expression, None);
        let all = ListFilter::of(&Filters {
            provider: Some("partoo".into()),
            account_id: Some("7".into()),
            channel: Some("whatsapp".into()),
            awaiting_reply: Some(true),
        });
        assert_eq!(
            all.expression.as_deref(),
            Some(
                "#provider = :provider AND #account_id = :account_id AND #channel = :channel \
                 AND #awaiting_reply = :awaiting_reply"
            )
        );
        for name in all.names.values() {
            assert!(
                crate::storage::table::ACTIVITY_PROJECTION.contains(&name.as_str()),
                "{name} is not on the index"
            );
        }
        assert_eq!(all.values[":awaiting_reply"], AttributeValue::Bool(true));
    }
}
