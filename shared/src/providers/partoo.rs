//! Partoo: `message_created` and `message_updated` (same payload), signed with Ed25519, and
//! how a Partoo message becomes a normalized one. Tryouts and the other Partoo events are
//! acknowledged and ignored.

use base64::Engine;
use chrono::{DateTime, NaiveDateTime, Utc};
use ed25519_dalek::{Signature, VerifyingKey};
use serde::Deserialize;

use crate::config::Env;
use crate::error::{Invalid, Misconfigured, Unauthorized};
use crate::message::{checked_time, non_empty, Attachment, AttachmentKind, Business, Contact, Direction, Kind, Message, OrderKey, Role, Sender};
use crate::providers::{Provider, ProviderId};
use crate::request::Request;
use crate::verify::{decode_hex_32, single_header, Verified, Verify};
use crate::webhook::{IfUnknown, Reason, StatusOrder, Update, Webhook};
use crate::wire::{object, parse_object, required, required_object, Object, Value};

pub struct Partoo;

impl Provider for Partoo {
    const NAME: &'static str = "partoo";
    const FUNCTION: &'static str = "partoo";
    /// Sending, then Success or Failed, both final.
    const STATUS_ORDER: StatusOrder =
        StatusOrder::new(&[&["sending"], &["success", "failed"]], &["success", "failed"]);
    type Verifier = PublicKeys;
    const ALLOW_LIST: Option<&'static str> = Some("PARTOO_ORG_IDS");

    fn verifier(env: &Env) -> Result<PublicKeys, Misconfigured> {
        let listed = env
            .get("PARTOO_PUBLIC_KEYS")
            .unwrap_or_else(|| PRODUCTION_KEY.to_string());
        // An empty entry (`a,,b`, a stray comma) is a typo, never skipped unseen.
        let keys = crate::accounts::entries("PARTOO_PUBLIC_KEYS", &listed)?
            .into_iter()
            .map(parse_public_key)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Misconfigured(format!("PARTOO_PUBLIC_KEYS: {e}")))?;
        Ok(PublicKeys(keys))
    }

    fn read(request: &Verified<'_>) -> Result<Webhook, Invalid> {
        if request.request().has_header(TRYOUT_HEADER) {
            return Ok(Webhook::Ignored(Reason::Tryout));
        }
        read_body(request.body())
    }

    /// `payload.org_id`, of a message event.
    fn account_of(body: &[u8]) -> Option<String> {
        let envelope: Envelope = serde_json::from_slice(body).ok()?;
        let event = envelope.event.as_ref()?.text()?;
        if event != "message_created" && event != "message_updated" {
            return None;
        }
        object(&envelope.payload)?.org_id.as_ref()?.id()
    }
}

/// Partoo's published production key, used when `PARTOO_PUBLIC_KEYS` is unset.
pub const PRODUCTION_KEY: &str =
    "d06f5c8872fa5d9417b96aba5b87452efc0d10f5a071db50804565048c195814";
/// Partoo's published sandbox key, for reference (set it in `PARTOO_PUBLIC_KEYS` to accept it).
#[allow(dead_code)] // Named here for the reader; only the tests use it.
pub const SANDBOX_KEY: &str = "2eccaf5f6c959c6dd92912057c4bd89369e4cda9e836002a052a9d78db9be2c3";

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "x-partoo-signature-v1";
/// The header a test delivery from Partoo's dashboard carries.
pub const TRYOUT_HEADER: &str = "x-partoo-webhook-tryout";

/// The keys accepted for `X-Partoo-Signature-v1`: a base64 Ed25519 signature of the raw body
/// by any of them. No timestamp, so no replay window.
#[derive(Clone, Debug)]
pub struct PublicKeys(Vec<VerifyingKey>);

impl Verify for PublicKeys {
    fn check(&self, request: &Request, _now: i64) -> Result<(), Unauthorized> {
        let given = single_header(request, SIGNATURE_HEADER)?;
        let malformed = Unauthorized::MalformedHeader {
            header: SIGNATURE_HEADER,
            reason: "expected a base64 Ed25519 signature (64 bytes)",
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(given)
            .map_err(|_| malformed.clone())?;
        let bytes: [u8; 64] = bytes.try_into().map_err(|_| malformed)?;
        let signature = Signature::from_bytes(&bytes);
        if self
            .0
            .iter()
            .any(|key| key.verify_strict(request.body(), &signature).is_ok())
        {
            Ok(())
        } else {
            Err(Unauthorized::BadSignature("X-Partoo-Signature-v1"))
        }
    }
}

/// One `PARTOO_PUBLIC_KEYS` entry: 64 hex digits of a raw Ed25519 public key.
pub fn parse_public_key(hex_key: &str) -> Result<VerifyingKey, String> {
    let hex_key = hex_key.trim();
    let bytes = decode_hex_32(hex_key)
        .ok_or_else(|| format!("public key {hex_key:?} is not 64 hex digits"))?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|_| format!("public key {hex_key:?} is not a valid Ed25519 point"))
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, rename = "type")]
    event: Option<Value<'a>>,
    #[serde(borrow)]
    payload: Option<Object<Payload<'a>>>,
}

