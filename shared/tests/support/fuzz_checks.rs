//! The checks of the fuzz targets in `fuzz/`, shared with `tests/fuzz_regressions.rs` so that a
//! saved input is checked exactly as the fuzzer checked it. A check returns normally when every
//! invariant holds and panics (naming the invariant) when one does not.
//!
//! Self-contained on purpose: `fuzz/src/lib.rs` includes this file by path, so it uses nothing
//! of `support/mod.rs` (whose signing and event shapes it copies) and only crates that both the
//! fuzz crate and these tests have.
//!
//! The secrets are `local.env`'s local development values, so that the signed sample events of
//! `events/` (the `event_decoding` seeds) pass authentication and reach the parsers.

use std::collections::HashMap;
use std::sync::OnceLock;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey};
use hmac::{Hmac, KeyInit, Mac};
use ingest::error::{Invalid, Rejected};
use ingest::handler::Handler;
use ingest::inbound::{IfUnknown, Inbound};
use ingest::message::{format_timestamp, Message};
use ingest::request::{PayloadVersion, Request, MAX_BODY_BYTES};
use ingest::response::HttpResponse;
use ingest::store::{message_item, MemoryStore};
use ingest::telemetry::MetricsSink;
use ingest::{Provider, Settings};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The fuzz targets, as `fuzz/fuzz_targets/<name>.rs` and `fuzz/regressions/<name>/` name them.
pub const TARGETS: [&str; 4] = ["event_decoding", "tiktok_shop", "partoo", "callbell"];

// local.env's development values (published on purpose; never deployed).
pub const TIKTOK_APP_KEY: &str = "local-tiktok-app-key";
pub const TIKTOK_APP_SECRET: &str = "local-tiktok-app-secret";
/// RFC 8032 test 1: `local.env` lists its public key in `PARTOO_PUBLIC_KEYS`.
pub const PARTOO_SECRET_KEY: &str =
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
pub const PARTOO_PUBLIC_KEY: &str =
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
pub const CALLBELL_SECRET: &str = "whsec_bG9jYWwtY2FsbGJlbGwtc2lnbmluZy1rZXk=";
pub const CALLBELL_TOKEN: &str = "local-callbell-url-token";
/// The handlers' pinned clock (2026-01-01T00:00:00Z): Callbell signatures are made for it, and
/// a redelivery's quarantine key is the first one's.
pub const NOW: i64 = 1_767_225_600;

/// Runs the check of `target` (one of [`TARGETS`]) on one input; returns what the handler
/// answered, in short (`200 stored`, or one such per provider for `event_decoding`).
pub fn check(target: &str, data: &[u8]) -> String {
    match target {
        "event_decoding" => check_event(data),
        "tiktok_shop" => check_body(Provider::TiktokShop, data),
        "partoo" => check_body(Provider::Partoo, data),
        "callbell" => check_body(Provider::Callbell, data),
        other => panic!("unknown fuzz target {other:?}; expected one of {TARGETS:?}"),
    }
}

fn pinned_now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(NOW, 0).expect("NOW is a valid time")
}

fn settings(provider: Provider) -> Settings {
    static SETTINGS: OnceLock<[Settings; 3]> = OnceLock::new();
    let all = SETTINGS.get_or_init(|| {
        let vars = HashMap::from([
            ("TABLE_NAME", "messages"),
            ("TIKTOK_SHOP_APP_KEY", TIKTOK_APP_KEY),
            ("TIKTOK_SHOP_APP_SECRET", TIKTOK_APP_SECRET),
            ("PARTOO_PUBLIC_KEYS", PARTOO_PUBLIC_KEY),
            ("CALLBELL_WEBHOOK_SECRET", CALLBELL_SECRET),
            ("CALLBELL_URL_TOKEN", CALLBELL_TOKEN),
        ]);
        Provider::ALL.map(|provider| {
            Settings::from_lookup(provider, |name| vars.get(name).map(|v| v.to_string()))
                .expect("the fuzz settings are complete")
        })
    });
    let index = Provider::ALL.iter().position(|p| *p == provider).unwrap();
    all[index].clone()
}

