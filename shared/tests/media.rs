//! The media function end to end, against DynamoDB Local (and its stream), the local S3 server
//! (moto) and a local HTTP(S) media server (tests/media_server): messages are stored (by the
//! webhook handlers or directly), the stream's records are read as Lambda would deliver them,
//! and the media handler runs on them. Every connection goes to loopback: names resolve
//! through a test resolver that knows only loopback answers, and never through DNS.

mod media_server;
mod support;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use ingest::media::address::AddressPolicy;
use ingest::media::fetch::{FetchRules, Fetcher};
use ingest::media::settings::{AllowHosts, MediaSettings, Timeouts};
use ingest::media::MediaHandler;
use ingest::message::{Attachment, AttachmentKind, Direction, Message, Role, Sender};
use ingest::response::BatchResponse;
use ingest::telemetry::MetricsSink;
use ingest::testkit::stream::{event, stream_arn, streams_client, StreamReader};
use media_server::{content, default_body, sha256_hex, Server, TestResolver, TestTls};
use serde_json::Value;
use support::*;

/// Generous limit for one batch: nothing here waits on a clock but the slow-server test's
/// 1 s read timeout.
const BATCH_LIMIT: Duration = Duration::from_secs(120);

fn sample_day() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-11-20T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// A table with the contract's keys and a NEW_IMAGE stream, a bucket, and a stream reader.
struct Setup {
    client: aws_sdk_dynamodb::Client,
    table: String,
    s3: aws_sdk_s3::Client,
    bucket: String,
    reader: StreamReader,
}

fn s3_client() -> aws_sdk_s3::Client {
    assert!(
        std::env::var("AWS_ENDPOINT_URL_S3").is_ok(),
        "the media tests need the local S3 server: run them with scripts/test.sh \
         (or set AWS_ENDPOINT_URL_S3 to scripts/aws-local.sh's server)"
    );
    ingest::aws::s3_client()
}

async fn setup(prefix: &str) -> Setup {
    let client = admin_client().await;
    let table = create_table_with_stream(&client, prefix).await;
    let arn = stream_arn(&client, &table)
        .await
        .unwrap()
        .expect("the table has a stream");
    let s3 = s3_client();
    // The table's name is unique to the run and the test: "<prefix>-<pid>-<n>".
    let bucket = format!("media-{table}");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    Setup {
        client,
        table,
        s3,
        bucket,
        reader: StreamReader::new(streams_client(), arn),
    }
}

/// What a test changes of the function's settings.
struct Knobs {
    policy: AddressPolicy,
    resolver: HashMap<String, SocketAddr>,
    connect_to: Vec<(String, SocketAddr)>,
    tls: Option<Arc<rustls::ClientConfig>>,
    max_bytes: u64,
    read_timeout: Duration,
    channels: &'static str,
    clock: fn() -> DateTime<Utc>,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            policy: AddressPolicy::private_networks(),
            resolver: HashMap::new(),
            connect_to: Vec::new(),
            tls: None,
            max_bytes: 100 * 1024 * 1024,
            read_timeout: Duration::from_secs(20),
            channels: "*",
            clock: pinned_now,
        }
    }
}

impl Setup {
    fn media(&self, knobs: Knobs) -> MediaHandler {
        let vars = HashMap::from([
            ("TABLE_NAME", self.table.clone()),
            ("MEDIA_BUCKET", self.bucket.clone()),
            ("MEDIA_CHANNELS", knobs.channels.to_string()),
            ("MEDIA_MAX_BYTES", knobs.max_bytes.to_string()),
        ]);
        let mut settings =
            MediaSettings::from_lookup(|name| vars.get(name).cloned()).expect("settings");
        settings.timeouts = Timeouts {
            read: knobs.read_timeout,
            ..Timeouts::default()
        };
        let rules = FetchRules {
            policy: knobs.policy,
            allow_hosts: AllowHosts::All,
            connect_to: knobs.connect_to,
            max_bytes: settings.max_bytes,
            timeouts: settings.timeouts,
        };
        let tls = knobs
            .tls
            .unwrap_or_else(|| TestTls::new(&["unused.test".to_string()]).client);
        let fetcher = Fetcher::with_parts(rules, Arc::new(TestResolver(knobs.resolver)), tls);
        MediaHandler::new(
            Ok(settings),
            ingest::aws::dynamodb_client(),
            self.s3.clone(),
        )
        .with_fetcher(fetcher)
        .with_clock(knobs.clock)
        .with_metrics(MetricsSink::new(|_| {}))
    }

