//! The one place where outcomes become HTTP answers: docs/CONTRACT.md's "HTTP behaviour"
//! table, whose row numbers the variants name.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::error::{Invalid, Rejected, StoreError, Unauthorized};
use crate::request::PayloadVersion;
use crate::webhook::Reason;

/// How a request ended; each variant is one row (or a pair of rows) of docs/CONTRACT.md's table.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Row 1.
    Misconfigured,
    /// Row 2: too large, undecodable base64, or not an HTTP event at all.
    Rejected(Rejected),
    /// Row 3.
    Unauthorized(Unauthorized),
    /// Row 4 (and 12, and updates that change nothing).
    Ignored(Reason),
    /// Row 5.
    ConnectionOk,
    /// Row 5 (3): answered as a connection check, the body kept in quarantine (why).
    KeptUnenveloped(Invalid),
    /// Row 5b (3): an authentic message of an account the allow-list leaves out (or of none),
    /// stored nowhere.
    Forbidden { account: Option<String> },
    /// Row 6: the body is not a message the contract accepts, and was quarantined.
    Quarantined(Invalid),
    /// Row 7: the table could not take the body, the spool queue did (why the table could not).
    Spooled(StoreError),
    /// Row 7b.
    Unavailable(StoreError),
    /// Rows 8 and 11.
    Stored { message_id: String },
    /// Row 9. `conflict`: the stored first delivery had a different body.
    Duplicate { message_id: String, conflict: bool },
    /// Row 10.
    Updated { message_id: String },
}

/// The contract's outcome names (docs/CONTRACT.md's "outcome" column), as logs and metrics
/// report them: what requests are counted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OutcomeName {
    Misconfigured,
    TooLarge,
    Invalid,
    Unauthorized,
    Forbidden,
    Ignored,
    Spooled,
    Unavailable,
    Stored,
    Duplicate,
    Updated,
}

impl OutcomeName {
    pub const fn as_str(self) -> &'static str {
        match self {
            OutcomeName::Misconfigured => "misconfigured",
            OutcomeName::TooLarge => "too_large",
            OutcomeName::Invalid => "invalid",
            OutcomeName::Unauthorized => "unauthorized",
            OutcomeName::Forbidden => "forbidden",
            OutcomeName::Ignored => "ignored",
            OutcomeName::Spooled => "spooled",
            OutcomeName::Unavailable => "unavailable",
            OutcomeName::Stored => "stored",
            OutcomeName::Duplicate => "duplicate",
            OutcomeName::Updated => "updated",
        }
    }
}

impl std::fmt::Display for OutcomeName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An outcome name compares equal to its text.
impl PartialEq<&str> for OutcomeName {
    fn eq(&self, name: &&str) -> bool {
        self.as_str() == *name
    }
}

impl Outcome {
    /// The contract's outcome name, as logs and metrics report it.
    pub(crate) fn name(&self) -> OutcomeName {
        match self {
            Outcome::Misconfigured => OutcomeName::Misconfigured,
            Outcome::Rejected(Rejected::TooLarge(_)) => OutcomeName::TooLarge,
            Outcome::Rejected(_) | Outcome::Quarantined(_) => OutcomeName::Invalid,
            Outcome::Unauthorized(_) => OutcomeName::Unauthorized,
            Outcome::Forbidden { .. } => OutcomeName::Forbidden,
            Outcome::Ignored(_) | Outcome::ConnectionOk | Outcome::KeptUnenveloped(_) => {
                OutcomeName::Ignored
            }
            Outcome::Spooled(_) => OutcomeName::Spooled,
            Outcome::Unavailable(_) => OutcomeName::Unavailable,
            Outcome::Stored { .. } => OutcomeName::Stored,
            Outcome::Duplicate { .. } => OutcomeName::Duplicate,
            Outcome::Updated { .. } => OutcomeName::Updated,
        }
    }

    /// Why a message is refused, naming its account: the caller's own id, no secret.
    fn forbidden_text(&self) -> String {
        match self {
            Outcome::Forbidden { account: Some(id) } => {
                format!("account {id} is not one this function serves; nothing was stored")
            }
            _ => "the message names no account, and this function serves listed accounts only; \
                  nothing was stored"
                .to_string(),
        }
    }

    /// The account of a refused message (the `account_id` of its log line).
    pub fn refused_account(&self) -> Option<&str> {
        match self {
            Outcome::Forbidden { account } => account.as_deref(),
            _ => None,
        }
    }

    /// Whether the body was kept in quarantine (the `Quarantined` metric).
    pub fn quarantined(&self) -> bool {
        matches!(self, Outcome::Quarantined(_) | Outcome::KeptUnenveloped(_))
    }

