//! The normalized message: one shape for every provider, exactly as the contract's
//! "The normalized message" table describes it. Absent means "the provider did not say";
//! an empty string is never stored.

use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use serde::Serialize;

use crate::error::Invalid;

/// The `schema_version` every item written by this code carries.
pub const SCHEMA_VERSION: u8 = 1;

/// Which provider a message came from; its `as_str` is the contract's provider value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    TiktokShop,
    Partoo,
    Callbell,
}

impl Provider {
    pub const ALL: [Provider; 3] = [Provider::TiktokShop, Provider::Partoo, Provider::Callbell];

    /// The provider value used in items and keys (`tiktok_shop`, `partoo`, `callbell`).
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::TiktokShop => "tiktok_shop",
            Provider::Partoo => "partoo",
            Provider::Callbell => "callbell",
        }
    }

    /// The function (binary) name that receives this provider's webhooks.
    pub fn function_name(self) -> &'static str {
        match self {
            Provider::TiktokShop => "tiktok-shop",
            Provider::Partoo => "partoo",
            Provider::Callbell => "callbell",
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the customer.
    Inbound,
    /// To the customer.
    Outbound,
    /// Everything else: notices, notes, metadata lines.
    System,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Customer,
    Agent,
    Bot,
    Business,
    System,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Text,
    Image,
    Video,
    Audio,
    Document,
    Emoticon,
    Product,
    Order,
    Coupon,
    Logistics,
    Location,
    ContactCard,
    Interactive,
    Story,
    System,
    Unsupported,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentKind {
    Image,
    Video,
    Audio,
    Document,
}

impl From<AttachmentKind> for Kind {
    fn from(kind: AttachmentKind) -> Self {
        match kind {
            AttachmentKind::Image => Kind::Image,
            AttachmentKind::Video => Kind::Video,
            AttachmentKind::Audio => Kind::Audio,
            AttachmentKind::Document => Kind::Document,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sender {
    pub role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Sender {
    pub fn new(role: Role) -> Self {
        Sender {
            role,
            id: None,
            name: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Attachment {
    pub kind: AttachmentKind,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cover_url: Option<String>,
}

impl Attachment {
    pub fn new(kind: AttachmentKind, url: String) -> Self {
        Attachment {
            kind,
            url,
            width: None,
            height: None,
            duration_s: None,
            size_bytes: None,
            mime_type: None,
            cover_url: None,
        }
    }
}

/// Pointers to things the message is about, in the provider's own ids.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Refs {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coupon_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
}

impl Refs {
    pub fn is_empty(&self) -> bool {
        *self == Refs::default()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Location {
    pub latitude: f64,
    pub longitude: f64,
}

/// The customer of the conversation.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Contact {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
}

impl Contact {
    pub fn is_empty(&self) -> bool {
        *self == Contact::default()
    }
}

/// A message as stored, minus its keys (see [`crate::store::MessageRecord`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Message {
    pub schema_version: u8,
    pub provider: Provider,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    pub conversation_id: String,
    pub message_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    pub direction: Direction,
    pub sender: Sender,
    pub kind: Kind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    #[serde(skip_serializing_if = "Refs::is_empty")]
    pub refs: Refs,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    #[serde(skip_serializing_if = "Contact::is_empty")]
    pub contact: Contact,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visible: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub automated: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted: Option<bool>,
    /// The provider's message time, already in the contract's timestamp format.
    pub created_at: String,
    /// Filled in by the handler at first receipt.
    pub received_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// The body of the first delivery, exactly as received (the handler fills it in).
    pub raw: String,
    /// The key within the conversation: see [`order_key`] helpers. Not an attribute.
    #[serde(skip)]
    pub order_key: String,
}

impl Message {
    /// A message with the identity and defaults filled in; providers set the rest.
    pub fn new(
        provider: Provider,
        conversation_id: String,
        message_id: String,
        created_at: DateTime<Utc>,
        sender: Sender,
        direction: Direction,
    ) -> Self {
        Message {
            schema_version: SCHEMA_VERSION,
            provider,
            account_id: None,
            conversation_id,
            message_id,
            channel: None,
            direction,
            sender,
            kind: Kind::Unsupported,
            text: None,
            attachments: Vec::new(),
            refs: Refs::default(),
            location: None,
            contact: Contact::default(),
            status: None,
            visible: None,
            automated: None,
            deleted: None,
            created_at: format_timestamp(created_at),
            received_at: String::new(),
            updated_at: None,
            raw: String::new(),
            order_key: String::new(),
        }
    }

    /// The partition key of the conversation this message belongs to.
    pub fn partition_key(&self) -> String {
        conversation_key(self.provider, &self.conversation_id)
    }

    /// The sort key of the message item (`MSG#<order key>`).
    pub fn sort_key(&self) -> String {
        format!("MSG#{}", self.order_key)
    }
}

/// `<provider>#<conversation_id>`: the partition key of a conversation.
pub fn conversation_key(provider: Provider, conversation_id: &str) -> String {
    format!("{}#{}", provider.as_str(), conversation_id)
}

/// `ID#<message_id>`: the sort key of a message's id item.
pub fn id_sort_key(message_id: &str) -> String {
    format!("ID#{message_id}")
}

/// A message time the contract's timestamp format can carry: years 0000 to 9999 (beyond, RFC
/// 3339 has no form, and the text order of order keys would stop being time order).
pub fn checked_time(at: DateTime<Utc>, field: &str) -> Result<DateTime<Utc>, Invalid> {
    if (0..=9999).contains(&at.year()) {
        Ok(at)
    } else {
        Err(Invalid::field(
            field,
            "date is outside the years 0000 to 9999",
        ))
    }
}

/// DynamoDB's key limits: 2048 bytes for a partition key, 1024 for a sort key. A message whose
/// ids don't fit can never be stored, so it is invalid rather than a reason to retry forever.
pub fn check_key_sizes(
    provider: Provider,
    conversation_id: &str,
    sort_keys: &[&str],
) -> Result<(), Invalid> {
    if conversation_key(provider, conversation_id).len() > 2048 {
        return Err(Invalid::body(
            "conversation id is too long to be stored (over 2 KB)",
        ));
    }
    if sort_keys.iter().any(|k| k.len() > 1024) {
        return Err(Invalid::body(
            "message id or order key is too long to be stored (over 1 KB)",
        ));
    }
    Ok(())
}

/// RFC 3339 in UTC with milliseconds, truncating anything finer (`2023-01-31T16:22:17.327Z`).
pub fn format_timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Order key for providers ordered by time: `<created_at>#<message_id>`, with a digits-only id
/// left-padded to 20 so that text order is numeric order.
pub fn time_order_key(created_at: &str, message_id: &str) -> String {
    if is_digits(message_id) && message_id.len() < 20 {
        format!("{created_at}#{message_id:0>20}")
    } else {
        format!("{created_at}#{message_id}")
    }
}

pub(crate) fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `Some(s)` unless `s` is empty or only white space: the contract never stores empty strings.
pub(crate) fn non_empty(s: impl Into<String>) -> Option<String> {
    let s = s.into();
    if s.trim().is_empty() {
        None
    } else {
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_truncate_to_milliseconds() {
        let at = Utc.timestamp_opt(1_675_182_137, 327_878_999).unwrap();
        assert_eq!(format_timestamp(at), "2023-01-31T16:22:17.327Z");
        let whole = Utc.timestamp_opt(1_681_790_246, 0).unwrap();
        assert_eq!(format_timestamp(whole), "2023-04-18T03:57:26.000Z");
    }

    #[test]
    fn digit_ids_are_padded_in_time_order_keys() {
        assert_eq!(
            time_order_key("2023-01-31T16:22:17.327Z", "123"),
            "2023-01-31T16:22:17.327Z#00000000000000000123"
        );
        assert_eq!(time_order_key("t", "derived-abc"), "t#derived-abc");
        assert!(time_order_key("t", "9") < time_order_key("t", "10"));
    }

    #[test]
    fn times_beyond_year_9999_are_invalid() {
        let last = Utc.timestamp_opt(253_402_300_799, 0).unwrap();
        assert!(checked_time(last, "t").is_ok());
        let beyond = Utc.timestamp_opt(253_402_300_800, 0).unwrap();
        assert_eq!(
            checked_time(beyond, "t").unwrap_err().field.as_deref(),
            Some("t")
        );
    }

    #[test]
    fn keys_over_dynamodb_limits_are_invalid() {
        assert!(check_key_sizes(Provider::Callbell, "c", &["MSG#x"]).is_ok());
        assert!(check_key_sizes(Provider::Callbell, &"c".repeat(2100), &["MSG#x"]).is_err());
        assert!(check_key_sizes(Provider::Callbell, "c", &[&"i".repeat(1025)]).is_err());
    }

    #[test]
    fn blank_strings_are_absent() {
        assert_eq!(non_empty(""), None);
        assert_eq!(non_empty("  "), None);
        assert_eq!(non_empty("a"), Some("a".to_string()));
    }
}
