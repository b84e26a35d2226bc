//! `ingest-dev smoke`: checks a deployed stack — or a local run — from the outside, as its
//! callers see it. Every webhook URL refuses an unsigned call (401); each provider's own test
//! call, signed with the secrets the operator has, is acknowledged: TikTok Shop's event that is
//! not a message (`ignored`), Partoo's tryout (`ignored`, reason `tryout`), Callbell's
//! connection check (`ok`); and the inbox answers an authorized request (SigV4 for a deployed
//! stack, plain over loopback: [`crate::inbox`]'s client).
//!
//! Only what the stack's outputs name is checked (a stack may deploy only some providers).
//! One line per check; the exit status is non-zero when any fails. No secret is ever printed:
//! the lines carry the checks' names, statuses and the functions' answers, never a request's
//! headers or query.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use clap::{ArgGroup, Args, ValueEnum};
use ed25519_dalek::{Signer as _, SigningKey};
use http_body_util::Full;
use ingest::ProviderId;
use serde_json::{json, Value};

use crate::error::{Context as _, Error, Result};
use crate::inbox;

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("target").required(true).args(["outputs_file", "local"])))]
pub struct Options {
    /// A deployed stack's outputs: what `aws cloudformation describe-stacks --stack-name
    /// <stack>` prints (JSON; its Stacks[0].Outputs alone will do), or - for standard input
    #[arg(long, value_name = "FILE")]
    pub outputs_file: Option<PathBuf>,
    /// A local run: cargo lambda watch's address (scripts/run-local.sh), every function at
    /// <URL>/lambda-url/<function>/; loopback only
    #[arg(long, value_name = "URL")]
    pub local: Option<String>,
    /// The secrets to sign with, as the stack's Secrets Manager secret holds them: a JSON
    /// object, or KEY=value lines (local.env's form). Keys read: TIKTOK_SHOP_APP_KEY and
    /// TIKTOK_SHOP_APP_SECRET or TIKTOK_SHOP_APPS, CALLBELL_WEBHOOK_SECRET, CALLBELL_URL_TOKEN,
    /// and PARTOO_SIGNING_KEY (not in the stack's secret: the Ed25519 secret key, 64 hex
    /// digits, of one of the stack's PartooPublicKeys). A provider without its key is skipped.
    /// Default with --local: local.env's development values (and their Partoo key)
    #[arg(long, value_name = "FILE")]
    pub secrets_file: Option<PathBuf>,
    /// How to authenticate Callbell's connection check, as the stack's CallbellAuthentication:
    /// default the signature when the secrets hold CALLBELL_WEBHOOK_SECRET, else the token
    #[arg(long, value_enum, value_name = "HOW", default_value = "auto")]
    pub callbell_auth: CallbellAuth,
    /// The region to sign the inbox request for (default: the AWS configuration's, else the URL's)
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// For a stack whose read API takes a JWT (InboxJwtIssuer): the environment variable holding
    /// the bearer token to send instead of signing (a variable, so that no command line shows it)
    #[arg(long, value_name = "VAR")]
    pub inbox_token_env: Option<String>,
    /// How long one check may take (a local function's first call starts it)
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub timeout: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CallbellAuth {
    Auto,
    Signature,
    Token,
    Both,
}

/// The output naming `id`'s webhook URL (template.yaml's Outputs).
pub const fn webhook_output(id: ProviderId) -> &'static str {
    match id {
        ProviderId::TiktokShop => "TikTokShopWebhookUrl",
        ProviderId::Partoo => "PartooWebhookUrl",
        ProviderId::Callbell => "CallbellWebhookUrl",
    }
}

/// The output naming the read API's base URL.
pub const INBOX_OUTPUT: &str = "InboxUrl";

/// RFC 8032 test 1's secret key: a published test key, whose public key local.env lists in
/// `PARTOO_PUBLIC_KEYS` (it signs the local Partoo samples). Never trusted by a deployed stack
/// that keeps the default PartooPublicKeys.
const LOCAL_PARTOO_SIGNING_KEY: &str =
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

/// Where the checks go: the webhook URLs present, and the inbox's base URL.
#[derive(Debug, PartialEq, Eq)]
pub struct Endpoints {
    pub webhooks: Vec<(ProviderId, String)>,
    pub inbox: Option<String>,
}