/// A handler on a fresh, empty memory store: every input starts from the same state, so a
/// crash reproduces from its input alone. Metrics go nowhere; the clock is pinned.
fn handler(provider: Provider) -> Handler<MemoryStore> {
    Handler::new(provider, Ok(settings(provider)), MemoryStore::new())
        .with_clock(pinned_now)
        .with_metrics(MetricsSink::new(|_| {}))
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime");
}

fn answer_of(handler: &Handler<MemoryStore>, event: &[u8]) -> HttpResponse {
    RUNTIME.with(|runtime| runtime.block_on(handler.handle_event(event)))
}

type Items = HashMap<(String, String), HashMap<String, AttributeValue>>;

fn hmac_hex(key: &[u8], parts: &[&[u8]]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    hex::encode(mac.finalize().into_bytes())
}

fn partoo_signature(body: &[u8]) -> [u8; 64] {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    let key = KEY.get_or_init(|| {
        let mut secret = [0u8; 32];
        hex::decode_to_slice(PARTOO_SECRET_KEY, &mut secret).expect("64 hex digits");
        SigningKey::from_bytes(&secret)
    });
    key.sign(body).to_bytes()
}

/// The three event shapes a function receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    HttpApiV2,
    RestApiV1,
    FunctionUrl,
}

/// How a body is delivered: chosen from the body itself (not from extra input bytes), so the
/// fuzzed bytes are exactly the body and every seed body is delivered as the provider sent it.
#[derive(Clone, Copy, Debug)]
struct Delivery {
    format: Format,
    base64: bool,
    /// Callbell: authenticate with the signature rather than the URL token.
    callbell_signature: bool,
}

impl Delivery {
    fn of(body: &[u8]) -> Delivery {
        let n = body.len();
        Delivery {
            format: [Format::HttpApiV2, Format::RestApiV1, Format::FunctionUrl][n % 3],
            // Bytes that are not UTF-8 can only travel base64-encoded; a quarter of the rest too.
            base64: std::str::from_utf8(body).is_err() || (n / 3) % 4 == 0,
            callbell_signature: (n / 12) % 2 == 1,
        }
    }
}

/// Header or query name/value pairs.
type Pairs = Vec<(String, String)>;

/// The headers and query of a genuine call for `body`; `forge` spoils the credential.
fn credentials(provider: Provider, body: &[u8], delivery: Delivery, forge: bool) -> (Pairs, Pairs) {
    match provider {
        Provider::TiktokShop => {
            let mut signature = hmac_hex(
                TIKTOK_APP_SECRET.as_bytes(),
                &[TIKTOK_APP_KEY.as_bytes(), body],
            );
            if forge {
                let last = if signature.ends_with('0') { "1" } else { "0" };
                signature.replace_range(63.., last);
            }
            (vec![("Authorization".into(), signature)], vec![])
        }
        Provider::Partoo => {
            let mut signature = partoo_signature(body);
            if forge {
                signature[0] ^= 1;
            }
            let encoded = base64::engine::general_purpose::STANDARD.encode(signature);
            (vec![("X-Partoo-Signature-v1".into(), encoded)], vec![])
        }
        Provider::Callbell if delivery.callbell_signature => {
            let t = NOW.to_string();
            let key = if forge {
                "whsec_forged"
            } else {
                CALLBELL_SECRET
            };
            let v1 = hmac_hex(key.as_bytes(), &[t.as_bytes(), b".", body]);
            (
                vec![("X-Callbell-Signature".into(), format!("t={t},v1={v1}"))],
                vec![],
            )
        }
        Provider::Callbell => {
            let token = if forge {
                "forged-token"
            } else {
                CALLBELL_TOKEN
            };
            (vec![], vec![("token".into(), token.into())])
        }
    }
}

