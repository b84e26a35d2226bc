//! The real store: one DynamoDB table, laid out as [`super::keys`] says.

use std::time::Duration;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;

use super::keys::{conversation_key, id_sort_key, MessageKeys};
use super::{
    consistent_get, id_item, item_key, message_item, quarantine_item, string, Fingerprint,
    Inserted, Item, MessageStore, Quarantined, StoredState, Updated,
};
use crate::error::StoreError;
use crate::message::Message;
use crate::webhook::{Changes, StatusOrder, Update};

/// The key read by [`DynamoDbStore::warm_up`]: no provider's partition key looks like it.
const WARM_UP_KEY: &str = "ingest#warm-up";

/// How often a transaction cancelled by a concurrent one is tried.
const TRANSACTION_ATTEMPTS: u32 = 4;

/// How often an update is tried when the message changes between reading and writing it.
const UPDATE_ATTEMPTS: u32 = 3;

#[derive(Clone, Debug)]
pub struct DynamoDbStore {
    client: Client,
    table: String,
    /// Reads only, answering what a write would have done (`ingest-dev replay --dry-run`).
    read_only: bool,
}

/// Why DynamoDB cancelled a message's transaction, and what it means.
enum Cancelled {
    /// The answer is known: a duplicate, or the order key is someone else's.
    Settled(Inserted),
    /// A concurrent transaction on the same items: try again once the winner is visible.
    Conflict,
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
        }
    }

    /// The same store, reading only: an insert answers what it would find (stored, a duplicate,
    /// a taken order key), an update what it would change, a quarantine write succeeds without
    /// writing. For dry runs; never in a function.
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// What [`MessageStore::insert`] would answer, from reads alone.
    async fn predict_insert(
        &self,
        message: &Message,
        fingerprint: &Fingerprint,
    ) -> Result<Inserted, StoreError> {
        if let Some(stored) = self.stored_content_of(message).await? {
            return Ok(Inserted::Duplicate {
                same_content: stored == fingerprint.content_sha256,
            });
        }
        let keys = MessageKeys::of(message);
        Ok(match self.get(&keys.pk, &keys.sk).await? {
            Some(_) => Inserted::OrderKeyTaken,
            None => Inserted::Stored,
        })
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
        let output = consistent_get(&self.client, &self.table, pk, sk)
            .send()
            .await
            .map_err(store_error)?;
        Ok(output.item)
    }

    /// The content digest in a message's id item, if the item exists.
    async fn stored_content_of(&self, message: &Message) -> Result<Option<String>, StoreError> {
        let keys = MessageKeys::of(message);
        let item = self.get(&keys.pk, &keys.id_sk).await?;
        Ok(item.map(|i| string(&i, "content_sha256").unwrap_or_default()))
    }

    /// Puts the message item and its id item in one transaction, each only if new.
    async fn put_message_and_id(
        &self,
        message: &Message,
        fingerprint: &Fingerprint,
    ) -> Result<(), SdkError<TransactWriteItemsError>> {
        let put = |item: Item| {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .expect("table, item and condition are set");
            TransactWriteItem::builder().put(put).build()
        };
        self.client
            .transact_write_items()
            .client_request_token(request_token(&fingerprint.body_sha256))
            .transact_items(put(message_item(message)))
            .transact_items(put(id_item(message, fingerprint)))
            .send()
            .await
            .map(|_| ())
    }

    /// Reads a cancelled transaction's reasons: the id item existing makes a duplicate (of the
    /// same content or not), the message item existing alone means its order key is taken.
    async fn why_cancelled(
        &self,
        error: SdkError<TransactWriteItemsError>,
        message: &Message,
        fingerprint: &Fingerprint,
    ) -> Result<Cancelled, StoreError> {
        let reasons = match cancellation_reasons(&error) {
            Some(reasons) => reasons,
            None => return Err(store_error(error)),
        };
        let duplicate = |stored: Option<String>| {
            Cancelled::Settled(Inserted::Duplicate {
                same_content: stored.as_deref() == Some(fingerprint.content_sha256.as_str()),
            })
        };
        let code = |i: usize| reasons.get(i).and_then(|r| r.code()).unwrap_or("None");
        if code(1) == "ConditionalCheckFailed" {
            let stored = match reasons[1].item() {
                Some(item) => Some(string(item, "content_sha256").unwrap_or_default()),
                None => self.stored_content_of(message).await?,
            };
            return Ok(duplicate(stored));
        }
        if code(0) == "ConditionalCheckFailed" {
            return Ok(Cancelled::Settled(Inserted::OrderKeyTaken));
        }
        if !reasons
            .iter()
            .any(|r| r.code() == Some("TransactionConflict"))
        {
            return Err(store_error(error));
        }
        // The concurrent transaction may have been this message's own redelivery.
        match self.stored_content_of(message).await? {
            Some(stored) => Ok(duplicate(Some(stored))),
            None => Ok(Cancelled::Conflict),
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
    ) -> Result<Inserted, StoreError> {
        if self.read_only {
            return self.predict_insert(message, fingerprint).await;
        }
        // Deliveries of one message racing each other make DynamoDB cancel all but one
        // transaction with TransactionConflict: try again shortly, when the winner is visible.
        let mut attempt = 1;
        loop {
            let error = match self.put_message_and_id(message, fingerprint).await {
                Ok(()) => return Ok(Inserted::Stored),
                Err(error) => error,
            };
            match self.why_cancelled(error, message, fingerprint).await? {
                Cancelled::Settled(inserted) => return Ok(inserted),
                Cancelled::Conflict if attempt < TRANSACTION_ATTEMPTS => {
                    tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
                    attempt += 1;
                }
                Cancelled::Conflict => {
                    return Err(StoreError::Unavailable(
                        "concurrent deliveries kept cancelling the write".into(),
                    ))
                }
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
        let Some(message_sk) = self.message_sk_of(&pk, &update.message_id).await? else {
            return Ok(Updated::NotFound);
        };
        for _ in 0..UPDATE_ATTEMPTS {
            let Some(current) = self.get(&pk, &message_sk).await? else {
                return Ok(Updated::NotFound);
            };
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
            .set_item(Some(quarantine_item(item)))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }
}

/// The per-item reasons of a cancelled transaction, if that is what the error is.
fn cancellation_reasons(
    error: &SdkError<TransactWriteItemsError>,
) -> Option<Vec<CancellationReason>> {
    match error {
        SdkError::ServiceError(e) => match e.err() {
            TransactWriteItemsError::TransactionCanceledException(cancel) => {
                Some(cancel.cancellation_reasons().to_vec())
            }
            _ => None,
        },
        _ => None,
    }
}

/// A token unique to this call: the SDK reuses it when it retries the transaction, so a retry
/// of a write that did commit is not mistaken for a redelivery. A later redelivery gets another.
/// 36 hex digits (DynamoDB's limit): the body's hash, the time in nanoseconds and the process's
/// call count — two calls share one only if they carry the same body in the same nanosecond
/// with the same count, in two sandboxes (whose process ids are alike, so the id is left out).
fn request_token(body_sha256: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static CALLS: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let calls = CALLS.fetch_add(1, Ordering::Relaxed);
    let body = body_sha256.get(..12).unwrap_or(body_sha256);
    format!("{body:0>12}{nanos:016x}{calls:08x}")
}

/// A failed call as a [`StoreError`]: the table refusing the item itself (a
/// ValidationException) is for good ([`StoreError::Refused`], with DynamoDB's message); anything
/// else may pass ([`StoreError::Unavailable`]).
fn store_error<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
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

    #[test]
    fn request_tokens_fit_dynamodb_and_differ_from_call_to_call() {
        let body = "9b4f9b53ca413e02b929d2a94f1161150084c918915587a0459e24c4c1e04c28";
        let first = request_token(body);
        let second = request_token(body);
        assert_eq!(first.len(), 36, "{first}");
        assert!(first.starts_with("9b4f9b53ca41"), "{first}");
        assert_ne!(first, second);
        assert_eq!(request_token("").len(), 36);
    }
}