/// The endpoints in `describe-stacks` JSON (the whole answer, one stack, or its `Outputs`).
pub fn parse_outputs(text: &str) -> Result<Endpoints> {
    let value: Value = serde_json::from_str(text).context("the outputs are not JSON")?;
    let outputs = match &value {
        Value::Array(outputs) => outputs.clone(),
        Value::Object(object) if object.contains_key("Stacks") => {
            let stacks = value["Stacks"].as_array().cloned().unwrap_or_default();
            let [stack] = stacks.as_slice() else {
                let names: Vec<&str> = stacks
                    .iter()
                    .filter_map(|s| s["StackName"].as_str())
                    .collect();
                return Err(Error::msg(format!(
                    "the outputs describe {} stacks ({}): describe one (--stack-name <stack>)",
                    stacks.len(),
                    names.join(", ")
                )));
            };
            stack["Outputs"].as_array().cloned().unwrap_or_default()
        }
        Value::Object(object) if object.contains_key("Outputs") => {
            value["Outputs"].as_array().cloned().unwrap_or_default()
        }
        _ => {
            return Err(Error::msg(
                "the outputs are neither describe-stacks' answer nor a list of outputs",
            ))
        }
    };
    let mut named = BTreeMap::new();
    for output in &outputs {
        if let (Some(key), Some(value)) =
            (output["OutputKey"].as_str(), output["OutputValue"].as_str())
        {
            named.insert(key.to_string(), value.to_string());
        }
    }
    let endpoints = Endpoints {
        webhooks: ProviderId::ALL
            .iter()
            .filter_map(|&id| named.get(webhook_output(id)).map(|url| (id, url.clone())))
            .collect(),
        inbox: named.get(INBOX_OUTPUT).cloned(),
    };
    if endpoints.webhooks.is_empty() && endpoints.inbox.is_none() {
        return Err(Error::msg(format!(
            "the outputs name no webhook URL and no {INBOX_OUTPUT} (template.yaml's Outputs)"
        )));
    }
    Ok(endpoints)
}

/// Every function of a local run at `base` (cargo lambda watch's address, over loopback).
pub fn local_endpoints(base: &str) -> Result<Endpoints> {
    let uri: http::Uri = base
        .parse()
        .map_err(|e| Error::msg(format!("--local {base:?}: {e}")))?;
    let loopback = uri.host().is_some_and(inbox::is_loopback);
    if uri.scheme_str() != Some("http") || !loopback {
        return Err(Error::msg(format!(
            "--local {base:?}: a local run is plain http on loopback (http://127.0.0.1:<port>)"
        )));
    }
    let base = base.trim_end_matches('/');
    Ok(Endpoints {
        webhooks: ProviderId::ALL
            .iter()
            .map(|&id| (id, format!("{base}/lambda-url/{}/", id.function())))
            .collect(),
        inbox: Some(format!("{base}/lambda-url/inbox")),
    })
}

/// The secrets to sign with, by the stack secret's keys.
#[derive(Default)]
pub struct Secrets(BTreeMap<String, String>);

/// The keys only: a value is never shown.
impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl Secrets {
    /// A JSON object of strings (the stack's secret), or KEY=value lines (local.env's form).
    /// Errors name keys, never values.
    pub fn parse(text: &str) -> Result<Secrets> {
        if text.trim_start().starts_with('{') {
            let object: BTreeMap<String, Value> = serde_json::from_str(text)
                .map_err(|e| Error::msg(format!("the secrets are not a JSON object: {e}")))?;
            let mut secrets = BTreeMap::new();
            for (key, value) in object {
                let Value::String(value) = value else {
                    return Err(Error::msg(format!("the secrets' {key} is not a string")));
                };
                secrets.insert(key, value);
            }
            Ok(Secrets(secrets))
        } else {
            Ok(Secrets(ingest::testkit::parse_env_file(text)))
        }
    }

    /// local.env's development values, and the Partoo key whose public key it lists.
    pub fn local() -> Secrets {
        let mut secrets = ingest::testkit::local_env().clone();
        secrets.insert("PARTOO_SIGNING_KEY".into(), LOCAL_PARTOO_SIGNING_KEY.into());
        Secrets(secrets)
    }

    fn first(&self, key: &str) -> Option<&str> {
        let value = self.0.get(key)?;
        value.split(',').map(str::trim).find(|e| !e.is_empty())
    }

    /// An app key and its secret: TIKTOK_SHOP_APP_KEY's with TIKTOK_SHOP_APP_SECRET's first,
    /// else TIKTOK_SHOP_APPS' first `<app key>:<app secret>`.
    fn tiktok(&self) -> Option<(&str, &str)> {
        match (
            self.first("TIKTOK_SHOP_APP_KEY"),
            self.first("TIKTOK_SHOP_APP_SECRET"),
        ) {
            (Some(key), Some(secret)) => Some((key, secret)),
            _ => self
                .first("TIKTOK_SHOP_APPS")?
                .split_once(':')
                .map(|(k, s)| (k.trim(), s.trim())),
        }
    }

    /// The first entry of a Callbell list, without its `<account>=` (a signing secret that
    /// starts with `whsec_` is never named: its base64 may end in `=`).
    fn callbell(&self, key: &str) -> Option<&str> {
        let entry = self.first(key)?;
        if entry.starts_with("whsec_") {
            return Some(entry);
        }
        Some(
            entry
                .split_once('=')
                .map_or(entry, |(_, secret)| secret.trim()),
        )
    }

    fn partoo(&self) -> Option<std::result::Result<SigningKey, ()>> {
        let hex_key = self.first("PARTOO_SIGNING_KEY")?;
        let mut bytes = [0u8; 32];
        Some(match hex::decode_to_slice(hex_key, &mut bytes) {
            Ok(()) => Ok(SigningKey::from_bytes(&bytes)),
            Err(_) => Err(()),
        })
    }
}

