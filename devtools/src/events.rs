//! `sign-events`: API Gateway HTTP API (payload format 2.0) sample events from request bodies.
//!
//! `events/bodies/<function>/<name>.json` holds the exact request body (the source of truth);
//! an optional `events/bodies/<function>/<name>.headers` adds or overrides headers (`name: value`
//! lines). The generated event is `events/<function>/<name>.json`. Everything that is not the
//! body is fixed, so the output is the same on every run.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::env_file::EnvFile;
use crate::error::{Context, Error, Result};
use crate::sign::{tiktok_authorization, PartooSigner};

/// The Ed25519 secret key that signs local Partoo samples: RFC 8032 test 1, a published test key
/// that must never be trusted outside local development. Its public key is in local.env.
const PARTOO_LOCAL_SECRET_KEY: &str =
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

const ACCOUNT_ID: &str = "123456789012";
const API_ID: &str = "a1b2c3d4e5";
const DOMAIN_NAME: &str = "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com";
const SOURCE_IP: &str = "203.0.113.10";
const TIME: &str = "20/Nov/2025:12:00:00 +0000";
const TIME_EPOCH_MS: i64 = 1_763_640_000_000;

#[derive(Clone, Copy)]
enum Auth {
    /// `authorization`: HMAC over app key and body.
    TiktokHmac,
    /// `x-partoo-signature-v1`: Ed25519 over the body.
    PartooEd25519,
    /// `?token=` in the URL (a Callbell signature would expire after 300 s).
    CallbellUrlToken,
}

struct Function {
    /// The function (binary) name, also the directory under events/ and events/bodies/.
    name: &'static str,
    user_agent: &'static str,
    auth: Auth,
}

const FUNCTIONS: [Function; 3] = [
    Function {
        name: "tiktok-shop",
        user_agent: "Go-http-client/2.0",
        auth: Auth::TiktokHmac,
    },
    Function {
        name: "partoo",
        user_agent: "python-requests/2.32.3",
        auth: Auth::PartooEd25519,
    },
    Function {
        name: "callbell",
        user_agent: "Faraday v2.9.0",
        auth: Auth::CallbellUrlToken,
    },
];

/// The local development secrets, all from local.env.
struct Secrets {
    tiktok_app_key: String,
    tiktok_app_secret: String,
    partoo: PartooSigner,
    callbell_url_token: String,
}

