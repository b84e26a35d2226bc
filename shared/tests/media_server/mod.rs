//! A local HTTP(S) media server for the media tests, on loopback only. It counts every request
//! by target and answers by path:
//!
//! - `/status/<code>`: that status, no body;
//! - `/file/<name>?size=N`: N bytes of [`content`]`(name)`, with a Content-Length;
//! - `/chunked/<name>?size=N`: the same, chunked (no length announced);
//! - `/flaky/<name>?size=N`: 503 the first time, then as `/file/`;
//! - `/slow/<ms>/<name>`: waits `ms` before answering;
//! - `/gated/<name>?size=N`: sends the head and half the body, then waits for [`Server::open_gate`];
//! - `/redirect?to=<percent-encoded URL>`: 302 there;
//! - `/redirect-chain/<k>/<name>`: k redirects, then 1000 bytes of `content(name)`;
//! - anything else: [`content`]`(path)` of a size derived from the path.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// Deterministic bytes for a seed: the same seed and length always give the same bytes.
pub fn content(seed: &str, len: usize) -> Vec<u8> {
    let mut state = seed.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    }) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The size the default route serves for `path`.
pub fn default_size(path: &str) -> usize {
    1024 + (content(path, 4).iter().map(|b| *b as usize).sum::<usize>() * 97) % 60_000
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// What the server sends for a path (without query) of the default route, and its digest.
pub fn default_body(path: &str) -> Vec<u8> {
    content(path, default_size(path))
}

/// A test certificate authority and a server certificate for `names`.
pub struct TestTls {
    pub server: Arc<rustls::ServerConfig>,
    pub client: Arc<rustls::ClientConfig>,
}

impl TestTls {
    pub fn new(names: &[String]) -> TestTls {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "media tests CA");
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let mut names = names.to_vec();
        names.extend(["127.0.0.1".to_string(), "::1".to_string()]);
        let leaf_params = rcgen::CertificateParams::new(names).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
            )
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca_cert.der().clone()).unwrap();
        TestTls {
            server: Arc::new(server),
            client: ingest::media::fetch::tls_config_with_roots(roots),
        }
    }
}

#[derive(Default)]
struct State {
    hits: Mutex<Vec<String>>,
    flaky_seen: Mutex<HashMap<String, usize>>,
    gate: Notify,
}

/// A running server: on 127.0.0.1, and on [::1] at the same port where the machine allows.
pub struct Server {
    pub addr: SocketAddr,
    pub v6: Option<SocketAddr>,
    pub tls: bool,
    state: Arc<State>,
}