/// What a check expects.
#[derive(Clone, Debug, PartialEq)]
pub enum Expect {
    /// Only this status.
    Status(u16),
    /// 200 with exactly this JSON answer.
    Answer(Value),
    /// 200 with a page of conversations.
    Conversations,
}

impl std::fmt::Display for Expect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expect::Status(status) => write!(f, "{status}"),
            Expect::Answer(answer) => write!(f, "200 {answer}"),
            Expect::Conversations => write!(f, "200 {{\"conversations\":[...]}}"),
        }
    }
}

/// What a check does. No `Debug`: a request carries secrets.
pub enum Action {
    Post {
        url: String,
        /// Query parameters (Callbell's token): never printed.
        query: Vec<(String, String)>,
        /// Headers (signatures): never printed.
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        expect: Expect,
    },
    Inbox {
        url: String,
    },
    Skip(String),
}

pub struct Check {
    pub name: String,
    pub action: Action,
}

/// The check table: every check of `endpoints`, signed with `secrets` at Unix time `now`.
pub fn plan(
    endpoints: &Endpoints,
    secrets: &Secrets,
    callbell: CallbellAuth,
    now: i64,
) -> Vec<Check> {
    let mut checks = Vec::new();
    let post =
        |url: &str, headers: Vec<(String, String)>, query, body: &[u8], expect| Action::Post {
            url: url.to_string(),
            query,
            headers,
            body: body.to_vec(),
            expect,
        };
    let header = |name: &str, value: String| vec![(name.to_string(), value)];
    let ignored = |reason: &str| Expect::Answer(json!({"status": "ignored", "reason": reason}));
    for (id, url) in &endpoints.webhooks {
        let function = id.function();
        checks.push(Check {
            name: format!("{function} refuses an unsigned call"),
            action: post(url, vec![], vec![], b"{}", Expect::Status(401)),
        });
        match id {
            ProviderId::TiktokShop => {
                let name = format!("{function} acknowledges a signed event that is not a message");
                let body = br#"{"type":0,"data":{}}"#;
                let action = match secrets.tiktok() {
                    Some((key, secret)) => {
                        let tag = ingest::testkit::hmac_hex(secret.as_bytes(), &[key.as_bytes(), body]);
                        post(url, header("Authorization", tag), vec![], body, ignored("not_a_message_event"))
                    }
                    None => Action::Skip(
                        "no TIKTOK_SHOP_APP_KEY and TIKTOK_SHOP_APP_SECRET, nor TIKTOK_SHOP_APPS, in the secrets".into(),
                    ),
                };
                checks.push(Check { name, action });
            }
            ProviderId::Partoo => {
                let name = format!("{function} acknowledges its tryout");
                let body = b"{}";
                let action = match secrets.partoo() {
                    Some(Ok(key)) => {
                        let signature = base64::engine::general_purpose::STANDARD
                            .encode(key.sign(body).to_bytes());
                        let mut headers = header("X-Partoo-Signature-v1", signature);
                        headers.push(("X-Partoo-Webhook-Tryout".into(), "1".into()));
                        post(url, headers, vec![], body, ignored("tryout"))
                    }
                    Some(Err(())) => Action::Skip(
                        "PARTOO_SIGNING_KEY is not 64 hex digits".into(),
                    ),
                    None => Action::Skip(
                        "no PARTOO_SIGNING_KEY in the secrets (Partoo signs with its own key: send a tryout from Partoo's dashboard)".into(),
                    ),
                };
                checks.push(Check { name, action });
            }
            ProviderId::Callbell => {
                let signing = secrets.callbell("CALLBELL_WEBHOOK_SECRET");
                let token = secrets.callbell("CALLBELL_URL_TOKEN");
                let (by_signature, by_token) = match callbell {
                    CallbellAuth::Auto => (
                        signing.is_some() || token.is_none(),
                        signing.is_none() && token.is_some(),
                    ),
                    CallbellAuth::Signature => (true, false),
                    CallbellAuth::Token => (false, true),
                    CallbellAuth::Both => (true, true),
                };
                let ok = || Expect::Answer(json!({"status": "ok"}));
                let body = b"{}";
                if by_signature {
                    let action = match signing {
                        Some(secret) => {
                            let t = now.to_string();
                            let v1 = ingest::testkit::hmac_hex(
                                secret.as_bytes(),
                                &[t.as_bytes(), b".", body],
                            );
                            post(
                                url,
                                header("X-Callbell-Signature", format!("t={t},v1={v1}")),
                                vec![],
                                body,
                                ok(),
                            )
                        }
                        None => Action::Skip("no CALLBELL_WEBHOOK_SECRET in the secrets".into()),
                    };
                    checks.push(Check {
                        name: format!("{function} answers its connection check (signed)"),
                        action,
                    });
                }
                if by_token {
                    let action = match token {
                        Some(token) => post(
                            url,
                            vec![],
                            vec![("token".into(), token.to_string())],
                            body,
                            ok(),
                        ),
                        None => Action::Skip("no CALLBELL_URL_TOKEN in the secrets".into()),
                    };
                    checks.push(Check {
                        name: format!("{function} answers its connection check (URL token)"),
                        action,
                    });
                }
            }
        }
    }
    if let Some(url) = &endpoints.inbox {
        checks.push(Check {
            name: "inbox answers an authorized request".into(),
            action: Action::Inbox { url: url.clone() },
        });
    }
    checks
}

