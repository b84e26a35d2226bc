//! The normalized message: one shape for every provider, as docs/ARCHITECTURE.md's "The table"
//! section describes it. Absent means "the provider did not say"; an empty string is never stored.

use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Invalid;
use crate::providers::ProviderId;

/// The `schema_version` every item written by this code carries: 3 since the rules
/// docs/CONTRACT.md marks (3) (`raw` gzip-compressed, `body_sha256` on the message item, one
/// write per message); 2 before, for the attributes marked (2). Readers treat an absent
/// attribute as not said.
pub const SCHEMA_VERSION: u8 = 3;

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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentKind {
    Image,
    Video,
    Audio,
    Document,
}

impl AttachmentKind {
    /// The kind of a media file from its URL's path extension (query and fragment ignored):
    /// .jpg .jpeg .png .gif .webp are images, .mp4 .3gp .mov videos, .ogg .oga .opus .mp3 .m4a
    /// .aac .amr audio, anything else a document.
    pub fn from_url(url: &str) -> AttachmentKind {
        let path = url.split(['?', '#']).next().unwrap_or("");
        let file = path.rsplit('/').next().unwrap_or("");
        let extension = file
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default();
        match extension.as_str() {
            "jpg" | "jpeg" | "png" | "gif" | "webp" => AttachmentKind::Image,
            "mp4" | "3gp" | "mov" => AttachmentKind::Video,
            "ogg" | "oga" | "opus" | "mp3" | "m4a" | "aac" | "amr" => AttachmentKind::Audio,
            _ => AttachmentKind::Document,
        }
    }
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    pub kind: AttachmentKind,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// The provider's own id of the media.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_media_id: Option<String>,
    /// When the provider's URL stops working, in the timestamp format of `created_at`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
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
    /// Where the media function keeps a copy, or why it cannot. Never set by a webhook.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored: Option<StoredMedia>,
}

impl Attachment {
    pub fn new(kind: AttachmentKind, url: String) -> Self {
        Attachment {
            kind,
            url,
            file_name: None,
            provider_media_id: None,
            expires_at: None,
            width: None,
            height: None,
            duration_s: None,
            size_bytes: None,
            mime_type: None,
            cover_url: None,
            stored: None,
        }
    }
}

/// An attachment's copy in the media bucket, or why there can never be one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StoredMedia {
    Copy {
        bucket: String,
        key: String,
        /// SHA-256 of the bytes, hex.
        sha256: String,
        size_bytes: u64,
        content_type: String,
        stored_at: String,
    },
    Failed {
        error: MediaError,
        at: String,
    },
}

/// Why an attachment can never be copied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaError {
    /// The provider answered 404 or 410.
    Gone,
    /// Its `expires_at` had passed.
    Expired,
    /// Larger than `MEDIA_MAX_BYTES`.
    TooLarge,
    /// Its address or scheme is not one the media function fetches from.
    Refused,
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
    /// A custom channel's own id of the message (Partoo).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_message_id: Option<String>,
    /// A custom channel's own id of the conversation (Partoo).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_conversation_id: Option<String>,
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

/// The business location a conversation belongs to (a store of a multi-location business).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Business {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zipcode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

impl Business {
    pub fn is_empty(&self) -> bool {
        *self == Business::default()
    }
}

/// Buttons and lists: what the customer saw and could choose from.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Interactive {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub footer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    /// The buttons' titles.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<InteractiveOption>,
}

impl Interactive {
    pub fn is_empty(&self) -> bool {
        *self == Interactive::default()
    }
}

/// One choice of a list.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InteractiveOption {
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The title of the section it is in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
}

/// A contact card shared in a message.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ContactCard {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub phones: Vec<Phone>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Phone {
    pub number: String,
    /// Lower case (`mobile`, `work`, …).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// A message as stored, minus its keys (see [`crate::storage::keys`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Message {
    pub schema_version: u8,
    /// Written as its provider value (`tiktok_shop`).
    pub provider: ProviderId,
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
    /// The body of the first delivery, exactly as received (the handler fills it in). Storage
    /// writes it gzip-compressed, as a binary (`crate::storage::raw`).
    pub raw: String,
    #[serde(skip_serializing_if = "Business::is_empty")]
    pub business: Business,
    /// The business's own address on the channel (a phone number, a page id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel_account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forwarded: Option<bool>,
    /// Data an integrator attached to the message, as compact JSON text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
    #[serde(skip_serializing_if = "Interactive::is_empty")]
    pub interactive: Interactive,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contact_cards: Vec<ContactCard>,
    /// Where the message sits in its conversation, as its provider orders messages. Not an
    /// attribute: storage makes the item's sort key of it.
    #[serde(skip)]
    pub order_key: OrderKey,
}

