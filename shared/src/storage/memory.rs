//! The same rules as [`super::DynamoDbStore`], in memory, for unit tests of the handler
//! (integration tests use DynamoDB Local). Only with the `testkit` feature: never in a function.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use aws_sdk_dynamodb::types::AttributeValue;

use super::keys::{conversation_key, id_sort_key, MessageKeys};
use super::{
    id_item, message_item, quarantine_item, string, Fingerprint, Inserted, Item, MessageStore,
    Quarantined, StoredState, Updated,
};
use crate::error::StoreError;
use crate::message::Message;
use crate::webhook::{StatusOrder, Update};

#[derive(Debug, Default)]
pub struct MemoryStore {
    items: Mutex<HashMap<(String, String), Item>>,
    /// When set, every call fails as an unreachable table would.
    pub unavailable: AtomicBool,
}

impl MemoryStore {
    pub fn new() -> Self {
        MemoryStore::default()
    }

    /// A copy of every item, keyed by (pk, sk).
    pub fn items(&self) -> HashMap<(String, String), Item> {
        self.items.lock().expect("not poisoned").clone()
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.unavailable.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable("memory store switched off".into()))
        } else {
            Ok(())
        }
    }
}

impl MessageStore for MemoryStore {
    async fn insert(
        &self,
        message: &Message,
        fingerprint: &Fingerprint,
    ) -> Result<Inserted, StoreError> {
        self.check()?;
        let mut items = self.items.lock().expect("not poisoned");
        let keys = MessageKeys::of(message);
        if let Some(existing) = items.get(&(keys.pk.clone(), keys.id_sk.clone())) {
            let same_content = string(existing, "content_sha256").as_deref()
                == Some(fingerprint.content_sha256.as_str());
            return Ok(Inserted::Duplicate { same_content });
        }
        if items.contains_key(&(keys.pk.clone(), keys.sk.clone())) {
            return Ok(Inserted::OrderKeyTaken);
        }
        items.insert((keys.pk.clone(), keys.sk), message_item(message));
        items.insert((keys.pk, keys.id_sk), id_item(message, fingerprint));
        Ok(Inserted::Stored)
    }

    async fn update(
        &self,
        update: &Update,
        order: &StatusOrder,
        now: &str,
    ) -> Result<Updated, StoreError> {
        self.check()?;
        let mut items = self.items.lock().expect("not poisoned");
        let pk = conversation_key(update.provider, &update.conversation_id);
        let Some(message_sk) = items
            .get(&(pk.clone(), id_sort_key(&update.message_id)))
            .and_then(|i| string(i, "message_sk"))
        else {
            return Ok(Updated::NotFound);
        };
        let Some(item) = items.get_mut(&(pk, message_sk)) else {
            return Ok(Updated::NotFound);
        };
        let seen = StoredState::of(item);
        let changes = update.changes(order, seen.status.as_deref(), seen.deleted);
        if changes.is_empty() {
            return Ok(Updated::Unchanged);
        }
        if let Some(status) = changes.status {
            item.insert("status".into(), AttributeValue::S(status));
        }
        if changes.deleted {
            item.insert("deleted".into(), AttributeValue::Bool(true));
        }
        item.insert("updated_at".into(), AttributeValue::S(now.to_string()));
        Ok(Updated::Updated)
    }

    async fn quarantine(&self, q: &Quarantined) -> Result<(), StoreError> {
        self.check()?;
        let item = quarantine_item(q);
        let key = (
            string(&item, "pk").unwrap_or_default(),
            string(&item, "sk").unwrap_or_default(),
        );
        self.items.lock().expect("not poisoned").insert(key, item);
        Ok(())
    }
}
