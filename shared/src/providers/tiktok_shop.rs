//! TikTok Shop: the customer-service "new message" webhook (type 14), signed with HMAC-SHA256,
//! and how each of its message types becomes a normalized message. Every other webhook type on
//! the same URL is acknowledged and ignored.

use chrono::DateTime;
use serde::Deserialize;

use crate::accounts;
use crate::config::Env;
use crate::error::{Invalid, Misconfigured, Unauthorized};
use crate::message::{checked_time, format_timestamp, is_digits, Attachment, AttachmentKind, Direction, Kind, Message, OrderKey, Role, Sender};
use crate::providers::{Provider, ProviderId};
use crate::request::Request;
use crate::verify::{
    any_tag, decode_hex_32, hmac_sha256, matching_entry, single_header, Secret, Verified, Verify,
};
use crate::webhook::{Reason, StatusOrder, Webhook};
use crate::wire::{parse_object, required, required_object, Object, Value};

pub struct TiktokShop;

impl Provider for TiktokShop {
    const NAME: &'static str = "tiktok_shop";
    const FUNCTION: &'static str = "tiktok-shop";
    /// TikTok sends no status updates.
    const STATUS_ORDER: StatusOrder = StatusOrder::NONE;
    type Verifier = AppCredentials;
    const ALLOW_LIST: Option<&'static str> = Some("TIKTOK_SHOP_IDS");

    fn verifier(env: &Env) -> Result<AppCredentials, Misconfigured> {
        AppCredentials::from_env(env)
    }

    fn read(request: &Verified<'_>) -> Result<Webhook, Invalid> {
        read_body(request.body())
    }

    /// The envelope's `shop_id`, of a body that is not another webhook type.
    fn account_of(body: &[u8]) -> Option<String> {
        let envelope: Envelope = serde_json::from_slice(body).ok()?;
        let other_type = envelope
            .webhook_type
            .as_ref()
            .and_then(Value::unsigned)
            .is_some_and(|t| t != NEW_MESSAGE_TYPE);
        if other_type {
            return None;
        }
        envelope.shop_id.as_ref()?.id()
    }
}

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "authorization";

/// The webhook type that announces a new customer-service message.
pub const NEW_MESSAGE_TYPE: u64 = 14;

/// Longer than any video a chat carries; beyond it a "duration" is noise DynamoDB may refuse.
const MAX_DURATION_S: f64 = 1e7;

/// The one app's key (`TIKTOK_SHOP_APP_KEY`, one value).
pub const APP_KEY: &str = "TIKTOK_SHOP_APP_KEY";
/// The one app's secrets (`TIKTOK_SHOP_APP_SECRET`, a list while it rotates).
pub const APP_SECRET: &str = "TIKTOK_SHOP_APP_SECRET";
/// Several apps: `<app key>:<app secret>,…`.
pub const APPS: &str = "TIKTOK_SHOP_APPS";

/// The apps' keys and secrets: `Authorization` is the lower-case hex of HMAC-SHA256, keyed with
/// an app's secret, over its app key followed by the raw body. No timestamp, so no replay
/// window. Every configured pair is tried, and every tag compared, whichever matches.
#[derive(Clone, Debug)]
pub struct AppCredentials {
    /// (app key, app secret), each pair once.
    pairs: Vec<(Secret, Secret)>,
}

impl AppCredentials {
    /// `TIKTOK_SHOP_APP_KEY` with the secrets of `TIKTOK_SHOP_APP_SECRET`, and the pairs of
    /// `TIKTOK_SHOP_APPS`: either or both, never neither.
    fn from_env(env: &Env) -> Result<AppCredentials, Misconfigured> {
        let mut pairs = Vec::new();
        match (env.get(APP_KEY), env.get(APP_SECRET)) {
            (Some(key), Some(secrets)) => {
                let key = accounts::single(APP_KEY, &key)?;
                for secret in accounts::secrets(APP_SECRET, &secrets)? {
                    pairs.push((Secret::new(key.clone()), secret));
                }
            }
            (None, None) => {}
            _ => {
                return Err(Misconfigured(format!(
                    "{APP_KEY} and {APP_SECRET} must both be set (or neither, with {APPS})"
                )))
            }
        }
        if let Some(apps) = env.get(APPS) {
            for (key, secret) in accounts::key_secret_pairs(APPS, &apps)? {
                let known = pairs
                    .iter()
                    .any(|(k, s)| k.expose() == key.expose() && s.expose() == secret.expose());
                if !known {
                    pairs.push((key, secret));
                }
            }
        }
        if pairs.is_empty() {
            return Err(Misconfigured(format!(
                "set {APP_KEY} and {APP_SECRET}, or {APPS}"
            )));
        }
        Ok(AppCredentials { pairs })
    }
}

impl Verify for AppCredentials {
    fn check(&self, request: &Request, _now: i64) -> Result<(), Unauthorized> {
        let given = single_header(request, SIGNATURE_HEADER)?;
        let tag = decode_hex_32(given).ok_or(Unauthorized::MalformedHeader {
            header: SIGNATURE_HEADER,
            reason: "expected 64 hex digits",
        })?;
        let matches = self.pairs.iter().map(|(key, secret)| {
            any_tag(&[tag], &hmac_sha256(secret, &[key.expose(), request.body()]))
        });
        match matching_entry(matches) {
            Some(_) => Ok(()),
            None => Err(Unauthorized::BadSignature("Authorization signature")),
        }
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, rename = "type")]
    webhook_type: Option<Value<'a>>,
    #[serde(borrow)]
    shop_id: Option<Value<'a>>,
    #[serde(borrow)]
    data: Option<Object<Data<'a>>>,
}