#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(borrow)]
    message: Option<Object<WireMessage<'a>>>,
    #[serde(borrow)]
    conversation: Option<Object<Conversation<'a>>>,
    #[serde(borrow)]
    org_id: Option<Value<'a>>,
}

#[derive(Deserialize)]
struct WireMessage<'a> {
    #[serde(borrow)]
    id: Option<Value<'a>>,
    #[serde(borrow)]
    conversation_id: Option<Value<'a>>,
    #[serde(borrow)]
    date: Option<Value<'a>>,
    #[serde(borrow)]
    content_type: Option<Value<'a>>,
    #[serde(borrow)]
    sender_type: Option<Value<'a>>,
    #[serde(borrow)]
    sender_label: Option<Value<'a>>,
    #[serde(borrow)]
    status: Option<Value<'a>>,
    #[serde(borrow)]
    is_deleted: Option<Value<'a>>,
    #[serde(borrow)]
    is_automated: Option<Value<'a>>,
    #[serde(borrow)]
    content: Option<Value<'a>>,
    #[serde(borrow)]
    user_id: Option<Value<'a>>,
    #[serde(borrow)]
    custom_channel: Option<Object<MessageCustomChannel<'a>>>,
}

#[derive(Deserialize)]
struct MessageCustomChannel<'a> {
    #[serde(borrow)]
    external_message_id: Option<Value<'a>>,
}

#[derive(Deserialize)]
struct Conversation<'a> {
    #[serde(borrow)]
    consumer_img: Option<Value<'a>>,
    #[serde(borrow)]
    consumer_name: Option<Value<'a>>,
    #[serde(borrow)]
    consumer_phone_number: Option<Value<'a>>,
    #[serde(borrow)]
    consumer_email: Option<Value<'a>>,
    #[serde(borrow)]
    messaging_partner: Option<Value<'a>>,
    #[serde(borrow)]
    business: Option<Object<WireBusiness<'a>>>,
    #[serde(borrow)]
    custom_channel: Option<Object<ConversationCustomChannel<'a>>>,
}

#[derive(Deserialize)]
struct WireBusiness<'a> {
    #[serde(borrow)]
    id: Option<Value<'a>>,
    #[serde(borrow)]
    name: Option<Value<'a>>,
    #[serde(borrow)]
    city: Option<Value<'a>>,
    #[serde(borrow)]
    zipcode: Option<Value<'a>>,
    #[serde(borrow)]
    country: Option<Value<'a>>,
    #[serde(borrow)]
    formatted_address: Option<Value<'a>>,
}

#[derive(Deserialize)]
struct ConversationCustomChannel<'a> {
    #[serde(borrow)]
    external_conversation_id: Option<Value<'a>>,
}

/// Reads an authentic Partoo webhook body (tryouts are answered before this, by header).
fn read_body(body: &[u8]) -> Result<Webhook, Invalid> {
    let envelope: Envelope = parse_object(body)?;
    let event = required(
        envelope.event.as_ref(),
        "type",
        Value::text,
        "an event name",
    )?;
    let is_update = match event.as_str() {
        "message_created" => false,
        "message_updated" => true,
        _ => return Ok(Webhook::Ignored(Reason::NotAMessageEvent)),
    };
    let payload = required_object(&envelope.payload, "payload")?;
    let message = normalize(payload)?;
    if !is_update {
        return Ok(Webhook::NewMessage(Box::new(message)));
    }
    Ok(Webhook::Update(Box::new(Update {
        provider: ProviderId::Partoo,
        account_id: message.account_id.clone(),
        conversation_id: message.conversation_id.clone(),
        message_id: message.message_id.clone(),
        order_key: Some(message.order_key.clone()),
        status: message.status.clone(),
        deleted: message.deleted == Some(true),
        if_unknown: IfUnknown::StoreAsNew(Box::new(message)),
    })))
}

