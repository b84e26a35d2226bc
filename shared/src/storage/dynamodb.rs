//! The real store: one DynamoDB table, laid out as [`super::keys`] says.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;

use super::keys::{conversation_key, id_sort_key, message_sort_key, MessageKeys};
use super::{
    consistent_get, id_item, item_key, judge, message_item, quarantine_item, string, Fingerprint,
    FirstDelivery, Inserted, Item, MessageStore, Met, Quarantined, StoredState, Updated,
};
use super::{expire, table::TTL_ATTRIBUTE};
use crate::config::Retention;
use crate::error::StoreError;
use crate::message::Message;
use crate::webhook::{Changes, StatusOrder, Update};

/// The key read by [`DynamoDbStore::warm_up`]: no provider's partition key looks like it.
const WARM_UP_KEY: &str = "ingest#warm-up";

/// How often an update is tried when the message changes between reading and writing it.
const UPDATE_ATTEMPTS: u32 = 3;

#[derive(Clone, Debug)]
pub struct DynamoDbStore {
    client: Client,
    table: String,
    /// Reads only, answering what a write would have done (`ingest-dev replay --dry-run`).
    read_only: bool,
    /// `RETENTION_DAYS`: the TTL put on every item this store writes for a message. Kept
    /// here, where the items are made, so that the webhook path, the spool's drain and a
    /// replay, which all write through a store, cannot forget it.
    retention: Option<Retention>,
}

/// Whether an update's conditional write went through.
enum Write {
    Applied,
    /// The message changed since it was read.
    Raced,
}