    /// New stream records since the last read.
    async fn records(&mut self) -> Vec<Value> {
        self.reader.read_new().await.expect("read the stream")
    }

    async fn put_message(&self, message: &Message) {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(ingest::storage::message_item(
                message,
                &ingest::storage::Fingerprint::of(message.raw.as_bytes()),
            )))
            .send()
            .await
            .unwrap();
    }

    async fn item(&self, message: &Message) -> Item {
        let keys = ingest::storage::keys::MessageKeys::of(message);
        self.client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(keys.pk))
            .key("sk", AttributeValue::S(keys.sk))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .expect("the message item")
    }

    /// Every object key in the bucket.
    async fn objects(&self) -> BTreeMap<String, i64> {
        let listed = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .send()
            .await
            .unwrap();
        listed
            .contents
            .unwrap_or_default()
            .into_iter()
            .map(|o| (o.key.unwrap_or_default(), o.size.unwrap_or_default()))
            .collect()
    }

    async fn uploads_in_progress(&self) -> usize {
        self.s3
            .list_multipart_uploads()
            .bucket(&self.bucket)
            .send()
            .await
            .unwrap()
            .uploads
            .unwrap_or_default()
            .len()
    }

    async fn object_sha256(&self, key: &str) -> String {
        let object = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        let bytes = object.body.collect().await.unwrap().into_bytes();
        sha256_hex(&bytes)
    }
}

/// Runs the handler on `records` in batches of 10, as the event source mapping would.
async fn run(media: &MediaHandler, records: &[Value]) -> Vec<BatchResponse> {
    let mut answers = Vec::new();
    for batch in records.chunks(10) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
        let answer = tokio::time::timeout(BATCH_LIMIT, media.handle(&event(batch), deadline))
            .await
            .expect("a batch within the limit")
            .expect("the handler answers");
        answers.push(answer);
    }
    answers
}

fn failures(answers: &[BatchResponse]) -> Vec<String> {
    answers
        .iter()
        .flat_map(|a| {
            a.batch_item_failures
                .iter()
                .map(|f| f.item_identifier.clone())
        })
        .collect()
}

/// A message with attachments at `urls`, stored directly.
fn message(id: &str, channel: &str, urls: &[&str]) -> Message {
    let mut m = Message::new(
        ProviderId::Callbell,
        "media-conv".into(),
        id.into(),
        sample_day(),
        Sender::new(Role::Customer),
        Direction::Inbound,
    );
    m.order_key = ingest::message::OrderKey::time(&m.created_at, id);
    m.channel = Some(channel.into());
    m.received_at = m.created_at.clone();
    m.attachments = urls
        .iter()
        .map(|u| Attachment::new(AttachmentKind::Image, (*u).to_string()))
        .collect();
    m
}

/// `stored` of attachment `index` of an item, as plain JSON (`Null` when absent).
fn stored(item: &Item, index: usize) -> Value {
    let attachments = item
        .get("attachments")
        .and_then(|a| a.as_l().ok())
        .expect("attachments");
    attachments[index]
        .as_m()
        .unwrap()
        .get("stored")
        .map(ingest::testkit::plain_from_sdk)
        .unwrap_or(Value::Null)
}

