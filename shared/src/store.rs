//! Storage behind a small trait: write a message exactly once, apply an update, keep a
//! quarantined body. [`DynamoDbStore`] is the real one (the table layout of the contract);
//! [`MemoryStore`] implements the same rules in memory for unit tests of the handler.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use sha2::Digest;

use crate::error::StoreError;
use crate::inbound::Update;
use crate::message::{conversation_key, id_sort_key, Message, Provider};

/// The key read by [`DynamoDbStore::warm_up`]: no provider's partition key looks like it.
const WARM_UP_KEY: &str = "ingest#warm-up";

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
    pub provider: Provider,
    pub received_at: String,
    pub body_sha256: String,
    pub raw: Vec<u8>,
    pub error: String,
}

/// What identifies a delivery's bytes and a message's content, kept in its id item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    /// SHA-256 of the exact body, hex (the contract's `body_sha256`).
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
    /// Applies an update to the stored message it names, never moving its status backwards.
    fn update(
        &self,
        update: &Update,
        now: &str,
    ) -> impl Future<Output = Result<Updated, StoreError>> + Send;
    fn quarantine(&self, item: &Quarantined)
        -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The item attributes of a message, with its keys.
pub fn message_item(message: &Message) -> HashMap<String, AttributeValue> {
    let mut item: HashMap<String, AttributeValue> =
        serde_dynamo::to_item(message).expect("a Message always serializes to a map");
    item.insert("pk".into(), AttributeValue::S(message.partition_key()));
    item.insert("sk".into(), AttributeValue::S(message.sort_key()));
    item
}

fn id_item(message: &Message, fingerprint: &Fingerprint) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_string(), AttributeValue::S(message.partition_key())),
        (
            "sk".to_string(),
            AttributeValue::S(id_sort_key(&message.message_id)),
        ),
        (
            "message_sk".to_string(),
            AttributeValue::S(message.sort_key()),
        ),
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

fn quarantine_item(q: &Quarantined) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (
            "pk".to_string(),
            AttributeValue::S(format!("QUARANTINE#{}", q.provider.as_str())),
        ),
        (
            "sk".to_string(),
            AttributeValue::S(format!("{}#{}", q.received_at, q.body_sha256)),
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

/// A DynamoDB client for the functions, with timeouts short enough that a slow table still gets
/// a 503 answered well inside a provider's 3 s.
///
/// It is configured from the environment Lambda gives every function (`AWS_REGION`, the
/// credentials in `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) plus the
/// SDK's standard `AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL` overrides, rather than through
/// aws-config's whole provider chain: profiles, SSO, STS web identity and IMDS are never used
/// in Lambda, and leaving them out takes their code out of the binary (docs/PERFORMANCE.md).
/// TLS is rustls on *ring*, for the same reason.
pub fn dynamodb_client() -> Client {
    use aws_config::environment::EnvironmentVariableCredentialsProvider;
    use aws_config::retry::RetryConfig;
    use aws_config::timeout::TimeoutConfig;
    use aws_sdk_dynamodb::config::{BehaviorVersion, Region};

    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let mut config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(
            env("AWS_REGION")
                .or_else(|| env("AWS_DEFAULT_REGION"))
                .map(Region::new),
        )
        .credentials_provider(EnvironmentVariableCredentialsProvider::new())
        .http_client(https_client())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(500))
                .operation_attempt_timeout(Duration::from_millis(700))
                .operation_timeout(Duration::from_millis(1500))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(3));
    if let Some(url) = env("AWS_ENDPOINT_URL_DYNAMODB").or_else(|| env("AWS_ENDPOINT_URL")) {
        config = config.endpoint_url(url);
    }
    Client::from_conf(config.build())
}

/// The SDK's hyper client over rustls with the *ring* crypto provider (the SDK's default HTTPS
/// client brings aws-lc, over a megabyte of code for the same handshake).
pub fn https_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// `DYNAMODB_WARM_UP`: whether a function readies its DynamoDB client during init. Off unless
/// `true`: measured, the warm-up's extra round trip costs a cold start more than the first
/// message saves (docs/PERFORMANCE.md). It pays where init is off the request path
/// (provisioned concurrency).
pub fn warm_up_enabled(value: Option<&str>) -> bool {
    matches!(
        value.map(|v| v.trim().to_ascii_lowercase()).as_deref(),
        Some("true" | "1" | "yes" | "on")
    )
}

/// The real store: one DynamoDB table as the contract lays it out.
#[derive(Clone, Debug)]
pub struct DynamoDbStore {
    client: Client,
    table: String,
}

