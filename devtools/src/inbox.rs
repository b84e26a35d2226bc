//! `ingest-dev inbox`: the read API for people — conversations and messages printed as lines
//! of text, read through the API (never the table): locally from `cargo lambda watch`, plainly
//! over loopback; from a deployed stack over HTTPS, SigV4-signed (service `execute-api`) with the
//! caller's AWS credentials (aws-config's whole chain: environment, profile, SSO).

use std::time::SystemTime;

use aws_sdk_dynamodb::config::ProvideCredentials as _;
use clap::{Args, Subcommand};
use http_body_util::{BodyExt as _, Full};
use serde_json::Value;

use crate::error::{Error, Result};

/// The local inbox, as `scripts/run-local.sh` and `cargo lambda watch` serve it.
pub const LOCAL_URL: &str = "http://127.0.0.1:9000/lambda-url/inbox";

#[derive(Debug, Args)]
pub struct Options {
    /// The read API's base URL: locally the function URL of cargo lambda watch; deployed, the
    /// stack's InboxUrl output (then requests are SigV4-signed)
    #[arg(long, value_name = "URL", default_value = LOCAL_URL)]
    pub url: String,
    /// The region to sign for (default: the AWS configuration's, else the URL's)
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    #[command(subcommand)]
    pub read: Read,
}

#[derive(Debug, Subcommand)]
pub enum Read {
    /// List conversations, newest activity first
    #[command(verbatim_doc_comment)]
    Conversations {
        /// Only this provider's (tiktok_shop, partoo, callbell)
        #[arg(long, value_name = "PROVIDER")]
        provider: Option<String>,
        /// Only this account's (a shop id, a Partoo org id)
        #[arg(long, value_name = "ID")]
        account_id: Option<String>,
        /// Only this channel's (whatsapp, instagram, tiktok_shop, ...)
        #[arg(long, value_name = "CHANNEL")]
        channel: Option<String>,
        /// Only those whose last message is the customer's
        #[arg(long)]
        awaiting_reply: bool,
        /// How many to print at most (pages are followed until then)
        #[arg(long, value_name = "N", default_value_t = 25)]
        limit: usize,
    },
    /// Print one conversation's messages, oldest first
    #[command(verbatim_doc_comment)]
    Messages {
        /// The provider value (tiktok_shop, partoo, callbell)
        provider: String,
        /// The conversation id, as the provider gives it
        #[arg(allow_hyphen_values = true)]
        conversation_id: String,
        /// newest first instead
        #[arg(long)]
        newest_first: bool,
        /// How many to print at most (pages are followed until then)
        #[arg(long, value_name = "N", default_value_t = 200)]
        limit: usize,
    },
    /// List a customer's conversations on every provider, by phone number or address
    #[command(verbatim_doc_comment)]
    Customers {
        /// The phone number (compared by its digits)
        #[arg(
            long,
            value_name = "PHONE",
            conflicts_with = "email",
            required_unless_present = "email"
        )]
        phone: Option<String>,
        /// The address (compared without case)
        #[arg(long, value_name = "EMAIL")]
        email: Option<String>,
    },
}

