//! The HTTP request inside a Lambda event: API Gateway HTTP API (v2), REST API (v1) proxy, or a
//! function URL. We read the event ourselves rather than through `lambda_http`, whose decoding
//! panics on a body flagged base64 that isn't, and whose typed events reject events missing
//! fields we never use. Reading is total: any JSON yields a [`Request`] or a [`Rejected`].

use std::fmt;
use std::marker::PhantomData;

use base64::Engine;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::error::Rejected;

/// The largest body accepted, after base64 decoding (the contract's 128 KiB).
pub const MAX_BODY_BYTES: usize = 128 * 1024;

/// What the handler needs of an HTTP request: header lookup, query parameters, exact body bytes.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// Lower-cased header names, each with every value it arrived with.
    headers: Vec<(String, String)>,
    query: Vec<(String, String)>,
    body: Vec<u8>,
    /// API Gateway's request id, for logs.
    pub request_id: Option<String>,
    /// The event's payload format, which decides the shape of the answer.
    pub payload_version: PayloadVersion,
    /// The HTTP method (`GET`), upper case: v2's `requestContext.http.method`, v1's
    /// `httpMethod`. The webhooks never look at it; the read API routes by it.
    pub method: Option<String>,
    /// The path, as sent (percent-encoded): v2's `rawPath`, v1's `path`. Below the stage:
    /// API Gateway's `$default` stage adds nothing, and `cargo lambda watch` hands
    /// `http://127.0.0.1:9000/lambda-url/inbox/conversations/callbell/a%2Fb` over as the
    /// function URL event of `rawPath` `/conversations/callbell/a%2Fb` (seen with 1.9.2: the
    /// `/lambda-url/<function>` prefix taken off, the encoding kept).
    pub path: Option<String>,
}

/// Lambda proxy payload formats: 1.0 (REST APIs) and 2.0 (HTTP APIs and function URLs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PayloadVersion {
    V1,
    #[default]
    V2,
}

impl Request {
    /// A request built directly (for tests and tools); names are matched case-insensitively.
    pub fn new(headers: &[(&str, &str)], query: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Self {
        Request {
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
                .collect(),
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.into(),
            request_id: None,
            payload_version: PayloadVersion::V2,
            method: None,
            path: None,
        }
    }

    /// The same request with its method and path (for tests and tools).
    pub fn with_route(mut self, method: &str, path: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self.path = Some(path.to_string());
        self
    }

    /// Every query parameter, name and value, in the order sent.
    pub fn query(&self) -> &[(String, String)] {
        &self.query
    }

    /// The raw body bytes, exactly as the provider sent them.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The value of a header (any case). A header repeated with different values is not one
    /// value, so a signature can't be smuggled in a second copy.
    pub fn header(&self, name: &str) -> Result<Option<&str>, ConflictingHeader> {
        let mut found: Option<&str> = None;
        for (key, value) in &self.headers {
            if key.eq_ignore_ascii_case(name) {
                match found {
                    Some(previous) if previous != value => return Err(ConflictingHeader),
                    _ => found = Some(value),
                }
            }
        }
        Ok(found)
    }

    /// Whether a header is present at all (any case, any value).
    pub fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(name))
    }

    /// Every value of a query parameter, as decoded by API Gateway.
    pub fn query_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.query
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Reads the request out of a raw Lambda event.
    pub fn from_event(event: &[u8]) -> Result<Request, Rejected> {
        match Request::read_invocation(event)? {
            Invocation::Http(request) => Ok(request),
            Invocation::Records => Err(Rejected::NotAnHttpEvent(
                "a Records event (SQS), not an HTTP request".into(),
            )),
        }
    }

    /// Reads a raw Lambda event: an HTTP request, or an event of `Records` (the spool queue's
    /// SQS batches), told apart in the same one pass over the JSON.
    pub(crate) fn read_invocation(event: &[u8]) -> Result<Invocation, Rejected> {
        let event: HttpEvent =
            serde_json::from_slice(event).map_err(|e| Rejected::NotAnHttpEvent(e.to_string()))?;
        if event.records.is_some() {
            return Ok(Invocation::Records);
        }
        event.into_request().map(Invocation::Http)
    }
}

/// What a function is invoked with.
#[derive(Debug)]
pub(crate) enum Invocation {
    Http(Request),
    /// A `{"Records": [...]}` event, read again by [`crate::spool::event`].
    Records,
}

/// A header sent more than once with different values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConflictingHeader;

/// The union of the three event formats, reduced to what we read. All optional: v1 sends
/// `headers: null` when there are none, function URLs omit `queryStringParameters`, etc.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HttpEvent {
    #[serde(default)]
    version: Option<String>,
    #[serde(default, deserialize_with = "entries")]
    headers: Option<Entries<String>>,
    #[serde(default, deserialize_with = "entries")]
    multi_value_headers: Option<Entries<Vec<String>>>,
    #[serde(default, deserialize_with = "entries")]
    query_string_parameters: Option<Entries<String>>,
    #[serde(default, deserialize_with = "entries")]
    multi_value_query_string_parameters: Option<Entries<Vec<String>>>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    is_base64_encoded: Option<bool>,
    #[serde(default)]
    request_context: Option<RequestContext>,
    /// v2 and function URLs: the path as sent.
    #[serde(default)]
    raw_path: Option<String>,
    /// v1: the path and the method.
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    http_method: Option<String>,
    /// Present in SQS (and other event source) events, never in an HTTP one.
    #[serde(default, rename = "Records")]
    records: Option<serde::de::IgnoredAny>,
}

