//! Lambda events in the three shapes a function receives — API Gateway HTTP API (payload
//! 2.0), REST API proxy (1.0) and function URL — around a body and its credentials; and the
//! realistic HTTP API events committed under `events/`.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Serialize;
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};

use super::{Credentials, NOW};
use crate::providers::ProviderId;

/// The event shapes a function receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    HttpApiV2,
    RestApiV1,
    FunctionUrl,
}

pub const FORMATS: [Format; 3] = [Format::HttpApiV2, Format::RestApiV1, Format::FunctionUrl];

/// A complete event as AWS would send it to `function`. A `base64` body is sent encoded (the
/// only way API Gateway carries bytes that are not UTF-8).
pub fn event(
    format: Format,
    function: &str,
    credentials: &Credentials,
    body: &[u8],
    base64: bool,
) -> Vec<u8> {
    let body_text = if base64 {
        base64::engine::general_purpose::STANDARD.encode(body)
    } else {
        String::from_utf8(body.to_vec()).expect("a body sent as text is UTF-8")
    };
    let path = format!("/webhooks/{function}");
    let raw_query: String = credentials
        .query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut headers = Map::new();
    headers.insert("content-type".into(), "application/json".into());
    for (k, v) in &credentials.headers {
        // HTTP APIs and function URLs lower-case header names; REST APIs pass them as sent.
        let name = if format == Format::RestApiV1 {
            k.clone()
        } else {
            k.to_ascii_lowercase()
        };
        headers.insert(name, v.clone().into());
    }
    let query: Map<String, Value> = credentials
        .query
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().into()))
        .collect();
    let query = if query.is_empty() {
        Value::Null
    } else {
        query.into()
    };
    let value = match format {
        Format::HttpApiV2 | Format::FunctionUrl => {
            let route_key = if format == Format::HttpApiV2 {
                format!("POST {path}")
            } else {
                "$default".into()
            };
            json!({
                "version": "2.0",
                "routeKey": route_key,
                "rawPath": path,
                "rawQueryString": raw_query,
                "headers": headers,
                "queryStringParameters": query,
                "requestContext": {
                    "accountId": "123456789012", "apiId": "test", "domainName": "test.example",
                    "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"},
                    "requestId": "req-1", "routeKey": route_key, "stage": "$default",
                    "time": "01/Jan/2026:00:00:00 +0000", "timeEpoch": NOW * 1000
                },
                "body": body_text,
                "isBase64Encoded": base64
            })
        }
        Format::RestApiV1 => {
            let multi: Map<String, Value> = headers
                .iter()
                .map(|(k, v)| (k.clone(), json!([v])))
                .collect();
            json!({
                "resource": path, "path": path, "httpMethod": "POST",
                "headers": headers, "multiValueHeaders": multi,
                "queryStringParameters": query,
                "multiValueQueryStringParameters": null,
                "pathParameters": null, "stageVariables": null,
                "requestContext": {"accountId": "123456789012", "resourceId": "r", "stage": "prod", "requestId": "req-1",
                    "httpMethod": "POST", "path": path, "identity": {"sourceIp": "127.0.0.1"}, "resourcePath": path, "apiId": "test"},
                "body": body_text,
                "isBase64Encoded": base64
            })
        }
    };
    serde_json::to_vec(&value).expect("an event serializes")
}

/// An event carrying `body` exactly as provider `id` would have signed it at [`NOW`]; bytes
/// that are not UTF-8 travel base64-encoded.
pub fn signed_event(format: Format, id: ProviderId, body: &[u8]) -> Vec<u8> {
    let credentials = id.samples().sign(body, NOW);
    let base64 = std::str::from_utf8(body).is_err();
    event(format, id.function(), &credentials, body, base64)
}