/// A complete event as AWS would send it (the shapes of `support::event`).
fn event(
    provider: Provider,
    delivery: Delivery,
    headers: &[(String, String)],
    query: &[(String, String)],
    body: &[u8],
) -> Vec<u8> {
    let format = delivery.format;
    let body_text = if delivery.base64 {
        base64::engine::general_purpose::STANDARD.encode(body)
    } else {
        String::from_utf8(body.to_vec()).expect("plain bodies are UTF-8")
    };
    let path = format!("/webhooks/{}", provider.function_name());
    let raw_query = query
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
    let query_map: serde_json::Map<String, Value> = query
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().into()))
        .collect();
    let query_value = if query.is_empty() {
        Value::Null
    } else {
        query_map.into()
    };
    let value = match format {
        Format::HttpApiV2 | Format::FunctionUrl => {
            let route_key = if format == Format::HttpApiV2 {
                format!("POST {path}")
            } else {
                "$default".into()
            };
            json!({
                "version": "2.0",
                "routeKey": route_key,
                "rawPath": path,
                "rawQueryString": raw_query,
                "headers": header_map,
                "queryStringParameters": query_value,
                "requestContext": {
                    "accountId": "123456789012", "apiId": "fuzz", "domainName": "fuzz.example",
                    "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "fuzz"},
                    "requestId": "fuzz-1", "routeKey": route_key, "stage": "$default",
                    "time": "01/Jan/2026:00:00:00 +0000", "timeEpoch": NOW * 1000
                },
                "body": body_text,
                "isBase64Encoded": delivery.base64
            })
        }
        Format::RestApiV1 => {
            let multi: serde_json::Map<String, Value> = header_map
                .iter()
                .map(|(k, v)| (k.clone(), json!([v])))
                .collect();
            json!({
                "resource": path, "path": path, "httpMethod": "POST",
                "headers": header_map, "multiValueHeaders": multi,
                "queryStringParameters": query_value,
                "multiValueQueryStringParameters": null,
                "pathParameters": null, "stageVariables": null,
                "requestContext": {"accountId": "123456789012", "resourceId": "r", "stage": "prod", "requestId": "fuzz-1",
                    "httpMethod": "POST", "path": path, "identity": {"sourceIp": "127.0.0.1"}, "resourcePath": path, "apiId": "fuzz"},
                "body": body_text,
                "isBase64Encoded": delivery.base64
            })
        }
    };
    serde_json::to_vec(&value).expect("an event serializes")
}

/// The provider's parser, called directly.
fn parse_directly(provider: Provider, body: &[u8]) -> Result<Inbound, Invalid> {
    // As `ingest::providers::parse` does before any provider reads the body.
    if std::str::from_utf8(body).is_err() {
        return Err(Invalid::body("body is not valid UTF-8, so not JSON"));
    }
    match provider {
        Provider::TiktokShop => ingest::providers::tiktok_shop::parse(body),
        Provider::Partoo => ingest::providers::partoo::parse(body),
        Provider::Callbell => ingest::providers::callbell::parse(body),
    }
}

