//! Storage behind small traits: write a message exactly once, apply an update, keep a
//! quarantined body; fold messages into conversation summaries; read conversations, messages
//! and customers back ([`ConversationReader`], the read side). [`DynamoDbStore`]
//! is the real one; with the `testkit` feature, [`MemoryStore`] keeps the message rules in memory
//! for unit tests of the handler. [`keys`] is the table's key layout, [`table`] its definition,
//! [`stream`] the records of its stream as Lambda hands them to the media function and the
//! projector.

mod client;
mod dynamodb;
pub mod keys;
#[cfg(any(test, feature = "testkit"))]
mod memory;
mod reader;
pub mod stream;
mod summary;
pub mod table;

use std::collections::HashMap;
use std::future::Future;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;

pub use dynamodb::DynamoDbStore;
#[cfg(any(test, feature = "testkit"))]
pub use memory::MemoryStore;
pub use reader::{
    message_view, raw_body, ConversationPage, ConversationReader, MessagePage, StoredMessage,
    CUSTOMER_CONVERSATIONS_CAP, MESSAGE_ATTRIBUTES,
};
pub use summary::{image_projection, Folded, Projected, SummaryItem, SUMMARY_SCHEMA_VERSION};

use crate::error::StoreError;
use crate::message::Message;
use crate::providers::ProviderId;
use crate::webhook::{StatusOrder, Update};
use keys::{quarantine_key, quarantine_sort_key, MessageKeys};

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// What happened to a message we tried to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inserted {
    Stored,
    /// Its id item already exists. `same_content` is false when the stored first delivery says
    /// something else under the same id (a conflict, not a redelivery).
    Duplicate {
        same_content: bool,
    },
    /// Another message already holds this order key (a different id with the same TikTok index).
    OrderKeyTaken,
}

/// What happened to an update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Updated {
    Updated,
    /// Found, but nothing to change (a stale or repeated status).
    Unchanged,
    NotFound,
}

/// An authentic body that could not be a message, kept for a person to look at.
#[derive(Clone, Debug)]
pub struct Quarantined {
    pub provider: ProviderId,
    pub received_at: String,
    pub body_sha256: String,
    pub raw: Vec<u8>,
    pub error: String,
}

/// What identifies a delivery's bytes and a message's content, kept in its id item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    /// SHA-256 of the exact body, hex (the id item's `body_sha256`).
    pub body_sha256: String,
    /// SHA-256 of the normalized message without delivery details (envelope ids, signatures,
    /// receipt times): equal for every redelivery of one message, whatever its envelope.
    pub content_sha256: String,
}

pub trait MessageStore: Send + Sync {
    /// Writes the message item and its id item together, only if the id item is new.
    fn insert(
        &self,
        message: &Message,
        fingerprint: &Fingerprint,
    ) -> impl Future<Output = Result<Inserted, StoreError>> + Send;
    /// Applies an update to the stored message it names, never moving its status backwards
    /// in `order`.
    fn update(
        &self,
        update: &Update,
        order: &StatusOrder,
        now: &str,
    ) -> impl Future<Output = Result<Updated, StoreError>> + Send;
    fn quarantine(&self, item: &Quarantined)
        -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A shared store is a store (tests keep a handle on the one their handler writes to).
impl<S: MessageStore> MessageStore for std::sync::Arc<S> {
    fn insert(
        &self,
        message: &Message,
        fingerprint: &Fingerprint,
    ) -> impl Future<Output = Result<Inserted, StoreError>> + Send {
        (**self).insert(message, fingerprint)
    }
    fn update(
        &self,
        update: &Update,
        order: &StatusOrder,
        now: &str,
    ) -> impl Future<Output = Result<Updated, StoreError>> + Send {
        (**self).update(update, order, now)
    }
    fn quarantine(
        &self,
        item: &Quarantined,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).quarantine(item)
    }
}

/// The message item: the normalized message's attributes and its keys.
pub fn message_item(message: &Message) -> Item {
    let keys = MessageKeys::of(message);
    let mut item: Item =
        serde_dynamo::to_item(message).expect("a Message always serializes to a map");
    item.insert("pk".into(), AttributeValue::S(keys.pk));
    item.insert("sk".into(), AttributeValue::S(keys.sk));
    item
}

/// The id item: where the message item is, and the fingerprint of its first delivery.
pub(crate) fn id_item(message: &Message, fingerprint: &Fingerprint) -> Item {
    let keys = MessageKeys::of(message);
    HashMap::from([
        ("pk".to_string(), AttributeValue::S(keys.pk)),
        ("sk".to_string(), AttributeValue::S(keys.id_sk)),
        ("message_sk".to_string(), AttributeValue::S(keys.sk)),
        (
            "body_sha256".to_string(),
            AttributeValue::S(fingerprint.body_sha256.clone()),
        ),
        (
            "content_sha256".to_string(),
            AttributeValue::S(fingerprint.content_sha256.clone()),
        ),
    ])
}

pub(crate) fn quarantine_item(q: &Quarantined) -> Item {
    HashMap::from([
        (
            "pk".to_string(),
            AttributeValue::S(quarantine_key(q.provider)),
        ),
        (
            "sk".to_string(),
            AttributeValue::S(quarantine_sort_key(&q.received_at, &q.body_sha256)),
        ),
        (
            "raw".to_string(),
            AttributeValue::B(Blob::new(q.raw.clone())),
        ),
        ("error".to_string(), AttributeValue::S(q.error.clone())),
        (
            "received_at".to_string(),
            AttributeValue::S(q.received_at.clone()),
        ),
    ])
}

/// The key of the item at `pk`, `sk` (for GetItem, UpdateItem, DeleteItem).
pub(crate) fn item_key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([
        ("pk".to_string(), AttributeValue::S(pk.into())),
        ("sk".to_string(), AttributeValue::S(sk.into())),
    ])
}

/// A strongly consistent GetItem of the item at `pk`, `sk` in `table`, ready to send.
pub(crate) fn consistent_get(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: &str,
    sk: &str,
) -> aws_sdk_dynamodb::operation::get_item::builders::GetItemFluentBuilder {
    client
        .get_item()
        .table_name(table)
        .set_key(Some(item_key(pk, sk)))
        .consistent_read(true)
}

/// A string attribute of an item.
pub(crate) fn string(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

/// What an update needs to know of the stored message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StoredState {
    pub status: Option<String>,
    pub deleted: bool,
}

impl StoredState {
    pub fn of(item: &Item) -> Self {
        StoredState {
            status: string(item, "status"),
            deleted: matches!(item.get("deleted"), Some(AttributeValue::Bool(true))),
        }
    }
}
