//! The bad-input corpus: for each provider, more than 50 hostile or broken requests in 13
//! categories, each with the status the contract gives it and what it may store, run through the
//! real handler against DynamoDB Local. Zero panics, zero 2xx for a forgery, zero 5xx for a
//! client's mistake, and nothing stored but what each case allows.

mod support;

use std::collections::{BTreeMap, HashSet};

use base64::Engine;
use ingest::Provider;
use serde_json::{json, Value};
use support::*;

/// What a case may leave in the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stores {
    Nothing,
    /// One quarantine item holding the exact body.
    Quarantine,
    /// One message item and its id item.
    Message,
}

struct Case {
    category: &'static str,
    name: String,
    event: Vec<u8>,
    status: u16,
    stores: Stores,
    /// The body whose bytes a quarantine item must hold.
    body: Vec<u8>,
    /// Made without the provider's credentials.
    forged: bool,
}

struct Corpus {
    provider: Provider,
    cases: Vec<Case>,
    next_id: u32,
}

impl Corpus {
    fn fresh_id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
    }

    /// A valid message body with a fresh id, as a JSON value.
    fn message(&mut self) -> Value {
        let n = self.fresh_id();
        match self.provider {
            Provider::TiktokShop => json!({
                "type": 14, "tts_notification_id": format!("n{n}"), "shop_id": "7494049642642441621",
                "timestamp": 1644412885,
                "data": {
                    "content": "{\"content\":\"hello\"}", "conversation_id": "conv", "create_time": 1681790246,
                    "is_visible": true, "message_id": format!("m{n}"), "index": format!("{}", 1000 + n),
                    "type": "TEXT", "sender": {"im_user_id": "u1", "role": "BUYER"}
                }
            }),
            Provider::Partoo => json!({
                "type": "message_created",
                "payload": {
                    "message": {
                        "id": n, "conversation_id": 77, "date": "2023-01-31 16:22:17.327878+00:00",
                        "content_type": "Text", "sender_type": "Consumer", "status": "Success",
                        "is_deleted": false, "is_automated": false, "content": "hello"
                    },
                    "conversation": {"id": 77, "consumer_name": "John", "messaging_partner": "Whatsapp"},
                    "org_id": 5
                }
            }),
            Provider::Callbell => json!({
                "event": "message_created",
                "payload": {
                    "uuid": format!("u{n}"), "to": "1", "from": "2", "text": "hello", "status": "received",
                    "channel": "whatsapp", "createdAt": "2022-10-18T12:06:29.000+02:00",
                    "contact": {"uuid": "c1", "conversationHref": "https://dash.callbell.eu/chat/conv", "name": "John"}
                }
            }),
        }
    }

    /// The JSON paths of the required fields (contract, "Required fields").
    fn required(&self) -> &'static [&'static [&'static str]] {
        match self.provider {
            Provider::TiktokShop => &[
                &["type"],
                &["data", "conversation_id"],
                &["data", "message_id"],
                &["data", "index"],
                &["data", "create_time"],
                &["data", "type"],
                &["data", "sender", "role"],
            ],
            Provider::Partoo => &[
                &["type"],
                &["payload", "message", "id"],
                &["payload", "message", "conversation_id"],
                &["payload", "message", "date"],
                &["payload", "message", "sender_type"],
            ],
            Provider::Callbell => &[
                &["payload", "contact"],
                &["payload", "createdAt"],
                &["payload", "status"],
            ],
        }
    }

    /// Optional fields, by path, for wrong-type cases that must still store the message.
    fn optional(&self) -> &'static [&'static [&'static str]] {
        match self.provider {
            Provider::TiktokShop => &[
                &["data", "is_visible"],
                &["shop_id"],
                &["data", "sender", "im_user_id"],
            ],
            Provider::Partoo => &[
                &["payload", "message", "is_automated"],
                &["payload", "conversation"],
                &["payload", "message", "content"],
            ],
            Provider::Callbell => &[
                &["payload", "text"],
                &["payload", "attachments"],
                &["payload", "channel"],
            ],
        }
    }

    /// Adds a case whose body is signed as the provider would sign it.
    fn signed(
        &mut self,
        category: &'static str,
        name: impl Into<String>,
        body: Vec<u8>,
        status: u16,
        stores: Stores,
    ) {
        let (headers, query) = credentials(self.provider, &body, NOW);
        let base64 = std::str::from_utf8(&body).is_err();
        let event = event(
            Format::HttpApiV2,
            self.provider,
            &headers,
            &query,
            &body,
            base64,
        );
        self.push(category, name, event, body, status, stores, false);
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        category: &'static str,
        name: impl Into<String>,
        event: Vec<u8>,
        body: Vec<u8>,
        status: u16,
        stores: Stores,
        forged: bool,
    ) {
        self.cases.push(Case {
            category,
            name: name.into(),
            event,
            status,
            stores,
            body,
            forged,
        });
    }
}

