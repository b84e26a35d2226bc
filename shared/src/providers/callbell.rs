//! Callbell: `message_created` and `message_status_updated` on the account's one webhook URL,
//! authenticated by an optional signature or a URL token, and how a Callbell message becomes a
//! normalized one. Callbell has no conversation id and does not always send a message id: both
//! are derived, the same way for every redelivery.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::config::Env;
use crate::error::{Invalid, Misconfigured, Unauthorized};
use crate::message::{
    checked_time, Attachment, AttachmentKind, Contact, Direction, Kind, Location, Message, Role,
    Sender,
};
use crate::providers::{Provider, Verify};
use crate::request::Request;
use crate::storage::keys::time_order_key;
use crate::verify::{
    any_tag_matches, decode_hex_tag, hmac_sha256, same_secret, single_header, Secret, Verified,
};
use crate::webhook::{IfUnknown, StatusOrder, Update, Webhook};
use crate::wire::{object, parse_object, required, required_object, List, Object, Value};

pub struct Callbell;

impl Provider for Callbell {
    const NAME: &'static str = "callbell";
    const FUNCTION: &'static str = "callbell";
    /// enqueued < sent < delivered < read; failed and mismatch are final.
    const STATUS_ORDER: StatusOrder = StatusOrder::new(
        &[
            &["enqueued"],
            &["sent"],
            &["delivered"],
            &["read"],
            &["failed", "mismatch"],
        ],
        &["failed", "mismatch"],
    );
    type Verifier = Checks;

    fn verifier(env: &Env) -> Result<Checks, Misconfigured> {
        let signing_secret = env.get("CALLBELL_WEBHOOK_SECRET").map(Secret::new);
        let url_token = env.get("CALLBELL_URL_TOKEN").map(Secret::new);
        if signing_secret.is_none() && url_token.is_none() {
            return Err(Misconfigured(
                "set CALLBELL_WEBHOOK_SECRET or CALLBELL_URL_TOKEN (or both)".into(),
            ));
        }
        Ok(Checks {
            signing_secret,
            url_token,
        })
    }

    fn read(request: &Verified<'_>) -> Result<Webhook, Invalid> {
        read_body(request.body())
    }
}

/// The header that carries the signature: `t=<unix seconds>,v1=<hex>`.
pub const SIGNATURE_HEADER: &str = "x-callbell-signature";
/// The query parameter that carries the URL token.
pub const TOKEN_PARAMETER: &str = "token";
/// How far a signature's `t` may be from now, either way.
pub const TOLERANCE_SECS: i64 = 300;

/// What authenticates a Callbell call: a signature (HMAC-SHA256 over `<t>.<body>`, keyed with
/// the whole `whsec_…` secret, `t` within 300 s of now), or the token the webhook URL carries,
/// whichever is configured and passes.
#[derive(Clone, Debug)]
pub struct Checks {
    signing_secret: Option<Secret>,
    url_token: Option<Secret>,
}

impl Verify for Checks {
    fn check(&self, request: &Request, now: i64) -> Result<(), Unauthorized> {
        let signature = self
            .signing_secret
            .as_ref()
            .map(|secret| check_signature(secret, request, now));
        if let Some(Ok(())) = signature {
            return Ok(());
        }
        if let Some(token) = &self.url_token {
            if request
                .query_values(TOKEN_PARAMETER)
                .any(|given| same_secret(token, given))
            {
                return Ok(());
            }
        }
        Err(match (signature, &self.url_token) {
            // A signature was attempted: its failure is the useful message.
            (Some(Err(e)), None) => e,
            (Some(Err(e)), Some(_)) if request.has_header(SIGNATURE_HEADER) => e,
            (Some(_), Some(_)) => Unauthorized::NoValidCredential,
            _ => Unauthorized::BadToken,
        })
    }
}

