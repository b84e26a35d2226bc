//! The fuzz targets' checks (`fuzz/`), here so that `shared/tests/fuzz_regressions.rs` runs
//! exactly the same checks on every saved input. A check returns normally when every invariant
//! holds and panics (naming the invariant) when one does not.
//!
//! Two targets: `event_decoding` (any bytes as a Lambda event, through every provider's
//! handler) and `webhook_body` (`<provider>\n<body>`: any bytes as that provider's body,
//! authentic). The provider is named in the input so that one target covers every provider of
//! the registry, and a saved input keeps meaning the same provider.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::events::{event, Format};
use super::{handler, pinned_now, settings, Credentials, MemoryStore, NOW};
use crate::error::{Invalid, Rejected};
use crate::handler::WebhookHandler;
use crate::message::{format_timestamp, Message};
use crate::providers::{Provider, ProviderId, ProviderVisitor};
use crate::request::{Invocation, PayloadVersion, Request, MAX_BODY_BYTES};
use crate::response::{Answer, HttpResponse};
use crate::spool::event::read_event;
use crate::storage::keys::{id_sort_key, quarantine_key, MessageKeys, QUARANTINE_PREFIX};
use crate::storage::{message_item, Fingerprint};
use crate::webhook::{IfUnknown, Webhook};

/// The fuzz targets, as `fuzz/fuzz_targets/<name>.rs` names them.
pub const TARGETS: [&str; 2] = ["event_decoding", "webhook_body"];

/// Runs the check of `target` (one of [`TARGETS`]) on one input; returns what the handler
/// answered, in short (`200 stored`, or one such per provider for `event_decoding`).
pub fn check(target: &str, data: &[u8]) -> String {
    match target {
        "event_decoding" => check_event(data),
        "webhook_body" => check_webhook_body(data),
        other => panic!("unknown fuzz target {other:?}; expected one of {TARGETS:?}"),
    }
}

/// `<provider>\n<body>`: the body as the named provider's. An input naming no provider says
/// nothing (the fuzzer learns the names from the seeds).
pub fn check_webhook_body(data: &[u8]) -> String {
    let Some(newline) = data.iter().position(|b| *b == b'\n') else {
        return "no provider".into();
    };
    let name = std::str::from_utf8(&data[..newline]).unwrap_or("");
    match ProviderId::find(name) {
        Some(id) => check_body(id, &data[newline + 1..]),
        None => "no provider".into(),
    }
}

/// A handler on a fresh, empty memory store: every input starts from the same state, so a
/// crash reproduces from its input alone. Metrics go nowhere; the clock is pinned.
fn fresh_handler<P: Provider>() -> WebhookHandler<P, MemoryStore> {
    handler::<P, MemoryStore>(MemoryStore::new(), "messages")
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime");
}

fn answer_of<P: Provider>(handler: &WebhookHandler<P, MemoryStore>, event: &[u8]) -> HttpResponse {
    RUNTIME.with(|runtime| runtime.block_on(handler.handle_event(event)))
}

type Items = HashMap<(String, String), HashMap<String, AttributeValue>>;

/// How a body is delivered: chosen from the body itself (not from extra input bytes), so the
/// fuzzed bytes are exactly the body and every seed body is delivered as the provider sent it.
#[derive(Clone, Copy, Debug)]
struct Delivery {
    format: Format,
    base64: bool,
    /// Use the lasting credentials (Callbell's URL token) rather than a signature.
    lasting: bool,
}

impl Delivery {
    fn of(body: &[u8]) -> Delivery {
        let n = body.len();
        Delivery {
            format: [Format::HttpApiV2, Format::RestApiV1, Format::FunctionUrl][n % 3],
            // Bytes that are not UTF-8 can only travel base64-encoded; a quarter of the rest too.
            base64: std::str::from_utf8(body).is_err() || (n / 3) % 4 == 0,
            lasting: (n / 12) % 2 == 1,
        }
    }

    fn credentials(self, id: ProviderId, body: &[u8], forge: bool) -> Credentials {
        let samples = id.samples();
        match (forge, self.lasting) {
            (true, _) => samples.forge(body, NOW),
            (false, true) => samples.sign_lasting(body),
            (false, false) => samples.sign(body, NOW),
        }
    }