/// A check's result: what was got, and whether it is what was expected.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Passed(String),
    Failed(String),
    Skipped(String),
}

/// Judges an answer against what was expected.
pub fn judge(expect: &Expect, status: u16, body: &[u8]) -> Verdict {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let got = format!("{status} {}", shown(body));
    let fine = match expect {
        Expect::Status(wanted) => status == *wanted,
        Expect::Answer(answer) => status == 200 && json.as_ref() == Some(answer),
        Expect::Conversations => {
            status == 200 && json.as_ref().is_some_and(|j| j["conversations"].is_array())
        }
    };
    if fine && *expect == Expect::Conversations {
        // Not the page itself: it holds people's names and messages.
        let n = json.map_or(0, |j| j["conversations"].as_array().map_or(0, Vec::len));
        Verdict::Passed(format!("{status}, a page of {n} conversation(s)"))
    } else if fine {
        Verdict::Passed(got)
    } else {
        Verdict::Failed(format!("expected {expect}, got {got}"))
    }
}

/// An answer's body as a line: at most 200 characters.
fn shown(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body).replace(['\n', '\r'], " ");
    let text = text.trim();
    if text.is_empty() {
        return "(empty)".into();
    }
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// One line of the report.
pub fn line(name: &str, verdict: &Verdict) -> String {
    match verdict {
        Verdict::Passed(got) => format!("passed   {name}: {got}"),
        Verdict::Failed(what) => format!("FAILED   {name}: {what}"),
        Verdict::Skipped(why) => format!("skipped  {name}: {why}"),
    }
}

/// POSTs `body` to `url` (with `query` appended) with `headers`.
async fn post(
    url: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    body: &[u8],
) -> Result<(u16, bytes::Bytes)> {
    let mut target = url.to_string();
    if !query.is_empty() {
        let pairs: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{k}={}", inbox::encode(v)))
            .collect();
        target.push(if url.contains('?') { '&' } else { '?' });
        target.push_str(&pairs.join("&"));
    }
    // Errors name `url`, never `target`: its query may carry a token.
    let uri: http::Uri = target
        .parse()
        .map_err(|_| Error::msg(format!("{url}: not a URL")))?;
    let authority = uri
        .authority()
        .ok_or_else(|| Error::msg(format!("{url}: no host")))?
        .clone();
    // Origin-form (the path and query), the host in its header, as a browser or curl sends it.
    let origin = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let mut request = http::Request::post(origin)
        .header("host", authority.as_str())
        .header("content-type", "application/json")
        .header("user-agent", "ingest-dev-smoke");
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let request = request
        .body(Full::new(bytes::Bytes::copy_from_slice(body)))
        .map_err(|_| Error::msg(format!("POST {url}: the request does not build")))?;
    inbox::send(&uri, request).await
}

/// How the inbox request is authorized: a region to sign for (SigV4), or a bearer token.
enum InboxAuth {
    Sign(Option<String>),
    Bearer(String),
}

