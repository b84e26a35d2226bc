//! The sample events of each schema-2 shape become exactly the item written down for them in
//! `tests/data/samples/<function>/<name>.expected.json` (every attribute, keys included; `raw`
//! must unpack to the body, `body_sha256` be its SHA-256 and `received_at` the pinned time). The expectations were written from
//! docs/CONTRACT.md's mapping and checked by hand; `INGEST_BLESS=1 cargo test --test samples`
//! rewrites them from the code, for a reviewed change of the mapping.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ingest::testkit::{any_handler, HandlerSpec, MemoryStore};
use ingest::ProviderId;
use serde_json::Value;
use support::{answer, sha256_hex};

/// Each sample, and the samples sent before it to the same fresh table (a message whose place
/// another one holds needs that one first).
const CASES: &[(&str, &[&str])] = &[
    ("tiktok-shop/video.json", &[]),
    ("tiktok-shop/image-url-expiry.json", &[]),
    (
        "tiktok-shop/text-same-index.json",
        &["tiktok-shop/text.json"],
    ),
    ("partoo/custom-channel-business.json", &[]),
    ("partoo/whatsapp-consumer-text.json", &[]),
    ("callbell/reply-buttons-image.json", &[]),
    ("callbell/interactive-list.json", &[]),
    ("callbell/contact-card-two-phones.json", &[]),
    ("callbell/forwarded-metadata.json", &[]),
    ("callbell/location-no-coordinates.json", &[]),
    ("callbell/sent-capitalized.json", &[]),
    ("callbell/whatsapp-text.json", &[]),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn expected_path(sample: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/samples")
        .join(sample.replace(".json", ".expected.json"))
}

/// The event's body, as the provider sent it.
fn body_of_event(event: &[u8]) -> Vec<u8> {
    let event: Value = serde_json::from_slice(event).unwrap();
    event["body"].as_str().unwrap().as_bytes().to_vec()
}

#[tokio::test]
async fn every_schema_2_sample_becomes_its_expected_item() {
    let bless = std::env::var("INGEST_BLESS").is_ok();
    for (sample, before) in CASES {
        let function = sample.split('/').next().unwrap();
        let id = ProviderId::find(function).unwrap();
        let store = Arc::new(MemoryStore::new());
        let handler = any_handler(id, HandlerSpec::new(Arc::clone(&store), "samples"));
        for earlier in *before {
            let event = std::fs::read(root().join("events").join(earlier)).unwrap();
            let (status, body) = answer(&handler.handle_event(&event).await);
            assert_eq!(
                (status, body["status"].as_str()),
                (200, Some("stored")),
                "{earlier}"
            );
        }
        let event = std::fs::read(root().join("events").join(sample)).unwrap();
        let (status, body) = answer(&handler.handle_event(&event).await);
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("stored")),
            "{sample}"
        );
        let message_id = body["message_id"].as_str().unwrap();
        let item = store
            .items()
            .into_values()
            .find(|item| {
                item.get("sk")
                    .and_then(|v| v.as_s().ok())
                    .is_some_and(|sk| sk.starts_with("MSG#"))
                    && item
                        .get("message_id")
                        .and_then(|v| v.as_s().ok())
                        .map(String::as_str)
                        == Some(message_id)
            })
            .unwrap_or_else(|| panic!("{sample}: no message item for {message_id}"));
        // What depends on the delivery, checked apart: the body (gzip-compressed), its
        // SHA-256, the content's fingerprint (internal, for conflicts).
        let mut item = item;
        let body = body_of_event(&event);
        let raw = item.remove("raw").unwrap();
        assert_eq!(
            ingest::storage::raw::body_of(&raw).unwrap(),
            body,
            "{sample}: raw"
        );
        assert_eq!(
            item.remove("body_sha256")
                .and_then(|v| v.as_s().ok().cloned()),
            Some(sha256_hex(&body)),
            "{sample}: body_sha256"
        );
        // Schema 3 keeps no fingerprint of content on the item: a conflict reads the body.
        assert_eq!(item.get("content_sha256"), None, "{sample}");
        let mut item: Value = serde_dynamo::from_item(item).unwrap();
        let item = item.as_object_mut().unwrap();
        assert_eq!(
            item.remove("received_at").unwrap(),
            "2026-01-01T00:00:00.000Z"
        );
        let path = expected_path(sample);
        if bless {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let text = serde_json::to_string_pretty(&item).unwrap() + "\n";
            std::fs::write(&path, text).unwrap();
            continue;
        }
        let expected: Value = serde_json::from_slice(
            &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        )
        .unwrap();
        assert_eq!(&Value::Object(item.clone()), &expected, "{sample}");
    }
    assert!(
        !bless,
        "INGEST_BLESS rewrote the expectations: review them, then run again"
    );
}
