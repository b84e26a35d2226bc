//! A loopback TCP proxy whose behaviour can be switched at any time: pass, slow every exchange
//! past any deadline, or reset connections (an unreachable server).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
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
}

impl Proxy {
    pub async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let mode = Arc::new(AtomicU8::new(PASS));
        let accept_mode = Arc::clone(&mode);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mode = Arc::clone(&accept_mode);
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let _ = pump(client, &upstream, mode).await;
                });
            }
        });
        Proxy { address, mode }
    }

    pub fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }
}

async fn pump(client: TcpStream, upstream: &str, mode: Arc<AtomicU8>) -> std::io::Result<()> {
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
    loop {
        let n = client_read.read(&mut buffer).await?;
        if n == 0 {
            break;
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
