//! Callbell: `message_created` and `message_status_updated` on the account's one webhook URL,
//! and how a Callbell message becomes a normalized one. Callbell has no conversation id and does
//! not always send a message id: both are derived, the same way for every redelivery.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::Invalid;
use crate::inbound::{IfUnknown, Inbound, Update};
use crate::message::{
    checked_time, time_order_key, Attachment, Contact, Direction, Kind, Location, Message,
    Provider, Role, Sender,
};
use crate::providers::attachment_kind_from_url;
use crate::wire::{object, parse_object, required, required_object, List, Object, Scalar};

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    event: Option<Scalar<'a>>,
    #[serde(borrow)]
    payload: Option<Object<Payload<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload<'a> {
    #[serde(borrow)]
    uuid: Option<Scalar<'a>>,
    #[serde(borrow)]
    to: Option<Scalar<'a>>,
    #[serde(borrow)]
    from: Option<Scalar<'a>>,
    #[serde(borrow)]
    text: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    attachments: List<Scalar<'a>>,
    #[serde(borrow)]
    status: Option<Scalar<'a>>,
    #[serde(borrow)]
    channel: Option<Scalar<'a>>,
    #[serde(borrow)]
    contact: Option<Object<WireContact<'a>>>,
    #[serde(borrow)]
    created_at: Option<Scalar<'a>>,
    #[serde(borrow)]
    message_location: Option<Object<MessageLocation<'a>>>,
    #[serde(borrow)]
    message_contact_card: Option<Scalar<'a>>,
    #[serde(borrow)]
    message_reply_button: Option<Scalar<'a>>,
    #[serde(borrow)]
    message_interactive_list: Option<Scalar<'a>>,
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
    conversation_href: Option<Scalar<'a>>,
    #[serde(borrow)]
    uuid: Option<Scalar<'a>>,
    #[serde(borrow)]
    name: Option<Scalar<'a>>,
    #[serde(borrow)]
    phone_number: Option<Scalar<'a>>,
    #[serde(borrow)]
    email: Option<Scalar<'a>>,
    #[serde(borrow)]
    avatar_url: Option<Scalar<'a>>,
}

#[derive(Deserialize)]
struct MessageLocation<'a> {
    #[serde(borrow)]
    coordinates: Option<Object<Coordinates<'a>>>,
}

/// `x` is the latitude and `y` the longitude (NOTES.md).
#[derive(Deserialize)]
struct Coordinates<'a> {
    #[serde(borrow)]
    x: Option<Scalar<'a>>,
    #[serde(borrow)]
    y: Option<Scalar<'a>>,
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
    uuid: Option<Scalar<'a>>,
    #[serde(borrow)]
    id: Option<Scalar<'a>>,
}

/// Reads an authentic Callbell webhook body.
pub fn parse(body: &[u8]) -> Result<Inbound, Invalid> {
    // Connection checks: an empty body, or a JSON object without `event`.
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Inbound::ConnectionCheck);
    }
    let envelope: Envelope = parse_object(body)?;
    let event = match envelope.event.as_ref() {
        None | Some(Scalar::Null) => return Ok(Inbound::ConnectionCheck),
        Some(scalar) => scalar.text().ok_or_else(|| {
            Invalid::field(
                "event",
                format!("expected an event name, got {}", scalar.describe()),
            )
        })?,
    };
    match event.as_str() {
        "message_created" => {
            let payload = required_object(&envelope.payload, "payload")?;
            Ok(Inbound::Message(Box::new(normalize(payload)?)))
        }
        "message_status_updated" => {
            let payload = required_object(&envelope.payload, "payload")?;
            let message_id = required(
                payload.uuid.as_ref(),
                "payload.uuid",
                Scalar::id,
                "a message uuid",
            )?;
            let status = required(
                payload.status.as_ref(),
                "payload.status",
                Scalar::text,
                "a status",
            )?;
            let conversation_id = conversation_of(payload)?;
            Ok(Inbound::Update(Box::new(Update {
                provider: Provider::Callbell,
                conversation_id,
                message_id,
                status: Some(status.to_lowercase()),
                deleted: false,
                if_unknown: IfUnknown::Ignore,
            })))
        }
        _ => Ok(Inbound::Ignored("not_a_message_event")),
    }
}

