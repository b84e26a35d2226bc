//! The same rules as [`super::DynamoDbStore`], in memory, for unit tests of the handler
//! (integration tests use DynamoDB Local). Only with the `testkit` feature: never in a function.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use aws_sdk_dynamodb::types::AttributeValue;

use super::keys::{conversation_key, id_sort_key, message_sort_key, MessageKeys};
use super::{
    id_item, judge, message_item, quarantine_item, string, Fingerprint, FirstDelivery, Inserted,
    Item, MessageStore, Met, Quarantined, StoredState, Updated,
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
        with_id_item: bool,
    ) -> Result<Inserted, StoreError> {
        self.check()?;
        let mut items = self.items.lock().expect("not poisoned");
        let keys = MessageKeys::of(message);
        let id_key = (keys.pk.clone(), keys.id_sk.clone());
        let put_id = |items: &mut HashMap<(String, String), Item>, fingerprint: &Fingerprint| {
            if with_id_item {
                let id = id_item(&keys.pk, &keys.id_sk, &keys.sk, fingerprint);
                items.insert(id_key.clone(), id);
            }
        };
        let Some(existing) = items.get(&(keys.pk.clone(), keys.sk.clone())) else {
            items.insert(
                (keys.pk.clone(), keys.sk.clone()),
                message_item(message, fingerprint),
            );
            put_id(&mut items, fingerprint);
            return Ok(Inserted::Stored);
        };
        // (Nothing here is ever retried.)
        Ok(match judge(existing, message, fingerprint, false) {
            Met::Another => Inserted::OrderKeyTaken,
            Met::OwnWrite => Inserted::Stored,
            Met::Duplicate { stored, first } => {
                if !items.contains_key(&id_key) {
                    put_id(&mut items, &stored);
                }
                Inserted::Duplicate { first }
            }
            Met::DuplicateOfSchema2 {
                same_body,
                content_sha256,
            } => Inserted::Duplicate {
                first: if same_body
                    || items.get(&id_key).and_then(|i| string(i, "content_sha256"))
                        == Some(content_sha256)
                {
                    FirstDelivery::Same
                } else {
                    FirstDelivery::Different
                },
            },
        })
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
        let message_sk = match &update.order_key {
            Some(order_key) => message_sort_key(order_key),
            None => match items
                .get(&(pk.clone(), id_sort_key(&update.message_id)))
                .and_then(|i| string(i, "message_sk"))
            {
                Some(message_sk) => message_sk,
                None => return Ok(Updated::NotFound),
            },
        };
        let Some(item) = items
            .get_mut(&(pk, message_sk))
            .filter(|item| string(item, "message_id").as_deref() == Some(&update.message_id))
        else {
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
