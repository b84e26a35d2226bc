//! The read API on DynamoDB Local and moto's S3: messages stored by the webhook handlers (in
//! shuffled order, concurrently, with redeliveries), summaries folded as the projector folds
//! stream images (by the projector itself on the table's stream, for the list of sixty), then every read through the inbox's handler as API Gateway invokes it — and
//! every request the inbox sent to DynamoDB recorded: only Query, GetItem and BatchGetItem.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use futures_util::StreamExt as _;
use ingest::inbox::{InboxHandler, InboxSettings};
use ingest::projector::{ProjectorHandler, ProjectorSettings};
use ingest::read::summary::MessageImage;
use ingest::storage::DynamoDbStore;
use ingest::telemetry::MetricsSink;
use ingest::testkit::stream::{event as stream_event, stream_arn, streams_client, StreamReader};
use serde_json::{json, Value};
use support::recording::Recording;
use support::*;

/// The inbox on `table`, its DynamoDB requests recorded, its links into `bucket`.
struct Inbox {
    handler: InboxHandler<DynamoDbStore>,
    recording: Recording,
}

impl Inbox {
    fn new(table: &str, bucket: &str) -> Self {
        let recording = Recording::new();
        let handler = InboxHandler::new(
            Ok(InboxSettings {
                table_name: table.to_string(),
                media_bucket: bucket.to_string(),
            }),
            DynamoDbStore::new(recording.dynamodb_client(), table),
            s3_client(),
        )
        .with_metrics(MetricsSink::new(|_| {}));
        Inbox { handler, recording }
    }

    /// `method path?query` as API Gateway's HTTP API hands it over: status and JSON body.
    async fn call(&self, method: &str, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
        let parameters: serde_json::Map<String, Value> = query
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let event = json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": path,
            "rawQueryString": "",
            "headers": {"host": "inbox.local"},
            "queryStringParameters": parameters,
            "requestContext": {"http": {"method": method, "path": path}, "requestId": "test"},
            "isBase64Encoded": false
        });
        let response = self
            .handler
            .handle_event(event.to_string().as_bytes())
            .await;
        let body = if response.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&response.body).expect("answers are JSON")
        };
        (response.status_code, body)
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let (status, body) = self.call("GET", path, query).await;
        assert_eq!(status, 200, "GET {path} {query:?}: {body}");
        body
    }

    /// Every page of `path` with `query`, each page's entries under `member`: the entries in
    /// the order the pages gave them.
    async fn walk(&self, path: &str, query: &[(&str, &str)], member: &str) -> Vec<Value> {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..5000 {
            let mut with_cursor = query.to_vec();
            if let Some(cursor) = &cursor {
                with_cursor.push(("cursor", cursor));
            }
            let page = self.get(path, &with_cursor).await;
            seen.extend(page[member].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => return seen,
            }
        }
        panic!("{path} {query:?}: no end after 5000 pages");
    }

    /// The inbox sent DynamoDB reads only: no Scan, no write of any kind.
    fn assert_only_reads(&self) {
        let operations = self.recording.operations();
        assert!(!operations.is_empty());
        for operation in &operations {
            assert!(
                ["Query", "GetItem", "BatchGetItem"].contains(&operation.as_str()),
                "the inbox sent {operation}"
            );
        }
    }

    fn assert_error(&self, (status, body): (u16, Value), want: u16, field: Option<&str>) {
        assert_eq!(status, want, "{body}");
        assert!(body["error"].is_string(), "{body}");
        assert_eq!(body["field"].as_str(), field, "{body}");
    }
}

fn s3_client() -> aws_sdk_s3::Client {
    assert!(
        std::env::var("AWS_ENDPOINT_URL_S3").is_ok(),
        "the inbox tests need the local S3 server: run them with scripts/test.sh"
    );
    ingest::aws::s3_client()
}