/// A JSON object's entries in the order sent; a value may be null.
type Entries<V> = Vec<(String, Option<V>)>;

/// A JSON object, or null, as its entries in the order sent. Not a map: nothing looks these up
/// by hash, and a name sent twice keeps both values (two `Authorization`s that differ are a
/// conflict, not whichever a map kept).
fn entries<'de, D, V>(deserializer: D) -> Result<Option<Entries<V>>, D::Error>
where
    D: Deserializer<'de>,
    V: Deserialize<'de>,
{
    struct EntriesVisitor<V>(PhantomData<V>);

    impl<'de, V: Deserialize<'de>> Visitor<'de> for EntriesVisitor<V> {
        type Value = Option<Entries<V>>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object or null")
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, inner: D2) -> Result<Self::Value, D2::Error> {
            inner.deserialize_map(self)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(8));
            while let Some(entry) = map.next_entry()? {
                entries.push(entry);
            }
            Ok(Some(entries))
        }
    }

    deserializer.deserialize_option(EntriesVisitor(PhantomData))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestContext {
    #[serde(default)]
    request_id: Option<String>,
    /// v2 and function URLs: `{"method": "GET", "path": …}`.
    #[serde(default)]
    http: Option<HttpContext>,
}

#[derive(Deserialize)]
struct HttpContext {
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    path: Option<String>,
}