/// Arbitrary bytes as one provider's body, authentic: the handler's answer and what it stored
/// must be exactly what the parser says the body is (contract, "HTTP behaviour"); a redelivery
/// changes nothing; the same body with a spoiled credential is 401 and stores nothing.
pub fn check_body(provider: Provider, body: &[u8]) -> String {
    let direct = parse_directly(provider, body);
    // Normalization and item building, on their own.
    match &direct {
        Ok(Inbound::Message(message)) => {
            check_message_item(provider, &message_item(&delivered(message, body)))
        }
        Ok(Inbound::Update(update)) => {
            assert_eq!(update.provider, provider, "an update names its provider");
            assert!(
                !update.conversation_id.trim().is_empty() && !update.message_id.trim().is_empty()
            );
            if let IfUnknown::StoreAsNew(message) = &update.if_unknown {
                assert_eq!(
                    (&message.conversation_id, &message.message_id),
                    (&update.conversation_id, &update.message_id),
                    "an update's message is the one it updates"
                );
                check_message_item(provider, &message_item(&delivered(message, body)));
            }
        }
        _ => {}
    }

    let delivery = Delivery::of(body);
    let (headers, query) = credentials(provider, body, delivery, false);
    let genuine = event(provider, delivery, &headers, &query, body);
    let handler = handler(provider);
    let response = answer_of(&handler, &genuine);
    let items = handler.store().items();
    let (status, answer) = check_answer(provider, &response, &Items::new(), &items);
    assert_eq!(
        response.cookies.is_some(),
        delivery.format != Format::RestApiV1,
        "payload 2.0 answers carry cookies, 1.0 answers don't"
    );

    let expected_answer = if body.len() > MAX_BODY_BYTES {
        assert_eq!(status, 413, "a body over 128 KiB is too large");
        None
    } else {
        Some(match &direct {
            Err(invalid) => {
                assert_eq!(
                    status, 400,
                    "an authentic body the parser rejects ({invalid}) is 400"
                );
                check_quarantined(provider, body, &invalid.to_string(), &items);
                match &invalid.field {
                    Some(field) => json!({"error": invalid.reason, "field": field}),
                    None => json!({"error": invalid.reason}),
                }
            }
            Ok(Inbound::Ignored(reason)) => {
                assert!(items.is_empty(), "an ignored event stores nothing");
                json!({"status": "ignored", "reason": reason})
            }
            Ok(Inbound::ConnectionCheck) => {
                assert!(items.is_empty(), "a connection check stores nothing");
                json!({"status": "ok"})
            }
            Ok(Inbound::Message(message)) => check_stored(body, message, &items),
            Ok(Inbound::Update(update)) => match &update.if_unknown {
                // Row 11: on an empty table a Partoo update is stored as new.
                IfUnknown::StoreAsNew(message) => check_stored(body, message, &items),
                // Row 12.
                IfUnknown::Ignore => {
                    assert!(
                        items.is_empty(),
                        "an update of an unknown message stores nothing"
                    );
                    json!({"status": "ignored", "reason": "unknown_message"})
                }
            },
        })
    };
    if let Some(expected) = expected_answer {
        assert_eq!(answer, expected, "the answer says what the parser found");
    }

    // A redelivery (row 9): the same answer status, the table unchanged.
    let again = answer_of(&handler, &genuine);
    let items_again = handler.store().items();
    let (status_again, answer_again) = check_answer(provider, &again, &items, &items_again);
    assert_eq!(status_again, status, "a redelivery gets the same status");
    assert!(items_again == items, "a redelivery changes nothing stored");
    if answer["status"] == "stored" {
        let expected = match &direct {
            Ok(Inbound::Update(_)) => json!({"status": "ignored", "reason": "no_change"}),
            _ => json!({"status": "duplicate", "message_id": answer["message_id"]}),
        };
        assert_eq!(answer_again, expected, "a stored message delivered again");
    } else {
        assert_eq!(answer_again, answer, "a redelivery gets the same answer");
    }

    // The same body with a spoiled credential (row 3).
    let (headers, query) = credentials(provider, body, delivery, true);
    let forged = event(provider, delivery, &headers, &query, body);
    let handler = self::handler(provider);
    let response = answer_of(&handler, &forged);
    let items = handler.store().items();
    let (status, _) = check_answer(provider, &response, &Items::new(), &items);
    let expected = if body.len() > MAX_BODY_BYTES {
        413
    } else {
        401
    };
    assert_eq!(status, expected, "a spoiled credential is refused");
    assert!(items.is_empty(), "nothing is stored for a refused request");
    summary(status_again, &answer)
}