    fn event(self, id: ProviderId, credentials: &Credentials, body: &[u8]) -> Vec<u8> {
        event(self.format, id.function(), credentials, body, self.base64)
    }
}

/// Arbitrary bytes as provider `id`'s body, authentic: the handler's answer and what it stored
/// must be exactly what the parser says the body is; a redelivery changes nothing; the same
/// body with a spoiled credential is 401 and stores nothing.
pub fn check_body(id: ProviderId, body: &[u8]) -> String {
    id.visit(CheckBody { body })
}

struct CheckBody<'a> {
    body: &'a [u8],
}

impl ProviderVisitor for CheckBody<'_> {
    type Output = String;
    fn visit<P: Provider>(self) -> String {
        check_body_of::<P>(self.body)
    }
}

/// The provider's reading of `body`, called directly (through a request its verifier
/// accepts), as the handler would read it.
fn read_directly<P: Provider>(body: &[u8]) -> Result<Webhook, Invalid> {
    let request = ProviderId::of::<P>()
        .samples()
        .sign(body, NOW)
        .request(body);
    let verifier = settings::<P>("messages").verifier;
    let verified = crate::verify::verify(&verifier, &request, NOW)
        .expect("the provider's own signature verifies");
    P::read(&verified)
}

fn check_body_of<P: Provider>(body: &[u8]) -> String {
    let id = ProviderId::of::<P>();
    // The fast repeated-key scan finds what serde's walk of every object finds.
    if let Ok(text) = std::str::from_utf8(body) {
        if let Some(serde_finds) = crate::wire::oracle::has_repeated_key(text) {
            assert_eq!(
                crate::wire::repeated_key(text).is_some(),
                serde_finds,
                "the repeated-key scan and serde disagree"
            );
        }
    }
    let direct = read_directly::<P>(body);
    // Normalization and item building, on their own.
    match &direct {
        Ok(Webhook::NewMessage(message)) => check_message_item(id, &delivered_item(message, body)),
        Ok(Webhook::Update(update)) => {
            assert_eq!(update.provider, P::NAME, "an update names its provider");
            assert!(
                !update.conversation_id.trim().is_empty() && !update.message_id.trim().is_empty()
            );
            if let IfUnknown::StoreAsNew(message) = &update.if_unknown {
                assert_eq!(
                    (&message.conversation_id, &message.message_id),
                    (&update.conversation_id, &update.message_id),
                    "an update's message is the one it updates"
                );
                check_message_item(id, &delivered_item(message, body));
            }
        }
        _ => {}
    }

    let delivery = Delivery::of(body);
    let genuine = delivery.event(id, &delivery.credentials(id, body, false), body);
    let handler = fresh_handler::<P>();
    let response = answer_of(&handler, &genuine);
    let items = handler.store().items();
    let (status, answer) = check_answer(id, &response, &Items::new(), &items);
    assert_eq!(
        response.cookies.is_some(),
        delivery.format != Format::RestApiV1,
        "payload 2.0 answers carry cookies, 1.0 answers don't"
    );

    let expected_answer = if body.len() > MAX_BODY_BYTES {
        assert_eq!(status, 413, "a body over 128 KiB is too large");
        None
    } else {
        Some(expected_answer(id, body, &direct, status, &items))
    };
    if let Some(expected) = expected_answer {
        assert_eq!(answer, expected, "the answer says what the parser found");
    }

    // A redelivery: the same answer status, the table unchanged.
    let again = answer_of(&handler, &genuine);
    let items_again = handler.store().items();
    let (status_again, answer_again) = check_answer(id, &again, &items, &items_again);
    assert_eq!(status_again, status, "a redelivery gets the same status");
    assert!(items_again == items, "a redelivery changes nothing stored");
    if answer["status"] == "stored" {
        let expected = match &direct {
            Ok(Webhook::Update(_)) => json!({"status": "ignored", "reason": "no_change"}),
            _ => json!({"status": "duplicate", "message_id": answer["message_id"]}),
        };
        assert_eq!(answer_again, expected, "a stored message delivered again");
    } else {
        assert_eq!(answer_again, answer, "a redelivery gets the same answer");
    }

    // The same body with a spoiled credential.
    let forged = delivery.event(id, &delivery.credentials(id, body, true), body);
    let handler = fresh_handler::<P>();
    let response = answer_of(&handler, &forged);
    let items = handler.store().items();
    let (status, _) = check_answer(id, &response, &Items::new(), &items);
    let expected = if body.len() > MAX_BODY_BYTES {
        413
    } else {
        401
    };
    assert_eq!(status, expected, "a spoiled credential is refused");
    assert!(items.is_empty(), "nothing is stored for a refused request");
    summary(status_again, &answer)
}

