//! The bad-input corpus: for each provider, more than 50 hostile or broken requests in 13
//! categories, each with the status the contract gives it and what it may store, run through the
//! real handler against DynamoDB Local. Zero panics, zero 2xx for a forgery, zero 5xx for a
//! client's mistake, and nothing stored but what each case allows.

mod support;

use std::collections::{BTreeMap, HashSet};

use ingest::testkit::{Credentials, HostileCase, Samples, Shape, Stores};
use serde_json::{json, Value};
use support::*;

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
    id: ProviderId,
    cases: Vec<Case>,
    next_id: u64,
}

impl Corpus {
    fn samples(&self) -> &'static dyn Samples {
        self.id.samples()
    }

    fn shape(&self) -> &'static Shape {
        self.samples().shape()
    }

    /// A valid message body with a fresh id, as a JSON value.
    fn message(&mut self) -> Value {
        self.next_id += 1;
        self.samples().message("conv", self.next_id, "hello")
    }

    fn credentials(&self, body: &[u8]) -> Credentials {
        self.samples().sign(body, NOW)
    }

    fn event(
        &self,
        format: Format,
        credentials: &Credentials,
        body: &[u8],
        base64: bool,
    ) -> Vec<u8> {
        event(format, self.id.function(), credentials, body, base64)
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
        let credentials = self.credentials(&body);
        self.with_credentials(category, name, body, &credentials, status, stores, false);
    }

    #[allow(clippy::too_many_arguments)]
    fn with_credentials(
        &mut self,
        category: &'static str,
        name: impl Into<String>,
        body: Vec<u8>,
        credentials: &Credentials,
        status: u16,
        stores: Stores,
        forged: bool,
    ) {
        let base64 = std::str::from_utf8(&body).is_err();
        let event = self.event(Format::HttpApiV2, credentials, &body, base64);
        self.push(category, name, event, body, status, stores, forged);
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

fn corpus(id: ProviderId) -> Vec<Case> {
    use Stores::*;
    let mut c = Corpus {
        id,
        cases: Vec::new(),
        next_id: 0,
    };
    let shape = c.shape();

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
    for path in shape.required {
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
    for path in shape.optional {
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
    for path in shape.required {
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
        let (status, stores) = if shape.connection_checks {
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
    // Where an object without the event field is answered as a connection check (and kept,
    // in case it is a message without its envelope), it is one however deep.
    let (status, stores) = if shape.connection_checks {
        (200, Quarantine)
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
        shape.optional[0],
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
    let id_path = shape.message_id;
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
    // Where the message id is optional, an unusable one falls back to a derived id.
    let (status, stores) = if shape.message_id_optional {
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
    set(&mut v, shape.optional[0], json!(1.7e308));
    c.signed(
        "huge numbers",
        "optional field near f64::MAX",
        bytes(&v),
        200,
        Message,
    );

    // Duplicate keys: ambiguous, so not a message; the body is kept.
    let text = String::from_utf8(bytes(&c.message())).unwrap();
    let first_key = shape.event_field;
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
    // Keys nothing reads are no less ambiguous when repeated.
    let unknown_twice = text.replacen('{', r#"{"unknown":1,"unknown":2,"#, 1);
    c.signed(
        "duplicate keys",
        "unknown key twice",
        unknown_twice.into_bytes(),
        400,
        Quarantine,
    );
    let nested_twice = text.replacen('{', r#"{"extra":{"deep":[{"k":1,"k":1}]},"#, 1);
    c.signed(
        "duplicate keys",
        "key twice in a nested unknown object",
        nested_twice.into_bytes(),
        400,
        Quarantine,
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
    let e = c.event(Format::HttpApiV2, &Credentials::default(), &big, false);
    c.push(
        "oversized bodies",
        "128 KiB + 1, unsigned",
        e,
        big.clone(),
        413,
        Nothing,
        true,
    );
    let e = c.event(
        Format::HttpApiV2,
        &Credentials::default(),
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
    let credentials = c.credentials(&body);
    let encoded = c.event(Format::HttpApiV2, &credentials, &body, true);
    c.push(
        "base64 bodies",
        "valid base64",
        encoded.clone(),
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
        let mut e: Value = serde_json::from_slice(&encoded).unwrap();
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

    // Header case and repeats.
    let body = bytes(&c.message());
    let credentials = c.credentials(&body);
    let (name, value) = credentials
        .headers
        .first()
        .cloned()
        .expect("every provider's signed credentials include a header");
    for (label, variant) in [
        ("upper case", name.to_uppercase()),
        ("lower case", name.to_lowercase()),
    ] {
        let body = bytes(&c.message());
        let mut credentials = c.credentials(&body);
        credentials.headers[0].0 = variant;
        let e = c.event(Format::RestApiV1, &credentials, &body, false);
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
        serde_json::from_slice(&c.event(Format::RestApiV1, &credentials, &body, false)).unwrap();
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
    // HTTP API joins repeated headers with commas. A signature for this body sent twice is no
    // longer one valid signature (fail closed), except where the header is a list already.
    let twice = bytes(&c.message());
    let signed_twice = c.credentials(&twice);
    let joined = Credentials {
        headers: vec![(
            name.clone(),
            format!(
                "{},{}",
                signed_twice.headers[0].1, signed_twice.headers[0].1
            ),
        )],
        query: signed_twice.query.clone(),
    };
    let (status, stores) = if shape.signature_header_is_a_list {
        (200, Message)
    } else {
        (401, Nothing)
    };
    c.with_credentials(
        "header case and repeats",
        "the same signature comma-joined",
        twice,
        &joined,
        status,
        stores,
        false,
    );
    let other = bytes(&c.message());
    let joined = Credentials {
        headers: vec![(name.clone(), format!("{value},{value}"))],
        query: credentials.query.clone(),
    };
    c.with_credentials(
        "header case and repeats",
        "another body's signature comma-joined",
        other,
        &joined,
        401,
        Nothing,
        true,
    );

    // Every signature failure.
    let body = bytes(&c.message());
    let credentials = c.credentials(&body);
    let (name, value) = credentials.headers[0].clone();
    let header = |value: String| Credentials::header(&name, value);
    let mut forgeries: Vec<(String, Credentials, Vec<u8>)> = vec![
        ("missing".into(), Credentials::default(), body.clone()),
        ("empty value".into(), header(String::new()), body.clone()),
        (
            "truncated".into(),
            header(value[..value.len() / 2].to_string()),
            body.clone(),
        ),
        (
            "wrong prefix".into(),
            header(format!("sha256={value}")),
            body.clone(),
        ),
        (
            "signature of another body".into(),
            c.credentials(b"{}"),
            body.clone(),
        ),
        (
            "spoiled".into(),
            c.samples().forge(&body, NOW),
            body.clone(),
        ),
    ];
    let mut changed = body.clone();
    let at = changed.len() / 2;
    changed[at] ^= 0x01;
    forgeries.push(("one body byte changed".into(), credentials.clone(), changed));
    for (label, credentials, body) in forgeries {
        c.with_credentials(
            "signature failures",
            label,
            body,
            &credentials,
            401,
            Nothing,
            true,
        );
    }

    // Beyond what the table can hold: invalid rather than retried forever.
    let mut v = c.message();
    set(&mut v, shape.conversation_id, json!("c".repeat(2100)));
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
    // Answered as a connection check where there are some, and kept (row 5, (3)).
    let (status, stores) = if shape.connection_checks {
        (200, Quarantine)
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

    // What only this provider can be sent: its own forgeries, dates and numbers.
    let samples = c.samples();
    let mut next = c.next_id;
    let mut fresh = || {
        next += 1;
        samples.message("conv", 1_000_000 + next, "hello")
    };
    for HostileCase {
        category,
        name,
        body,
        credentials,
        status,
        stores,
        forged,
    } in samples.hostile_cases(&mut fresh)
    {
        c.with_credentials(category, name, body, &credentials, status, stores, forged);
    }

    c.cases
}

#[tokio::test]
async fn bad_input_corpus() {
    let admin = admin_client().await;
    let mut summary: BTreeMap<(&'static str, &'static str), usize> = BTreeMap::new();
    let mut totals = Vec::new();
    for provider in ProviderId::ALL.iter().copied() {
        let table = create_table(&admin, &format!("corpus-{}", provider.function())).await;
        let handler = table_handler(provider, &table, local_client().await);
        let cases = corpus(provider);
        let mut seen: HashSet<(String, String)> = HashSet::new();
        let mut categories: BTreeMap<&str, usize> = BTreeMap::new();
        for case in &cases {
            *categories.entry(case.category).or_default() += 1;
            *summary.entry((case.category, provider.name())).or_default() += 1;
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
                    let message = added
                        .iter()
                        .find(|i| s(i, "sk").starts_with("MSG#"))
                        .unwrap_or_else(|| panic!("{what}: no message item in {kinds:?}"));
                    // An id item only where an update finds its message by id alone: a
                    // message a Callbell business sent on WhatsApp.
                    let by_id = s(message, "provider") == "callbell"
                        && s(message, "direction") == "outbound"
                        && s(message, "channel") == "whatsapp";
                    assert_eq!(added.len(), 1 + usize::from(by_id), "{what}: {kinds:?}");
                    if by_id {
                        assert!(kinds.contains(&"ID#"), "{what}: {kinds:?}");
                    }
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