fn summary(status: u16, answer: &Value) -> String {
    let outcome = answer["status"].as_str().unwrap_or("error");
    match answer["reason"].as_str() {
        Some(reason) => format!("{status} {outcome} {reason}"),
        None => format!("{status} {outcome}"),
    }
}

/// What a stored message must leave in the table: exactly its message item (the parser's
/// message with the delivery details the handler adds) and its id item. Returns the answer.
fn check_stored(body: &[u8], message: &Message, items: &Items) -> Value {
    let expected = delivered(message, body);
    let pk = expected.partition_key();
    let message_sk = expected.sort_key();
    let id_sk = format!("ID#{}", expected.message_id);
    assert_eq!(
        items.len(),
        2,
        "a stored message is one message item and one id item"
    );
    let stored = items
        .get(&(pk.clone(), message_sk.clone()))
        .expect("a stored message has its message item");
    assert!(
        *stored == message_item(&expected),
        "the message item is the parser's message: stored {stored:?}, parsed {:?}",
        message_item(&expected)
    );
    let id_item = items
        .get(&(pk, id_sk))
        .expect("a stored message has its id item");
    assert_eq!(
        id_item.get("message_sk"),
        Some(&AttributeValue::S(message_sk)),
        "the id item points at the message item"
    );
    assert_eq!(
        id_item.get("body_sha256"),
        Some(&AttributeValue::S(hex::encode(Sha256::digest(body)))),
        "the id item keeps the body's SHA-256"
    );
    json!({"status": "stored", "message_id": expected.message_id})
}

/// The parser's message with what the handler adds at first receipt: the body and the time.
fn delivered(message: &Message, body: &[u8]) -> Message {
    let mut message = message.clone();
    // (A body that is not UTF-8 is never stored, but its message item can still be built.)
    message.raw = String::from_utf8_lossy(body).into_owned();
    message.received_at = format_timestamp(pinned_now());
    message
}

/// Row 6: exactly one quarantine item, holding the exact body and the error.
fn check_quarantined(provider: Provider, body: &[u8], error: &str, items: &Items) {
    assert_eq!(
        items.len(),
        1,
        "a rejected authentic body is one quarantine item"
    );
    let ((pk, sk), item) = items.iter().next().unwrap();
    let received_at = format_timestamp(pinned_now());
    assert_eq!(*pk, format!("QUARANTINE#{}", provider.as_str()));
    assert_eq!(
        *sk,
        format!("{received_at}#{}", hex::encode(Sha256::digest(body)))
    );
    assert_eq!(
        item.get("raw")
            .and_then(|raw| raw.as_b().ok())
            .map(|b| b.as_ref()),
        Some(body),
        "the quarantine item keeps the exact body"
    );
    assert_eq!(
        item.get("error"),
        Some(&AttributeValue::S(error.to_string()))
    );
    assert_eq!(
        item.get("received_at"),
        Some(&AttributeValue::S(received_at))
    );
}

