//! The SQS events a function receives from its spool queue's event source mapping, read
//! totally (any JSON yields records or a reason), and the partial batch response it answers.
//!
//! A record the drain cannot use — no body, an unknown or missing `provider`, a `received_at`
//! that is not a time, a base64 body that does not decode — is not an error here: it becomes a
//! [`Malformed`] record, which the drain quarantines with the reason.
//!
//! A [`Spooled`] body is one that passed its provider's check when the webhook received it: the
//! drain stores it without verifying it again. So only this crate makes one — reading a spool
//! queue's record here, or a quarantine item in [`crate::replay`] — and nothing outside it can
//! hand the drain a body to store.

use serde_json::Value;

use super::{
    SqsBody, ACCOUNT_ATTRIBUTE, BODY_ENCODING_ATTRIBUTE, PROVIDER_ATTRIBUTE, RECEIVED_AT_ATTRIBUTE,
};
use crate::providers::ProviderId;

/// One SQS record of an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    /// SQS's message id: how the batch response names a failure.
    pub(crate) message_id: Option<String>,
    /// `attributes.ApproximateReceiveCount`: this receive's number, from 1.
    pub(crate) receive_count: Option<u32>,
    pub(crate) content: Result<Spooled, Malformed>,
}

/// A spooled webhook body, as the function that spooled it received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Spooled {
    /// The `provider` attribute.
    pub(crate) provider: ProviderId,
    /// The `received_at` attribute.
    pub(crate) received_at: String,
    /// The webhook body's exact bytes (decoded from base64 when it travelled so).
    pub(crate) body: Vec<u8>,
    /// The `account_id` attribute: the named account that verified it, if one did.
    pub(crate) account: Option<String>,
}

impl Spooled {
    /// The provider whose function spooled it.
    pub(crate) fn provider(&self) -> ProviderId {
        self.provider
    }

    /// When the webhook received it (RFC 3339, ms).
    pub(crate) fn received_at(&self) -> &str {
        &self.received_at
    }

    /// The webhook body's exact bytes.
    pub(crate) fn body(&self) -> &[u8] {
        &self.body
    }

    /// The named account whose secret verified it, if one did.
    pub(crate) fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }
}

/// A record that does not carry a spooled body as the contract says, with what is known of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Malformed {
    pub(crate) provider: Option<String>,
    pub(crate) received_at: Option<String>,
    /// The record's body text as it came (empty when it had none; the decoded body when only
    /// its provider is unknown).
    pub(crate) raw: Vec<u8>,
    pub(crate) error: String,
}

/// Reads an event's records. `Err` when it is not a `{"Records": [...]}` object at all, so
/// that no record in it can be named.
pub(crate) fn read_event(event: &[u8]) -> Result<Vec<Record>, String> {
    let value: Value =
        serde_json::from_slice(event).map_err(|e| format!("event is not JSON: {e}"))?;
    let records = value
        .get("Records")
        .and_then(Value::as_array)
        .ok_or("event has no Records list")?;
    Ok(records.iter().map(read_record).collect())
}

