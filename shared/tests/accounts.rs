//! Accounts and secrets on the memory store and spool (no server needed): the allow-lists'
//! refusals (row 5b) — stored nowhere, counted, even for an invalid body, never for an event
//! that is not a message — the drain of a body whose account is no longer listed, a named
//! Callbell account kept through the spool and the quarantine, and Callbell bodies without an
//! envelope (row 5, (3)). The same through the real functions: tests/functions.rs.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ingest::providers::{Callbell, Partoo, Provider, TiktokShop};
use ingest::response::{Answer, BatchResponse};
use ingest::spool::event::{sqs_event, sqs_record};
use ingest::spool::{MemorySpool, SpoolMessage, BASE64};
use ingest::telemetry::MetricsSink;
use ingest::testkit::{local_env, pinned_now};
use ingest::{Settings, WebhookHandler as Handler};
use serde_json::{json, Value};
use support::*;

/// The metrics documents a handler wrote, parsed.
type Documents = Arc<Mutex<Vec<Value>>>;

/// `P`'s handler on `store` with local.env's settings and `overrides`, the pinned clock, and
/// its metrics documents kept.
fn configured<P: Provider>(
    store: Arc<MemoryStore>,
    overrides: &[(&str, &str)],
) -> (Handler<P, Arc<MemoryStore>>, Documents) {
    let overrides: HashMap<String, String> = overrides
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let settings = Settings::<P>::from_lookup(|name| match name {
        "TABLE_NAME" => Some("t".into()),
        _ => overrides
            .get(name)
            .or_else(|| local_env().get(name))
            .cloned(),
    });
    let metrics = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&metrics);
    let handler = Handler::new(settings, store)
        .with_clock(pinned_now)
        .with_metrics(MetricsSink::new(move |line| {
            kept.lock()
                .unwrap()
                .push(serde_json::from_str(line).unwrap())
        }));
    (handler, metrics)
}

fn webhook(id: ProviderId, body: &[u8]) -> Vec<u8> {
    signed_event(Format::HttpApiV2, id, body)
}

fn with_token(token: &str, body: &[u8]) -> Vec<u8> {
    event(
        Format::HttpApiV2,
        "callbell",
        &Credentials::query("token", token),
        body,
        false,
    )
}

fn partoo_message(org: Option<u64>, conversation: &str, n: u64) -> Value {
    let mut message = ProviderId::Partoo.samples().message(conversation, n, "hi");
    match org {
        Some(org) => message["payload"]["org_id"] = json!(org),
        None => {
            message["payload"].as_object_mut().unwrap().remove("org_id");
        }
    }
    message
}

fn tiktok_message(shop: &str, conversation: &str, n: u64) -> Value {
    let mut message = ProviderId::TiktokShop
        .samples()
        .message(conversation, n, "hi");
    message["shop_id"] = json!(shop);
    message
}

async fn send<P: Provider>(h: &Handler<P, Arc<MemoryStore>>, event: &[u8]) -> (u16, Value) {
    answer(&h.handle_event(event).await)
}

fn foreign_counts(metrics: &Mutex<Vec<Value>>) -> Vec<u64> {
    metrics
        .lock()
        .unwrap()
        .iter()
        .map(|doc| {
            doc["ForeignAccount"]
                .as_u64()
                .expect("ForeignAccount on every document")
        })
        .collect()
}

#[tokio::test]
async fn a_partoo_allow_list_refuses_other_organizations_and_keeps_nothing() {
    let store = Arc::new(MemoryStore::new());
    let (h, metrics) = configured::<Partoo>(Arc::clone(&store), &[("PARTOO_ORG_IDS", "4242, 17")]);
    let ours = body_of(&partoo_message(Some(4242), "77", 1));
    assert_eq!(
        send(&h, &webhook(ProviderId::Partoo, &ours)).await.1["status"],
        "stored"
    );
    let before = store.items();

    let mut update = partoo_message(Some(9999), "88", 2);
    update["type"] = json!("message_updated");
    let mut invalid = partoo_message(Some(9999), "88", 3);
    invalid["payload"]["message"]
        .as_object_mut()
        .unwrap()
        .remove("date");
    let mut as_string = partoo_message(None, "88", 4);
    as_string["payload"]["org_id"] = json!("9999");
    let refused = [
        (
            "another organization",
            partoo_message(Some(9999), "88", 1),
            Some("9999"),
        ),
        ("an organization as a string", as_string, Some("9999")),
        ("its update", update, Some("9999")),
        ("its invalid body", invalid, Some("9999")),
        ("no organization", partoo_message(None, "88", 5), None),
    ];
    for (what, body, account) in &refused {
        let (status, answer) = send(&h, &webhook(ProviderId::Partoo, &body_of(body))).await;
        assert_eq!(status, 403, "{what}: {answer}");
        let error = answer["error"].as_str().unwrap();
        if let Some(account) = account {
            assert!(error.contains(account), "{what}: {error}");
        }
    }
    assert!(
        store.items() == before,
        "a refused body is stored nowhere, quarantine included"
    );
    assert_eq!(foreign_counts(&metrics), [0, 1, 1, 1, 1, 1]);

    // Not messages: acknowledged as before, whatever the organization.
    let mut lead = partoo_message(Some(9999), "88", 6);
    lead["type"] = json!("lead_received");
    let (status, answer) = send(&h, &webhook(ProviderId::Partoo, &body_of(&lead))).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("ignored")));
    // An invalid body naming no organization cannot be told foreign: row 6, as before.
    let (status, _) = send(
        &h,
        &webhook(
            ProviderId::Partoo,
            br#"{"type":"message_created","payload":{}}"#,
        ),
    )
    .await;
    assert_eq!(status, 400);
    let quarantined = store
        .items()
        .keys()
        .filter(|(pk, _)| pk == "QUARANTINE#partoo")
        .count();
    assert_eq!(quarantined, 1);
}