fn check_signature(secret: &Secret, request: &Request, now: i64) -> Result<(), Unauthorized> {
    let header = single_header(request, SIGNATURE_HEADER)?;
    let malformed = |reason| Unauthorized::MalformedHeader {
        header: SIGNATURE_HEADER,
        reason,
    };
    let mut timestamp: Option<&str> = None;
    let mut candidates: Vec<[u8; 32]> = Vec::new();
    for part in header.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or(malformed("expected t=<seconds>,v1=<hex>"))?;
        match key.trim() {
            "t" => timestamp = Some(value.trim()),
            "v1" => candidates
                .push(decode_hex_tag(value.trim()).ok_or(malformed("v1 is not 64 hex digits"))?),
            _ => {} // other schemes may be added by the provider; v1 is the one we check
        }
    }
    let timestamp = timestamp.ok_or(malformed("no t="))?;
    let seconds: i64 = timestamp
        .parse()
        .map_err(|_| malformed("t is not a Unix time in seconds"))?;
    if candidates.is_empty() {
        return Err(malformed("no v1="));
    }
    let expected = hmac_sha256(secret, &[timestamp.as_bytes(), b".", request.body()]);
    // Every candidate is compared (a second v1 appears while a secret rotates).
    if !any_tag_matches(&candidates, &expected) {
        return Err(Unauthorized::BadSignature("X-Callbell-Signature"));
    }
    let skew = now.saturating_sub(seconds);
    if skew.abs() > TOLERANCE_SECS {
        return Err(Unauthorized::Stale(skew));
    }
    Ok(())
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    event: Option<Value<'a>>,
    #[serde(borrow)]
    payload: Option<Object<Payload<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload<'a> {
    #[serde(borrow)]
    uuid: Option<Value<'a>>,
    #[serde(borrow)]
    to: Option<Value<'a>>,
    #[serde(borrow)]
    from: Option<Value<'a>>,
    #[serde(borrow)]
    text: Option<Value<'a>>,
    #[serde(borrow, default)]
    attachments: List<Value<'a>>,
    #[serde(borrow)]
    status: Option<Value<'a>>,
    #[serde(borrow)]
    channel: Option<Value<'a>>,
    #[serde(borrow)]
    contact: Option<Object<WireContact<'a>>>,
    #[serde(borrow)]
    created_at: Option<Value<'a>>,
    #[serde(borrow)]
    message_location: Option<Object<MessageLocation<'a>>>,
    #[serde(borrow)]
    message_contact_card: Option<Value<'a>>,
    #[serde(borrow)]
    message_reply_button: Option<Value<'a>>,
    #[serde(borrow)]
    message_interactive_list: Option<Value<'a>>,
    /// The field table spells it `mesageContext`, the release notes `messageContext`.
    #[serde(borrow, rename = "mesageContext")]
    mesage_context: Option<Object<MessageContext<'a>>>,
    #[serde(borrow)]
    message_context: Option<Object<MessageContext<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireContact<'a> {
    #[serde(borrow)]
    conversation_href: Option<Value<'a>>,
    #[serde(borrow)]
    uuid: Option<Value<'a>>,
    #[serde(borrow)]
    name: Option<Value<'a>>,
    #[serde(borrow)]
    phone_number: Option<Value<'a>>,
    #[serde(borrow)]
    email: Option<Value<'a>>,
    #[serde(borrow)]
    avatar_url: Option<Value<'a>>,
}

#[derive(Deserialize)]
struct MessageLocation<'a> {
    #[serde(borrow)]
    coordinates: Option<Object<Coordinates<'a>>>,
}

/// `x` is the latitude and `y` the longitude: the provider's sample marks a place near São
/// Paulo with them in that order.
#[derive(Deserialize)]
struct Coordinates<'a> {
    #[serde(borrow)]
    x: Option<Value<'a>>,
    #[serde(borrow)]
    y: Option<Value<'a>>,
}

#[derive(Deserialize)]
struct MessageContext<'a> {
    #[serde(borrow)]
    target: Option<Object<ContextTarget<'a>>>,
}

/// The replied-to message; its fields are undocumented, so take whichever id it has.
#[derive(Deserialize)]
struct ContextTarget<'a> {
    #[serde(borrow)]
    uuid: Option<Value<'a>>,
    #[serde(borrow)]
    id: Option<Value<'a>>,
}

/// Reads an authentic Callbell webhook body.
fn read_body(body: &[u8]) -> Result<Webhook, Invalid> {
    // Connection checks: an empty body, or a JSON object without `event`.
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Webhook::ConnectionCheck);
    }
    let envelope: Envelope = parse_object(body)?;
    let event = match envelope.event.as_ref() {
        None | Some(Value::Null) => return Ok(Webhook::ConnectionCheck),
        Some(value) => value.text().ok_or_else(|| {
            Invalid::field(
                "event",
                format!("expected an event name, got {}", value.describe()),
            )
        })?,
    };
    match event.as_str() {
        "message_created" => {
            let payload = required_object(&envelope.payload, "payload")?;
            Ok(Webhook::NewMessage(Box::new(normalize(payload)?)))
        }
        "message_status_updated" => {
            let payload = required_object(&envelope.payload, "payload")?;
            Ok(Webhook::Update(Box::new(status_update(payload)?)))
        }
        _ => Ok(Webhook::Ignored("not_a_message_event")),
    }
}

