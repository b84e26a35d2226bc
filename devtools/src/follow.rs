//! `follow-stream`: the local stand-in for Lambda's event source mappings of the table's stream.
//! It reads the local table's stream (DynamoDB Local) and, for each function it feeds (the
//! media function and the projector), keeps the records that function's template filter admits
//! ([`ingest::media::filter`], [`ingest::projector::filter`]) and invokes it with them through
//! `cargo lambda watch` (`POST /2015-03-31/functions/<name>/invocations`), in batches of the
//! template's size, in order. A record the function reports in `batchItemFailures` is sent
//! again, with the records after it, up to [`RETRIES`] times; after that it is printed as
//! dead-lettered and skipped, as the deployed mapping would send it to its dead-letter queue.
//!
//! It only ever connects to a loopback invoke address.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use ingest::media::filter;
use ingest::response::BatchResponse;
use ingest::testkit::stream::{event, stream_arn, streams_client, StreamReader};
use serde_json::Value;

use crate::error::{Context, Error, Result};

/// The template's `MaximumRetryAttempts`, locally.
pub const RETRIES: usize = 2;

/// What a function's mapping is, locally: its filter and its batch size (template.yaml's).
struct Mapping {
    name: String,
    pattern: Value,
    batch_size: usize,
}

impl Mapping {
    fn of(name: &str) -> Mapping {
        let (pattern, batch_size) = match name {
            "projector" => (ingest::projector::filter::pattern(), 100),
            // The media function's, and any other function's that reads it the same way.
            _ => (filter::pattern(), 10),
        };
        Mapping {
            name: name.to_string(),
            pattern,
            batch_size,
        }
    }
}

/// `follow-stream`'s arguments.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// The table whose stream to read
    pub table: String,
    /// `http://127.0.0.1:<port>` of `cargo lambda watch` (a loopback address only)
    #[arg(long, value_name = "URL", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub invoke: String,
    /// A function to invoke (repeat for several)
    #[arg(
        long = "function",
        value_name = "NAME",
        default_values_t = ["media".to_string(), "projector".to_string()]
    )]
    pub functions: Vec<String>,
    /// Keep following (Ctrl-C stops); otherwise stop once the stream is idle
    #[arg(long)]
    pub follow: bool,
    /// Skip the records already in the stream (start at its end)
    #[arg(long)]
    pub skip_existing: bool,
    /// Records per invocation instead of the template's (the write-units bench projects one
    /// message at a time with 1: a conversation whose messages come apart)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=10000))]
    pub batch_size: Option<u16>,
}

/// What a drain did.
#[derive(Default)]
pub struct Summary {
    pub records: usize,
    pub matched: usize,
    pub invocations: usize,
    pub retried: usize,
    pub dead_lettered: usize,
}