#[derive(Deserialize)]
struct Data<'a> {
    #[serde(borrow)]
    content: Option<Value<'a>>,
    #[serde(borrow)]
    conversation_id: Option<Value<'a>>,
    #[serde(borrow)]
    create_time: Option<Value<'a>>,
    #[serde(borrow)]
    is_visible: Option<Value<'a>>,
    #[serde(borrow)]
    message_id: Option<Value<'a>>,
    #[serde(borrow)]
    index: Option<Value<'a>>,
    #[serde(borrow, rename = "type")]
    message_type: Option<Value<'a>>,
    #[serde(borrow)]
    sender: Option<Object<WireSender<'a>>>,
}

#[derive(Deserialize)]
struct WireSender<'a> {
    #[serde(borrow)]
    im_user_id: Option<Value<'a>>,
    #[serde(borrow)]
    role: Option<Value<'a>>,
}

/// The decoded `data.content` string. Which fields mean something depends on `data.type`.
#[derive(Deserialize, Default)]
struct Content<'a> {
    #[serde(borrow)]
    content: Option<Value<'a>>,
    #[serde(borrow)]
    url: Option<Value<'a>>,
    #[serde(borrow)]
    width: Option<Value<'a>>,
    #[serde(borrow)]
    height: Option<Value<'a>>,
    #[serde(borrow)]
    duration: Option<Value<'a>>,
    #[serde(borrow)]
    cover: Option<Value<'a>>,
    #[serde(borrow)]
    format: Option<Value<'a>>,
    #[serde(borrow)]
    size: Option<Value<'a>>,
    #[serde(borrow)]
    vid: Option<Value<'a>>,
    #[serde(borrow)]
    expire_time: Option<Value<'a>>,
    #[serde(borrow)]
    product_id: Option<Value<'a>>,
    #[serde(borrow)]
    order_id: Option<Value<'a>>,
    #[serde(borrow)]
    package_id: Option<Value<'a>>,
    #[serde(borrow)]
    coupon_id: Option<Value<'a>>,
}

/// What identifies a message and places it in its conversation.
struct Identity {
    conversation_id: String,
    message_id: String,
    /// `data.index`: digits, larger is newer.
    index: String,
    created_at: DateTime<chrono::Utc>,
}

/// Reads an authentic TikTok Shop webhook body.
fn read_body(body: &[u8]) -> Result<Webhook, Invalid> {
    let envelope: Envelope = parse_object(body)?;
    let webhook_type = required(
        envelope.webhook_type.as_ref(),
        "type",
        Value::unsigned,
        "an integer",
    )?;
    if webhook_type != NEW_MESSAGE_TYPE {
        return Ok(Webhook::Ignored(Reason::NotAMessageEvent));
    }
    let data = required_object(&envelope.data, "data")?;
    let identity = identity(data)?;
    let message_type = required(
        data.message_type.as_ref(),
        "data.type",
        Value::text,
        "a message type name",
    )?;
    let sender = sender(data)?;

    let (role, direction) = role_and_direction(&sender.role);
    let mut message = Message::new(
        ProviderId::TiktokShop,
        identity.conversation_id,
        identity.message_id,
        identity.created_at,
        Sender {
            role,
            id: sender.im_user_id,
            name: None,
        },
        direction,
    );
    message.order_key = OrderKey::index(&identity.index);
    message.account_id = envelope.shop_id.as_ref().and_then(Value::id);
    message.channel = Some("tiktok_shop".to_string());
    message.visible = data.is_visible.as_ref().and_then(Value::bool);
    apply_content(&mut message, &message_type, &decode_content(data));
    Ok(Webhook::NewMessage(Box::new(message)))
}

fn identity(data: &Data) -> Result<Identity, Invalid> {
    let conversation_id = required(
        data.conversation_id.as_ref(),
        "data.conversation_id",
        Value::id,
        "a string or integer id",
    )?;
    let message_id = required(
        data.message_id.as_ref(),
        "data.message_id",
        Value::id,
        "a string or integer id",
    )?;
    let index = required(
        data.index.as_ref(),
        "data.index",
        Value::id,
        "a string or integer of digits",
    )?;
    if !is_digits(&index) || index.len() > 20 {
        return Err(Invalid::field(
            "data.index",
            "expected at most 20 decimal digits",
        ));
    }
    let create_time = required(
        data.create_time.as_ref(),
        "data.create_time",
        Value::unsigned,
        "Unix seconds",
    )?;
    let created_at = i64::try_from(create_time)
        .ok()
        .and_then(|secs| DateTime::from_timestamp(secs, 0))
        .ok_or_else(|| Invalid::field("data.create_time", "not a representable Unix time"))
        .and_then(|at| checked_time(at, "data.create_time"))?;
    Ok(Identity {
        conversation_id,
        message_id,
        index,
        created_at,
    })
}

struct WhoSent {
    role: String,
    im_user_id: Option<String>,
}

fn sender(data: &Data) -> Result<WhoSent, Invalid> {
    let sender = required_object(&data.sender, "data.sender")?;
    Ok(WhoSent {
        role: required(
            sender.role.as_ref(),
            "data.sender.role",
            Value::text,
            "a role name",
        )?,
        im_user_id: sender.im_user_id.as_ref().and_then(Value::id),
    })
}

