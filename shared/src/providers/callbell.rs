//! Callbell: `message_created` and `message_status_updated` on the account's one webhook URL,
//! authenticated by an optional signature or a URL token, and how a Callbell message becomes a
//! normalized one. Callbell has no conversation id and does not always send a message id: both
//! are derived, the same way for every redelivery.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use subtle::Choice;

use crate::accounts::{AccountName, NamedSecrets};
use crate::config::Env;
use crate::error::{Invalid, Misconfigured, Unauthorized};
use crate::message::{checked_time, Attachment, AttachmentKind, Contact, ContactCard, Direction, Interactive, InteractiveOption, Kind, Location, Message, OrderKey, Phone, Role, Sender};
use crate::providers::{Provider, ProviderId};
use crate::request::Request;
use crate::verify::{
    any_tag, decode_hex_32, hmac_sha256, matching_entry, secret_matches, single_header, Verified,
    Verify,
};
use crate::webhook::{IfUnknown, Reason, StatusOrder, Update, Webhook};
use crate::wire::{
    check_unique_keys, object, parse_object, required, required_object, List, Object, Value,
};

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
        let read = |setting| {
            env.get(setting)
                .map(|value| NamedSecrets::parse(setting, &value, SECRET_PREFIX))
                .transpose()
        };
        let signing_secrets = read(WEBHOOK_SECRET)?;
        let url_tokens = read(URL_TOKEN)?;
        if let (Some(secrets), Some(tokens)) = (&signing_secrets, &url_tokens) {
            secrets.check_distinct_from(tokens)?;
        }
        if signing_secrets.is_none() && url_tokens.is_none() {
            return Err(Misconfigured(format!(
                "set {WEBHOOK_SECRET} or {URL_TOKEN} (or both)"
            )));
        }
        Ok(Checks {
            signing_secrets,
            url_tokens,
        })
    }

    /// The verified entry's account name, when it has one, is the account of the messages and
    /// updates of the call: Callbell's own payloads name none.
    fn read(request: &Verified<'_>) -> Result<Webhook, Invalid> {
        let account = request.account().map(|a| a.to_string());
        Ok(match read_body(request.body())? {
            Webhook::NewMessage(mut message) => {
                message.account_id = account;
                Webhook::NewMessage(message)
            }
            Webhook::Update(mut update) => {
                update.account_id = account;
                Webhook::Update(update)
            }
            other => other,
        })
    }

    /// `message_status_updated` names its message by `uuid` alone, and comes only for messages
    /// the business sent on WhatsApp (Callbell's reference: "outbound WhatsApp only"): those
    /// get an id item, the others none — an id item is a write unit per message that no
    /// update would read. A status update naming any other message finds no id item and is
    /// answered as an update of an unknown message (row 12), as it was for a message never
    /// stored.
    fn updates_find_by_id(message: &Message) -> bool {
        message.direction == Direction::Outbound && message.channel.as_deref() == Some(WHATSAPP)
    }
}

/// The channel (lower case) whose sent messages get status updates.
const WHATSAPP: &str = "whatsapp";

/// The signing secrets: `whsec_…`, comma-separated, each optionally `<account>=<secret>`.
pub const WEBHOOK_SECRET: &str = "CALLBELL_WEBHOOK_SECRET";
/// The URL tokens, comma-separated, each optionally `<account>=<token>`.
pub const URL_TOKEN: &str = "CALLBELL_URL_TOKEN";
/// How Callbell's signing secrets begin. They are base64 and may end in `=`, so an entry that
/// begins so is a secret, whole, never `<account>=<secret>`.
pub const SECRET_PREFIX: &str = "whsec_";

/// The header that carries the signature: `t=<unix seconds>,v1=<hex>`.
pub const SIGNATURE_HEADER: &str = "x-callbell-signature";
/// The query parameter that carries the URL token.
pub const TOKEN_PARAMETER: &str = "token";
/// How far a signature's `t` may be from now, either way.
pub const TOLERANCE_SECS: i64 = 300;

/// What authenticates a Callbell call: a signature (HMAC-SHA256 over `<t>.<body>`, keyed with
/// a whole `whsec_…` secret, `t` within 300 s of now), or a token the webhook URL carries,
/// whichever is configured and passes. Every configured secret and token is compared, in
/// constant time; the entry that matched names the call's account, when it is named. A call
/// passing both checks, for different accounts, is its signature's.
#[derive(Clone, Debug)]
pub struct Checks {
    signing_secrets: Option<NamedSecrets>,
    url_tokens: Option<NamedSecrets>,
}

