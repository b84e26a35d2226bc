//! Every sample event in `events/` is a real API Gateway HTTP API event that the handler answers
//! as `events/expected-status.tsv` says, sent in that order to a fresh (in-memory) store, with
//! the local development secrets of `local.env`. Together the samples cover every message kind
//! each provider's mapping gives.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ingest::testkit::{any_handler, AnyHandler, HandlerSpec, MemoryStore};
use ingest::ProviderId;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Expectation {
    file: String,
    status: u16,
    answer: String,
}

fn manifest() -> Vec<Expectation> {
    let text =
        std::fs::read_to_string(root().join("events/expected-status.tsv")).expect("manifest");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert_eq!(cols.len(), 3, "manifest line {l:?}");
            Expectation {
                file: cols[0].into(),
                status: cols[1].parse().unwrap(),
                answer: cols[2].into(),
            }
        })
        .collect()
}

/// The fields of an HTTP API payload 2.0 event that API Gateway always sends.
fn assert_is_http_api_v2_event(file: &str, event: &[u8]) {
    let v: serde_json::Value =
        serde_json::from_slice(event).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert_eq!(v["version"], "2.0", "{file}");
    let route = v["routeKey"]
        .as_str()
        .unwrap_or_else(|| panic!("{file}: routeKey"));
    let path = v["rawPath"]
        .as_str()
        .unwrap_or_else(|| panic!("{file}: rawPath"));
    assert_eq!(route, format!("POST {path}"), "{file}");
    assert!(v["rawQueryString"].is_string(), "{file}: rawQueryString");
    assert!(
        v["headers"]
            .as_object()
            .is_some_and(|h| h.keys().all(|k| *k == k.to_lowercase())),
        "{file}: lower-case headers"
    );
    let context = &v["requestContext"];
    assert_eq!(context["http"]["method"], "POST", "{file}");
    assert_eq!(context["http"]["path"], path, "{file}");
    for field in ["accountId", "apiId", "requestId", "stage", "time"] {
        assert!(context[field].is_string(), "{file}: requestContext.{field}");
    }
    assert!(
        context["timeEpoch"].is_i64(),
        "{file}: requestContext.timeEpoch"
    );
    assert!(v["isBase64Encoded"].is_boolean(), "{file}: isBase64Encoded");
}

#[tokio::test]
async fn every_sample_event_gets_its_documented_answer() {
    let stores: BTreeMap<ProviderId, Arc<MemoryStore>> = ProviderId::ALL
        .iter()
        .map(|id| (*id, Arc::new(MemoryStore::new())))
        .collect();
    let handlers: BTreeMap<ProviderId, Box<dyn AnyHandler>> = stores
        .iter()
        .map(|(id, store)| {
            (
                *id,
                any_handler(*id, HandlerSpec::new(Arc::clone(store), "messages")),
            )
        })
        .collect();

    let expectations = manifest();
    for e in &expectations {
        let event = std::fs::read(root().join("events").join(&e.file))
            .unwrap_or_else(|err| panic!("{}: {err}", e.file));
        assert_is_http_api_v2_event(&e.file, &event);
        let function = e.file.split('/').next().unwrap();
        let id = ProviderId::find(function).unwrap_or_else(|| panic!("no function {function}"));
        let response = handlers[&id].handle_event(&event).await;
        let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
        let answer = body["status"].as_str().map_or("error", |s| s);
        assert_eq!(
            (response.status_code, answer),
            (e.status, e.answer.as_str()),
            "{}: {body}",
            e.file
        );
    }

    // Every event file is in the manifest, so none goes untested; every provider has samples.
    let listed: BTreeSet<&str> = expectations.iter().map(|e| e.file.as_str()).collect();
    for id in ProviderId::ALL {
        let dir = root().join("events").join(id.function());
        let entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}: {id} has no sample events", dir.display()))
            .flatten()
            .collect();
        assert!(!entries.is_empty(), "{id} has no sample events");
        for entry in entries {
            let name = format!("{}/{}", id.function(), entry.file_name().to_string_lossy());
            assert!(
                listed.contains(name.as_str()),
                "{name} is not in events/expected-status.tsv"
            );
        }
    }

    // The samples show every kind each provider's mapping gives.
    for (id, store) in &stores {
        let kinds: BTreeSet<String> = store
            .items()
            .values()
            .filter_map(|item| item.get("kind").and_then(|k| k.as_s().ok()).cloned())
            .collect();
        for kind in id.samples().shape().kinds {
            assert!(
                kinds.contains(*kind),
                "{id}: no sample stores a {kind} message (have {kinds:?})"
            );
        }
    }
}