impl DynamoDbStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoDbStore {
            client,
            table: table.into(),
            read_only: false,
            retention: None,
        }
    }

    /// The same store, putting the TTL of `retention` on the items it writes for a message
    /// (`expires_at` = the message's `received_at` plus the days); `None` writes none.
    pub fn with_retention(mut self, retention: Option<Retention>) -> Self {
        self.retention = retention;
        self
    }

    /// The same store, reading only: an insert answers what it would find (stored, a duplicate,
    /// a taken order key), an update what it would change, a quarantine write succeeds without
    /// writing. For dry runs; never in a function.
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    /// Whether this store only reads (see [`DynamoDbStore::read_only`]).
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// The store for a function: the client, readied during init when `warm_up` says so
    /// (`DYNAMODB_WARM_UP`: see [`DynamoDbStore::warm_up`] and
    /// [`crate::config::warm_up_enabled`]).
    pub async fn for_function(client: Client, table: impl Into<String>, warm_up: bool) -> Self {
        let store = DynamoDbStore::new(client, table);
        if warm_up {
            store.warm_up_boxed().await;
        }
        store
    }

    /// [`DynamoDbStore::warm_up`] behind a box and a call that is never inlined, so that the
    /// SDK call's future is not laid out inside a function's `main` (see [`crate::lambda`]).
    #[inline(never)]
    fn warm_up_boxed(
        &self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(self.warm_up())
    }

    /// Readies the client before the first message: one eventually consistent GetItem of a key
    /// no message has resolves the credentials and the endpoint, builds the SDK's lazily made
    /// parts and opens the connection (in AWS, the TLS handshake), all of which the first
    /// message would otherwise wait for. Failure is only logged: the message that needs the
    /// table reports it properly. One attempt, no retries: when DynamoDB is out, a cold start
    /// pays at most one attempt's timeout for it.
    pub async fn warm_up(&self) {
        let started = std::time::Instant::now();
        let result = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(item_key(WARM_UP_KEY, WARM_UP_KEY)))
            .customize()
            .config_override(
                aws_sdk_dynamodb::Config::builder()
                    .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled()),
            )
            .send()
            .await;
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        match result {
            Ok(_) => tracing::debug!(elapsed_ms, "DynamoDB client ready"),
            Err(error) => tracing::warn!(
                elapsed_ms,
                error = %aws_sdk_dynamodb::error::DisplayErrorContext(&error),
                "DynamoDB warm-up failed; the first message will connect"
            ),
        }
    }

    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        self.read(pk, sk, true).await
    }

    /// GetItem; `consistent` false for an eventually consistent read (half the read units).
    async fn read(&self, pk: &str, sk: &str, consistent: bool) -> Result<Option<Item>, StoreError> {
        let output = consistent_get(&self.client, &self.table, pk, sk)
            .consistent_read(consistent)
            .send()
            .await
            .map_err(store_error)?;
        Ok(output.item)
    }

    /// Puts `item` only if nothing holds its key: `None` when it was written, else the item
    /// that holds the key (returned by the failed condition itself, no second read), and
    /// whether the put took more than one attempt.
    async fn put_new(&self, item: Item) -> Result<(Option<Item>, bool), StoreError> {
        let attempts = Arc::new(AtomicU32::new(0));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .customize()
            .interceptor(CountAttempts(Arc::clone(&attempts)))
            .send()
            .await;
        let retried = attempts.load(Ordering::Relaxed) > 1;
        match result {
            Ok(_) => Ok((None, retried)),
            Err(SdkError::ServiceError(e)) => match e.err() {
                PutItemError::ConditionalCheckFailedException(failed) => match failed.item() {
                    Some(existing) => Ok((Some(existing.clone()), retried)),
                    None => Err(StoreError::Unavailable(
                        "the key is taken but the table did not say by what".into(),
                    )),
                },
                _ => Err(store_error(SdkError::ServiceError(e))),
            },
            Err(e) => Err(store_error(e)),
        }
    }

    /// Puts a message's id item (a plain put: writing it twice writes the same).
    async fn put_id_item(&self, item: Item) -> Result<(), StoreError> {
        if self.read_only {
            return Ok(());
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| match store_error(e) {
                // The message item is stored: the provider's redelivery (or the spool's drain)
                // finds it a duplicate and puts the id item back.
                StoreError::Unavailable(why) => {
                    StoreError::Unavailable(format!("message stored, its id item not yet: {why}"))
                }
                other => other,
            })?;
        Ok(())
    }

    /// Settles a new message whose key `existing` holds: a taken order key, this very write,
    /// or a duplicate — of which the id item, when the message needs one, is checked with an
    /// eventually consistent read and put back when missing (a crash between the two writes).
    async fn settle(
        &self,
        existing: &Item,
        message: &Message,
        fingerprint: &Fingerprint,
        with_id_item: bool,
        retried: bool,
    ) -> Result<Inserted, StoreError> {
        let keys = MessageKeys::of(message);
        match judge(existing, message, fingerprint, retried) {
            Met::Another => Ok(Inserted::OrderKeyTaken),
            Met::OwnWrite => {
                if with_id_item {
                    let mut id = id_item(&keys.pk, &keys.id_sk, &keys.sk, fingerprint);
                    follow_expiry(&mut id, existing);
                    self.put_id_item(id).await?;
                }
                Ok(Inserted::Stored)
            }
            Met::Duplicate { stored, first } => {
                if with_id_item && self.read(&keys.pk, &keys.id_sk, false).await?.is_none() {
                    let mut id = id_item(&keys.pk, &keys.id_sk, &keys.sk, &stored);
                    // Put back with the stored message's TTL, not this delivery's: the two
                    // items go together.
                    follow_expiry(&mut id, existing);
                    self.put_id_item(id).await?;
                }
                Ok(Inserted::Duplicate { first })
            }
            // Its id item was written with it, in one transaction: nothing to repair.
            Met::DuplicateOfSchema2 {
                same_body: true, ..
            } => Ok(Inserted::Duplicate {
                first: FirstDelivery::Same,
            }),
            Met::DuplicateOfSchema2 {
                same_body: false,
                content_sha256,
            } => {
                let id = self.read(&keys.pk, &keys.id_sk, false).await?;
                let stored = id.and_then(|item| string(&item, "content_sha256"));
                Ok(Inserted::Duplicate {
                    first: if stored.as_deref() == Some(content_sha256.as_str()) {
                        FirstDelivery::Same
                    } else {
                        FirstDelivery::Different
                    },
                })
            }
        }
    }

    /// The sort key of the message an update names, through its id item.
    async fn message_sk_of(
        &self,
        pk: &str,
        message_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let id = self.get(pk, &id_sort_key(message_id)).await?;
        Ok(id.and_then(|item| string(&item, "message_sk")))
    }

    /// Writes `changes`, on condition that the status is still the one read (optimistic
    /// concurrency: a concurrent update makes this one read again).
    async fn write_changes(
        &self,
        pk: &str,
        message_sk: &str,
        seen: &StoredState,
        changes: &Changes,
        now: &str,
    ) -> Result<Write, StoreError> {
        let mut sets = vec!["updated_at = :now"];
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item_key(pk, message_sk)))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":now", AttributeValue::S(now.to_string()));
        if let Some(status) = &changes.status {
            sets.push("#status = :status");
            request =
                request.expression_attribute_values(":status", AttributeValue::S(status.clone()));
        }
        if changes.deleted {
            sets.push("deleted = :deleted");
            request = request.expression_attribute_values(":deleted", AttributeValue::Bool(true));
        }
        request = match &seen.status {
            Some(status) => request
                .condition_expression("#status = :seen")
                .expression_attribute_values(":seen", AttributeValue::S(status.clone())),
            None => request
                .condition_expression("attribute_exists(pk) AND attribute_not_exists(#status)"),
        };
        match request
            .update_expression(format!("SET {}", sets.join(", ")))
            .send()
            .await
        {
            Ok(_) => Ok(Write::Applied),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(Write::Raced)
            }
            Err(e) => Err(store_error(e)),
        }
    }
}

