//! The spool (docs/CONTRACT.md, row 7 and "The spool and its drain"): when the table cannot take
//! an authentic body in time, the function hands it to its SQS queue and answers
//! `{"status":"accepted"}`; the same function later drains the queue into the table.
//!
//! - this module: what a spooled message is (body, `provider`, `received_at`, and
//!   `body_encoding=base64` when SQS could not carry the body as text), the time budget shared
//!   by the table and the queue, and the [`Spool`] trait;
//! - [`SqsSpool`]: the real queue; `MemorySpool` (feature `testkit`): one in memory that
//!   counts its sends, for unit tests;
//! - [`event`]: the SQS events the drain receives, and its partial batch response.

pub mod event;
#[cfg(any(test, feature = "testkit"))]
mod memory;
mod sqs;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use base64::Engine as _;
use thiserror::Error;

use crate::providers::ProviderId;

#[cfg(any(test, feature = "testkit"))]
pub use memory::MemorySpool;
pub use sqs::SqsSpool;

/// The message attribute naming the provider value (`partoo`).
pub const PROVIDER_ATTRIBUTE: &str = "provider";
/// The message attribute holding the time the webhook received the body (RFC 3339, ms).
pub const RECEIVED_AT_ATTRIBUTE: &str = "received_at";
/// The message attribute present, as `base64`, when the SQS body is the webhook body's base64.
pub const BODY_ENCODING_ATTRIBUTE: &str = "body_encoding";
pub const BASE64: &str = "base64";
/// The message attribute naming the account whose (named) secret verified the body, when one
/// did: the drain stores the body as the webhook would have.
pub const ACCOUNT_ATTRIBUTE: &str = "account_id";

pub use crate::config::DEFAULT_MAX_RECEIVES;

/// How long a request may spend on storage, from the moment it is verified: the table gets the
/// first share, the queue whatever is left of the total. Lambda's timeout (template.yaml: 2 s)
/// is above the total, and the providers' patience (~3 s) well above it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Everything: the table's try and, when it fails, the queue's.
    pub total: Duration,
    /// The table's share when a spool queue is configured.
    pub table: Duration,
}

impl Budget {
    /// 1.2 s for the table, then up to 0.5 s (more when the table failed sooner) for the queue.
    /// DynamoDB answers in milliseconds when well: 1.2 s still covers an attempt timing out
    /// (700 ms) and a retry; SQS takes a message in tens of milliseconds.
    pub const DEFAULT: Budget = Budget {
        total: Duration::from_millis(1700),
        table: Duration::from_millis(1200),
    };

    /// A budget of `total`, split in the same proportion as [`Budget::DEFAULT`].
    pub fn scaled(total: Duration) -> Budget {
        let default = Budget::DEFAULT;
        Budget {
            total,
            table: total.mul_f64(default.table.as_secs_f64() / default.total.as_secs_f64()),
        }
    }

    /// How long the table may take: its share when the queue is there to try next, otherwise
    /// (no spool configured, or a drain, which never spools) the whole budget.
    pub fn table_share(&self, spooling: bool) -> Duration {
        if spooling {
            self.table.min(self.total)
        } else {
            self.total
        }
    }
}

impl Default for Budget {
    fn default() -> Self {
        Budget::DEFAULT
    }
}

/// What goes to the queue: the body as SQS can carry it and the attributes the drain needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpoolMessage {
    pub provider: ProviderId,
    pub received_at: String,
    pub body: SqsBody,
    /// The verified account (attribute `account_id`), when the entry that verified it is named.
    pub account: Option<String>,
}

/// A webhook body as an SQS message body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqsBody {
    pub text: String,
    /// `text` is the body's base64 (attribute `body_encoding=base64`).
    pub base64: bool,
}

impl SqsBody {
    /// The body itself when SQS can carry it as text (UTF-8 and only the characters SQS
    /// allows), its standard base64 otherwise. An empty body cannot be spooled: SQS wants at
    /// least one character, and the base64 of nothing is nothing.
    pub fn of(body: &[u8]) -> Result<SqsBody, SpoolError> {
        if body.is_empty() {
            return Err(SpoolError::Unspoolable("an empty body"));
        }
        match std::str::from_utf8(body) {
            Ok(text) if text.chars().all(sqs_allows) => Ok(SqsBody {
                text: text.to_string(),
                base64: false,
            }),
            _ => Ok(SqsBody {
                text: base64::engine::general_purpose::STANDARD.encode(body),
                base64: true,
            }),
        }
    }

    /// The webhook body's bytes back, given the message's `body_encoding` attribute.
    pub fn decode(text: &str, encoding: Option<&str>) -> Result<Vec<u8>, String> {
        match encoding {
            None => Ok(text.as_bytes().to_vec()),
            Some(BASE64) => base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|e| format!("message attribute {BODY_ENCODING_ATTRIBUTE} is {BASE64}, but the body is not base64 ({e})")),
            Some(other) => Err(format!(
                "message attribute {BODY_ENCODING_ATTRIBUTE} is {other:?}; only {BASE64:?} is known"
            )),
        }
    }
}