fn error_of(item: &Item, index: usize) -> String {
    stored(item, index)["error"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Every sample event through its webhook function, then the stream through the media
/// function: each attachment of each message is copied once, with the right digest and size;
/// the function's own updates, and then a replay of every record, change nothing.
#[tokio::test]
async fn every_sample_attachment_is_stored_once_and_a_replay_changes_nothing() {
    let mut setup = setup("media-samples").await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let manifest = std::fs::read_to_string(root.join("events/expected-status.tsv")).unwrap();
    let mut handlers = HashMap::new();
    for line in manifest
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let event_path = line.split('\t').next().unwrap();
        let function = event_path.split('/').next().unwrap();
        let id = *ProviderId::ALL
            .iter()
            .find(|id| id.function() == function)
            .expect("a provider");
        let handler = handlers
            .entry(function.to_string())
            .or_insert_with(|| table_handler(id, &setup.table, ingest::aws::dynamodb_client()));
        let bytes = std::fs::read(root.join("events").join(event_path)).unwrap();
        handler.handle_event(&bytes).await;
    }

    // Every attachment URL of every message, and the hosts they name.
    let items: Vec<Item> = scan(&setup.client, &setup.table)
        .await
        .into_iter()
        .filter(|i| s(i, "sk").starts_with("MSG#"))
        .collect();
    let mut urls: Vec<(String, String, usize, String)> = Vec::new(); // (pk, sk, index, url)
    for item in &items {
        if let Some(list) = item.get("attachments").and_then(|a| a.as_l().ok()) {
            for (index, a) in list.iter().enumerate() {
                let url = a.as_m().unwrap()["url"].as_s().unwrap().clone();
                urls.push((s(item, "pk").into(), s(item, "sk").into(), index, url));
            }
        }
    }
    assert!(
        urls.len() >= 10,
        "the samples have attachments: {}",
        urls.len()
    );
    let parsed: Vec<ingest::media::url::MediaUrl> = urls
        .iter()
        .map(|(_, _, _, u)| ingest::media::url::MediaUrl::parse(u).expect("sample URLs parse"))
        .collect();
    let mut names: Vec<String> = parsed.iter().map(|u| u.host.clone()).collect();
    names.sort();
    names.dedup();

    // Every sample host is this machine: HTTPS hosts through the test resolver to the TLS
    // server, the local samples' `media.localhost` (plain HTTP) to the plain server.
    let tls = TestTls::new(&names);
    let https = Server::start(Some(tls.server.clone())).await;
    let http = Server::start(None).await;
    let mut knobs = Knobs {
        tls: Some(tls.client.clone()),
        clock: sample_day,
        connect_to: vec![("media.localhost".to_string(), http.addr)],
        ..Knobs::default()
    };
    for name in &names {
        if name != "media.localhost" {
            knobs.resolver.insert(name.clone(), https.addr);
        }
    }
    let media = setup.media(knobs);

    let records = setup.records().await;
    let answers = run(&media, &records).await;
    assert_eq!(failures(&answers), Vec::<String>::new());

    // Each attachment: a copy with the digest and size of what its URL served, fetched once.
    let mut wanted_hits: HashMap<String, usize> = HashMap::new();
    let mut keys = Vec::new();
    for ((pk, sk, index, _), url) in urls.iter().zip(&parsed) {
        let item = items
            .iter()
            .find(|i| s(i, "pk") == pk && s(i, "sk") == sk)
            .unwrap();
        let message = setup.item_by_keys(pk, sk).await;
        let copy = stored(&message, *index);
        let path = url.target.split('?').next().unwrap().to_string();
        let body = default_body(&path);
        assert_eq!(
            copy["sha256"],
            sha256_hex(&body),
            "{pk} {sk} [{index}]: {copy}"
        );
        assert_eq!(copy["size_bytes"], body.len() as u64, "{pk} {sk} [{index}]");
        assert_eq!(copy["bucket"], setup.bucket.as_str());
        let key = copy["key"].as_str().unwrap().to_string();
        assert!(
            key.starts_with(&format!("media/{}/", s(item, "provider"))),
            "{key}"
        );
        assert_eq!(setup.object_sha256(&key).await, sha256_hex(&body), "{key}");
        keys.push(key);
        *wanted_hits.entry(url.target.clone()).or_default() += 1;
    }
    let mut unique = keys.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), keys.len(), "one object per attachment");
    assert_eq!(setup.objects().await.len(), keys.len());
    let mut got_hits: HashMap<String, usize> = HashMap::new();
    for hit in https.hits().into_iter().chain(http.hits()) {
        *got_hits.entry(hit).or_default() += 1;
    }
    assert_eq!(
        got_hits, wanted_hits,
        "each attachment fetched exactly once"
    );

    // The function's own updates come back through the stream: nothing to do.
    let before = scan(&setup.client, &setup.table).await;
    let own = setup.records().await;
    assert!(!own.is_empty(), "the copies' updates are stream records");
    assert_eq!(failures(&run(&media, &own).await), Vec::<String>::new());
    assert!(
        setup.records().await.is_empty(),
        "and they write nothing more"
    );

    // A replay of every record from the start changes nothing.
    let objects = setup.objects().await;
    let hits = https.count() + http.count();
    let mut replay = StreamReader::new(streams_client(), setup.reader.arn().to_string());
    let all = replay.read_new().await.unwrap();
    assert!(all.len() > records.len());
    assert_eq!(failures(&run(&media, &all).await), Vec::<String>::new());
    assert_eq!(https.count() + http.count(), hits, "no fetch on replay");
    assert_eq!(setup.objects().await, objects);
    let after = scan(&setup.client, &setup.table).await;
    assert_eq!(sorted(after), sorted(before), "no item changed");
    assert!(setup.records().await.is_empty(), "no write on replay");
}

