//! TikTok Shop: the customer-service "new message" webhook (type 14), and how each of its
//! message types becomes a normalized message. Every other webhook type on the same URL is
//! acknowledged and ignored.

use chrono::DateTime;
use serde::Deserialize;

use crate::error::Invalid;
use crate::inbound::Inbound;
use crate::message::{
    checked_time, is_digits, Attachment, AttachmentKind, Direction, Kind, Message, Provider, Role,
    Sender,
};
use crate::wire::{parse_object, required, required_object, Object, Scalar};

/// Longer than any video a chat carries; beyond it a "duration" is noise DynamoDB may refuse.
const MAX_DURATION_S: f64 = 1e7;

/// The webhook type that announces a new customer-service message.
pub const NEW_MESSAGE_TYPE: u64 = 14;

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<Scalar<'a>>,
    #[serde(borrow)]
    shop_id: Option<Scalar<'a>>,
    #[serde(borrow)]
    data: Option<Object<Data<'a>>>,
}

#[derive(Deserialize)]
struct Data<'a> {
    #[serde(borrow)]
    content: Option<Scalar<'a>>,
    #[serde(borrow)]
    conversation_id: Option<Scalar<'a>>,
    #[serde(borrow)]
    create_time: Option<Scalar<'a>>,
    #[serde(borrow)]
    is_visible: Option<Scalar<'a>>,
    #[serde(borrow)]
    message_id: Option<Scalar<'a>>,
    #[serde(borrow)]
    index: Option<Scalar<'a>>,
    #[serde(borrow, rename = "type")]
    kind: Option<Scalar<'a>>,
    #[serde(borrow)]
    sender: Option<Object<WireSender<'a>>>,
}

#[derive(Deserialize)]
struct WireSender<'a> {
    #[serde(borrow)]
    im_user_id: Option<Scalar<'a>>,
    #[serde(borrow)]
    role: Option<Scalar<'a>>,
}

/// The decoded `data.content` string. Which fields mean something depends on `data.type`.
#[derive(Deserialize, Default)]
struct Content<'a> {
    #[serde(borrow)]
    content: Option<Scalar<'a>>,
    #[serde(borrow)]
    url: Option<Scalar<'a>>,
    #[serde(borrow)]
    width: Option<Scalar<'a>>,
    #[serde(borrow)]
    height: Option<Scalar<'a>>,
    #[serde(borrow)]
    duration: Option<Scalar<'a>>,
    #[serde(borrow)]
    cover: Option<Scalar<'a>>,
    #[serde(borrow)]
    format: Option<Scalar<'a>>,
    #[serde(borrow)]
    size: Option<Scalar<'a>>,
    #[serde(borrow)]
    product_id: Option<Scalar<'a>>,
    #[serde(borrow)]
    order_id: Option<Scalar<'a>>,
    #[serde(borrow)]
    package_id: Option<Scalar<'a>>,
    #[serde(borrow)]
    coupon_id: Option<Scalar<'a>>,
}

/// Reads an authentic TikTok Shop webhook body.
pub fn parse(body: &[u8]) -> Result<Inbound, Invalid> {
    let envelope: Envelope = parse_object(body)?;
    let webhook_type = required(
        envelope.kind.as_ref(),
        "type",
        Scalar::unsigned,
        "an integer",
    )?;
    if webhook_type != NEW_MESSAGE_TYPE {
        return Ok(Inbound::Ignored("not_a_message_event"));
    }
    let data = required_object(&envelope.data, "data")?;
    let conversation_id = required(
        data.conversation_id.as_ref(),
        "data.conversation_id",
        Scalar::id,
        "a string or integer id",
    )?;
    let message_id = required(
        data.message_id.as_ref(),
        "data.message_id",
        Scalar::id,
        "a string or integer id",
    )?;
    let index = required(
        data.index.as_ref(),
        "data.index",
        Scalar::id,
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
        Scalar::unsigned,
        "Unix seconds",
    )?;
    let created_at = i64::try_from(create_time)
        .ok()
        .and_then(|secs| DateTime::from_timestamp(secs, 0))
        .ok_or_else(|| Invalid::field("data.create_time", "not a representable Unix time"))
        .and_then(|at| checked_time(at, "data.create_time"))?;
    let message_type = required(
        data.kind.as_ref(),
        "data.type",
        Scalar::text,
        "a message type name",
    )?;
    let sender = required_object(&data.sender, "data.sender")?;
    let role = required(
        sender.role.as_ref(),
        "data.sender.role",
        Scalar::text,
        "a role name",
    )?;

    let (role, direction) = role_and_direction(&role);
    let mut sender_out = Sender::new(role);
    sender_out.id = sender.im_user_id.as_ref().and_then(Scalar::id);

    let mut message = Message::new(
        Provider::TiktokShop,
        conversation_id,
        message_id,
        created_at,
        sender_out,
        direction,
    );
    message.order_key = format!("{index:0>20}");
    message.account_id = envelope.shop_id.as_ref().and_then(Scalar::id);
    message.channel = Some("tiktok_shop".to_string());
    message.visible = data.is_visible.as_ref().and_then(Scalar::bool);

    // `content` is JSON inside a string. Content that isn't readable leaves the defaults, and
    // the type mapping below then finds it isn't what the type promises.
    let content_text = data.content.as_ref().and_then(Scalar::as_str).unwrap_or("");
    let content: Content = serde_json::from_str::<Object<Content>>(content_text)
        .ok()
        .and_then(|o| o.0)
        .unwrap_or_default();
    apply_content(&mut message, &message_type, &content);
    Ok(Inbound::Message(Box::new(message)))
}