impl DynamoDbStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoDbStore {
            client,
            table: table.into(),
        }
    }

    /// The store for a function: the client, readied during init when `DYNAMODB_WARM_UP` is
    /// `true` (see [`DynamoDbStore::warm_up`] and [`warm_up_enabled`]).
    pub async fn for_function(client: Client, table: impl Into<String>) -> Self {
        let store = DynamoDbStore::new(client, table);
        if warm_up_enabled(std::env::var("DYNAMODB_WARM_UP").ok().as_deref()) {
            store.warm_up().await;
        }
        store
    }

    /// Readies the client before the first message: one eventually consistent GetItem of a key
    /// no message has resolves the credentials and the endpoint, builds the SDK's lazily made
    /// parts and opens the connection (in AWS, the TLS handshake), all of which the first
    /// message would otherwise wait for. Failure is only logged: the message that needs the
    /// table reports it properly.
    pub async fn warm_up(&self) {
        let started = std::time::Instant::now();
        let result = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(WARM_UP_KEY.to_string()))
            .key("sk", AttributeValue::S(WARM_UP_KEY.to_string()))
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

    async fn get(
        &self,
        pk: &str,
        sk: &str,
    ) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.to_string()))
            .key("sk", AttributeValue::S(sk.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(output.item)
    }

    /// The content digest in a message's id item, if the item exists.
    async fn stored_content_of(&self, message: &Message) -> Result<Option<String>, StoreError> {
        let item = self
            .get(&message.partition_key(), &id_sort_key(&message.message_id))
            .await?;
        Ok(item.map(|i| string(&i, "content_sha256").unwrap_or_default()))
    }
}

/// How often a transaction cancelled by a concurrent one is tried.
const TRANSACTION_ATTEMPTS: u32 = 4;

/// A token unique to this call: the SDK reuses it when it retries the transaction, so a retry
/// of a write that did commit is not mistaken for a redelivery. A later redelivery gets another.
fn request_token(body_sha256: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let seed = format!(
        "{body_sha256}/{nanos}/{}/{}",
        std::process::id(),
        CALLS.fetch_add(1, Ordering::Relaxed)
    );
    hex::encode(sha2::Sha256::digest(seed.as_bytes()))[..36].to_string()
}

fn string(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn unavailable<E: ProvideErrorMetadata + std::error::Error + 'static, R>(
    error: SdkError<E, R>,
) -> StoreError {
    let detail = match &error {
        SdkError::ServiceError(service) if service.err().code() == Some("ValidationException") => {
            return StoreError::Refused(service.err().message().unwrap_or("").to_string());
        }
        SdkError::ServiceError(service) => {
            let e = service.err();
            format!(
                "{}: {}",
                e.code().unwrap_or("service error"),
                e.message().unwrap_or("")
            )
        }
        SdkError::TimeoutError(_) => "timed out".to_string(),
        SdkError::DispatchFailure(d) if d.is_timeout() => "timed out connecting".to_string(),
        SdkError::DispatchFailure(_) => "could not reach the table".to_string(),
        other => other.to_string(),
    };
    StoreError::Unavailable(detail)
}

impl MessageStore for DynamoDbStore {
    async fn insert(
        &self,
        message: &Message,
        fingerprint: &Fingerprint,
    ) -> Result<Inserted, StoreError> {
        let put = |item: HashMap<String, AttributeValue>| {
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .expect("table, item and condition are set")
        };
        let duplicate = |stored: Option<String>| Inserted::Duplicate {
            same_content: stored.as_deref() == Some(fingerprint.content_sha256.as_str()),
        };
        // Deliveries of one message racing each other make DynamoDB cancel all but one
        // transaction with TransactionConflict: try again shortly, when the winner is visible.
        for attempt in 1..=TRANSACTION_ATTEMPTS {
            let result = self
                .client
                .transact_write_items()
                .client_request_token(request_token(&fingerprint.body_sha256))
                .transact_items(
                    TransactWriteItem::builder()
                        .put(put(message_item(message)))
                        .build(),
                )
                .transact_items(
                    TransactWriteItem::builder()
                        .put(put(id_item(message, fingerprint)))
                        .build(),
                )
                .send()
                .await;
            let error = match result {
                Ok(_) => return Ok(Inserted::Stored),
                Err(error) => error,
            };
            let reasons = match &error {
                SdkError::ServiceError(e) => match e.err() {
                    TransactWriteItemsError::TransactionCanceledException(cancel) => {
                        cancel.cancellation_reasons().to_vec()
                    }
                    _ => return Err(unavailable(error)),
                },
                _ => return Err(unavailable(error)),
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
                return Ok(Inserted::OrderKeyTaken);
            }
            let conflict = reasons
                .iter()
                .any(|r| r.code() == Some("TransactionConflict"));
            if !conflict {
                return Err(unavailable(error));
            }
            if let Some(stored) = self.stored_content_of(message).await? {
                return Ok(duplicate(Some(stored)));
            }
            if attempt == TRANSACTION_ATTEMPTS {
                return Err(unavailable(error));
            }
            tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
        }
        unreachable!("the loop returns on its last attempt")
    }

