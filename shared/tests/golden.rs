//! Each provider's example payload becomes exactly the item the contract says it must
//! (`tests/data/golden`: each provider's own example body, and the item docs/CONTRACT.md's
//! mapping makes of it).

mod support;

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use ingest::testkit::{any_handler, HandlerSpec, MemoryStore};
use ingest::ProviderId;
use serde_json::Value;
use support::*;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/golden");

fn read(name: &str) -> Vec<u8> {
    std::fs::read(format!("{DATA}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Runs the golden body through the real handler (signed, in memory) and returns the item.
async fn stored_item(id: ProviderId, body: &[u8]) -> serde_json::Map<String, Value> {
    let store = Arc::new(MemoryStore::new());
    let handler = any_handler(id, HandlerSpec::new(Arc::clone(&store), "golden"));
    let response = handler
        .handle_event(&signed_event(Format::HttpApiV2, id, body))
        .await;
    let (status, answer) = answer(&response);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "stored");
    let items = store.items();
    let (_, item) = items
        .iter()
        .find(|((_, sk), _)| sk.starts_with("MSG#"))
        .expect("a message item");
    // `raw` is a gzip binary: read as the body's text, as a reader of the table does.
    let mut item = item.clone();
    let raw = raw(&item);
    item.insert("raw".into(), AttributeValue::S(raw));
    let value: Value = serde_dynamo::from_item(item).unwrap();
    value.as_object().unwrap().clone()
}

async fn check(id: ProviderId, name: &str) {
    let body = read(&format!("{name}.body.json"));
    let expected: Value = serde_json::from_slice(&read(&format!("{name}.expected.json"))).unwrap();
    let item = stored_item(id, &body).await;
    for (attribute, want) in expected.as_object().unwrap() {
        assert_eq!(
            item.get(attribute),
            Some(want),
            "{name}: attribute {attribute}"
        );
    }
    // Nothing beyond what the example lists, except the delivery-dependent attributes.
    for attribute in item.keys() {
        assert!(
            expected.get(attribute).is_some()
                || ["raw", "received_at", "body_sha256"].contains(&attribute.as_str()),
            "{name}: unexpected attribute {attribute} = {}",
            item[attribute]
        );
    }
    assert_eq!(
        item["raw"].as_str().unwrap().as_bytes(),
        body.as_slice(),
        "raw unpacks to the body as received"
    );
    assert_eq!(item["received_at"], "2026-01-01T00:00:00.000Z");
    assert_eq!(
        item["body_sha256"],
        sha256_hex(&body).as_str(),
        "body_sha256 is the SHA-256 of the body as received"
    );
}

#[tokio::test]
async fn tiktok_shop_text() {
    check(ProviderId::TiktokShop, "tiktok-shop-text").await;
}

#[tokio::test]
async fn partoo_text() {
    check(ProviderId::Partoo, "partoo-text").await;
}

#[tokio::test]
async fn callbell_location() {
    check(ProviderId::Callbell, "callbell-location").await;
}