pub async fn run(options: Options) -> Result<()> {
    let client = Client::new(&options.url, options.region.clone()).await?;
    match options.read {
        Read::Conversations {
            provider,
            account_id,
            channel,
            awaiting_reply,
            limit,
        } => {
            let mut query: Vec<(&str, String)> = Vec::new();
            for (name, value) in [
                ("provider", provider),
                ("account_id", account_id),
                ("channel", channel),
            ] {
                if let Some(value) = value {
                    query.push((name, value));
                }
            }
            if awaiting_reply {
                query.push(("awaiting_reply", "true".into()));
            }
            let (conversations, more) = client
                .walk("/conversations", &query, "conversations", limit)
                .await?;
            print_conversations(&conversations, more);
        }
        Read::Messages {
            provider,
            conversation_id,
            newest_first,
            limit,
        } => {
            let path = format!(
                "/conversations/{}/{}/messages",
                encode(&provider),
                encode(&conversation_id)
            );
            let order = if newest_first { "desc" } else { "asc" };
            let (messages, more) = client
                .walk(&path, &[("order", order.to_string())], "messages", limit)
                .await?;
            println!("{provider}/{conversation_id}: {} messages", messages.len());
            for message in &messages {
                println!("{}", message_line(message));
            }
            if more {
                println!("(more: --limit {})", limit * 2);
            }
        }
        Read::Customers { phone, email } => {
            let query = match (phone, email) {
                (Some(phone), _) => vec![("phone", phone)],
                (None, Some(email)) => vec![("email", email)],
                (None, None) => unreachable!("clap requires one"),
            };
            let page = client.get("/customers", &query).await?;
            let conversations = page["conversations"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            print_conversations(&conversations, false);
        }
    }
    Ok(())
}

fn print_conversations(conversations: &[Value], more: bool) {
    println!(
        "{} conversations, newest activity first",
        conversations.len()
    );
    for conversation in conversations {
        println!("{}", conversation_line(conversation));
    }
    if more {
        println!("(more: raise --limit)");
    }
}

/// One conversation as a line: when, which, whether it waits for a reply, who, what was said.
pub fn conversation_line(summary: &Value) -> String {
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    let contact = &summary["contact"];
    let who = contact["name"]
        .as_str()
        .or(contact["phone"].as_str())
        .or(contact["email"].as_str())
        .unwrap_or("?");
    let last = &summary["last_message"];
    format!(
        "{}  {}/{}  {}{}  {} {}",
        text(&summary["last_activity_at"]),
        text(&summary["provider"]),
        text(&summary["conversation_id"]),
        who,
        if summary["awaiting_reply"] == Value::Bool(true) {
            "  [awaiting reply]"
        } else {
            ""
        },
        arrow(last["direction"].as_str()),
        said(last),
    )
}

/// One message as a line: when, which way, who, what.
pub fn message_line(message: &Value) -> String {
    let sender = &message["sender"];
    let who = match (sender["role"].as_str(), sender["name"].as_str()) {
        (Some(role), Some(name)) => format!("{role} {name}"),
        (Some(role), None) => role.to_string(),
        _ => "?".to_string(),
    };
    let attachments = message["attachments"].as_array().map_or(0, Vec::len);
    let mut line = format!(
        "  {}  {} {:<16} {}",
        message["created_at"].as_str().unwrap_or(""),
        arrow(message["direction"].as_str()),
        who,
        said(message)
    );
    if attachments > 0 {
        let stored = message["attachments"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a.get("download_url").is_some())
            .count();
        line.push_str(&format!("  ({attachments} attachment(s), {stored} copied)"));
    }
    if message["deleted"] == Value::Bool(true) {
        line.push_str("  (deleted)");
    }
    line
}

fn arrow(direction: Option<&str>) -> &'static str {
    match direction {
        // As the timeline draws them: → from the customer, ← to the customer.
        Some("inbound") => "→",
        Some("outbound") => "←",
        _ => "·",
    }
}

/// The text of a message (or a summary's last message), or its kind in brackets.
fn said(message: &Value) -> String {
    match message["text"].as_str() {
        Some(text) => text.replace('\n', " "),
        None => format!("[{}]", message["kind"].as_str().unwrap_or("?")),
    }
}

/// Percent-encodes a path segment or query value (RFC 3986 unreserved characters stay).
pub(crate) fn encode(text: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(text, SET).to_string()
}

/// A client of the read API at one base URL (`ingest-dev inbox`, `ingest-dev smoke`).
pub(crate) struct Client {
    base: http::Uri,
    /// The credentials and region to sign with; `None` over loopback (cargo lambda watch).
    signing: Option<(aws_smithy_runtime_api::client::identity::Identity, String)>,
    /// A bearer JWT instead (a stack with InboxJwtIssuer: `ingest-dev smoke --inbox-token-env`).
    bearer: Option<String>,
}

/// Whether a host is this machine: a local run, which is not signed.
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The region in an execute-api host name (`<id>.execute-api.<region>.amazonaws.com`).
pub fn region_of_host(host: &str) -> Option<String> {
    let mut labels = host.split('.');
    labels.find(|l| *l == "execute-api")?;
    labels.next().map(str::to_string)
}