/// A delivery status for an outbound message sent earlier; too little to store on its own.
fn status_update(payload: &Payload) -> Result<Update, Invalid> {
    let message_id = required(
        payload.uuid.as_ref(),
        "payload.uuid",
        Value::id,
        "a message uuid",
    )?;
    let status = required(
        payload.status.as_ref(),
        "payload.status",
        Value::text,
        "a status",
    )?;
    Ok(Update {
        provider: Callbell::NAME,
        conversation_id: conversation_of(payload)?,
        message_id,
        status: Some(status.to_lowercase()),
        deleted: false,
        if_unknown: IfUnknown::Ignore,
    })
}

/// The conversation: the last path segment of `contact.conversationHref`, else `contact.uuid`.
fn conversation_of(payload: &Payload) -> Result<String, Invalid> {
    let contact = required_object(&payload.contact, "payload.contact")?;
    let from_href = contact
        .conversation_href
        .as_ref()
        .and_then(Value::as_str)
        .and_then(last_path_segment);
    from_href
        .or_else(|| contact.uuid.as_ref().and_then(Value::id))
        .ok_or_else(|| {
            Invalid::field(
                "payload.contact.conversationHref",
                "required: conversationHref or uuid",
            )
        })
}

fn last_path_segment(href: &str) -> Option<String> {
    let path = href.split(['?', '#']).next().unwrap_or("");
    let path = path.split_once("://").map_or(path, |(_, rest)| {
        rest.split_once('/').map_or("", |(_, p)| p)
    });
    path.rsplit('/')
        .find(|s| !s.trim().is_empty())
        .map(str::to_string)
}

/// A Callbell message, normalized: its identity, who sent it, the customer, what it replies
/// to, where it points, its attachments, and then its kind.
fn normalize(payload: &Payload) -> Result<Message, Invalid> {
    let mut message = identity(payload)?;
    message.channel = payload
        .channel
        .as_ref()
        .and_then(Value::text)
        .map(|c| c.to_lowercase());
    if let Some(contact) = object(&payload.contact) {
        message.contact = contact_of(contact);
    }
    message.refs.reply_to = reply_to(payload);
    message.location = location(payload);
    message.attachments = attachment_urls(payload)
        .into_iter()
        .map(|url| Attachment::new(AttachmentKind::from_url(&url), url))
        .collect();
    message.text = payload.text.as_ref().and_then(Value::text);
    message.kind = kind(payload, &message);
    Ok(message)
}

/// Conversation, time, status (which says who sent it) and message id.
fn identity(payload: &Payload) -> Result<Message, Invalid> {
    let conversation_id = conversation_of(payload)?;
    let created = required(
        payload.created_at.as_ref(),
        "payload.createdAt",
        Value::text,
        "an ISO 8601 date",
    )?;
    let created_at = DateTime::parse_from_rfc3339(created.trim())
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| {
            Invalid::field(
                "payload.createdAt",
                "expected an ISO 8601 date like 2022-10-18T12:06:29.000+02:00",
            )
        })
        .and_then(|at| checked_time(at, "payload.createdAt"))?;
    let status = required(
        payload.status.as_ref(),
        "payload.status",
        Value::text,
        "a status",
    )?;
    let (role, direction) = match status.as_str() {
        "received" => (Role::Customer, Direction::Inbound),
        "sent" => (Role::Agent, Direction::Outbound),
        "note" => (Role::Agent, Direction::System),
        _ => (Role::System, Direction::System),
    };
    let mut message = Message::new(
        Callbell::NAME,
        conversation_id,
        String::new(),
        created_at,
        Sender::new(role),
        direction,
    );
    message.message_id = match payload.uuid.as_ref().and_then(Value::id) {
        Some(uuid) => uuid,
        None => derived_message_id(&message, payload, &status),
    };
    message.order_key = time_order_key(&message.created_at, &message.message_id);
    message.status = Some(status.to_lowercase());
    Ok(message)
}