pub async fn run(options: &Options) -> Result<Summary> {
    let (host, port) = loopback_address(&options.invoke)?;
    let dynamodb = crate::dynamodb_client().await;
    let arn = stream_arn(&dynamodb, &options.table)
        .await
        .map_err(Error::msg)?
        .ok_or_else(|| {
            Error::msg(format!(
                "table {} has no stream (ingest-dev create-table enables it)",
                options.table
            ))
        })?;
    let mut reader = StreamReader::new(streams_client(), arn);
    let mut summary = Summary::default();
    if options.skip_existing {
        let skipped = reader.read_new().await.map_err(Error::msg)?;
        println!("follow-stream: {} existing records skipped", skipped.len());
    }
    let mappings: Vec<Mapping> = options
        .functions
        .iter()
        .map(|f| {
            let mut mapping = Mapping::of(f);
            if let Some(size) = options.batch_size {
                mapping.batch_size = usize::from(size);
            }
            mapping
        })
        .collect();
    loop {
        let records = reader.read_new().await.map_err(Error::msg)?;
        if records.is_empty() {
            if options.follow {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            break;
        }
        summary.records += records.len();
        for mapping in &mappings {
            let matched: Vec<Value> = records
                .iter()
                .filter(|r| filter::matches(&mapping.pattern, r))
                .cloned()
                .collect();
            summary.matched += matched.len();
            for batch in matched.chunks(mapping.batch_size) {
                deliver(&host, port, &mapping.name, batch, &mut summary).await?;
            }
        }
    }
    println!(
        "follow-stream: {} records, {} delivered to {}, {} invocations, {} retried, {} dead-lettered",
        summary.records,
        summary.matched,
        options.functions.join(" and "),
        summary.invocations,
        summary.retried,
        summary.dead_lettered
    );
    Ok(summary)
}

/// Invokes the function with `batch`, and again from a failed record, as the mapping would.
async fn deliver(
    host: &str,
    port: u16,
    function: &str,
    batch: &[Value],
    summary: &mut Summary,
) -> Result<()> {
    let path = format!("/2015-03-31/functions/{function}/invocations");
    let mut start = 0;
    let mut attempts = 0;
    while start < batch.len() {
        let records = &batch[start..];
        summary.invocations += 1;
        let answer = invoke(host, port, &path, &event(records)).await?;
        let failed = match serde_json::from_slice::<BatchResponse>(&answer) {
            Ok(response) => response
                .batch_item_failures
                .first()
                .map(|f| f.item_identifier.clone()),
            Err(_) => {
                let text = String::from_utf8_lossy(&answer);
                println!("{function}: the function failed the batch: {}", text.trim());
                Some(sequence(&records[0]))
            }
        };
        let Some(failed) = failed else {
            println!("{function}: {} records handled", records.len());
            return Ok(());
        };
        let at = records
            .iter()
            .position(|r| sequence(r) == failed)
            .unwrap_or(0);
        if attempts < RETRIES {
            attempts += 1;
            summary.retried += 1;
            println!(
                "{function}: record {failed} failed; retrying it (attempt {attempts} of {RETRIES})"
            );
            start += at;
            tokio::time::sleep(Duration::from_millis(200)).await;
        } else {
            summary.dead_lettered += 1;
            println!(
                "{function}: record {failed} failed {} times: dead-lettered",
                RETRIES + 1
            );
            start += at + 1;
            attempts = 0;
        }
    }
    Ok(())
}

fn sequence(record: &Value) -> String {
    record["dynamodb"]["SequenceNumber"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// `http://<loopback>:<port>`, and nothing else.
fn loopback_address(url: &str) -> Result<(String, u16)> {
    let rest = url
        .trim_end_matches('/')
        .strip_prefix("http://")
        .ok_or_else(|| Error::msg(format!("--invoke {url}: expected http://127.0.0.1:<port>")))?;
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or_else(|| Error::msg(format!("--invoke {url}: no port")))?;
    let port: u16 = port
        .parse()
        .map_err(|_| Error::msg(format!("--invoke {url}: bad port")))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        return Err(Error::msg(format!(
            "--invoke {url}: the follower only invokes a local function (loopback)"
        )));
    }
    let host = if host == "localhost" {
        "127.0.0.1"
    } else {
        host
    };
    Ok((host.to_string(), port))
}

/// One POST to the local invoke endpoint; the answer's body.
async fn invoke(host: &str, port: u16, path: &str, body: &[u8]) -> Result<Vec<u8>> {
    let ip: std::net::IpAddr = host.parse().context("invoke host")?;
    let stream = tokio::net::TcpStream::connect((ip, port))
        .await
        .with_context(|| format!("cannot reach the function at {host}:{port}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
            .await
            .context("HTTP handshake with cargo lambda watch")?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = http::Request::post(path)
        .header(http::header::HOST, format!("{host}:{port}"))
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::copy_from_slice(body)))
        .context("invoke request")?;
    // The first invocation may wait for cargo lambda watch to build and start the function.
    let response = tokio::time::timeout(Duration::from_secs(900), sender.send_request(request))
        .await
        .map_err(|_| Error::msg(format!("{path}: no answer within 900 s")))?
        .with_context(|| format!("invoking {path}"))?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .context("reading the function's answer")?
        .to_bytes();
    if !status.is_success() {
        // cargo lambda watch answers a function error with its error document.
        return Ok(format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes)).into_bytes());
    }
    Ok(bytes.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invokes_loopback_only() {
        assert_eq!(
            loopback_address("http://127.0.0.1:9000").unwrap(),
            ("127.0.0.1".to_string(), 9000)
        );
        assert_eq!(
            loopback_address("http://localhost:9001/").unwrap(),
            ("127.0.0.1".to_string(), 9001)
        );
        assert_eq!(loopback_address("http://[::1]:9").unwrap().0, "::1");
        assert!(loopback_address("http://10.0.0.1:9000").is_err());
        assert!(loopback_address("http://example.com:9000").is_err());
        assert!(loopback_address("https://127.0.0.1:9000").is_err());
        assert!(loopback_address("http://127.0.0.1").is_err());
    }
}