impl Client {
    pub(crate) async fn new(url: &str, region: Option<String>) -> Result<Self> {
        let base: http::Uri = url
            .trim_end_matches('/')
            .parse()
            .map_err(|e| Error::msg(format!("--url {url:?}: {e}")))?;
        let host = base
            .host()
            .ok_or_else(|| Error::msg(format!("--url {url:?} has no host")))?;
        let signing = if is_loopback(host) {
            None
        } else {
            if base.scheme_str() != Some("https") {
                return Err(Error::msg(format!(
                    "--url {url:?}: a deployed inbox is reached over https"
                )));
            }
            let config = crate::sdk_config().await;
            let credentials = config
                .credentials_provider()
                .ok_or_else(|| Error::msg("no AWS credentials to sign with"))?
                .provide_credentials()
                .await
                .map_err(|e| Error::msg(format!("AWS credentials: {e}")))?;
            let region = region
                .or_else(|| config.region().map(|r| r.to_string()))
                .or_else(|| region_of_host(host))
                .ok_or_else(|| Error::msg("no region to sign for: give --region"))?;
            Some((credentials.into(), region))
        };
        Ok(Client {
            base,
            signing,
            bearer: None,
        })
    }

    /// A client that sends `token` as a bearer JWT rather than signing (https, or loopback).
    pub(crate) fn with_bearer(url: &str, token: String) -> Result<Self> {
        let base: http::Uri = url
            .trim_end_matches('/')
            .parse()
            .map_err(|e| Error::msg(format!("{url:?}: {e}")))?;
        let loopback = base.host().is_some_and(is_loopback);
        if base.scheme_str() != Some("https") && !loopback {
            return Err(Error::msg(format!(
                "{url:?}: a deployed inbox is reached over https"
            )));
        }
        Ok(Client {
            base,
            signing: None,
            bearer: Some(token),
        })
    }

    /// Pages of `path` until `limit` entries under `member` or the end; whether more remain.
    async fn walk(
        &self,
        path: &str,
        query: &[(&str, String)],
        member: &str,
        limit: usize,
    ) -> Result<(Vec<Value>, bool)> {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut with = query.to_vec();
            with.push(("limit", (limit - seen.len()).clamp(1, 100).to_string()));
            if let Some(cursor) = cursor.take() {
                with.push(("cursor", cursor));
            }
            let page = self.get(path, &with).await?;
            seen.extend(page[member].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(next) if seen.len() < limit => cursor = Some(next.to_string()),
                Some(_) => return Ok((seen, true)),
                None => return Ok((seen, false)),
            }
        }
    }

    /// GET `path?query` below the base URL: the JSON answer, or the API's error.
    pub(crate) async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value> {
        let query: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        let mut target = format!("{}{path}", self.base.path().trim_end_matches('/'));
        if !query.is_empty() {
            target = format!("{target}?{}", query.join("&"));
        }
        let authority = self.base.authority().expect("checked: a host").clone();
        let uri: http::Uri = format!(
            "{}://{authority}{target}",
            self.base.scheme_str().unwrap_or("http")
        )
        .parse()
        .map_err(|e| Error::msg(format!("{target}: {e}")))?;
        let mut request = http::Request::get(uri.clone())
            .header("host", authority.as_str())
            .header("accept", "application/json")
            .body(Full::new(bytes::Bytes::new()))
            .expect("a GET request builds");
        if let Some((identity, region)) = &self.signing {
            sign(&mut request, identity, region)?;
        }
        if let Some(token) = &self.bearer {
            let value = http::HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| Error::msg("the bearer token is not a header value"))?;
            request
                .headers_mut()
                .insert(http::header::AUTHORIZATION, value);
        }
        let (status, body) = send(&uri, request).await?;
        let value: Value = serde_json::from_slice(&body).map_err(|_| {
            Error::msg(format!(
                "GET {target}: {status}, not JSON: {}",
                String::from_utf8_lossy(&body)
            ))
        })?;
        if status != 200 {
            return Err(Error::msg(format!("GET {target}: {status} {value}")));
        }
        Ok(value)
    }
}

/// Signs `request` with SigV4 for `execute-api` in `region`.
fn sign(
    request: &mut http::Request<Full<bytes::Bytes>>,
    identity: &aws_smithy_runtime_api::client::identity::Identity,
    region: &str,
) -> Result<()> {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(identity)
        .region(region)
        .name("execute-api")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| Error::msg(format!("signing: {e}")))?
        .into();
    let uri = request.uri().to_string();
    let headers = request
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str(), v.to_str().unwrap_or("")));
    let signable = SignableRequest::new("GET", &uri, headers, SignableBody::Bytes(&[]))
        .map_err(|e| Error::msg(format!("signing: {e}")))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| Error::msg(format!("signing: {e}")))?
        .into_parts();
    instructions.apply_to_request_http1x(request);
    Ok(())
}

