//! The functions' handler driven the way AWS drives it — raw JSON events in each format (HTTP
//! API v2, REST API v1, function URL) — against DynamoDB Local, for every row of the contract's
//! HTTP table, checking the answer and what the table holds afterwards.

mod support;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use ingest::handler::Handler;
use ingest::store::DynamoDbStore;
use ingest::{Provider, Settings};
use serde_json::json;
use support::*;

async fn handler(provider: Provider) -> (Handler<DynamoDbStore>, Client, String) {
    let client = admin_client().await;
    let table = create_table(&client, provider.function_name()).await;
    let store = DynamoDbStore::new(local_client().await, &table);
    let handler =
        Handler::new(provider, Ok(settings(provider, &table)), store).with_clock(pinned_now);
    (handler, client, table)
}

async fn send(handler: &Handler<DynamoDbStore>, event: &[u8]) -> (u16, serde_json::Value) {
    answer(&handler.handle_event(event).await)
}

fn tiktok_body(message_id: &str, index: u64, text: &str, envelope_id: &str) -> String {
    let content = serde_json::to_string(&json!({"content": text}).to_string()).unwrap();
    format!(
        r#"{{"type":14,"tts_notification_id":"{envelope_id}","shop_id":"7494049642642441621","timestamp":1644412885,"data":{{"content":{content},"conversation_id":"conv-1","create_time":1681790246,"is_visible":true,"message_id":"{message_id}","index":"{index}","type":"TEXT","sender":{{"im_user_id":"u1","role":"BUYER"}}}}}}"#
    )
}

fn partoo_body(kind: &str, id: u64, date: &str, status: &str, deleted: bool) -> String {
    format!(
        r#"{{"type":"{kind}","payload":{{"message":{{"id":{id},"conversation_id":77,"date":"{date}","content_type":"Text","sender_type":"User","sender_label":"Jane","status":"{status}","is_deleted":{deleted},"is_automated":false,"content":"hello {id}","user_id":"u1"}},"conversation":{{"id":77,"consumer_name":"John","messaging_partner":"Whatsapp"}},"org_id":5}}}}"#
    )
}

fn callbell_body(uuid: &str, created_at: &str, status: &str, text: &str) -> String {
    format!(
        r#"{{"event":"message_created","payload":{{"uuid":"{uuid}","to":"1","from":"2","text":"{text}","status":"{status}","channel":"whatsapp","contact":{{"uuid":"c1","conversationHref":"https://dash.callbell.eu/chat/chat-1","name":"John"}},"createdAt":"{created_at}"}}}}"#
    )
}

fn callbell_status(uuid: &str, status: &str) -> String {
    format!(
        r#"{{"event":"message_status_updated","payload":{{"uuid":"{uuid}","status":"{status}","contact":{{"uuid":"c1","conversationHref":"https://dash.callbell.eu/chat/chat-1"}}}}}}"#
    )
}

/// Rows 8 and 9 for TikTok, in every format: stored once, redeliveries (new envelope id,
/// re-signed) are duplicates, the conversation reads back in index order.
#[tokio::test]
async fn tiktok_stores_once_in_index_order() {
    for format in FORMATS {
        let (handler, client, table) = handler(Provider::TiktokShop).await;
        let later = tiktok_body("m-2", 200, "second", "n2");
        let earlier = tiktok_body("m-1", 100, "first", "n1");
        for (body, status) in [(&later, "stored"), (&earlier, "stored")] {
            let (code, answer) = send(
                &handler,
                &signed_event(format, Provider::TiktokShop, body.as_bytes()),
            )
            .await;
            assert_eq!(
                (code, answer["status"].as_str()),
                (200, Some(status)),
                "{format:?}: {answer}"
            );
        }
        let redelivery = tiktok_body("m-1", 100, "first", "n1-retry");
        let (code, answer) = send(
            &handler,
            &signed_event(format, Provider::TiktokShop, redelivery.as_bytes()),
        )
        .await;
        assert_eq!(
            (code, answer),
            (200, json!({"status": "duplicate", "message_id": "m-1"})),
            "{format:?}"
        );

        let messages = conversation(&client, &table, "tiktok_shop#conv-1").await;
        let texts: Vec<&str> = messages.iter().map(|m| s(m, "text")).collect();
        assert_eq!(texts, ["first", "second"], "{format:?}");
        assert_eq!(s(&messages[0], "sk"), "MSG#00000000000000000100");
        assert_eq!(
            s(&messages[0], "raw"),
            earlier,
            "the first delivery's body is kept"
        );
        // Two messages, two id items, nothing else.
        assert_eq!(scan(&client, &table).await.len(), 4, "{format:?}");
    }
}