#[tokio::test]
async fn a_tiktok_allow_list_refuses_other_shops_but_not_other_webhook_types() {
    let store = Arc::new(MemoryStore::new());
    let (h, metrics) = configured::<TiktokShop>(
        Arc::clone(&store),
        &[("TIKTOK_SHOP_IDS", "7494049642642441621")],
    );
    let ours = body_of(&tiktok_message("7494049642642441621", "c1", 1));
    assert_eq!(
        send(&h, &webhook(ProviderId::TiktokShop, &ours)).await.1["status"],
        "stored"
    );
    let foreign = body_of(&tiktok_message("1", "c2", 2));
    assert_eq!(
        send(&h, &webhook(ProviderId::TiktokShop, &foreign)).await.0,
        403
    );
    let mut invalid = tiktok_message("1", "c2", 3);
    invalid["data"]["index"] = json!("not digits");
    assert_eq!(
        send(&h, &webhook(ProviderId::TiktokShop, &body_of(&invalid)))
            .await
            .0,
        403
    );
    let other_type = body_of(&json!({"type": 1, "shop_id": "1", "data": {}}));
    let (status, answer) = send(&h, &webhook(ProviderId::TiktokShop, &other_type)).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("ignored")));
    let stored: Vec<_> = store.items().into_keys().collect();
    assert!(
        stored.iter().all(|(pk, _)| pk == "tiktok_shop#c1"),
        "{stored:?}"
    );
    assert_eq!(foreign_counts(&metrics), [0, 1, 1, 0]);
}

#[tokio::test]
async fn unset_allow_lists_change_nothing() {
    let store = Arc::new(MemoryStore::new());
    let (h, metrics) = configured::<Partoo>(Arc::clone(&store), &[]);
    let body = body_of(&partoo_message(Some(9999), "88", 1));
    assert_eq!(
        send(&h, &webhook(ProviderId::Partoo, &body)).await.1["status"],
        "stored"
    );
    let body = body_of(&partoo_message(None, "88", 2));
    assert_eq!(
        send(&h, &webhook(ProviderId::Partoo, &body)).await.1["status"],
        "stored"
    );
    assert_eq!(foreign_counts(&metrics), [0, 0]);
}

/// The spool's messages as the SQS event the drain gets.
fn as_event(messages: &[SpoolMessage]) -> Vec<u8> {
    let records = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let mut attributes = vec![
                ("provider", m.provider.name()),
                ("received_at", m.received_at.as_str()),
            ];
            if m.body.base64 {
                attributes.push(("body_encoding", BASE64));
            }
            if let Some(account) = &m.account {
                attributes.push(("account_id", account.as_str()));
            }
            sqs_record(&format!("m{i}"), &m.body.text, 1, &attributes)
        })
        .collect();
    sqs_event(records)
}

async fn drain<P: Provider>(h: &Handler<P, Arc<MemoryStore>>, event: &[u8]) -> BatchResponse {
    match h.handle_invocation(event).await {
        Answer::Batch(response) => response,
        Answer::Http(http) => panic!("an SQS event answered as HTTP: {http:?}"),
    }
}