impl Message {
    /// A message with the identity and defaults filled in; providers set the rest.
    pub fn new(
        provider: ProviderId,
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
            business: Business::default(),
            channel_account: None,
            forwarded: None,
            metadata: None,
            interactive: Interactive::default(),
            contact_cards: Vec::new(),
            order_key: OrderKey::default(),
        }
    }
}

/// Where a message sits in its conversation: the text order of order keys is the order of the
/// conversation (docs/CONTRACT.md, "Order keys"). A provider says how its messages order — by
/// an index it numbers them with, or by time — and storage alone makes keys of that.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderKey(String);

impl OrderKey {
    /// Providers that number their messages (TikTok's `data.index`): the number left-padded to
    /// 20 digits, so that text order is numeric order.
    pub fn index(index: &str) -> Self {
        OrderKey(format!("{index:0>20}"))
    }

    /// Providers ordered by time: `<created_at>#<message_id>`, with a digits-only id
    /// left-padded to 20 so that text order is numeric order.
    pub fn time(created_at: &str, message_id: &str) -> Self {
        OrderKey(format!("{created_at}#{}", padded_id(message_id)))
    }

    /// The order key of a message whose own order key another message holds (TikTok sends one
    /// `index` for two messages at times): `<order key>#<message_id>`, right after the holder.
    pub fn beside(&self, message_id: &str) -> Self {
        OrderKey(format!("{}#{}", self.0, padded_id(message_id)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for OrderKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An order key compares equal to its text.
impl PartialEq<&str> for OrderKey {
    fn eq(&self, text: &&str) -> bool {
        self.0 == *text
    }
}

fn padded_id(message_id: &str) -> String {
    if is_digits(message_id) && message_id.len() < 20 {
        format!("{message_id:0>20}")
    } else {
        message_id.to_string()
    }
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

/// RFC 3339 in UTC with milliseconds, truncating anything finer (`2023-01-31T16:22:17.327Z`).
pub fn format_timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
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
    fn digit_ids_are_padded_in_time_order_keys() {
        assert_eq!(
            OrderKey::time("2023-01-31T16:22:17.327Z", "123"),
            "2023-01-31T16:22:17.327Z#00000000000000000123"
        );
        assert_eq!(OrderKey::time("t", "derived-abc"), "t#derived-abc");
        assert!(OrderKey::time("t", "9") < OrderKey::time("t", "10"));
        assert_eq!(OrderKey::index("42"), "00000000000000000042");
        let holder = OrderKey::index("42");
        let next = holder.beside("7");
        assert_eq!(next, "00000000000000000042#00000000000000000007");
        assert!(holder < next && next < OrderKey::index("43"));
        assert_eq!(holder.beside("m-1"), "00000000000000000042#m-1");
    }

    #[test]
    fn timestamps_truncate_to_milliseconds() {
        let at = Utc.timestamp_opt(1_675_182_137, 327_878_999).unwrap();
        assert_eq!(format_timestamp(at), "2023-01-31T16:22:17.327Z");
        let whole = Utc.timestamp_opt(1_681_790_246, 0).unwrap();
        assert_eq!(format_timestamp(whole), "2023-04-18T03:57:26.000Z");
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
    fn attachment_kinds_from_url_extensions() {
        let cases = [
            ("https://x/a.jpg", AttachmentKind::Image),
            ("https://x/a.JPEG", AttachmentKind::Image),
            ("https://x/a.png?x=1", AttachmentKind::Image),
            ("https://x/a.gif", AttachmentKind::Image),
            ("https://x/a.webp#f", AttachmentKind::Image),
            ("https://x/a.mp4", AttachmentKind::Video),
            ("https://x/a.3gp", AttachmentKind::Video),
            ("https://x/a.mov", AttachmentKind::Video),
            ("https://x/a.ogg", AttachmentKind::Audio),
            ("https://x/a.oga", AttachmentKind::Audio),
            ("https://x/a.opus", AttachmentKind::Audio),
            ("https://x/a.mp3", AttachmentKind::Audio),
            ("https://x/a.m4a", AttachmentKind::Audio),
            ("https://x/a.aac", AttachmentKind::Audio),
            ("https://x/a.amr", AttachmentKind::Audio),
            ("https://x/a.pdf", AttachmentKind::Document),
            ("https://x/download?file=a.png", AttachmentKind::Document),
            ("https://x.png/file", AttachmentKind::Document),
        ];
        for (url, kind) in cases {
            assert_eq!(AttachmentKind::from_url(url), kind, "{url}");
        }
    }

    #[test]
    fn blank_strings_are_absent() {
        assert_eq!(non_empty(""), None);
        assert_eq!(non_empty("  "), None);
        assert_eq!(non_empty("a"), Some("a".to_string()));
    }
}