/// Base64 bodies are verified and stored on their decoded bytes.
#[tokio::test]
async fn base64_bodies_are_decoded_before_verification() {
    for format in FORMATS {
        let (handler, client, table) = handler(Provider::Partoo).await;
        let body = partoo_body(
            "message_created",
            9,
            "2023-01-31 16:22:17.327878+00:00",
            "Sending",
            false,
        );
        let (headers, query) = credentials(Provider::Partoo, body.as_bytes(), NOW);
        let event = event(
            format,
            Provider::Partoo,
            &headers,
            &query,
            body.as_bytes(),
            true,
        );
        let (code, answer) = send(&handler, &event).await;
        assert_eq!(
            (code, answer["status"].as_str()),
            (200, Some("stored")),
            "{format:?}: {answer}"
        );
        let messages = conversation(&client, &table, "partoo#77").await;
        assert_eq!(s(&messages[0], "raw"), body);
    }
}

/// Rows 8, 10, 11 for Partoo: created, updated forward only, deleted; an update for a message
/// never seen is stored as new.
#[tokio::test]
async fn partoo_updates_move_forward_and_unknown_updates_are_stored() {
    for format in FORMATS {
        let (handler, client, table) = handler(Provider::Partoo).await;
        let date = "2023-01-31 16:22:17.327878+00:00";
        let handler = &handler;
        let send_body = |body: String| {
            let event = signed_event(format, Provider::Partoo, body.as_bytes());
            async move { send(handler, &event).await }
        };
        let (code, a) = send_body(partoo_body("message_created", 1, date, "Sending", false)).await;
        assert_eq!((code, a["status"].as_str()), (200, Some("stored")), "{a}");
        let (_, a) = send_body(partoo_body("message_updated", 1, date, "Success", false)).await;
        assert_eq!(
            a,
            json!({"status": "updated", "message_id": "1"}),
            "{format:?}"
        );
        // A late "Sending" must not move the status back.
        let (_, a) = send_body(partoo_body("message_updated", 1, date, "Sending", false)).await;
        assert_eq!(
            a,
            json!({"status": "ignored", "reason": "no_change"}),
            "{format:?}"
        );
        let (_, a) = send_body(partoo_body("message_updated", 1, date, "Success", true)).await;
        assert_eq!(a["status"], "updated", "{format:?}");
        // Row 11.
        let (_, a) = send_body(partoo_body(
            "message_updated",
            2,
            "2023-01-31 16:23:00+00:00",
            "Success",
            false,
        ))
        .await;
        assert_eq!(
            a,
            json!({"status": "stored", "message_id": "2"}),
            "{format:?}"
        );

        let messages = conversation(&client, &table, "partoo#77").await;
        assert_eq!(messages.len(), 2);
        let first = &messages[0];
        assert_eq!(
            (s(first, "message_id"), s(first, "status")),
            ("1", "success")
        );
        assert_eq!(first.get("deleted"), Some(&AttributeValue::Bool(true)));
        assert_eq!(s(first, "updated_at"), "2026-01-01T00:00:00.000Z");
        assert!(
            s(first, "raw").contains(r#""type":"message_created""#),
            "raw keeps the first delivery"
        );
        assert_eq!(
            s(&messages[1], "sk"),
            "MSG#2023-01-31T16:23:00.000Z#00000000000000000002"
        );
    }
}

/// Rows 8, 9, 10, 12 for Callbell, authenticated by signature in one format and by URL token
/// in another: re-signed redeliveries are duplicates; status updates never go backwards.
#[tokio::test]
async fn callbell_statuses_and_redeliveries() {
    for format in FORMATS {
        let (handler, client, table) = handler(Provider::Callbell).await;
        let body = callbell_body(
            "out-1",
            "2022-10-18T12:06:29.000+02:00",
            "sent",
            "Your order shipped",
        );
        let (code, a) = send(
            &handler,
            &signed_event(format, Provider::Callbell, body.as_bytes()),
        )
        .await;
        assert_eq!((code, a["status"].as_str()), (200, Some("stored")), "{a}");

        // A retry is re-signed with a new t; the token authenticates too.
        let (headers, query) = credentials(Provider::Callbell, body.as_bytes(), NOW - 200);
        let (_, a) = send(
            &handler,
            &event(
                format,
                Provider::Callbell,
                &headers,
                &query,
                body.as_bytes(),
                false,
            ),
        )
        .await;
        assert_eq!(a["status"], "duplicate", "{format:?}");
        let token = [("token".to_string(), CALLBELL_TOKEN.to_string())];
        let (_, a) = send(
            &handler,
            &event(
                format,
                Provider::Callbell,
                &[],
                &token,
                body.as_bytes(),
                false,
            ),
        )
        .await;
        assert_eq!(a["status"], "duplicate", "{format:?}");

        for (status, expected) in [
            ("delivered", "updated"),
            ("read", "updated"),
            ("delivered", "ignored"),
        ] {
            let update = callbell_status("out-1", status);
            let (_, a) = send(
                &handler,
                &signed_event(format, Provider::Callbell, update.as_bytes()),
            )
            .await;
            assert_eq!(a["status"], expected, "{format:?} {status}: {a}");
        }
        let unknown = callbell_status("never-seen", "read");
        let (_, a) = send(
            &handler,
            &signed_event(format, Provider::Callbell, unknown.as_bytes()),
        )
        .await;
        assert_eq!(a, json!({"status": "ignored", "reason": "unknown_message"}));

        let messages = conversation(&client, &table, "callbell#chat-1").await;
        assert_eq!(messages.len(), 1);
        assert_eq!(s(&messages[0], "status"), "read");
        assert_eq!(s(&messages[0], "sk"), "MSG#2022-10-18T10:06:29.000Z#out-1");
    }
}

/// Row 9's conflict: the same id with other content keeps the first item and is counted as a
/// conflict; a redelivery in a new envelope is a plain duplicate.
#[tokio::test]
async fn a_different_body_for_a_stored_id_keeps_the_first() {
    let (handler, client, table) = handler(Provider::TiktokShop).await;
    let conflicts = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = {
        let conflicts = std::sync::Arc::clone(&conflicts);
        ingest::telemetry::MetricsSink::new(move |line| {
            let doc: serde_json::Value = serde_json::from_str(line).unwrap();
            conflicts
                .lock()
                .unwrap()
                .push(doc["Conflicts"].as_u64().unwrap());
        })
    };
    let handler = handler.with_metrics(sink);
    let first = tiktok_body("m-1", 1, "original", "n1");
    let new_envelope = tiktok_body("m-1", 1, "original", "n1-again");
    let changed = tiktok_body("m-1", 1, "tampered", "n1");
    for body in [&first, &new_envelope, &changed] {
        let event = signed_event(Format::HttpApiV2, Provider::TiktokShop, body.as_bytes());
        let (code, _) = send(&handler, &event).await;
        assert_eq!(code, 200);
    }
    assert_eq!(*conflicts.lock().unwrap(), [0, 0, 1]);
    let messages = conversation(&client, &table, "tiktok_shop#conv-1").await;
    assert_eq!(messages.len(), 1);
    assert_eq!(s(&messages[0], "text"), "original");
    assert_eq!(s(&messages[0], "raw"), first);
}

/// Rows 1–5: nothing is stored for misconfiguration, bad events, forgeries, other events and
/// connection checks.
#[tokio::test]
async fn requests_that_store_nothing() {
    for format in FORMATS {
        for provider in Provider::ALL {
            let (handler, client, table) = handler(provider).await;
            let message = match provider {
                Provider::TiktokShop => tiktok_body("m", 1, "x", "n"),
                Provider::Partoo => partoo_body(
                    "message_created",
                    1,
                    "2023-01-31 16:22:17+00:00",
                    "Sending",
                    false,
                ),
                Provider::Callbell => callbell_body("u", "2022-10-18T10:06:29Z", "received", "x"),
            };
            let signed = |body: &str| signed_event(format, provider, body.as_bytes());
            let mut cases: Vec<(Vec<u8>, u16, serde_json::Value)> = vec![
                // Row 2.
                (
                    event(
                        format,
                        provider,
                        &[],
                        &[],
                        &vec![b' '; 128 * 1024 + 1],
                        false,
                    ),
                    413,
                    json!(null),
                ),
                (
                    {
                        let mut e: serde_json::Value =
                            serde_json::from_slice(&signed(&message)).unwrap();
                        e["isBase64Encoded"] = true.into();
                        e["body"] = "*** not base64 ***".into();
                        serde_json::to_vec(&e).unwrap()
                    },
                    400,
                    json!(null),
                ),
                // Row 3: unsigned, and signed for another body.
                (
                    event(format, provider, &[], &[], message.as_bytes(), false),
                    401,
                    json!(null),
                ),
                (
                    {
                        let (h, q) = credentials(provider, b"{}", NOW);
                        event(format, provider, &h, &q, message.as_bytes(), false)
                    },
                    401,
                    json!(null),
                ),
            ];
            // Row 4 and 5.
            match provider {
                Provider::TiktokShop => {
                    cases.push((
                        signed(r#"{"type":1,"data":{"order_id":"1"}}"#),
                        200,
                        json!({"status":"ignored","reason":"not_a_message_event"}),
                    ));
                    cases.push((
                        signed(r#"{"type":13,"data":{"conversation_id":"1","create_time":1}}"#),
                        200,
                        json!({"status":"ignored","reason":"not_a_message_event"}),
                    ));
                }
                Provider::Partoo => {
                    cases.push((
                        signed(r#"{"type":"lead_received","payload":{}}"#),
                        200,
                        json!({"status":"ignored","reason":"not_a_message_event"}),
                    ));
                    cases.push((
                        signed(r#"{"type":"business_updated","payload":{}}"#),
                        200,
                        json!({"status":"ignored","reason":"not_a_message_event"}),
                    ));
                    let (mut h, q) = credentials(provider, message.as_bytes(), NOW);
                    h.push(("X-Partoo-Webhook-Tryout".into(), "true".into()));
                    cases.push((
                        event(format, provider, &h, &q, message.as_bytes(), false),
                        200,
                        json!({"status":"ignored","reason":"tryout"}),
                    ));
                }
                Provider::Callbell => {
                    cases.push((
                        signed(r#"{"event":"contact_created","payload":{"uuid":"c"}}"#),
                        200,
                        json!({"status":"ignored","reason":"not_a_message_event"}),
                    ));
                    cases.push((signed(""), 200, json!({"status":"ok"})));
                    cases.push((signed("{}"), 200, json!({"status":"ok"})));
                    // A connection check must authenticate too.
                    cases.push((
                        event(format, provider, &[], &[], b"", false),
                        401,
                        json!(null),
                    ));
                }
            }
            for (i, (event, status, body)) in cases.iter().enumerate() {
                let (code, answer) = send(&handler, event).await;
                assert_eq!(code, *status, "{format:?} {provider} case {i}: {answer}");
                if body.is_null() {
                    assert!(
                        answer["error"].as_str().is_some_and(|e| !e.is_empty()),
                        "{answer}"
                    );
                } else {
                    assert_eq!(&answer, body, "{format:?} {provider} case {i}");
                }
            }
            assert!(
                scan(&client, &table).await.is_empty(),
                "{format:?} {provider}: nothing stored"
            );

            // Row 1: a misconfigured function answers 500 to everything, even a valid message.
            let store = DynamoDbStore::new(client.clone(), &table);
            let broken = Handler::new(provider, Settings::from_lookup(provider, |_| None), store);
            let (code, answer) = send(&broken, &signed(&message)).await;
            assert_eq!((code, answer["error"].is_string()), (500, true));
            let (code, _) = send(&broken, b"not even an event").await;
            assert_eq!(code, 500);
            assert!(scan(&client, &table).await.is_empty());
        }
    }
}

/// Row 6: an authentic body that can't be a message is answered 400 naming the field, and kept
/// in quarantine with its exact bytes.
#[tokio::test]
async fn authentic_invalid_bodies_are_quarantined() {
    for provider in Provider::ALL {
        let (handler, client, table) = handler(provider).await;
        let (body, field) = match provider {
            Provider::TiktokShop => (
                r#"{"type":14,"data":{"conversation_id":"c"}}"#,
                Some("data.message_id"),
            ),
            Provider::Partoo => (
                r#"{"type":"message_created","payload":{"message":{"id":1}}}"#,
                Some("payload.message.conversation_id"),
            ),
            Provider::Callbell => (
                r#"{"event":"message_created","payload":{"contact":{"uuid":"c"},"status":"sent"}}"#,
                Some("payload.createdAt"),
            ),
        };
        for (body, field) in [(body, field), ("{not json", None)] {
            let (code, answer) = send(
                &handler,
                &signed_event(Format::HttpApiV2, provider, body.as_bytes()),
            )
            .await;
            assert_eq!(code, 400, "{provider}: {answer}");
            assert_eq!(answer["field"].as_str(), field, "{provider}: {answer}");
        }
        let items = scan(&client, &table).await;
        assert_eq!(items.len(), 2, "{provider}");
        for item in &items {
            assert_eq!(s(item, "pk"), format!("QUARANTINE#{provider}"));
            assert!(s(item, "sk").starts_with("2026-01-01T00:00:00.000Z#"));
            assert!(!s(item, "error").is_empty());
            let raw = item
                .get("raw")
                .and_then(|r| r.as_b().ok())
                .expect("raw is binary");
            assert!(raw.as_ref() == body.as_bytes() || raw.as_ref() == b"{not json");
        }
    }
}

/// Row 7: a table that can't be reached answers 503, for messages and for quarantine writes;
/// once it is back, the provider's retry stores the message.
#[tokio::test]
async fn unreachable_table_answers_503_and_the_retry_stores() {
    let client = admin_client().await;
    let table = create_table(&client, "unreachable").await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = local_client()
        .await
        .config()
        .to_builder()
        .endpoint_url(format!("http://{closed}"))
        .build();
    let down = table_handler(Provider::TiktokShop, &table, Client::from_conf(config));
    let body = tiktok_body("m-1", 1, "hello", "n1");
    let event = signed_event(Format::HttpApiV2, Provider::TiktokShop, body.as_bytes());
    let (code, answer) = send(&down, &event).await;
    assert_eq!((code, answer["error"].is_string()), (503, true), "{answer}");
    let invalid = signed_event(Format::HttpApiV2, Provider::TiktokShop, br#"{"type":14}"#);
    assert_eq!(
        send(&down, &invalid).await.0,
        503,
        "a failed quarantine write is a 503 too"
    );

    let up = table_handler(Provider::TiktokShop, &table, client.clone());
    let (code, answer) = send(&up, &event).await;
    assert_eq!((code, answer["status"].as_str()), (200, Some("stored")));
    assert_eq!(
        conversation(&client, &table, "tiktok_shop#conv-1")
            .await
            .len(),
        1
    );
}
