//! Each provider's example payload becomes exactly the item the contract says it must
//! (`tests/data/golden`, copied from the specification's `golden/` folder).

mod support;

use ingest::handler::Handler;
use ingest::store::MemoryStore;
use ingest::Provider;
use serde_json::Value;
use support::*;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/golden");

fn read(name: &str) -> Vec<u8> {
    std::fs::read(format!("{DATA}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Runs the golden body through the real handler (signed, in memory) and returns the item.
async fn stored_item(provider: Provider, body: &[u8]) -> serde_json::Map<String, Value> {
    let handler = Handler::new(
        provider,
        Ok(settings(provider, "golden")),
        MemoryStore::new(),
    )
    .with_clock(pinned_now);
    let response = handler
        .handle_event(&signed_event(Format::HttpApiV2, provider, body))
        .await;
    let (status, answer) = answer(&response);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "stored");
    let items = handler.store().items();
    let (_, item) = items
        .iter()
        .find(|((_, sk), _)| sk.starts_with("MSG#"))
        .expect("a message item");
    let value: Value = serde_dynamo::from_item(item.clone()).unwrap();
    value.as_object().unwrap().clone()
}

async fn check(provider: Provider, name: &str) {
    let body = read(&format!("{name}.body.json"));
    let expected: Value = serde_json::from_slice(&read(&format!("{name}.expected.json"))).unwrap();
    let item = stored_item(provider, &body).await;
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
                || ["raw", "received_at"].contains(&attribute.as_str()),
            "{name}: unexpected attribute {attribute} = {}",
            item[attribute]
        );
    }
    assert_eq!(
        item["raw"].as_str().unwrap().as_bytes(),
        body.as_slice(),
        "raw is the body as received"
    );
    assert_eq!(item["received_at"], "2026-01-01T00:00:00.000Z");
}

#[tokio::test]
async fn tiktok_shop_text() {
    check(Provider::TiktokShop, "tiktok-shop-text").await;
}

#[tokio::test]
async fn partoo_text() {
    check(Provider::Partoo, "partoo-text").await;
}

#[tokio::test]
async fn callbell_location() {
    check(Provider::Callbell, "callbell-location").await;
}

/// The copies here must not drift from the specification beside the checkout, when it is there.
#[test]
fn fixtures_match_the_specification() {
    let spec = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/golden");
    let Ok(entries) = std::fs::read_dir(spec) else {
        eprintln!("specification folder {spec} not found; comparing nothing");
        return;
    };
    let mut compared = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().into_string().unwrap();
        if name.ends_with(".json") {
            assert_eq!(
                std::fs::read(entry.path()).unwrap(),
                read(&name),
                "{name} differs from the specification"
            );
            compared += 1;
        }
    }
    assert!(
        compared >= 6,
        "expected the six golden files, found {compared}"
    );
}
