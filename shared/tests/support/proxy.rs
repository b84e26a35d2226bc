//! A loopback TCP proxy whose behaviour can be switched at any time: pass, slow every exchange
//! past any deadline, or reset connections (an unreachable server) — all of them, or only those
//! of requests carrying given bytes (one kind of write failing while others go through).

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const PASS: u8 = 0;
/// Every chunk from the client waits this long before it is forwarded.
pub const SLOW: u8 = 1;
pub const RESET: u8 = 2;
pub const SLOW_BY: Duration = Duration::from_secs(4);

/// A TCP proxy on 127.0.0.1 in front of DynamoDB Local (or the local SQS server) whose
/// behaviour can be switched at any time, also for connections the SDK already pooled.
pub struct Proxy {
    pub address: String,
    mode: Arc<AtomicU8>,
    refusing: Arc<Refusing>,
}

/// Requests to reset whatever the mode: those whose bytes contain `needle`.
#[derive(Default)]
struct Refusing {
    needle: Mutex<Option<Vec<u8>>>,
    refused: AtomicUsize,
}

impl Refusing {
    fn needle(&self) -> Option<Vec<u8>> {
        self.needle.lock().unwrap().clone()
    }
}

impl Proxy {
    pub async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let mode = Arc::new(AtomicU8::new(PASS));
        let refusing = Arc::new(Refusing::default());
        let (accept_mode, accept_refusing) = (Arc::clone(&mode), Arc::clone(&refusing));
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mode = Arc::clone(&accept_mode);
                let refusing = Arc::clone(&accept_refusing);
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let _ = pump(client, &upstream, mode, refusing).await;
                });
            }
        });
        Proxy {
            address,
            mode,
            refusing,
        }
    }

    pub fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }

    /// From now on, resets the connection of every request whose bytes contain `needle` (before
    /// the part holding it reaches the server, so the server never runs the request); `None`
    /// passes them again. Other requests follow the mode.
    pub fn refuse_containing(&self, needle: Option<&[u8]>) {
        assert!(needle.is_none_or(|n| !n.is_empty()), "an empty needle");
        *self.refusing.needle.lock().unwrap() = needle.map(<[u8]>::to_vec);
    }

    /// How many requests were reset by [`Proxy::refuse_containing`] so far.
    pub fn refused(&self) -> usize {
        self.refusing.refused.load(Ordering::SeqCst)
    }
}

async fn pump(
    client: TcpStream,
    upstream: &str,
    mode: Arc<AtomicU8>,
    refusing: Arc<Refusing>,
) -> std::io::Result<()> {
    // A reset, not a polite close, when the proxy drops a connection. (Deprecated because a
    // non-zero linger blocks on drop; a zero linger resets at once.)
    #[allow(deprecated)]
    client.set_linger(Some(Duration::ZERO))?;
    if mode.load(Ordering::SeqCst) == RESET {
        return Ok(());
    }
    let server = TcpStream::connect(upstream).await?;
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let back =
        tokio::spawn(async move { tokio::io::copy(&mut server_read, &mut client_write).await });
    let mut buffer = vec![0u8; 64 * 1024];
    // The end of the previous chunk, so that a needle split between two reads is still seen.
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let n = client_read.read(&mut buffer).await?;
        if n == 0 {
            break;
        }
        if let Some(needle) = refusing.needle() {
            let mut seen = std::mem::take(&mut tail);
            seen.extend_from_slice(&buffer[..n]);
            if seen.windows(needle.len()).any(|w| w == needle.as_slice()) {
                refusing.refused.fetch_add(1, Ordering::SeqCst);
                break;
            }
            tail = seen[seen.len().saturating_sub(needle.len().saturating_sub(1))..].to_vec();
        }
        match mode.load(Ordering::SeqCst) {
            RESET => break,
            SLOW => tokio::time::sleep(SLOW_BY).await,
            _ => {}
        }
        server_write.write_all(&buffer[..n]).await?;
    }
    back.abort();
    Ok(())
}

/// `host:port` of an `http://host:port/` endpoint URL.
pub fn host_port(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}