/// The invariants of every answer, whatever the input: a contract status, a JSON object body
/// of the contract's shape, and a table that changed only as that answer allows (`before` and
/// `after` the request). Returns the status and the decoded body.
pub fn check_answer(
    provider: Provider,
    response: &HttpResponse,
    before: &Items,
    after: &Items,
) -> (u16, Value) {
    let status = response.status_code;
    assert!(
        [200, 400, 401, 413, 500, 503].contains(&status),
        "status {status} is not one of the contract's"
    );
    assert_eq!(response.headers.content_type, "application/json");
    assert!(!response.is_base64_encoded);
    let body: Value = serde_json::from_str(&response.body)
        .unwrap_or_else(|e| panic!("the answer body is not JSON ({e}): {:?}", response.body));
    let object = body
        .as_object()
        .unwrap_or_else(|| panic!("the answer body is not a JSON object: {body}"));
    let text = |name: &str| object.get(name).and_then(Value::as_str);

    for ((pk, sk), item) in after {
        if pk.starts_with("QUARANTINE#") {
            assert_eq!(*pk, format!("QUARANTINE#{}", provider.as_str()));
        } else {
            assert!(
                pk.starts_with(&format!("{}#", provider.as_str())),
                "item key {pk:?} is not this provider's"
            );
            if sk.starts_with("MSG#") {
                check_message_item(provider, item);
            } else {
                assert!(sk.starts_with("ID#"), "unexpected item {pk:?} {sk:?}");
            }
        }
    }
    // Items the request added or changed, and whether it removed any.
    let written: Vec<&(String, String)> = after
        .iter()
        .filter(|(key, item)| before.get(*key) != Some(*item))
        .map(|(key, _)| key)
        .collect();
    assert!(
        before.keys().all(|key| after.contains_key(key)),
        "a request removed an item"
    );
    let unchanged = written.is_empty();

    if status == 200 {
        let outcome = text("status").unwrap_or_else(|| panic!("a 200 answer has a status: {body}"));
        match outcome {
            "ignored" => {
                let reason = text("reason").unwrap_or_else(|| panic!("no reason: {body}"));
                assert!(
                    !reason.is_empty()
                        && reason.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                    "reason {reason:?} is not snake_case"
                );
                assert!(unchanged, "an ignored request stored {written:?}");
            }
            "ok" => assert!(unchanged, "a connection check stored {written:?}"),
            "duplicate" => assert!(unchanged, "a duplicate stored {written:?}"),
            "updated" => {
                assert_eq!(written.len(), 1, "an update changes one item: {written:?}");
                assert!(
                    before.contains_key(written[0]) && written[0].1.starts_with("MSG#"),
                    "an update changes a stored message item, not {written:?}"
                );
            }
            "stored" => {
                let id = text("message_id").unwrap_or_else(|| panic!("no message_id: {body}"));
                // The message item and its id item are new, and nothing else changed.
                let id_key = written
                    .iter()
                    .find(|(pk, sk)| !pk.starts_with("QUARANTINE#") && *sk == format!("ID#{id}"))
                    .unwrap_or_else(|| panic!("stored {id:?} but wrote no id item: {written:?}"));
                let message_sk = after[*id_key]
                    .get("message_sk")
                    .and_then(|v| v.as_s().ok())
                    .expect("an id item names its message item");
                let message_key = (id_key.0.clone(), message_sk.clone());
                let message = after
                    .get(&message_key)
                    .unwrap_or_else(|| panic!("stored {id:?} but its message item is missing"));
                assert_eq!(
                    message.get("message_id"),
                    Some(&AttributeValue::S(id.to_string()))
                );
                assert!(
                    written.len() == 2 && written.contains(&&message_key),
                    "a stored message writes its message item and its id item only: {written:?}"
                );
                assert!(
                    !before.contains_key(*id_key) && !before.contains_key(&message_key),
                    "stored over an existing item"
                );
            }
            other => panic!("a 200 answer with status {other:?}"),
        }
        if outcome != "ok" && outcome != "ignored" {
            let id = text("message_id").unwrap_or_else(|| panic!("no message_id: {body}"));
            assert!(!id.trim().is_empty(), "an empty message_id: {body}");
        }
    } else {
        assert!(
            text("error").is_some_and(|e| !e.is_empty()),
            "a {status} answer has an error: {body}"
        );
        if status == 400 {
            // Nothing but a quarantine item (row 6; rejected events store nothing at all).
            assert!(
                written.len() <= 1 && written.iter().all(|(pk, _)| pk.starts_with("QUARANTINE#")),
                "a 400 wrote more than a quarantine item: {written:?}"
            );
        } else {
            assert!(unchanged, "a {status} answer stored {written:?}");
        }
    }
    (status, body)
}