// What the committed sample events carry besides the body: fixed, so that generating them
// again changes nothing unless a body (or local.env) did.
const ACCOUNT_ID: &str = "123456789012";
const API_ID: &str = "a1b2c3d4e5";
const DOMAIN_NAME: &str = "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com";
const SOURCE_IP: &str = "203.0.113.10";
const TIME: &str = "20/Nov/2025:12:00:00 +0000";
pub const SAMPLE_TIME_EPOCH_MS: i64 = 1_763_640_000_000;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SampleEvent {
    version: &'static str,
    route_key: String,
    raw_path: String,
    raw_query_string: String,
    headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    query_string_parameters: Option<BTreeMap<String, String>>,
    request_context: RequestContext,
    body: String,
    is_base64_encoded: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RequestContext {
    account_id: &'static str,
    api_id: &'static str,
    domain_name: &'static str,
    domain_prefix: &'static str,
    http: Http,
    request_id: String,
    route_key: String,
    stage: &'static str,
    time: &'static str,
    time_epoch: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Http {
    method: &'static str,
    path: String,
    protocol: &'static str,
    source_ip: &'static str,
    user_agent: String,
}

/// The committed sample event `events/<function>/<name>.json` for `body`: an HTTP API event
/// as API Gateway delivers it (pretty JSON and a final newline), signed with
/// [`super::Samples::sign_lasting`]. `extra_headers` add or override headers.
pub fn sample_event(
    id: ProviderId,
    name: &str,
    body: &str,
    extra_headers: &BTreeMap<String, String>,
) -> String {
    let credentials = id.samples().sign_lasting(body.as_bytes());
    sample_event_with(id, name, body, extra_headers, credentials)
}

/// [`sample_event`] with the given credentials (another signer's: `<name>.signer`).
pub fn sample_event_with(
    id: ProviderId,
    name: &str,
    body: &str,
    extra_headers: &BTreeMap<String, String>,
    credentials: Credentials,
) -> String {
    let samples = id.samples();
    let function = id.function();
    let path = format!("/webhooks/{function}");
    let route_key = format!("POST {path}");
    let digest = Sha256::digest(format!("{function}/{name}"));
    let request_id = base64::engine::general_purpose::STANDARD.encode(&digest[..11]);
    let trace_id = format!(
        "Root=1-{:08x}-{}",
        SAMPLE_TIME_EPOCH_MS / 1000,
        hex::encode(&digest[11..23])
    );
    let mut headers = BTreeMap::from([
        ("content-length".to_owned(), body.len().to_string()),
        ("content-type".to_owned(), "application/json".to_owned()),
        ("host".to_owned(), DOMAIN_NAME.to_owned()),
        ("user-agent".to_owned(), samples.user_agent().to_owned()),
        ("x-amzn-trace-id".to_owned(), trace_id),
        ("x-forwarded-for".to_owned(), SOURCE_IP.to_owned()),
        ("x-forwarded-port".to_owned(), "443".to_owned()),
        ("x-forwarded-proto".to_owned(), "https".to_owned()),
    ]);
    for (name, value) in credentials.headers {
        headers.insert(name.to_ascii_lowercase(), value);
    }
    headers.extend(extra_headers.clone());
    let query: BTreeMap<String, String> = credentials.query.into_iter().collect();
    let raw_query_string = query
        .iter()
        .map(|(key, value)| format!("{}={}", percent_encode(key), percent_encode(value)))
        .collect::<Vec<_>>()
        .join("&");
    let event = SampleEvent {
        version: "2.0",
        route_key: route_key.clone(),
        raw_path: path.clone(),
        raw_query_string,
        request_context: RequestContext {
            account_id: ACCOUNT_ID,
            api_id: API_ID,
            domain_name: DOMAIN_NAME,
            domain_prefix: API_ID,
            http: Http {
                method: "POST",
                path,
                protocol: "HTTP/1.1",
                source_ip: SOURCE_IP,
                user_agent: headers.get("user-agent").cloned().unwrap_or_default(),
            },
            request_id,
            route_key,
            stage: "$default",
            time: TIME,
            time_epoch: SAMPLE_TIME_EPOCH_MS,
        },
        headers,
        query_string_parameters: (!query.is_empty()).then_some(query),
        body: body.to_owned(),
        is_base64_encoded: false,
    };
    let mut json = serde_json::to_string_pretty(&event).expect("an event serializes");
    json.push('\n');
    json
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{PayloadVersion, Request};

    #[test]
    fn every_format_reads_back_as_its_request() {
        let credentials = Credentials {
            headers: vec![("X-Sig".into(), "abc".into())],
            query: vec![("token".into(), "t".into())],
        };
        for format in FORMATS {
            for base64 in [false, true] {
                let e = event(format, "f", &credentials, b"{\"a\":1}", base64);
                let request = Request::from_event(&e).unwrap();
                assert_eq!(request.body(), b"{\"a\":1}");
                assert_eq!(request.header("x-sig"), Ok(Some("abc")));
                assert_eq!(request.query_values("token").collect::<Vec<_>>(), ["t"]);
                let version = if format == Format::RestApiV1 {
                    PayloadVersion::V1
                } else {
                    PayloadVersion::V2
                };
                assert_eq!(request.payload_version, version);
            }
        }
    }

    #[test]
    fn sample_events_are_deterministic_signed_v2_events() {
        for id in ProviderId::ALL {
            let none = BTreeMap::new();
            let a = sample_event(*id, "a", "{}", &none);
            assert!(a.ends_with('\n'));
            assert_eq!(a, sample_event(*id, "a", "{}", &none));
            assert_ne!(a, sample_event(*id, "b", "{}", &none));
            let event: Value = serde_json::from_str(&a).unwrap();
            let path = format!("/webhooks/{}", id.function());
            assert_eq!(event["version"], "2.0");
            assert_eq!(event["rawPath"], path);
            assert_eq!(event["routeKey"], format!("POST {path}"));
            assert_eq!(event["requestContext"]["http"]["path"], path);
            assert_eq!(event["headers"]["content-length"], "2");
            assert_eq!(event["body"], "{}");
            let request = Request::from_event(a.as_bytes()).unwrap();
            let lasting = id.samples().sign_lasting(b"{}");
            for (name, value) in &lasting.headers {
                assert_eq!(request.header(name), Ok(Some(value.as_str())), "{id}");
            }
            for (name, value) in &lasting.query {
                assert_eq!(
                    request.query_values(name).collect::<Vec<_>>(),
                    [value.as_str()],
                    "{id}"
                );
            }
        }
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(percent_encode("t o/k-._~"), "t%20o%2Fk-._~");
    }
}