/// What the handler must answer, and must have stored, for what the parser found.
fn expected_answer(
    id: ProviderId,
    body: &[u8],
    direct: &Result<Webhook, Invalid>,
    status: u16,
    items: &Items,
) -> Value {
    match direct {
        Err(invalid) => {
            assert_eq!(
                status, 400,
                "an authentic body the parser rejects ({invalid}) is 400"
            );
            check_quarantined(id, body, &invalid.to_string(), items);
            match &invalid.field {
                Some(field) => json!({"error": invalid.reason, "field": field}),
                None => json!({"error": invalid.reason}),
            }
        }
        Ok(Webhook::Ignored(reason)) => {
            assert!(items.is_empty(), "an ignored event stores nothing");
            json!({"status": "ignored", "reason": reason.as_str()})
        }
        Ok(Webhook::ConnectionCheck) => {
            assert!(items.is_empty(), "a connection check stores nothing");
            json!({"status": "ok"})
        }
        Ok(Webhook::Unenveloped) => {
            assert_eq!(
                status, 200,
                "an object without an envelope is answered as a check"
            );
            let error = crate::error::Invalid::body(
                "no `event`: not an event envelope; kept in case it is a message without its envelope",
            );
            check_quarantined(id, body, &error.to_string(), items);
            json!({"status": "ok"})
        }
        Ok(Webhook::NewMessage(message)) => check_stored(id, body, message, items),
        Ok(Webhook::Update(update)) => match &update.if_unknown {
            // On an empty table an update carrying its message stores it as new.
            IfUnknown::StoreAsNew(message) => check_stored(id, body, message, items),
            IfUnknown::Ignore => {
                assert!(
                    items.is_empty(),
                    "an update of an unknown message stores nothing"
                );
                json!({"status": "ignored", "reason": "unknown_message"})
            }
        },
    }
}

fn summary(status: u16, answer: &Value) -> String {
    let outcome = answer["status"].as_str().unwrap_or("error");
    match answer["reason"].as_str() {
        Some(reason) => format!("{status} {outcome} {reason}"),
        None => format!("{status} {outcome}"),
    }
}

/// What a stored message must leave in the table: exactly its message item (the parser's
/// message with the delivery details the handler adds) and, when its provider's updates find it
/// by id alone, its id item. Returns the answer.
fn check_stored(id: ProviderId, body: &[u8], message: &Message, items: &Items) -> Value {
    let expected = delivered(message, body);
    let keys = MessageKeys::of(&expected);
    let with_id_item = id.updates_find_by_id(&expected);
    assert_eq!(
        items.len(),
        1 + usize::from(with_id_item),
        "a stored message is one message item (and an id item where updates need one)"
    );
    let stored = items
        .get(&(keys.pk.clone(), keys.sk.clone()))
        .expect("a stored message has its message item");
    let fingerprint = Fingerprint::of(body);
    assert!(
        *stored == message_item(&expected, &fingerprint),
        "the message item is the parser's message: stored {stored:?}, parsed {:?}",
        message_item(&expected, &fingerprint)
    );
    assert_eq!(
        stored
            .get("raw")
            .map(|raw| crate::storage::raw::body_of(raw).expect("raw reads")),
        Some(body.to_vec()),
        "raw unpacks to the exact body"
    );
    assert_eq!(
        stored.get("body_sha256"),
        Some(&AttributeValue::S(hex::encode(Sha256::digest(body)))),
        "the message item keeps the body's SHA-256"
    );
    if with_id_item {
        let id_item = items
            .get(&(keys.pk, keys.id_sk))
            .expect("a message updated by id has its id item");
        assert_eq!(
            id_item.get("message_sk"),
            Some(&AttributeValue::S(keys.sk)),
            "the id item points at the message item"
        );
        assert_eq!(
            id_item.get("body_sha256"),
            stored.get("body_sha256"),
            "the id item keeps the body's SHA-256"
        );
    }
    json!({"status": "stored", "message_id": expected.message_id})
}

