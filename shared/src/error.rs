//! What can go wrong with a request, each error saying what is wrong in words a provider's
//! support engineer or an operator can act on. [`crate::response`] turns them into HTTP.

use thiserror::Error;

/// The function cannot run as configured. Answered 500 to every request; never runs open.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("function misconfigured: {0}")]
pub struct Misconfigured(pub String);

/// The request is not authentic. Says which check failed, never what the secret is.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum Unauthorized {
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    #[error("malformed {header} header: {reason}")]
    MalformedHeader {
        header: &'static str,
        reason: &'static str,
    },
    #[error("{0} does not match the body")]
    BadSignature(&'static str),
    #[error("signature timestamp is {0} s away from now (at most 300 s allowed)")]
    Stale(i64),
    #[error("missing or wrong token in the webhook URL")]
    BadToken,
    #[error("neither a valid X-Callbell-Signature nor the URL token")]
    NoValidCredential,
}

/// The event cannot be read as an HTTP request at all (before authentication).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum Rejected {
    #[error("body is {0} bytes; at most 131072 bytes are accepted")]
    TooLarge(usize),
    #[error("event says isBase64Encoded but its body is not valid base64")]
    BadBase64,
    #[error("not an API Gateway or function URL event: {0}")]
    NotAnHttpEvent(String),
}

/// An authentic body that is not a message the contract accepts: not JSON, or a required field
/// missing or of the wrong type. `field` is the JSON path to blame, when one is.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("{}", match .field { Some(f) => format!("{f}: {}", .reason), None => .reason.clone() })]
pub struct Invalid {
    pub field: Option<String>,
    pub reason: String,
}

impl Invalid {
    pub fn missing(field: &str) -> Self {
        Invalid {
            field: Some(field.to_string()),
            reason: "required field is missing".into(),
        }
    }
    pub fn field(field: &str, reason: impl Into<String>) -> Self {
        Invalid {
            field: Some(field.to_string()),
            reason: reason.into(),
        }
    }
    pub fn body(reason: impl Into<String>) -> Self {
        Invalid {
            field: None,
            reason: reason.into(),
        }
    }
}

/// Why the table did not take a write (or answer a read). [`StoreError::Timeout`] and
/// [`StoreError::Unavailable`] may pass: the body is spooled, or answered 503 so that the
/// provider's retry brings it back. [`StoreError::Refused`] and [`StoreError::Invalid`] are for
/// good — retrying cannot help — so the body is quarantined and answered 400.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("table did not answer within {0} ms")]
    Timeout(u128),
    #[error("table unavailable: {0}")]
    Unavailable(String),
    /// The table refused the item itself (DynamoDB's ValidationException): retrying can't help.
    #[error("table refused the item: {0}")]
    Refused(String),
    /// The item could never be written (its keys are over the table's limits): not even tried.
    #[error("{0}")]
    Invalid(Invalid),
}

impl StoreError {
    /// The table will give the same answer on every retry.
    pub fn is_permanent(&self) -> bool {
        matches!(self, StoreError::Refused(_) | StoreError::Invalid(_))
    }
}
