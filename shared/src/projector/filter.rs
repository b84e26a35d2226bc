//! The projector's event source mapping filter: which stream records wake it.
//!
//! One pattern, defined here and nowhere else: `template.yaml` carries it (its test compares
//! the two through `ingest-dev projector-filter`), and the local stream follower applies it
//! with the media filter's `matches` before invoking the function, as Lambda would.
//!
//! It admits every record of a message item (`sk` begins with `MSG#`) by its keys, which every
//! record has: a REMOVE has no new image, and the removal of a conversation's last message
//! (erased, or expired) changes its summary. The summary items' own records (`SUMMARY`), the
//! id items and the quarantine stay out, so the projector's writes never wake it.

use serde_json::{json, Value};

/// The `FilterCriteria` pattern (as JSON).
pub fn pattern() -> Value {
    json!({
        "dynamodb": {
            "Keys": {
                "sk": {"S": [{"prefix": "MSG#"}]}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::filter::matches;

    fn record(name: &str, sk: &str, new_image: bool) -> Value {
        let keys = json!({"pk": {"S": "partoo#1"}, "sk": {"S": sk}});
        let mut dynamodb = json!({"Keys": keys, "SequenceNumber": "1"});
        if new_image {
            dynamodb["NewImage"] = keys.clone();
        }
        json!({"eventName": name, "dynamodb": dynamodb})
    }

    #[test]
    fn message_records_of_every_kind_and_nothing_else() {
        let p = pattern();
        for name in ["INSERT", "MODIFY"] {
            assert!(matches(&p, &record(name, "MSG#2024#1", true)), "{name}");
        }
        assert!(
            matches(&p, &record("REMOVE", "MSG#2024#1", false)),
            "a removal has only its keys"
        );
        for sk in ["SUMMARY", "ID#1", "QUARANTINE#x"] {
            assert!(!matches(&p, &record("MODIFY", sk, true)), "{sk}");
        }
    }
}