fn contact_of(contact: &WireContact) -> Contact {
    let text = |s: &Option<Value>| s.as_ref().and_then(Value::text);
    Contact {
        id: text(&contact.uuid),
        name: text(&contact.name),
        phone: text(&contact.phone_number),
        email: text(&contact.email),
        avatar_url: text(&contact.avatar_url),
    }
}

/// The replied-to message's id, from either spelling of the context.
fn reply_to(payload: &Payload) -> Option<String> {
    let context = object(&payload.mesage_context).or(object(&payload.message_context))?;
    let target = object(&context.target)?;
    target
        .uuid
        .as_ref()
        .and_then(Value::id)
        .or_else(|| target.id.as_ref().and_then(Value::id))
}

/// Degrees, or it is not a location.
fn location(payload: &Payload) -> Option<Location> {
    let coordinates = object(&payload.message_location).and_then(|l| object(&l.coordinates))?;
    let degrees = |v: &Option<Value>, limit: f64| {
        v.as_ref()
            .and_then(Value::number)
            .filter(|d| d.abs() <= limit)
    };
    Some(Location {
        latitude: degrees(&coordinates.x, 90.0)?,
        longitude: degrees(&coordinates.y, 180.0)?,
    })
}

fn attachment_urls(payload: &Payload) -> Vec<String> {
    payload
        .attachments
        .0
        .iter()
        .filter_map(Value::text)
        .collect()
}

/// The first that applies: a location, a contact card, buttons or a list, text, the first
/// attachment's kind; else unsupported.
fn kind(payload: &Payload, message: &Message) -> Kind {
    let present = |v: &Option<Value>| matches!(v, Some(Value::ObjectOrArray | Value::Str(_)));
    if message.location.is_some() {
        Kind::Location
    } else if present(&payload.message_contact_card) {
        Kind::ContactCard
    } else if present(&payload.message_reply_button) || present(&payload.message_interactive_list)
    {
        Kind::Interactive
    } else if message.text.is_some() {
        Kind::Text
    } else if let Some(first) = message.attachments.first() {
        first.kind.into()
    } else {
        Kind::Unsupported
    }
}