/// Items in a comparable form: plain JSON (sorted keys), sorted.
fn sorted(items: Vec<Item>) -> Vec<String> {
    let mut out: Vec<String> = items
        .into_iter()
        .map(|i| ingest::testkit::plain_from_sdk(&AttributeValue::M(i)).to_string())
        .collect();
    out.sort();
    out
}

impl Setup {
    async fn item_by_keys(&self, pk: &str, sk: &str) -> Item {
        self.client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.into()))
            .key("sk", AttributeValue::S(sk.into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .unwrap()
    }
}

/// 404 and 410 are `gone`; a past `expires_at` is `expired` without a request; a body over the
/// cap is `too_large`, announced or not, and leaves no object and no multipart upload behind.
#[tokio::test]
async fn gone_expired_and_too_large() {
    let mut setup = setup("media-failures").await;
    let server = Server::start(None).await;
    let cap: u64 = 10 * 1024 * 1024;
    let mut m = message(
        "failures",
        "whatsapp",
        &[
            &server.at("/status/404"),
            &server.at("/status/410"),
            &server.at("/file/expired.jpg"),
            &server.at("/file/announced.bin?size=11000000"),
            &server.at("/chunked/unannounced.bin?size=12000000"),
            &server.at("/file/fine.jpg?size=5000"),
            // A link that says itself when it dies (TikTok's CDN), and has.
            &server.at("/file/signed.jpg?x-tos-expires=1681980481&x-tos-signature=q"),
        ],
    );
    m.attachments[2].expires_at = Some("2025-12-31T23:59:59.000Z".into());
    // The provider's announced size does not matter: what arrives is counted.
    m.attachments[4].size_bytes = Some(1000);
    setup.put_message(&m).await;
    let media = setup.media(Knobs {
        max_bytes: cap,
        ..Knobs::default()
    });
    let answers = run(&media, &setup.records().await).await;
    assert_eq!(failures(&answers), Vec::<String>::new());

    let item = setup.item(&m).await;
    assert_eq!(error_of(&item, 0), "gone");
    assert_eq!(error_of(&item, 1), "gone");
    assert_eq!(error_of(&item, 2), "expired");
    assert_eq!(error_of(&item, 3), "too_large");
    assert_eq!(error_of(&item, 4), "too_large");
    assert_eq!(error_of(&item, 6), "expired");
    for index in [0, 1, 2, 3, 4, 6] {
        assert!(stored(&item, index)["at"].is_string(), "{index}");
        assert!(stored(&item, index).get("key").is_none(), "{index}");
    }
    assert_eq!(
        stored(&item, 5)["sha256"],
        sha256_hex(&content("fine.jpg", 5000))
    );
    for path in ["/file/expired.jpg", "/file/signed.jpg"] {
        assert_eq!(server.count_of(path), 0, "no request for an expired link");
    }
    assert_eq!(server.count_of("/chunked/unannounced.bin"), 1);
    // Only the fine one is in the bucket; the unannounced one had started a multipart upload
    // (over 8 MiB) and it was aborted.
    let objects = setup.objects().await;
    assert_eq!(objects.len(), 1, "{objects:?}");
    assert!(objects.keys().next().unwrap().ends_with("/5"));
    assert_eq!(setup.uploads_in_progress().await, 0);
}