impl Checks {
    /// The account of an authentic call (`None` for an unnamed entry), or why it is not one.
    pub fn authenticate(
        &self,
        request: &Request,
        now: i64,
    ) -> Result<Option<AccountName>, Unauthorized> {
        let signature = self
            .signing_secrets
            .as_ref()
            .map(|secrets| check_signature(secrets, request, now));
        if let Some(Ok(account)) = signature {
            return Ok(account);
        }
        if let Some(tokens) = &self.url_tokens {
            let given: Vec<&str> = request.query_values(TOKEN_PARAMETER).collect();
            let matches = tokens.entries.iter().map(|entry| {
                given.iter().fold(Choice::from(0), |acc, value| {
                    acc | secret_matches(&entry.secret, value.as_bytes())
                })
            });
            if let Some(index) = matching_entry(matches) {
                return Ok(tokens.entries[index].account.clone());
            }
        }
        Err(match (signature, &self.url_tokens) {
            // A signature was attempted: its failure is the useful message.
            (Some(Err(e)), None) => e,
            (Some(Err(e)), Some(_)) if request.has_header(SIGNATURE_HEADER) => e,
            (Some(_), Some(_)) => Unauthorized::NoValidCredential,
            _ => Unauthorized::BadToken,
        })
    }
}

impl Verify for Checks {
    fn check(&self, request: &Request, now: i64) -> Result<(), Unauthorized> {
        self.authenticate(request, now).map(|_| ())
    }

    fn account(&self, request: &Request, now: i64) -> Result<Option<AccountName>, Unauthorized> {
        self.authenticate(request, now)
    }
}

fn check_signature(
    secrets: &NamedSecrets,
    request: &Request,
    now: i64,
) -> Result<Option<AccountName>, Unauthorized> {
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
                .push(decode_hex_32(value.trim()).ok_or(malformed("v1 is not 64 hex digits"))?),
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
    // Every secret against every candidate (a second v1 appears while a secret rotates).
    let matches = secrets.entries.iter().map(|entry| {
        let expected = hmac_sha256(&entry.secret, &[timestamp.as_bytes(), b".", request.body()]);
        any_tag(&candidates, &expected)
    });
    let Some(index) = matching_entry(matches) else {
        return Err(Unauthorized::BadSignature("X-Callbell-Signature"));
    };
    let skew = now.saturating_sub(seconds);
    if skew.abs() > TOLERANCE_SECS {
        return Err(Unauthorized::Stale(skew));
    }
    Ok(secrets.entries[index].account.clone())
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
    message_contact_card: Option<Object<MessageContactCard<'a>>>,
    #[serde(borrow)]
    message_reply_button: Option<Object<MessageReplyButton<'a>>>,
    #[serde(borrow)]
    message_interactive_list: Option<Object<MessageInteractiveList<'a>>>,
    #[serde(borrow)]
    message_forward: Option<Value<'a>>,
    /// What an integrator attached to the message, kept as its JSON text.
    #[serde(borrow)]
    metadata: Option<&'a RawValue>,
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
#[serde(rename_all = "camelCase")]
struct MessageContactCard<'a> {
    #[serde(borrow, default)]
    contacts_info: List<Object<ContactInfo<'a>>>,
}

#[derive(Deserialize)]
struct ContactInfo<'a> {
    #[serde(borrow)]
    name: Option<Value<'a>>,
    #[serde(borrow, default)]
    phones: List<Object<ContactPhone<'a>>>,
}

#[derive(Deserialize)]
struct ContactPhone<'a> {
    #[serde(borrow)]
    phone: Option<Value<'a>>,
    #[serde(borrow, rename = "type")]
    kind: Option<Value<'a>>,
}

#[derive(Deserialize)]
struct MessageReplyButton<'a> {
    #[serde(borrow)]
    metadata: Option<Object<ReplyButtonMetadata<'a>>>,
}

#[derive(Deserialize)]
struct ReplyButtonMetadata<'a> {
    #[serde(borrow)]
    content: Option<Object<ReplyButtonContent<'a>>>,
    #[serde(borrow, default)]
    options: List<Object<Titled<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReplyButtonContent<'a> {
    #[serde(borrow)]
    text: Option<Value<'a>>,
    #[serde(borrow)]
    header: Option<Value<'a>>,
    #[serde(borrow)]
    caption: Option<Value<'a>>,
    #[serde(borrow)]
    url: Option<Value<'a>>,
    #[serde(borrow)]
    filename: Option<Value<'a>>,
    #[serde(borrow)]
    content_type: Option<Value<'a>>,
}

/// Anything with a title: a button, an option.
#[derive(Deserialize)]
struct Titled<'a> {
    #[serde(borrow)]
    title: Option<Value<'a>>,
}

#[derive(Deserialize)]
struct MessageInteractiveList<'a> {
    /// The list, as a JSON object or (as Callbell sends it) a string holding one.
    #[serde(borrow)]
    metadata: Option<&'a RawValue>,
}

/// The decoded `messageInteractiveList.metadata`.
#[derive(Deserialize)]
struct ListMetadata<'a> {
    #[serde(borrow)]
    header: Option<Value<'a>>,
    #[serde(borrow)]
    body: Option<Value<'a>>,
    #[serde(borrow)]
    footer: Option<Value<'a>>,
    #[serde(borrow, default)]
    buttons: List<Object<Titled<'a>>>,
    #[serde(borrow, default)]
    sections: List<Object<ListSection<'a>>>,
}

