//! The spool and its drain on the memory store and spool (no server needed): row 7 answers
//! `accepted` once the queue took the body, with the contract's attributes; 7b when the queue
//! fails too; the happy path never touches the queue; the drain stores spooled bodies with the
//! webhook's `received_at`, retries a status before its message until its last receive,
//! quarantines what it cannot read, and reports failures as batch item failures.

mod support;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use ingest::providers::{Callbell, Partoo, Provider, TiktokShop};
use ingest::response::Answer;
use ingest::response::BatchResponse;
use ingest::spool::event::{sqs_event, sqs_record};
use ingest::spool::{MemorySpool, SpoolMessage, BASE64};
use ingest::testkit::handler;
use ingest::WebhookHandler;
use support::*;

fn spooling<P: Provider>() -> (
    WebhookHandler<P, Arc<MemoryStore>>,
    Arc<MemoryStore>,
    Arc<MemorySpool>,
) {
    let store = Arc::new(MemoryStore::new());
    let spool = Arc::new(MemorySpool::new());
    let h = handler::<P, _>(Arc::clone(&store), "t").with_spool(spool.clone());
    (h, store, spool)
}

fn webhook(id: ProviderId, body: &[u8]) -> Vec<u8> {
    signed_event(Format::HttpApiV2, id, body)
}

/// The spool's messages as the SQS event the drain gets, each on receive `count`.
fn as_event(messages: &[SpoolMessage], count: u32) -> Vec<u8> {
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
            sqs_record(&format!("m{i}"), &m.body.text, count, &attributes)
        })
        .collect();
    sqs_event(records)
}

async fn drain<P: Provider>(
    h: &WebhookHandler<P, Arc<MemoryStore>>,
    event: &[u8],
) -> BatchResponse {
    match h.handle_invocation(event).await {
        Answer::Batch(response) => response,
        Answer::Http(http) => panic!("an SQS event answered as HTTP: {http:?}"),
    }
}

fn messages(store: &MemoryStore) -> Vec<ingest::storage::Item> {
    store
        .items()
        .into_iter()
        .filter(|((_, sk), _)| sk.starts_with("MSG#"))
        .map(|(_, item)| item)
        .collect()
}

fn quarantined(store: &MemoryStore) -> Vec<(String, ingest::storage::Item)> {
    store
        .items()
        .into_iter()
        .filter(|((pk, _), _)| pk.starts_with("QUARANTINE#"))
        .map(|((pk, _), item)| (pk, item))
        .collect()
}

fn text(item: &ingest::storage::Item, name: &str) -> String {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn the_happy_path_never_calls_the_queue() {
    let (h, store, spool) = spooling::<Partoo>();
    let body = message_body(ProviderId::Partoo, "7", 1, "hi");
    let (status, body_json) = answer(&h.handle_event(&webhook(ProviderId::Partoo, &body)).await);
    assert_eq!(
        (status, body_json["status"].as_str()),
        (200, Some("stored"))
    );
    let (_, again) = answer(&h.handle_event(&webhook(ProviderId::Partoo, &body)).await);
    assert_eq!(again["status"], "duplicate");
    assert_eq!(spool.sends(), 0);
    assert_eq!(messages(&store).len(), 1);
}

#[tokio::test]
async fn an_unavailable_table_spools_the_body_and_the_drain_stores_it() {
    let (h, store, spool) = spooling::<TiktokShop>();
    let body = message_body(ProviderId::TiktokShop, "c", 1, "hi");
    store.unavailable.store(true, Ordering::SeqCst);
    let (status, body_json) = answer(
        &h.handle_event(&webhook(ProviderId::TiktokShop, &body))
            .await,
    );
    assert_eq!(
        (status, body_json),
        (200, serde_json::json!({"status": "accepted"}))
    );
    let sent = spool.messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].provider, "tiktok_shop");
    assert_eq!(sent[0].received_at, "2026-01-01T00:00:00.000Z");
    assert_eq!(
        (sent[0].body.text.as_bytes(), sent[0].body.base64),
        (&body[..], false)
    );
    assert!(messages(&store).is_empty());

    // Still down: the drain leaves it in the queue.
    let event = as_event(&sent, 1);
    assert_eq!(drain(&h, &event).await.failed_ids(), ["m0"]);
    store.unavailable.store(false, Ordering::SeqCst);
    assert!(drain(&h, &event).await.failed_ids().is_empty());
    let stored = messages(&store);
    assert_eq!(stored.len(), 1);
    assert_eq!(text(&stored[0], "received_at"), "2026-01-01T00:00:00.000Z");
    assert_eq!(raw(&stored[0]).as_bytes(), &body[..]);
    // Drained again (SQS delivers at least once): a duplicate, and it leaves the queue.
    assert!(drain(&h, &event).await.failed_ids().is_empty());
    assert_eq!(messages(&store).len(), 1);
    assert_eq!(spool.sends(), 1, "the drain never spools");
}

