//! Partoo: `message_created` and `message_updated` (same payload), and how a Partoo message
//! becomes a normalized one. Tryouts and the other Partoo events are acknowledged and ignored.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;

use crate::error::Invalid;
use crate::inbound::{IfUnknown, Inbound, Update};
use crate::message::{
    checked_time, non_empty, time_order_key, Attachment, Contact, Direction, Kind, Message,
    Provider, Role, Sender,
};
use crate::providers::attachment_kind_from_url;
use crate::wire::{object, parse_object, required, required_object, Object, Scalar};

/// The header a test delivery from Partoo's dashboard carries.
pub const TRYOUT_HEADER: &str = "x-partoo-webhook-tryout";

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<Scalar<'a>>,
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
    org_id: Option<Scalar<'a>>,
}

#[derive(Deserialize)]
struct WireMessage<'a> {
    #[serde(borrow)]
    id: Option<Scalar<'a>>,
    #[serde(borrow)]
    conversation_id: Option<Scalar<'a>>,
    #[serde(borrow)]
    date: Option<Scalar<'a>>,
    #[serde(borrow)]
    content_type: Option<Scalar<'a>>,
    #[serde(borrow)]
    sender_type: Option<Scalar<'a>>,
    #[serde(borrow)]
    sender_label: Option<Scalar<'a>>,
    #[serde(borrow)]
    status: Option<Scalar<'a>>,
    #[serde(borrow)]
    is_deleted: Option<Scalar<'a>>,
    #[serde(borrow)]
    is_automated: Option<Scalar<'a>>,
    #[serde(borrow)]
    content: Option<Scalar<'a>>,
    #[serde(borrow)]
    user_id: Option<Scalar<'a>>,
}

#[derive(Deserialize)]
struct Conversation<'a> {
    #[serde(borrow)]
    consumer_img: Option<Scalar<'a>>,
    #[serde(borrow)]
    consumer_name: Option<Scalar<'a>>,
    #[serde(borrow)]
    consumer_phone_number: Option<Scalar<'a>>,
    #[serde(borrow)]
    consumer_email: Option<Scalar<'a>>,
    #[serde(borrow)]
    messaging_partner: Option<Scalar<'a>>,
}

/// Reads an authentic Partoo webhook body (tryouts are answered before this, by header).
pub fn parse(body: &[u8]) -> Result<Inbound, Invalid> {
    let envelope: Envelope = parse_object(body)?;
    let event = required(
        envelope.kind.as_ref(),
        "type",
        Scalar::text,
        "an event name",
    )?;
    let is_update = match event.as_str() {
        "message_created" => false,
        "message_updated" => true,
        _ => return Ok(Inbound::Ignored("not_a_message_event")),
    };
    let payload = required_object(&envelope.payload, "payload")?;
    let message = normalize(payload)?;
    if !is_update {
        return Ok(Inbound::Message(Box::new(message)));
    }
    Ok(Inbound::Update(Box::new(Update {
        provider: Provider::Partoo,
        conversation_id: message.conversation_id.clone(),
        message_id: message.message_id.clone(),
        status: message.status.clone(),
        deleted: message.deleted == Some(true),
        if_unknown: IfUnknown::StoreAsNew(Box::new(message)),
    })))
}