#[derive(Deserialize)]
struct ListSection<'a> {
    #[serde(borrow)]
    title: Option<Value<'a>>,
    #[serde(borrow, default)]
    items: List<Object<ListItem<'a>>>,
}

#[derive(Deserialize)]
struct ListItem<'a> {
    #[serde(borrow)]
    header: Option<Value<'a>>,
    #[serde(borrow)]
    title: Option<Value<'a>>,
    #[serde(borrow)]
    description: Option<Value<'a>>,
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
    // Connection checks: an empty body, or an empty JSON object.
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Webhook::ConnectionCheck);
    }
    let envelope: Envelope = parse_object(body)?;
    let event = match envelope.event.as_ref() {
        // (It is an object: parse_object read it.)
        None | Some(Value::Null) if is_empty_object(body) => return Ok(Webhook::ConnectionCheck),
        // Anything else without `event` may be a message that lost its envelope on the way
        // (an integration routed through another tool): answered as a check, but kept.
        None | Some(Value::Null) => return Ok(Webhook::Unenveloped),
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
        _ => Ok(Webhook::Ignored(Reason::NotAMessageEvent)),
    }
}

/// `{}`, give or take whitespace, for a body already read as a JSON object.
fn is_empty_object(body: &[u8]) -> bool {
    body.iter()
        .filter(|b| !b.is_ascii_whitespace())
        .eq(b"{}".iter())
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
        provider: ProviderId::Callbell,
        account_id: None,
        conversation_id: conversation_of(payload)?,
        message_id,
        order_key: None,
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

/// A Callbell message, normalized: its identity, who sent it on which of the business's
/// numbers, the customer, what it replies to, where it points, its attachments, buttons, lists
/// and cards, and then its kind.
fn normalize(payload: &Payload) -> Result<Message, Invalid> {
    let mut message = identity(payload)?;
    let text = |v: &Option<Value>| v.as_ref().and_then(Value::text);
    message.channel = text(&payload.channel).map(|c| c.to_lowercase());
    if let Some(contact) = object(&payload.contact) {
        message.contact = contact_of(contact);
    }
    apply_numbers(&mut message, payload);
    message.refs.reply_to = reply_to(payload);
    message.location = location(payload);
    message.attachments = attachment_urls(payload)
        .into_iter()
        .map(|url| Attachment::new(AttachmentKind::from_url(&url), url))
        .collect();
    message.text = text(&payload.text);
    message.forwarded = forwarded(payload);
    message.metadata = payload.metadata.and_then(compact_object);
    message.contact_cards = contact_cards(payload);
    apply_interactive(&mut message, payload);
    message.kind = kind(payload, &message);
    Ok(message)
}

/// Conversation, time, status (which says who sent it, in any case) and message id.
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
    let (role, direction) = match status.to_lowercase().as_str() {
        "received" => (Role::Customer, Direction::Inbound),
        "sent" => (Role::Agent, Direction::Outbound),
        "note" => (Role::Agent, Direction::System),
        _ => (Role::System, Direction::System),
    };
    let mut message = Message::new(
        ProviderId::Callbell,
        conversation_id,
        String::new(),
        created_at,
        Sender::new(role),
        direction,
    );
    message.message_id = match payload.uuid.as_ref().and_then(Value::id) {
        Some(uuid) => uuid,
        // The status as sent: derived ids of messages stored earlier must not change.
        None => derived_message_id(&message, payload, &status),
    };
    message.order_key = OrderKey::time(&message.created_at, &message.message_id);
    message.status = Some(status.to_lowercase());
    Ok(message)
}

/// `to` and `from`: the business's number is `to` of what it receives and `from` of what it
/// sends (or notes); a customer's message is from the customer's own number.
fn apply_numbers(message: &mut Message, payload: &Payload) {
    let number = |v: &Option<Value>| v.as_ref().and_then(Value::id);
    match message.status.as_deref() {
        Some("received") => {
            message.channel_account = number(&payload.to);
            message.sender.id = number(&payload.from);
        }
        Some("sent" | "note") => message.channel_account = number(&payload.from),
        _ => {}
    }
}

/// `messageForward`, when present and not `false` or null.
fn forwarded(payload: &Payload) -> Option<bool> {
    match payload.message_forward.as_ref()? {
        Value::Null | Value::Bool(false) => None,
        _ => Some(true),
    }
}

/// A non-empty JSON object as compact text; anything else (or an object nested too deep to
/// read back) is not metadata.
fn compact_object(raw: &RawValue) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(raw.get()).ok()?;
    match &value {
        serde_json::Value::Object(map) if !map.is_empty() => serde_json::to_string(&value).ok(),
        _ => None,
    }
}

