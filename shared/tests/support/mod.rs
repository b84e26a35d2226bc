//! Shared by the integration tests: DynamoDB Local's clients and tables, and re-exports of the
//! crate's test kit (signing like each provider, events, handlers, the pinned clock).
#![allow(dead_code, unused_imports)]

pub mod proxy;
pub mod sqs;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
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
    create_table_as(client, prefix, None).await
}

/// A fresh table with the contract's key schema and, as template.yaml's, a stream of new
/// images (the media function's trigger).
pub async fn create_table_with_stream(client: &Client, prefix: &str) -> String {
    let stream = aws_sdk_dynamodb::types::StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(aws_sdk_dynamodb::types::StreamViewType::NewImage)
        .build()
        .unwrap();
    create_table_as(client, prefix, Some(stream)).await
}

async fn create_table_as(
    client: &Client,
    prefix: &str,
    stream: Option<aws_sdk_dynamodb::types::StreamSpecification>,
) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(&name)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attribute("pk"))
        .attribute_definitions(attribute("sk"))
        .billing_mode(BillingMode::PayPerRequest)
        .set_stream_specification(stream)
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
