//! Items as DynamoDB's own JSON (`{"S": "…"}`, `{"M": {…}}`, binaries in base64): how fixtures
//! keep items exactly, types included, and how tests write them to the table as they are.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use serde_json::{json, Map, Value};

use super::Item;

/// A value in DynamoDB JSON.
pub fn to_json(value: &AttributeValue) -> Value {
    let b64 = |b: &Blob| base64::engine::general_purpose::STANDARD.encode(b.as_ref());
    match value {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::B(b) => json!({ "B": b64(b) }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(n) => json!({ "NULL": n }),
        AttributeValue::M(m) => json!({ "M": item_to_json(m) }),
        AttributeValue::L(l) => json!({ "L": l.iter().map(to_json).collect::<Vec<_>>() }),
        AttributeValue::Ss(s) => json!({ "SS": s }),
        AttributeValue::Ns(n) => json!({ "NS": n }),
        AttributeValue::Bs(b) => json!({ "BS": b.iter().map(b64).collect::<Vec<_>>() }),
        other => panic!("no DynamoDB JSON for {other:?}"),
    }
}

/// An item in DynamoDB JSON, its attributes in name order (so that fixtures diff well).
pub fn item_to_json(item: &Item) -> Value {
    let mut names: Vec<&String> = item.keys().collect();
    names.sort();
    Value::Object(
        names
            .into_iter()
            .map(|name| (name.clone(), to_json(&item[name])))
            .collect::<Map<String, Value>>(),
    )
}

/// A value from DynamoDB JSON; panics on anything else (fixtures are ours).
pub fn from_json(value: &Value) -> AttributeValue {
    let (kind, inner) = value
        .as_object()
        .and_then(|m| m.iter().next())
        .unwrap_or_else(|| panic!("not DynamoDB JSON: {value}"));
    let text = || inner.as_str().expect("a string").to_string();
    let blob = |v: &Value| {
        Blob::new(
            base64::engine::general_purpose::STANDARD
                .decode(v.as_str().expect("base64"))
                .expect("base64"),
        )
    };
    let strings = || {
        inner
            .as_array()
            .expect("a list")
            .iter()
            .map(|v| v.as_str().expect("a string").to_string())
            .collect()
    };
    match kind.as_str() {
        "S" => AttributeValue::S(text()),
        "N" => AttributeValue::N(text()),
        "B" => AttributeValue::B(blob(inner)),
        "BOOL" => AttributeValue::Bool(inner.as_bool().expect("a boolean")),
        "NULL" => AttributeValue::Null(true),
        "M" => AttributeValue::M(item_from_json(inner)),
        "L" => AttributeValue::L(
            inner
                .as_array()
                .expect("a list")
                .iter()
                .map(from_json)
                .collect(),
        ),
        "SS" => AttributeValue::Ss(strings()),
        "NS" => AttributeValue::Ns(strings()),
        "BS" => AttributeValue::Bs(inner.as_array().expect("a list").iter().map(blob).collect()),
        other => panic!("unknown DynamoDB type {other}"),
    }
}

/// An item from DynamoDB JSON.
pub fn item_from_json(value: &Value) -> Item {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an item: {value}"))
        .iter()
        .map(|(name, v)| (name.clone(), from_json(v)))
        .collect()
}

#[test]
fn dynamodb_json_round_trips() {
    let item: Item = [
        ("s", AttributeValue::S("é".into())),
        ("n", AttributeValue::N("1.5".into())),
        ("b", AttributeValue::B(Blob::new(vec![0, 159, 255]))),
        ("t", AttributeValue::Bool(true)),
        ("z", AttributeValue::Null(true)),
        (
            "m",
            AttributeValue::M([("l".to_string(), AttributeValue::L(vec![]))].into()),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let json = item_to_json(&item);
    assert_eq!(json["b"], json!({"B": "AJ//"}));
    assert_eq!(item_from_json(&json), item);
}