/// Reads one record of an event (also used for messages received from a queue directly).
pub(crate) fn read_record(record: &Value) -> Record {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let message_id = text(record.get("messageId")).filter(|id| !id.is_empty());
    let receive_count = record
        .get("attributes")
        .and_then(|a| a.get("ApproximateReceiveCount"))
        .and_then(|n| match n {
            Value::String(s) => s.trim().parse().ok(),
            Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            _ => None,
        });
    let attribute = |name: &str| {
        record
            .get("messageAttributes")
            .and_then(|a| a.get(name))
            .and_then(|a| a.get("stringValue"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let provider = attribute(PROVIDER_ATTRIBUTE);
    let received_at = attribute(RECEIVED_AT_ATTRIBUTE);
    let body = text(record.get("body"));
    let malformed = |error: String| Malformed {
        provider: provider.clone(),
        received_at: received_at.clone(),
        raw: body.clone().unwrap_or_default().into_bytes(),
        error,
    };
    let content = (|| {
        let source = record.get("eventSource").and_then(Value::as_str);
        if source != Some("aws:sqs") {
            return Err(malformed(format!(
                "not an SQS record (eventSource {})",
                source.map_or("missing".to_string(), |s| format!("{s:?}"))
            )));
        }
        let Some(body) = &body else {
            return Err(malformed("the record has no body".into()));
        };
        let Some(provider) = &provider else {
            return Err(malformed(format!(
                "message attribute {PROVIDER_ATTRIBUTE} is missing"
            )));
        };
        let received_at = match &received_at {
            None => {
                return Err(malformed(format!(
                    "message attribute {RECEIVED_AT_ATTRIBUTE} is missing"
                )))
            }
            Some(at) if chrono::DateTime::parse_from_rfc3339(at).is_err() => {
                return Err(malformed(format!(
                    "message attribute {RECEIVED_AT_ATTRIBUTE} is not an RFC 3339 time: {at:?}"
                )))
            }
            Some(at) => at.clone(),
        };
        let body = SqsBody::decode(body, attribute(BODY_ENCODING_ATTRIBUTE).as_deref())
            .map_err(malformed)?;
        let Some(provider) = ProviderId::named(provider) else {
            // What can be read of it is kept as it was received: the decoded body.
            return Err(Malformed {
                raw: body,
                ..malformed(format!("spooled for unknown provider {provider:?}"))
            });
        };
        Ok(Spooled {
            provider,
            received_at,
            body,
            account: attribute(ACCOUNT_ATTRIBUTE),
        })
    })();
    Record {
        message_id,
        receive_count,
        content,
    }
}

/// A record as SQS's event source mapping delivers it (feature `testkit`, for tests).
#[cfg(any(test, feature = "testkit"))]
pub fn sqs_record(
    message_id: &str,
    body: &str,
    receive_count: u32,
    attributes: &[(&str, &str)],
) -> Value {
    let attributes: serde_json::Map<String, Value> = attributes
        .iter()
        .map(|(name, value)| {
            (
                name.to_string(),
                serde_json::json!({"stringValue": value, "stringListValues": [],
                    "binaryListValues": [], "dataType": "String"}),
            )
        })
        .collect();
    serde_json::json!({
        "messageId": message_id,
        "receiptHandle": format!("handle-{message_id}"),
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": receive_count.to_string(),
            "SentTimestamp": "1767225600000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1767225600000"
        },
        "messageAttributes": attributes,
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:spool",
        "awsRegion": "us-east-1"
    })
}

/// An SQS event of `records` (feature `testkit`, for tests).
#[cfg(any(test, feature = "testkit"))]
pub fn sqs_event(records: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "Records": records })).expect("an event serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: &str = "2026-01-01T00:00:00.000Z";

    fn one(record: Value) -> Record {
        let mut records = read_event(&sqs_event(vec![record])).unwrap();
        assert_eq!(records.len(), 1);
        records.remove(0)
    }

    #[test]
    fn reads_a_spooled_body_and_its_attributes() {
        let record = one(sqs_record(
            "m1",
            "{\"a\":1}",
            3,
            &[("provider", "partoo"), ("received_at", AT)],
        ));
        assert_eq!(record.message_id.as_deref(), Some("m1"));
        assert_eq!(record.receive_count, Some(3));
        assert_eq!(
            record.content,
            Ok(Spooled {
                provider: ProviderId::Partoo,
                received_at: AT.into(),
                body: b"{\"a\":1}".to_vec(),
                account: None,
            })
        );
        let named = one(sqs_record(
            "m3",
            "{}",
            1,
            &[
                ("provider", "callbell"),
                ("received_at", AT),
                ("account_id", "brand-a"),
            ],
        ));
        assert_eq!(named.content.unwrap().account.as_deref(), Some("brand-a"));
        let base64 = one(sqs_record(
            "m2",
            "/wABAg==",
            1,
            &[
                ("provider", "partoo"),
                ("received_at", AT),
                ("body_encoding", "base64"),
            ],
        ));
        assert_eq!(base64.content.unwrap().body, [0xff, 0, 1, 2]);
    }

    #[test]
    fn malformed_records_say_what_is_wrong_and_keep_what_is_known() {
        let cases: [(Value, &str); 6] = [
            (
                sqs_record("m", "{}", 1, &[("received_at", AT)]),
                "provider is missing",
            ),
            (
                sqs_record("m", "{}", 1, &[("provider", "partoo")]),
                "received_at is missing",
            ),
            (
                sqs_record(
                    "m",
                    "{}",
                    1,
                    &[("provider", "partoo"), ("received_at", "yesterday")],
                ),
                "not an RFC 3339 time",
            ),
            (
                sqs_record(
                    "m",
                    "%%%",
                    1,
                    &[
                        ("provider", "partoo"),
                        ("received_at", AT),
                        ("body_encoding", "base64"),
                    ],
                ),
                "not base64",
            ),
            (
                sqs_record(
                    "m",
                    "x",
                    1,
                    &[
                        ("provider", "partoo"),
                        ("received_at", AT),
                        ("body_encoding", "rot13"),
                    ],
                ),
                "\"rot13\"",
            ),
            (
                serde_json::json!({"messageId": "m", "eventSource": "aws:s3"}),
                "not an SQS record",
            ),
        ];
        for (record, expected) in cases {
            let read = one(record);
            assert_eq!(read.message_id.as_deref(), Some("m"));
            let malformed = read.content.unwrap_err();
            assert!(malformed.error.contains(expected), "{}", malformed.error);
        }
        let mut no_body = sqs_record("m", "", 1, &[("provider", "partoo"), ("received_at", AT)]);
        no_body.as_object_mut().unwrap().remove("body");
        let malformed = one(no_body).content.unwrap_err();
        assert!(malformed.error.contains("no body"), "{}", malformed.error);
        assert_eq!(malformed.provider.as_deref(), Some("partoo"));
        assert_eq!(malformed.raw, b"");
    }

    #[test]
    fn records_without_an_id_or_a_count_are_still_read() {
        let mut record = sqs_record("", "{}", 1, &[("provider", "partoo"), ("received_at", AT)]);
        record["attributes"] = serde_json::json!({});
        let read = one(record);
        assert_eq!((read.message_id, read.receive_count), (None, None));
        assert!(read.content.is_ok());
    }

    #[test]
    fn events_without_records_cannot_be_read() {
        assert!(read_event(b"not json").is_err());
        assert!(read_event(br#"{"Records": {}}"#).is_err());
        assert!(read_event(br#"[1]"#).is_err());
        assert_eq!(read_event(br#"{"Records": []}"#), Ok(vec![]));
    }
}