fn set(value: &mut Value, path: &[&str], new: Value) {
    let (last, parents) = path.split_last().unwrap();
    let mut node = value;
    for key in parents {
        node = node.get_mut(*key).unwrap();
    }
    node.as_object_mut().unwrap().insert(last.to_string(), new);
}

fn remove(value: &mut Value, path: &[&str]) {
    let (last, parents) = path.split_last().unwrap();
    let mut node = value;
    for key in parents {
        node = node.get_mut(*key).unwrap();
    }
    node.as_object_mut().unwrap().remove(*last);
}

fn bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap()
}

fn corpus(provider: Provider) -> Vec<Case> {
    use Stores::*;
    let mut c = Corpus {
        provider,
        cases: Vec::new(),
        next_id: 0,
    };
    let callbell = provider == Provider::Callbell;

    // Malformed and truncated JSON.
    let valid = bytes(&c.message());
    for (name, body) in [
        ("half", valid[..valid.len() / 2].to_vec()),
        ("last byte cut", valid[..valid.len() - 1].to_vec()),
        ("open brace", b"{".to_vec()),
        ("double comma", b"{\"type\":14,,\"data\":{}}".to_vec()),
        ("single quotes", b"{'type': 14}".to_vec()),
        ("trailing garbage", [valid.as_slice(), b" x"].concat()),
        (
            "unterminated string",
            b"{\"type\":\"message_created".to_vec(),
        ),
    ] {
        c.signed("malformed JSON", name, body, 400, Quarantine);
    }

    // Wrong types: a required field of the wrong type is rejected by name; an optional one is
    // tolerated and the message stored.
    for path in c.required() {
        for (label, wrong) in [("object", json!({"x": 1})), ("boolean", json!(true))] {
            let mut v = c.message();
            set(&mut v, path, wrong);
            c.signed(
                "wrong types",
                format!("{} as {label}", path.join(".")),
                bytes(&v),
                400,
                Quarantine,
            );
        }
    }
    for path in c.optional() {
        let mut v = c.message();
        set(&mut v, path, json!([1, {"a": null}]));
        c.signed(
            "wrong types",
            format!("optional {} as array", path.join(".")),
            bytes(&v),
            200,
            Message,
        );
    }

    // Missing and null required fields.
    for path in c.required() {
        let mut v = c.message();
        remove(&mut v, path);
        c.signed(
            "missing or null required fields",
            format!("no {}", path.join(".")),
            bytes(&v),
            400,
            Quarantine,
        );
        let mut v = c.message();
        set(&mut v, path, Value::Null);
        c.signed(
            "missing or null required fields",
            format!("{} null", path.join(".")),
            bytes(&v),
            400,
            Quarantine,
        );
    }

    // Empty bodies: a Callbell connection check, anything else's mistake.
    for (name, body) in [("empty", ""), ("spaces", "   "), ("newline", "\n")] {
        let (status, stores) = if callbell {
            (200, Nothing)
        } else {
            (400, Quarantine)
        };
        c.signed(
            "empty bodies",
            name,
            body.as_bytes().to_vec(),
            status,
            stores,
        );
    }

    // Invalid UTF-8 (sent base64-encoded, the only way API Gateway can carry it).
    let text = String::from_utf8(bytes(&c.message())).unwrap();
    let cut = text.find("hello").unwrap();
    for (name, bad) in [
        ("0xff byte", &b"\xff"[..]),
        ("overlong slash", b"\xc0\xaf"),
        ("lone continuation", b"\x80"),
    ] {
        let body = [&text.as_bytes()[..cut], bad, &text.as_bytes()[cut..]].concat();
        c.signed("invalid UTF-8", name, body, 400, Quarantine);
    }
    let body = text.replace("hello", "\\ud800").into_bytes();
    c.signed(
        "invalid UTF-8",
        "lone surrogate escape",
        body,
        400,
        Quarantine,
    );

    // Nesting deeper than serde_json's recursion limit (128): refused where it is parsed, and
    // skipped without recursion where it is an unknown field (the message is stored, raw keeps it).
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    c.signed(
        "deep nesting",
        "deep arrays as the body",
        deep(2000).into_bytes(),
        400,
        Quarantine,
    );
    let deep_objects = format!("{}1{}", "{\"a\":".repeat(300), "}".repeat(300));
    // For Callbell a JSON object without `event` is a connection check, however deep.
    let (status, stores) = if callbell {
        (200, Nothing)
    } else {
        (400, Quarantine)
    };
    c.signed(
        "deep nesting",
        "deep objects as the body",
        deep_objects.into_bytes(),
        status,
        stores,
    );
    let text = String::from_utf8(bytes(&c.message())).unwrap();
    let body = text.replacen('{', &format!("{{\"deep\":{},", deep(500)), 1);
    c.signed(
        "deep nesting",
        "deep unknown field",
        body.into_bytes(),
        200,
        Message,
    );
    let mut v = c.message();
    set(
        &mut v,
        c.optional()[0],
        serde_json::from_str(&deep(100)).unwrap(),
    );
    c.signed(
        "deep nesting",
        "deep optional field",
        bytes(&v),
        200,
        Message,
    );

    // Huge numbers.
    let id_path: &[&str] = match provider {
        Provider::TiktokShop => &["data", "message_id"],
        Provider::Partoo => &["payload", "message", "id"],
        Provider::Callbell => &["payload", "uuid"],
    };
    let mut v = c.message();
    set(&mut v, id_path, json!("__HUGE__"));
    let huge_literal = String::from_utf8(bytes(&v))
        .unwrap()
        .replace("\"__HUGE__\"", "1e400");
    c.signed(
        "huge numbers",
        "id 1e400 (out of f64 range)",
        huge_literal.into_bytes(),
        400,
        Quarantine,
    );
    let mut v = c.message();
    set(
        &mut v,
        id_path,
        serde_json::from_str::<Value>("123456789012345678901234567890").unwrap(),
    );
    // Callbell's uuid is optional: an unusable one falls back to the derived id.
    let (status, stores) = if callbell {
        (200, Message)
    } else {
        (400, Quarantine)
    };
    c.signed(
        "huge numbers",
        "id beyond 64 bits",
        bytes(&v),
        status,
        stores,
    );
    let mut v = c.message();
    set(&mut v, id_path, json!(-5));
    // A negative integer id is still an integer id: stored as "-5".
    c.signed(
        "huge numbers",
        "negative integer id",
        bytes(&v),
        200,
        Message,
    );
    let mut v = c.message();
    set(&mut v, c.optional()[0], json!(1.7e308));
    c.signed(
        "huge numbers",
        "optional field near f64::MAX",
        bytes(&v),
        200,
        Message,
    );

    // Duplicate keys: ambiguous, so not a message; the body is kept.
    let text = String::from_utf8(bytes(&c.message())).unwrap();
    let first_key = if provider == Provider::Callbell {
        "event"
    } else {
        "type"
    };
    let dup_top = text.replacen('{', &format!("{{\"{first_key}\":\"other\","), 1);
    c.signed(
        "duplicate keys",
        "top-level key twice",
        dup_top.into_bytes(),
        400,
        Quarantine,
    );
    let mut v = c.message();
    let key = id_path.last().unwrap();
    set(&mut v, id_path, json!("__DUP__"));
    let dup_inner = String::from_utf8(bytes(&v))
        .unwrap()
        .replace("\"__DUP__\"", &format!("\"one\",\"{key}\":\"two\""));
    c.signed(
        "duplicate keys",
        "id key twice",
        dup_inner.into_bytes(),
        400,
        Quarantine,
    );
    let dup_same = text.replacen(
        '{',
        &format!(
            "{{\"{first_key}\":{},",
            serde_json::to_string(&serde_json::from_str::<Value>(&text).unwrap()[first_key])
                .unwrap()
        ),
        1,
    );
    c.signed(
        "duplicate keys",
        "same key, same value",
        dup_same.into_bytes(),
        400,
        Quarantine,
    );

    // Oversized bodies, forged or not: refused before anything else.
    let big = vec![b' '; 128 * 1024 + 1];
    c.signed(
        "oversized bodies",
        "128 KiB + 1, signed",
        big.clone(),
        413,
        Nothing,
    );
    let e = event(Format::HttpApiV2, provider, &[], &[], &big, false);
    c.push(
        "oversized bodies",
        "128 KiB + 1, unsigned",
        e,
        big.clone(),
        413,
        Nothing,
        true,
    );
    let e = event(
        Format::HttpApiV2,
        provider,
        &[],
        &[],
        &vec![b'x'; 400_000],
        true,
    );
    c.push(
        "oversized bodies",
        "400 KB base64-encoded",
        e,
        Vec::new(),
        413,
        Nothing,
        true,
    );
    let mut padded = bytes(&c.message());
    padded.resize(128 * 1024, b' ');
    c.signed("oversized bodies", "exactly 128 KiB", padded, 200, Message);

    // Base64-encoded bodies.
    let body = bytes(&c.message());
    let (h, q) = credentials(provider, &body, NOW);
    c.push(
        "base64 bodies",
        "valid base64",
        event(Format::HttpApiV2, provider, &h, &q, &body, true),
        body.clone(),
        200,
        Message,
        false,
    );
    for (name, text) in [
        ("not base64", "*** nope ***".to_string()),
        ("url-safe alphabet", "_-_-".to_string()),
        ("cut short", "eyJ0eXBlIjo".to_string()),
    ] {
        let mut e: Value =
            serde_json::from_slice(&event(Format::HttpApiV2, provider, &h, &q, &body, true))
                .unwrap();
        e["body"] = text.into();
        c.push(
            "base64 bodies",
            name,
            serde_json::to_vec(&e).unwrap(),
            Vec::new(),
            400,
            Nothing,
            false,
        );
    }

    // Header case and repeated headers.
    let body = bytes(&c.message());
    let (h, q) = credentials(provider, &body, NOW);
    let header_name = h.first().map(|(k, _)| k.clone());
    if let Some(name) = header_name {
        let value = h[0].1.clone();
        for (label, variant) in [
            ("upper case", name.to_uppercase()),
            ("lower case", name.to_lowercase()),
        ] {
            let body = bytes(&c.message());
            let (h, q) = credentials(provider, &body, NOW);
            let e = event(
                Format::RestApiV1,
                provider,
                &[(variant, h[0].1.clone())],
                &q,
                &body,
                false,
            );
            c.push(
                "header case and repeats",
                format!("signature header in {label}"),
                e,
                body,
                200,
                Message,
                false,
            );
        }
        // v1 multiValueHeaders: a second, different copy; then the same value twice.
        let mut e: Value =
            serde_json::from_slice(&event(Format::RestApiV1, provider, &h, &q, &body, false))
                .unwrap();
        let key = if e["multiValueHeaders"].get(&name).is_some() {
            name.clone()
        } else {
            name.to_lowercase()
        };
        e["multiValueHeaders"][&key] = json!([value, "0".repeat(value.len())]);
        c.push(
            "header case and repeats",
            "two different signatures",
            serde_json::to_vec(&e).unwrap(),
            body.clone(),
            401,
            Nothing,
            true,
        );
        e["multiValueHeaders"][&key] = json!([value, value]);
        c.push(
            "header case and repeats",
            "the same signature twice",
            serde_json::to_vec(&e).unwrap(),
            body.clone(),
            200,
            Message,
            false,
        );
        // HTTP API joins repeated headers with commas. A signature for this body sent twice
        // is no longer one valid signature (fail closed), except Callbell's `t=…,v1=…` list.
        let twice = bytes(&c.message());
        let (h2, q2) = credentials(provider, &twice, NOW);
        let joined = vec![(name.clone(), format!("{},{}", h2[0].1, h2[0].1))];
        let e = event(Format::HttpApiV2, provider, &joined, &q2, &twice, false);
        let (status, stores) = if callbell {
            (200, Message)
        } else {
            (401, Nothing)
        };
        c.push(
            "header case and repeats",
            "the same signature comma-joined",
            e,
            twice,
            status,
            stores,
            false,
        );
        let other = bytes(&c.message());
        let joined = vec![(name.clone(), format!("{value},{value}"))];
        let e = event(Format::HttpApiV2, provider, &joined, &q, &other, false);
        c.push(
            "header case and repeats",
            "another body's signature comma-joined",
            e,
            other,
            401,
            Nothing,
            true,
        );
    } else {
        unreachable!("every provider's credentials include a header in these tests");
    }

    // Every signature failure.
    let body = bytes(&c.message());
    let (h, q) = credentials(provider, &body, NOW);
    let (name, value) = h[0].clone();
    let mut forgeries: Vec<(String, Pairs, Pairs, Vec<u8>)> = vec![
        ("missing".into(), vec![], vec![], body.clone()),
        (
            "empty value".into(),
            vec![(name.clone(), String::new())],
            vec![],
            body.clone(),
        ),
        (
            "truncated".into(),
            vec![(name.clone(), value[..value.len() / 2].to_string())],
            vec![],
            body.clone(),
        ),
        (
            "wrong prefix".into(),
            vec![(name.clone(), format!("sha256={value}"))],
            vec![],
            body.clone(),
        ),
        (
            "signature of another body".into(),
            credentials(provider, b"{}", NOW).0,
            vec![],
            body.clone(),
        ),
    ];
    let mut changed = body.clone();
    let at = changed.len() / 2;
    changed[at] ^= 0x01;
    forgeries.push((
        "one body byte changed".into(),
        h.clone(),
        q.clone(),
        changed,
    ));
    match provider {
        Provider::TiktokShop => {
            forgeries.push((
                "bearer prefix".into(),
                vec![(name.clone(), format!("Bearer {value}"))],
                vec![],
                body.clone(),
            ));
            forgeries.push((
                "body-only HMAC".into(),
                vec![(name.clone(), hmac_hex_body_only(&body))],
                vec![],
                body.clone(),
            ));
        }
        Provider::Partoo => {
            forgeries.push((
                "signed by another key".into(),
                vec![(name.clone(), sign_with_other_partoo_key(&body))],
                vec![],
                body.clone(),
            ));
        }
        Provider::Callbell => {
            forgeries.push((
                "stale t (301 s old)".into(),
                credentials(provider, &body, NOW - 301).0,
                vec![],
                body.clone(),
            ));
            forgeries.push((
                "future t (301 s ahead)".into(),
                credentials(provider, &body, NOW + 301).0,
                vec![],
                body.clone(),
            ));
            forgeries.push((
                "wrong URL token".into(),
                vec![],
                vec![("token".into(), "not-the-token".into())],
                body.clone(),
            ));
            forgeries.push((
                "token in the wrong parameter".into(),
                vec![],
                vec![("tok".into(), CALLBELL_TOKEN.into())],
                body.clone(),
            ));
        }
    }
    for (label, headers, query, body) in forgeries {
        let e = event(Format::HttpApiV2, provider, &headers, &query, &body, false);
        c.push("signature failures", label, e, body, 401, Nothing, true);
    }

    // Beyond what the table or the timestamp format can hold: invalid rather than retried
    // forever; numbers out of their range are dropped and the message kept.
    let conversation_path: &[&str] = match provider {
        Provider::TiktokShop => &["data", "conversation_id"],
        Provider::Partoo => &["payload", "message", "conversation_id"],
        Provider::Callbell => &["payload", "contact", "conversationHref"],
    };
    let mut v = c.message();
    set(&mut v, conversation_path, json!("c".repeat(2100)));
    c.signed(
        "beyond the table's limits",
        "conversation id over 2 KB",
        bytes(&v),
        400,
        Quarantine,
    );
    let mut v = c.message();
    set(&mut v, id_path, json!("i".repeat(1100)));
    c.signed(
        "beyond the table's limits",
        "message id over 1 KB",
        bytes(&v),
        400,
        Quarantine,
    );
    let mut v = c.message();
    match provider {
        Provider::TiktokShop => set(&mut v, &["data", "create_time"], json!(253_402_300_800u64)),
        Provider::Partoo => set(
            &mut v,
            &["payload", "message", "date"],
            json!("+10000-01-01 00:00:00.000000+00:00"),
        ),
        Provider::Callbell => set(
            &mut v,
            &["payload", "createdAt"],
            json!("+10000-01-01T00:00:00Z"),
        ),
    }
    c.signed(
        "beyond the table's limits",
        "a date after 9999",
        bytes(&v),
        400,
        Quarantine,
    );
    let mut v = c.message();
    match provider {
        Provider::TiktokShop => {
            set(&mut v, &["data", "type"], json!("VIDEO"));
            set(
                &mut v,
                &["data", "content"],
                json!(r#"{"url":"https://v/1","duration":"1e300","width":1e300}"#),
            );
        }
        Provider::Partoo => set(&mut v, &["payload", "org_id"], json!(1e300)),
        Provider::Callbell => {
            set(
                &mut v,
                &["payload", "messageLocation"],
                json!({"coordinates": {"x": 1e300, "y": "1e-300"}}),
            );
        }
    }
    c.signed(
        "beyond the table's limits",
        "numbers DynamoDB can't hold",
        bytes(&v),
        200,
        Message,
    );

    // Valid JSON that is not the provider's shape.
    for (name, body) in [
        ("array", "[1,2,3]"),
        ("number", "42"),
        ("string", "\"hello\""),
        ("null", "null"),
    ] {
        c.signed(
            "not the provider's shape",
            name,
            body.as_bytes().to_vec(),
            400,
            Quarantine,
        );
    }
    let stranger = match provider {
        Provider::TiktokShop => r#"{"event":"message_created","payload":{"uuid":"x"}}"#,
        Provider::Partoo => r#"{"type":14,"data":{"message_id":"1"}}"#,
        Provider::Callbell => r#"{"event":{"name":"message_created"},"payload":{}}"#,
    };
    c.signed(
        "not the provider's shape",
        "another provider's payload",
        stranger.as_bytes().to_vec(),
        400,
        Quarantine,
    );
    let (status, stores) = if callbell {
        (200, Nothing)
    } else {
        (400, Quarantine)
    };
    c.signed(
        "not the provider's shape",
        "unrelated object",
        br#"{"hello":"world"}"#.to_vec(),
        status,
        stores,
    );

    c.cases
}

fn hmac_hex_body_only(body: &[u8]) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(TIKTOK_APP_SECRET.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn sign_with_other_partoo_key(body: &[u8]) -> String {
    use ed25519_dalek::{Signer, SigningKey};
    let signature = SigningKey::from_bytes(&[7u8; 32]).sign(body);
    base64::engine::general_purpose::STANDARD.encode(signature.to_bytes())
}

#[tokio::test]
async fn bad_input_corpus() {
    let admin = admin_client().await;
    let mut summary: BTreeMap<(&'static str, &'static str), usize> = BTreeMap::new();
    let mut totals = Vec::new();
    for provider in Provider::ALL {
        let table = create_table(&admin, &format!("corpus-{}", provider.function_name())).await;
        let handler = table_handler(provider, &table, local_client().await);
        let cases = corpus(provider);
        let mut seen: HashSet<(String, String)> = HashSet::new();
        let mut categories: BTreeMap<&str, usize> = BTreeMap::new();
        for case in &cases {
            *categories.entry(case.category).or_default() += 1;
            *summary
                .entry((case.category, provider.as_str()))
                .or_default() += 1;
            let response = handler.handle_event(&case.event).await;
            let what = format!("{provider} / {} / {}", case.category, case.name);
            let (status, body) = answer(&response);
            assert_eq!(status, case.status, "{what}: {body}");
            assert!(status < 500, "{what}: a client's mistake answered {status}");
            if case.forged {
                assert!(
                    !(200..300).contains(&status),
                    "{what}: a forgery answered {status}"
                );
            }
            if status >= 400 {
                assert!(
                    body["error"].as_str().is_some_and(|e| !e.is_empty()),
                    "{what}: {body}"
                );
            }
            // What this case added to the table.
            let items = scan(&admin, &table).await;
            let added: Vec<_> = items
                .iter()
                .filter(|i| seen.insert((s(i, "pk").to_string(), s(i, "sk").to_string())))
                .collect();
            match case.stores {
                Stores::Nothing => assert!(added.is_empty(), "{what}: stored {added:?}"),
                Stores::Message => {
                    let kinds: Vec<&str> = added.iter().map(|i| &s(i, "sk")[..3]).collect();
                    assert_eq!(added.len(), 2, "{what}: {kinds:?}");
                    assert!(
                        kinds.contains(&"MSG") && kinds.contains(&"ID#"),
                        "{what}: {kinds:?}"
                    );
                }
                Stores::Quarantine => {
                    assert_eq!(added.len(), 1, "{what}");
                    assert_eq!(
                        s(added[0], "pk"),
                        format!("QUARANTINE#{provider}"),
                        "{what}"
                    );
                    let raw = added[0]["raw"].as_b().expect("raw is binary");
                    assert_eq!(
                        raw.as_ref(),
                        case.body.as_slice(),
                        "{what}: quarantine keeps the exact body"
                    );
                }
            }
        }
        assert!(cases.len() >= 50, "{provider}: only {} cases", cases.len());
        for (category, n) in &categories {
            assert!(*n >= 3, "{provider}: only {n} cases of {category}");
        }
        totals.push((provider, cases.len()));
    }
    println!("bad-input corpus: cases per category and provider");
    let mut last = "";
    for ((category, provider), n) in &summary {
        if *category != last {
            print!("\n  {category:<34}");
            last = category;
        }
        print!(" {provider}={n}");
    }
    println!();
    for (provider, n) in totals {
        println!("  {provider}: {n} cases, 0 panics, 0 wrong answers");
    }
}