/// The characters an SQS message body may hold: `#x9 | #xA | #xD | #x20-#xD7FF |
/// #xE000-#xFFFD | #x10000-#x10FFFF` (SQS refuses anything else; surrogates cannot occur in a
/// Rust `char`).
pub(crate) fn sqs_allows(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// Why the queue did not take a body.
#[derive(Debug, Error)]
pub enum SpoolError {
    #[error("spool queue did not answer within {0} ms")]
    Timeout(u128),
    #[error("spool queue unavailable: {0}")]
    Unavailable(String),
    #[error("body cannot be spooled: {0}")]
    Unspoolable(&'static str),
}

/// A boxed future (spool calls happen only when the table failed, so a box costs nothing that
/// matters, and it keeps the trait usable behind `dyn`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where bodies go while the table cannot take them.
pub trait Spool: Send + Sync {
    /// Sends one message; `Ok` once the queue has taken it.
    fn send<'a>(&'a self, message: &'a SpoolMessage) -> BoxFuture<'a, Result<(), SpoolError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_budget_leaves_the_queue_room_within_lambdas_timeout() {
        let budget = Budget::DEFAULT;
        assert_eq!(budget.table_share(true), Duration::from_millis(1200));
        assert_eq!(
            budget.total - budget.table_share(true),
            Duration::from_millis(500)
        );
        // Without a queue to try, the table gets all of it.
        assert_eq!(budget.table_share(false), Duration::from_millis(1700));
        // template.yaml's Timeout is 2 s; the providers wait ~3 s.
        assert!(budget.total < Duration::from_secs(2));
    }

    #[test]
    fn scaled_budgets_keep_the_split_and_never_give_the_table_more_than_all() {
        let budget = Budget::scaled(Duration::from_millis(850));
        assert_eq!(budget.total, Duration::from_millis(850));
        assert_eq!(budget.table, Duration::from_millis(600));
        let odd = Budget {
            total: Duration::from_millis(100),
            table: Duration::from_millis(300),
        };
        assert_eq!(odd.table_share(true), Duration::from_millis(100));
    }

    #[test]
    fn sqs_characters_are_exactly_the_allowed_ranges() {
        for allowed in [
            '\t',
            '\n',
            '\r',
            ' ',
            '~',
            '\u{7f}',
            '\u{a0}',
            '\u{2028}',
            '\u{d7ff}',
            '\u{e000}',
            '\u{feff}',
            '\u{fffd}',
            '\u{10000}',
            '\u{1f600}',
            '\u{10fffd}',
            '\u{10ffff}',
        ] {
            assert!(sqs_allows(allowed), "{:?}", allowed);
        }
        for refused in [
            '\u{0}', '\u{8}', '\u{b}', '\u{c}', '\u{1f}', '\u{fffe}', '\u{ffff}',
        ] {
            assert!(!sqs_allows(refused), "{:?}", refused);
        }
    }

    #[test]
    fn bodies_travel_as_text_when_sqs_allows_and_as_base64_otherwise() {
        let text = "{\"t\":\"héllo 你好 👩‍👩‍👧 \u{10fffd}\t\r\n\u{7f}\"}";
        let body = SqsBody::of(text.as_bytes()).unwrap();
        assert_eq!((body.text.as_str(), body.base64), (text, false));
        assert_eq!(SqsBody::decode(&body.text, None).unwrap(), text.as_bytes());

        for bytes in [
            &b"{\"t\":\"a\0b\"}"[..],
            "{\"t\":\"\u{fffe}\"}".as_bytes(),
            "{\"t\":\"\u{ffff}\u{1f}\"}".as_bytes(),
            &[0xff, 0xfe, b'{'][..],
            &b"{\"t\":\"\xed\xa0\x80\"}"[..],
        ] {
            let body = SqsBody::of(bytes).unwrap();
            assert!(body.base64, "{bytes:?}");
            assert!(body.text.chars().all(sqs_allows));
            assert_eq!(SqsBody::decode(&body.text, Some(BASE64)).unwrap(), bytes);
        }
        assert!(matches!(SqsBody::of(b""), Err(SpoolError::Unspoolable(_))));
    }

    #[test]
    fn undecodable_bodies_say_what_is_wrong() {
        let bad = SqsBody::decode("not base64!", Some(BASE64)).unwrap_err();
        assert!(bad.contains("not base64"), "{bad}");
        let unknown = SqsBody::decode("x", Some("gzip")).unwrap_err();
        assert!(unknown.contains("\"gzip\""), "{unknown}");
    }

    #[test]
    fn max_receives_defaults_to_five() {
        use crate::config::max_receives;
        assert_eq!(max_receives(None), 5);
        assert_eq!(max_receives(Some(" 3 ")), 3);
        for bad in ["", "0", "-1", "five"] {
            assert_eq!(max_receives(Some(bad)), 5, "{bad:?}");
        }
    }
}
