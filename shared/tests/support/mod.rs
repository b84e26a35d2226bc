//! Shared by the integration tests: local secrets, signing as each provider signs, events in
//! each API Gateway format, and tables on DynamoDB Local.
#![allow(dead_code)]

pub mod fuzz_checks;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey};
use hmac::{Hmac, KeyInit, Mac};
use ingest::{Provider, Settings};
use sha2::Sha256;

pub const TIKTOK_APP_KEY: &str = "test-app-key";
pub const TIKTOK_APP_SECRET: &str = "test-app-secret";
/// RFC 8032 test 1 key pair.
pub const PARTOO_SECRET_KEY: &str =
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
pub const PARTOO_PUBLIC_KEY: &str =
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
pub const CALLBELL_SECRET: &str = "whsec_dGVzdC1zZWNyZXQ=";
pub const CALLBELL_TOKEN: &str = "test-url-token";
/// The pinned clock of the tests: 2026-01-01T00:00:00Z.
pub const NOW: i64 = 1_767_225_600;

pub fn pinned_now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(NOW, 0).unwrap()
}

pub fn env(table: &str) -> HashMap<String, String> {
    HashMap::from([
        ("TABLE_NAME".into(), table.into()),
        ("TIKTOK_SHOP_APP_KEY".into(), TIKTOK_APP_KEY.into()),
        ("TIKTOK_SHOP_APP_SECRET".into(), TIKTOK_APP_SECRET.into()),
        ("PARTOO_PUBLIC_KEYS".into(), PARTOO_PUBLIC_KEY.into()),
        ("CALLBELL_WEBHOOK_SECRET".into(), CALLBELL_SECRET.into()),
        ("CALLBELL_URL_TOKEN".into(), CALLBELL_TOKEN.into()),
    ])
}

pub fn settings(provider: Provider, table: &str) -> Settings {
    let vars = env(table);
    Settings::from_lookup(provider, |name| vars.get(name).cloned()).unwrap()
}