/// `content` is JSON inside a string. Content that isn't readable is empty, and the type
/// mapping then finds it isn't what the type promises.
fn decode_content<'a>(data: &'a Data) -> Content<'a> {
    let text = data.content.as_ref().and_then(Value::as_str).unwrap_or("");
    serde_json::from_str::<Object<Content>>(text)
        .ok()
        .and_then(|o| o.0)
        .unwrap_or_default()
}

/// BUYER is the customer; the shop, its agents and its robot write to the customer; the shop
/// also speaks for SYSTEM lines, and anything unknown is a system line.
fn role_and_direction(role: &str) -> (Role, Direction) {
    match role {
        "BUYER" => (Role::Customer, Direction::Inbound),
        "SHOP" => (Role::Business, Direction::Outbound),
        "CUSTOMER_SERVICE" => (Role::Agent, Direction::Outbound),
        "ROBOT" => (Role::Bot, Direction::Outbound),
        _ => (Role::System, Direction::System),
    }
}

/// Sets kind, text, attachments and refs from the message type and its decoded content. A
/// type whose content lacks what it promises is `unsupported`; `raw` keeps everything.
fn apply_content(message: &mut Message, message_type: &str, content: &Content) {
    let text = content.content.as_ref().and_then(Value::text);
    let id = |field: &Option<Value>| field.as_ref().and_then(Value::id);
    let refs = &mut message.refs;
    message.kind = match message_type {
        "TEXT" | "OTHER" if text.is_some() => Kind::Text,
        "IMAGE" => attach(&mut message.attachments, image(content), Kind::Image),
        "VIDEO" => attach(&mut message.attachments, video(content), Kind::Video),
        // Undocumented content: keep what is recognisable; the type alone says "emoticon".
        "EMOTICONS" => {
            attach(&mut message.attachments, image(content), Kind::Emoticon);
            Kind::Emoticon
        }
        "PRODUCT_CARD" | "BUYER_ENTER_FROM_PRODUCT" => {
            card(&mut refs.product_id, id(&content.product_id), Kind::Product)
        }
        "ORDER_CARD" | "BUYER_ENTER_FROM_ORDER" => {
            card(&mut refs.order_id, id(&content.order_id), Kind::Order)
        }
        "COUPON_CARD" => card(&mut refs.coupon_id, id(&content.coupon_id), Kind::Coupon),
        "LOGISTICS_CARD" => {
            refs.package_id = id(&content.package_id);
            card(&mut refs.order_id, id(&content.order_id), Kind::Logistics)
        }
        "NOTIFICATION" | "ALLOCATED_SERVICE" | "BUYER_ENTER_FROM_TRANSFER" => Kind::System,
        _ => Kind::Unsupported,
    };
    message.text = text;
}

/// Adds the attachment, if the content had one: the message is then of `kind`.
fn attach(attachments: &mut Vec<Attachment>, attachment: Option<Attachment>, kind: Kind) -> Kind {
    match attachment {
        Some(attachment) => {
            attachments.push(attachment);
            kind
        }
        None => Kind::Unsupported,
    }
}

/// A card is about the thing its id names: without the id it is not that card.
fn card(slot: &mut Option<String>, id: Option<String>, kind: Kind) -> Kind {
    *slot = id;
    if slot.is_some() {
        kind
    } else {
        Kind::Unsupported
    }
}

/// IMAGE (and EMOTICONS) content: `url`, with `width` and `height` as strings.
fn image(content: &Content) -> Option<Attachment> {
    let mut image = Attachment::new(
        AttachmentKind::Image,
        content.url.as_ref().and_then(Value::text)?,
    );
    image.width = content.width.as_ref().and_then(Value::unsigned);
    image.height = content.height.as_ref().and_then(Value::unsigned);
    // An image link carries its own end (`x-tos-expires` in its query), which the media
    // function reads there: a copy of it on the item is 35 bytes, enough to push an image's
    // message item past a kilobyte and a second write unit (docs/CONTRACT.md).
    Some(image)
}

/// VIDEO content: numbers for the size, `duration` as a string, and when the link dies:
/// `expire_time` (without it, the link's own `x-tos-expires`, which stays in the URL).
fn video(content: &Content) -> Option<Attachment> {
    let mut video = Attachment::new(
        AttachmentKind::Video,
        content.url.as_ref().and_then(Value::text)?,
    );
    video.provider_media_id = content.vid.as_ref().and_then(Value::id);
    video.expires_at = content
        .expire_time
        .as_ref()
        .and_then(Value::unsigned)
        .and_then(epoch_timestamp);
    video.width = content.width.as_ref().and_then(Value::unsigned);
    video.height = content.height.as_ref().and_then(Value::unsigned);
    video.duration_s = content
        .duration
        .as_ref()
        .and_then(Value::number)
        .filter(|d| (0.0..=MAX_DURATION_S).contains(d));
    video.size_bytes = content.size.as_ref().and_then(Value::unsigned);
    video.cover_url = content.cover.as_ref().and_then(Value::text);
    video.mime_type = content
        .format
        .as_ref()
        .and_then(Value::text)
        .map(|f| format!("video/{}", f.to_ascii_lowercase()));
    Some(video)
}