impl Server {
    pub async fn start(tls: Option<Arc<rustls::ServerConfig>>) -> Server {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let v6_listener = TcpListener::bind((Ipv6Addr::LOCALHOST, addr.port()))
            .await
            .ok();
        let v6 = v6_listener.as_ref().map(|l| l.local_addr().unwrap());
        let state = Arc::new(State::default());
        let acceptor = tls.clone().map(tokio_rustls::TlsAcceptor::from);
        for listener in std::iter::once(listener).chain(v6_listener) {
            let state = Arc::clone(&state);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                while let Ok((socket, peer)) = listener.accept().await {
                    assert!(
                        peer.ip().is_loopback(),
                        "the test server only talks to loopback"
                    );
                    let state = Arc::clone(&state);
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        match acceptor {
                            Some(acceptor) => {
                                if let Ok(tls) = acceptor.accept(socket).await {
                                    serve(tls, state).await;
                                }
                            }
                            None => serve(socket, state).await,
                        }
                    });
                }
            });
        }
        Server {
            addr,
            v6,
            tls: tls.is_some(),
            state,
        }
    }

    /// A URL of this server under `host` (an IP literal or a name a test resolver knows).
    pub fn url(&self, host: &str, target: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{host}:{}{target}", self.addr.port())
    }

    /// A URL by the server's IPv4 address.
    pub fn at(&self, target: &str) -> String {
        self.url("127.0.0.1", target)
    }

    /// Every request target received, in order.
    pub fn hits(&self) -> Vec<String> {
        self.state.hits.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.state.hits.lock().unwrap().len()
    }

    /// Requests whose target starts with `prefix`.
    pub fn count_of(&self, prefix: &str) -> usize {
        self.hits().iter().filter(|h| h.starts_with(prefix)).count()
    }

    /// Lets every `/gated/` answer finish.
    pub fn open_gate(&self) {
        self.state.gate.notify_waiters();
        self.state.gate.notify_one();
    }

    /// Waits (at most `limit`) until a request for `prefix` has arrived.
    pub async fn wait_for(&self, prefix: &str, limit: Duration) {
        let started = std::time::Instant::now();
        while self.count_of(prefix) == 0 {
            assert!(
                started.elapsed() < limit,
                "no request for {prefix} within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn query_size(query: &str, default: usize) -> usize {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("size="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 3 <= bytes.len() {
            if let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut io: S, state: Arc<State>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match io.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 16 * 1024 {
            return;
        }
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let mut parts = head.lines().next().unwrap_or("").split(' ');
    let (method, target) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or("/").to_string(),
    );
    assert_eq!(method, "GET", "the media function only sends GETs");
    assert!(
        !head.to_ascii_lowercase().contains("\r\nauthorization:")
            && !head.to_ascii_lowercase().contains("\r\ncookie:"),
        "no credentials are sent"
    );
    state.hits.lock().unwrap().push(target.clone());
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let _ = match segments.as_slice() {
        ["status", code] => respond(&mut io, code.parse().unwrap_or(500), &[], b"").await,
        ["file", name] => {
            let body = content(name, query_size(query, 1000));
            respond(&mut io, 200, &[("Content-Type", mime(name))], &body).await
        }
        ["chunked", name] => {
            let body = content(name, query_size(query, 1000));
            chunked(&mut io, &body).await
        }
        ["flaky", name] => {
            let seen = {
                let mut seen = state.flaky_seen.lock().unwrap();
                let n = seen.entry(name.to_string()).or_default();
                *n += 1;
                *n
            };
            if seen == 1 {
                respond(&mut io, 503, &[], b"try later").await
            } else {
                let body = content(name, query_size(query, 1000));
                respond(&mut io, 200, &[("Content-Type", mime(name))], &body).await
            }
        }
        ["slow", ms, name] => {
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
            let body = content(name, 1000);
            respond(&mut io, 200, &[], &body).await
        }
        ["gated", name] => {
            let body = content(name, query_size(query, 100_000));
            let (first, rest) = body.split_at(body.len() / 2);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                mime(name),
                body.len()
            );
            let notified = state.gate.notified();
            let sent = async {
                io.write_all(head.as_bytes()).await?;
                io.write_all(first).await?;
                io.flush().await
            }
            .await;
            if sent.is_ok() {
                notified.await;
                let _ = io.write_all(rest).await;
                let _ = io.flush().await;
            }
            Ok(())
        }
        ["redirect"] => {
            let to = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("to="))
                .map(percent_decode)
                .unwrap_or_default();
            respond(&mut io, 302, &[("Location", &to)], b"").await
        }
        ["redirect-chain", k, name] => {
            let k: usize = k.parse().unwrap_or(0);
            if k == 0 {
                let body = content(name, 1000);
                respond(&mut io, 200, &[("Content-Type", mime(name))], &body).await
            } else {
                let location = format!("/redirect-chain/{}/{name}", k - 1);
                respond(&mut io, 302, &[("Location", &location)], b"").await
            }
        }
        _ => {
            let body = default_body(path);
            respond(&mut io, 200, &[("Content-Type", mime(path))], &body).await
        }
    };
    let _ = io.shutdown().await;
}

fn mime(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "mp4" => "video/mp4",
        "ogg" => "audio/ogg",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

async fn respond<S: AsyncWrite + Unpin>(
    io: &mut S,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    io.write_all(head.as_bytes()).await?;
    for piece in body.chunks(64 * 1024) {
        io.write_all(piece).await?;
    }
    io.flush().await
}

async fn chunked<S: AsyncWrite + Unpin>(io: &mut S, body: &[u8]) -> std::io::Result<()> {
    io.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        .await?;
    for piece in body.chunks(64 * 1024) {
        io.write_all(format!("{:x}\r\n", piece.len()).as_bytes())
            .await?;
        io.write_all(piece).await?;
        io.write_all(b"\r\n").await?;
    }
    io.write_all(b"0\r\n\r\n").await?;
    io.flush().await
}

/// A resolver that knows a fixed set of names (each to one socket address, whatever port is
/// asked) and fails for every other name: it never asks DNS.
pub struct TestResolver(pub HashMap<String, SocketAddr>);

impl ingest::media::fetch::Resolve for TestResolver {
    fn resolve(
        &self,
        host: &str,
        _port: u16,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<Vec<SocketAddr>>> + Send>>
    {
        let found = self.0.get(host).copied();
        let host = host.to_string();
        Box::pin(async move {
            match found {
                Some(addr) => {
                    assert!(
                        addr.ip().is_loopback(),
                        "test names resolve to loopback only"
                    );
                    Ok(vec![addr])
                }
                None => Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("the test resolver does not know {host}"),
                )),
            }
        })
    }
}
