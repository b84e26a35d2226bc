//! The event source mapping's filter: which stream records wake the media function.
//!
//! One pattern, defined here and nowhere else: `template.yaml` carries it (its test compares
//! the two through `ingest-dev media-filter`), and the local stream follower applies it with
//! [`matches`] before invoking the function, as Lambda would.
//!
//! It admits new images of message items (`sk` begins with `MSG#`). Whether an item has an
//! attachment to copy is decided by the function, not by the filter: how Lambda's patterns
//! match inside a list of maps (`attachments` is one) is not documented, and a filter that
//! never matched would copy nothing, silently. A record without an attachment to copy costs one
//! short invocation (nothing is read or written), and so does the record of the function's own
//! update.

use serde_json::{json, Value};

/// The `FilterCriteria` pattern (as JSON).
pub fn pattern() -> Value {
    json!({
        "dynamodb": {
            "NewImage": {
                "sk": {"S": [{"prefix": "MSG#"}]}
            }
        }
    })
}

/// Whether `record` (a stream record as Lambda delivers it) matches `pattern`, for the subset
/// of Lambda's filter rules used here: nested objects, arrays in the record matched element by
/// element, and leaf rules that are literal values, `{"prefix": …}` or `{"exists": …}`.
pub fn matches(pattern: &Value, record: &Value) -> bool {
    match pattern {
        Value::Object(fields) => fields.iter().all(|(name, rule)| {
            let values = field_values(record, name);
            match rule {
                Value::Array(leaf_rules) => leaf_matches(leaf_rules, &values),
                Value::Object(_) => values.iter().any(|v| matches(rule, v)),
                _ => false,
            }
        }),
        _ => false,
    }
}

/// The values of `name` in `value`, looking into each element when `value` is an array.
fn field_values<'a>(value: &'a Value, name: &str) -> Vec<&'a Value> {
    match value {
        Value::Object(map) => map.get(name).into_iter().collect(),
        Value::Array(items) => items.iter().flat_map(|i| field_values(i, name)).collect(),
        _ => Vec::new(),
    }
}

fn leaf_matches(rules: &[Value], values: &[&Value]) -> bool {
    let leaves: Vec<&Value> = values
        .iter()
        .flat_map(|v| match v {
            Value::Array(items) => items.iter().collect(),
            other => vec![*other],
        })
        .filter(|v| !v.is_object())
        .collect();
    rules.iter().any(|rule| match rule {
        Value::Object(op) => {
            if let Some(exists) = op.get("exists").and_then(Value::as_bool) {
                exists != leaves.is_empty()
            } else if let Some(prefix) = op.get("prefix").and_then(Value::as_str) {
                leaves
                    .iter()
                    .any(|v| v.as_str().is_some_and(|s| s.starts_with(prefix)))
            } else {
                false
            }
        }
        literal => leaves.contains(&literal),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(sk: &str, attachments: Value) -> Value {
        let mut image = json!({"pk": {"S": "callbell#c"}, "sk": {"S": sk}});
        if !attachments.is_null() {
            image["attachments"] = attachments;
        }
        json!({"eventName": "INSERT", "dynamodb": {"NewImage": image}})
    }

    fn attachment(url: &str, stored: bool) -> Value {
        let mut m = json!({"kind": {"S": "image"}, "url": {"S": url}});
        if stored {
            m["stored"] = json!({"M": {"error": {"S": "gone"}}});
        }
        json!({"M": m})
    }

    #[test]
    fn admits_message_items() {
        let p = pattern();
        let one = json!({"L": [attachment("https://h/a.jpg", false)]});
        assert!(matches(&p, &record("MSG#1", one.clone())));
        let two = json!({"L": [attachment("https://h/a.jpg", true), attachment("https://h/b.jpg", false)]});
        assert!(matches(&p, &record("MSG#1", two)));
        // Its own updates match too: the function finds nothing to do then.
        let done = json!({"L": [attachment("https://h/a.jpg", true)]});
        assert!(matches(&p, &record("MSG#1", done)));
        // And items without attachments: the function finds nothing to do in them.
        assert!(matches(&p, &record("MSG#1", Value::Null)));
        assert!(matches(&p, &record("MSG#1", json!({"L": []}))));
    }

    #[test]
    fn leaves_out_other_items_and_records() {
        let p = pattern();
        let one = json!({"L": [attachment("https://h/a.jpg", false)]});
        assert!(!matches(&p, &record("ID#1", one.clone())));
        let remove = json!({"eventName": "REMOVE", "dynamodb": {"Keys": {"sk": {"S": "MSG#1"}}}});
        assert!(!matches(&p, &remove));
        assert!(!matches(&p, &json!({"QUARANTINE": 1})));
    }

    #[test]
    fn the_matcher_reads_lists_of_maps_element_by_element() {
        let p = json!({"dynamodb": {"NewImage": {"attachments": {"L": {"M": {"url": {"S": [{"exists": true}]}}}}}}});
        assert!(matches(
            &p,
            &record(
                "MSG#1",
                json!({"L": [attachment("https://h/a.jpg", false)]})
            )
        ));
        assert!(!matches(&p, &record("MSG#1", json!({"L": []}))));
    }

    #[test]
    fn literal_and_exists_false_rules() {
        let p = json!({"a": ["x", "y"], "b": [{"exists": false}]});
        assert!(matches(&p, &json!({"a": "y"})));
        assert!(matches(&p, &json!({"a": ["z", "x"]})));
        assert!(!matches(&p, &json!({"a": "z"})));
        assert!(!matches(&p, &json!({"a": "x", "b": 1})));
    }
}