/// Epoch seconds in the timestamp format, if they are a time it can carry.
fn epoch_timestamp(seconds: u64) -> Option<String> {
    let at = DateTime::from_timestamp(i64::try_from(seconds).ok()?, 0)?;
    checked_time(at, "expire_time").ok().map(format_timestamp)
}

#[cfg(feature = "testkit")]
mod samples {
    use serde_json::{json, Value};

    use super::TiktokShop;
    use crate::verify::{hmac_sha256, Secret};
    use crate::testkit::{
        body_of, hmac_hex, local, local_first, tolerated, Credentials, HostileCase, Primitive,
        Samples, Shape, Stores::*,
    };

    fn app_key() -> &'static str {
        local("TIKTOK_SHOP_APP_KEY")
    }
    fn app_secret() -> &'static str {
        local_first("TIKTOK_SHOP_APP_SECRET")
    }
    /// local.env's second app (`TIKTOK_SHOP_APPS`), for the `second-app` signer.
    fn second_app() -> (&'static str, &'static str) {
        local_first("TIKTOK_SHOP_APPS")
            .split_once(':')
            .expect("local.env's TIKTOK_SHOP_APPS is <app key>:<app secret>")
    }

    fn signed_as(key: &str, secret: &str, body: &[u8]) -> Credentials {
        Credentials::header("Authorization", hmac_hex(secret.as_bytes(), &[key.as_bytes(), body]))
    }

    static SHAPE: Shape = Shape {
        event_field: "type",
        required: &[
            &["type"],
            &["data", "conversation_id"],
            &["data", "message_id"],
            &["data", "index"],
            &["data", "create_time"],
            &["data", "type"],
            &["data", "sender", "role"],
        ],
        optional: &[
            &["data", "is_visible"],
            &["shop_id"],
            &["data", "sender", "im_user_id"],
        ],
        message_id: &["data", "message_id"],
        conversation_id: &["data", "conversation_id"],
        text_sample: "text.json",
        kinds: &["text", "image", "video", "emoticon", "product", "order", "coupon", "logistics", "system", "unsupported"],
        connection_checks: false,
        message_id_optional: false,
        signature_header_is_a_list: false,
    };

    /// Another provider's kind of payload, authentic but not this one's shape.
    const STRANGER: &[u8] = br#"{"event":"message_created","payload":{"uuid":"x"}}"#;

    impl Samples for TiktokShop {
        fn sign(&self, body: &[u8], _now: i64) -> Credentials {
            signed_as(app_key(), app_secret(), body)
        }

        /// `second-app`: signed as local.env's second app.
        fn sign_lasting_as(&self, body: &[u8], signer: &str) -> Option<Credentials> {
            let (key, secret) = second_app();
            (signer == "second-app").then(|| signed_as(key, secret, body))
        }

        fn forge(&self, body: &[u8], now: i64) -> Credentials {
            let mut credentials = self.sign(body, now);
            let tag = &mut credentials.headers[0].1;
            let last = if tag.ends_with('0') { "1" } else { "0" };
            tag.replace_range(63.., last);
            credentials
        }

        fn user_agent(&self) -> &'static str {
            "Go-http-client/2.0"
        }

        fn message(&self, conversation: &str, n: u64, text: &str) -> Value {
            let content = json!({ "content": text }).to_string();
            json!({
                "type": 14, "tts_notification_id": format!("n{n}"), "shop_id": "7494049642642441621",
                "timestamp": 1_700_000_000u64 + n,
                "data": {
                    "content": content, "conversation_id": conversation,
                    "create_time": 1_700_000_000u64 + n, "is_visible": true,
                    "message_id": format!("m{n}"), "index": format!("{}", 1000 + n),
                    "type": "TEXT", "sender": {"im_user_id": "u1", "role": "BUYER"}
                }
            })
        }

        fn status_update(&self, _conversation: &str, _n: u64, _text: &str) -> Option<Value> {
            None
        }

        fn redeliver(&self, message: &mut Value, copy: u32) {
            // A new notification, sent later, for the same message.
            let n = &message["tts_notification_id"];
            message["tts_notification_id"] = json!(format!("{}-{copy}", n.as_str().unwrap_or("")));
            message["timestamp"] = json!(message["timestamp"].as_u64().unwrap_or(0) + u64::from(copy));
        }

        fn set_text(&self, message: &mut Value, text: &str) {
            // TikTok nests the message as a JSON document inside a string.
            message["data"]["content"] = json!(json!({ "content": text }).to_string());
        }

        fn primitive(&self, body: &[u8]) -> Primitive {
            let (key, secret) = (app_key().as_bytes(), Secret::new(app_secret()));
            let tag = hmac_sha256(&secret, &[key, body]);
            Box::new(move |body| hmac_sha256(&secret, &[key, body]) == tag)
        }

        fn primitive_name(&self) -> (&'static str, bool) {
            ("primitive: HMAC-SHA256", false)
        }

        fn shape(&self) -> &'static Shape {
            &SHAPE
        }

        fn hostile_cases(&self, message: &mut dyn FnMut() -> Value) -> Vec<HostileCase> {
            let video = |content: Value| {
                move |m: &mut Value| {
                    m["data"]["type"] = json!("VIDEO");
                    m["data"]["content"] = json!(content.to_string());
                }
            };
            let deep_content = |m: &mut Value| {
                let deep = format!("{}1{}", "[".repeat(3000), "]".repeat(3000));
                m["data"]["content"] = json!(format!(r#"{{"content":"hi","x":{deep}}}"#));
            };
            let repeated_key = |m: &mut Value| {
                m["data"]["content"] = json!(r#"{"content":"a","content":"b"}"#);
            };
            let mut cases = tolerated(
                self,
                message,
                &[
                    ("expire_time not a number", &video(json!({"url": "https://v/1", "expire_time": "soon"}))),
                    ("expire_time 1e308", &video(json!({"url": "https://v/1", "expire_time": 1e308}))),
                    ("expire_time an object", &video(json!({"url": "https://v/1", "expire_time": {"s": 1}}))),
                    ("x-tos-expires not a number", &video(json!({"url": "https://v/1?x-tos-expires=soon"}))),
                    ("vid an array", &video(json!({"url": "https://v/1", "vid": ["v1"]}))),
                    ("content nested deep", &deep_content),
                    ("content with a repeated key", &repeated_key),
                ],
            );
            let body = body_of(&message());
            let tag = self.sign(&body, 0).headers[0].1.clone();
            let header = |value: String| Credentials::header("Authorization", value);
            let mut after_9999 = message();
            after_9999["data"]["create_time"] = json!(253_402_300_800u64);
            let mut huge_video = message();
            video(json!({"url": "https://v/1", "duration": "1e300", "width": 1e300}))(&mut huge_video);
            let limits = "beyond the table's limits";
            cases.extend([
                HostileCase::forged("bearer prefix", &body, header(format!("Bearer {tag}"))),
                HostileCase::forged(
                    "body-only HMAC",
                    &body,
                    header(hmac_hex(app_secret().as_bytes(), &[&body])),
                ),
                HostileCase::forged(
                    "key and message swapped",
                    &body,
                    header(hmac_hex(app_key().as_bytes(), &[app_secret().as_bytes(), &body])),
                ),
                HostileCase::signed(self, limits, "a date after 9999", body_of(&after_9999), 400, Quarantine),
                HostileCase::signed(self, limits, "numbers DynamoDB can't hold", body_of(&huge_video), 200, Message),
                HostileCase::stranger(self, STRANGER),
            ]);
            // Accounts and secrets: either app verifies, never one's key with the other's secret.
            let accounts = "accounts and secrets";
            let (key_2, secret_2) = second_app();
            let mut second = HostileCase::signed(self, accounts, "signed as the second app", body.clone(), 200, Message);
            second.credentials = signed_as(key_2, secret_2, &body);
            let mut other_shop = message();
            other_shop["shop_id"] = json!("7000000000000000001");
            cases.extend([
                second,
                HostileCase::forged_as(accounts, "the second app's key, the first's secret", &body, signed_as(key_2, app_secret(), &body)),
                HostileCase::forged_as(accounts, "the first app's key, the second's secret", &body, signed_as(app_key(), secret_2, &body)),
                HostileCase::forged_as(accounts, "the pair key:secret as the key", &body, signed_as(&format!("{key_2}:{secret_2}"), secret_2, &body)),
                // No TIKTOK_SHOP_IDS locally: every shop is served.
                HostileCase::signed(self, accounts, "another shop, no allow-list", body_of(&other_shop), 200, Message),
            ]);
            cases
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(data: &str) -> String {
        format!(
            r#"{{"type":14,"shop_id":"7494049642642441621","timestamp":1644412885,"data":{data}}}"#
        )
    }

    fn message(data: &str) -> Message {
        match read_body(event(data).as_bytes()).unwrap() {
            Webhook::NewMessage(m) => *m,
            other => panic!("{other:?}"),
        }
    }

    fn with_type(message_type: &str, content: &str) -> Message {
        let content = serde_json::to_string(content).unwrap();
        message(&format!(
            r#"{{"content":{content},"conversation_id":"c1","create_time":1681790246,"is_visible":true,"message_id":"m1","index":"7494560109732334274","type":"{message_type}","sender":{{"im_user_id":"u1","role":"BUYER"}}}}"#
        ))
    }

    // Known answers: the test vector of TikTok's signature (app_key `abcdef`, secret `123`).
    const VECTOR_BODY: &str = r#"{"type":1,"tts_notification_id":"7380066284010030890","shop_id":"7495540735365777507","timestamp":1718305585,"data":{"is_on_hold_order":true,"order_id":"576653688135258178","order_status":"UNPAID","update_time":1718305585}}"#;
    const VECTOR_SIGNATURE: &str =
        "5dec0f11ec2f6783b8deee53c9ffbf8d024302f7c7e7fa55a35d17629031ac05";

    fn vector_credentials() -> AppCredentials {
        let lookup = |name: &str| match name {
            "TIKTOK_SHOP_APP_KEY" => Some("abcdef".to_string()),
            "TIKTOK_SHOP_APP_SECRET" => Some("123".to_string()),
            _ => None,
        };
        TiktokShop::verifier(&Env::new(&lookup)).unwrap()
    }

    fn check(headers: &[(&str, &str)], body: &str) -> Result<(), Unauthorized> {
        vector_credentials().check(&Request::new(headers, &[], body), 0)
    }

    #[test]
    fn signature_known_answer() {
        assert_eq!(check(&[("Authorization", VECTOR_SIGNATURE)], VECTOR_BODY), Ok(()));
        let upper = VECTOR_SIGNATURE.to_uppercase();
        assert_eq!(check(&[("authorization", &upper)], VECTOR_BODY), Ok(()));
    }

    #[test]
    fn signature_rejects_other_constructions_and_changes() {
        // The body alone gives another value.
        let body_only = hex::encode(hmac_sha256(&Secret::new("123"), &[VECTOR_BODY.as_bytes()]));
        assert_eq!(
            check(&[("authorization", &body_only)], VECTOR_BODY),
            Err(Unauthorized::BadSignature("Authorization signature"))
        );
        let changed = VECTOR_BODY.replace("UNPAID", "UNPAIX");
        assert!(check(&[("authorization", VECTOR_SIGNATURE)], &changed).is_err());
        assert_eq!(
            check(&[], VECTOR_BODY),
            Err(Unauthorized::MissingHeader("authorization"))
        );
        for malformed in [
            VECTOR_SIGNATURE[..63].to_string(),
            format!("Bearer {VECTOR_SIGNATURE}"),
            format!("0x{VECTOR_SIGNATURE}"),
            format!("0x{}", &VECTOR_SIGNATURE[2..]),
        ] {
            assert!(
                matches!(
                    check(&[("authorization", &malformed)], VECTOR_BODY),
                    Err(Unauthorized::MalformedHeader { .. })
                ),
                "{malformed}"
            );
        }
        assert!(check(
            &[("authorization", VECTOR_SIGNATURE), ("Authorization", "00")],
            VECTOR_BODY
        )
        .is_err());
    }

    #[test]
    fn settings_need_key_and_secret_and_hide_them() {
        let only = |name: &'static str| {
            move |n: &str| (n == name).then(|| "hunter2".to_string())
        };
        assert!(TiktokShop::verifier(&Env::new(&only("TIKTOK_SHOP_APP_KEY"))).is_err());
        let err = TiktokShop::verifier(&Env::new(&only("TIKTOK_SHOP_APP_SECRET"))).unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
        let shown = format!("{:?}", vector_credentials());
        assert!(!shown.contains("abcdef") && !shown.contains("123"), "{shown}");
    }

    fn credentials(vars: &[(&'static str, &'static str)]) -> Result<AppCredentials, Misconfigured> {
        let lookup = |name: &str| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        };
        TiktokShop::verifier(&Env::new(&lookup))
    }

    fn signed_by(key: &str, secret: &str) -> Request {
        let tag = hex::encode(hmac_sha256(
            &Secret::new(secret),
            &[key.as_bytes(), VECTOR_BODY.as_bytes()],
        ));
        Request::new(&[("authorization", tag.as_str())], &[], VECTOR_BODY)
    }

    #[test]
    fn any_listed_secret_and_any_app_verifies() {
        let both = credentials(&[
            (APP_KEY, "abcdef"),
            (APP_SECRET, "old, 123"),
            (APPS, "k2:s2,k3:s:3"),
        ])
        .unwrap();
        // The known answer still holds with the secret second in its list.
        let vector = Request::new(&[("authorization", VECTOR_SIGNATURE)], &[], VECTOR_BODY);
        assert_eq!(both.check(&vector, 0), Ok(()));
        for (key, secret) in [("abcdef", "old"), ("k2", "s2"), ("k3", "s:3")] {
            assert_eq!(both.check(&signed_by(key, secret), 0), Ok(()), "{key}");
        }
        for (key, secret) in [("abcdef", "s2"), ("k2", "123"), ("k4", "old"), ("k3", "s")] {
            assert_eq!(
                both.check(&signed_by(key, secret), 0),
                Err(Unauthorized::BadSignature("Authorization signature")),
                "{key}:{secret}"
            );
        }
        // TIKTOK_SHOP_APPS alone is enough.
        let apps = credentials(&[(APPS, "abcdef:123")]).unwrap();
        assert_eq!(apps.check(&vector, 0), Ok(()));
        // After the rotation the old secret is refused.
        let rotated = credentials(&[(APP_KEY, "abcdef"), (APP_SECRET, "new")]).unwrap();
        assert!(rotated.check(&vector, 0).is_err());
    }

    #[test]
    fn malformed_credentials_are_misconfigured_naming_the_setting() {
        for (vars, setting) in [
            (vec![(APP_KEY, "abcdef"), (APP_SECRET, "hunter2,,other")], APP_SECRET),
            (vec![(APP_KEY, "abcdef"), (APP_SECRET, "hunter2,")], APP_SECRET),
            (vec![(APP_KEY, "abcdef,k2"), (APP_SECRET, "hunter2")], APP_KEY),
            (vec![(APPS, "k2hunter2")], APPS),
            (vec![(APPS, "k2:hunter2,")], APPS),
            (vec![(APP_KEY, "abcdef"), (APP_SECRET, "x"), (APPS, "k2:hunter2,k3")], APPS),
            (vec![(APP_SECRET, "hunter2"), (APPS, "k2:s2")], APP_KEY),
        ] {
            let error = credentials(&vars).unwrap_err().to_string();
            assert!(error.contains(setting), "{vars:?}: {error}");
            assert!(!error.contains("hunter2"), "{error}");
        }
        let neither = credentials(&[]).unwrap_err().to_string();
        assert!(neither.contains(APPS) && neither.contains(APP_KEY), "{neither}");
        let shown = format!("{:?}", credentials(&[(APPS, "k2:hunter2")]).unwrap());
        assert!(!shown.contains("hunter2") && !shown.contains("k2"), "{shown}");
    }

    #[test]
    fn text_messages_unwrap_the_double_encoded_content() {
        let m = with_type("TEXT", r#"{"content":"444"}"#);
        assert_eq!((m.kind, m.text.as_deref()), (Kind::Text, Some("444")));
        assert_eq!(m.order_key, "07494560109732334274");
        assert_eq!(m.created_at, "2023-04-18T03:57:26.000Z");
        assert_eq!(
            m.sender,
            Sender {
                role: Role::Customer,
                id: Some("u1".into()),
                name: None
            }
        );
        assert_eq!(m.visible, Some(true));
    }

    #[test]
    fn image_dimensions_arrive_as_strings() {
        let m = with_type(
            "IMAGE",
            r#"{"height":"290","url":"https://x/i.png","width":"304"}"#,
        );
        assert_eq!(m.kind, Kind::Image);
        let a = &m.attachments[0];
        assert_eq!(
            (a.kind, a.url.as_str(), a.width, a.height),
            (
                AttachmentKind::Image,
                "https://x/i.png",
                Some(304),
                Some(290)
            )
        );
    }

    #[test]
    fn video_becomes_an_attachment_with_its_details() {
        let m = with_type(
            "VIDEO",
            r#"{"url":"https://v/1","cover":"https://c/1.jpeg","width":640,"height":360,"duration":"20.504","format":"mp4","size":400000}"#,
        );
        assert_eq!(m.kind, Kind::Video);
        let a = &m.attachments[0];
        assert_eq!(a.kind, AttachmentKind::Video);
        assert_eq!(
            (a.width, a.height, a.duration_s, a.size_bytes),
            (Some(640), Some(360), Some(20.504), Some(400000))
        );
        assert_eq!(a.cover_url.as_deref(), Some("https://c/1.jpeg"));
        assert_eq!(a.mime_type.as_deref(), Some("video/mp4"));
    }

    #[test]
    fn links_say_when_they_expire() {
        let m = with_type(
            "VIDEO",
            r#"{"url":"https://v/1?x-tos-expires=1","vid":"v0e30","expire_time":"1764237600"}"#,
        );
        let a = &m.attachments[0];
        assert_eq!(a.expires_at.as_deref(), Some("2025-11-27T10:00:00.000Z"));
        assert_eq!(a.provider_media_id.as_deref(), Some("v0e30"));
        // Without expire_time, nothing: the link's own x-tos-expires stays in the URL, where
        // the media function reads it.
        for content in [
            r#"{"url":"https://v/1?a=b&x-tos-expires=1681980481"}"#,
            r#"{"url":"https://i/1.png?x-tos-expires=1681980481"}"#,
        ] {
            for kind in ["VIDEO", "IMAGE"] {
                let m = with_type(kind, content);
                assert_eq!(m.attachments[0].expires_at, None, "{kind} {content}");
                assert!(m.attachments[0].url.ends_with("x-tos-expires=1681980481"));
            }
        }
        // An expire_time that is not a number drops the attribute, not the message.
        for bad in [r#""soon""#, "-5", "1e308", "[1]", "99999999999999999"] {
            let content = format!(r#"{{"url":"https://v/1?x-tos-expires=1","expire_time":{bad}}}"#);
            let m = with_type("VIDEO", &content);
            assert_eq!((m.kind, m.attachments[0].expires_at.as_deref()), (Kind::Video, None), "{bad}");
        }
    }

    #[test]
    fn emoticons_keep_a_recognisable_image() {
        let m = with_type("EMOTICONS", r#"{"url":"https://e/1.png","width":"10"}"#);
        assert_eq!((m.kind, m.attachments.len()), (Kind::Emoticon, 1));
        let m = with_type("EMOTICONS", r#"{"emoji":"x"}"#);
        assert_eq!((m.kind, m.attachments.len()), (Kind::Emoticon, 0));
    }

    #[test]
    fn cards_become_refs() {
        let m = with_type("PRODUCT_CARD", r#"{"product_id":"12345"}"#);
        assert_eq!(
            (m.kind, m.refs.product_id.as_deref()),
            (Kind::Product, Some("12345"))
        );
        let m = with_type("BUYER_ENTER_FROM_ORDER", r#"{"order_id":12345}"#);
        assert_eq!(
            (m.kind, m.refs.order_id.as_deref()),
            (Kind::Order, Some("12345"))
        );
        let m = with_type("COUPON_CARD", r#"{"coupon_id":"7262992004278206762"}"#);
        assert_eq!(m.kind, Kind::Coupon);
        let m = with_type("LOGISTICS_CARD", r#"{"order_id":"o1","package_id":"p1"}"#);
        assert_eq!(
            (
                m.kind,
                m.refs.order_id.as_deref(),
                m.refs.package_id.as_deref()
            ),
            (Kind::Logistics, Some("o1"), Some("p1"))
        );
        let m = with_type("LOGISTICS_CARD", r#"{"order_id":"o1"}"#);
        assert_eq!((m.kind, m.refs.package_id), (Kind::Logistics, None));
    }

    #[test]
    fn system_lines_and_other() {
        for message_type in [
            "NOTIFICATION",
            "ALLOCATED_SERVICE",
            "BUYER_ENTER_FROM_TRANSFER",
        ] {
            let m = with_type(message_type, r#"{"content":"assigned"}"#);
            assert_eq!(
                (m.kind, m.text.as_deref()),
                (Kind::System, Some("assigned")),
                "{message_type}"
            );
        }
        assert_eq!(with_type("OTHER", r#"{"content":"x"}"#).kind, Kind::Text);
        assert_eq!(with_type("OTHER", r#"{}"#).kind, Kind::Unsupported);
    }

    #[test]
    fn unknown_types_and_broken_content_are_unsupported_not_rejected() {
        assert_eq!(
            with_type("RETURN_REFUND_CARD", r#"{"return_id":"1"}"#).kind,
            Kind::Unsupported
        );
        assert_eq!(with_type("TEXT", "not json").kind, Kind::Unsupported);
        assert_eq!(
            with_type("IMAGE", r#"{"width":"1"}"#).kind,
            Kind::Unsupported
        );
        assert_eq!(
            with_type("PRODUCT_CARD", r#"["12345"]"#).kind,
            Kind::Unsupported
        );
    }

    #[test]
    fn roles_map_to_directions() {
        assert_eq!(
            role_and_direction("SHOP"),
            (Role::Business, Direction::Outbound)
        );
        assert_eq!(
            role_and_direction("CUSTOMER_SERVICE"),
            (Role::Agent, Direction::Outbound)
        );
        assert_eq!(
            role_and_direction("ROBOT"),
            (Role::Bot, Direction::Outbound)
        );
        assert_eq!(
            role_and_direction("SYSTEM"),
            (Role::System, Direction::System)
        );
        assert_eq!(
            role_and_direction("NEW_ROLE"),
            (Role::System, Direction::System)
        );
    }

    #[test]
    fn integer_ids_and_string_times_are_tolerated() {
        let m = message(
            r#"{"content":"{\"content\":\"hi\"}","conversation_id":576486316948490001,"create_time":"1681790246","message_id":7494560109732334263,"index":42,"type":"TEXT","sender":{"role":"BUYER"}}"#,
        );
        assert_eq!(m.conversation_id, "576486316948490001");
        assert_eq!(m.message_id, "7494560109732334263");
        assert_eq!(m.order_key, "00000000000000000042");
        assert_eq!(m.created_at, "2023-04-18T03:57:26.000Z");
        assert_eq!(m.sender.id, None);
        assert_eq!(m.visible, None);
    }

    #[test]
    fn other_webhook_types_are_ignored() {
        for body in [
            r#"{"type":1,"data":{"order_id":"1"}}"#,
            r#"{"type":13,"data":{"conversation_id":"1","create_time":1}}"#,
            r#"{"type":"1","data":[]}"#,
        ] {
            assert_eq!(
                read_body(body.as_bytes()).unwrap(),
                Webhook::Ignored(Reason::NotAMessageEvent),
                "{body}"
            );
        }
    }

    #[test]
    fn missing_or_wrong_required_fields_name_the_field() {
        let cases = [
            (r#"{"data":{}}"#, "type"),
            (r#"{"type":"x"}"#, "type"),
            (r#"{"type":14}"#, "data"),
            (r#"{"type":14,"data":"s"}"#, "data"),
            (
                r#"{"type":14,"data":{"message_id":"m","index":"1","create_time":1,"type":"TEXT","sender":{"role":"BUYER"}}}"#,
                "data.conversation_id",
            ),
            (
                r#"{"type":14,"data":{"conversation_id":"c","index":"1","create_time":1,"type":"TEXT","sender":{"role":"BUYER"}}}"#,
                "data.message_id",
            ),
            (
                r#"{"type":14,"data":{"conversation_id":"c","message_id":"m","create_time":1,"type":"TEXT","sender":{"role":"BUYER"}}}"#,
                "data.index",
            ),
            (
                r#"{"type":14,"data":{"conversation_id":"c","message_id":"m","index":"1a","create_time":1,"type":"TEXT","sender":{"role":"BUYER"}}}"#,
                "data.index",
            ),
            (
                r#"{"type":14,"data":{"conversation_id":"c","message_id":"m","index":"1","create_time":"soon","type":"TEXT","sender":{"role":"BUYER"}}}"#,
                "data.create_time",
            ),
            (
                r#"{"type":14,"data":{"conversation_id":"c","message_id":"m","index":"1","create_time":1,"sender":{"role":"BUYER"}}}"#,
                "data.type",
            ),
            (
                r#"{"type":14,"data":{"conversation_id":"c","message_id":"m","index":"1","create_time":1,"type":"TEXT"}}"#,
                "data.sender",
            ),
            (
                r#"{"type":14,"data":{"conversation_id":"c","message_id":"m","index":"1","create_time":1,"type":"TEXT","sender":{}}}"#,
                "data.sender.role",
            ),
            (
                r#"{"type":14,"data":{"conversation_id":{"a":1},"message_id":"m","index":"1","create_time":1,"type":"TEXT","sender":{"role":"BUYER"}}}"#,
                "data.conversation_id",
            ),
            (
                r#"{"type":14,"data":{"conversation_id":"","message_id":"m","index":"1","create_time":1,"type":"TEXT","sender":{"role":"BUYER"}}}"#,
                "data.conversation_id",
            ),
        ];
        for (body, field) in cases {
            let err = read_body(body.as_bytes()).unwrap_err();
            assert_eq!(err.field.as_deref(), Some(field), "{body}: {err}");
        }
        assert_eq!(read_body(b"not json").unwrap_err().field, None);
        // An array is not read positionally as the envelope (`[1]` is not "type 1").
        for body in ["[1,2,3]", "[14]", "null", "\"x\"", "7"] {
            let err = read_body(body.as_bytes()).unwrap_err();
            assert_eq!(err.reason, "expected a JSON object", "{body}");
        }
    }
}