/// A fixed shuffle (no randomness in tests): `items` in an order that is far from sorted.
fn shuffled<T>(mut items: Vec<T>, seed: u64) -> Vec<T> {
    let mut state = seed;
    for i in (1..items.len()).rev() {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        items.swap(i, (state >> 33) as usize % (i + 1));
    }
    items
}

/// Delivers every body through its provider's handler, `concurrency` at a time; each must be
/// stored or a duplicate in the end. A 503 (DynamoDB Local falling behind the functions' tight
/// time limits on a loaded machine) is delivered again, as the provider would.
async fn deliver_all(table: &str, bodies: Vec<(ProviderId, Vec<u8>)>, concurrency: usize) {
    let client = local_client().await;
    let handlers: BTreeMap<&str, Arc<Box<dyn AnyHandler>>> = ProviderId::ALL
        .iter()
        .map(|id| {
            (
                id.name(),
                Arc::new(table_handler(*id, table, client.clone())),
            )
        })
        .collect();
    let handlers = &handlers;
    futures_util::stream::iter(bodies)
        .map(|(id, body)| async move {
            let handler = &handlers[id.name()];
            let event = signed_event(Format::HttpApiV2, id, &body);
            for attempt in 1..=5 {
                let (code, answer) = answer(&handler.handle_event(&event).await);
                if code == 503 && attempt < 5 {
                    tokio::time::sleep(std::time::Duration::from_millis(200 * attempt)).await;
                    continue;
                }
                assert_eq!(code, 200, "{answer}");
                assert!(
                    ["stored", "duplicate"].contains(&answer["status"].as_str().unwrap_or("")),
                    "{answer}"
                );
                return;
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<()>>()
        .await;
}

/// Folds every message of the conversation at `pk` into its summary, in shuffled batches, as
/// the projector folds the stream's images.
async fn fold(store: &DynamoDbStore, client: &aws_sdk_dynamodb::Client, table: &str, pk: &str) {
    let images: Vec<MessageImage> = conversation_all(client, table, pk)
        .await
        .into_iter()
        .map(|item| serde_dynamo::from_item(item).expect("a message item reads as an image"))
        .collect();
    let images = shuffled(images.iter().collect::<Vec<_>>(), pk.len() as u64);
    for batch in images.chunks(100) {
        store.fold_summary(pk, batch).await.unwrap();
    }
}

/// The projector on `table`, its metrics discarded.
async fn projector(table: &str) -> ProjectorHandler {
    ProjectorHandler::new(
        Ok(ProjectorSettings {
            table_name: table.to_string(),
        }),
        local_client().await,
    )
    .with_metrics(MetricsSink::new(|_| {}))
}

/// The stream's records since the last call, through the projector as its mapping hands them
/// over (its filter, batches of 100); no conversation may fail.
async fn project(stream: &mut StreamReader, projector: &ProjectorHandler) {
    let pattern = ingest::projector::filter::pattern();
    let records: Vec<Value> = stream
        .read_new()
        .await
        .expect("read the stream")
        .into_iter()
        .filter(|r| ingest::media::filter::matches(&pattern, r))
        .collect();
    for batch in records.chunks(100) {
        let answer = projector.handle(&stream_event(batch)).await.unwrap();
        assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
    }
}

/// Every message item of a conversation (all pages).
async fn conversation_all(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: &str,
) -> Vec<support::Item> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .query()
            .table_name(table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :msg)")
            .expression_attribute_values(":pk", AttributeValue::S(pk.into()))
            .expression_attribute_values(":msg", AttributeValue::S("MSG#".into()))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        items.extend(page.items.unwrap_or_default());
        start = page.last_evaluated_key;
        if start.is_none() {
            return items;
        }
    }
}

fn partoo_message(conversation: &str, n: u64, inbound: bool) -> Vec<u8> {
    let mut body = ProviderId::Partoo
        .samples()
        .message(conversation, n, &format!("message {n}"));
    body["payload"]["message"]["sender_type"] = json!(if inbound { "Consumer" } else { "User" });
    body_of(&body)
}

#[tokio::test]
async fn a_thousand_messages_page_in_order_key_order_both_ways() {
    let client = admin_client().await;
    let table = create_table(&client, "inbox-thousand").await;
    let conversation = "thread-1000";
    // Odd messages from the customer, even ones answers: the last (1000) is an answer.
    let mut bodies: Vec<(ProviderId, Vec<u8>)> = (1..=1000)
        .map(|n| {
            (
                ProviderId::Partoo,
                partoo_message(conversation, n, n % 2 == 1),
            )
        })
        .collect();
    // A redelivery of every tenth message, somewhere in the shuffle.
    bodies.extend((1..=100).map(|k| {
        (
            ProviderId::Partoo,
            partoo_message(conversation, k * 10 - 3, true),
        )
    }));
    deliver_all(&table, shuffled(bodies, 1000), 8).await;
    let pk = format!("partoo#{conversation}");
    let store = DynamoDbStore::new(local_client().await, &table);
    fold(&store, &client, &table, &pk).await;

    let inbox = Inbox::new(&table, "unused");
    let path = format!("/conversations/partoo/{conversation}/messages");
    let ascending: Vec<String> = (1..=1000).map(|n| (5000 + n).to_string()).collect();
    let descending: Vec<String> = ascending.iter().rev().cloned().collect();
    for limit in ["1", "7", "100"] {
        for (order, expected) in [("asc", &ascending), ("desc", &descending)] {
            let seen = inbox
                .walk(&path, &[("order", order), ("limit", limit)], "messages")
                .await;
            let ids: Vec<String> = seen
                .iter()
                .map(|m| m["message_id"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(&ids, expected, "order {order}, limit {limit}");
        }
    }
    // The default order is newest first; a message reads back as its attributes.
    let first = inbox.get(&path, &[("limit", "1")]).await;
    let newest = &first["messages"][0];
    assert_eq!(newest["message_id"], "6000");
    assert_eq!(newest["direction"], "outbound");
    assert_eq!(
        newest["schema_version"].as_u64(),
        Some(u64::from(ingest::message::SCHEMA_VERSION))
    );
    assert!(newest.get("pk").is_none() && newest.get("raw").is_none());

    let summary_path = format!("/conversations/partoo/{conversation}");
    let summary = inbox.get(&summary_path, &[]).await;
    assert_eq!(
        summary["last_message"]["message_id"], "6000",
        "the greatest order key"
    );
    assert_eq!(summary["last_message"]["direction"], "outbound");
    assert_eq!(summary["awaiting_reply"], false);
    assert_eq!(summary["last_inbound_at"], summary_time_of(999));

    // The customer writes again: awaiting a reply.
    deliver_all(
        &table,
        vec![(ProviderId::Partoo, partoo_message(conversation, 1001, true))],
        1,
    )
    .await;
    // At once in the conversation (strongly consistent), before any summary is refreshed.
    let first = inbox.get(&path, &[("limit", "1")]).await;
    assert_eq!(first["messages"][0]["message_id"], "6001");
    fold(&store, &client, &table, &pk).await;
    let summary = inbox.get(&summary_path, &[]).await;
    assert_eq!(summary["last_message"]["message_id"], "6001");
    assert_eq!(summary["awaiting_reply"], true);
    inbox.assert_only_reads();
}

/// The `created_at` of Partoo's sample message `n` (its time is `n` seconds after 10:00).
fn summary_time_of(n: u64) -> String {
    format!(
        "2024-05-01T{:02}:{:02}:{:02}.123Z",
        10 + n / 3600 % 14,
        n / 60 % 60,
        n % 60
    )
}

/// Conversation `i` of the sixty: its provider, its account and channel, and whether its
/// last message is the customer's.
struct Spec {
    provider: ProviderId,
    conversation: String,
    account: Option<&'static str>,
    channel: &'static str,
    awaiting: bool,
}

fn spec(i: u64) -> Spec {
    let provider = ProviderId::ALL[i as usize % 3];
    let second = (i / 3) % 2 == 0;
    let (account, channel) = match provider {
        ProviderId::TiktokShop => (
            Some(if second { "shop-a" } else { "shop-b" }),
            "tiktok_shop",
        ),
        ProviderId::Partoo => (
            Some(if i % 2 == 0 { "5" } else { "6" }),
            if second { "whatsapp" } else { "facebook" },
        ),
        ProviderId::Callbell => (None, if second { "whatsapp" } else { "instagram" }),
    };
    Spec {
        provider,
        conversation: format!("conv-{i}"),
        account,
        channel,
        awaiting: i % 4 != 0,
    }
}

/// Message `n` of `spec`'s conversation, from the customer or not.
fn body_for(spec: &Spec, n: u64, inbound: bool) -> Vec<u8> {
    let mut body = spec
        .provider
        .samples()
        .message(&spec.conversation, n, &format!("m{n}"));
    match spec.provider {
        ProviderId::TiktokShop => {
            body["shop_id"] = json!(spec.account.unwrap());
            body["data"]["sender"]["role"] =
                json!(if inbound { "BUYER" } else { "CUSTOMER_SERVICE" });
        }
        ProviderId::Partoo => {
            body["payload"]["org_id"] = json!(spec.account.unwrap().parse::<u64>().unwrap());
            let partner = if spec.channel == "whatsapp" {
                "Whatsapp"
            } else {
                "Facebook"
            };
            body["payload"]["conversation"]["messaging_partner"] = json!(partner);
            body["payload"]["message"]["sender_type"] =
                json!(if inbound { "Consumer" } else { "User" });
        }
        ProviderId::Callbell => {
            body["payload"]["channel"] = json!(spec.channel);
            body["payload"]["status"] = json!(if inbound { "received" } else { "sent" });
        }
    }
    body_of(&body)
}

/// The whole list, `provider#conversation_id` newest first; no conversation twice.
async fn listed(inbox: &Inbox) -> Vec<String> {
    let seen: Vec<String> = inbox
        .walk("/conversations", &[("limit", "9")], "conversations")
        .await
        .iter()
        .map(|s| {
            format!(
                "{}#{}",
                s["provider"].as_str().unwrap(),
                s["conversation_id"].as_str().unwrap()
            )
        })
        .collect();
    let distinct: std::collections::BTreeSet<&String> = seen.iter().collect();
    assert_eq!(distinct.len(), seen.len(), "listed twice: {seen:?}");
    seen
}

#[tokio::test]
async fn sixty_conversations_list_newest_first_under_every_filter_without_gaps_or_repeats() {
    let client = admin_client().await;
    // With its stream: the projector keeps the summaries here, as deployed.
    let table = create_table_with_stream(&client, "inbox-sixty").await;
    let mut stream = StreamReader::new(
        streams_client(),
        stream_arn(&client, &table)
            .await
            .unwrap()
            .expect("a stream"),
    );
    let projector = projector(&table).await;
    let specs: Vec<Spec> = (0..60).map(spec).collect();
    // Two messages each: the customer's, then the last one; times apart per conversation.
    let mut bodies = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let n = 10 * i as u64 + 1;
        bodies.push((spec.provider, body_for(spec, n, true)));
        bodies.push((spec.provider, body_for(spec, n + 1, spec.awaiting)));
        bodies.push((spec.provider, body_for(spec, n + 1, spec.awaiting)));
    }
    deliver_all(&table, shuffled(bodies, 60), 8).await;
    let inbox = Inbox::new(&table, "unused");

    // A conversation without its summary yet (the projector lags) is never a 404.
    let lagging = &specs[1];
    let path = format!(
        "/conversations/{}/{}",
        lagging.provider.name(),
        lagging.conversation
    );
    let early = inbox.get(&path, &[]).await;
    assert_eq!(early["last_message"]["message_id"], "5012");
    assert_eq!(early["awaiting_reply"], true);

    // The stream (180 records, redeliveries' none) through the projector.
    project(&mut stream, &projector).await;
    // Each summary as GetItem reads it: what the listing must order and filter.
    let mut summaries = Vec::new();
    for spec in &specs {
        let path = format!(
            "/conversations/{}/{}",
            spec.provider.name(),
            spec.conversation
        );
        let summary = inbox.get(&path, &[]).await;
        assert_eq!(summary["awaiting_reply"], spec.awaiting, "{summary}");
        assert_eq!(summary["channel"], spec.channel, "{summary}");
        assert_eq!(summary["account_id"].as_str(), spec.account, "{summary}");
        summaries.push(summary);
    }
    summaries.sort_by(|a, b| {
        b["last_activity_at"]
            .as_str()
            .cmp(&a["last_activity_at"].as_str())
    });
    let key = |s: &Value| {
        format!(
            "{}#{}",
            s["provider"].as_str().unwrap(),
            s["conversation_id"].as_str().unwrap()
        )
    };

    let filters: &[&[(&str, &str)]] = &[
        &[],
        &[("provider", "partoo")],
        &[("account_id", "shop-a")],
        &[("channel", "whatsapp")],
        &[("awaiting_reply", "true")],
        &[("awaiting_reply", "false")],
        &[("provider", "callbell"), ("channel", "instagram")],
        &[("provider", "tiktok_shop"), ("awaiting_reply", "false")],
        &[
            ("provider", "partoo"),
            ("account_id", "6"),
            ("channel", "facebook"),
            ("awaiting_reply", "true"),
        ],
        &[("provider", "partoo"), ("account_id", "nobody")],
    ];
    for filter in filters {
        let expected: Vec<String> = summaries
            .iter()
            .filter(|s| {
                filter.iter().all(|(name, value)| match *name {
                    "awaiting_reply" => s[*name].as_bool().unwrap().to_string() == *value,
                    _ => s[*name].as_str() == Some(*value),
                })
            })
            .map(key)
            .collect();
        let limits: &[&str] = if filter.is_empty() {
            &["1", "7", "25"]
        } else {
            &["7", "25"]
        };
        for limit in limits {
            let mut query = filter.to_vec();
            query.push(("limit", limit));
            let seen: Vec<String> = inbox
                .walk("/conversations", &query, "conversations")
                .await
                .iter()
                .map(key)
                .collect();
            assert_eq!(seen, expected, "{query:?}");
        }
    }
    assert_eq!(
        listed(&inbox).await.len(),
        60,
        "every conversation listed once"
    );

    // Messages answered `stored` after the list was read: a new conversation's, and a newer
    // one of a listed conversation. Each is in its conversation at once (strongly consistent;
    // the new conversation's summary made from its newest message), and the list shows them
    // once the projector has had the stream's records — deployed, within its batching window
    // of a second — in activity order, each conversation once.
    let newcomer = Spec {
        provider: ProviderId::Callbell,
        conversation: "conv-new".into(),
        account: None,
        channel: "whatsapp",
        awaiting: true,
    };
    let moved = &specs[2];
    deliver_all(
        &table,
        vec![
            (newcomer.provider, body_for(&newcomer, 700, true)),
            (moved.provider, body_for(moved, 701, true)),
        ],
        2,
    )
    .await;
    let path_of = |spec: &Spec| {
        format!(
            "/conversations/{}/{}",
            spec.provider.name(),
            spec.conversation
        )
    };
    let at_once = inbox.get(&path_of(&newcomer), &[]).await;
    assert_eq!(at_once["last_message"]["text"], "m700", "{at_once}");
    assert_eq!(at_once["awaiting_reply"], true, "{at_once}");
    for (spec, text) in [(&newcomer, "m700"), (moved, "m701")] {
        let path = format!("{}/messages", path_of(spec));
        let newest = inbox.get(&path, &[("limit", "1")]).await;
        assert_eq!(newest["messages"][0]["text"], text, "{path}: {newest}");
    }
    let newcomer_key = "callbell#conv-new".to_string();
    assert!(
        !listed(&inbox).await.contains(&newcomer_key),
        "listed before its summary was made"
    );
    let stored = std::time::Instant::now();
    project(&mut stream, &projector).await;
    assert!(
        listed(&inbox).await.contains(&newcomer_key),
        "listed once the projector had the stream"
    );
    let within = stored.elapsed();
    assert!(within < std::time::Duration::from_secs(5), "{within:?}");
    let mut expected = summaries.clone();
    for spec in [&newcomer, moved] {
        let pk = format!("{}#{}", spec.provider.name(), spec.conversation);
        let summary = inbox.get(&path_of(spec), &[]).await;
        expected.retain(|s| key(s) != pk);
        expected.push(summary);
    }
    let moved_summary = expected.last().unwrap();
    assert_eq!(moved_summary["last_message"]["text"], "m701");
    let moved_before = summaries
        .iter()
        .find(|s| s["conversation_id"] == moved.conversation.as_str())
        .unwrap();
    assert!(
        moved_summary["last_activity_at"].as_str() > moved_before["last_activity_at"].as_str(),
        "{moved_summary}"
    );
    expected.sort_by(|a, b| {
        b["last_activity_at"]
            .as_str()
            .cmp(&a["last_activity_at"].as_str())
    });
    let expected: Vec<String> = expected.iter().map(key).collect();
    assert_eq!(expected.len(), 61);
    assert_eq!(listed(&inbox).await, expected, "newest activity first");

    // Cursors are bound to their request.
    let (_, page) = inbox.call("GET", "/conversations", &[("limit", "7")]).await;
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let mut altered = cursor.clone().into_bytes();
    let last = altered.len() - 1;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    inbox.assert_error(
        inbox
            .call(
                "GET",
                "/conversations",
                &[("limit", "7"), ("cursor", &altered)],
            )
            .await,
        400,
        Some("cursor"),
    );
    // Any one character, wherever it is: the position, the separator or the tag.
    for at in 0..cursor.len() {
        let mut altered = cursor.clone().into_bytes();
        altered[at] = if altered[at] == b'x' { b'y' } else { b'x' };
        let altered = String::from_utf8(altered).unwrap();
        inbox.assert_error(
            inbox
                .call(
                    "GET",
                    "/conversations",
                    &[("limit", "7"), ("cursor", &altered)],
                )
                .await,
            400,
            Some("cursor"),
        );
    }
    inbox.assert_error(
        inbox
            .call(
                "GET",
                "/conversations",
                &[("provider", "partoo"), ("cursor", &cursor)],
            )
            .await,
        400,
        Some("cursor"),
    );
    for garbage in ["garbage", "a.b", "..", "eyJ4Ijo.AAAA"] {
        inbox.assert_error(
            inbox
                .call("GET", "/conversations", &[("cursor", garbage)])
                .await,
            400,
            Some("cursor"),
        );
    }
    // A messages cursor of one conversation is refused by another, and by the other order.
    let messages = |spec: &Spec| {
        format!(
            "/conversations/{}/{}/messages",
            spec.provider.name(),
            spec.conversation
        )
    };
    let (_, page) = inbox
        .call("GET", &messages(&specs[0]), &[("limit", "1")])
        .await;
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let (status, _) = inbox
        .call(
            "GET",
            &messages(&specs[0]),
            &[("limit", "1"), ("cursor", &cursor)],
        )
        .await;
    assert_eq!(status, 200, "the cursor continues its own conversation");
    for (path, query) in [
        (messages(&specs[3]), vec![("cursor", cursor.as_str())]),
        (
            messages(&specs[0]),
            vec![("cursor", cursor.as_str()), ("order", "asc")],
        ),
        (
            "/conversations".to_string(),
            vec![("cursor", cursor.as_str())],
        ),
    ] {
        inbox.assert_error(inbox.call("GET", &path, &query).await, 400, Some("cursor"));
    }

    // Bad parameters, unknown things, other methods.
    for (path, query, field) in [
        ("/conversations", vec![("limit", "0")], "limit"),
        ("/conversations", vec![("limit", "101")], "limit"),
        ("/conversations", vec![("limit", "ten")], "limit"),
        ("/conversations", vec![("provider", "whatsapp")], "provider"),
        ("/conversations/acme/1", vec![], "provider"),
        (
            "/conversations/partoo/conv-1/messages",
            vec![("order", "newest")],
            "order",
        ),
    ] {
        inbox.assert_error(inbox.call("GET", path, &query).await, 400, Some(field));
    }
    for path in [
        "/conversations/partoo/nobody",
        "/conversations/partoo/nobody/messages",
        "/nowhere",
    ] {
        inbox.assert_error(inbox.call("GET", path, &[]).await, 404, None);
    }
    for method in ["POST", "PUT", "DELETE"] {
        inbox.assert_error(inbox.call(method, "/conversations", &[]).await, 405, None);
    }
    let (status, body) = inbox.call("HEAD", "/conversations", &[]).await;
    assert_eq!(
        (status, body),
        (200, Value::Null),
        "HEAD: GET without the body"
    );
    inbox.assert_only_reads();
}

#[tokio::test]
async fn customers_are_found_across_providers_by_phone_digits_and_address_case() {
    let client = admin_client().await;
    let table = create_table(&client, "inbox-customers").await;
    let mut partoo = ProviderId::Partoo.samples().message("77", 1, "bonjour");
    partoo["payload"]["conversation"]["consumer_phone_number"] = json!("+33 6 12 34 56 78");
    partoo["payload"]["conversation"]["consumer_email"] = json!("John.Doe@Example.com");
    let mut callbell = ProviderId::Callbell
        .samples()
        .message("chat-9", 120, "hello");
    callbell["payload"]["contact"]["phoneNumber"] = json!("33612345678");
    let mut other = ProviderId::Callbell.samples().message("chat-10", 60, "hi");
    other["payload"]["contact"]["phoneNumber"] = json!("+49 151 1234 5678");
    deliver_all(
        &table,
        vec![
            (ProviderId::Partoo, body_of(&partoo)),
            (ProviderId::Callbell, body_of(&callbell)),
            (ProviderId::Callbell, body_of(&other)),
        ],
        3,
    )
    .await;
    let store = DynamoDbStore::new(local_client().await, &table);
    for pk in ["partoo#77", "callbell#chat-9", "callbell#chat-10"] {
        fold(&store, &client, &table, pk).await;
    }
    let inbox = Inbox::new(&table, "unused");
    let found = |body: Value| -> Vec<String> {
        body["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                format!(
                    "{}#{}",
                    s["provider"].as_str().unwrap(),
                    s["conversation_id"].as_str().unwrap()
                )
            })
            .collect()
    };
    // Newest first: Callbell's message (10:02) after Partoo's (10:00:01).
    let both = vec!["callbell#chat-9".to_string(), "partoo#77".to_string()];
    for phone in ["33612345678", "+33 6 12 34 56 78", "+33 (0)6-12-34-56-78"] {
        let phone_result = found(inbox.get("/customers", &[("phone", phone)]).await);
        if phone.contains("(0)") {
            assert!(
                phone_result.is_empty(),
                "another number's digits: {phone_result:?}"
            );
        } else {
            assert_eq!(phone_result, both, "{phone}");
        }
    }
    for email in ["john.doe@example.com", "JOHN.DOE@EXAMPLE.COM"] {
        assert_eq!(
            found(inbox.get("/customers", &[("email", email)]).await),
            vec!["partoo#77".to_string()]
        );
    }
    assert!(found(inbox.get("/customers", &[("phone", "+1 555 0100")]).await).is_empty());
    assert!(found(
        inbox
            .get("/customers", &[("email", "stranger@example.com")])
            .await
    )
    .is_empty());
    inbox.assert_error(
        inbox.call("GET", "/customers", &[]).await,
        400,
        Some("phone"),
    );
    inbox.assert_only_reads();
}