/// Sends `request` to `uri`'s host over HTTP/1.1 — TLS with the system's roots for https. An
/// error names the method and the URL without its query (which may carry a token).
pub(crate) async fn send(
    uri: &http::Uri,
    request: http::Request<Full<bytes::Bytes>>,
) -> Result<(u16, bytes::Bytes)> {
    let host = uri
        .host()
        .unwrap_or("")
        .trim_start_matches('[')
        .trim_end_matches(']');
    let https = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let tcp = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| Error::msg(format!("connecting to {host}:{port}: {e}")))?;
    let method = request.method().clone();
    let shown = format!(
        "{}://{}{}",
        uri.scheme_str().unwrap_or("http"),
        uri.authority().map_or("", |a| a.as_str()),
        uri.path()
    );
    let failed = |e: &dyn std::fmt::Display| Error::msg(format!("{method} {shown}: {e}"));
    let response = if https {
        let mut roots = rustls::RootCertStore::empty();
        for certificate in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(certificate);
        }
        let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| failed(&e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let name =
            rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| failed(&e))?;
        let stream = tokio_rustls::TlsConnector::from(std::sync::Arc::new(tls))
            .connect(name, tcp)
            .await
            .map_err(|e| failed(&e))?;
        exchange(hyper_util::rt::TokioIo::new(stream), request).await
    } else {
        exchange(hyper_util::rt::TokioIo::new(tcp), request).await
    }
    .map_err(|e| failed(&e))?;
    Ok(response)
}

async fn exchange<S>(
    io: S,
    request: http::Request<Full<bytes::Bytes>>,
) -> std::result::Result<(u16, bytes::Bytes), hyper::Error>
where
    S: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(connection);
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn local_runs_are_plain_deployed_stacks_signed() {
        for local in [
            "127.0.0.1",
            "localhost",
            "[::1]",
            "inbox.localhost",
            "127.0.0.2",
        ] {
            assert!(is_loopback(local), "{local}");
        }
        for remote in [
            "abc123.execute-api.eu-west-3.amazonaws.com",
            "10.0.0.1",
            "example.com",
        ] {
            assert!(!is_loopback(remote), "{remote}");
        }
        assert_eq!(
            region_of_host("abc123.execute-api.eu-west-3.amazonaws.com").as_deref(),
            Some("eu-west-3")
        );
        assert_eq!(region_of_host("example.com"), None);
        assert_eq!(encode("a/b c+é"), "a%2Fb%20c%2B%C3%A9");
    }

    #[test]
    fn a_signed_request_carries_sigv4_for_execute_api() {
        let identity: aws_smithy_runtime_api::client::identity::Identity =
            aws_sdk_dynamodb::config::Credentials::new("AKIDEXAMPLE", "secret", None, None, "t")
                .into();
        let mut request = http::Request::get(
            "https://abc123.execute-api.eu-west-3.amazonaws.com/conversations?limit=5",
        )
        .header("host", "abc123.execute-api.eu-west-3.amazonaws.com")
        .body(Full::new(bytes::Bytes::new()))
        .unwrap();
        sign(&mut request, &identity, "eu-west-3").unwrap();
        let authorization = request.headers()["authorization"].to_str().unwrap();
        assert!(authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"));
        assert!(authorization.contains("/eu-west-3/execute-api/aws4_request"));
        assert!(authorization.contains("SignedHeaders=") && authorization.contains("host"));
        assert!(request.headers().contains_key("x-amz-date"));
    }

    #[test]
    fn lines_for_people() {
        let summary = json!({
            "provider": "partoo", "conversation_id": "42", "contact": {"name": "Jane"},
            "last_activity_at": "2024-05-01T10:00:02.123Z", "awaiting_reply": true,
            "last_message": {"direction": "inbound", "kind": "text", "text": "hello\nthere"}
        });
        assert_eq!(
            conversation_line(&summary),
            "2024-05-01T10:00:02.123Z  partoo/42  Jane  [awaiting reply]  → hello there"
        );
        let message = json!({
            "created_at": "2024-05-01T10:00:03.000Z", "direction": "outbound",
            "sender": {"role": "agent", "name": "Bob"}, "kind": "image",
            "attachments": [{"url": "u", "download_url": "d"}, {"url": "v"}]
        });
        assert_eq!(
            message_line(&message),
            "  2024-05-01T10:00:03.000Z  ← agent Bob        [image]  (2 attachment(s), 1 copied)"
        );
    }
}