#[tokio::test]
async fn bodies_sqs_cannot_carry_travel_as_base64_and_come_back_exact() {
    let (h, store, spool) = spooling::<Callbell>();
    let mut message = ProviderId::Callbell.samples().message("c", 1, "x");
    ProviderId::Callbell
        .samples()
        .set_text(&mut message, "bad for SQS: \u{fffe}\u{ffff}");
    let body = body_of(&message);
    store.unavailable.store(true, Ordering::SeqCst);
    let (status, _) = answer(&h.handle_event(&webhook(ProviderId::Callbell, &body)).await);
    assert_eq!(status, 200);
    let sent = spool.messages();
    assert!(sent[0].body.base64);
    assert!(sent[0].body.text.is_ascii());
    store.unavailable.store(false, Ordering::SeqCst);
    assert!(drain(&h, &as_event(&sent, 1)).await.failed_ids().is_empty());
    assert_eq!(raw(&messages(&store)[0]).as_bytes(), &body[..]);
}

#[tokio::test]
async fn table_and_queue_both_failing_answer_503() {
    let (h, store, spool) = spooling::<Partoo>();
    store.unavailable.store(true, Ordering::SeqCst);
    spool.unavailable.store(true, Ordering::SeqCst);
    let body = message_body(ProviderId::Partoo, "7", 1, "hi");
    let (status, body_json) = answer(&h.handle_event(&webhook(ProviderId::Partoo, &body)).await);
    assert_eq!(status, 503, "{body_json}");
    assert_eq!(spool.sends(), 1);
    assert!(spool.messages().is_empty());
    // Without a spool queue, 503 as before.
    let plain = handler::<Partoo, _>(Arc::clone(&store), "t");
    let (status, _) = answer(
        &plain
            .handle_event(&webhook(ProviderId::Partoo, &body))
            .await,
    );
    assert_eq!(status, 503);
}

#[tokio::test]
async fn a_failed_quarantine_write_spools_and_the_drain_quarantines() {
    let (h, store, spool) = spooling::<Partoo>();
    store.unavailable.store(true, Ordering::SeqCst);
    let body = br#"{"type":"message_created","payload":{"message":{"id":1}}}"#;
    let (status, body_json) = answer(&h.handle_event(&webhook(ProviderId::Partoo, body)).await);
    assert_eq!(
        (status, body_json["status"].as_str()),
        (200, Some("accepted"))
    );
    store.unavailable.store(false, Ordering::SeqCst);
    assert!(drain(&h, &as_event(&spool.messages(), 1))
        .await
        .failed_ids()
        .is_empty());
    let kept = quarantined(&store);
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].0, "QUARANTINE#partoo");
    assert!(
        text(&kept[0].1, "error").contains("payload.message."),
        "{:?}",
        kept[0].1
    );
    assert_eq!(text(&kept[0].1, "received_at"), "2026-01-01T00:00:00.000Z");
}

#[tokio::test]
async fn a_status_before_its_message_is_retried_until_its_last_receive() {
    let (h, store, _) = spooling::<Callbell>();
    let samples = ProviderId::Callbell.samples();
    let status = body_of(&samples.status_update("c", 1, "").unwrap());
    let at = "2026-01-01T00:00:00.000Z";
    let record = |count| {
        sqs_event(vec![sqs_record(
            "s",
            std::str::from_utf8(&status).unwrap(),
            count,
            &[("provider", "callbell"), ("received_at", at)],
        )])
    };
    for count in 1..5 {
        assert_eq!(
            drain(&h, &record(count)).await.failed_ids(),
            ["s"],
            "receive {count}"
        );
    }
    // The fifth receive is the last (SPOOL_MAX_RECEIVES defaults to 5): ignored as row 12.
    assert!(drain(&h, &record(5)).await.failed_ids().is_empty());
    assert!(store.items().is_empty());
    // With the message stored, the same status applies at once.
    let message = message_body(ProviderId::Callbell, "c", 1, "hi");
    let (code, _) = answer(
        &h.handle_event(&webhook(ProviderId::Callbell, &message))
            .await,
    );
    assert_eq!(code, 200);
    assert!(drain(&h, &record(1)).await.failed_ids().is_empty());
    assert_eq!(text(&messages(&store)[0], "status"), "read");
    // A smaller SPOOL_MAX_RECEIVES makes an earlier receive the last.
    let (h, _, _) = spooling::<Callbell>();
    let h = h.with_max_receives(2);
    assert_eq!(drain(&h, &record(1)).await.failed_ids(), ["s"]);
    assert!(drain(&h, &record(2)).await.failed_ids().is_empty());
}