/// With the production rules (no private networks), URLs and redirects to loopback and plain
/// HTTP are `refused`, and no request reaches the server they name. The first hop of the
/// redirects is a local HTTPS server the test exempts by its exact socket address, standing in
/// for a public host.
#[tokio::test]
async fn production_rules_refuse_loopback_and_plain_http_without_a_request() {
    let mut setup = setup("media-refused").await;
    let tls = TestTls::new(&["media.test".to_string(), "localhost".to_string()]);
    let front = Server::start(Some(tls.server.clone())).await;
    let target = Server::start(Some(tls.server.clone())).await;
    let plain = Server::start(None).await;
    let port = target.addr.port();
    let forbidden = [
        format!("https://127.0.0.1:{port}/x.jpg"),
        format!("https://127.1.2.3:{port}/x.jpg"),
        format!("https://localhost:{port}/x.jpg"),
        format!("https://media.localhost:{port}/x.jpg"),
        format!("https://[::1]:{port}/x.jpg"),
        format!("https://[::ffff:127.0.0.1]:{port}/x.jpg"),
        plain.at("/x.jpg"),
        front
            .url("media.test", "/x.jpg")
            .replace("https://", "http://"),
    ];
    let mut urls: Vec<String> = forbidden.to_vec();
    urls.extend(forbidden.iter().map(|to| {
        front.url(
            "media.test",
            &format!("/redirect?to={}", percent_encode(to)),
        )
    }));
    // The control: the exempt front server itself is fetched.
    urls.push(front.url("media.test", "/file/control.jpg?size=2000"));
    let refs: Vec<&str> = urls.iter().map(String::as_str).collect();
    let m = message("refused", "whatsapp", &refs);
    setup.put_message(&m).await;
    let media = setup.media(Knobs {
        policy: AddressPolicy::production().exempting(front.addr),
        resolver: HashMap::from([("media.test".to_string(), front.addr)]),
        tls: Some(tls.client.clone()),
        ..Knobs::default()
    });
    let answers = run(&media, &setup.records().await).await;
    assert_eq!(failures(&answers), Vec::<String>::new());

    let item = setup.item(&m).await;
    for (index, url) in urls.iter().enumerate().take(urls.len() - 1) {
        assert_eq!(error_of(&item, index), "refused", "{url}");
    }
    let control = stored(&item, urls.len() - 1);
    assert_eq!(control["sha256"], sha256_hex(&content("control.jpg", 2000)));
    assert_eq!(
        target.count(),
        0,
        "nothing reached the loopback target: {:?}",
        target.hits()
    );
    assert_eq!(
        plain.count(),
        0,
        "nothing went over plain HTTP: {:?}",
        plain.hits()
    );
    assert_eq!(
        front.count(),
        forbidden.len() + 1,
        "one request per redirect, and the control: {:?}",
        front.hits()
    );
    assert_eq!(setup.objects().await.len(), 1);
}

/// Redirects are followed three times at most.
#[tokio::test]
async fn at_most_three_redirects() {
    let mut setup = setup("media-redirects").await;
    let server = Server::start(None).await;
    let m = message(
        "redirects",
        "whatsapp",
        &[
            &server.at("/redirect-chain/3/three.jpg"),
            &server.at("/redirect-chain/4/four.jpg"),
        ],
    );
    setup.put_message(&m).await;
    let media = setup.media(Knobs::default());
    assert_eq!(
        failures(&run(&media, &setup.records().await).await),
        Vec::<String>::new()
    );
    let item = setup.item(&m).await;
    assert_eq!(
        stored(&item, 0)["sha256"],
        sha256_hex(&content("three.jpg", 1000))
    );
    assert_eq!(error_of(&item, 1), "refused");
    assert_eq!(server.count_of("/redirect-chain/0/four.jpg"), 0);
    assert_eq!(server.count_of("/redirect-chain/"), 8);
}