#[tokio::test]
async fn a_drained_body_of_an_account_no_longer_listed_leaves_the_queue_unstored() {
    // Spooled while the organization was served (no list yet)…
    let store = Arc::new(MemoryStore::new());
    let spool = Arc::new(MemorySpool::new());
    let (before, _) = configured::<Partoo>(Arc::clone(&store), &[]);
    let before = before.with_spool(spool.clone());
    store
        .unavailable
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let body = body_of(&partoo_message(Some(9999), "88", 1));
    assert_eq!(
        send(&before, &webhook(ProviderId::Partoo, &body)).await.1["status"],
        "accepted"
    );
    store
        .unavailable
        .store(false, std::sync::atomic::Ordering::SeqCst);

    // …drained by a function whose list leaves it out: dropped, counted, not retried.
    let (after, metrics) = configured::<Partoo>(Arc::clone(&store), &[("PARTOO_ORG_IDS", "4242")]);
    assert!(drain(&after, &as_event(&spool.messages()))
        .await
        .failed_ids()
        .is_empty());
    assert!(
        store.items().is_empty(),
        "nothing stored, nothing quarantined"
    );
    let documents = metrics.lock().unwrap().clone();
    assert_eq!(documents.len(), 1);
    assert_eq!(
        (
            documents[0]["Drained"].as_u64(),
            documents[0]["ForeignAccount"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(documents[0]["Outcome"], "forbidden");

    // A function that cannot read its settings stores nothing unjudged: it retries.
    let (broken, _) = configured::<Partoo>(Arc::clone(&store), &[("PARTOO_ORG_IDS", "4242,")]);
    assert_eq!(
        drain(&broken, &as_event(&spool.messages()))
            .await
            .failed_ids(),
        ["m0"]
    );
    assert!(store.items().is_empty());
}

const NAMED: &str = "local-callbell-url-token,brand-x=tok-brand-x";

#[tokio::test]
async fn a_named_callbell_account_travels_with_its_body() {
    let store = Arc::new(MemoryStore::new());
    let spool = Arc::new(MemorySpool::new());
    let (h, _) = configured::<Callbell>(Arc::clone(&store), &[("CALLBELL_URL_TOKEN", NAMED)]);
    let h = h.with_spool(spool.clone());
    let samples = ProviderId::Callbell.samples();
    let body = body_of(&samples.message("cx", 1, "hola"));
    let (status, answer) = send(&h, &with_token("tok-brand-x", &body)).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("stored")));
    let unnamed = body_of(&samples.message("cy", 2, "hola"));
    assert_eq!(
        send(&h, &with_token("local-callbell-url-token", &unnamed))
            .await
            .0,
        200
    );

    // Spooled: the account goes as an attribute, and the drain stores it.
    store
        .unavailable
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let later = body_of(&samples.message("cx", 3, "later"));
    assert_eq!(
        send(&h, &with_token("tok-brand-x", &later)).await.1["status"],
        "accepted"
    );
    let sent = spool.messages();
    assert_eq!(sent[0].account.as_deref(), Some("brand-x"));
    // Quarantined (a body without its envelope, here): the item keeps the account.
    store
        .unavailable
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let lost = br#"{"uuid":"u9","text":"no envelope"}"#;
    let (status, answer) = send(&h, &with_token("tok-brand-x", lost)).await;
    assert_eq!((status, answer), (200, json!({"status": "ok"})));
    assert!(drain(&h, &as_event(&sent)).await.failed_ids().is_empty());

    let items = store.items();
    let account = |pk: &str, n: &str| {
        items
            .iter()
            .find(|((p, sk), item)| p == pk && sk.starts_with("MSG#") && s(item, "message_id") == n)
            .map(|(_, item)| s(item, "account_id").to_string())
            .unwrap_or_else(|| panic!("{pk} {n} not stored"))
    };
    assert_eq!(account("callbell#cx", "u1"), "brand-x");
    assert_eq!(account("callbell#cx", "u3"), "brand-x");
    assert_eq!(
        account("callbell#cy", "u2"),
        "",
        "an unnamed entry gives no account"
    );
    let kept: Vec<_> = items
        .iter()
        .filter(|((pk, _), _)| pk == "QUARANTINE#callbell")
        .collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(s(kept[0].1, "account_id"), "brand-x");

    // A status update of brand-x's message: updated, the message keeps its account and key.
    let update = body_of(&samples.status_update("cx", 1, "").unwrap());
    assert_eq!(
        send(&h, &with_token("tok-brand-x", &update)).await.1["status"],
        "updated"
    );
    assert_eq!(account("callbell#cx", "u1"), "brand-x");
}

#[tokio::test]
async fn callbell_bodies_without_an_envelope_are_kept_once_and_checks_are_not() {
    let store = Arc::new(MemoryStore::new());
    let (h, metrics) = configured::<Callbell>(Arc::clone(&store), &[]);
    let ok = json!({"status": "ok"});
    for empty in [&b""[..], b"{}", b" { } "] {
        assert_eq!(
            send(&h, &webhook(ProviderId::Callbell, empty)).await,
            (200, ok.clone())
        );
    }
    assert!(store.items().is_empty(), "a connection check keeps nothing");
    let payload = body_of(&ProviderId::Callbell.samples().message("c", 1, "x")["payload"]);
    assert_eq!(
        send(&h, &webhook(ProviderId::Callbell, &payload)).await,
        (200, ok.clone())
    );
    let items = store.items();
    assert_eq!(items.len(), 1);
    let ((pk, _), item) = items.iter().next().unwrap();
    assert_eq!(pk, "QUARANTINE#callbell");
    assert_eq!(item["raw"].as_b().unwrap().as_ref(), payload.as_slice());
    assert!(s(item, "error").contains("`event`"));
    let quarantined: Vec<u64> = metrics
        .lock()
        .unwrap()
        .iter()
        .map(|d| d["Quarantined"].as_u64().unwrap())
        .collect();
    assert_eq!(quarantined, [0, 0, 0, 1]);
}