    async fn update(&self, update: &Update, now: &str) -> Result<Updated, StoreError> {
        let pk = conversation_key(update.provider, &update.conversation_id);
        let Some(id) = self.get(&pk, &id_sort_key(&update.message_id)).await? else {
            return Ok(Updated::NotFound);
        };
        let Some(message_sk) = string(&id, "message_sk") else {
            return Ok(Updated::NotFound);
        };
        // Optimistic concurrency: read the status, write only if it is still what we read.
        for _ in 0..3 {
            let Some(current) = self.get(&pk, &message_sk).await? else {
                return Ok(Updated::NotFound);
            };
            let current_status = string(&current, "status");
            let currently_deleted =
                matches!(current.get("deleted"), Some(AttributeValue::Bool(true)));
            let changes = update.changes(current_status.as_deref(), currently_deleted);
            if changes.is_empty() {
                return Ok(Updated::Unchanged);
            }
            let mut sets = vec!["updated_at = :now"];
            let mut request = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", AttributeValue::S(pk.clone()))
                .key("sk", AttributeValue::S(message_sk.clone()))
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":now", AttributeValue::S(now.to_string()));
            if let Some(status) = &changes.status {
                sets.push("#status = :status");
                request = request
                    .expression_attribute_values(":status", AttributeValue::S(status.clone()));
            }
            if changes.deleted {
                sets.push("deleted = :deleted");
                request =
                    request.expression_attribute_values(":deleted", AttributeValue::Bool(true));
            }
            request = match &current_status {
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
                Ok(_) => return Ok(Updated::Updated),
                Err(SdkError::ServiceError(e))
                    if e.err().is_conditional_check_failed_exception() =>
                {
                    continue
                }
                Err(e) => return Err(unavailable(e)),
            }
        }
        Err(StoreError::Unavailable(
            "the message kept changing while updating it".into(),
        ))
    }

    async fn quarantine(&self, item: &Quarantined) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(quarantine_item(item)))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

/// The same rules as [`DynamoDbStore`], in memory. For unit tests of the handler; integration
/// tests use DynamoDB Local.
#[derive(Debug, Default)]
pub struct MemoryStore {
    items: Mutex<HashMap<(String, String), HashMap<String, AttributeValue>>>,
    /// When set, every call fails as an unreachable table would.
    pub unavailable: std::sync::atomic::AtomicBool,
}

impl MemoryStore {
    pub fn new() -> Self {
        MemoryStore::default()
    }

    /// A copy of every item, keyed by (pk, sk).
    pub fn items(&self) -> HashMap<(String, String), HashMap<String, AttributeValue>> {
        self.items.lock().expect("not poisoned").clone()
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.unavailable.load(std::sync::atomic::Ordering::SeqCst) {
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
        let id_key = (message.partition_key(), id_sort_key(&message.message_id));
        if let Some(existing) = items.get(&id_key) {
            let same_content = string(existing, "content_sha256").as_deref()
                == Some(fingerprint.content_sha256.as_str());
            return Ok(Inserted::Duplicate { same_content });
        }
        let message_key = (message.partition_key(), message.sort_key());
        if items.contains_key(&message_key) {
            return Ok(Inserted::OrderKeyTaken);
        }
        items.insert(message_key, message_item(message));
        items.insert(id_key, id_item(message, fingerprint));
        Ok(Inserted::Stored)
    }

    async fn update(&self, update: &Update, now: &str) -> Result<Updated, StoreError> {
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
        let changes = update.changes(
            string(item, "status").as_deref(),
            matches!(item.get("deleted"), Some(AttributeValue::Bool(true))),
        );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warm_up_is_off_unless_switched_on() {
        for on in ["true", "TRUE", " 1 ", "yes", "on"] {
            assert!(warm_up_enabled(Some(on)), "{on:?}");
        }
        for off in [
            None,
            Some(""),
            Some("false"),
            Some("0"),
            Some("no"),
            Some("treu"),
        ] {
            assert!(!warm_up_enabled(off), "{off:?}");
        }
    }
}
