//! Each request writes exactly one summary log line (provider, outcome, status, conversation and
//! message ids, duration — never the body or a secret) and one EMF metrics document, for every
//! outcome the contract names.

mod support;

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use ingest::providers::{Callbell, Partoo, TiktokShop};
use ingest::telemetry::{json_logs, MetricsSink};
use ingest::testkit::settings;
use ingest::Settings;
use ingest::WebhookHandler;
use serde_json::Value;
use support::*;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn take_lines(&self) -> Vec<Value> {
        let bytes = std::mem::take(&mut *self.0.lock().unwrap());
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line: {l}: {e}"))
            })
            .collect()
    }
}

/// The local secrets, none of which may ever appear in a log line or metrics document.
fn secret_markers() -> Vec<&'static str> {
    [
        "TIKTOK_SHOP_APP_SECRET",
        "CALLBELL_WEBHOOK_SECRET",
        "CALLBELL_URL_TOKEN",
    ]
    .into_iter()
    .map(ingest::testkit::local)
    .collect()
}

#[tokio::test]
async fn one_summary_line_and_one_metrics_document_per_request() {
    let logs = Captured::default();
    let writer = logs.clone();
    let _guard = tracing::subscriber::set_default(json_logs(
        ingest::telemetry::log_filter("info"),
        move || writer.clone(),
    ));
    let metrics: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = {
        let metrics = Arc::clone(&metrics);
        MetricsSink::new(move |line| metrics.lock().unwrap().push(line.to_string()))
    };

    let tiktok = |text: &str, id: &str| {
        let content = serde_json::to_string(&format!(r#"{{"content":"{text}"}}"#)).unwrap();
        format!(
            r#"{{"type":14,"shop_id":"s","data":{{"content":{content},"conversation_id":"conv-9","create_time":1681790246,"message_id":"{id}","index":"5","type":"TEXT","sender":{{"role":"BUYER"}}}}}}"#
        )
    };
    let secret_text = "the customer's private words";
    let message = tiktok(secret_text, "m-1");
    let handler = WebhookHandler::new(Ok(settings::<TiktokShop>("t")), MemoryStore::new())
        .with_clock(pinned_now)
        .with_metrics(sink.clone());
    let signed =
        |body: &str| signed_event(Format::HttpApiV2, ProviderId::TiktokShop, body.as_bytes());

    type Case<'a> = (&'a str, u16, Vec<u8>, Option<(&'a str, &'a str)>);
    let mut cases: Vec<Case> = vec![
        ("stored", 200, signed(&message), Some(("conv-9", "m-1"))),
        ("duplicate", 200, signed(&message), Some(("conv-9", "m-1"))),
        ("ignored", 200, signed(r#"{"type":1,"data":{}}"#), None),
        (
            "unauthorized",
            401,
            event(
                Format::HttpApiV2,
                "tiktok-shop",
                &Credentials::default(),
                message.as_bytes(),
                false,
            ),
            None,
        ),
        (
            "invalid",
            400,
            signed(r#"{"type":14,"data":{"conversation_id":"c"}}"#),
            None,
        ),
        (
            "too_large",
            413,
            event(
                Format::HttpApiV2,
                "tiktok-shop",
                &Credentials::default(),
                &vec![b'x'; 200_000],
                false,
            ),
            None,
        ),
    ];
    for (outcome, status, event, ids) in cases.drain(..) {
        handler.handle_event(&event).await;
        check(&logs, &metrics, outcome, status, ids);
    }

    handler.store().unavailable.store(true, Ordering::SeqCst);
    handler.handle_event(&signed(&tiktok("x", "m-2"))).await;
    check(&logs, &metrics, "unavailable", 503, Some(("conv-9", "m-2")));

    // Row 7: the same, with a spool queue that takes it.
    let spool = Arc::new(ingest::spool::MemorySpool::new());
    let spooling = WebhookHandler::new(Ok(settings::<TiktokShop>("t")), MemoryStore::new())
        .with_clock(pinned_now)
        .with_metrics(sink.clone())
        .with_spool(spool.clone());
    spooling.store().unavailable.store(true, Ordering::SeqCst);
    spooling.handle_event(&signed(&tiktok("x", "m-3"))).await;
    check(&logs, &metrics, "spooled", 200, Some(("conv-9", "m-3")));
    // Drained while the table is still down: one line and one document, left for a retry.
    let sent = &spool.messages()[0];
    let record = ingest::spool::event::sqs_record(
        "sqs-1",
        &sent.body.text,
        2,
        &[
            ("provider", sent.provider.name()),
            ("received_at", &sent.received_at),
        ],
    );
    spooling
        .handle_invocation(&ingest::spool::event::sqs_event(vec![record]))
        .await;
    let lines = logs.take_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert_eq!(line["message"], "spooled message handled", "{line}");
    assert_eq!(
        (
            line["outcome"].as_str(),
            line["retry"].as_bool(),
            line["source"].as_str()
        ),
        (Some("unavailable"), Some(true), Some("spool")),
        "{line}"
    );
    assert_eq!(
        (
            line["sqs_message_id"].as_str(),
            line["receive_count"].as_u64()
        ),
        (Some("sqs-1"), Some(2))
    );
    assert_eq!(line["message_id"], "m-3");
    assert!(!line.to_string().contains("private words"));
    let documents: Vec<Value> = metrics
        .lock()
        .unwrap()
        .drain(..)
        .map(|l| serde_json::from_str(&l).unwrap())
        .collect();
    assert_eq!(documents.len(), 1);
    assert_eq!(
        (
            documents[0]["Drained"].as_u64(),
            documents[0]["DrainRetries"].as_u64()
        ),
        (Some(1), Some(1)),
        "{}",
        documents[0]
    );

    let partoo = WebhookHandler::new(Ok(settings::<Partoo>("t")), MemoryStore::new())
        .with_metrics(sink.clone());
    let created = r#"{"type":"message_created","payload":{"message":{"id":3,"conversation_id":4,"date":"2023-01-31 16:22:17+00:00","sender_type":"User","status":"Sending"}}}"#;
    partoo
        .handle_event(&signed_event(
            Format::HttpApiV2,
            ProviderId::Partoo,
            created.as_bytes(),
        ))
        .await;
    check(&logs, &metrics, "stored", 200, Some(("4", "3")));
    let updated = created
        .replace("message_created", "message_updated")
        .replace("Sending", "Success");
    partoo
        .handle_event(&signed_event(
            Format::HttpApiV2,
            ProviderId::Partoo,
            updated.as_bytes(),
        ))
        .await;
    check(&logs, &metrics, "updated", 200, Some(("4", "3")));

    let broken =
        WebhookHandler::<Callbell, _>::new(Settings::from_lookup(|_| None), MemoryStore::new())
            .with_metrics(sink);
    // The misconfiguration is logged once, when the handler is built.
    let at_start = logs.take_lines();
    assert_eq!(at_start.len(), 1);
    assert_eq!(at_start[0]["level"], "ERROR");
    broken
        .handle_event(&signed_event(
            Format::HttpApiV2,
            ProviderId::Callbell,
            b"{}",
        ))
        .await;
    check(&logs, &metrics, "misconfigured", 500, None);

    fn check(
        logs: &Captured,
        metrics: &Arc<Mutex<Vec<String>>>,
        outcome: &str,
        status: u16,
        ids: Option<(&str, &str)>,
    ) {
        let lines = logs.take_lines();
        let summaries: Vec<&Value> = lines
            .iter()
            .filter(|l| l["message"] == "request handled")
            .collect();
        assert_eq!(summaries.len(), 1, "{outcome}: {lines:?}");
        let line = summaries[0];
        assert_eq!(line["outcome"], outcome, "{line}");
        assert_eq!(line["status"], status, "{line}");
        assert!(line["provider"].is_string(), "{line}");
        assert!(
            line["duration_ms"].as_f64().is_some_and(|d| d >= 0.0),
            "{line}"
        );
        match ids {
            Some((conversation, message)) => {
                assert_eq!(
                    (
                        line["conversation_id"].as_str(),
                        line["message_id"].as_str()
                    ),
                    (Some(conversation), Some(message))
                );
            }
            None => assert!(line.get("message_id").is_none(), "{line}"),
        }
        for l in &lines {
            let text = l.to_string();
            assert!(
                !text.contains("private words"),
                "the body leaked into a log: {text}"
            );
            for secret in secret_markers() {
                assert!(!text.contains(secret), "a secret leaked into a log: {text}");
            }
        }
        let documents: Vec<Value> = metrics
            .lock()
            .unwrap()
            .drain(..)
            .map(|l| serde_json::from_str(&l).unwrap())
            .collect();
        assert_eq!(documents.len(), 1, "{outcome}");
        let doc = &documents[0];
        assert_eq!(doc["Outcome"], outcome);
        assert_eq!(doc["Requests"], 1);
        assert!(doc["Latency"].as_f64().is_some());
        assert_eq!(doc["Quarantined"], u8::from(outcome == "invalid"), "{doc}");
        assert_eq!(doc["Spooled"], u8::from(outcome == "spooled"), "{doc}");
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "MessageIngest"
        );
    }
}