/// The contract's role mapping; the shop speaks for SYSTEM and ROBOT lines.
fn role_and_direction(role: &str) -> (Role, Direction) {
    match role {
        "BUYER" => (Role::Customer, Direction::Inbound),
        "SHOP" => (Role::Business, Direction::Outbound),
        "CUSTOMER_SERVICE" => (Role::Agent, Direction::Outbound),
        "ROBOT" => (Role::Bot, Direction::Outbound),
        _ => (Role::System, Direction::System),
    }
}

/// Sets kind, text, attachments and refs from the message type and its decoded content.
fn apply_content(message: &mut Message, message_type: &str, content: &Content) {
    let text = content.content.as_ref().and_then(Scalar::text);
    let id = |field: &Option<Scalar>| field.as_ref().and_then(Scalar::id);
    message.kind = match message_type {
        "TEXT" => match text.clone() {
            Some(_) => Kind::Text,
            None => Kind::Unsupported,
        },
        "IMAGE" => match content.url.as_ref().and_then(Scalar::text) {
            Some(url) => {
                let mut image = Attachment::new(AttachmentKind::Image, url);
                image.width = content.width.as_ref().and_then(Scalar::unsigned);
                image.height = content.height.as_ref().and_then(Scalar::unsigned);
                message.attachments.push(image);
                Kind::Image
            }
            None => Kind::Unsupported,
        },
        "VIDEO" => match content.url.as_ref().and_then(Scalar::text) {
            Some(url) => {
                let mut video = Attachment::new(AttachmentKind::Video, url);
                video.width = content.width.as_ref().and_then(Scalar::unsigned);
                video.height = content.height.as_ref().and_then(Scalar::unsigned);
                video.duration_s = content
                    .duration
                    .as_ref()
                    .and_then(Scalar::number)
                    .filter(|d| (0.0..=MAX_DURATION_S).contains(d));
                video.size_bytes = content.size.as_ref().and_then(Scalar::unsigned);
                video.cover_url = content.cover.as_ref().and_then(Scalar::text);
                video.mime_type = content
                    .format
                    .as_ref()
                    .and_then(Scalar::text)
                    .map(|f| format!("video/{}", f.to_ascii_lowercase()));
                message.attachments.push(video);
                Kind::Video
            }
            None => Kind::Unsupported,
        },
        // Undocumented content: keep what is recognisable, the type alone says "emoticon".
        "EMOTICONS" => {
            if let Some(url) = content.url.as_ref().and_then(Scalar::text) {
                let mut image = Attachment::new(AttachmentKind::Image, url);
                image.width = content.width.as_ref().and_then(Scalar::unsigned);
                image.height = content.height.as_ref().and_then(Scalar::unsigned);
                message.attachments.push(image);
            }
            Kind::Emoticon
        }
        "PRODUCT_CARD" | "BUYER_ENTER_FROM_PRODUCT" => {
            message.refs.product_id = id(&content.product_id);
            if message.refs.product_id.is_some() {
                Kind::Product
            } else {
                Kind::Unsupported
            }
        }
        "ORDER_CARD" | "BUYER_ENTER_FROM_ORDER" => {
            message.refs.order_id = id(&content.order_id);
            if message.refs.order_id.is_some() {
                Kind::Order
            } else {
                Kind::Unsupported
            }
        }
        "COUPON_CARD" => {
            message.refs.coupon_id = id(&content.coupon_id);
            if message.refs.coupon_id.is_some() {
                Kind::Coupon
            } else {
                Kind::Unsupported
            }
        }
        "LOGISTICS_CARD" => {
            message.refs.order_id = id(&content.order_id);
            message.refs.package_id = id(&content.package_id);
            if message.refs.order_id.is_some() {
                Kind::Logistics
            } else {
                Kind::Unsupported
            }
        }
        "NOTIFICATION" | "ALLOCATED_SERVICE" | "BUYER_ENTER_FROM_TRANSFER" => Kind::System,
        "OTHER" => match text {
            Some(_) => Kind::Text,
            None => Kind::Unsupported,
        },
        _ => Kind::Unsupported,
    };
    message.text = text;
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
        match parse(event(data).as_bytes()).unwrap() {
            Inbound::Message(m) => *m,
            other => panic!("{other:?}"),
        }
    }

    fn with_type(kind: &str, content: &str) -> Message {
        let content = serde_json::to_string(content).unwrap();
        message(&format!(
            r#"{{"content":{content},"conversation_id":"c1","create_time":1681790246,"is_visible":true,"message_id":"m1","index":"7494560109732334274","type":"{kind}","sender":{{"im_user_id":"u1","role":"BUYER"}}}}"#
        ))
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
        for kind in [
            "NOTIFICATION",
            "ALLOCATED_SERVICE",
            "BUYER_ENTER_FROM_TRANSFER",
        ] {
            let m = with_type(kind, r#"{"content":"assigned"}"#);
            assert_eq!(
                (m.kind, m.text.as_deref()),
                (Kind::System, Some("assigned")),
                "{kind}"
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
    fn roles_map_to_the_contract() {
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
                parse(body.as_bytes()).unwrap(),
                Inbound::Ignored("not_a_message_event"),
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
            let err = parse(body.as_bytes()).unwrap_err();
            assert_eq!(err.field.as_deref(), Some(field), "{body}: {err}");
        }
        assert_eq!(parse(b"not json").unwrap_err().field, None);
        // An array is not read positionally as the envelope (`[1]` is not "type 1").
        for body in ["[1,2,3]", "[14]", "null", "\"x\"", "7"] {
            let err = parse(body.as_bytes()).unwrap_err();
            assert_eq!(err.reason, "expected a JSON object", "{body}");
        }
    }
}