/// A Partoo message, normalized: who sent it and when, what it says, and the conversation
/// (channel and customer) it belongs to.
fn normalize(payload: &Payload) -> Result<Message, Invalid> {
    let wire = required_object(&payload.message, "payload.message")?;
    let automated = wire.is_automated.as_ref().and_then(Value::bool) == Some(true);
    let (sender, direction) = sender(wire, automated)?;
    let mut message = identity(wire, sender, direction)?;
    message.account_id = payload.org_id.as_ref().and_then(Value::id);
    message.status = wire
        .status
        .as_ref()
        .and_then(Value::text)
        .map(|s| s.to_lowercase());
    message.automated = automated.then_some(true);
    message.deleted =
        (wire.is_deleted.as_ref().and_then(Value::bool) == Some(true)).then_some(true);
    message.refs.external_message_id = object(&wire.custom_channel)
        .and_then(|c| c.external_message_id.as_ref())
        .and_then(Value::id);
    if let Some(conversation) = object(&payload.conversation) {
        apply_conversation(&mut message, conversation);
    }
    let content_type = wire
        .content_type
        .as_ref()
        .and_then(Value::text)
        .unwrap_or_default();
    apply_content(
        &mut message,
        &content_type,
        wire.content.as_ref().and_then(Value::text),
    );
    Ok(message)
}

/// The message's ids and time, placed in its conversation by time.
fn identity(wire: &WireMessage, sender: Sender, direction: Direction) -> Result<Message, Invalid> {
    let message_id = required(
        wire.id.as_ref(),
        "payload.message.id",
        Value::id,
        "a string or integer id",
    )?;
    let conversation_id = required(
        wire.conversation_id.as_ref(),
        "payload.message.conversation_id",
        Value::id,
        "a string or integer id",
    )?;
    let date = required(
        wire.date.as_ref(),
        "payload.message.date",
        Value::text,
        "a date string",
    )?;
    let created_at = parse_partoo_date(&date)
        .ok_or_else(|| {
            Invalid::field(
                "payload.message.date",
                "expected a date like 2023-01-31 16:22:17.327878+00:00",
            )
        })
        .and_then(|at| checked_time(at, "payload.message.date"))?;
    let mut message = Message::new(
        ProviderId::Partoo,
        conversation_id,
        message_id,
        created_at,
        sender,
        direction,
    );
    message.order_key = OrderKey::time(&message.created_at, &message.message_id);
    Ok(message)
}

/// Consumer is the customer; a User is an agent, or a bot when the message is automated;
/// Metadata lines and anything unknown are system lines.
fn sender(wire: &WireMessage, automated: bool) -> Result<(Sender, Direction), Invalid> {
    let sender_type = required(
        wire.sender_type.as_ref(),
        "payload.message.sender_type",
        Value::text,
        "a sender type",
    )?;
    let (role, direction) = match sender_type.as_str() {
        "Consumer" => (Role::Customer, Direction::Inbound),
        "User" if automated => (Role::Bot, Direction::Outbound),
        "User" => (Role::Agent, Direction::Outbound),
        _ => (Role::System, Direction::System),
    };
    let sender = Sender {
        role,
        id: wire.user_id.as_ref().and_then(Value::id),
        name: wire.sender_label.as_ref().and_then(Value::text),
    };
    Ok((sender, direction))
}

/// The channel (`messaging_partner`, lower case), the customer, the business location, and a
/// custom channel's own conversation id. (Its `is_automated` is the conversation's, not the
/// message's: not read.)
fn apply_conversation(message: &mut Message, conversation: &Conversation) {
    let text = |s: &Option<Value>| s.as_ref().and_then(Value::text);
    let id = |s: &Option<Value>| s.as_ref().and_then(Value::id);
    message.channel = text(&conversation.messaging_partner).map(|p| p.to_lowercase());
    message.contact = Contact {
        id: None,
        name: text(&conversation.consumer_name),
        phone: text(&conversation.consumer_phone_number),
        email: text(&conversation.consumer_email),
        avatar_url: text(&conversation.consumer_img),
    };
    if let Some(business) = object(&conversation.business) {
        message.business = Business {
            id: id(&business.id),
            name: text(&business.name),
            city: text(&business.city),
            zipcode: id(&business.zipcode),
            country: text(&business.country),
            address: text(&business.formatted_address),
        };
    }
    message.refs.external_conversation_id = object(&conversation.custom_channel)
        .and_then(|c| c.external_conversation_id.as_ref())
        .and_then(Value::id);
}