    /// Why, for the log line of a request that did not simply succeed.
    pub(crate) fn detail(&self) -> Option<String> {
        match self {
            Outcome::Rejected(e) => Some(e.to_string()),
            Outcome::Unauthorized(e) => Some(e.to_string()),
            Outcome::Quarantined(e) | Outcome::KeptUnenveloped(e) => Some(e.to_string()),
            Outcome::Unavailable(e) | Outcome::Spooled(e) => Some(e.to_string()),
            Outcome::Ignored(reason) => Some(reason.to_string()),
            Outcome::Forbidden { .. } => Some(self.forbidden_text()),
            _ => None,
        }
    }

    pub(crate) fn status_code(&self) -> u16 {
        match self {
            Outcome::Misconfigured => 500,
            Outcome::Rejected(Rejected::TooLarge(_)) => 413,
            Outcome::Rejected(_) | Outcome::Quarantined(_) => 400,
            Outcome::Unauthorized(_) => 401,
            Outcome::Forbidden { .. } => 403,
            Outcome::Unavailable(_) => 503,
            Outcome::Ignored(_)
            | Outcome::Spooled(_)
            | Outcome::ConnectionOk
            | Outcome::KeptUnenveloped(_)
            | Outcome::Stored { .. }
            | Outcome::Duplicate { .. }
            | Outcome::Updated { .. } => 200,
        }
    }

    /// What the answer's JSON body says.
    fn answer_body(&self) -> Body<'_> {
        let error = |text: String| Body::Error {
            error: Cow::Owned(text),
            field: None,
        };
        fn status<'a>(status: &'static str, message_id: Option<&'a str>) -> Body<'a> {
            Body::Status {
                message_id,
                reason: None,
                status,
            }
        }
        match self {
            // The detail is in the function's log, not told to whoever calls.
            Outcome::Misconfigured => Body::Error {
                error: Cow::Borrowed("function is misconfigured; see its logs"),
                field: None,
            },
            Outcome::Rejected(e) => error(e.to_string()),
            Outcome::Unauthorized(e) => error(e.to_string()),
            Outcome::Forbidden { .. } => error(self.forbidden_text()),
            Outcome::Ignored(reason) => Body::Status {
                message_id: None,
                reason: Some(reason.as_str()),
                status: "ignored",
            },
            Outcome::ConnectionOk | Outcome::KeptUnenveloped(_) => status("ok", None),
            Outcome::Quarantined(Invalid { field, reason }) => Body::Error {
                error: Cow::Borrowed(reason),
                field: field.as_deref(),
            },
            Outcome::Spooled(_) => status("accepted", None),
            Outcome::Unavailable(_) => Body::Error {
                error: Cow::Borrowed("message table unavailable; retry later"),
                field: None,
            },
            Outcome::Stored { message_id } => status("stored", Some(message_id.as_str())),
            Outcome::Duplicate { message_id, .. } => status("duplicate", Some(message_id.as_str())),
            Outcome::Updated { message_id } => status("updated", Some(message_id.as_str())),
        }
    }

    /// The JSON body of the answer, as a value (for tests).
    #[cfg(test)]
    pub(crate) fn body(&self) -> serde_json::Value {
        serde_json::to_value(self.answer_body()).expect("an answer serializes")
    }

    pub(crate) fn into_response(self, version: PayloadVersion) -> HttpResponse {
        let body = serde_json::to_string(&self.answer_body()).expect("an answer serializes");
        HttpResponse::json(self.status_code(), body, version)
    }
}

/// An answer's JSON body: `{"error":…,"field":…}` or `{"message_id":…,"reason":…,"status":…}`,
/// members in name order as they have always been sent.
#[derive(Serialize)]
#[serde(untagged)]
enum Body<'a> {
    Error {
        error: Cow<'a, str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        field: Option<&'a str>,
    },
    Status {
        #[serde(skip_serializing_if = "Option::is_none")]
        message_id: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<&'a str>,
        status: &'static str,
    },
}

/// A function's answer to one invocation: an HTTP response, or an SQS batch's failures.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Answer {
    Http(HttpResponse),
    Batch(BatchResponse),
}

/// A Lambda proxy response, understood alike by HTTP APIs, REST APIs and function URLs.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpResponse {
    pub status_code: u16,
    pub headers: Headers,
    pub body: String,
    pub is_base64_encoded: bool,
    /// Payload 2.0 answers carry `cookies` (cargo lambda's function URL server requires the
    /// field); REST API answers don't.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cookies: Option<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Headers {
    #[serde(rename = "content-type")]
    pub content_type: &'static str,
}

impl HttpResponse {
    /// An answer whose body is `body`, JSON text.
    pub fn json(status_code: u16, body: String, version: PayloadVersion) -> Self {
        HttpResponse {
            status_code,
            headers: Headers {
                content_type: "application/json",
            },
            body,
            is_base64_encoded: false,
            cookies: (version == PayloadVersion::V2).then(Vec::new),
        }
    }
}