/// Each shared contact's name and phones (types lower case).
fn contact_cards(payload: &Payload) -> Vec<ContactCard> {
    let Some(card) = object(&payload.message_contact_card) else {
        return Vec::new();
    };
    card.contacts_info
        .0
        .iter()
        .filter_map(Object::get)
        .map(|info| ContactCard {
            name: info.name.as_ref().and_then(Value::text),
            phones: info
                .phones
                .0
                .iter()
                .filter_map(Object::get)
                .filter_map(|phone| {
                    Some(Phone {
                        number: phone.phone.as_ref().and_then(Value::id)?,
                        kind: phone
                            .kind
                            .as_ref()
                            .and_then(Value::text)
                            .map(|t| t.to_lowercase()),
                    })
                })
                .collect(),
        })
        .filter(|card| card.name.is_some() || !card.phones.is_empty())
        .collect()
}

/// Buttons or a list: reply buttons win over a list; either gives the text when the message
/// has none, and reply buttons may carry a media attachment.
fn apply_interactive(message: &mut Message, payload: &Payload) {
    let interactive = match reply_buttons(payload) {
        Some((interactive, attachment)) => {
            message.attachments.extend(attachment);
            interactive
        }
        None => interactive_list(payload).unwrap_or_default(),
    };
    if message.text.is_none() {
        message.text = interactive.body.clone();
    }
    message.interactive = interactive;
}

fn reply_buttons(payload: &Payload) -> Option<(Interactive, Option<Attachment>)> {
    let metadata = object(&payload.message_reply_button).and_then(|b| object(&b.metadata))?;
    let text = |v: &Option<Value>| v.as_ref().and_then(Value::text);
    let content = object(&metadata.content);
    let interactive = Interactive {
        header: content.and_then(|c| text(&c.header)),
        body: content.and_then(|c| text(&c.text)),
        caption: content.and_then(|c| text(&c.caption)),
        buttons: titles(&metadata.options),
        ..Interactive::default()
    };
    let attachment = content.and_then(|c| {
        let url = text(&c.url)?;
        let kind = match text(&c.content_type).map(|t| t.to_lowercase()).as_deref() {
            Some("image") => AttachmentKind::Image,
            Some("video") => AttachmentKind::Video,
            Some("audio") => AttachmentKind::Audio,
            Some("document") => AttachmentKind::Document,
            _ => AttachmentKind::from_url(&url),
        };
        let mut attachment = Attachment::new(kind, url);
        attachment.file_name = text(&c.filename);
        Some(attachment)
    });
    Some((interactive, attachment))
}

/// The list in `messageInteractiveList.metadata`, an object or a string holding one. A string
/// that is not JSON (or is ambiguous, or nested too deep) is a list nothing can be read from.
fn interactive_list(payload: &Payload) -> Option<Interactive> {
    let raw = object(&payload.message_interactive_list)?.metadata?;
    let text: Cow<str> = match serde_json::from_str::<&str>(raw.get()) {
        Ok(inner) => Cow::Borrowed(inner),
        // A string with escapes (as Callbell sends it: JSON inside a string).
        Err(_) if raw.get().starts_with('"') => Cow::Owned(serde_json::from_str(raw.get()).ok()?),
        Err(_) => Cow::Borrowed(raw.get()),
    };
    check_unique_keys(&text).ok()?;
    let list: Object<ListMetadata> = serde_json::from_str(&text).ok()?;
    let list = list.0?;
    let text = |v: &Option<Value>| v.as_ref().and_then(Value::text);
    let options = list
        .sections
        .0
        .iter()
        .filter_map(Object::get)
        .flat_map(|section| {
            let section_title = text(&section.title);
            section.items.0.iter().filter_map(Object::get).filter_map(move |item| {
                Some(InteractiveOption {
                    title: text(&item.header).or_else(|| text(&item.title))?,
                    description: text(&item.description),
                    section: section_title.clone(),
                })
            })
        })
        .collect();
    Some(Interactive {
        header: text(&list.header),
        body: text(&list.body),
        footer: text(&list.footer),
        buttons: titles(&list.buttons),
        options,
        ..Interactive::default()
    })
}