fn normalize(payload: &Payload) -> Result<Message, Invalid> {
    let wire = required_object(&payload.message, "payload.message")?;
    let message_id = required(
        wire.id.as_ref(),
        "payload.message.id",
        Scalar::id,
        "a string or integer id",
    )?;
    let conversation_id = required(
        wire.conversation_id.as_ref(),
        "payload.message.conversation_id",
        Scalar::id,
        "a string or integer id",
    )?;
    let date = required(
        wire.date.as_ref(),
        "payload.message.date",
        Scalar::text,
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
    let sender_type = required(
        wire.sender_type.as_ref(),
        "payload.message.sender_type",
        Scalar::text,
        "a sender type",
    )?;

    let automated = wire.is_automated.as_ref().and_then(Scalar::bool) == Some(true);
    let (role, direction) = match sender_type.as_str() {
        "Consumer" => (Role::Customer, Direction::Inbound),
        "User" if automated => (Role::Bot, Direction::Outbound),
        "User" => (Role::Agent, Direction::Outbound),
        _ => (Role::System, Direction::System),
    };
    let mut sender = Sender::new(role);
    sender.id = wire.user_id.as_ref().and_then(Scalar::id);
    sender.name = wire.sender_label.as_ref().and_then(Scalar::text);

    let mut message = Message::new(
        Provider::Partoo,
        conversation_id,
        message_id,
        created_at,
        sender,
        direction,
    );
    message.order_key = time_order_key(&message.created_at, &message.message_id);
    message.account_id = payload.org_id.as_ref().and_then(Scalar::id);
    message.status = wire
        .status
        .as_ref()
        .and_then(Scalar::text)
        .map(|s| s.to_lowercase());
    message.automated = automated.then_some(true);
    message.deleted =
        (wire.is_deleted.as_ref().and_then(Scalar::bool) == Some(true)).then_some(true);

    if let Some(conversation) = object(&payload.conversation) {
        message.channel = conversation
            .messaging_partner
            .as_ref()
            .and_then(Scalar::text)
            .map(|p| p.to_lowercase());
        let text = |s: &Option<Scalar>| s.as_ref().and_then(Scalar::text);
        message.contact = Contact {
            id: None,
            name: text(&conversation.consumer_name),
            phone: text(&conversation.consumer_phone_number),
            email: text(&conversation.consumer_email),
            avatar_url: text(&conversation.consumer_img),
        };
    }

    let content_type = wire
        .content_type
        .as_ref()
        .and_then(Scalar::text)
        .unwrap_or_default();
    let content = wire.content.as_ref().and_then(Scalar::text);
    apply_content(&mut message, &content_type, content);
    Ok(message)
}

/// The contract's `content_type` mapping. For media, `content` is most likely the media URL
/// (undocumented): it becomes the attachment when it is a URL, and stays text when it isn't.
fn apply_content(message: &mut Message, content_type: &str, content: Option<String>) {
    let media = match content_type {
        "Text" => {
            message.kind = Kind::Text;
            message.text = content;
            return;
        }
        "Image" => Some(crate::message::AttachmentKind::Image),
        "Video" => Some(crate::message::AttachmentKind::Video),
        "Audio" => Some(crate::message::AttachmentKind::Audio),
        "Document" => Some(crate::message::AttachmentKind::Document),
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
            let kind = media.unwrap_or_else(|| attachment_kind_from_url(&url));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{format_timestamp, AttachmentKind};

    fn body(kind: &str, message: &str) -> String {
        format!(
            r#"{{"type":"{kind}","payload":{{"message":{message},"conversation":{{"id":7,"consumer_name":"John","messaging_partner":"Whatsapp"}},"org_id":42}}}}"#
        )
    }

    fn created(message: &str) -> Message {
        match parse(body("message_created", message).as_bytes()).unwrap() {
            Inbound::Message(m) => *m,
            other => panic!("{other:?}"),
        }
    }

    fn with_content(content_type: &str, content: &str, sender_type: &str) -> Message {
        created(&format!(
            r#"{{"id":5,"conversation_id":7,"date":"2023-01-31 16:22:17.327878+00:00","content_type":"{content_type}","sender_type":"{sender_type}","content":"{content}"}}"#
        ))
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
    fn updates_carry_status_deletion_and_the_whole_message() {
        let b = body(
            "message_updated",
            r#"{"id":5,"conversation_id":7,"date":"2023-01-31 16:22:17+00:00","sender_type":"User","status":"Success","is_deleted":true,"content_type":"Text","content":"x"}"#,
        );
        match parse(b.as_bytes()).unwrap() {
            Inbound::Update(u) => {
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
                parse(b.as_bytes()).unwrap(),
                Inbound::Ignored("not_a_message_event")
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
            let err = parse(b.as_bytes()).unwrap_err();
            assert_eq!(err.field.as_deref(), Some(field), "{b}: {err}");
        }
    }
}
