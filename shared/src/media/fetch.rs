//! Fetching a provider's media URL, safely.
//!
//! The client is hyper's HTTP/1.1 client connection, driven by hand over a socket this module
//! opens itself: for every URL (the first and each redirect) it checks the scheme and the host
//! against the settings, resolves the host, checks every address it got against the
//! [`AddressPolicy`], and connects to one of those checked addresses, never to the name again.
//! So what is checked is what is connected to: there is no second lookup for DNS rebinding to
//! slip through. TLS (rustls on *ring*, the system's root certificates) verifies the
//! certificate against the URL's host name.
//!
//! Only plain `GET`s are sent, with no body, cookie or credential; a redirect (301, 302, 303,
//! 307, 308; at most [`MAX_REDIRECTS`]) is a new `GET` checked from scratch. Names under
//! `localhost` resolve to loopback without any lookup (RFC 6761), and IP literals are not
//! looked up either, so refusing them costs no DNS query.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::address::{classify, AddressPolicy};
use super::settings::{AllowHosts, MediaSettings, Timeouts};
use super::url::MediaUrl;

/// Redirects followed at most; one more is `refused`.
pub const MAX_REDIRECTS: usize = 3;

const USER_AGENT: &str = concat!("message-ingest-media/", env!("CARGO_PKG_VERSION"));

/// Why a fetch did not give a body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchError {
    /// The URL, its scheme, host or address is not one the function fetches from (for good).
    Refused(String),
    /// The server answered 404 or 410 (for good).
    Gone(u16),
    /// The server announced a body larger than the cap (for good).
    TooLarge(u64),
    /// Anything that may pass: a timeout, a connection failure, a 5xx or another status.
    Transient(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Refused(why) => write!(f, "refused: {why}"),
            FetchError::Gone(status) => write!(f, "gone: HTTP {status}"),
            FetchError::TooLarge(size) => write!(f, "too large: {size} bytes announced"),
            FetchError::Transient(why) => write!(f, "failed: {why}"),
        }
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Turns a host name into socket addresses. The function uses the system's resolver; tests
/// give their own, which answers for their names only and never asks DNS.
pub trait Resolve: Send + Sync + 'static {
    fn resolve(&self, host: &str, port: u16) -> BoxFuture<io::Result<Vec<SocketAddr>>>;
}

/// The system resolver (getaddrinfo, on tokio's blocking pool).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, host: &str, port: u16) -> BoxFuture<io::Result<Vec<SocketAddr>>> {
        let host = host.to_string();
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), port))
                .await?
                .collect())
        })
    }
}

/// What a fetcher enforces.
#[derive(Clone, Debug)]
pub struct FetchRules {
    pub policy: AddressPolicy,
    pub allow_hosts: AllowHosts,
    /// Fixed answers for host names (`MEDIA_CONNECT_TO`), still checked like any answer.
    pub connect_to: Vec<(String, SocketAddr)>,
    pub max_bytes: u64,
    pub timeouts: Timeouts,
}

impl FetchRules {
    pub fn from_settings(settings: &MediaSettings) -> Self {
        FetchRules {
            policy: if settings.allow_private_networks {
                AddressPolicy::private_networks()
            } else {
                AddressPolicy::production()
            },
            allow_hosts: settings.allow_hosts.clone(),
            connect_to: settings.connect_to.clone(),
            max_bytes: settings.max_bytes,
            timeouts: settings.timeouts,
        }
    }
}

/// Fetches media URLs by the rules above.
#[derive(Clone)]
pub struct Fetcher {
    rules: FetchRules,
    resolver: Arc<dyn Resolve>,
    tls: Arc<OnceLock<Arc<rustls::ClientConfig>>>,
}

/// A successful answer: its head, and the body still to be read.
pub struct MediaResponse {
    /// The URL that answered (after redirects).
    pub url: MediaUrl,
    pub content_type: Option<String>,
    pub content_length: Option<u64>,
    body: Incoming,
    read_timeout: Duration,
}

