//! The functions' handler driven the way AWS drives it — raw JSON events in each format (HTTP
//! API v2, REST API v1, function URL) — against DynamoDB Local, for every row of the contract's
//! HTTP table, checking the answer and what the table holds afterwards.

mod support;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use ingest::storage::DynamoDbStore;
use ingest::testkit::Samples;
use serde_json::json;
use support::*;

async fn handler(id: ProviderId) -> (Box<dyn AnyHandler>, Client, String) {
    let client = admin_client().await;
    let table = create_table(&client, id.function()).await;
    let handler = table_handler(id, &table, local_client().await);
    (handler, client, table)
}

async fn send(handler: &dyn AnyHandler, event: &[u8]) -> (u16, serde_json::Value) {
    answer(&handler.handle_event(event).await)
}

/// An event carrying `body` with `credentials`, to provider `id`'s function.
fn event_with(format: Format, id: ProviderId, credentials: &Credentials, body: &[u8]) -> Vec<u8> {
    event(format, id.function(), credentials, body, false)
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
    callbell_body_on("whatsapp", uuid, created_at, status, text)
}

fn callbell_body_on(
    channel: &str,
    uuid: &str,
    created_at: &str,
    status: &str,
    text: &str,
) -> String {
    format!(
        r#"{{"event":"message_created","payload":{{"uuid":"{uuid}","to":"1","from":"2","text":"{text}","status":"{status}","channel":"{channel}","contact":{{"uuid":"c1","conversationHref":"https://dash.callbell.eu/chat/chat-1","name":"John"}},"createdAt":"{created_at}"}}}}"#
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
        let (handler, client, table) = handler(ProviderId::TiktokShop).await;
        let later = tiktok_body("m-2", 200, "second", "n2");
        let earlier = tiktok_body("m-1", 100, "first", "n1");
        for (body, status) in [(&later, "stored"), (&earlier, "stored")] {
            let (code, answer) = send(
                &handler,
                &signed_event(format, ProviderId::TiktokShop, body.as_bytes()),
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
            &signed_event(format, ProviderId::TiktokShop, redelivery.as_bytes()),
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
            raw(&messages[0]),
            earlier,
            "the first delivery's body is kept"
        );
        // Two messages, nothing else (TikTok's updates never need an id item).
        assert_eq!(scan(&client, &table).await.len(), 2, "{format:?}");
    }
}

/// A message whose index another message already holds is stored right after it, and is a
/// message like any other: its redelivery is a duplicate, nothing is quarantined.
#[tokio::test]
async fn tiktok_messages_sharing_an_index_are_both_stored() {
    let (handler, client, table) = handler(ProviderId::TiktokShop).await;
    let holder = tiktok_body("m-5", 300, "first at 300", "n1");
    let twin = tiktok_body("m-6", 300, "second at 300", "n2");
    let later = tiktok_body("m-7", 301, "at 301", "n3");
    for (body, expected) in [
        (&holder, json!({"status": "stored", "message_id": "m-5"})),
        (&twin, json!({"status": "stored", "message_id": "m-6"})),
        (&later, json!({"status": "stored", "message_id": "m-7"})),
        (&twin, json!({"status": "duplicate", "message_id": "m-6"})),
    ] {
        let event = signed_event(Format::HttpApiV2, ProviderId::TiktokShop, body.as_bytes());
        assert_eq!(send(&handler, &event).await, (200, expected));
    }
    let messages = conversation(&client, &table, "tiktok_shop#conv-1").await;
    let keys: Vec<(&str, &str)> = messages
        .iter()
        .map(|m| (s(m, "sk"), s(m, "text")))
        .collect();
    assert_eq!(
        keys,
        [
            ("MSG#00000000000000000300", "first at 300"),
            ("MSG#00000000000000000300#m-6", "second at 300"),
            ("MSG#00000000000000000301", "at 301"),
        ]
    );
    let items = scan(&client, &table).await;
    assert!(items.iter().all(|i| !s(i, "pk").starts_with("QUARANTINE#")));
    assert_eq!(items.len(), 3, "three messages (and no id items)");
}

/// Base64 bodies are verified and stored on their decoded bytes.
#[tokio::test]
async fn base64_bodies_are_decoded_before_verification() {
    for format in FORMATS {
        let (handler, client, table) = handler(ProviderId::Partoo).await;
        let body = partoo_body(
            "message_created",
            9,
            "2023-01-31 16:22:17.327878+00:00",
            "Sending",
            false,
        );
        let credentials = ingest::providers::Partoo.sign(body.as_bytes(), NOW);
        let event = event(format, "partoo", &credentials, body.as_bytes(), true);
        let (code, answer) = send(&*handler, &event).await;
        assert_eq!(
            (code, answer["status"].as_str()),
            (200, Some("stored")),
            "{format:?}: {answer}"
        );
        let messages = conversation(&client, &table, "partoo#77").await;
        assert_eq!(raw(&messages[0]), body);
    }
}

/// Rows 8, 10, 11 for Partoo: created, updated forward only, deleted; an update for a message
/// never seen is stored as new.
#[tokio::test]
async fn partoo_updates_move_forward_and_unknown_updates_are_stored() {
    for format in FORMATS {
        let (handler, client, table) = handler(ProviderId::Partoo).await;
        let date = "2023-01-31 16:22:17.327878+00:00";
        let handler = &handler;
        let send_body = |body: String| {
            let event = signed_event(format, ProviderId::Partoo, body.as_bytes());
            async move { send(&**handler, &event).await }
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
            raw(first).contains(r#""type":"message_created""#),
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
        let (handler, client, table) = handler(ProviderId::Callbell).await;
        let body = callbell_body(
            "out-1",
            "2022-10-18T12:06:29.000+02:00",
            "sent",
            "Your order shipped",
        );
        let (code, a) = send(
            &handler,
            &signed_event(format, ProviderId::Callbell, body.as_bytes()),
        )
        .await;
        assert_eq!((code, a["status"].as_str()), (200, Some("stored")), "{a}");

        // A retry is re-signed with a new t; the token authenticates too.
        let callbell = ingest::providers::Callbell;
        let resigned = callbell.sign(body.as_bytes(), NOW - 200);
        let retry = event_with(format, ProviderId::Callbell, &resigned, body.as_bytes());
        let (_, a) = send(&*handler, &retry).await;
        assert_eq!(a["status"], "duplicate", "{format:?}");
        let token = callbell.sign_lasting(body.as_bytes());
        assert!(token.headers.is_empty(), "the URL token alone");
        let with_token = event_with(format, ProviderId::Callbell, &token, body.as_bytes());
        let (_, a) = send(&*handler, &with_token).await;
        assert_eq!(a["status"], "duplicate", "{format:?}");

        for (status, expected) in [
            ("delivered", "updated"),
            ("read", "updated"),
            ("delivered", "ignored"),
        ] {
            let update = callbell_status("out-1", status);
            let (_, a) = send(
                &handler,
                &signed_event(format, ProviderId::Callbell, update.as_bytes()),
            )
            .await;
            assert_eq!(a["status"], expected, "{format:?} {status}: {a}");
        }
        let unknown = callbell_status("never-seen", "read");
        let (_, a) = send(
            &handler,
            &signed_event(format, ProviderId::Callbell, unknown.as_bytes()),
        )
        .await;
        assert_eq!(a, json!({"status": "ignored", "reason": "unknown_message"}));

        let messages = conversation(&client, &table, "callbell#chat-1").await;
        assert_eq!(messages.len(), 1);
        assert_eq!(s(&messages[0], "status"), "read");
        assert_eq!(s(&messages[0], "sk"), "MSG#2022-10-18T10:06:29.000Z#out-1");
    }
}

/// Callbell's status updates come for what the business sent on WhatsApp only, so only that
/// keeps an id item: a message sent on another channel, or received, is one item, a
/// redelivery of it a duplicate, and a status update naming it (which Callbell does not send)
/// is row 12's update of an unknown message, changing nothing.
#[tokio::test]
async fn callbell_id_items_only_for_whatsapp_messages_the_business_sent() {
    let (handler, client, table) = handler(ProviderId::Callbell).await;
    let cases = [
        ("whatsapp", "wa-sent", "sent", true),
        ("whatsapp", "wa-received", "received", false),
        ("telegram", "tg-sent", "sent", false),
        ("instagram", "ig-sent", "sent", false),
    ];
    for (n, (channel, uuid, status, _)) in cases.iter().enumerate() {
        let created_at = format!("2022-10-18T12:06:2{n}.000+02:00");
        let body = callbell_body_on(channel, uuid, &created_at, status, "hello");
        for expected in ["stored", "duplicate"] {
            let (code, a) = send(
                &handler,
                &signed_event(Format::HttpApiV2, ProviderId::Callbell, body.as_bytes()),
            )
            .await;
            assert_eq!(
                (code, a["status"].as_str()),
                (200, Some(expected)),
                "{uuid}: {a}"
            );
        }
    }
    let items = scan(&client, &table).await;
    for (_, uuid, _, by_id) in cases {
        let id_sk = format!("ID#{uuid}");
        assert_eq!(
            items.iter().any(|i| s(i, "sk") == id_sk),
            by_id,
            "{uuid}: an id item only for a message sent on WhatsApp"
        );
    }
    assert_eq!(items.len(), cases.len() + 1, "four messages, one id item");

    for (_, uuid, _, by_id) in cases {
        let update = callbell_status(uuid, "read");
        let (code, a) = send(
            &handler,
            &signed_event(Format::HttpApiV2, ProviderId::Callbell, update.as_bytes()),
        )
        .await;
        let expected = if by_id {
            json!({"status": "updated", "message_id": uuid})
        } else {
            json!({"status": "ignored", "reason": "unknown_message"})
        };
        assert_eq!((code, a), (200, expected), "{uuid}");
    }
    let statuses: Vec<(String, String)> = conversation(&client, &table, "callbell#chat-1")
        .await
        .iter()
        .map(|m| (s(m, "message_id").to_string(), s(m, "status").to_string()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("wa-sent".to_string(), "read".to_string()),
            ("wa-received".to_string(), "received".to_string()),
            ("tg-sent".to_string(), "sent".to_string()),
            ("ig-sent".to_string(), "sent".to_string()),
        ]
    );
}

/// Row 9's conflict: the same id with other content keeps the first item and is counted as a
/// conflict; a redelivery in a new envelope is a plain duplicate.
#[tokio::test]
async fn a_different_body_for_a_stored_id_keeps_the_first() {
    let (_, client, table) = handler(ProviderId::TiktokShop).await;
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
    let handler = any_handler(
        ProviderId::TiktokShop,
        HandlerSpec {
            metrics: Some(sink),
            ..HandlerSpec::new(DynamoDbStore::new(local_client().await, &table), &table)
        },
    );
    let first = tiktok_body("m-1", 1, "original", "n1");
    let new_envelope = tiktok_body("m-1", 1, "original", "n1-again");
    let changed = tiktok_body("m-1", 1, "tampered", "n1");
    for body in [&first, &new_envelope, &changed] {
        let event = signed_event(Format::HttpApiV2, ProviderId::TiktokShop, body.as_bytes());
        let (code, _) = send(&*handler, &event).await;
        assert_eq!(code, 200);
    }
    assert_eq!(*conflicts.lock().unwrap(), [0, 0, 1]);
    let messages = conversation(&client, &table, "tiktok_shop#conv-1").await;
    assert_eq!(messages.len(), 1);
    assert_eq!(s(&messages[0], "text"), "original");
    assert_eq!(raw(&messages[0]), first);
}

/// Rows 1–3 for every provider: nothing is stored for misconfiguration, bad events and
/// forgeries.
#[tokio::test]
async fn requests_that_store_nothing() {
    for format in FORMATS {
        for id in ProviderId::ALL.iter().copied() {
            let (handler, client, table) = handler(id).await;
            let message = message_body(id, "conv", 1, "x");
            let signed = signed_event(format, id, &message);
            let oversized = vec![b' '; 128 * 1024 + 1];
            let not_base64 = {
                let mut e: serde_json::Value = serde_json::from_slice(&signed).unwrap();
                e["isBase64Encoded"] = true.into();
                e["body"] = "*** not base64 ***".into();
                serde_json::to_vec(&e).unwrap()
            };
            let unsigned = Credentials::default();
            let for_another_body = id.samples().sign(b"{}", NOW);
            let cases: Vec<(Vec<u8>, u16)> = vec![
                (event_with(format, id, &unsigned, &oversized), 413),
                (not_base64, 400),
                (event_with(format, id, &unsigned, &message), 401),
                (event_with(format, id, &for_another_body, &message), 401),
                (
                    event_with(format, id, &id.samples().forge(&message, NOW), &message),
                    401,
                ),
            ];
            for (i, (event, status)) in cases.iter().enumerate() {
                let (code, answer) = send(&*handler, event).await;
                assert_eq!(code, *status, "{format:?} {id} case {i}: {answer}");
                assert!(
                    answer["error"].as_str().is_some_and(|e| !e.is_empty()),
                    "{answer}"
                );
            }
            assert!(
                scan(&client, &table).await.is_empty(),
                "{format:?} {id}: nothing stored"
            );

            // Row 1: a misconfigured function answers 500 to everything, even a valid message.
            let broken = id.visit(Misconfigured(DynamoDbStore::new(client.clone(), &table)));
            let (code, answer) = send(&*broken, &signed).await;
            assert_eq!((code, answer["error"].is_string()), (500, true));
            let (code, _) = send(&*broken, b"not even an event").await;
            assert_eq!(code, 500);
            assert!(scan(&client, &table).await.is_empty());
        }
    }
}

/// A handler whose function has no configuration at all.
struct Misconfigured(DynamoDbStore);

impl ingest::providers::ProviderVisitor for Misconfigured {
    type Output = Box<dyn AnyHandler>;
    fn visit<P: ingest::Provider>(self) -> Box<dyn AnyHandler> {
        Box::new(ingest::WebhookHandler::<P, _>::new(
            ingest::Settings::from_lookup(|_| None),
            self.0,
        ))
    }
}

/// Rows 4 and 5: authentic events that are not messages are acknowledged, and store nothing.
#[tokio::test]
async fn events_that_are_not_messages_store_nothing() {
    let ignored = json!({"status":"ignored","reason":"not_a_message_event"});
    let tryout = json!({"status":"ignored","reason":"tryout"});
    let ok = json!({"status":"ok"});
    let partoo_message = message_body(ProviderId::Partoo, "77", 1, "x");
    let mut tryout_credentials = ingest::providers::Partoo.sign(&partoo_message, NOW);
    tryout_credentials
        .headers
        .push(("X-Partoo-Webhook-Tryout".into(), "true".into()));
    let cases: Vec<(ProviderId, Vec<u8>, u16, serde_json::Value)> = vec![
        (
            ProviderId::TiktokShop,
            br#"{"type":1,"data":{"order_id":"1"}}"#.to_vec(),
            200,
            ignored.clone(),
        ),
        (
            ProviderId::TiktokShop,
            br#"{"type":13,"data":{"conversation_id":"1","create_time":1}}"#.to_vec(),
            200,
            ignored.clone(),
        ),
        (
            ProviderId::Partoo,
            br#"{"type":"lead_received","payload":{}}"#.to_vec(),
            200,
            ignored.clone(),
        ),
        (
            ProviderId::Partoo,
            br#"{"type":"business_updated","payload":{}}"#.to_vec(),
            200,
            ignored.clone(),
        ),
        (
            ProviderId::Callbell,
            br#"{"event":"contact_created","payload":{"uuid":"c"}}"#.to_vec(),
            200,
            ignored.clone(),
        ),
        (ProviderId::Callbell, b"".to_vec(), 200, ok.clone()),
        (ProviderId::Callbell, b"{}".to_vec(), 200, ok.clone()),
    ];
    for format in FORMATS {
        for (id, body, status, expected) in &cases {
            let (handler, client, table) = handler(*id).await;
            let (code, answer) = send(&*handler, &signed_event(format, *id, body)).await;
            assert_eq!((code, &answer), (*status, expected), "{format:?} {id}");
            assert!(scan(&client, &table).await.is_empty(), "{format:?} {id}");
        }
        let (partoo, client, table) = handler(ProviderId::Partoo).await;
        let event = event_with(
            format,
            ProviderId::Partoo,
            &tryout_credentials,
            &partoo_message,
        );
        assert_eq!(send(&*partoo, &event).await, (200, tryout.clone()));
        // A connection check must authenticate too.
        let unsigned = event_with(format, ProviderId::Callbell, &Credentials::default(), b"");
        let (callbell, _, _) = handler(ProviderId::Callbell).await;
        assert_eq!(send(&*callbell, &unsigned).await.0, 401);
        assert!(scan(&client, &table).await.is_empty());
    }
}

/// Row 6: an authentic body that can't be a message is answered 400 naming the field, and kept
/// in quarantine with its exact bytes.
#[tokio::test]
async fn authentic_invalid_bodies_are_quarantined() {
    for id in ProviderId::ALL.iter().copied() {
        let (handler, client, table) = handler(id).await;
        let shape = id.samples().shape();
        let mut missing_id = id.samples().message("conv", 1, "x");
        let (last, parents) = shape.message_id.split_last().unwrap();
        let mut node = &mut missing_id;
        for key in parents {
            node = &mut node[*key];
        }
        node.as_object_mut().unwrap().remove(*last);
        let missing_id = body_of(&missing_id);
        let required = (!shape.message_id_optional).then(|| shape.message_id.join("."));
        let cases = [
            (
                missing_id.as_slice(),
                required.as_deref(),
                !shape.message_id_optional,
            ),
            (b"{not json".as_slice(), None, true),
        ];
        let mut quarantined = Vec::new();
        for (body, field, invalid) in cases {
            let (code, answer) = send(&*handler, &signed_event(Format::HttpApiV2, id, body)).await;
            if !invalid {
                assert_eq!(code, 200, "{id}: {answer}");
                continue;
            }
            assert_eq!(code, 400, "{id}: {answer}");
            assert_eq!(answer["field"].as_str(), field, "{id}: {answer}");
            quarantined.push(body);
        }
        let items: Vec<_> = scan(&client, &table)
            .await
            .into_iter()
            .filter(|item| s(item, "pk").starts_with("QUARANTINE#"))
            .collect();
        assert_eq!(items.len(), quarantined.len(), "{id}");
        for item in &items {
            assert_eq!(s(item, "pk"), format!("QUARANTINE#{id}"));
            assert!(s(item, "sk").starts_with("2026-01-01T00:00:00.000Z#"));
            assert!(!s(item, "error").is_empty());
            let raw = item
                .get("raw")
                .and_then(|r| r.as_b().ok())
                .expect("raw is binary");
            assert!(quarantined.contains(&raw.as_ref()), "{id}: the exact body");
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
    let down = table_handler(ProviderId::TiktokShop, &table, Client::from_conf(config));
    let body = tiktok_body("m-1", 1, "hello", "n1");
    let event = signed_event(Format::HttpApiV2, ProviderId::TiktokShop, body.as_bytes());
    let (code, answer) = send(&down, &event).await;
    assert_eq!((code, answer["error"].is_string()), (503, true), "{answer}");
    let invalid = signed_event(Format::HttpApiV2, ProviderId::TiktokShop, br#"{"type":14}"#);
    assert_eq!(
        send(&down, &invalid).await.0,
        503,
        "a failed quarantine write is a 503 too"
    );

    let up = table_handler(ProviderId::TiktokShop, &table, client.clone());
    let (code, answer) = send(&up, &event).await;
    assert_eq!((code, answer["status"].as_str()), (200, Some("stored")));
    assert_eq!(
        conversation(&client, &table, "tiktok_shop#conv-1")
            .await
            .len(),
        1
    );
}

/// (3) `raw` is a binary holding the body gzip-compressed (RFC 1952: any gzip reads it back to
/// the exact bytes received, accents and emoji included), `body_sha256` the body's SHA-256 in
/// hex, `schema_version` 3 — for every provider, and in the sample bodies as committed
/// (pretty-printed, a trailing newline).
#[tokio::test]
async fn raw_is_the_exact_body_gzipped_beside_its_sha256() {
    use std::io::Read;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/bodies");
    for id in ProviderId::ALL.iter().copied() {
        let (handler, client, table) = handler(id).await;
        let sample = root
            .join(id.function())
            .join(id.samples().shape().text_sample);
        let bodies = [
            message_body(id, "raw", 1, "olá, ça va? 👋"),
            std::fs::read(&sample).unwrap(),
        ];
        for body in &bodies {
            let (code, answer) = send(&*handler, &signed_event(Format::HttpApiV2, id, body)).await;
            assert_eq!(
                (code, answer["status"].as_str()),
                (200, Some("stored")),
                "{id}: {answer}"
            );
            let item = scan(&client, &table)
                .await
                .into_iter()
                .find(|i| {
                    s(i, "sk").starts_with("MSG#") && s(i, "message_id") == answer["message_id"]
                })
                .expect("its message item");
            let packed = item["raw"]
                .as_b()
                .expect("raw is a binary")
                .as_ref()
                .to_vec();
            let mut unpacked = Vec::new();
            flate2::read::GzDecoder::new(packed.as_slice())
                .read_to_end(&mut unpacked)
                .expect("raw is a gzip stream");
            assert_eq!(&unpacked, body, "{id}: raw unpacks to the exact body");
            assert!(packed.len() < body.len(), "{id}: compressed");
            assert_eq!(
                s(&item, "body_sha256"),
                sha256_hex(body),
                "{id}: body_sha256"
            );
            assert_eq!(item["schema_version"].as_n().unwrap(), "3");
            // Redelivered: a duplicate, the item as it was.
            let (_, answer) = send(&*handler, &signed_event(Format::HttpApiV2, id, body)).await;
            assert_eq!(answer["status"], "duplicate", "{id}");
        }
    }
}