/// `derived-` + the first 32 hex digits of SHA-256 over the fields that identify a message,
/// joined with `\n` (absent fields as empty strings): stable across redeliveries and re-signing.
fn derived_message_id(message: &Message, payload: &Payload, status: &str) -> String {
    let field = |s: &Option<Value>| {
        s.as_ref()
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let mut parts = vec![
        message.conversation_id.clone(),
        message.created_at.clone(),
        field(&payload.from),
        field(&payload.to),
        status.to_string(),
        field(&payload.text),
    ];
    parts.extend(attachment_urls(payload));
    let digest = Sha256::digest(parts.join("\n").as_bytes());
    format!("derived-{}", &hex::encode(digest)[..32])
}

#[cfg(feature = "testkit")]
mod samples {
    use serde_json::{json, Value};

    use super::{Callbell, TOKEN_PARAMETER};
    use crate::verify::{hmac_sha256, Secret};
    use crate::testkit::{Primitive, 
        body_of, hmac_hex, local, Credentials, HostileCase, Samples, Shape, Stores::*,
    };

    fn signature(secret: &str, body: &[u8], t: i64) -> Credentials {
        let v1 = hmac_hex(secret.as_bytes(), &[t.to_string().as_bytes(), b".", body]);
        Credentials::header("X-Callbell-Signature", format!("t={t},v1={v1}"))
    }

    static SHAPE: Shape = Shape {
        event_field: "event",
        required: &[
            &["payload", "contact"],
            &["payload", "createdAt"],
            &["payload", "status"],
        ],
        optional: &[
            &["payload", "text"],
            &["payload", "attachments"],
            &["payload", "channel"],
        ],
        message_id: &["payload", "uuid"],
        conversation_id: &["payload", "contact", "conversationHref"],
        text_sample: "whatsapp-text.json",
        kinds: &["text", "image", "audio", "location", "contact_card", "interactive"],
        connection_checks: true,
        message_id_optional: true,
        signature_header_is_a_list: true,
    };

    /// Another provider's kind of payload, authentic but not this one's shape.
    const STRANGER: &[u8] = br#"{"event":{"name":"message_created"},"payload":{}}"#;

    impl Samples for Callbell {
        fn sign(&self, body: &[u8], now: i64) -> Credentials {
            signature(local("CALLBELL_WEBHOOK_SECRET"), body, now)
        }

        fn sign_lasting(&self, _body: &[u8]) -> Credentials {
            Credentials::query(TOKEN_PARAMETER, local("CALLBELL_URL_TOKEN"))
        }

        fn forge(&self, body: &[u8], now: i64) -> Credentials {
            signature("whsec_forged", body, now)
        }

        fn user_agent(&self) -> &'static str {
            "Faraday v2.9.0"
        }

        fn message(&self, conversation: &str, n: u64, text: &str) -> Value {
            json!({
                "event": "message_created",
                "payload": {
                    "uuid": format!("u{n}"), "to": "1", "from": "2", "text": text,
                    "status": "received", "channel": "whatsapp",
                    "createdAt": format!("2024-05-01T{:02}:{:02}:{:02}.000Z", 10 + n / 3600 % 14, n / 60 % 60, n % 60),
                    "contact": {
                        "uuid": format!("k-{conversation}"), "name": "John",
                        "conversationHref": format!("https://dash.callbell.eu/chat/{conversation}")
                    }
                }
            })
        }

        fn status_update(&self, conversation: &str, n: u64, _text: &str) -> Option<Value> {
            let message = self.message(conversation, n, "");
            Some(json!({
                "event": "message_status_updated",
                "payload": {
                    "uuid": message["payload"]["uuid"], "status": "read",
                    "contact": message["payload"]["contact"]
                }
            }))
        }

        fn set_text(&self, message: &mut Value, text: &str) {
            message["payload"]["text"] = json!(text);
        }

        fn primitive(&self, body: &[u8]) -> Primitive {
            let t = crate::testkit::NOW.to_string();
            let secret = Secret::new(local("CALLBELL_WEBHOOK_SECRET"));
            let tag = hmac_sha256(&secret, &[t.as_bytes(), b".", body]);
            Box::new(move |body| hmac_sha256(&secret, &[t.as_bytes(), b".", body]) == tag)
        }

        fn primitive_name(&self) -> (&'static str, bool) {
            ("primitive: HMAC-SHA256", false)
        }

        fn shape(&self) -> &'static Shape {
            &SHAPE
        }

        fn hostile_cases(&self, message: &mut dyn FnMut() -> Value) -> Vec<HostileCase> {
            let body = body_of(&message());
            let forged = |name: &str, credentials: Credentials| HostileCase {
                category: "signature failures",
                name: name.to_string(),
                credentials,
                body: body.clone(),
                status: 401,
                stores: Nothing,
                forged: true,
            };
            let now = crate::testkit::NOW;
            let mut after_9999 = message();
            after_9999["payload"]["createdAt"] = json!("+10000-01-01T00:00:00Z");
            let mut huge_location = message();
            huge_location["payload"]["messageLocation"] =
                json!({"coordinates": {"x": 1e300, "y": "1e-300"}});
            let signed = |name: &str, value: &Value, status, stores| {
                let body = body_of(value);
                HostileCase {
                    category: "beyond the table's limits",
                    name: name.to_string(),
                    credentials: self.sign(&body, now),
                    body,
                    status,
                    stores,
                    forged: false,
                }
            };
            vec![
                forged("stale t (301 s old)", self.sign(&body, now - 301)),
                forged("future t (301 s ahead)", self.sign(&body, now + 301)),
                forged(
                    "wrong URL token",
                    Credentials::query(TOKEN_PARAMETER, "not-the-token"),
                ),
                forged(
                    "token in the wrong parameter",
                    Credentials::query("tok", local("CALLBELL_URL_TOKEN")),
                ),
                signed("a date after 9999", &after_9999, 400, Quarantine),
                signed("numbers DynamoDB can't hold", &huge_location, 200, Message),
                HostileCase {
                    category: "not the provider's shape",
                    name: "another provider's payload".into(),
                    credentials: self.sign(STRANGER, crate::testkit::NOW),
                    body: STRANGER.to_vec(),
                    status: 400,
                    stores: Quarantine,
                    forged: false,
                },
            ]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Known answers: the provider notes' test vector.
    const VECTOR_SECRET: &str = "whsec_dGVzdC12ZWN0b3ItY2FsbGJlbGw=";
    const VECTOR_BODY: &str = r#"{"event":"message_created","payload":{"uuid":"m1","text":"hi"}}"#;
    const VECTOR_SIGNATURE: &str =
        "t=1763700000,v1=3f0253265d3978f8559d261f5fbde51667f2f8136902a050ce0d7eaa957acdc1";
    const VECTOR_T: i64 = 1_763_700_000;

    fn checks(secret: bool, token: bool) -> Checks {
        let lookup = move |name: &str| match name {
            "CALLBELL_WEBHOOK_SECRET" if secret => Some(VECTOR_SECRET.to_string()),
            "CALLBELL_URL_TOKEN" if token => Some("tok-123".to_string()),
            _ => None,
        };
        Callbell::verifier(&Env::new(&lookup)).unwrap()
    }

    fn signed(signature: &str, body: &str) -> Request {
        Request::new(&[("X-Callbell-Signature", signature)], &[], body)
    }

    #[test]
    fn signature_known_answer_within_the_window() {
        let req = signed(VECTOR_SIGNATURE, VECTOR_BODY);
        let only_signature = checks(true, false);
        assert!(only_signature.check(&req, VECTOR_T).is_ok());
        assert!(only_signature.check(&req, VECTOR_T + 300).is_ok());
        assert!(only_signature.check(&req, VECTOR_T - 300).is_ok());
        assert_eq!(
            only_signature.check(&req, VECTOR_T + 301),
            Err(Unauthorized::Stale(301))
        );
        assert_eq!(
            only_signature.check(&req, VECTOR_T - 301),
            Err(Unauthorized::Stale(-301))
        );
    }

    #[test]
    fn signature_rejects_changed_body_and_bad_headers() {
        let only_signature = checks(true, false);
        let req = signed(VECTOR_SIGNATURE, &VECTOR_BODY.replace("hi", "ho"));
        assert_eq!(
            only_signature.check(&req, VECTOR_T),
            Err(Unauthorized::BadSignature("X-Callbell-Signature"))
        );
        for bad in [
            "v1=3f02",
            "t=abc,v1=3f0253265d3978f8559d261f5fbde51667f2f8136902a050ce0d7eaa957acdc1",
            "t=1763700000",
            "garbage",
        ] {
            assert!(
                matches!(
                    only_signature.check(&signed(bad, VECTOR_BODY), VECTOR_T),
                    Err(Unauthorized::MalformedHeader { .. })
                ),
                "{bad}"
            );
        }
        // A second v1 may be present (rotation); either may match.
        let two = format!(
            "t=1763700000,v1={},v1=3f0253265d3978f8559d261f5fbde51667f2f8136902a050ce0d7eaa957acdc1",
            "0".repeat(64)
        );
        assert!(only_signature.check(&signed(&two, VECTOR_BODY), VECTOR_T).is_ok());
    }

    #[test]
    fn token_alone_or_either_check() {
        let with_token = Request::new(&[], &[("token", "tok-123")], VECTOR_BODY);
        let wrong_token = Request::new(&[], &[("token", "tok-124")], VECTOR_BODY);
        let signature = signed(VECTOR_SIGNATURE, VECTOR_BODY);
        assert!(checks(false, true).check(&with_token, 0).is_ok());
        assert_eq!(
            checks(false, true).check(&wrong_token, 0),
            Err(Unauthorized::BadToken)
        );
        assert_eq!(
            checks(false, true).check(&signature, VECTOR_T),
            Err(Unauthorized::BadToken)
        );
        assert!(checks(true, true).check(&with_token, 0).is_ok());
        assert!(checks(true, true).check(&signature, VECTOR_T).is_ok());
        assert_eq!(
            checks(true, true).check(&wrong_token, 0),
            Err(Unauthorized::NoValidCredential)
        );
        // The token only counts where configured.
        assert_eq!(
            checks(true, false).check(&with_token, 0),
            Err(Unauthorized::MissingHeader("x-callbell-signature"))
        );
    }

    #[test]
    fn settings_need_a_secret_or_a_token_and_hide_them() {
        let lookup = |name: &str| (name == "CALLBELL_URL_TOKEN").then(|| "  ".to_string());
        assert!(Callbell::verifier(&Env::new(&lookup)).is_err());
        let shown = format!("{:?}", checks(true, true));
        assert!(!shown.contains("tok-123") && !shown.contains("whsec"), "{shown}");
    }

    #[test]
    fn statuses_only_move_forward() {
        let order = Callbell::STATUS_ORDER;
        assert!(order.may_replace(None, "sent"));
        assert!(order.may_replace(Some("enqueued"), "sent"));
        assert!(order.may_replace(Some("sent"), "delivered"));
        assert!(order.may_replace(Some("delivered"), "read"));
        assert!(!order.may_replace(Some("read"), "delivered"));
        assert!(!order.may_replace(Some("delivered"), "sent"));
        assert!(!order.may_replace(Some("read"), "read"));
        assert!(order.may_replace(Some("delivered"), "failed"));
        assert!(!order.may_replace(Some("failed"), "read"));
        assert!(!order.may_replace(Some("mismatch"), "delivered"));
    }

    const CONTACT: &str = r#"{"uuid":"eb2b","conversationHref":"https://dash.callbell.eu/chat/f367","name":"John Doe","phoneNumber":"331122334455","avatarUrl":null}"#;

    fn created(extra: &str) -> Message {
        let b = format!(
            r#"{{"event":"message_created","payload":{{"status":"received","channel":"WhatsApp","contact":{CONTACT},"createdAt":"2022-10-18T12:06:29.000+02:00"{extra}}}}}"#
        );
        match read_body(b.as_bytes()).unwrap() {
            Webhook::NewMessage(m) => *m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn text_with_uuid() {
        let m = created(r#","uuid":"m-1","text":"Hello","from":"1","to":"2""#);
        assert_eq!(
            (m.message_id.as_str(), m.kind, m.text.as_deref()),
            ("m-1", Kind::Text, Some("Hello"))
        );
        assert_eq!(m.conversation_id, "f367");
        assert_eq!(m.created_at, "2022-10-18T10:06:29.000Z");
        assert_eq!(m.order_key, "2022-10-18T10:06:29.000Z#m-1");
        assert_eq!(m.channel.as_deref(), Some("whatsapp"));
        assert_eq!(
            (m.sender.role, m.direction),
            (Role::Customer, Direction::Inbound)
        );
        assert_eq!(m.contact.id.as_deref(), Some("eb2b"));
        assert_eq!(m.contact.avatar_url, None);
    }

    #[test]
    fn attachments_take_their_kind_from_the_url_path() {
        let m = created(
            r#","uuid":"m","attachments":["https://x/a/voice.OGG?sig=1.png","https://x/b.pdf"]"#,
        );
        assert_eq!(m.kind, Kind::Audio);
        assert_eq!(m.attachments[0].kind, AttachmentKind::Audio);
        assert_eq!(m.attachments[1].kind, AttachmentKind::Document);
        // Text wins over attachments, and the attachments are kept.
        let m = created(r#","uuid":"m","text":"see","attachments":["https://x/p.jpeg"]"#);
        assert_eq!((m.kind, m.attachments.len()), (Kind::Text, 1));
    }

    #[test]
    fn precedence_location_contact_card_interactive() {
        let loc = r#","messageLocation":{"coordinates":{"x":-23.6,"y":-46.6}}"#;
        let card = r#","messageContactCard":{"contactsInfo":[]}"#;
        let buttons = r#","messageReplyButton":{"metadata":{"type":"quick_reply"}}"#;
        let list = r#","messageInteractiveList":{"metadata":"{\"header\":\"h\"}"}"#;
        let m = created(&format!(r#","text":"t"{loc}{card}{buttons}"#));
        assert_eq!(m.kind, Kind::Location);
        assert_eq!(
            m.location,
            Some(Location {
                latitude: -23.6,
                longitude: -46.6
            })
        );
        assert_eq!(m.text.as_deref(), Some("t"));
        assert_eq!(
            created(&format!(r#","text":"t"{card}{buttons}"#)).kind,
            Kind::ContactCard
        );
        assert_eq!(
            created(&format!(r#","text":"t"{buttons}"#)).kind,
            Kind::Interactive
        );
        assert_eq!(created(list).kind, Kind::Interactive);
        assert_eq!(
            created(r#","messageLocation":null,"messageContactCard":null"#).kind,
            Kind::Unsupported
        );
    }

    #[test]
    fn replies_in_both_spellings() {
        let m =
            created(r#","text":"yes","mesageContext":{"target":{"uuid":"orig-1"},"text":"q?"}"#);
        assert_eq!(m.refs.reply_to.as_deref(), Some("orig-1"));
        let m = created(r#","text":"yes","messageContext":{"target":{"uuid":"orig-2"}}"#);
        assert_eq!(m.refs.reply_to.as_deref(), Some("orig-2"));
    }

    #[test]
    fn statuses_give_direction() {
        let b = |status: &str| {
            format!(
                r#"{{"event":"message_created","payload":{{"status":"{status}","contact":{CONTACT},"createdAt":"2022-10-18T10:06:29Z","text":"x"}}}}"#
            )
        };
        for (status, role, direction) in [
            ("sent", Role::Agent, Direction::Outbound),
            ("note", Role::Agent, Direction::System),
        ] {
            match read_body(b(status).as_bytes()).unwrap() {
                Webhook::NewMessage(m) => {
                    assert_eq!((m.sender.role, m.direction), (role, direction))
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn derived_ids_are_stable_and_depend_on_content() {
        let a = created(r#","text":"Hello","from":"1","to":"2""#);
        let b = created(r#","text":"Hello","from":"1","to":"2""#);
        let c = created(r#","text":"Hello!","from":"1","to":"2""#);
        assert!(a.message_id.starts_with("derived-") && a.message_id.len() == 8 + 32);
        assert_eq!(a.message_id, b.message_id);
        assert_ne!(a.message_id, c.message_id);
    }

    #[test]
    fn conversation_falls_back_to_the_contact_uuid() {
        let b = r#"{"event":"message_created","payload":{"status":"received","contact":{"uuid":"c-9"},"createdAt":"2022-10-18T10:06:29Z","text":"x"}}"#;
        match read_body(b.as_bytes()).unwrap() {
            Webhook::NewMessage(m) => assert_eq!(m.conversation_id, "c-9"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            last_path_segment("https://dash.callbell.eu/chat/abc/?x=1").as_deref(),
            Some("abc")
        );
        assert_eq!(last_path_segment("https://dash.callbell.eu"), None);
    }

    #[test]
    fn status_updates_find_their_message() {
        let b = format!(
            r#"{{"event":"message_status_updated","payload":{{"uuid":"m-1","status":"Delivered","contact":{CONTACT}}}}}"#
        );
        match read_body(b.as_bytes()).unwrap() {
            Webhook::Update(u) => {
                assert_eq!(
                    (
                        u.conversation_id.as_str(),
                        u.message_id.as_str(),
                        u.status.as_deref()
                    ),
                    ("f367", "m-1", Some("delivered"))
                );
                assert_eq!(u.if_unknown, IfUnknown::Ignore);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn connection_checks_and_other_events() {
        assert_eq!(read_body(b"").unwrap(), Webhook::ConnectionCheck);
        assert_eq!(read_body(b" \n").unwrap(), Webhook::ConnectionCheck);
        assert_eq!(read_body(b"{}").unwrap(), Webhook::ConnectionCheck);
        assert_eq!(read_body(br#"{"ping":1}"#).unwrap(), Webhook::ConnectionCheck);
        assert_eq!(
            read_body(br#"{"event":"contact_created","payload":{}}"#).unwrap(),
            Webhook::Ignored("not_a_message_event")
        );
    }

    #[test]
    fn required_fields_are_named() {
        let cases = [
            (r#"{"event":"message_created"}"#.to_string(), Some("payload")),
            (r#"{"event":5}"#.to_string(), Some("event")),
            (r#"{"event":"message_created","payload":{"status":"sent","createdAt":"2022-10-18T10:06:29Z"}}"#.to_string(), Some("payload.contact")),
            (r#"{"event":"message_created","payload":{"status":"sent","contact":{"name":"x"},"createdAt":"2022-10-18T10:06:29Z"}}"#.to_string(), Some("payload.contact.conversationHref")),
            (format!(r#"{{"event":"message_created","payload":{{"status":"sent","contact":{CONTACT}}}}}"#), Some("payload.createdAt")),
            (format!(r#"{{"event":"message_created","payload":{{"status":"sent","contact":{CONTACT},"createdAt":"18/10/2022"}}}}"#), Some("payload.createdAt")),
            (format!(r#"{{"event":"message_created","payload":{{"contact":{CONTACT},"createdAt":"2022-10-18T10:06:29Z"}}}}"#), Some("payload.status")),
            (format!(r#"{{"event":"message_status_updated","payload":{{"status":"read","contact":{CONTACT}}}}}"#), Some("payload.uuid")),
            (r#"[1,2]"#.to_string(), None),
            (r#""text""#.to_string(), None),
        ];
        for (b, field) in cases {
            let err = read_body(b.as_bytes()).unwrap_err();
            assert_eq!(err.field.as_deref(), field, "{b}: {err}");
        }
    }
}