/// A 503 fails the record (partial batch response naming its sequence number) and stores
/// nothing; the stream's retry of the same record then stores it.
#[tokio::test]
async fn a_503_then_success_on_retry() {
    let mut setup = setup("media-retry").await;
    let server = Server::start(None).await;
    let m = message(
        "flaky",
        "whatsapp",
        &[&server.at("/flaky/photo.jpg?size=3000")],
    );
    setup.put_message(&m).await;
    let records = setup.records().await;
    assert_eq!(records.len(), 1);
    let sequence = records[0]["dynamodb"]["SequenceNumber"]
        .as_str()
        .unwrap()
        .to_string();
    let media = setup.media(Knobs::default());

    let first = run(&media, &records).await;
    assert_eq!(failures(&first), vec![sequence]);
    assert_eq!(stored(&setup.item(&m).await, 0), Value::Null);
    assert!(setup.objects().await.is_empty());

    let retry = run(&media, &records).await;
    assert_eq!(failures(&retry), Vec::<String>::new());
    let copy = stored(&setup.item(&m).await, 0);
    assert_eq!(copy["sha256"], sha256_hex(&content("photo.jpg", 3000)));
    assert_eq!(copy["content_type"], "image/jpeg");
    assert_eq!(server.count_of("/flaky/photo.jpg"), 2);
}

/// A server slower than the read timeout fails the record, and the records after it are left
/// for the retry.
#[tokio::test]
async fn a_slow_server_fails_the_record() {
    let mut setup = setup("media-slow").await;
    let server = Server::start(None).await;
    let slow = message("slow", "whatsapp", &[&server.at("/slow/3000/a.jpg")]);
    let after = message("after", "whatsapp", &[&server.at("/file/b.jpg")]);
    setup.put_message(&slow).await;
    setup.put_message(&after).await;
    let records = setup.records().await;
    let media = setup.media(Knobs {
        read_timeout: Duration::from_secs(1),
        ..Knobs::default()
    });
    let answers = run(&media, &records).await;
    assert_eq!(
        failures(&answers),
        vec![records[0]["dynamodb"]["SequenceNumber"]
            .as_str()
            .unwrap()
            .to_string()]
    );
    assert_eq!(stored(&setup.item(&slow).await, 0), Value::Null);
    assert_eq!(
        stored(&setup.item(&after).await, 0),
        Value::Null,
        "left for the retry"
    );
    assert_eq!(server.count_of("/file/b.jpg"), 0);
    assert!(setup.objects().await.is_empty());
}

