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
pub mod raw;
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
    message_view, ConversationPage, ConversationReader, MessagePage, StoredMessage,
    CUSTOMER_CONVERSATIONS_CAP, MESSAGE_ATTRIBUTES,
};
pub use summary::{image_projection, Folded, Projected, SummaryItem, SUMMARY_SCHEMA_VERSION};

use crate::config::Retention;
use crate::error::StoreError;
use crate::message::Message;
use crate::providers::ProviderId;
use crate::webhook::{StatusOrder, Update};
use keys::{quarantine_key, quarantine_sort_key, MessageKeys};
use table::TTL_ATTRIBUTE;

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// What happened to a message we tried to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inserted {
    Stored,
    /// An item with its `message_id` already holds its key: an earlier delivery stored it.
    Duplicate {
        first: FirstDelivery,
    },
    /// Another message already holds this order key (a different id with the same TikTok index).
    OrderKeyTaken,
}

/// What the stored first delivery of a duplicate is, beside this one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FirstDelivery {
    /// The same body; or, for an item of schema 2, the same content by its id item's
    /// fingerprint.
    Same,
    /// Other content under the same id (an item of schema 2 whose id item's fingerprint
    /// differs): a conflict.
    Different,
    /// Another body, as the item keeps it (schema 3 keeps no fingerprint of content: 78 bytes
    /// on every item, a write unit for the items it pushed past a kilobyte). Only the caller,
    /// who can read the provider's bodies, tells a redelivery in a new envelope from a
    /// conflict, and only then is it worth the work.
    OtherBody(Vec<u8>),
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
    /// The named account whose secret verified the body (attribute `account_id`), so that a
    /// replay stores it as the webhook would have.
    pub account: Option<String>,
}

/// What identifies a delivery's bytes, kept on its message item and its id item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    /// SHA-256 of the exact body, hex (`body_sha256`).
    pub body_sha256: String,
}

impl Fingerprint {
    /// The fingerprint of a delivery of `body`.
    pub fn of(body: &[u8]) -> Self {
        Fingerprint {
            body_sha256: crate::digest::sha256_hex(body),
        }
    }
}

/// The fingerprint of what `message` says, for telling a redelivery from a conflict (the same
/// id with other content): SHA-256 of its JSON without the delivery's details (`raw`,
/// `received_at`), hex, as the code of schema `version` computed it — the fingerprint covers
/// `schema_version`; items written under schema 2 keep theirs in their id item
/// (`content_sha256`), later ones none (their body is read again instead).
pub(crate) fn content_sha256(message: &Message, version: u8) -> String {
    let blank = message.raw.is_empty() && message.received_at.is_empty();
    if blank && message.schema_version == version {
        return content_digest(message);
    }
    let mut content = message.clone();
    content.schema_version = version;
    content.raw.clear();
    content.received_at.clear();
    content_digest(&content)
}

fn content_digest(message: &Message) -> String {
    // Written whole, then hashed in one pass: serde_json writes a field in several small
    // pieces, and each piece fed to the hash on its own costs more than the copy.
    let mut content = Vec::with_capacity(1024);
    serde_json::to_writer(&mut content, message).expect("a Message always serializes");
    crate::digest::sha256_hex(&content)
}