fn titles(items: &List<Object<Titled>>) -> Vec<String> {
    items
        .0
        .iter()
        .filter_map(Object::get)
        .filter_map(|item| item.title.as_ref().and_then(Value::text))
        .collect()
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

/// The first that applies: a location (with or without readable coordinates), a contact card,
/// buttons or a list, text, the first attachment's kind; else unsupported.
fn kind(payload: &Payload, message: &Message) -> Kind {
    if payload.message_location.is_some() {
        Kind::Location
    } else if payload.message_contact_card.is_some() {
        Kind::ContactCard
    } else if payload.message_reply_button.is_some() || payload.message_interactive_list.is_some() {
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

    use super::{Callbell, TOKEN_PARAMETER, URL_TOKEN, WEBHOOK_SECRET};
    use crate::verify::{hmac_sha256, Secret};
    use crate::testkit::{
        body_of, hmac_hex, local_first, local_named, tolerated, Credentials, HostileCase, Primitive,
        Samples, Shape, Stores::*,
    };

    /// local.env's named account, whose token the sample `whatsapp-text-brand-b` carries.
    pub const LOCAL_ACCOUNT: &str = "local-brand-b";

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
            signature(local_first(WEBHOOK_SECRET), body, now)
        }

        fn sign_lasting(&self, _body: &[u8]) -> Credentials {
            Credentials::query(TOKEN_PARAMETER, local_first(URL_TOKEN))
        }

        /// A named account's URL token (local.env's `<account>=<token>` entries).
        fn sign_lasting_as(&self, _body: &[u8], account: &str) -> Option<Credentials> {
            local_named(URL_TOKEN, account).map(|token| Credentials::query(TOKEN_PARAMETER, token))
        }

        fn forge(&self, body: &[u8], now: i64) -> Credentials {
            signature("whsec_forged", body, now)
        }

        fn user_agent(&self) -> &'static str {
            "Faraday v2.9.0"
        }

        /// A message the business sent (`sent`): the kind Callbell's status updates come for
        /// ([`Samples::status_update`] updates it), and which keeps an id item.
        fn message(&self, conversation: &str, n: u64, text: &str) -> Value {
            json!({
                "event": "message_created",
                "payload": {
                    "uuid": format!("u{n}"), "to": "1", "from": "2", "text": text,
                    "status": "sent", "channel": "whatsapp",
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
            let secret = Secret::new(local_first(WEBHOOK_SECRET));
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
            let set = |field: &'static str, value: Value| {
                move |m: &mut Value| m["payload"][field] = value.clone()
            };
            let deep = |n: usize| format!("{}1{}", r#"{"a":"#.repeat(n), "}".repeat(n));
            let many_options: Vec<Value> = (0..3000).map(|i| json!({"title": format!("option {i}")})).collect();
            let list = |metadata: Value| set("messageInteractiveList", json!({ "metadata": metadata }));
            let mut cases = tolerated(
                self,
                message,
                &[
                    (
                        "3000 reply buttons",
                        &set("messageReplyButton", json!({"metadata": {"options": many_options}})),
                    ),
                    ("list metadata not JSON", &list(json!("not {json"))),
                    ("list metadata nested too deep", &list(json!(deep(300)))),
                    ("list metadata with a repeated key", &list(json!(r#"{"header":"a","header":"b"}"#))),
                    ("list sections of every type", &list(json!({"sections": [1, "x", {"items": [null, {"header": 5}]}], "buttons": "b"}))),
                    ("coordinates 1e308", &set("messageLocation", json!({"coordinates": {"x": 1e308, "y": 1e308}}))),
                    ("location a string", &set("messageLocation", json!("somewhere"))),
                    ("contact cards of every type", &set("messageContactCard", json!({"contactsInfo": [null, 1, {"name": ["x"], "phones": [{"phone": {"n": 1}}, "555"]}]}))),
                    ("integrator metadata nested too deep", &|m: &mut Value| {
                        m["payload"]["metadata"] = serde_json::from_str(&deep(120)).expect("JSON");
                    }),
                    ("messageForward a number", &set("messageForward", json!(0))),
                    ("to and from objects", &|m: &mut Value| {
                        m["payload"]["to"] = json!({"n": 1});
                        m["payload"]["from"] = json!([2]);
                    }),
                ],
            );
            let body = body_of(&message());
            let now = crate::testkit::NOW;
            let mut after_9999 = message();
            after_9999["payload"]["createdAt"] = json!("+10000-01-01T00:00:00Z");
            let mut huge_location = message();
            huge_location["payload"]["messageLocation"] =
                json!({"coordinates": {"x": 1e300, "y": "1e-300"}});
            let limits = "beyond the table's limits";
            let token = local_first(URL_TOKEN);
            cases.extend([
                HostileCase::forged("stale t (301 s old)", &body, self.sign(&body, now - 301)),
                HostileCase::forged("future t (301 s ahead)", &body, self.sign(&body, now + 301)),
                HostileCase::forged(
                    "wrong URL token",
                    &body,
                    Credentials::query(TOKEN_PARAMETER, "not-the-token"),
                ),
                HostileCase::forged(
                    "token in the wrong parameter",
                    &body,
                    Credentials::query("tok", token),
                ),
                HostileCase::signed(self, limits, "a date after 9999", body_of(&after_9999), 400, Quarantine),
                HostileCase::signed(self, limits, "numbers DynamoDB can't hold", body_of(&huge_location), 200, Message),
                HostileCase::stranger(self, STRANGER),
            ]);
            // Accounts and secrets: a named account's token verifies; its entry's text does not.
            let accounts = "accounts and secrets";
            let named = local_named(URL_TOKEN, LOCAL_ACCOUNT).expect("local.env names an account");
            let body = body_of(&message());
            let mut by_name = HostileCase::signed(self, accounts, "a named account's token", body.clone(), 200, Message);
            by_name.credentials = Credentials::query(TOKEN_PARAMETER, named);
            cases.extend([
                by_name,
                HostileCase::forged_as(
                    accounts,
                    "the entry <account>=<token> as the token",
                    &body,
                    Credentials::query(TOKEN_PARAMETER, format!("{LOCAL_ACCOUNT}={named}")),
                ),
                HostileCase::forged_as(
                    accounts,
                    "the account name as the token",
                    &body,
                    Credentials::query(TOKEN_PARAMETER, LOCAL_ACCOUNT),
                ),
                HostileCase::forged_as(
                    accounts,
                    "keyed with the named entry's text",
                    &body,
                    signature(&format!("{LOCAL_ACCOUNT}={named}"), &body, now),
                ),
            ]);
            // Row 5, (3): authentic objects without `event` are answered as checks, and kept.
            let unenveloped = "without an envelope";
            let mut message = message();
            let payload = message["payload"].take();
            let mut null_event = json!({"event": null, "payload": payload.clone()});
            null_event["payload"]["text"] = json!("null event");
            cases.extend([
                HostileCase::signed(self, unenveloped, "a message's payload alone", body_of(&payload), 200, Quarantine),
                HostileCase::signed(self, unenveloped, "event null", body_of(&null_event), 200, Quarantine),
                HostileCase::signed(self, unenveloped, "the payload under another name", body_of(&json!({"data": payload})), 200, Quarantine),
            ]);
            cases
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

    fn checks_of(secrets: Option<&str>, tokens: Option<&str>) -> Result<Checks, Misconfigured> {
        let (secrets, tokens) = (secrets.map(str::to_string), tokens.map(str::to_string));
        let lookup = move |name: &str| match name {
            WEBHOOK_SECRET => secrets.clone(),
            URL_TOKEN => tokens.clone(),
            _ => None,
        };
        Callbell::verifier(&Env::new(&lookup))
    }

    fn signature_with(secret: &str) -> String {
        let tag = hmac_sha256(
            &crate::verify::Secret::new(secret),
            &[VECTOR_T.to_string().as_bytes(), b".", VECTOR_BODY.as_bytes()],
        );
        format!("t={VECTOR_T},v1={}", hex::encode(tag))
    }

    fn account(checks: &Checks, request: &Request) -> Result<Option<String>, Unauthorized> {
        checks
            .authenticate(request, VECTOR_T)
            .map(|a| a.map(|a| a.to_string()))
    }

    #[test]
    fn every_listed_secret_verifies_and_named_ones_give_the_account() {
        let checks = checks_of(
            Some(&format!("whsec_old=, {VECTOR_SECRET}, brand-a=whsec_a1, brand-a=whsec_a2,brand-b=whsec_b")),
            Some("tok-plain,brand-c=tok-c"),
        )
        .unwrap();
        // The known answer, its secret second in the list.
        assert_eq!(account(&checks, &signed(VECTOR_SIGNATURE, VECTOR_BODY)), Ok(None));
        for (secret, expected) in [
            ("whsec_old=", None),
            ("whsec_a1", Some("brand-a")),
            ("whsec_a2", Some("brand-a")),
            ("whsec_b", Some("brand-b")),
        ] {
            let request = signed(&signature_with(secret), VECTOR_BODY);
            assert_eq!(account(&checks, &request), Ok(expected.map(str::to_string)), "{secret}");
        }
        assert_eq!(
            account(&checks, &signed(&signature_with("whsec_other"), VECTOR_BODY)),
            Err(Unauthorized::BadSignature("X-Callbell-Signature"))
        );
        let token = |t: &str| Request::new(&[], &[("token", t)], VECTOR_BODY);
        assert_eq!(account(&checks, &token("tok-c")), Ok(Some("brand-c".into())));
        assert_eq!(account(&checks, &token("tok-plain")), Ok(None));
        assert_eq!(account(&checks, &token("brand-c=tok-c")), Err(Unauthorized::NoValidCredential));
        // A token given twice, one of them right, passes.
        let two = Request::new(&[], &[("token", "nope"), ("token", "tok-c")], VECTOR_BODY);
        assert_eq!(account(&checks, &two), Ok(Some("brand-c".into())));
        // Both checks passing, for different accounts: the signature's.
        let both = Request::new(
            &[("X-Callbell-Signature", signature_with("whsec_b").as_str())],
            &[("token", "tok-c")],
            VECTOR_BODY,
        );
        assert_eq!(account(&checks, &both), Ok(Some("brand-b".into())));
        // After the rotation the old secret no longer verifies.
        let rotated = checks_of(Some(VECTOR_SECRET), None).unwrap();
        let old = signed(&signature_with("whsec_old="), VECTOR_BODY);
        assert!(rotated.check(&old, VECTOR_T).is_err());
    }

    #[test]
    fn malformed_lists_are_misconfigured_naming_the_setting() {
        for (secrets, tokens, setting) in [
            (Some("whsec_hunter2=,,whsec_x"), None, WEBHOOK_SECRET),
            (Some("whsec_hunter2=,"), None, WEBHOOK_SECRET),
            (Some("brand-a="), None, WEBHOOK_SECRET),
            (None, Some("=hunter2"), URL_TOKEN),
            (Some("a=whsec_hunter2,b=whsec_hunter2"), None, WEBHOOK_SECRET),
            (None, Some("hunter2,c=hunter2"), URL_TOKEN),
            (Some("whsec_hunter2"), Some("c=whsec_hunter2"), WEBHOOK_SECRET),
            (None, Some("aHVudGVyMg=="), URL_TOKEN),
        ] {
            let error = checks_of(secrets, tokens).unwrap_err().to_string();
            assert!(error.contains(setting), "{secrets:?} {tokens:?}: {error}");
            assert!(!error.contains("hunter2") && !error.contains("aHVudGVyMg"), "{error}");
        }
        // The same secret as a signing secret and a token of the same account is fine.
        assert!(checks_of(Some("c=whsec_x"), Some("c=whsec_x")).is_ok());
        let shown = format!("{:?}", checks_of(Some("brand-a=whsec_hunter2"), Some("t0ken")).unwrap());
        assert!(!shown.contains("hunter2") && !shown.contains("t0ken"), "{shown}");
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
        match read_body(b.as_bytes()).unwrap_or_else(|e| panic!("{b}: {e}")) {
            Webhook::NewMessage(m) => *m,
            other => panic!("{other:?}"),
        }
    }

    /// Only what the business sent on WhatsApp can receive a status update, so only that
    /// keeps an id item.
    #[test]
    fn an_id_item_only_for_what_the_business_sent_on_whatsapp() {
        let message = |status: &str, channel: &str| {
            let b = format!(
                r#"{{"event":"message_created","payload":{{"uuid":"m-1","text":"Hi","from":"1","to":"2","status":"{status}","channel":"{channel}","contact":{CONTACT},"createdAt":"2022-10-18T12:06:29.000+02:00"}}}}"#
            );
            match read_body(b.as_bytes()).unwrap_or_else(|e| panic!("{b}: {e}")) {
                Webhook::NewMessage(m) => *m,
                other => panic!("{other:?}"),
            }
        };
        for (status, channel, by_id) in [
            ("sent", "WhatsApp", true),
            ("sent", "whatsapp", true),
            ("received", "whatsapp", false),
            ("note", "whatsapp", false),
            ("sent", "telegram", false),
            ("sent", "instagram", false),
            ("sent", "facebook", false),
        ] {
            assert_eq!(
                Callbell::updates_find_by_id(&message(status, channel)),
                by_id,
                "{status} on {channel}"
            );
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
    fn status_in_any_case_gives_direction_and_numbers() {
        let m = created(r#","uuid":"m","text":"x","from":"331","to":"335""#);
        assert_eq!(
            (m.channel_account.as_deref(), m.sender.id.as_deref()),
            (Some("335"), Some("331"))
        );
        for status in ["Sent", "SENT", "sent"] {
            let b = format!(
                r#"{{"event":"message_created","payload":{{"uuid":"m","status":"{status}","contact":{CONTACT},"createdAt":"2022-10-18T10:06:29Z","text":"x","from":"331","to":"335"}}}}"#
            );
            let Webhook::NewMessage(m) = read_body(b.as_bytes()).unwrap() else {
                panic!("{status}")
            };
            assert_eq!(
                (m.sender.role, m.direction, m.status.as_deref()),
                (Role::Agent, Direction::Outbound, Some("sent")),
                "{status}"
            );
            assert_eq!((m.channel_account.as_deref(), m.sender.id), (Some("331"), None));
        }
    }

    #[test]
    fn forwarded_and_metadata() {
        for (forward, expected) in [
            (r#"{"forwarded":true}"#, Some(true)),
            ("true", Some(true)),
            ("false", None),
            ("null", None),
        ] {
            let m = created(&format!(r#","uuid":"m","text":"x","messageForward":{forward}"#));
            assert_eq!(m.forwarded, expected, "{forward}");
        }
        let m = created(r#","uuid":"m","text":"x","metadata":{ "order" : 42, "tags":["a"] }"#);
        assert_eq!(m.metadata.as_deref(), Some(r#"{"order":42,"tags":["a"]}"#));
        for metadata in ["{}", "[]", r#""text""#, "7", "null"] {
            let m = created(&format!(r#","uuid":"m","text":"x","metadata":{metadata}"#));
            assert_eq!(m.metadata, None, "{metadata}");
        }
        let deep = format!(r#","uuid":"m","text":"x","metadata":{}1{}"#, r#"{"a":"#.repeat(200), "}".repeat(200));
        assert_eq!(created(&deep).metadata, None, "too deep to read back: dropped");
    }

    #[test]
    fn reply_buttons_with_media() {
        let m = created(
            r#","uuid":"m","messageReplyButton":{"metadata":{"content":{"url":"https://x/menu","text":"Pick","header":"H","caption":"C","filename":"menu.pdf","contentType":"document"},"options":[{"title":"A"},{"title":""},{"x":1},"B"]}}"#,
        );
        assert_eq!(m.kind, Kind::Interactive);
        assert_eq!(
            m.interactive,
            Interactive {
                header: Some("H".into()),
                body: Some("Pick".into()),
                caption: Some("C".into()),
                buttons: vec!["A".into()],
                ..Interactive::default()
            }
        );
        assert_eq!(m.text.as_deref(), Some("Pick"), "the body is the text when none");
        let a = &m.attachments[0];
        assert_eq!(
            (a.kind, a.url.as_str(), a.file_name.as_deref()),
            (AttachmentKind::Document, "https://x/menu", Some("menu.pdf"))
        );
        // An unknown content type: the kind comes from the URL.
        let m = created(
            r#","uuid":"m","text":"t","messageReplyButton":{"metadata":{"content":{"url":"https://x/a.mp4","contentType":"sticker"}}}"#,
        );
        assert_eq!((m.attachments[0].kind, m.text.as_deref()), (AttachmentKind::Video, Some("t")));
    }

    #[test]
    fn interactive_lists_as_strings_or_objects() {
        let list = r#"{"header":"Menu","body":"Pick one","footer":"F","buttons":[{"title":"Open"}],"sections":[{"title":"Breakfast","items":[{"header":"Yogurt","description":"plain"},{"title":"Eggs"},{"description":"no title"}]},{"items":[{"header":"Tea"}]}]}"#;
        let expected = Interactive {
            header: Some("Menu".into()),
            body: Some("Pick one".into()),
            footer: Some("F".into()),
            buttons: vec!["Open".into()],
            options: vec![
                InteractiveOption {
                    title: "Yogurt".into(),
                    description: Some("plain".into()),
                    section: Some("Breakfast".into()),
                },
                InteractiveOption {
                    title: "Eggs".into(),
                    description: None,
                    section: Some("Breakfast".into()),
                },
                InteractiveOption {
                    title: "Tea".into(),
                    description: None,
                    section: None,
                },
            ],
            ..Interactive::default()
        };
        let as_string = serde_json::to_string(list).unwrap();
        for metadata in [list.to_string(), as_string] {
            let m = created(&format!(
                r#","uuid":"m","messageInteractiveList":{{"metadata":{metadata}}}"#
            ));
            assert_eq!((m.kind, &m.interactive), (Kind::Interactive, &expected));
            assert_eq!(m.text.as_deref(), Some("Pick one"));
        }
        // Not JSON, ambiguous, or not an object: still interactive, nothing read.
        for metadata in [
            r#""not json""#,
            r#""{\"header\":\"a\",\"header\":\"b\"}""#,
            "[1]",
            "42",
        ] {
            let m = created(&format!(
                r#","uuid":"m","messageInteractiveList":{{"metadata":{metadata}}}"#
            ));
            assert_eq!((m.kind, m.interactive.is_empty()), (Kind::Interactive, true), "{metadata}");
        }
        // Reply buttons win over a list.
        let m = created(&format!(
            r#","uuid":"m","messageReplyButton":{{"metadata":{{"options":[{{"title":"Yes"}}]}}}},"messageInteractiveList":{{"metadata":{list}}}"#
        ));
        assert_eq!((m.interactive.buttons.as_slice(), m.interactive.options.len()), (&["Yes".to_string()][..], 0));
    }

    #[test]
    fn contact_cards_with_their_phones() {
        let m = created(
            r#","uuid":"m","messageContactCard":{"contactsInfo":[{"name":"Ana","phones":[{"phone":"351","type":"CELL"},{"phone":"352","type":"WORK"},{"type":"HOME"}]},{"name":null,"phones":[]},"junk"]}"#,
        );
        assert_eq!(m.kind, Kind::ContactCard);
        assert_eq!(
            m.contact_cards,
            vec![ContactCard {
                name: Some("Ana".into()),
                phones: vec![
                    Phone {
                        number: "351".into(),
                        kind: Some("cell".into())
                    },
                    Phone {
                        number: "352".into(),
                        kind: Some("work".into())
                    },
                ],
            }]
        );
    }

    #[test]
    fn locations_without_readable_coordinates_stay_locations() {
        for coordinates in [
            "{}",
            r#"{"x":1e308,"y":2}"#,
            r#"{"x":91,"y":2}"#,
            r#"{"x":"north","y":2}"#,
            r#"{"x":1}"#,
        ] {
            let m = created(&format!(
                r#","uuid":"m","text":"here","messageLocation":{{"coordinates":{coordinates}}}"#
            ));
            assert_eq!((m.kind, m.location), (Kind::Location, None), "{coordinates}");
        }
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
        assert_eq!(read_body(b" {\n } \n").unwrap(), Webhook::ConnectionCheck);
        // A non-empty object without `event` is kept: it may be a message without its
        // envelope (row 5, (3)).
        for kept in [
            r#"{"ping":1}"#,
            r#"{"event":null}"#,
            r#"{"event":null,"payload":{"uuid":"u1"}}"#,
            r#"{"uuid":"u1","text":"hi","status":"received","contact":{"uuid":"k1"}}"#,
        ] {
            assert_eq!(read_body(kept.as_bytes()).unwrap(), Webhook::Unenveloped, "{kept}");
        }
        assert_eq!(
            read_body(br#"{"event":"contact_created","payload":{}}"#).unwrap(),
            Webhook::Ignored(Reason::NotAMessageEvent)
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