/// A status update of the message while its media is being copied: the item ends with both.
#[tokio::test]
async fn a_status_update_during_the_copy_keeps_both() {
    let mut setup = setup("media-concurrent").await;
    let server = Server::start(None).await;
    let url = server.at("/gated/photo.jpg?size=200000");
    let created = serde_json::json!({
        "event": "message_created",
        "payload": {
            "uuid": "c0ffee00c0ffee00c0ffee00c0ffee01",
            "to": "5511987654321", "from": "5511912345678", "text": null,
            "attachments": [url],
            "status": "sent", "channel": "whatsapp",
            "contact": {"uuid": "media-contact", "conversationHref": "https://dash.callbell.eu/chat/media-chat", "name": "Maria"},
            "createdAt": "2025-11-20T10:03:30.000Z"
        }
    })
    .to_string();
    let update = serde_json::json!({
        "event": "message_status_updated",
        "payload": {
            "uuid": "c0ffee00c0ffee00c0ffee00c0ffee01", "status": "delivered",
            "contact": {"uuid": "media-contact", "conversationHref": "https://dash.callbell.eu/chat/media-chat"}
        }
    })
    .to_string();
    let webhook = table_handler(
        ProviderId::Callbell,
        &setup.table,
        ingest::aws::dynamodb_client(),
    );
    let (code, body) = answer(
        &webhook
            .handle_event(&signed_event(
                Format::HttpApiV2,
                ProviderId::Callbell,
                created.as_bytes(),
            ))
            .await,
    );
    assert_eq!(
        (code, body["status"].as_str()),
        (200, Some("stored")),
        "{body}"
    );
    let records = setup.records().await;
    let media = Arc::new(setup.media(Knobs::default()));
    let copying = {
        let media = Arc::clone(&media);
        let records = records.clone();
        tokio::spawn(async move { run(&media, &records).await })
    };
    server
        .wait_for("/gated/photo.jpg", Duration::from_secs(60))
        .await;
    let (code, body) = answer(
        &webhook
            .handle_event(&signed_event(
                Format::HttpApiV2,
                ProviderId::Callbell,
                update.as_bytes(),
            ))
            .await,
    );
    assert_eq!(
        (code, body["status"].as_str()),
        (200, Some("updated")),
        "{body}"
    );
    server.open_gate();
    let answers = tokio::time::timeout(BATCH_LIMIT, copying)
        .await
        .expect("the copy ends")
        .unwrap();
    assert_eq!(failures(&answers), Vec::<String>::new());

    let items = conversation(&setup.client, &setup.table, "callbell#media-chat").await;
    assert_eq!(items.len(), 1);
    assert_eq!(s(&items[0], "status"), "delivered");
    assert_eq!(
        stored(&items[0], 0)["sha256"],
        sha256_hex(&content("photo.jpg", 200_000))
    );
    // The status update's own record (an image without `stored`) costs no second fetch.
    assert_eq!(
        failures(&run(&media, &setup.records().await).await),
        Vec::<String>::new()
    );
    assert_eq!(server.count_of("/gated/photo.jpg"), 1);
}

/// A channel `MEDIA_CHANNELS` leaves out: no fetch, no `stored`.
#[tokio::test]
async fn channels_left_out_get_nothing() {
    let mut setup = setup("media-channels").await;
    let server = Server::start(None).await;
    let instagram = message("ig", "instagram", &[&server.at("/file/ig.jpg")]);
    let whatsapp = message("wa", "whatsapp", &[&server.at("/file/wa.jpg")]);
    setup.put_message(&instagram).await;
    setup.put_message(&whatsapp).await;
    let media = setup.media(Knobs {
        channels: "whatsapp,telegram",
        ..Knobs::default()
    });
    assert_eq!(
        failures(&run(&media, &setup.records().await).await),
        Vec::<String>::new()
    );
    assert_eq!(stored(&setup.item(&instagram).await, 0), Value::Null);
    assert!(stored(&setup.item(&whatsapp).await, 0)["sha256"].is_string());
    assert_eq!(server.count_of("/file/ig.jpg"), 0);
    assert_eq!(server.count(), 1);
}

/// A file larger than a part goes up in parts, byte for byte.
#[tokio::test]
async fn a_large_file_is_copied_in_parts() {
    let mut setup = setup("media-large").await;
    let server = Server::start(None).await;
    let size = 20_000_000;
    let m = message(
        "large",
        "whatsapp",
        &[&server.at(&format!("/chunked/large.mp4?size={size}"))],
    );
    setup.put_message(&m).await;
    let media = setup.media(Knobs::default());
    assert_eq!(
        failures(&run(&media, &setup.records().await).await),
        Vec::<String>::new()
    );
    let copy = stored(&setup.item(&m).await, 0);
    let want = sha256_hex(&content("large.mp4", size));
    assert_eq!(copy["sha256"], want.as_str());
    assert_eq!(copy["size_bytes"], size as u64);
    assert_eq!(copy["content_type"], "application/octet-stream");
    let key = copy["key"].as_str().unwrap();
    assert_eq!(key, "media/callbell/media-conv/large/0");
    assert_eq!(setup.object_sha256(key).await, want);
    assert_eq!(setup.objects().await[key], size as i64);
    assert_eq!(setup.uploads_in_progress().await, 0);
}