async fn perform(action: &Action, inbox_auth: &InboxAuth) -> Verdict {
    match action {
        Action::Skip(why) => Verdict::Skipped(why.clone()),
        Action::Post {
            url,
            query,
            headers,
            body,
            expect,
        } => match post(url, query, headers, body).await {
            Ok((status, answer)) => judge(expect, status, &answer),
            Err(e) => Verdict::Failed(format!("expected {expect}, got no answer: {e}")),
        },
        Action::Inbox { url } => {
            let client = match inbox_auth {
                InboxAuth::Sign(region) => inbox::Client::new(url, region.clone()).await,
                InboxAuth::Bearer(token) => inbox::Client::with_bearer(url, token.clone()),
            };
            let answer = match client {
                Ok(client) => client.get("/conversations", &[("limit", "1".into())]).await,
                Err(e) => Err(e),
            };
            match answer {
                Ok(page) => judge(&Expect::Conversations, 200, page.to_string().as_bytes()),
                Err(e) => Verdict::Failed(format!("expected {}, got {e}", Expect::Conversations)),
            }
        }
    }
}

/// Runs every check, printing a line for each and a summary; whether all passed (none failed).
pub async fn run(options: Options) -> Result<bool> {
    let endpoints = match (&options.outputs_file, &options.local) {
        (Some(file), _) => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())
                    .context("reading the outputs from standard input")?
            } else {
                std::fs::read_to_string(file)
                    .with_context(|| format!("reading {}", file.display()))?
            };
            parse_outputs(&text)?
        }
        (None, Some(base)) => local_endpoints(base)?,
        (None, None) => unreachable!("clap requires one"),
    };
    let secrets = match (&options.secrets_file, &options.local) {
        (Some(file), _) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            Secrets::parse(&text)?
        }
        (None, Some(_)) => Secrets::local(),
        (None, None) => Secrets::default(),
    };
    let inbox_auth = match &options.inbox_token_env {
        Some(var) => match std::env::var(var) {
            Ok(token) if !token.trim().is_empty() => InboxAuth::Bearer(token.trim().to_string()),
            _ => return Err(Error::msg(format!("--inbox-token-env: {var} is not set"))),
        },
        None => InboxAuth::Sign(options.region.clone()),
    };
    let mut out = std::io::stdout().lock();
    for (id, url) in &endpoints.webhooks {
        let _ = writeln!(out, "{:<12} {url}", id.function());
    }
    if let Some(url) = &endpoints.inbox {
        let _ = writeln!(out, "{:<12} {url}", "inbox");
    }
    let absent: Vec<&str> = ProviderId::ALL
        .iter()
        .filter(|id| !endpoints.webhooks.iter().any(|(w, _)| w == *id))
        .map(|id| id.function())
        .collect();
    if !absent.is_empty() {
        let _ = writeln!(out, "(not deployed, not checked: {})", absent.join(", "));
    }
    let now = chrono::Utc::now().timestamp();
    let checks = plan(&endpoints, &secrets, options.callbell_auth, now);
    let timeout = Duration::from_secs(options.timeout);
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for check in &checks {
        let verdict = match tokio::time::timeout(timeout, perform(&check.action, &inbox_auth)).await
        {
            Ok(verdict) => verdict,
            Err(_) => Verdict::Failed(format!("no answer within {}s", options.timeout)),
        };
        match verdict {
            Verdict::Passed(_) => passed += 1,
            Verdict::Failed(_) => failed += 1,
            Verdict::Skipped(_) => skipped += 1,
        }
        let _ = writeln!(out, "{}", line(&check.name, &verdict));
        let _ = out.flush();
    }
    let _ = writeln!(
        out,
        "smoke: {passed} passed, {failed} failed, {skipped} skipped"
    );
    Ok(failed == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = include_str!("../../template.yaml");

    fn describe_stacks(outputs: &[(&str, &str)]) -> String {
        let outputs: Vec<Value> = outputs
            .iter()
            .map(|(k, v)| json!({"OutputKey": k, "OutputValue": v, "Description": "d"}))
            .collect();
        json!({"Stacks": [{"StackName": "ingest", "StackStatus": "CREATE_COMPLETE", "Outputs": outputs}]})
            .to_string()
    }

    #[test]
    fn the_outputs_read_are_the_templates() {
        let outputs = TEMPLATE
            .split_once("\nOutputs:")
            .expect("template.yaml has Outputs")
            .1;
        for id in ProviderId::ALL {
            let key = webhook_output(*id);
            assert!(outputs.contains(&format!("\n  {key}:\n")), "{key}");
        }
        assert!(outputs.contains(&format!("\n  {INBOX_OUTPUT}:\n")));
    }

    #[test]
    fn outputs_name_what_is_deployed() {
        let base = "https://abc.execute-api.eu-west-3.amazonaws.com";
        let partoo = format!("{base}/webhooks/partoo");
        let all = describe_stacks(&[
            (
                "TikTokShopWebhookUrl",
                &format!("{base}/webhooks/tiktok-shop"),
            ),
            ("PartooWebhookUrl", &partoo),
            ("CallbellWebhookUrl", &format!("{base}/webhooks/callbell")),
            ("MessagesTableName", "t"),
            ("InboxUrl", base),
        ]);
        let endpoints = parse_outputs(&all).unwrap();
        assert_eq!(
            endpoints
                .webhooks
                .iter()
                .map(|(id, _)| *id)
                .collect::<Vec<_>>(),
            ProviderId::ALL
        );
        assert_eq!(endpoints.inbox.as_deref(), Some(base));
        // Only Partoo deployed, no inbox; the bare Outputs list (--query Stacks[0].Outputs).
        let only = describe_stacks(&[("PartooWebhookUrl", &partoo), ("MessagesTableName", "t")]);
        let list =
            serde_json::from_str::<Value>(&only).unwrap()["Stacks"][0]["Outputs"].to_string();
        for text in [only, list] {
            assert_eq!(
                parse_outputs(&text).unwrap(),
                Endpoints {
                    webhooks: vec![(ProviderId::Partoo, partoo.clone())],
                    inbox: None
                }
            );
        }
        // Nothing to check, several stacks, not JSON.
        let none = describe_stacks(&[("MessagesTableName", "t")]);
        assert!(parse_outputs(&none)
            .unwrap_err()
            .to_string()
            .contains("no webhook URL"));
        let two = json!({"Stacks": [{"StackName": "a"}, {"StackName": "b"}]}).to_string();
        assert!(parse_outputs(&two)
            .unwrap_err()
            .to_string()
            .contains("2 stacks (a, b)"));
        assert!(parse_outputs("nope").is_err());
        assert!(parse_outputs("{}").is_err());
    }

    #[test]
    fn a_local_run_is_every_function_on_loopback() {
        let endpoints = local_endpoints("http://127.0.0.1:9000/").unwrap();
        assert_eq!(
            endpoints.webhooks,
            vec![
                (
                    ProviderId::TiktokShop,
                    "http://127.0.0.1:9000/lambda-url/tiktok-shop/".into()
                ),
                (
                    ProviderId::Partoo,
                    "http://127.0.0.1:9000/lambda-url/partoo/".into()
                ),
                (
                    ProviderId::Callbell,
                    "http://127.0.0.1:9000/lambda-url/callbell/".into()
                ),
            ]
        );
        assert_eq!(
            endpoints.inbox.as_deref(),
            Some("http://127.0.0.1:9000/lambda-url/inbox")
        );
        for refused in [
            "https://127.0.0.1:9000",
            "http://example.com:9000",
            "127.0.0.1:9000",
        ] {
            assert!(local_endpoints(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn secrets_as_the_stack_holds_them_or_as_local_env() {
        let json = Secrets::parse(
            r#"{"TIKTOK_SHOP_APP_KEY": "k", "TIKTOK_SHOP_APP_SECRET": "s-new, s-old",
                "CALLBELL_WEBHOOK_SECRET": "whsec_YQ==,brand=whsec_Yg==",
                "CALLBELL_URL_TOKEN": "brand-c=tok"}"#,
        )
        .unwrap();
        assert_eq!(json.tiktok(), Some(("k", "s-new")));
        assert_eq!(json.callbell("CALLBELL_WEBHOOK_SECRET"), Some("whsec_YQ=="));
        assert_eq!(json.callbell("CALLBELL_URL_TOKEN"), Some("tok"));
        assert!(json.partoo().is_none());
        let apps = Secrets::parse("TIKTOK_SHOP_APPS=k2:s2,k3:s3\n").unwrap();
        assert_eq!(apps.tiktok(), Some(("k2", "s2")));
        let named = Secrets::parse("CALLBELL_WEBHOOK_SECRET=\"brand-a=whsec_Yw==\"").unwrap();
        assert_eq!(
            named.callbell("CALLBELL_WEBHOOK_SECRET"),
            Some("whsec_Yw==")
        );
        // An error names the key, never the value.
        let err = Secrets::parse(r#"{"CALLBELL_URL_TOKEN": 12345678}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("CALLBELL_URL_TOKEN") && !err.contains("12345678"),
            "{err}"
        );
        // local.env's, with the Partoo key local.env's PARTOO_PUBLIC_KEYS lists.
        let local = Secrets::local();
        let key = local.partoo().unwrap().unwrap();
        let public = hex::encode(key.verifying_key().to_bytes());
        assert!(ingest::testkit::local("PARTOO_PUBLIC_KEYS").contains(&public));
        assert!(local.tiktok().is_some() && local.callbell("CALLBELL_URL_TOKEN").is_some());
    }

    fn names(checks: &[Check]) -> Vec<(&str, Option<&Expect>)> {
        checks
            .iter()
            .map(|c| {
                let expect = match &c.action {
                    Action::Post { expect, .. } => Some(expect),
                    _ => None,
                };
                (c.name.as_str(), expect)
            })
            .collect()
    }

    #[test]
    fn the_check_table() {
        let endpoints = local_endpoints("http://127.0.0.1:9000").unwrap();
        let checks = plan(
            &endpoints,
            &Secrets::local(),
            CallbellAuth::Auto,
            1_767_225_600,
        );
        let ignored = |r: &str| Expect::Answer(json!({"status": "ignored", "reason": r}));
        let ok = Expect::Answer(json!({"status": "ok"}));
        assert_eq!(
            names(&checks),
            vec![
                (
                    "tiktok-shop refuses an unsigned call",
                    Some(&Expect::Status(401))
                ),
                (
                    "tiktok-shop acknowledges a signed event that is not a message",
                    Some(&ignored("not_a_message_event"))
                ),
                (
                    "partoo refuses an unsigned call",
                    Some(&Expect::Status(401))
                ),
                ("partoo acknowledges its tryout", Some(&ignored("tryout"))),
                (
                    "callbell refuses an unsigned call",
                    Some(&Expect::Status(401))
                ),
                ("callbell answers its connection check (signed)", Some(&ok)),
                ("inbox answers an authorized request", None),
            ]
        );
        // The unsigned calls carry nothing; the signed ones the provider's header.
        let credentials: Vec<(Vec<&str>, usize)> = checks
            .iter()
            .filter_map(|c| match &c.action {
                Action::Post { headers, query, .. } => Some((
                    headers.iter().map(|(k, _)| k.as_str()).collect(),
                    query.len(),
                )),
                _ => None,
            })
            .collect();
        assert_eq!(
            credentials,
            vec![
                (vec![], 0),
                (vec!["Authorization"], 0),
                (vec![], 0),
                (vec!["X-Partoo-Signature-v1", "X-Partoo-Webhook-Tryout"], 0),
                (vec![], 0),
                (vec!["X-Callbell-Signature"], 0),
            ]
        );

        // A stack with only Callbell, by token; no secrets for what it does not say.
        let endpoints = Endpoints {
            webhooks: vec![(ProviderId::Callbell, "https://x/webhooks/callbell".into())],
            inbox: None,
        };
        let tokens = Secrets::parse("CALLBELL_URL_TOKEN=t1").unwrap();
        let checks = plan(&endpoints, &tokens, CallbellAuth::Auto, 0);
        assert_eq!(
            names(&checks),
            vec![
                (
                    "callbell refuses an unsigned call",
                    Some(&Expect::Status(401))
                ),
                (
                    "callbell answers its connection check (URL token)",
                    Some(&ok)
                ),
            ]
        );
        let checks = plan(&endpoints, &tokens, CallbellAuth::Both, 0);
        assert!(
            matches!(&checks[1].action, Action::Skip(why) if why.contains("CALLBELL_WEBHOOK_SECRET"))
        );
        assert!(
            matches!(&checks[2].action, Action::Post { query, .. } if query == &[("token".to_string(), "t1".to_string())])
        );

        // Without secrets, the signed checks are skipped, saying which key is missing.
        let checks = plan(
            &local_endpoints("http://127.0.0.1:1").unwrap(),
            &Secrets::default(),
            CallbellAuth::Auto,
            0,
        );
        let skipped: Vec<&str> = checks
            .iter()
            .filter_map(|c| match &c.action {
                Action::Skip(why) => Some(why.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(skipped.len(), 3, "{skipped:?}");
        assert!(skipped[1].contains("PARTOO_SIGNING_KEY"));
    }

    #[test]
    fn the_signatures_verify_as_the_functions_verify_them() {
        // Through the functions' own verification: the local settings accept what smoke signs.
        let endpoints = local_endpoints("http://127.0.0.1:9000").unwrap();
        let now = ingest::testkit::NOW;
        for check in plan(&endpoints, &Secrets::local(), CallbellAuth::Both, now) {
            let Action::Post {
                url,
                query,
                headers,
                body,
                expect,
            } = &check.action
            else {
                continue;
            };
            let id = endpoints.webhooks.iter().find(|(_, u)| u == url).unwrap().0;
            let credentials = ingest::testkit::Credentials {
                headers: headers.clone(),
                query: query.clone(),
            };
            let answer = id.visit(Judge {
                body: body.clone(),
                credentials,
            });
            let verdict = judge(expect, answer.0, &answer.1);
            assert!(
                matches!(verdict, Verdict::Passed(_)),
                "{}: {verdict:?}",
                check.name
            );
        }
    }

    struct Judge {
        body: Vec<u8>,
        credentials: ingest::testkit::Credentials,
    }

    impl ingest::providers::ProviderVisitor for Judge {
        type Output = (u16, Vec<u8>);
        fn visit<P: ingest::Provider>(self) -> (u16, Vec<u8>) {
            let handler =
                ingest::testkit::handler::<P, _>(ingest::testkit::MemoryStore::default(), "t");
            let format = ingest::testkit::events::Format::HttpApiV2;
            let event = ingest::testkit::events::event(
                format,
                P::FUNCTION,
                &self.credentials,
                &self.body,
                false,
            );
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let response = runtime.block_on(handler.handle_event(&event));
            (response.status_code, response.body.into_bytes())
        }
    }

    /// A one-request HTTP server on loopback answering `answer`; the request it got.
    fn answer_once(answer: &'static str) -> (String, std::thread::JoinHandle<String>) {
        use std::io::{Read as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let served = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            let mut buffer = [0u8; 4096];
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut buffer).unwrap();
                got.extend_from_slice(&buffer[..n]);
            }
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
            stream.write_all(response.as_bytes()).unwrap();
            String::from_utf8_lossy(&got).to_lowercase()
        });
        (base, served)
    }

    #[tokio::test]
    async fn requests_as_sent() {
        // The inbox with a bearer token, over loopback.
        let (base, served) = answer_once(r#"{"conversations":[]}"#);
        let action = Action::Inbox {
            url: format!("{base}/lambda-url/inbox"),
        };
        let verdict = perform(&action, &InboxAuth::Bearer("t0ken".into())).await;
        assert!(matches!(verdict, Verdict::Passed(_)), "{verdict:?}");
        let request = served.join().unwrap();
        assert!(
            request.starts_with("get ")
                && request.contains("/lambda-url/inbox/conversations?limit=1 http/1.1\r\n"),
            "{request}"
        );
        assert!(request.contains("authorization: bearer t0ken"), "{request}");
        // A Callbell check by token: the token in the query, encoded.
        let (base, served) = answer_once(r#"{"status":"ok"}"#);
        let endpoints = Endpoints {
            webhooks: vec![(ProviderId::Callbell, format!("{base}/webhooks/callbell"))],
            inbox: None,
        };
        let secrets = Secrets::parse("CALLBELL_URL_TOKEN=a b").unwrap();
        let checks = plan(&endpoints, &secrets, CallbellAuth::Token, 0);
        let verdict = perform(&checks[1].action, &InboxAuth::Sign(None)).await;
        assert!(matches!(verdict, Verdict::Passed(_)), "{verdict:?}");
        let request = served.join().unwrap();
        assert!(
            request.starts_with("post /webhooks/callbell?token=a%20b "),
            "{request}"
        );
        assert!(request.contains("content-length: 2\r\n"), "{request}");
    }

    #[test]
    fn verdicts_and_lines() {
        let ok = Expect::Answer(json!({"status": "ok"}));
        assert_eq!(
            judge(&ok, 200, br#"{"status":"ok"}"#),
            Verdict::Passed(r#"200 {"status":"ok"}"#.into())
        );
        assert_eq!(
            judge(&ok, 401, br#"{"error":"unauthorized"}"#),
            Verdict::Failed(
                r#"expected 200 {"status":"ok"}, got 401 {"error":"unauthorized"}"#.into()
            )
        );
        assert!(matches!(
            judge(&ok, 200, br#"{"status":"ignored"}"#),
            Verdict::Failed(_)
        ));
        assert!(
            matches!(judge(&Expect::Status(401), 401, b""), Verdict::Passed(got) if got == "401 (empty)")
        );
        assert!(matches!(
            judge(&Expect::Status(401), 200, b"{}"),
            Verdict::Failed(_)
        ));
        assert!(matches!(
            judge(&Expect::Conversations, 200, br#"{"conversations":[]}"#),
            Verdict::Passed(_)
        ));
        assert!(matches!(
            judge(&Expect::Conversations, 200, br#"{"items":[]}"#),
            Verdict::Failed(_)
        ));
        let long = "x".repeat(500);
        let Verdict::Failed(what) = judge(&Expect::Status(401), 500, long.as_bytes()) else {
            panic!()
        };
        assert!(what.chars().count() < 260, "{what}");
        assert_eq!(
            line(
                "partoo acknowledges its tryout",
                &Verdict::Failed("expected 200, got 401".into())
            ),
            "FAILED   partoo acknowledges its tryout: expected 200, got 401"
        );
    }
}