impl Secrets {
    fn from_env_file(env: &EnvFile) -> Result<Self> {
        let partoo = PartooSigner::from_secret_hex(PARTOO_LOCAL_SECRET_KEY)?;
        let public = partoo.public_key_hex();
        let listed = env.require("PARTOO_PUBLIC_KEYS")?;
        if !listed
            .split(',')
            .any(|key| key.trim().eq_ignore_ascii_case(&public))
        {
            return Err(Error::msg(format!(
                "PARTOO_PUBLIC_KEYS in local.env does not list {public}, the public key of the \
                 local Partoo signing key: the functions would reject the samples"
            )));
        }
        Ok(Self {
            tiktok_app_key: env.require("TIKTOK_SHOP_APP_KEY")?.to_owned(),
            tiktok_app_secret: env.require("TIKTOK_SHOP_APP_SECRET")?.to_owned(),
            partoo,
            callbell_url_token: env.require("CALLBELL_URL_TOKEN")?.to_owned(),
        })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Event {
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

/// The generated event (pretty JSON and a final newline) for one body.
fn build_event(
    function: &Function,
    name: &str,
    body: &str,
    extra_headers: &BTreeMap<String, String>,
    secrets: &Secrets,
) -> Result<String> {
    let path = format!("/webhooks/{}", function.name);
    let route_key = format!("POST {path}");
    let digest = Sha256::digest(format!("{}/{name}", function.name));
    let request_id = base64::engine::general_purpose::STANDARD.encode(&digest[..11]);
    let trace_id = format!(
        "Root=1-{:08x}-{}",
        TIME_EPOCH_MS / 1000,
        hex::encode(&digest[11..23])
    );

    let mut headers = BTreeMap::from([
        ("content-length".to_owned(), body.len().to_string()),
        ("content-type".to_owned(), "application/json".to_owned()),
        ("host".to_owned(), DOMAIN_NAME.to_owned()),
        ("user-agent".to_owned(), function.user_agent.to_owned()),
        ("x-amzn-trace-id".to_owned(), trace_id),
        ("x-forwarded-for".to_owned(), SOURCE_IP.to_owned()),
        ("x-forwarded-port".to_owned(), "443".to_owned()),
        ("x-forwarded-proto".to_owned(), "https".to_owned()),
    ]);
    let mut query = None;
    match function.auth {
        Auth::TiktokHmac => {
            headers.insert(
                "authorization".to_owned(),
                tiktok_authorization(
                    &secrets.tiktok_app_key,
                    &secrets.tiktok_app_secret,
                    body.as_bytes(),
                ),
            );
        }
        Auth::PartooEd25519 => {
            headers.insert(
                "x-partoo-signature-v1".to_owned(),
                secrets.partoo.signature(body.as_bytes()),
            );
        }
        Auth::CallbellUrlToken => {
            query = Some(BTreeMap::from([(
                "token".to_owned(),
                secrets.callbell_url_token.clone(),
            )]));
        }
    }
    headers.extend(extra_headers.clone());
    let raw_query_string = query
        .iter()
        .flatten()
        .map(|(key, value)| format!("{}={}", percent_encode(key), percent_encode(value)))
        .collect::<Vec<_>>()
        .join("&");

    let event = Event {
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
            time_epoch: TIME_EPOCH_MS,
        },
        headers,
        query_string_parameters: query,
        body: body.to_owned(),
        is_base64_encoded: false,
    };
    let mut json = serde_json::to_string_pretty(&event).context("cannot serialize the event")?;
    json.push('\n');
    Ok(json)
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

/// `name: value` lines; blank lines and `#` comments are skipped; names are lower-cased as
/// API Gateway does.
fn parse_headers(path: &Path, text: &str) -> Result<BTreeMap<String, String>> {
    let mut headers = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = line.split_once(':').ok_or_else(|| {
            Error::msg(format!(
                "{}:{}: expected `name: value`",
                path.display(),
                number + 1
            ))
        })?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    Ok(headers)
}

/// Files in `dir` ending in `extension` (without the dot), sorted by name; none when `dir` is
/// missing.
fn files_with_extension(dir: &Path, extension: &str) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry
            .with_context(|| format!("cannot list {}", dir.display()))?
            .path();
        if path.is_file() && path.extension().is_some_and(|ext| ext == extension) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn file_stem(path: &Path) -> Result<&str> {
    path.file_stem()
        .and_then(|stem| stem.to_str())
        .ok_or_else(|| Error::msg(format!("{}: file name is not UTF-8", path.display())))
}

/// Every event that the bodies produce: (target path, content).
fn generate_all(root: &Path, secrets: &Secrets) -> Result<BTreeMap<PathBuf, String>> {
    let mut generated = BTreeMap::new();
    for function in &FUNCTIONS {
        let bodies_dir = root.join("events/bodies").join(function.name);
        let bodies = files_with_extension(&bodies_dir, "json")?;
        for sidecar in files_with_extension(&bodies_dir, "headers")? {
            if !sidecar.with_extension("json").is_file() {
                return Err(Error::msg(format!(
                    "{} has no body {}",
                    sidecar.display(),
                    sidecar.with_extension("json").display()
                )));
            }
        }
        for body_path in bodies {
            let name = file_stem(&body_path)?;
            let body = fs::read_to_string(&body_path)
                .with_context(|| format!("cannot read {} as UTF-8", body_path.display()))?;
            if !body.is_empty() {
                serde_json::from_str::<serde_json::Value>(&body)
                    .with_context(|| format!("{} is not one JSON document", body_path.display()))?;
            }
            let sidecar = body_path.with_extension("headers");
            let extra_headers = if sidecar.is_file() {
                let text = fs::read_to_string(&sidecar)
                    .with_context(|| format!("cannot read {}", sidecar.display()))?;
                parse_headers(&sidecar, &text)?
            } else {
                BTreeMap::new()
            };
            let event = build_event(function, name, &body, &extra_headers, secrets)
                .with_context(|| format!("{}", body_path.display()))?;
            let target = root
                .join("events")
                .join(function.name)
                .join(format!("{name}.json"));
            generated.insert(target, event);
        }
    }
    Ok(generated)
}

/// Generated files that exist but no longer have a body.
fn stale_events(root: &Path, generated: &BTreeMap<PathBuf, String>) -> Result<Vec<PathBuf>> {
    let mut stale = Vec::new();
    for function in &FUNCTIONS {
        for path in files_with_extension(&root.join("events").join(function.name), "json")? {
            if !generated.contains_key(&path) {
                stale.push(path);
            }
        }
    }
    Ok(stale)
}

/// Writes (or with `check`, compares) every event. Returns false when `check` found a
/// difference.
pub fn sign_events(root: &Path, check: bool) -> Result<bool> {
    if !root.join("events/bodies").is_dir() {
        return Err(Error::msg(format!(
            "{} has no events/bodies directory: run from the repository root or pass --root",
            root.display()
        )));
    }
    let env = EnvFile::read(&root.join("local.env"))?;
    let secrets = Secrets::from_env_file(&env)?;
    let generated = generate_all(root, &secrets)?;
    let stale = stale_events(root, &generated)?;
    let shown = |path: &Path| {
        path.strip_prefix(root)
            .unwrap_or(path)
            .display()
            .to_string()
    };

    let mut changed = Vec::new();
    for (path, content) in &generated {
        let current = fs::read(path).ok();
        if current.as_deref() != Some(content.as_bytes()) {
            changed.push((path, current.is_none()));
        }
    }

    if check {
        for (path, missing) in &changed {
            let what = if *missing { "missing" } else { "out of date" };
            eprintln!("{what}: {}", shown(path));
        }
        for path in &stale {
            eprintln!("no body for: {}", shown(path));
        }
        let ok = changed.is_empty() && stale.is_empty();
        if ok {
            println!(
                "sign-events: all {} events match their bodies",
                generated.len()
            );
        } else {
            eprintln!("sign-events: events differ from their bodies: run `ingest-dev sign-events`");
        }
        return Ok(ok);
    }

    for (path, _) in &changed {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        fs::write(path, &generated[*path])
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {}", shown(path));
    }
    for path in &stale {
        fs::remove_file(path).with_context(|| format!("cannot remove {}", path.display()))?;
        println!("removed {} (its body is gone)", shown(path));
    }
    println!(
        "sign-events: {} events, {} written, {} removed",
        generated.len(),
        changed.len(),
        stale.len()
    );
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets() -> Secrets {
        let env = EnvFile::parse(
            "test.env",
            "TIKTOK_SHOP_APP_KEY=abcdef\nTIKTOK_SHOP_APP_SECRET=123\nCALLBELL_URL_TOKEN=t o/k\n\
             PARTOO_PUBLIC_KEYS=00,D75A980182B10AB7D54BFED3C964073A0EE172F3DAA62325AF021A68F707511A\n",
        )
        .unwrap();
        Secrets::from_env_file(&env).unwrap()
    }

    fn event(function: usize, body: &str, extra: &[(&str, &str)]) -> serde_json::Value {
        let extra = extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let json = build_event(&FUNCTIONS[function], "sample", body, &extra, &secrets()).unwrap();
        assert!(json.ends_with('\n'));
        serde_json::from_str(&json).unwrap()
    }

    #[test]
    fn tiktok_event_is_a_signed_v2_event() {
        let body = r#"{"type":1,"tts_notification_id":"7380066284010030890","shop_id":"7495540735365777507","timestamp":1718305585,"data":{"is_on_hold_order":true,"order_id":"576653688135258178","order_status":"UNPAID","update_time":1718305585}}"#;
        let event = event(0, body, &[]);
        assert_eq!(event["version"], "2.0");
        assert_eq!(event["routeKey"], "POST /webhooks/tiktok-shop");
        assert_eq!(event["rawPath"], "/webhooks/tiktok-shop");
        assert_eq!(event["rawQueryString"], "");
        assert_eq!(event["body"], body);
        assert_eq!(event["isBase64Encoded"], false);
        assert_eq!(
            event["headers"]["authorization"],
            "5dec0f11ec2f6783b8deee53c9ffbf8d024302f7c7e7fa55a35d17629031ac05"
        );
        assert_eq!(event["headers"]["content-length"], body.len().to_string());
        let context = &event["requestContext"];
        assert_eq!(context["http"]["method"], "POST");
        assert_eq!(context["http"]["path"], "/webhooks/tiktok-shop");
        assert_eq!(context["routeKey"], "POST /webhooks/tiktok-shop");
        assert_eq!(context["stage"], "$default");
        assert_eq!(context["timeEpoch"], TIME_EPOCH_MS);
        assert!(event.get("queryStringParameters").is_none());
    }

    #[test]
    fn partoo_event_carries_the_signature_and_extra_headers() {
        let body = r#"{"type":"message_created","payload":{"org_id":1}}"#;
        let event = event(1, body, &[("x-partoo-webhook-tryout", "true")]);
        assert_eq!(
            event["headers"]["x-partoo-signature-v1"],
            "enAtOBn0Sb9qMhDiaYydbxCBn/pKGiTpnPMkYg+jnNAk1FTwA9aXQ5laF74ke1x+AsviTNd2g2+0Uq7SCXrUBw=="
        );
        assert_eq!(event["headers"]["x-partoo-webhook-tryout"], "true");
        assert_eq!(event["routeKey"], "POST /webhooks/partoo");
    }

    #[test]
    fn callbell_event_carries_the_url_token() {
        let event = event(2, "", &[]);
        assert_eq!(event["rawQueryString"], "token=t%20o%2Fk");
        assert_eq!(event["queryStringParameters"]["token"], "t o/k");
        assert_eq!(event["body"], "");
        assert_eq!(event["headers"]["content-length"], "0");
    }

    #[test]
    fn output_is_deterministic_and_ids_differ_per_sample() {
        let s = secrets();
        let none = BTreeMap::new();
        let a = build_event(&FUNCTIONS[0], "a", "{}", &none, &s).unwrap();
        assert_eq!(a, build_event(&FUNCTIONS[0], "a", "{}", &none, &s).unwrap());
        assert_ne!(a, build_event(&FUNCTIONS[0], "b", "{}", &none, &s).unwrap());
    }

    #[test]
    fn missing_partoo_key_is_an_error() {
        let env = EnvFile::parse(
            "test.env",
            "TIKTOK_SHOP_APP_KEY=a\nTIKTOK_SHOP_APP_SECRET=b\nCALLBELL_URL_TOKEN=c\nPARTOO_PUBLIC_KEYS=00\n",
        )
        .unwrap();
        assert!(Secrets::from_env_file(&env).is_err());
    }

    #[test]
    fn header_lines() {
        let headers = parse_headers(
            Path::new("x.headers"),
            "# c\n\nX-A: 1\nauthorization:  z \n",
        )
        .unwrap();
        assert_eq!(headers["x-a"], "1");
        assert_eq!(headers["authorization"], "z");
        assert!(parse_headers(Path::new("x.headers"), "oops").is_err());
    }

    #[test]
    fn sign_and_check_round_trip() {
        let root = std::env::temp_dir().join(format!("ingest-dev-events-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("events/bodies/callbell")).unwrap();
        fs::write(
            root.join("local.env"),
            "TIKTOK_SHOP_APP_KEY=a\nTIKTOK_SHOP_APP_SECRET=b\nCALLBELL_URL_TOKEN=c\n\
             PARTOO_PUBLIC_KEYS=d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a\n",
        )
        .unwrap();
        fs::write(root.join("events/bodies/callbell/x.json"), "{}").unwrap();
        assert!(
            !sign_events(&root, true).unwrap(),
            "missing event must fail the check"
        );
        assert!(sign_events(&root, false).unwrap());
        assert!(sign_events(&root, true).unwrap());
        fs::write(root.join("events/callbell/old.json"), "{}").unwrap();
        assert!(
            !sign_events(&root, true).unwrap(),
            "stale event must fail the check"
        );
        assert!(sign_events(&root, false).unwrap());
        assert!(!root.join("events/callbell/old.json").exists());
        fs::write(root.join("events/bodies/callbell/x.json"), "{\"a\":1}").unwrap();
        assert!(
            !sign_events(&root, true).unwrap(),
            "changed body must fail the check"
        );
        fs::write(root.join("events/bodies/callbell/bad.json"), "{").unwrap();
        assert!(sign_events(&root, false).is_err(), "invalid JSON body");
        fs::remove_dir_all(&root).unwrap();
    }
}