pub trait MessageStore: Send + Sync {
    /// Writes the message item, only if nothing holds its key yet (docs/CONTRACT.md, "Writing
    /// less"): one conditional put decides between stored, a duplicate (the item there has the
    /// same `message_id`) and a taken order key (another `message_id`). With `with_id_item`
    /// (a message its provider's updates find by id alone), its id item is written after it,
    /// and put back by a duplicate that finds it missing: a failure between the two writes is
    /// an error, and the redelivery that follows repairs it.
    fn insert(
        &self,
        message: &Message,
        fingerprint: &Fingerprint,
        with_id_item: bool,
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
        with_id_item: bool,
    ) -> impl Future<Output = Result<Inserted, StoreError>> + Send {
        (**self).insert(message, fingerprint, with_id_item)
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

/// The message item: the normalized message's attributes and its keys; `raw`, the body,
/// gzip-compressed ([`raw`]), and the body's SHA-256.
pub fn message_item(message: &Message, fingerprint: &Fingerprint) -> Item {
    let keys = MessageKeys::of(message);
    let mut item: Item =
        serde_dynamo::to_item(message).expect("a Message always serializes to a map");
    item.insert("raw".into(), raw::attribute(message.raw.as_bytes()));
    item.insert(
        "body_sha256".into(),
        AttributeValue::S(fingerprint.body_sha256.clone()),
    );
    item.insert("pk".into(), AttributeValue::S(keys.pk));
    item.insert("sk".into(), AttributeValue::S(keys.sk));
    item
}

/// The id item of the message item at `message_sk`: where it is, and its body's SHA-256.
pub(crate) fn id_item(pk: &str, id_sk: &str, message_sk: &str, fingerprint: &Fingerprint) -> Item {
    HashMap::from([
        ("pk".to_string(), AttributeValue::S(pk.to_string())),
        ("sk".to_string(), AttributeValue::S(id_sk.to_string())),
        (
            "message_sk".to_string(),
            AttributeValue::S(message_sk.to_string()),
        ),
        (
            "body_sha256".to_string(),
            AttributeValue::S(fingerprint.body_sha256.clone()),
        ),
    ])
}

pub(crate) fn quarantine_item(q: &Quarantined) -> Item {
    let mut item = HashMap::from([
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
    ]);
    if let Some(account) = &q.account {
        item.insert(ACCOUNT_ATTRIBUTE.into(), AttributeValue::S(account.clone()));
    }
    item
}

/// Puts the table's TTL on `item`: `expires_at` (N, epoch seconds) = `received_at` plus the
/// retention's days, when there is a retention (`RETENTION_DAYS`); without one, the item is
/// left as it is and kept.
pub(crate) fn expire(item: &mut Item, retention: Option<Retention>, received_at: &str) {
    if let Some(at) = retention.and_then(|r| r.expires_at(received_at)) {
        item.insert(TTL_ATTRIBUTE.into(), AttributeValue::N(at.to_string()));
    }
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

/// The attribute of a quarantine item naming the account that verified its body.
pub const ACCOUNT_ATTRIBUTE: &str = "account_id";

/// A string attribute of an item.
pub(crate) fn string(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

/// What a new message met at its key, judged from the item there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Met {
    /// Another message holds the key (TikTok's index given twice).
    Another,
    /// This delivery's own write, landed by an attempt whose answer was lost (the SDK tried
    /// again): stored, not a duplicate.
    OwnWrite,
    /// The same message, stored before; the stored item's fingerprint (from which a missing id
    /// item is put back) and its first delivery beside this one.
    Duplicate {
        stored: Fingerprint,
        first: FirstDelivery,
    },
    /// The same message, stored before schema 3: the fingerprint to compare with its id
    /// item's `content_sha256` (ours as that schema computed it), unless its `raw` is this
    /// very body.
    DuplicateOfSchema2 {
        same_body: bool,
        content_sha256: String,
    },
}

/// Judges the item `existing` that holds `message`'s key. `retried`: the conditional put took
/// more than one attempt, so an earlier one may have landed.
pub(crate) fn judge(
    existing: &Item,
    message: &Message,
    fingerprint: &Fingerprint,
    retried: bool,
) -> Met {
    if string(existing, "message_id").as_deref() != Some(message.message_id.as_str()) {
        return Met::Another;
    }
    let Some(body_sha256) = string(existing, "body_sha256") else {
        let same_body = existing.get("raw").and_then(|v| v.as_s().ok()) == Some(&message.raw);
        let version = existing
            .get("schema_version")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .unwrap_or(2);
        return Met::DuplicateOfSchema2 {
            same_body,
            content_sha256: content_sha256(message, version),
        };
    };
    // One delivery is one receipt time: an item with this body received at this very
    // millisecond, met by a retried put, is that put's own first attempt.
    if retried
        && body_sha256 == fingerprint.body_sha256
        && string(existing, "received_at").as_deref() == Some(message.received_at.as_str())
    {
        return Met::OwnWrite;
    }
    let first = if body_sha256 == fingerprint.body_sha256 {
        FirstDelivery::Same
    } else {
        match existing.get("raw").map(raw::body_of) {
            Some(Ok(body)) => FirstDelivery::OtherBody(body),
            // A message item always has its raw; one that cannot be read is not the same.
            _ => FirstDelivery::Different,
        }
    };
    Met::Duplicate {
        stored: Fingerprint { body_sha256 },
        first,
    }
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