/// Lambda's partial batch response (`ReportBatchItemFailures`), for the spool queue's SQS
/// batches (the drain) and the table's stream batches (the media function) alike: the records
/// to receive again, by SQS message id or stream sequence number. Everything not listed is
/// done.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchResponse {
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<ItemFailure>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

impl BatchResponse {
    /// Lists `identifiers` as failures.
    pub fn failing(identifiers: impl IntoIterator<Item = String>) -> Self {
        BatchResponse {
            batch_item_failures: identifiers
                .into_iter()
                .map(|item_identifier| ItemFailure { item_identifier })
                .collect(),
        }
    }

    /// Every record of the batch is received again: Lambda treats a failure whose identifier is
    /// empty as the whole batch failing. For an event whose records cannot be named, or a
    /// failed record without a message id.
    pub fn whole_batch() -> Self {
        BatchResponse::failing([String::new()])
    }

    /// The identifiers listed.
    pub fn failed_ids(&self) -> Vec<&str> {
        self.batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answer_bodies_are_the_same_text_as_ever() {
        let text = |outcome: Outcome| outcome.into_response(PayloadVersion::V2).body;
        assert_eq!(
            text(Outcome::Stored {
                message_id: "m1".into()
            }),
            r#"{"message_id":"m1","status":"stored"}"#
        );
        assert_eq!(
            text(Outcome::Ignored(Reason::NoChange)),
            r#"{"reason":"no_change","status":"ignored"}"#
        );
        assert_eq!(text(Outcome::ConnectionOk), r#"{"status":"ok"}"#);
        assert_eq!(
            text(Outcome::KeptUnenveloped(Invalid::body("kept"))),
            r#"{"status":"ok"}"#
        );
        assert_eq!(
            text(Outcome::Quarantined(Invalid::missing("data.index"))),
            r#"{"error":"required field is missing","field":"data.index"}"#
        );
        assert_eq!(
            text(Outcome::Quarantined(Invalid::body("not \"JSON\""))),
            r#"{"error":"not \"JSON\""}"#
        );
    }

    #[test]
    fn responses_serialize_as_proxy_results() {
        let response = Outcome::Stored {
            message_id: "m1".into(),
        }
        .into_response(PayloadVersion::V2);
        let value = serde_json::to_value(&response).unwrap();
        assert_eq!(value["cookies"], json!([]));
        let v1 = Outcome::ConnectionOk.into_response(PayloadVersion::V1);
        assert!(serde_json::to_value(v1).unwrap().get("cookies").is_none());
        assert_eq!(value["statusCode"], 200);
        assert_eq!(value["headers"]["content-type"], "application/json");
        assert_eq!(value["isBase64Encoded"], false);
        let body: serde_json::Value =
            serde_json::from_str(value["body"].as_str().unwrap()).unwrap();
        assert_eq!(body, json!({"status": "stored", "message_id": "m1"}));
    }

    #[test]
    fn spooled_bodies_are_accepted() {
        let outcome = Outcome::Spooled(StoreError::Timeout(1200));
        assert_eq!(outcome.status_code(), 200);
        assert_eq!(outcome.body(), json!({"status": "accepted"}));
        assert_eq!(outcome.name(), "spooled");
        assert!(outcome.detail().unwrap().contains("1200 ms"));
        let batch = Answer::Batch(BatchResponse::failing(["m".to_string()]));
        assert_eq!(
            serde_json::to_value(batch).unwrap(),
            json!({"batchItemFailures": [{"itemIdentifier": "m"}]})
        );
    }

    #[test]
    fn foreign_accounts_are_forbidden() {
        let outcome = Outcome::Forbidden {
            account: Some("9999".into()),
        };
        assert_eq!(
            (outcome.status_code(), outcome.name()),
            (403, OutcomeName::Forbidden)
        );
        assert!(outcome.body()["error"].as_str().unwrap().contains("9999"));
        assert_eq!(outcome.refused_account(), Some("9999"));
        let none = Outcome::Forbidden { account: None };
        assert!(none.body()["error"]
            .as_str()
            .unwrap()
            .contains("names no account"));
        assert!(!none.quarantined());
    }

    #[test]
    fn invalid_names_its_field() {
        let outcome = Outcome::Quarantined(Invalid::missing("data.index"));
        assert_eq!(outcome.status_code(), 400);
        assert_eq!(outcome.body()["field"], "data.index");
        assert_eq!(outcome.name(), "invalid");
    }

    #[test]
    fn the_batch_response_is_lambdas_partial_failure_shape() {
        let response = BatchResponse::failing(["a".to_string(), "b".to_string()]);
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "b"}]})
        );
        assert_eq!(
            serde_json::to_value(BatchResponse::default()).unwrap(),
            serde_json::json!({"batchItemFailures": []})
        );
        assert_eq!(BatchResponse::whole_batch().failed_ids(), [""]);
    }
}