impl MediaResponse {
    /// The next piece of the body; `None` at its end. Each piece must come within the read
    /// timeout.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, FetchError> {
        loop {
            let frame = tokio::time::timeout(self.read_timeout, self.body.frame())
                .await
                .map_err(|_| FetchError::Transient("timed out reading the body".into()))?;
            match frame {
                None => return Ok(None),
                Some(Err(e)) => {
                    return Err(FetchError::Transient(format!("reading the body: {e}")))
                }
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        if !data.is_empty() {
                            return Ok(Some(data));
                        }
                    }
                }
            }
        }
    }
}

impl Fetcher {
    /// The function's fetcher: the system resolver and root certificates.
    pub fn new(rules: FetchRules) -> Self {
        Fetcher {
            rules,
            resolver: Arc::new(SystemResolver),
            tls: Arc::new(OnceLock::new()),
        }
    }

    /// A fetcher with its own resolver and TLS settings (tests: loopback answers, a test CA).
    pub fn with_parts(
        rules: FetchRules,
        resolver: Arc<dyn Resolve>,
        tls: Arc<rustls::ClientConfig>,
    ) -> Self {
        let cell = OnceLock::new();
        let _ = cell.set(tls);
        Fetcher {
            rules,
            resolver,
            tls: Arc::new(cell),
        }
    }

    pub fn rules(&self) -> &FetchRules {
        &self.rules
    }

    /// GETs `url`, following redirects, and returns the head of a 2xx answer.
    pub async fn get(&self, url: &str) -> Result<MediaResponse, FetchError> {
        let mut url = MediaUrl::parse(url).map_err(|e| FetchError::Refused(e.to_string()))?;
        for redirects in 0..=MAX_REDIRECTS {
            let response = self.request(&url).await?;
            let status = response.status().as_u16();
            match status {
                200..=299 => {
                    let content_length = header(&response, http::header::CONTENT_LENGTH)
                        .and_then(|v| v.trim().parse::<u64>().ok());
                    if let Some(length) = content_length.filter(|l| *l > self.rules.max_bytes) {
                        return Err(FetchError::TooLarge(length));
                    }
                    return Ok(MediaResponse {
                        content_type: header(&response, http::header::CONTENT_TYPE)
                            .map(|v| v.trim().to_string())
                            .filter(|v| !v.is_empty() && v.len() <= 255),
                        content_length,
                        url,
                        body: response.into_body(),
                        read_timeout: self.rules.timeouts.read,
                    });
                }
                301 | 302 | 303 | 307 | 308 => {
                    if redirects == MAX_REDIRECTS {
                        return Err(FetchError::Refused(format!(
                            "more than {MAX_REDIRECTS} redirects"
                        )));
                    }
                    let location = header(&response, http::header::LOCATION).ok_or_else(|| {
                        FetchError::Transient(format!("HTTP {status} without a location"))
                    })?;
                    url = url
                        .join(&location)
                        .map_err(|e| FetchError::Refused(format!("redirect: {e}")))?;
                }
                404 | 410 => return Err(FetchError::Gone(status)),
                _ => return Err(FetchError::Transient(format!("HTTP {status}"))),
            }
        }
        unreachable!("the loop returns on its last turn")
    }

