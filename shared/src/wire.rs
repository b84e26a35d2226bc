//! Reading provider JSON the way providers actually send it: ids that are sometimes strings and
//! sometimes integers, numbers inside strings, and optional fields of surprising types.
//!
//! Every field a provider module reads is a [`Value`] (any JSON value, an object or array only
//! noted as one) or an [`Object`] (an object read as a struct, anything else as absent), so a
//! surprising optional field never costs a message. Required fields are then checked in code
//! with their JSON path, which becomes the `field` of a 400 answer.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::Invalid;

/// A field's JSON value as a provider sent it. Strings, numbers, booleans and null are kept;
/// an object or array is only noted as one, its contents skipped.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value<'a> {
    Str(Cow<'a, str>),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Bool(bool),
    Null,
    /// An object or an array.
    ObjectOrArray,
}

impl<'a> Value<'a> {
    /// A string or an integer, as a non-empty string: the shape of every provider id.
    pub fn id(&self) -> Option<String> {
        match self {
            Value::Str(s) if !s.trim().is_empty() => Some(s.to_string()),
            Value::Unsigned(n) => Some(n.to_string()),
            Value::Signed(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// A non-empty string.
    pub fn text(&self) -> Option<String> {
        match self {
            Value::Str(s) if !s.trim().is_empty() => Some(s.to_string()),
            _ => None,
        }
    }

    /// A borrowed view of a string value, empty or not.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// A non-negative integer, given as a JSON integer or a string of digits.
    pub fn unsigned(&self) -> Option<u64> {
        match self {
            Value::Unsigned(n) => Some(*n),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// A finite number, given as a JSON number or a numeric string.
    pub fn number(&self) -> Option<f64> {
        let n = match self {
            Value::Unsigned(n) => *n as f64,
            Value::Signed(n) => *n as f64,
            Value::Float(n) => *n,
            Value::Str(s) => s.trim().parse().ok()?,
            _ => return None,
        };
        n.is_finite().then_some(n)
    }

    /// What this value is, for error messages.
    pub fn describe(&self) -> &'static str {
        match self {
            Value::Str(s) if s.trim().is_empty() => "an empty string",
            Value::Str(_) => "a string",
            Value::Unsigned(_) | Value::Signed(_) => "an integer",
            Value::Float(_) => "a fractional number",
            Value::Bool(_) => "a boolean",
            Value::Null => "null",
            Value::ObjectOrArray => "an object or array",
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Value<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Value::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Value::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Value::Str(Cow::Owned(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Value::Unsigned(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(if v >= 0 {
            Value::Unsigned(v as u64)
        } else {
            Value::Signed(v)
        })
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Value::ObjectOrArray)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Value::ObjectOrArray)
    }
}

/// A field that should hold an object but may arrive as anything: an object is read as `T`
/// (streaming, no buffering); any other value becomes `Object(None)` instead of failing the
/// payload. Wrap it in `Option` to tell "absent or null" from "not an object".
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Object<T>(pub Option<T>);

impl<T> Default for Object<T> {
    fn default() -> Self {
        Object(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = Object<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(|t| Object(Some(t)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Object(None))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Object(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Object(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Object(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Object(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Object(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Object(None))
            }
        }
        deserializer.deserialize_any(ObjectVisitor(std::marker::PhantomData))
    }
}

impl<T> Object<T> {
    pub fn get(&self) -> Option<&T> {
        self.0.as_ref()
    }
}

/// A field that should hold an array but may arrive as anything: an array yields its elements;
/// any other value yields none.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct List<T>(pub Vec<T>);

impl<T> Default for List<T> {
    fn default() -> Self {
        List(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for ListVisitor<T> {
            type Value = List<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(List(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(List(Vec::new()))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(List(Vec::new()))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(List(Vec::new()))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(List(Vec::new()))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(List(Vec::new()))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(List(Vec::new()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(List(Vec::new()))
            }
        }
        deserializer.deserialize_any(ListVisitor(std::marker::PhantomData))
    }
}

/// The object in an optional field, if it is one.
pub(crate) fn object<T>(field: &Option<Object<T>>) -> Option<&T> {
    field.as_ref().and_then(Object::get)
}

/// A required object: present and an object, or an [`Invalid`] naming it.
pub(crate) fn required_object<'f, T>(
    field: &'f Option<Object<T>>,
    path: &str,
) -> Result<&'f T, Invalid> {
    match field {
        None => Err(Invalid::missing(path)),
        Some(Object(None)) => Err(Invalid::field(path, "expected an object")),
        Some(Object(Some(t))) => Ok(t),
    }
}

/// Reads a required field: present and of an accepted shape, or an [`Invalid`] naming it.
pub(crate) fn required<'v, 'a: 'v, T>(
    value: Option<&'v Value<'a>>,
    field: &str,
    read: impl Fn(&'v Value<'a>) -> Option<T>,
    expected: &str,
) -> Result<T, Invalid> {
    match value {
        None | Some(Value::Null) => Err(Invalid::missing(field)),
        Some(v) => read(v).ok_or_else(|| {
            Invalid::field(field, format!("expected {expected}, got {}", v.describe()))
        }),
    }
}

/// Parses a whole body into `T`. Payload types are built from [`Value`] and [`Object`], which
/// accept any value, so what is left to fail is a body that is not JSON at all, or one that is
/// ambiguous: an object that repeats a key, anywhere in the document (which of the two would
/// the provider mean?), is refused rather than guessed at.
///
/// JSON is UTF-8 (RFC 8259), but serde_json checks only the strings it reads, so the whole body
/// is checked first: a body with invalid bytes anywhere is refused whatever event it claims to
/// be. Parsing the checked text then skips serde_json's own per-string check.
pub(crate) fn parse_body<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, Invalid> {
    let text = std::str::from_utf8(body)
        .map_err(|_| Invalid::body("body is not valid UTF-8, so not JSON"))?;
    check_unique_keys(text)?;
    serde_json::from_str(text).map_err(|e| Invalid::body(format!("body is not valid JSON: {e}")))
}

/// Parses a body that must be one JSON object into `T`. An array, string, number or null is
/// not read positionally into `T` (as serde would read an array into a struct): it is invalid.
pub(crate) fn parse_object<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, Invalid> {
    match parse_body::<Object<T>>(body)? {
        Object(Some(t)) => Ok(t),
        Object(None) => Err(Invalid::body("expected a JSON object")),
    }
}

/// Fails if an object in `text` has a key twice: which of the two would the provider mean?
pub fn check_unique_keys(text: &str) -> Result<(), Invalid> {
    match repeated_key(text) {
        Some(key) => Err(Invalid::body(format!(
            "the key {key:?} appears twice in one object: ambiguous JSON is not guessed at"
        ))),
        None => Ok(()),
    }
}

/// The first key that an object of `text` repeats, compared after unescaping (`"a"` and
/// `"\u0061"` are one key). One linear pass with an explicit stack (any depth), skipping
/// string contents with memchr. Meant for JSON: on text that is not, it finds what it finds,
/// and the parse that follows refuses the text anyway.
pub(crate) fn repeated_key(text: &str) -> Option<Cow<'_, str>> {
    let bytes = text.as_bytes();
    // Each open container: whether it is an object, and where its keys start in `keys`.
    let mut open: Vec<(bool, usize)> = Vec::new();
    let mut keys: Vec<Cow<str>> = Vec::new();
    let mut expect_key = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => {
                open.push((true, keys.len()));
                expect_key = true;
            }
            b'[' => {
                open.push((false, keys.len()));
                expect_key = false;
            }
            b'}' | b']' => {
                if let Some((_, start)) = open.pop() {
                    keys.truncate(start);
                }
                expect_key = false;
            }
            b',' => expect_key = matches!(open.last(), Some((true, _))),
            b'"' => {
                let start = i + 1;
                let (end, escaped) = string_end(bytes, start);
                if expect_key {
                    let key = if escaped {
                        // The quoted key, unescaped by the JSON reader (rare: keys are ASCII).
                        Cow::Owned(serde_json::from_str(text.get(i..=end)?).ok()?)
                    } else {
                        Cow::Borrowed(text.get(start..end)?)
                    };
                    let this_object = open.last().map_or(0, |(_, start)| *start);
                    if keys[this_object..].contains(&key) {
                        return Some(key);
                    }
                    keys.push(key);
                    expect_key = false;
                }
                i = end;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Where the string starting at `start` (just after its opening quote) ends (its closing
/// quote, or the end of the text), and whether it has escapes.
fn string_end(bytes: &[u8], start: usize) -> (usize, bool) {
    let mut at = start;
    let mut escaped = false;
    while let Some(offset) = memchr::memchr2(b'"', b'\\', &bytes[at.min(bytes.len())..]) {
        let found = at + offset;
        if bytes[found] == b'"' {
            return (found, escaped);
        }
        escaped = true;
        at = found + 2;
    }
    (bytes.len(), escaped)
}

/// The obvious way to find a repeated key — serde walking every object, keys collected —
/// kept as the oracle the fast scan is checked against (tests and fuzzing).
#[cfg(any(test, feature = "testkit"))]
pub(crate) mod oracle {
    use super::*;

    /// Whether an object of `text` (valid JSON) repeats a key, by serde; `None` when serde
    /// cannot walk it (nested beyond its recursion limit).
    pub fn has_repeated_key(text: &str) -> Option<bool> {
        match serde_json::from_str::<UniqueKeys>(text) {
            Ok(UniqueKeys) => Some(false),
            Err(e) if e.is_data() => Some(true),
            Err(_) => None,
        }
    }

    struct UniqueKeys;

    impl<'de> Deserialize<'de> for UniqueKeys {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_any(UniqueKeysVisitor)
        }
    }

    struct UniqueKeysVisitor;

    impl<'de> Visitor<'de> for UniqueKeysVisitor {
        type Value = UniqueKeys;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<UniqueKeys, E> {
            Ok(UniqueKeys)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<UniqueKeys, E> {
            Ok(UniqueKeys)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<UniqueKeys, E> {
            Ok(UniqueKeys)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<UniqueKeys, E> {
            Ok(UniqueKeys)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<UniqueKeys, E> {
            Ok(UniqueKeys)
        }
        fn visit_unit<E: de::Error>(self) -> Result<UniqueKeys, E> {
            Ok(UniqueKeys)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueKeys, A::Error> {
            while seq.next_element::<UniqueKeys>()?.is_some() {}
            Ok(UniqueKeys)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
            let mut keys: Vec<String> = Vec::new();
            while let Some(key) = map.next_key::<String>()? {
                if keys.contains(&key) {
                    return Err(de::Error::custom("repeated key"));
                }
                map.next_value::<UniqueKeys>()?;
                keys.push(key);
            }
            Ok(UniqueKeys)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Probe<'a> {
        #[serde(borrow)]
        v: Option<Value<'a>>,
    }

    fn probe(json: &str) -> Option<Value<'_>> {
        serde_json::from_str::<Probe>(json).unwrap().v
    }

    #[test]
    fn ids_accept_strings_and_integers_only() {
        assert_eq!(
            probe(r#"{"v":"123"}"#).unwrap().id().as_deref(),
            Some("123")
        );
        assert_eq!(probe(r#"{"v":123}"#).unwrap().id().as_deref(), Some("123"));
        assert_eq!(probe(r#"{"v":""}"#).unwrap().id(), None);
        assert_eq!(probe(r#"{"v":1.5}"#).unwrap().id(), None);
        assert_eq!(probe(r#"{"v":{"a":[1,2]}}"#).unwrap(), Value::ObjectOrArray);
        assert_eq!(probe(r#"{"v":null}"#), None);
    }

    #[test]
    fn numbers_inside_strings_are_numbers() {
        assert_eq!(probe(r#"{"v":"290"}"#).unwrap().unsigned(), Some(290));
        assert_eq!(probe(r#"{"v":"20.504"}"#).unwrap().number(), Some(20.504));
        assert_eq!(probe(r#"{"v":"x"}"#).unwrap().number(), None);
    }

    #[test]
    fn strings_without_escapes_are_borrowed() {
        assert!(matches!(
            probe(r#"{"v":"abc"}"#),
            Some(Value::Str(Cow::Borrowed("abc")))
        ));
        assert!(matches!(
            probe(r#"{"v":"a\"c"}"#),
            Some(Value::Str(Cow::Owned(_)))
        ));
    }

    #[test]
    fn objects_of_the_wrong_shape_are_none_not_errors() {
        #[derive(Deserialize, Debug)]
        struct Outer<'a> {
            #[serde(borrow)]
            data: Option<Object<Inner<'a>>>,
        }
        #[derive(Deserialize, Debug)]
        struct Inner<'a> {
            #[serde(borrow)]
            x: Option<Value<'a>>,
        }
        for (json, expect_object) in [
            (r#"{"data":"nope"}"#, false),
            (r#"{"data":[1,{"x":2}]}"#, false),
            (r#"{"data":{"x":[1]}}"#, true),
        ] {
            let outer: Outer = parse_body(json.as_bytes()).unwrap();
            assert_eq!(object(&outer.data).is_some(), expect_object, "{json}");
            assert!(outer.data.is_some());
        }
        let outer: Outer = parse_body(br#"{"data":null}"#).unwrap();
        assert!(outer.data.is_none());
        let outer: Outer = parse_body(br#"{"data":{"x":"s"}}"#).unwrap();
        assert_eq!(
            object(&outer.data).unwrap().x.as_ref().unwrap().as_str(),
            Some("s")
        );
        let err = required_object(
            &Outer {
                data: Some(Object(None)),
            }
            .data,
            "data",
        )
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("data"));
    }

    #[test]
    fn a_repeated_key_anywhere_fails_a_body() {
        for body in [
            r#"{"a":1,"a":1}"#,
            r#"{"a":1,"b":{"c":[{"d":1,"d":2}]}}"#,
            r#"[{"x":{"k":1,"\u006b":2}}]"#,
        ] {
            let err = parse_body::<IgnoredAny>(body.as_bytes()).unwrap_err();
            assert!(
                err.reason.contains("appears twice"),
                "{body}: {}",
                err.reason
            );
            assert_eq!(err.field, None);
        }
        for body in [
            r#"{"a":1,"b":{"a":1},"c":[{"a":1},{"a":2}]}"#,
            "[]",
            "1",
            r#""a""#,
        ] {
            assert!(parse_body::<IgnoredAny>(body.as_bytes()).is_ok(), "{body}");
        }
        // Any depth, far beyond serde_json's recursion limit.
        let deep = format!("{{\"x\":{}1{}}}", "[".repeat(5000), "]".repeat(5000));
        assert!(check_unique_keys(&deep).is_ok());
        let deep_objects = format!("{}1{}", "{\"a\":".repeat(3000), "}".repeat(3000));
        assert!(check_unique_keys(&deep_objects).is_ok());
        let deep_twice = format!(
            "{}{{\"b\":1,\"b\":2}}{}",
            "[".repeat(3000),
            "]".repeat(3000)
        );
        assert!(check_unique_keys(&deep_twice).is_err());
    }

    #[test]
    fn the_scan_agrees_with_serde() {
        let cases = [
            r#"{"a":1,"b":2}"#,
            r#"{"a":1,"a":2}"#,
            r#"{"a":"x\"y","a":2}"#,
            r#"{"a\"b":1,"a\u0022b":2}"#,
            r#"{"k":"{\"k\":1,\"k\":2}"}"#,
            r#"{"a":{"a":{"a":1}},"b":[{"a":1,"b":[1,{"c":2}]},{"a":1}]}"#,
            r#"{"a":[],"b":{},"a":null}"#,
            r#"[{"x":1},{"x":1},[{"y":1,"y":2}]]"#,
            r#"{"a":"\\","b":"\\\"","b":1}"#,
            r#"{ "a" : 1 , "c" : { } , "a" : 2 }"#,
            r#"{"é":1,"\u00e9":2}"#,
            r#"{"a,b":1,"a":2,"b":3}"#,
            r#""{\"a\":1,\"a\":2}""#,
            "[]",
            "{}",
            "12",
        ];
        for text in cases {
            let expected = oracle::has_repeated_key(text).expect("walkable");
            assert_eq!(repeated_key(text).is_some(), expected, "{text}");
        }
    }

    #[test]
    fn only_syntax_errors_fail_a_body() {
        for bad in [&b"{\"data\":"[..], b"{} trailing", b""] {
            let err = parse_body::<serde_json::Value>(bad).unwrap_err();
            assert_eq!(err.field, None);
            assert!(err.reason.contains("not valid JSON"), "{}", err.reason);
        }
        // Invalid UTF-8 anywhere, even inside a string nothing reads.
        for bad in [&b"\xff"[..], b"{\"ignored\":\"\xc3\x28\"}"] {
            let err = parse_body::<IgnoredAny>(bad).unwrap_err();
            assert_eq!(err.reason, "body is not valid UTF-8, so not JSON");
        }
    }
}