/// Text, Image, Video, Audio, Document, Instagram stories; anything else is unsupported. For
/// media, `content` is most likely the media URL (undocumented): it becomes the attachment
/// when it is a URL, and stays text when it isn't.
fn apply_content(message: &mut Message, content_type: &str, content: Option<String>) {
    let media = match content_type {
        "Text" => {
            message.kind = Kind::Text;
            message.text = content;
            return;
        }
        "Image" => Some(AttachmentKind::Image),
        "Video" => Some(AttachmentKind::Video),
        "Audio" => Some(AttachmentKind::Audio),
        "Document" => Some(AttachmentKind::Document),
        "IgStoryReply" | "IgStoryMention" => None,
        _ => {
            message.kind = Kind::Unsupported;
            message.text = content;
            return;
        }
    };
    message.kind = media.map_or(Kind::Story, Kind::from);
    match content {
        Some(url) if is_url(&url) => {
            let kind = media.unwrap_or_else(|| AttachmentKind::from_url(&url));
            message.attachments.push(Attachment::new(kind, url));
        }
        other => message.text = other.and_then(non_empty),
    }
}

fn is_url(s: &str) -> bool {
    let s = s.trim_start();
    s.starts_with("https://") || s.starts_with("http://")
}

/// Partoo dates: `2023-01-31 16:22:17.327878+00:00` (space, microseconds, offset), and
/// RFC 3339 proper; a date without an offset is taken as UTC.
fn parse_partoo_date(date: &str) -> Option<DateTime<Utc>> {
    let date = date.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(date) {
        return Some(at.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
    ] {
        if let Ok(at) = DateTime::parse_from_str(date, format) {
            return Some(at.with_timezone(&Utc));
        }
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(date, format).ok())
        .map(|naive| naive.and_utc())
}

#[cfg(feature = "testkit")]
mod samples {
    use base64::Engine as _;
    use ed25519_dalek::{Signer as _, SigningKey};
    use serde_json::{json, Value};

    use super::{Partoo, SIGNATURE_HEADER};
    use crate::testkit::{
        body_of, local, tolerated, Credentials, HostileCase, Primitive, Samples, Shape,
        Stores::*,
    };

    /// RFC 8032 test 1's secret key: a published test key, whose public key local.env lists in
    /// `PARTOO_PUBLIC_KEYS`. It signs every local Partoo sample; never trust it elsewhere.
    pub const LOCAL_SECRET_KEY: &str =
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

    fn signing_key(secret_hex: &str) -> SigningKey {
        SigningKey::from_bytes(&crate::verify::decode_hex_32(secret_hex).expect("64 hex digits"))
    }

    fn signature(key: &SigningKey, body: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(key.sign(body).to_bytes())
    }

    static SHAPE: Shape = Shape {
        event_field: "type",
        required: &[
            &["type"],
            &["payload", "message", "id"],
            &["payload", "message", "conversation_id"],
            &["payload", "message", "date"],
            &["payload", "message", "sender_type"],
        ],
        optional: &[
            &["payload", "message", "is_automated"],
            &["payload", "conversation"],
            &["payload", "message", "content"],
        ],
        message_id: &["payload", "message", "id"],
        conversation_id: &["payload", "message", "conversation_id"],
        text_sample: "whatsapp-consumer-text.json",
        kinds: &["text", "image", "video", "audio", "document", "story", "unsupported"],
        connection_checks: false,
        message_id_optional: false,
        signature_header_is_a_list: false,
    };

    /// Another provider's kind of payload, authentic but not this one's shape.
    const STRANGER: &[u8] = br#"{"type":14,"data":{"message_id":"1"}}"#;

    impl Samples for Partoo {
        fn sign(&self, body: &[u8], _now: i64) -> Credentials {
            let key = signing_key(LOCAL_SECRET_KEY);
            let public = hex::encode(key.verifying_key().to_bytes());
            assert!(
                local("PARTOO_PUBLIC_KEYS")
                    .split(',')
                    .any(|k| k.trim().eq_ignore_ascii_case(&public)),
                "local.env's PARTOO_PUBLIC_KEYS must list {public}, the local signing key's"
            );
            Credentials::header("X-Partoo-Signature-v1", signature(&key, body))
        }

        fn forge(&self, body: &[u8], _now: i64) -> Credentials {
            let mut bytes = signing_key(LOCAL_SECRET_KEY).sign(body).to_bytes();
            bytes[0] ^= 1;
            let spoiled = base64::engine::general_purpose::STANDARD.encode(bytes);
            Credentials::header("X-Partoo-Signature-v1", spoiled)
        }

        fn user_agent(&self) -> &'static str {
            "python-requests/2.32.3"
        }

        fn message(&self, conversation: &str, n: u64, text: &str) -> Value {
            let conversation: Value = conversation
                .parse::<u64>()
                .map_or_else(|_| json!(conversation), |c| json!(c));
            json!({
                "type": "message_created",
                "payload": {
                    "message": {
                        "id": 5000 + n, "conversation_id": conversation,
                        "date": format!("2024-05-01 {:02}:{:02}:{:02}.123456+00:00", 10 + n / 3600 % 14, n / 60 % 60, n % 60),
                        "content_type": "Text", "sender_type": "Consumer", "status": "Success",
                        "is_deleted": false, "is_automated": false, "content": text
                    },
                    "conversation": {"id": conversation, "consumer_name": "John", "messaging_partner": "Whatsapp"},
                    "org_id": 5
                }
            })
        }

        fn status_update(&self, conversation: &str, n: u64, text: &str) -> Option<Value> {
            let mut update = self.message(conversation, n, text);
            update["type"] = json!("message_updated");
            update["payload"]["message"]["is_deleted"] = json!(true);
            Some(update)
        }

        fn set_text(&self, message: &mut Value, text: &str) {
            message["payload"]["message"]["content"] = json!(text);
        }

        fn primitive(&self, body: &[u8]) -> Primitive {
            let key = signing_key(LOCAL_SECRET_KEY);
            let signature = key.sign(body);
            let public = key.verifying_key();
            // verify_strict, as the function uses: the same curve work as verify, plus
            // rejecting weak keys and non-canonical points.
            Box::new(move |body| public.verify_strict(body, &signature).is_ok())
        }

        fn primitive_name(&self) -> (&'static str, bool) {
            ("primitive: Ed25519 verify_strict", true)
        }

        fn shape(&self) -> &'static Shape {
            &SHAPE
        }

        fn hostile_cases(&self, message: &mut dyn FnMut() -> Value) -> Vec<HostileCase> {
            let conversation = |change: Value| {
                move |m: &mut Value| {
                    for (key, value) in change.as_object().expect("an object of changes") {
                        m["payload"]["conversation"][key] = value.clone();
                    }
                }
            };
            let mut cases = tolerated(
                self,
                message,
                &[
                    ("business an array", &conversation(json!({"business": ["x"]}))),
                    ("business a string", &conversation(json!({"business": "Store"}))),
                    (
                        "business fields of every type",
                        &conversation(json!({"business": {"id": 1.5, "name": {"a": 1}, "city": true, "zipcode": -1, "country": [], "formatted_address": null}})),
                    ),
                    ("custom channel a number", &conversation(json!({"custom_channel": 7}))),
                    ("external ids objects", &|m: &mut Value| {
                        m["payload"]["message"]["custom_channel"] = json!({"external_message_id": {"id": 1}});
                        m["payload"]["conversation"]["custom_channel"] = json!({"external_conversation_id": [1]});
                    }),
                ],
            );
            let body = body_of(&message());
            let other_key = signing_key(&"07".repeat(32));
            let by_other_key = Credentials::header(SIGNATURE_HEADER, signature(&other_key, &body));
            let mut after_9999 = message();
            after_9999["payload"]["message"]["date"] = json!("+10000-01-01 00:00:00.000000+00:00");
            let mut huge_org = message();
            huge_org["payload"]["org_id"] = json!(1e300);
            let limits = "beyond the table's limits";
            cases.extend([
                HostileCase::forged("signed by another key", &body, by_other_key),
                HostileCase::signed(self, limits, "a date after 9999", body_of(&after_9999), 400, Quarantine),
                HostileCase::signed(self, limits, "numbers DynamoDB can't hold", body_of(&huge_org), 200, Message),
                HostileCase::stranger(self, STRANGER),
            ]);
            // Accounts and secrets: no PARTOO_ORG_IDS locally, so every organization is served;
            // only a listed key verifies (RFC 8032's test 2 key is no local one).
            let accounts = "accounts and secrets";
            let mut other_org = message();
            other_org["payload"]["org_id"] = json!(9999);
            let mut no_org = message();
            no_org["payload"].as_object_mut().expect("a payload").remove("org_id");
            let unlisted = signing_key("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb");
            cases.extend([
                HostileCase::signed(self, accounts, "another organization, no allow-list", body_of(&other_org), 200, Message),
                HostileCase::signed(self, accounts, "no organization, no allow-list", body_of(&no_org), 200, Message),
                HostileCase::forged_as(
                    accounts,
                    "signed by a key not listed (RFC 8032 test 2)",
                    &body,
                    Credentials::header(SIGNATURE_HEADER, signature(&unlisted, &body)),
                ),
            ]);
            cases
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::format_timestamp;

    // Known answers: RFC 8032 test 1's key pair signing the provider notes' vector body.
    const VECTOR_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const VECTOR_BODY: &str = r#"{"type":"message_created","payload":{"org_id":1}}"#;
    const VECTOR_SIGNATURE: &str =
        "enAtOBn0Sb9qMhDiaYydbxCBn/pKGiTpnPMkYg+jnNAk1FTwA9aXQ5laF74ke1x+AsviTNd2g2+0Uq7SCXrUBw==";

    fn keys(listed: &str) -> Result<PublicKeys, Misconfigured> {
        let listed = listed.to_string();
        let lookup = move |name: &str| (name == "PARTOO_PUBLIC_KEYS").then(|| listed.clone());
        Partoo::verifier(&Env::new(&lookup))
    }

    fn check(keys: &PublicKeys, signature: &str, body: &str) -> Result<(), Unauthorized> {
        keys.check(&Request::new(&[(SIGNATURE_HEADER, signature)], &[], body), 0)
    }

    #[test]
    fn signature_known_answer() {
        let keys = keys(VECTOR_PUBLIC).unwrap();
        assert_eq!(check(&keys, VECTOR_SIGNATURE, VECTOR_BODY), Ok(()));
    }

    #[test]
    fn signature_rejects_wrong_key_changed_body_and_garbage() {
        let production = keys("").unwrap();
        assert_eq!(
            check(&production, VECTOR_SIGNATURE, VECTOR_BODY),
            Err(Unauthorized::BadSignature("X-Partoo-Signature-v1"))
        );
        // Any of several configured keys may sign.
        let both = keys(&format!("{PRODUCTION_KEY}, {VECTOR_PUBLIC}")).unwrap();
        assert_eq!(check(&both, VECTOR_SIGNATURE, VECTOR_BODY), Ok(()));
        let keys = keys(VECTOR_PUBLIC).unwrap();
        assert!(check(&keys, VECTOR_SIGNATURE, &VECTOR_BODY.replace('1', "2")).is_err());
        for malformed in ["not base64", &VECTOR_SIGNATURE[..40]] {
            assert!(matches!(
                check(&keys, malformed, VECTOR_BODY),
                Err(Unauthorized::MalformedHeader { .. })
            ));
        }
        let request = Request::new(&[], &[], VECTOR_BODY);
        assert_eq!(
            keys.check(&request, 0),
            Err(Unauthorized::MissingHeader(SIGNATURE_HEADER))
        );
    }

    #[test]
    fn settings_default_to_the_production_key_and_reject_bad_entries() {
        let default = keys("").unwrap();
        assert_eq!(hex::encode(default.0[0].as_bytes()), PRODUCTION_KEY);
        assert_eq!(keys(&format!("{PRODUCTION_KEY}, {SANDBOX_KEY}")).unwrap().0.len(), 2);
        let err = keys(&format!("{PRODUCTION_KEY},abc")).unwrap_err();
        assert!(err.0.contains("64 hex digits"), "{err}");
        // An empty entry is a typo, named, not skipped (issue 18).
        for stray in [",", &format!("{PRODUCTION_KEY},"), &format!("{PRODUCTION_KEY},,{SANDBOX_KEY}")] {
            let err = keys(stray).unwrap_err();
            assert!(err.0.contains("PARTOO_PUBLIC_KEYS") && err.0.contains("is empty"), "{err}");
        }
        for bad in [
            format!("0x{VECTOR_PUBLIC}"),
            format!("0x{}", &VECTOR_PUBLIC[2..]),
            "g".repeat(64),
        ] {
            assert!(parse_public_key(&bad).is_err(), "{bad}");
        }
    }

    fn body(event: &str, message: &str) -> String {
        format!(
            r#"{{"type":"{event}","payload":{{"message":{message},"conversation":{{"id":7,"consumer_name":"John","messaging_partner":"Whatsapp"}},"org_id":42}}}}"#
        )
    }

    fn created(message: &str) -> Message {
        match read_body(body("message_created", message).as_bytes()).unwrap() {
            Webhook::NewMessage(m) => *m,
            other => panic!("{other:?}"),
        }
    }

    fn with_content(content_type: &str, content: &str, sender_type: &str) -> Message {
        created(&format!(
            r#"{{"id":5,"conversation_id":7,"date":"2023-01-31 16:22:17.327878+00:00","content_type":"{content_type}","sender_type":"{sender_type}","content":"{content}"}}"#
        ))
    }

    #[test]
    fn tryouts_are_ignored_by_header() {
        let keys = keys(VECTOR_PUBLIC).unwrap();
        let headers = [(SIGNATURE_HEADER, VECTOR_SIGNATURE), ("X-Partoo-Webhook-Tryout", "1")];
        let request = Request::new(&headers, &[], VECTOR_BODY);
        let verified = crate::verify::verify(&keys, &request, 0).unwrap();
        assert_eq!(Partoo::read(&verified), Ok(Webhook::Ignored(Reason::Tryout)));
        let request = Request::new(&headers[..1], &[], VECTOR_BODY);
        let verified = crate::verify::verify(&keys, &request, 0).unwrap();
        assert!(matches!(Partoo::read(&verified), Err(Invalid { .. })));
    }

    #[test]
    fn dates_in_partoo_and_rfc3339_forms() {
        let expected = "2023-01-31T16:22:17.327Z";
        for date in [
            "2023-01-31 16:22:17.327878+00:00",
            "2023-01-31T16:22:17.327878+00:00",
            "2023-01-31 17:22:17.327878+01:00",
            "2023-01-31T16:22:17.327Z",
            "2023-01-31 16:22:17.327878",
        ] {
            assert_eq!(
                parse_partoo_date(date).map(format_timestamp).as_deref(),
                Some(expected),
                "{date}"
            );
        }
        assert_eq!(parse_partoo_date("yesterday"), None);
    }

    #[test]
    fn media_content_is_the_attachment_url() {
        for (content_type, kind) in [
            ("Image", AttachmentKind::Image),
            ("Video", AttachmentKind::Video),
            ("Audio", AttachmentKind::Audio),
            ("Document", AttachmentKind::Document),
        ] {
            let m = with_content(content_type, "https://cdn.example/f.bin", "Consumer");
            assert_eq!(m.kind, Kind::from(kind));
            assert_eq!(
                m.attachments,
                vec![Attachment::new(kind, "https://cdn.example/f.bin".into())]
            );
            assert_eq!(m.text, None);
        }
        let m = with_content("Image", "a caption, not a URL", "Consumer");
        assert_eq!(
            (m.kind, m.attachments.len(), m.text.as_deref()),
            (Kind::Image, 0, Some("a caption, not a URL"))
        );
    }

    #[test]
    fn stories_and_unknown_content_types() {
        let m = with_content(
            "IgStoryMention",
            "https://cdn.example/story.mp4",
            "Consumer",
        );
        assert_eq!(
            (m.kind, m.attachments[0].kind),
            (Kind::Story, AttachmentKind::Video)
        );
        assert_eq!(
            with_content("IgStoryReply", "nice", "Consumer")
                .text
                .as_deref(),
            Some("nice")
        );
        assert_eq!(
            with_content("Unsupported", "", "Consumer").kind,
            Kind::Unsupported
        );
        assert_eq!(
            with_content("Carousel", "x", "Consumer").kind,
            Kind::Unsupported
        );
    }

    #[test]
    fn sender_types() {
        let m = with_content("Text", "hi", "Consumer");
        assert_eq!(
            (m.sender.role, m.direction),
            (Role::Customer, Direction::Inbound)
        );
        let m = with_content("Text", "hi", "Metadata");
        assert_eq!(
            (m.sender.role, m.direction),
            (Role::System, Direction::System)
        );
        let m = with_content("Text", "hi", "Robot9000");
        assert_eq!(
            (m.sender.role, m.direction),
            (Role::System, Direction::System)
        );
        let m = created(
            r#"{"id":"5","conversation_id":"7","date":"2023-01-31 16:22:17+00:00","sender_type":"User","is_automated":true,"user_id":"u9","sender_label":"Bot","content_type":"Text","content":"auto"}"#,
        );
        assert_eq!(
            (m.sender.role, m.direction, m.automated),
            (Role::Bot, Direction::Outbound, Some(true))
        );
        assert_eq!(m.sender.id.as_deref(), Some("u9"));
    }

    #[test]
    fn conversation_gives_channel_contact_and_account() {
        let m = with_content("Text", "hi", "Consumer");
        assert_eq!(m.channel.as_deref(), Some("whatsapp"));
        assert_eq!(m.contact.name.as_deref(), Some("John"));
        assert_eq!(m.account_id.as_deref(), Some("42"));
        assert_eq!(m.order_key, "2023-01-31T16:22:17.327Z#00000000000000000005");
    }

    #[test]
    fn business_location_and_custom_channel_ids() {
        let b = r#"{"type":"message_created","payload":{"message":{"id":5,"conversation_id":7,"date":"2023-01-31 16:22:17+00:00","sender_type":"Consumer","content_type":"Text","content":"hi","is_automated":false,"custom_channel":{"external_message_id":"ext-m"}},"conversation":{"id":7,"is_automated":true,"business":{"id":12,"name":"Store Lyon","city":"Lyon","zipcode":69002,"country":"FR","formatted_address":"1 rue X, 69002 Lyon"},"custom_channel":{"id":"cc","external_conversation_id":"ext-c"}}}}"#;
        let m = match read_body(b.as_bytes()).unwrap() {
            Webhook::NewMessage(m) => *m,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            m.business,
            Business {
                id: Some("12".into()),
                name: Some("Store Lyon".into()),
                city: Some("Lyon".into()),
                zipcode: Some("69002".into()),
                country: Some("FR".into()),
                address: Some("1 rue X, 69002 Lyon".into()),
            }
        );
        assert_eq!(m.refs.external_message_id.as_deref(), Some("ext-m"));
        assert_eq!(m.refs.external_conversation_id.as_deref(), Some("ext-c"));
        // The conversation's is_automated is not the message's.
        assert_eq!((m.automated, m.sender.role), (None, Role::Customer));
        // Business fields of the wrong type are dropped one by one.
        let odd = b.replace(r#""name":"Store Lyon""#, r#""name":["x"]"#).replace(r#""business":{"id":12"#, r#""business":{"id":true"#);
        let m = match read_body(odd.as_bytes()).unwrap() {
            Webhook::NewMessage(m) => *m,
            other => panic!("{other:?}"),
        };
        assert_eq!((m.business.id, m.business.name, m.business.city.as_deref()), (None, None, Some("Lyon")));
    }

    #[test]
    fn updates_carry_status_deletion_and_the_whole_message() {
        let b = body(
            "message_updated",
            r#"{"id":5,"conversation_id":7,"date":"2023-01-31 16:22:17+00:00","sender_type":"User","status":"Success","is_deleted":true,"content_type":"Text","content":"x"}"#,
        );
        match read_body(b.as_bytes()).unwrap() {
            Webhook::Update(u) => {
                assert_eq!(
                    (u.message_id.as_str(), u.conversation_id.as_str()),
                    ("5", "7")
                );
                assert_eq!((u.status.as_deref(), u.deleted), (Some("success"), true));
                assert!(matches!(u.if_unknown, IfUnknown::StoreAsNew(_)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn success_and_failure_are_final() {
        let order = Partoo::STATUS_ORDER;
        assert!(order.may_replace(Some("sending"), "success"));
        assert!(order.may_replace(Some("sending"), "failed"));
        assert!(!order.may_replace(Some("success"), "sending"));
        assert!(!order.may_replace(Some("failed"), "success"));
    }

    #[test]
    fn other_events_are_ignored() {
        for event in [
            "lead_received",
            "business_created",
            "business_updated",
            "business_deleted",
            "something_new",
        ] {
            let b = format!(r#"{{"type":"{event}","payload":{{"x":1}}}}"#);
            assert_eq!(
                read_body(b.as_bytes()).unwrap(),
                Webhook::Ignored(Reason::NotAMessageEvent)
            );
        }
    }

    #[test]
    fn required_fields_are_named() {
        let cases = [
            (r#"{"payload":{}}"#.to_string(), "type"),
            (r#"{"type":"message_created"}"#.to_string(), "payload"),
            (
                r#"{"type":"message_created","payload":{}}"#.to_string(),
                "payload.message",
            ),
            (
                body(
                    "message_created",
                    r#"{"conversation_id":7,"date":"2023-01-31 16:22:17+00:00","sender_type":"User"}"#,
                ),
                "payload.message.id",
            ),
            (
                body(
                    "message_created",
                    r#"{"id":5,"date":"2023-01-31 16:22:17+00:00","sender_type":"User"}"#,
                ),
                "payload.message.conversation_id",
            ),
            (
                body(
                    "message_created",
                    r#"{"id":5,"conversation_id":7,"sender_type":"User"}"#,
                ),
                "payload.message.date",
            ),
            (
                body(
                    "message_created",
                    r#"{"id":5,"conversation_id":7,"date":"last week","sender_type":"User"}"#,
                ),
                "payload.message.date",
            ),
            (
                body(
                    "message_created",
                    r#"{"id":5,"conversation_id":7,"date":"2023-01-31 16:22:17+00:00"}"#,
                ),
                "payload.message.sender_type",
            ),
            (
                body(
                    "message_updated",
                    r#"{"id":true,"conversation_id":7,"date":"2023-01-31 16:22:17+00:00","sender_type":"User"}"#,
                ),
                "payload.message.id",
            ),
        ];
        for (b, field) in cases {
            let err = read_body(b.as_bytes()).unwrap_err();
            assert_eq!(err.field.as_deref(), Some(field), "{b}: {err}");
        }
    }
}