    /// Checks `url`, connects to a checked address of its host and sends one GET.
    async fn request(&self, url: &MediaUrl) -> Result<http::Response<Incoming>, FetchError> {
        if !url.https && !self.rules.policy.allow_private {
            return Err(FetchError::Refused(format!("plain HTTP: {url}")));
        }
        if !self.rules.allow_hosts.allows(&url.host) {
            return Err(FetchError::Refused(format!(
                "host {} is not in MEDIA_ALLOW_HOSTS",
                url.host
            )));
        }
        let addresses = self.addresses(url).await?;
        if let Some(bad) = addresses.iter().find(|a| !self.rules.policy.allows(**a)) {
            return Err(FetchError::Refused(format!(
                "{} resolves to {} ({:?})",
                url.host,
                bad.ip(),
                classify(bad.ip())
            )));
        }
        let tcp = self.connect(&addresses).await?;
        let request = http::Request::get(url.target.as_str())
            .header(http::header::HOST, url.authority())
            .header(http::header::USER_AGENT, USER_AGENT)
            .header(http::header::ACCEPT, "*/*")
            .header(http::header::ACCEPT_ENCODING, "identity")
            .body(Empty::<Bytes>::new())
            .map_err(|e| FetchError::Refused(format!("cannot make a request for {url}: {e}")))?;
        if url.https {
            let name = rustls::pki_types::ServerName::try_from(url.host.clone())
                .map_err(|_| FetchError::Refused(format!("{} is not a TLS name", url.host)))?;
            let connector = tokio_rustls::TlsConnector::from(self.tls_config());
            let tls =
                tokio::time::timeout(self.rules.timeouts.connect, connector.connect(name, tcp))
                    .await
                    .map_err(|_| FetchError::Transient("TLS handshake timed out".into()))?
                    .map_err(|e| FetchError::Transient(format!("TLS: {e}")))?;
            self.send(tls, request).await
        } else {
            self.send(tcp, request).await
        }
    }

    /// The host's addresses: an IP literal as it is; `localhost` names as loopback; fixed
    /// answers from `MEDIA_CONNECT_TO`; anything else through the resolver.
    async fn addresses(&self, url: &MediaUrl) -> Result<Vec<SocketAddr>, FetchError> {
        if let Some(ip) = url.ip() {
            return Ok(vec![SocketAddr::new(ip, url.port)]);
        }
        if let Some((_, addr)) = self.rules.connect_to.iter().find(|(h, _)| *h == url.host) {
            return Ok(vec![*addr]);
        }
        if url.host == "localhost" || url.host.ends_with(".localhost") {
            return Ok(vec![
                SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), url.port),
                SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), url.port),
            ]);
        }
        let found = tokio::time::timeout(
            self.rules.timeouts.resolve,
            self.resolver.resolve(&url.host, url.port),
        )
        .await
        .map_err(|_| FetchError::Transient(format!("resolving {} timed out", url.host)))?
        .map_err(|e| FetchError::Transient(format!("cannot resolve {}: {e}", url.host)))?;
        if found.is_empty() {
            return Err(FetchError::Transient(format!(
                "{} has no address",
                url.host
            )));
        }
        Ok(found)
    }

    async fn connect(&self, addresses: &[SocketAddr]) -> Result<TcpStream, FetchError> {
        let mut last = String::new();
        for addr in addresses {
            match tokio::time::timeout(self.rules.timeouts.connect, TcpStream::connect(addr)).await
            {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(stream);
                }
                Ok(Err(e)) => last = format!("cannot connect to {addr}: {e}"),
                Err(_) => last = format!("connecting to {addr} timed out"),
            }
        }
        Err(FetchError::Transient(last))
    }

    async fn send<S>(
        &self,
        io: S,
        request: http::Request<Empty<Bytes>>,
    ) -> Result<http::Response<Incoming>, FetchError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(io))
                .await
                .map_err(|e| FetchError::Transient(format!("HTTP handshake: {e}")))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        tokio::time::timeout(self.rules.timeouts.read, sender.send_request(request))
            .await
            .map_err(|_| FetchError::Transient("timed out waiting for the answer".into()))?
            .map_err(|e| FetchError::Transient(format!("HTTP: {e}")))
    }

    fn tls_config(&self) -> Arc<rustls::ClientConfig> {
        self.tls.get_or_init(system_tls_config).clone()
    }
}

/// rustls on *ring* with the system's root certificates, HTTP/1.1 only.
pub fn system_tls_config() -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        tracing::error!("no root certificate found: HTTPS media fetches will fail");
    }
    tls_config_with_roots(roots)
}

/// rustls on *ring* trusting `roots`, HTTP/1.1 only.
pub fn tls_config_with_roots(roots: rustls::RootCertStore) -> Arc<rustls::ClientConfig> {
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

fn header<B>(response: &http::Response<B>, name: http::header::HeaderName) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}