/// The conversation: the last path segment of `contact.conversationHref`, else `contact.uuid`.
fn conversation_of(payload: &Payload) -> Result<String, Invalid> {
    let contact = required_object(&payload.contact, "payload.contact")?;
    let from_href = contact
        .conversation_href
        .as_ref()
        .and_then(Scalar::as_str)
        .and_then(last_path_segment);
    from_href
        .or_else(|| contact.uuid.as_ref().and_then(Scalar::id))
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

fn normalize(payload: &Payload) -> Result<Message, Invalid> {
    let conversation_id = conversation_of(payload)?;
    let created = required(
        payload.created_at.as_ref(),
        "payload.createdAt",
        Scalar::text,
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
        Scalar::text,
        "a status",
    )?;

    let (role, direction) = match status.as_str() {
        "received" => (Role::Customer, Direction::Inbound),
        "sent" => (Role::Agent, Direction::Outbound),
        "note" => (Role::Agent, Direction::System),
        _ => (Role::System, Direction::System),
    };
    let text = payload.text.as_ref().and_then(Scalar::text);
    let attachment_urls: Vec<String> = payload
        .attachments
        .0
        .iter()
        .filter_map(Scalar::text)
        .collect();

    let placeholder = String::new();
    let mut message = Message::new(
        Provider::Callbell,
        conversation_id,
        placeholder,
        created_at,
        Sender::new(role),
        direction,
    );
    message.message_id = match payload.uuid.as_ref().and_then(Scalar::id) {
        Some(uuid) => uuid,
        None => derived_message_id(
            &message.conversation_id,
            &message.created_at,
            payload,
            &status,
            &attachment_urls,
        ),
    };
    message.order_key = time_order_key(&message.created_at, &message.message_id);
    message.channel = payload
        .channel
        .as_ref()
        .and_then(Scalar::text)
        .map(|c| c.to_lowercase());
    message.status = Some(status.to_lowercase());
    if let Some(contact) = object(&payload.contact) {
        let text = |s: &Option<Scalar>| s.as_ref().and_then(Scalar::text);
        message.contact = Contact {
            id: text(&contact.uuid),
            name: text(&contact.name),
            phone: text(&contact.phone_number),
            email: text(&contact.email),
            avatar_url: text(&contact.avatar_url),
        };
    }
    let context = object(&payload.mesage_context).or(object(&payload.message_context));
    message.refs.reply_to = context.and_then(|c| object(&c.target)).and_then(|t| {
        t.uuid
            .as_ref()
            .and_then(Scalar::id)
            .or_else(|| t.id.as_ref().and_then(Scalar::id))
    });

    message.location = object(&payload.message_location)
        .and_then(|l| object(&l.coordinates))
        .and_then(|c| {
            // Degrees, or it is not a location.
            Some(Location {
                latitude: c
                    .x
                    .as_ref()
                    .and_then(Scalar::number)
                    .filter(|x| x.abs() <= 90.0)?,
                longitude: c
                    .y
                    .as_ref()
                    .and_then(Scalar::number)
                    .filter(|y| y.abs() <= 180.0)?,
            })
        });
    message.attachments = attachment_urls
        .into_iter()
        .map(|url| Attachment::new(attachment_kind_from_url(&url), url))
        .collect();
    let present = |s: &Option<Scalar>| matches!(s, Some(Scalar::Composite | Scalar::Str(_)));
    // The contract's precedence: the first that applies.
    message.kind = if message.location.is_some() {
        Kind::Location
    } else if present(&payload.message_contact_card) {
        Kind::ContactCard
    } else if present(&payload.message_reply_button) || present(&payload.message_interactive_list) {
        Kind::Interactive
    } else if text.is_some() {
        Kind::Text
    } else if let Some(first) = message.attachments.first() {
        first.kind.into()
    } else {
        Kind::Unsupported
    };
    message.text = text;
    Ok(message)
}

/// `derived-` + the first 32 hex digits of SHA-256 over the fields that identify a message,
/// joined with `\n` (absent fields as empty strings): stable across redeliveries and re-signing.
fn derived_message_id(
    conversation_id: &str,
    created_at: &str,
    payload: &Payload,
    status: &str,
    attachment_urls: &[String],
) -> String {
    let field = |s: &Option<Scalar>| {
        s.as_ref()
            .and_then(Scalar::as_str)
            .unwrap_or("")
            .to_string()
    };
    let mut parts = vec![
        conversation_id.to_string(),
        created_at.to_string(),
        field(&payload.from),
        field(&payload.to),
        status.to_string(),
        field(&payload.text),
    ];
    parts.extend(attachment_urls.iter().cloned());
    let digest = Sha256::digest(parts.join("\n").as_bytes());
    format!("derived-{}", &hex::encode(digest)[..32])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::AttachmentKind;

    const CONTACT: &str = r#"{"uuid":"eb2b","conversationHref":"https://dash.callbell.eu/chat/f367","name":"John Doe","phoneNumber":"331122334455","avatarUrl":null}"#;

    fn created(extra: &str) -> Message {
        let b = format!(
            r#"{{"event":"message_created","payload":{{"status":"received","channel":"WhatsApp","contact":{CONTACT},"createdAt":"2022-10-18T12:06:29.000+02:00"{extra}}}}}"#
        );
        match parse(b.as_bytes()).unwrap() {
            Inbound::Message(m) => *m,
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
            match parse(b(status).as_bytes()).unwrap() {
                Inbound::Message(m) => assert_eq!((m.sender.role, m.direction), (role, direction)),
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
        match parse(b.as_bytes()).unwrap() {
            Inbound::Message(m) => assert_eq!(m.conversation_id, "c-9"),
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
        match parse(b.as_bytes()).unwrap() {
            Inbound::Update(u) => {
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
        assert_eq!(parse(b"").unwrap(), Inbound::ConnectionCheck);
        assert_eq!(parse(b" \n").unwrap(), Inbound::ConnectionCheck);
        assert_eq!(parse(b"{}").unwrap(), Inbound::ConnectionCheck);
        assert_eq!(parse(br#"{"ping":1}"#).unwrap(), Inbound::ConnectionCheck);
        assert_eq!(
            parse(br#"{"event":"contact_created","payload":{}}"#).unwrap(),
            Inbound::Ignored("not_a_message_event")
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
            let err = parse(b.as_bytes()).unwrap_err();
            assert_eq!(err.field.as_deref(), field, "{b}: {err}");
        }
    }
}