fn hmac_hex(key: &[u8], parts: &[&[u8]]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    for part in parts {
        mac.update(part);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// Header or query name/value pairs.
pub type Pairs = Vec<(String, String)>;

/// The headers and query a provider's genuine call would carry for `body` at time `now`.
pub fn credentials(provider: Provider, body: &[u8], now: i64) -> (Pairs, Pairs) {
    match provider {
        Provider::TiktokShop => (
            vec![(
                "Authorization".into(),
                hmac_hex(
                    TIKTOK_APP_SECRET.as_bytes(),
                    &[TIKTOK_APP_KEY.as_bytes(), body],
                ),
            )],
            vec![],
        ),
        Provider::Partoo => {
            let mut secret = [0u8; 32];
            hex::decode_to_slice(PARTOO_SECRET_KEY, &mut secret).unwrap();
            let signature = SigningKey::from_bytes(&secret).sign(body);
            let encoded = base64::engine::general_purpose::STANDARD.encode(signature.to_bytes());
            (vec![("X-Partoo-Signature-v1".into(), encoded)], vec![])
        }
        Provider::Callbell => {
            let t = now.to_string();
            let v1 = hmac_hex(CALLBELL_SECRET.as_bytes(), &[t.as_bytes(), b".", body]);
            (
                vec![("X-Callbell-Signature".into(), format!("t={t},v1={v1}"))],
                vec![],
            )
        }
    }
}

/// The three event shapes a function receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    HttpApiV2,
    RestApiV1,
    FunctionUrl,
}

pub const FORMATS: [Format; 3] = [Format::HttpApiV2, Format::RestApiV1, Format::FunctionUrl];

/// A complete event as AWS would send it.
pub fn event(
    format: Format,
    provider: Provider,
    headers: &[(String, String)],
    query: &[(String, String)],
    body: &[u8],
    base64: bool,
) -> Vec<u8> {
    let body_text = if base64 {
        base64::engine::general_purpose::STANDARD.encode(body)
    } else {
        String::from_utf8(body.to_vec()).expect("a non-base64 test body is text")
    };
    let path = format!("/webhooks/{}", provider.function_name());
    let raw_query: String = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut header_map = serde_json::Map::new();
    header_map.insert("content-type".into(), "application/json".into());
    for (k, v) in headers {
        let name = if format == Format::RestApiV1 {
            k.clone()
        } else {
            k.to_ascii_lowercase()
        };
        header_map.insert(name, v.clone().into());
    }
    let query_map: serde_json::Map<String, serde_json::Value> = query
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().into()))
        .collect();
    let value = match format {
        Format::HttpApiV2 | Format::FunctionUrl => {
            let route_key = if format == Format::HttpApiV2 {
                format!("POST {path}")
            } else {
                "$default".into()
            };
            serde_json::json!({
                "version": "2.0",
                "routeKey": route_key,
                "rawPath": path,
                "rawQueryString": raw_query,
                "headers": header_map,
                "queryStringParameters": if query.is_empty() { serde_json::Value::Null } else { query_map.into() },
                "requestContext": {
                    "accountId": "123456789012", "apiId": "test", "domainName": "test.example",
                    "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"},
                    "requestId": "req-1", "routeKey": route_key, "stage": "$default",
                    "time": "01/Jan/2026:00:00:00 +0000", "timeEpoch": NOW * 1000
                },
                "body": body_text,
                "isBase64Encoded": base64
            })
        }
        Format::RestApiV1 => {
            let multi: serde_json::Map<String, serde_json::Value> = header_map
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::json!([v])))
                .collect();
            serde_json::json!({
                "resource": path, "path": path, "httpMethod": "POST",
                "headers": header_map, "multiValueHeaders": multi,
                "queryStringParameters": if query.is_empty() { serde_json::Value::Null } else { query_map.into() },
                "multiValueQueryStringParameters": null,
                "pathParameters": null, "stageVariables": null,
                "requestContext": {"accountId": "123456789012", "resourceId": "r", "stage": "prod", "requestId": "req-1",
                    "httpMethod": "POST", "path": path, "identity": {"sourceIp": "127.0.0.1"}, "resourcePath": path, "apiId": "test"},
                "body": body_text,
                "isBase64Encoded": base64
            })
        }
    };
    serde_json::to_vec(&value).unwrap()
}

/// An event carrying `body` exactly as the provider would have signed it.
pub fn signed_event(format: Format, provider: Provider, body: &[u8]) -> Vec<u8> {
    let (headers, query) = credentials(provider, body, NOW);
    event(format, provider, &headers, &query, body, false)
}

/// The decoded answer of a handler: status and JSON body.
pub fn answer(response: &ingest::response::HttpResponse) -> (u16, serde_json::Value) {
    (
        response.status_code,
        serde_json::from_str(&response.body).expect("answers are JSON"),
    )
}

/// A function's handler on `table` through `client`, with the tests' secrets, the pinned clock
/// and metrics discarded.
pub fn table_handler(
    provider: Provider,
    table: &str,
    client: Client,
) -> ingest::handler::Handler<ingest::store::DynamoDbStore> {
    ingest::handler::Handler::new(
        provider,
        Ok(settings(provider, table)),
        ingest::store::DynamoDbStore::new(client, table),
    )
    .with_clock(pinned_now)
    .with_metrics(ingest::telemetry::MetricsSink::new(|_| {}))
}

/// DynamoDB Local, as the test command starts it. Integration tests refuse to pass without it.
pub async fn local_client() -> Client {
    assert!(
        std::env::var("INGEST_TEST_DYNAMODB").is_ok()
            && std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok(),
        "integration tests need DynamoDB Local: run them with scripts/test.sh \
         (or set INGEST_TEST_DYNAMODB=1 and AWS_ENDPOINT_URL_DYNAMODB)"
    );
    ingest::store::dynamodb_client()
}

/// A client for setting up and reading tables, without the functions' tight timeouts.
pub async fn admin_client() -> Client {
    local_client().await;
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(ingest::store::https_client())
        .load()
        .await;
    Client::new(&config)
}

/// A fresh table with the contract's key schema.
pub async fn create_table(client: &Client, prefix: &str) -> String {
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