#[tokio::test]
async fn a_partoo_update_before_its_creation_is_stored_as_new() {
    let (h, store, _) = spooling::<Partoo>();
    let update = body_of(
        &ProviderId::Partoo
            .samples()
            .status_update("7", 1, "hi")
            .unwrap(),
    );
    let event = sqs_event(vec![sqs_record(
        "u",
        std::str::from_utf8(&update).unwrap(),
        1,
        &[
            ("provider", "partoo"),
            ("received_at", "2026-01-01T00:00:00.000Z"),
        ],
    )]);
    assert!(drain(&h, &event).await.failed_ids().is_empty());
    let stored = messages(&store);
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].get("deleted").and_then(|d| d.as_bool().ok()),
        Some(&true)
    );
}

#[tokio::test]
async fn malformed_records_are_quarantined_and_never_block_the_batch() {
    let (h, store, _) = spooling::<Partoo>();
    let at = "2026-01-01T00:00:00.000Z";
    let good = message_body(ProviderId::Partoo, "7", 1, "hi");
    let good = std::str::from_utf8(&good).unwrap();
    let event = sqs_event(vec![
        sqs_record("no-provider", "{\"x\":1}", 1, &[("received_at", at)]),
        sqs_record(
            "bad-base64",
            "%%%",
            1,
            &[
                ("provider", "partoo"),
                ("received_at", at),
                ("body_encoding", "base64"),
            ],
        ),
        sqs_record(
            "unknown",
            "{}",
            1,
            &[("provider", "acme"), ("received_at", at)],
        ),
        sqs_record(
            "callbell's",
            "{\"y\":2}",
            1,
            &[("provider", "callbell"), ("received_at", at)],
        ),
        sqs_record(
            "good",
            good,
            1,
            &[("provider", "partoo"), ("received_at", at)],
        ),
    ]);
    assert!(drain(&h, &event).await.failed_ids().is_empty());
    assert_eq!(messages(&store).len(), 1, "the good record is stored");
    let mut kept: Vec<(String, String)> = quarantined(&store)
        .into_iter()
        .map(|(pk, item)| (pk, text(&item, "error")))
        .collect();
    kept.sort();
    assert_eq!(kept.len(), 4, "{kept:?}");
    assert_eq!(
        kept[0].0, "QUARANTINE#callbell",
        "quarantined under the provider it names"
    );
    assert!(
        kept[0].1.contains("spooled for provider callbell"),
        "{}",
        kept[0].1
    );
    let partoo: Vec<&str> = kept[1..].iter().map(|(_, e)| e.as_str()).collect();
    for expected in [
        "provider is missing",
        "not base64",
        "unknown provider \"acme\"",
    ] {
        assert!(
            partoo.iter().any(|e| e.contains(expected)),
            "{expected}: {partoo:?}"
        );
    }

    // When even the quarantine cannot be written, they stay in the queue.
    store.unavailable.store(true, Ordering::SeqCst);
    let mut failed = drain(&h, &event)
        .await
        .failed_ids()
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    failed.sort();
    assert_eq!(
        failed,
        ["bad-base64", "callbell's", "good", "no-provider", "unknown"]
    );
}

#[tokio::test]
async fn unreadable_events_and_failures_without_an_id_fail_the_whole_batch() {
    let (h, store, _) = spooling::<Partoo>();
    let Answer::Batch(batch) = h.handle_invocation(br#"{"Records": "nope"}"#).await else {
        panic!("a Records event answered as HTTP");
    };
    assert_eq!(batch.failed_ids(), [""]);
    // Not JSON at all is no Records event: an HTTP 400, as before.
    let Answer::Http(http) = h.handle_invocation(br#"{"Records": [], "x": "#).await else {
        panic!("not JSON answered as a batch");
    };
    assert_eq!(http.status_code, 400);
    store.unavailable.store(true, Ordering::SeqCst);
    let body = message_body(ProviderId::Partoo, "7", 1, "hi");
    let event = sqs_event(vec![sqs_record(
        "",
        std::str::from_utf8(&body).unwrap(),
        1,
        &[
            ("provider", "partoo"),
            ("received_at", "2026-01-01T00:00:00.000Z"),
        ],
    )]);
    assert_eq!(drain(&h, &event).await.failed_ids(), [""]);
}