#[tokio::test]
async fn a_download_url_fetches_the_stored_copy_and_raw_reads_back() {
    let client = admin_client().await;
    let table = create_table(&client, "inbox-media").await;
    let s3 = s3_client();
    let bucket = format!("inbox-{table}");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let mut body = ProviderId::Partoo
        .samples()
        .message("42", 1, "https://cdn.example.com/a.jpg");
    body["payload"]["message"]["content_type"] = json!("Image");
    let raw = body_of(&body);
    deliver_all(&table, vec![(ProviderId::Partoo, raw.clone())], 1).await;
    // What the media function does with a copy: the object, then the attachment's `stored`.
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let key = "media/partoo/42/a.jpg";
    s3.put_object()
        .bucket(&bucket)
        .key(key)
        .body(bytes.clone().into())
        .send()
        .await
        .unwrap();
    let items = conversation_all(&client, &table, "partoo#42").await;
    let stored = AttributeValue::M(
        [
            ("bucket", AttributeValue::S(bucket.clone())),
            ("key", AttributeValue::S(key.into())),
            ("sha256", AttributeValue::S("00".repeat(32))),
            ("size_bytes", AttributeValue::N(bytes.len().to_string())),
            ("content_type", AttributeValue::S("image/jpeg".into())),
            (
                "stored_at",
                AttributeValue::S("2024-05-01T10:00:02.000Z".into()),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
    );
    client
        .update_item()
        .table_name(&table)
        .key("pk", items[0]["pk"].clone())
        .key("sk", items[0]["sk"].clone())
        .update_expression("SET attachments[0].#stored = :stored")
        .expression_attribute_names("#stored", "stored")
        .expression_attribute_values(":stored", stored)
        .send()
        .await
        .unwrap();

    let inbox = Inbox::new(&table, &bucket);
    let page = inbox
        .get("/conversations/partoo/42/messages", &[("include", "raw")])
        .await;
    let message = &page["messages"][0];
    assert_eq!(message["raw"].as_str().unwrap().as_bytes(), raw.as_slice());
    let attachment = &message["attachments"][0];
    assert_eq!(attachment["stored"]["size_bytes"], 70_000);
    let url = attachment["download_url"].as_str().expect("a download_url");
    assert!(url.contains("X-Amz-Expires=900"), "{url}");
    assert_eq!(fetch(url).await, bytes);
    let plain = inbox.get("/conversations/partoo/42/messages", &[]).await;
    assert!(plain["messages"][0].get("raw").is_none());
    inbox.assert_only_reads();
}

/// GET `url`'s body — a loopback URL only (moto's S3).
async fn fetch(url: &str) -> Vec<u8> {
    use http_body_util::{BodyExt as _, Empty};
    let uri: http::Uri = url.parse().unwrap();
    let host = uri.host().unwrap();
    assert!(
        host == "127.0.0.1" || host == "localhost",
        "tests fetch from loopback only: {url}"
    );
    let address = format!("{host}:{}", uri.port_u16().unwrap_or(80));
    let stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let request = http::Request::get(uri.path_and_query().unwrap().as_str())
        .header("host", uri.authority().unwrap().as_str())
        .body(Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec()
}
