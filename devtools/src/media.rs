//! `create-bucket` and `check-media`: the local media bucket, and what the local run checks of
//! the media function's work.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use ingest::storage::keys::MESSAGE_PREFIX;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{aws, Context, Error, Result};

/// Creates `name` in the local S3 server (`AWS_ENDPOINT_URL_S3`) unless it exists.
pub async fn create_bucket(name: &str) -> Result<()> {
    let s3 = ingest::aws::s3_client();
    match s3.create_bucket().bucket(name).send().await {
        Ok(_) => println!("bucket {name}: created"),
        Err(err) => {
            let text = aws(err);
            if text.contains("BucketAlreadyOwnedByYou") || text.contains("BucketAlreadyExists") {
                println!("bucket {name}: already exists");
            } else {
                return Err(Error::msg(format!("cannot create bucket {name}: {text}")));
            }
        }
    }
    Ok(())
}

pub struct CheckOptions<'a> {
    pub table: &'a str,
    pub bucket: &'a str,
    /// The host the local file server stands for (`media.localhost`).
    pub served_host: &'a str,
    /// The directory it serves.
    pub served_root: &'a Path,
}

/// Checks every attachment of every message: one served locally is a copy with the digest
/// and size of the served file, and the bucket holds it; any other is `refused` or `expired`
/// (the local run fetches nothing else). Prints one line per attachment and a digest of every
/// `stored`, and returns whether all is as expected.
pub async fn check(client: &Client, options: &CheckOptions<'_>) -> Result<bool> {
    let s3 = ingest::aws::s3_client();
    let mut messages = BTreeMap::new();
    let mut pages = client
        .scan()
        .table_name(options.table)
        .into_paginator()
        .items()
        .send();
    while let Some(item) = pages.next().await {
        let item = item.map_err(aws).context("scan")?;
        let key = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        let (pk, sk) = (key("pk").unwrap_or_default(), key("sk").unwrap_or_default());
        if sk.starts_with(MESSAGE_PREFIX) && item.contains_key("attachments") {
            let plain = plain_item(item).with_context(|| format!("message item {pk} {sk}"))?;
            messages.insert((pk, sk), plain);
        }
    }
    let mut ok = true;
    let mut digest = Sha256::new();
    let (mut copies, mut failures) = (0, 0);
    for ((pk, sk), message) in &messages {
        let attachments = message["attachments"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for (index, attachment) in attachments.iter().enumerate() {
            let url = attachment["url"].as_str().unwrap_or_default();
            let stored = &attachment["stored"];
            digest.update(format!("{pk}\n{sk}\n{index}\n{stored}\n").as_bytes());
            let served = served_path(url, options.served_host);
            let verdict = match served {
                Some(path) => check_copy(&s3, options, &path, stored).await,
                None => match stored["error"].as_str() {
                    Some("refused" | "expired") => Ok(()),
                    _ => Err(format!("expected refused or expired, got {stored}")),
                },
            };
            let what = if stored["key"].is_string() {
                copies += 1;
                format!(
                    "copied {} bytes, sha256 {}…",
                    stored["size_bytes"],
                    &stored["sha256"]
                        .as_str()
                        .unwrap_or_default()
                        .get(..12)
                        .unwrap_or("")
                )
            } else if let Some(error) = stored["error"].as_str() {
                failures += 1;
                format!("not copied: {error}")
            } else {
                "no stored".to_string()
            };
            let mark = match &verdict {
                Ok(()) => "✓".to_string(),
                Err(why) => {
                    ok = false;
                    format!("✗ {why}")
                }
            };
            println!("  {pk} {sk} [{index}] {what}  {mark}");
        }
    }
    if copies == 0 {
        ok = false;
        println!("  ✗ no attachment was copied: the local samples' media should be");
    }
    println!(
        "media: {copies} copied, {failures} not copied; media digest {}",
        hex::encode(digest.finalize())
    );
    Ok(ok)
}

/// A message item as plain JSON (`{"size_bytes": 12}` for `{"size_bytes": {"N": "12"}}`),
/// without `raw`: binary since schema 3 (gzip), which JSON has no type for, and not what a
/// check of the copies reads.
fn plain_item(mut item: HashMap<String, AttributeValue>) -> Result<Value, serde_dynamo::Error> {
    item.remove("raw");
    serde_dynamo::from_item(item)
}

/// The served file's path for a URL of the local file server's host.
fn served_path(url: &str, host: &str) -> Option<String> {
    let parsed = ingest::media::url::MediaUrl::parse(url).ok()?;
    if parsed.host != host {
        return None;
    }
    let path = parsed.target.split('?').next().unwrap_or("/");
    Some(path.trim_start_matches('/').to_string())
}

async fn check_copy(
    s3: &aws_sdk_s3::Client,
    options: &CheckOptions<'_>,
    path: &str,
    stored: &Value,
) -> std::result::Result<(), String> {
    if path.split('/').any(|s| s == "..") {
        return Err(format!("{path}: not a served path"));
    }
    let file = options.served_root.join(path);
    let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let want = hex::encode(Sha256::digest(&bytes));
    if stored["sha256"].as_str() != Some(want.as_str()) {
        return Err(format!(
            "sha256 {} is not the file's {want}",
            stored["sha256"]
        ));
    }
    if stored["size_bytes"].as_u64() != Some(bytes.len() as u64) {
        return Err(format!(
            "size {} is not the file's {}",
            stored["size_bytes"],
            bytes.len()
        ));
    }
    if stored["bucket"].as_str() != Some(options.bucket) {
        return Err(format!(
            "bucket {} is not {}",
            stored["bucket"], options.bucket
        ));
    }
    let key = stored["key"].as_str().unwrap_or_default();
    let head = s3
        .head_object()
        .bucket(options.bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| format!("HeadObject {key}: {}", aws(e)))?;
    if head.content_length != Some(bytes.len() as i64) {
        return Err(format!(
            "the object {key} has {:?} bytes",
            head.content_length
        ));
    }
    Ok(())
}

/// `plain-copy`: the bench's baseline. GETs `url` (loopback only) and streams the body into
/// `bucket`/`key` with the same S3 client as the media function, in 8 MiB parts uploaded one
/// after the other: no address rules, no hashing, no overlap of fetching and uploading.
/// Prints the bytes copied.
pub async fn plain_copy(url: &str, bucket: &str, key: &str) -> Result<u64> {
    use aws_sdk_s3::primitives::ByteStream;
    use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
    use http_body_util::{BodyExt as _, Empty};
    use hyper_util::rt::TokioIo;

    const PART: usize = ingest::media::settings::PART_SIZE;
    let parsed = ingest::media::url::MediaUrl::parse(url).map_err(|e| Error::msg(e.to_string()))?;
    let ip: std::net::IpAddr = parsed
        .host
        .parse()
        .context("plain-copy takes an IP address")?;
    if !ip.is_loopback() {
        return Err(Error::msg("plain-copy only fetches from loopback"));
    }
    let stream = tokio::net::TcpStream::connect((ip, parsed.port))
        .await
        .context("connect")?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, Empty<bytes::Bytes>>(TokioIo::new(stream))
            .await
            .context("handshake")?;
    tokio::spawn(connection);
    let request = http::Request::get(parsed.target.as_str())
        .header(http::header::HOST, parsed.authority())
        .body(Empty::new())
        .context("request")?;
    let mut body = sender
        .send_request(request)
        .await
        .context("GET")?
        .into_body();
    let s3 = ingest::aws::s3_client();
    let upload = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(aws)
        .context("CreateMultipartUpload")?;
    let upload_id = upload.upload_id.unwrap_or_default();
    let mut parts = Vec::new();
    let mut buffer = bytes::BytesMut::with_capacity(PART);
    let mut total = 0u64;
    let mut done = false;
    while !done {
        match body.frame().await {
            Some(frame) => {
                if let Ok(data) = frame.context("body")?.into_data() {
                    total += data.len() as u64;
                    buffer.extend_from_slice(&data);
                }
            }
            None => done = true,
        }
        while buffer.len() >= PART || (done && !buffer.is_empty()) {
            let take = buffer.len().min(PART);
            let part = buffer.split_to(take).freeze();
            let number = parts.len() as i32 + 1;
            let output = s3
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(&upload_id)
                .part_number(number)
                .content_length(part.len() as i64)
                .body(ByteStream::from(part))
                .send()
                .await
                .map_err(aws)
                .context("UploadPart")?;
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(output.e_tag)
                    .build(),
            );
        }
    }
    s3.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .map_err(aws)
        .context("CompleteMultipartUpload")?;
    println!("plain-copy: {total} bytes");
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> AttributeValue {
        AttributeValue::S(text.to_owned())
    }

    /// What `check` reads of a copy: its strings, and its size as a number.
    #[test]
    fn items_read_as_plain_json() {
        let stored = AttributeValue::M(HashMap::from([
            ("bucket".to_owned(), s("media")),
            ("sha256".to_owned(), s("ab")),
            (
                "size_bytes".to_owned(),
                AttributeValue::N("2097152".to_owned()),
            ),
        ]));
        let attachment = AttributeValue::M(HashMap::from([
            ("url".to_owned(), s("http://media.localhost/a.jpg")),
            ("stored".to_owned(), stored),
        ]));
        let item = HashMap::from([
            ("sk".to_owned(), s("MSG#1")),
            (
                "attachments".to_owned(),
                AttributeValue::L(vec![attachment]),
            ),
            // A schema-3 item's body: binary, left out.
            ("raw".to_owned(), ingest::storage::raw::attribute(b"{}")),
        ]);
        let plain = plain_item(item).unwrap();
        assert!(plain.get("raw").is_none());
        let stored = &plain["attachments"][0]["stored"];
        assert_eq!(stored["size_bytes"].as_u64(), Some(2_097_152));
        assert_eq!(
            stored.to_string(),
            r#"{"bucket":"media","sha256":"ab","size_bytes":2097152}"#
        );
        assert_eq!(plain["sk"], "MSG#1");
    }
}