impl MessageStore for DynamoDbStore {
    async fn insert(
        &self,
        message: &Message,
        fingerprint: &Fingerprint,
        with_id_item: bool,
    ) -> Result<Inserted, StoreError> {
        let mut item = message_item(message, fingerprint);
        expire(&mut item, self.retention, &message.received_at);
        let expires_at = item.get(TTL_ATTRIBUTE).cloned();
        let (existing, retried) = if self.read_only {
            let keys = MessageKeys::of(message);
            (self.get(&keys.pk, &keys.sk).await?, false)
        } else {
            self.put_new(item).await?
        };
        match existing {
            Some(existing) => {
                self.settle(&existing, message, fingerprint, with_id_item, retried)
                    .await
            }
            None => {
                if with_id_item {
                    let keys = MessageKeys::of(message);
                    let mut id = id_item(&keys.pk, &keys.id_sk, &keys.sk, fingerprint);
                    id.extend(expires_at.map(|at| (TTL_ATTRIBUTE.to_string(), at)));
                    self.put_id_item(id).await?;
                }
                Ok(Inserted::Stored)
            }
        }
    }

    async fn update(
        &self,
        update: &Update,
        order: &StatusOrder,
        now: &str,
    ) -> Result<Updated, StoreError> {
        let pk = conversation_key(update.provider, &update.conversation_id);
        let message_sk = match &update.order_key {
            Some(order_key) => message_sort_key(order_key),
            None => match self.message_sk_of(&pk, &update.message_id).await? {
                Some(message_sk) => message_sk,
                None => return Ok(Updated::NotFound),
            },
        };
        for _ in 0..UPDATE_ATTEMPTS {
            let Some(current) = self.get(&pk, &message_sk).await? else {
                return Ok(Updated::NotFound);
            };
            if string(&current, "message_id").as_deref() != Some(update.message_id.as_str()) {
                return Ok(Updated::NotFound);
            }
            let seen = StoredState::of(&current);
            let changes = update.changes(order, seen.status.as_deref(), seen.deleted);
            if changes.is_empty() {
                return Ok(Updated::Unchanged);
            }
            if self.read_only {
                return Ok(Updated::Updated);
            }
            match self
                .write_changes(&pk, &message_sk, &seen, &changes, now)
                .await?
            {
                Write::Applied => return Ok(Updated::Updated),
                Write::Raced => continue,
            }
        }
        Err(StoreError::Unavailable(
            "the message kept changing while updating it".into(),
        ))
    }

    async fn quarantine(&self, item: &Quarantined) -> Result<(), StoreError> {
        if self.read_only {
            return Ok(());
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some({
                let mut quarantined = quarantine_item(item);
                expire(&mut quarantined, self.retention, &item.received_at);
                quarantined
            }))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }
}

/// Gives an id item its message item's TTL, when that has one: the id item points at the
/// message, and should go when it goes.
fn follow_expiry(id: &mut Item, message: &Item) {
    if let Some(at) = message.get(TTL_ATTRIBUTE) {
        id.insert(TTL_ATTRIBUTE.to_string(), at.clone());
    }
}

/// Counts the attempts of one call (the SDK retries on its own): a conditional put whose
/// earlier attempt may have landed meets its own item.
#[derive(Debug)]
struct CountAttempts(Arc<AtomicU32>);

impl aws_sdk_dynamodb::config::Intercept for CountAttempts {
    fn name(&self) -> &'static str {
        "CountAttempts"
    }

    fn read_before_attempt(
        &self,
        _context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// A failed call as a [`StoreError`]: the table refusing the item itself (a
/// ValidationException) is for good ([`StoreError::Refused`], with DynamoDB's message); anything
/// else may pass ([`StoreError::Unavailable`]).
pub(super) fn store_error<
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
>(
    error: SdkError<E, R>,
) -> StoreError {
    match &error {
        SdkError::ServiceError(service) if service.err().code() == Some("ValidationException") => {
            StoreError::Refused(service.err().message().unwrap_or("").to_string())
        }
        _ => StoreError::Unavailable(crate::aws::error_text(&error, "the table")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_warm_up_makes_one_attempt_where_a_message_would_retry() {
        use crate::storage::client::tests::{recording_client, Recorder};
        let http = Recorder::answering(500);
        let store = DynamoDbStore::new(
            recording_client(&http, crate::digest::sha256_hex),
            "messages",
        );
        store.warm_up().await;
        let sent = http.requests();
        assert_eq!(sent.len(), 1, "one attempt");
        let body = std::str::from_utf8(sent[0].body().bytes().unwrap()).unwrap();
        assert!(body.contains(WARM_UP_KEY), "{body}");
        // The same server error, met by a message's read, is retried.
        assert!(store.get("p", "s").await.is_err());
        assert!(http.requests().len() > 1, "a message's call retries");
    }
}