/// A message item as the contract describes it: its keys, its provider, no empty strings, no
/// number that is not a finite number.
pub fn check_message_item(provider: Provider, item: &HashMap<String, AttributeValue>) {
    let s = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
            .unwrap_or_else(|| panic!("message item without {name}: {item:?}"))
    };
    assert_eq!(s("provider"), provider.as_str());
    assert_eq!(
        s("pk"),
        format!("{}#{}", provider.as_str(), s("conversation_id"))
    );
    assert!(s("sk").starts_with("MSG#") && s("sk").len() > 4);
    assert!(
        item.get("schema_version") == Some(&AttributeValue::N("1".into())),
        "schema_version is 1"
    );
    for name in ["conversation_id", "message_id", "created_at"] {
        assert!(!s(name).trim().is_empty(), "{name} is empty");
    }
    for (name, value) in item {
        check_attribute(name, value);
    }
}

fn check_attribute(path: &str, value: &AttributeValue) {
    match value {
        AttributeValue::S(s) => assert!(
            !s.trim().is_empty(),
            "attribute {path} is an empty string (the contract never stores one)"
        ),
        AttributeValue::N(n) => assert!(
            n.parse::<f64>().is_ok_and(f64::is_finite),
            "attribute {path} is not a finite number: {n:?}"
        ),
        AttributeValue::M(map) => {
            for (name, value) in map {
                check_attribute(&format!("{path}.{name}"), value);
            }
        }
        AttributeValue::L(list) => {
            for (i, value) in list.iter().enumerate() {
                check_attribute(&format!("{path}[{i}]"), value);
            }
        }
        _ => {}
    }
}

/// Arbitrary bytes as a Lambda event: reading it never panics, a read body is the event's body
/// exactly, and each provider's handler answers it within the contract (row 2 for what cannot
/// be read; otherwise authentication decides, and nothing unauthenticated is stored).
pub fn check_event(event: &[u8]) -> String {
    let read = Request::from_event(event);
    if let Ok(request) = &read {
        assert!(
            request.body().len() <= MAX_BODY_BYTES,
            "an accepted body is at most 128 KiB"
        );
        // Header and query lookups are total.
        for name in [
            "authorization",
            "x-partoo-signature-v1",
            "x-callbell-signature",
        ] {
            let _ = request.header(name);
            let _ = request.has_header(name);
        }
        let _ = request.query_values("token").count();
        if let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(event) {
            let base64 = fields.get("isBase64Encoded") == Some(&Value::Bool(true));
            match fields.get("body") {
                None | Some(Value::Null) => assert!(request.body().is_empty()),
                Some(Value::String(text)) if !base64 => assert!(
                    request.body() == text.as_bytes(),
                    "the body read is not the event's body"
                ),
                Some(Value::String(text)) => {
                    let decoded = base64::engine::general_purpose::STANDARD
                        .decode(text.trim_end())
                        .expect("an accepted base64 body decodes");
                    assert!(request.body() == decoded, "the decoded body differs");
                }
                Some(other) => panic!("an event whose body is {other} was accepted"),
            }
        }
    }
    let mut answers = Vec::new();
    for provider in Provider::ALL {
        let handler = handler(provider);
        let response = answer_of(&handler, event);
        let items = handler.store().items();
        let (status, answer) = check_answer(provider, &response, &Items::new(), &items);
        answers.push(format!("{provider}: {}", summary(status, &answer)));
        match &read {
            Err(Rejected::TooLarge(_)) => assert_eq!(status, 413, "too large: 413"),
            Err(_) => assert_eq!(status, 400, "an unreadable event: 400"),
            Ok(request) => {
                assert!(
                    [200, 400, 401].contains(&status),
                    "a readable event got {status}"
                );
                assert_eq!(
                    response.cookies.is_some(),
                    request.payload_version == PayloadVersion::V2,
                    "payload 2.0 answers carry cookies, 1.0 answers don't"
                );
                if status == 400 {
                    // Authentic but not a message: quarantined.
                    assert_eq!(items.len(), 1, "an authentic invalid body is quarantined");
                }
            }
        }
    }
    answers.join(", ")
}
