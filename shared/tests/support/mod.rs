//! Shared by the integration tests: DynamoDB Local's clients and tables, and re-exports of the
//! crate's test kit (signing like each provider, events, handlers, the pinned clock).
#![allow(dead_code, unused_imports)]

pub mod items;
pub mod projector;
pub mod proxy;
pub mod recording;
pub mod sqs;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
pub use ingest::testkit::events::{event, signed_event, Format, FORMATS};
pub use ingest::testkit::{
    any_handler, body_of, pinned_now, AnyHandler, Credentials, HandlerSpec, MemoryStore, NOW,
};
pub use ingest::ProviderId;

/// The decoded answer of a handler: status and JSON body.
pub fn answer(response: &ingest::response::HttpResponse) -> (u16, serde_json::Value) {
    (
        response.status_code,
        serde_json::from_str(&response.body).expect("answers are JSON"),
    )
}

/// Provider `id`'s handler on `table` through `client`, with the local secrets, the pinned
/// clock and metrics discarded.
pub fn table_handler(id: ProviderId, table: &str, client: Client) -> Box<dyn AnyHandler> {
    any_handler(
        id,
        HandlerSpec::new(ingest::storage::DynamoDbStore::new(client, table), table),
    )
}

/// The body of message `n` of `conversation` saying `text`, as provider `id` sends it.
pub fn message_body(id: ProviderId, conversation: &str, n: u64, text: &str) -> Vec<u8> {
    body_of(&id.samples().message(conversation, n, text))
}

/// DynamoDB Local, as the test command starts it. Integration tests refuse to pass without it.
pub async fn local_client() -> Client {
    assert!(
        std::env::var("INGEST_TEST_DYNAMODB").is_ok()
            && std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok(),
        "integration tests need DynamoDB Local: run them with scripts/test.sh \
         (or set INGEST_TEST_DYNAMODB=1 and AWS_ENDPOINT_URL_DYNAMODB)"
    );
    ingest::aws::dynamodb_client()
}

/// A client for setting up and reading tables, without the functions' tight timeouts.
pub async fn admin_client() -> Client {
    local_client().await;
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(ingest::aws::https_client())
        .load()
        .await;
    Client::new(&config)
}

/// A fresh table with the contract's key schema.
pub async fn create_table(client: &Client, prefix: &str) -> String {
    create_table_as(client, prefix, false).await
}

/// A fresh table as template.yaml defines it, with its stream (the media function's and the
/// projector's trigger).
pub async fn create_table_with_stream(client: &Client, prefix: &str) -> String {
    create_table_as(client, prefix, true).await
}

/// A fresh table (keys and indexes as template.yaml's: `ingest::storage::table`, the one
/// definition), with or without its stream.
async fn create_table_as(client: &Client, prefix: &str, stream: bool) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    ingest::storage::table::create_table(client, &name, stream)
        .send()
        .await
        .expect("create table on DynamoDB Local");
    name
}

pub type Item = HashMap<String, AttributeValue>;

/// Every item of a table.
pub async fn scan(client: &Client, table: &str) -> Vec<Item> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        items.extend(page.items.unwrap_or_default());
        start = page.last_evaluated_key;
        if start.is_none() {
            return items;
        }
    }
}

/// The contract's conversation read: `pk = … AND begins_with(sk, "MSG#")`, in order.
pub async fn conversation(client: &Client, table: &str, pk: &str) -> Vec<Item> {
    client
        .query()
        .table_name(table)
        .key_condition_expression("pk = :pk AND begins_with(sk, :msg)")
        .expression_attribute_values(":pk", AttributeValue::S(pk.into()))
        .expression_attribute_values(":msg", AttributeValue::S("MSG#".into()))
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default()
}

pub fn s<'a>(item: &'a Item, name: &str) -> &'a str {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .unwrap_or("")
}

/// The body a message item keeps in `raw`, whichever form it has (schema 3: a gzip binary;
/// schema 2: a string), as text.
pub fn raw(item: &Item) -> String {
    let value = item.get("raw").expect("a message item has raw");
    let body = ingest::storage::raw::body_of(value).expect("raw reads as a body");
    String::from_utf8(body).expect("a stored body is UTF-8")
}

/// SHA-256 of `bytes`, lower-case hex (as `body_sha256` holds it).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