/// The message item of a first delivery of `body` carrying `message`.
fn delivered_item(message: &Message, body: &[u8]) -> HashMap<String, AttributeValue> {
    let delivered = delivered(message, body);
    message_item(&delivered, &Fingerprint::of(body))
}

/// The parser's message with what the handler adds at first receipt: the body and the time.
fn delivered(message: &Message, body: &[u8]) -> Message {
    let mut message = message.clone();
    // (A body that is not UTF-8 is never stored, but its message item can still be built.)
    message.raw = String::from_utf8_lossy(body).into_owned();
    message.received_at = format_timestamp(pinned_now());
    message
}

/// Exactly one quarantine item, holding the exact body and the error.
fn check_quarantined(id: ProviderId, body: &[u8], error: &str, items: &Items) {
    assert_eq!(
        items.len(),
        1,
        "a rejected authentic body is one quarantine item"
    );
    let ((pk, sk), item) = items.iter().next().expect("one item");
    let received_at = format_timestamp(pinned_now());
    assert_eq!(*pk, quarantine_key(id));
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

/// The invariants of every answer, whatever the input: a documented status, a JSON object
/// body of the documented shape, and a table that changed only as that answer allows
/// (`before` and `after` the request). Returns the status and the decoded body.
pub fn check_answer(
    id: ProviderId,
    response: &HttpResponse,
    before: &Items,
    after: &Items,
) -> (u16, Value) {
    let status = response.status_code;
    assert!(
        [200, 400, 401, 413, 500, 503].contains(&status),
        "status {status} is not one of the documented ones"
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
        if pk.starts_with(QUARANTINE_PREFIX) {
            assert_eq!(*pk, quarantine_key(id));
        } else {
            assert!(
                pk.starts_with(&format!("{}#", id.name())),
                "item key {pk:?} is not this provider's"
            );
            if sk.starts_with("MSG#") {
                check_message_item(id, item);
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
            // A connection check stores nothing; an object without an envelope answered as
            // one (row 5, (3)) is one quarantine item.
            "ok" => assert!(
                written.len() <= 1
                    && written
                        .iter()
                        .all(|(pk, _)| pk.starts_with(QUARANTINE_PREFIX)),
                "a connection check stored {written:?}"
            ),
            "duplicate" => assert!(unchanged, "a duplicate stored {written:?}"),
            "updated" => {
                assert_eq!(written.len(), 1, "an update changes one item: {written:?}");
                assert!(
                    before.contains_key(written[0]) && written[0].1.starts_with("MSG#"),
                    "an update changes a stored message item, not {written:?}"
                );
            }
            "stored" => check_stored_answer(text("message_id"), &body, &written, before, after),
            other => panic!("a 200 answer with status {other:?}"),
        }
        if outcome != "ok" && outcome != "ignored" {
            let message_id = text("message_id").unwrap_or_else(|| panic!("no message_id: {body}"));
            assert!(!message_id.trim().is_empty(), "an empty message_id: {body}");
        }
    } else {
        assert!(
            text("error").is_some_and(|e| !e.is_empty()),
            "a {status} answer has an error: {body}"
        );
        if status == 400 {
            // Nothing but a quarantine item (rejected events store nothing at all).
            assert!(
                written.len() <= 1
                    && written
                        .iter()
                        .all(|(pk, _)| pk.starts_with(QUARANTINE_PREFIX)),
                "a 400 wrote more than a quarantine item: {written:?}"
            );
        } else {
            assert!(unchanged, "a {status} answer stored {written:?}");
        }
    }
    (status, body)
}

/// A `stored` answer: the message item (and, where updates need one, its id item pointing at
/// it) are new, and nothing else changed.
fn check_stored_answer(
    message_id: Option<&str>,
    body: &Value,
    written: &[&(String, String)],
    before: &Items,
    after: &Items,
) {
    let message_id = message_id.unwrap_or_else(|| panic!("no message_id: {body}"));
    let holds_message = |key: &&&(String, String)| {
        key.1.starts_with("MSG#")
            && after[**key].get("message_id") == Some(&AttributeValue::S(message_id.to_string()))
    };
    let message_key = *written
        .iter()
        .find(holds_message)
        .unwrap_or_else(|| panic!("stored {message_id:?} but wrote no message item: {written:?}"));
    let id_key = (message_key.0.clone(), id_sort_key(message_id));
    match written.len() {
        1 => {}
        2 => {
            assert!(
                written.contains(&&id_key),
                "a stored message writes its message item and its id item only: {written:?}"
            );
            assert_eq!(
                after[&id_key].get("message_sk"),
                Some(&AttributeValue::S(message_key.1.clone())),
                "an id item names its message item"
            );
        }
        _ => panic!("a stored message wrote {written:?}"),
    }
    assert!(
        !before.contains_key(&id_key) && !before.contains_key(message_key),
        "stored over an existing item"
    );
}

/// A message item as documented: its keys, its provider, no empty strings, no number that is
/// not a finite number.
pub fn check_message_item(id: ProviderId, item: &HashMap<String, AttributeValue>) {
    let s = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
            .unwrap_or_else(|| panic!("message item without {name}: {item:?}"))
    };
    assert_eq!(s("provider"), id.name());
    assert_eq!(s("pk"), format!("{}#{}", id.name(), s("conversation_id")));
    assert!(s("sk").starts_with("MSG#") && s("sk").len() > 4);
    let schema = crate::message::SCHEMA_VERSION.to_string();
    assert!(
        item.get("schema_version") == Some(&AttributeValue::N(schema.clone())),
        "schema_version is {schema}"
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
            "attribute {path} is an empty string (never stored)"
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
/// exactly, and each provider's handler answers it as documented (413 or 400 for what cannot
/// be read; otherwise authentication decides, and nothing unauthenticated is stored).
pub fn check_event(event: &[u8]) -> String {
    let read = Request::from_event(event);
    if let Ok(request) = &read {
        check_request_read(event, request);
    }
    ProviderId::ALL
        .iter()
        .map(|id| {
            let summary = id.visit(CheckEvent { event, read: &read });
            format!("{id}: {summary}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A read request is the event's: its body exactly, at most 128 KiB, lookups total.
fn check_request_read(event: &[u8], request: &Request) {
    assert!(
        request.body().len() <= MAX_BODY_BYTES,
        "an accepted body is at most 128 KiB"
    );
    for name in [
        "authorization",
        "x-partoo-signature-v1",
        "x-callbell-signature",
    ] {
        let _ = request.header(name);
        let _ = request.has_header(name);
    }
    let _ = request.query_values("token").count();
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(event) else {
        return;
    };
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

struct CheckEvent<'a> {
    event: &'a [u8],
    read: &'a Result<Request, Rejected>,
}

impl ProviderVisitor for CheckEvent<'_> {
    type Output = String;
    fn visit<P: Provider>(self) -> String {
        let id = ProviderId::of::<P>();
        let handler = fresh_handler::<P>();
        let response = answer_of(&handler, self.event);
        let items = handler.store().items();
        let (status, answer) = check_answer(id, &response, &Items::new(), &items);
        match self.read {
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
        check_invocation::<P>(self.event);
        summary(status, &answer)
    }
}

/// The same bytes as any invocation, as the Lambda runtime hands them over: a `Records` event
/// is drained as the spool queue's batch — never a panic, an answer naming only its own records
/// (or "" for the whole batch) — and anything else is answered as HTTP.
fn check_invocation<P: Provider>(event: &[u8]) {
    let handler = fresh_handler::<P>();
    let answer = RUNTIME.with(|runtime| runtime.block_on(handler.handle_invocation(event)));
    match (Request::read_invocation(event), answer) {
        (Ok(Invocation::Records), Answer::Batch(batch)) => {
            let ids: Vec<String> = read_event(event)
                .map(|records| records.into_iter().filter_map(|r| r.message_id).collect())
                .unwrap_or_default();
            for failed in batch.failed_ids() {
                assert!(
                    failed.is_empty() || ids.iter().any(|id| id == failed),
                    "a batch failure names no record of the event: {failed:?}"
                );
            }
        }
        (Ok(Invocation::Records), Answer::Http(_)) => panic!("a Records event answered as HTTP"),
        (_, Answer::Batch(_)) => panic!("a request answered as a batch"),
        (_, Answer::Http(_)) => {}
    }
}