impl HttpEvent {
    fn into_request(self) -> Result<Request, Rejected> {
        let mut headers = Vec::new();
        // v1 repeats single-valued headers in multiValueHeaders: prefer the full list there.
        if let Some(multi) = self.multi_value_headers {
            for (name, values) in multi {
                for value in values.into_iter().flatten() {
                    headers.push((name.to_ascii_lowercase(), value));
                }
            }
        }
        // Every single-valued header counts — two spellings of one name with different values
        // are a conflict, not a coin toss — except those multiValueHeaders already listed.
        let listed: Vec<String> = headers.iter().map(|(k, _)| k.clone()).collect();
        if let Some(single) = self.headers {
            for (name, value) in single {
                let name = name.to_ascii_lowercase();
                if let Some(value) = value {
                    if !listed.contains(&name) {
                        headers.push((name, value));
                    }
                }
            }
        }

        let mut query: Vec<(String, String)> = Vec::new();
        if let Some(multi) = self.multi_value_query_string_parameters {
            for (name, values) in multi {
                for value in values.into_iter().flatten() {
                    query.push((name.clone(), value));
                }
            }
        }
        if let Some(single) = self.query_string_parameters {
            for (name, value) in single {
                if let Some(value) = value {
                    if !query.iter().any(|(k, _)| *k == name) {
                        query.push((name, value));
                    }
                }
            }
        }

        let text = self.body.unwrap_or_default();
        let body = if self.is_base64_encoded.unwrap_or(false) {
            // The decoded size is at most 3/4 of the text: refuse early without decoding.
            if text.len() / 4 * 3 > MAX_BODY_BYTES + 3 {
                return Err(Rejected::TooLarge(text.len() / 4 * 3));
            }
            base64::engine::general_purpose::STANDARD
                .decode(text.trim_end())
                .map_err(|_| Rejected::BadBase64)?
        } else {
            text.into_bytes()
        };
        if body.len() > MAX_BODY_BYTES {
            return Err(Rejected::TooLarge(body.len()));
        }

        let (request_id, http) = match self.request_context {
            Some(context) => (context.request_id, context.http),
            None => (None, None),
        };
        let (context_method, context_path) = match http {
            Some(http) => (http.method, http.path),
            None => (None, None),
        };
        let method = context_method
            .or(self.http_method)
            .map(|m| m.to_ascii_uppercase());
        let path = self.raw_path.or(self.path).or(context_path);
        Ok(Request {
            headers,
            query,
            body,
            method,
            path,
            request_id,
            // REST API events carry no version; HTTP APIs and function URLs say "2.0".
            payload_version: match self.version.as_deref() {
                Some(v) if v.starts_with('2') => PayloadVersion::V2,
                _ => PayloadVersion::V1,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_v2_events_with_lower_cased_headers() {
        let event = br#"{"version":"2.0","headers":{"Authorization":"abc","content-type":"application/json"},
            "rawQueryString":"token=t","queryStringParameters":{"token":"t"},
            "requestContext":{"requestId":"r1","http":{"method":"POST"}},"body":"{\"a\":1}","isBase64Encoded":false}"#;
        let request = Request::from_event(event).unwrap();
        assert_eq!(request.header("authorization"), Ok(Some("abc")));
        assert_eq!(request.header("AUTHORIZATION"), Ok(Some("abc")));
        assert_eq!(request.query_values("token").collect::<Vec<_>>(), ["t"]);
        assert_eq!(request.body(), br#"{"a":1}"#);
        assert_eq!(request.request_id.as_deref(), Some("r1"));
        assert_eq!(request.payload_version, PayloadVersion::V2);
    }

    #[test]
    fn reads_v1_events_with_null_maps_and_repeated_headers() {
        let event = br#"{"resource":"/","httpMethod":"POST","headers":null,"multiValueHeaders":{"X-A":["1","2"]},
            "queryStringParameters":null,"body":null,"isBase64Encoded":false}"#;
        let request = Request::from_event(event).unwrap();
        assert_eq!(request.header("x-a"), Err(ConflictingHeader));
        assert_eq!(request.payload_version, PayloadVersion::V1);
        assert_eq!(request.body(), b"");
    }

    #[test]
    fn reads_the_method_and_path_of_every_format() {
        let v2 = br#"{"version":"2.0","rawPath":"/conversations/callbell/a%2Fb",
            "requestContext":{"http":{"method":"GET","path":"/conversations/callbell/a/b"}}}"#;
        let request = Request::from_event(v2).unwrap();
        assert_eq!(request.method.as_deref(), Some("GET"));
        assert_eq!(
            request.path.as_deref(),
            Some("/conversations/callbell/a%2Fb"),
            "rawPath, still encoded"
        );
        let v1 = br#"{"resource":"/{proxy+}","httpMethod":"head","path":"/customers",
            "queryStringParameters":{"phone":"33612345678"}}"#;
        let request = Request::from_event(v1).unwrap();
        assert_eq!(
            (request.method.as_deref(), request.path.as_deref()),
            (Some("HEAD"), Some("/customers"))
        );
        assert_eq!(
            request.query(),
            [("phone".to_string(), "33612345678".to_string())]
        );
        // A function URL's event is v2's shape; one with no rawPath still has the context's.
        let url = br#"{"version":"2.0","requestContext":{"http":{"method":"POST","path":"/x"}}}"#;
        let request = Request::from_event(url).unwrap();
        assert_eq!(
            (request.method.as_deref(), request.path.as_deref()),
            (Some("POST"), Some("/x"))
        );
        let bare = Request::from_event(br#"{"body":"{}"}"#).unwrap();
        assert_eq!((bare.method, bare.path), (None, None));
    }

    #[test]
    fn two_spellings_of_one_header_with_different_values_conflict() {
        let event =
            br#"{"version":"2.0","headers":{"Authorization":"good","authorization":"bad"}}"#;
        let request = Request::from_event(event).unwrap();
        assert_eq!(request.header("authorization"), Err(ConflictingHeader));
        let repeated =
            br#"{"version":"2.0","headers":{"Authorization":"good","Authorization":"bad"}}"#;
        let request = Request::from_event(repeated).unwrap();
        assert_eq!(request.header("authorization"), Err(ConflictingHeader));
        let same =
            br#"{"version":"2.0","headers":{"Authorization":"good","authorization":"good"}}"#;
        assert_eq!(
            Request::from_event(same).unwrap().header("authorization"),
            Ok(Some("good"))
        );
    }

    #[test]
    fn decodes_base64_bodies_to_exact_bytes() {
        let event = br#"{"body":"/wABAg==","isBase64Encoded":true}"#;
        assert_eq!(Request::from_event(event).unwrap().body(), [0xff, 0, 1, 2]);
    }

    #[test]
    fn rejects_bodies_that_are_not_base64_or_too_large() {
        let event = br#"{"body":"not base64!","isBase64Encoded":true}"#;
        assert_eq!(Request::from_event(event).unwrap_err(), Rejected::BadBase64);
        let big = format!(r#"{{"body":"{}"}}"#, "a".repeat(MAX_BODY_BYTES + 1));
        assert!(matches!(
            Request::from_event(big.as_bytes()),
            Err(Rejected::TooLarge(_))
        ));
        let exact = format!(r#"{{"body":"{}"}}"#, "a".repeat(MAX_BODY_BYTES));
        assert!(Request::from_event(exact.as_bytes()).is_ok());
    }

    #[test]
    fn tells_records_events_from_requests() {
        let sqs = br#"{"Records":[{"eventSource":"aws:sqs","body":"{}"}]}"#;
        assert!(matches!(
            Request::read_invocation(sqs),
            Ok(Invocation::Records)
        ));
        assert!(matches!(
            Request::from_event(sqs),
            Err(Rejected::NotAnHttpEvent(_))
        ));
        // A body that mentions Records is still a request.
        let http = br#"{"version":"2.0","body":"{\"Records\":[]}"}"#;
        let read = Request::read_invocation(http);
        assert!(matches!(read, Ok(Invocation::Http(_))), "{read:?}");
    }

    #[test]
    fn rejects_events_that_are_not_http() {
        assert!(matches!(
            Request::from_event(b"[1,2]"),
            Err(Rejected::NotAnHttpEvent(_))
        ));
        assert!(matches!(
            Request::from_event(br#"{"headers":"x"}"#),
            Err(Rejected::NotAnHttpEvent(_))
        ));
    }
}
