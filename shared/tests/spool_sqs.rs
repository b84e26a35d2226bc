//! The spool end to end, against DynamoDB Local and the local SQS server (moto), both behind
//! loopback fault proxies: a table unreachable for a while loses nothing (every delivery
//! accepted, then drained into the table exactly once, in order, statuses final, the queues
//! empty); a table and queue both unreachable answer 503 within the budget and keep nothing
//! half-way; the happy path never calls the queue; and `ingest-dev replay`'s code brings a
//! quarantined body back after a (simulated) parser fix, changing nothing when run again.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use ingest::replay::{replay, Action, Source};
use ingest::spool::{Budget, MemorySpool, Spool, SqsSpool};
use ingest::storage::DynamoDbStore;
use ingest::testkit::{AnyHandler, HandlerSpec};
use serde_json::Value;
use support::proxy::{self, host_port, Proxy};
use support::sqs::*;
use support::*;

const PROVIDER_DEADLINE: Duration = Duration::from_secs(3);
/// Bodies per provider (300 in all), each delivered twice.
const BODIES_PER_PROVIDER: u64 = 100;
const CONVERSATIONS: u64 = 4;
const CLIENTS: usize = 8;

/// A function's SQS client (its timeouts) on `endpoint`.
fn spool_at(endpoint: &str, queue_url: &str) -> Arc<dyn Spool> {
    let config = ingest::aws::sqs_client()
        .config()
        .to_builder()
        .endpoint_url(endpoint)
        .build();
    Arc::new(SqsSpool::new(
        aws_sdk_sqs::Client::from_conf(config),
        queue_url,
    ))
}

/// A spool client whose attempts may take as long as the budget: under hundreds of sends, the
/// local SQS server (on two cores shared with the tests' debug builds) can take longer than the
/// 400 ms an attempt gets against SQS itself.
fn patient_spool_at(endpoint: &str, queue_url: &str) -> Arc<dyn Spool> {
    use aws_sdk_sqs::config::{timeout::TimeoutConfig, BehaviorVersion, Credentials, Region};
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .http_client(ingest::aws::https_client())
        .endpoint_url(endpoint)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(2))
                .operation_timeout(Duration::from_secs(3))
                .build(),
        )
        .build();
    Arc::new(SqsSpool::new(
        aws_sdk_sqs::Client::from_conf(config),
        queue_url,
    ))
}

/// A function's DynamoDB client on `endpoint`.
async fn table_at(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let config = local_client()
        .await
        .config()
        .to_builder()
        .endpoint_url(endpoint)
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

fn spec(
    table: &str,
    client: aws_sdk_dynamodb::Client,
    spool: Arc<dyn Spool>,
    budget: Budget,
) -> HandlerSpec<DynamoDbStore> {
    let mut spec = HandlerSpec::new(DynamoDbStore::new(client, table), table).with_spool(spool);
    spec.budget = Some(budget);
    spec
}

/// One delivery: (provider, body number, copy, event).
type Delivery = (ProviderId, u64, u32, Vec<u8>);

/// Body `i` of `id`: a message, or — for every fourth body of a provider that sends updates —
/// an update of the message three bodies before it.
fn body(id: ProviderId, i: u64) -> Value {
    let samples = id.samples();
    let conversation = |n: u64| format!("{}", 10 + n % CONVERSATIONS);
    if i % 4 == 3 {
        let n = i - 3;
        if let Some(update) = samples.status_update(&conversation(n), n, &format!("message {n}")) {
            return update;
        }
    }
    samples.message(&conversation(i), i, &format!("message {i}"))
}

fn deliveries() -> Vec<Delivery> {
    let mut all = Vec::new();
    for &id in ProviderId::ALL {
        let samples = id.samples();
        for i in 0..BODIES_PER_PROVIDER {
            for copy in 0..2u32 {
                let mut value = body(id, i);
                if copy > 0 {
                    samples.redeliver(&mut value, copy);
                }
                let body = body_of(&value);
                let credentials = samples.sign(&body, NOW - 10 * i64::from(copy));
                all.push((
                    id,
                    i,
                    copy,
                    event(Format::HttpApiV2, id.function(), &credentials, &body, false),
                ));
            }
        }
    }
    all
}

/// A deterministic shuffle (xorshift), so that a failure can be replayed.
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        items.swap(i, (seed % (i as u64 + 1)) as usize);
    }
}

/// What each message item should end as: every delivery in order (messages before their
/// updates), on the memory store. (conversation pk, message_id) → (status, deleted, text).
async fn expected_items() -> BTreeMap<(String, String), (String, bool, String)> {
    let mut expected = BTreeMap::new();
    for &id in ProviderId::ALL {
        let store = Arc::new(MemoryStore::new());
        let h = any_handler(id, HandlerSpec::new(Arc::clone(&store), "t"));
        for i in 0..BODIES_PER_PROVIDER {
            let value = body(id, i);
            let event = signed_event(Format::HttpApiV2, id, &body_of(&value));
            let (status, answer) = answer(&h.handle_event(&event).await);
            assert_eq!(status, 200, "reference {id} {i}: {answer}");
        }
        for ((pk, sk), item) in store.items() {
            if sk.starts_with("MSG#") {
                expected.insert((pk, s(&item, "message_id").to_string()), summary(&item));
            }
        }
    }
    expected
}

fn summary(item: &Item) -> (String, bool, String) {
    (
        s(item, "status").to_string(),
        matches!(item.get("deleted"), Some(AttributeValue::Bool(true))),
        s(item, "text").to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreachable_table_loses_nothing_the_drain_stores_everything_once() {
    let admin = admin_client().await;
    let sqs = sqs_admin().await;
    let table = create_table(&admin, "spool-outage").await;
    let (queue, dlq) = create_queues(&sqs, "spool-outage", 5).await;
    let proxy = Proxy::start(host_port(
        &std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap(),
    ))
    .await;
    let client = table_at(&proxy.address).await;
    // A short table share keeps the outage quick; the queue gets the rest, generously: the
    // local SQS server shares two cores with the test's debug build.
    let budget = Budget {
        total: Duration::from_millis(2500),
        table: Duration::from_millis(300),
    };
    let mut handlers: HashMap<ProviderId, Box<dyn AnyHandler>> = HashMap::new();
    for &id in ProviderId::ALL {
        let spool = patient_spool_at(&sqs_endpoint(), &queue);
        handlers.insert(
            id,
            any_handler(id, spec(&table, client.clone(), spool, budget)),
        );
    }
    let handlers = Arc::new(handlers);

    let mut all = deliveries();
    shuffle(&mut all, 0x5b00_1eaf_2026_0011);
    let total = all.len();
    assert_eq!(
        total,
        2 * BODIES_PER_PROVIDER as usize * ProviderId::ALL.len()
    );
    proxy.set(proxy::RESET);
    let clock = Instant::now();
    let mut shares: Vec<Vec<Delivery>> = (0..CLIENTS).map(|_| Vec::new()).collect();
    for (n, delivery) in all.into_iter().enumerate() {
        shares[n % CLIENTS].push(delivery);
    }
    let mut clients = Vec::new();
    for share in shares {
        let handlers = Arc::clone(&handlers);
        clients.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for (id, i, copy, event) in share {
                let started = Instant::now();
                let (status, body) = answer(&handlers[&id].handle_event(&event).await);
                answers.push((id, i, copy, status, body, started.elapsed()));
            }
            answers
        }));
    }
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for client in clients {
        for (id, i, copy, status, body, took) in client.await.unwrap() {
            assert_eq!(status, 200, "{id} body {i} copy {copy}: {body}");
            let outcome = body["status"].as_str().unwrap_or("").to_string();
            assert!(
                ["accepted", "stored", "duplicate", "updated"].contains(&outcome.as_str()),
                "{id} body {i} copy {copy}: {body}"
            );
            assert!(
                took < PROVIDER_DEADLINE,
                "{id} body {i}: answered after {took:?}"
            );
            *outcomes.entry(outcome).or_default() += 1;
        }
    }
    println!(
        "{total} deliveries with the table unreachable, in {} ms: {outcomes:?}",
        clock.elapsed().as_millis()
    );
    assert_eq!(
        outcomes.get("accepted"),
        Some(&total),
        "the table was down throughout"
    );
    // At least once: a send whose answer came too late for its attempt is sent again.
    let (spooled, in_flight) = depth(&sqs, &queue).await;
    assert!(
        spooled >= total as u64 && in_flight == 0,
        "every accepted body is in the queue: {spooled}"
    );
    assert!(scan(&admin, &table).await.is_empty());

    // The table comes back; the drain runs.
    proxy.set(proxy::PASS);
    let clock = Instant::now();
    let drained = drain(&sqs, &queue, &handlers, 5).await;
    println!("drained in {} ms: {drained:?}", clock.elapsed().as_millis());
    assert_eq!(
        depth(&sqs, &queue).await,
        (0, 0),
        "nothing left in the queue"
    );
    assert_eq!(
        depth(&sqs, &dlq).await,
        (0, 0),
        "nothing in the dead-letter queue"
    );

    let items = scan(&admin, &table).await;
    assert!(
        items.iter().all(|i| !s(i, "pk").starts_with("QUARANTINE#")),
        "nothing quarantined"
    );
    let expected = expected_items().await;
    let mut stored = BTreeMap::new();
    for item in items.iter().filter(|i| s(i, "sk").starts_with("MSG#")) {
        let key = (s(item, "pk").to_string(), s(item, "message_id").to_string());
        assert!(
            stored.insert(key.clone(), summary(item)).is_none(),
            "{key:?} stored twice"
        );
        assert_eq!(
            s(item, "received_at"),
            "2026-01-01T00:00:00.000Z",
            "{key:?}: the webhook's time"
        );
    }
    assert_eq!(
        stored, expected,
        "every message stored once, with its final status"
    );
    let ids = items
        .iter()
        .filter(|i| s(i, "sk").starts_with("ID#"))
        .count();
    // Id items only for Callbell's messages (sent by the business, so updated by id).
    let by_id = expected
        .keys()
        .filter(|(pk, _)| pk.starts_with("callbell#"))
        .count();
    assert_eq!(ids, by_id);
    let conversations: std::collections::BTreeSet<&String> =
        expected.keys().map(|(pk, _)| pk).collect();
    assert!(conversations.len() >= ProviderId::ALL.len());
    for pk in conversations {
        let texts: Vec<String> = conversation(&admin, &table, pk)
            .await
            .iter()
            .map(|m| s(m, "text").to_string())
            .collect();
        let mut sorted = texts.clone();
        sorted.sort_by_key(|t| {
            t.trim_start_matches("message ")
                .parse::<u64>()
                .unwrap_or(u64::MAX)
        });
        assert!(texts.len() > 1, "{pk}: {texts:?}");
        assert_eq!(texts, sorted, "{pk} in provider order");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_and_queue_both_unreachable_answer_503_in_time_and_keep_nothing() {
    let admin = admin_client().await;
    let sqs = sqs_admin().await;
    let table = create_table(&admin, "spool-both-down").await;
    let (queue, _) = create_queues(&sqs, "spool-both-down", 5).await;
    let table_proxy = Proxy::start(host_port(
        &std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap(),
    ))
    .await;
    let queue_proxy = Proxy::start(host_port(&sqs_endpoint())).await;
    let client = table_at(&table_proxy.address).await;
    let mut handlers: HashMap<ProviderId, Box<dyn AnyHandler>> = HashMap::new();
    for &id in ProviderId::ALL {
        let spool = spool_at(&queue_proxy.address, &queue);
        handlers.insert(
            id,
            any_handler(id, spec(&table, client.clone(), spool, Budget::DEFAULT)),
        );
    }
    for (fault, mode) in [("resetting", proxy::RESET), ("slow", proxy::SLOW)] {
        table_proxy.set(mode);
        queue_proxy.set(mode);
        for &id in ProviderId::ALL {
            let body = message_body(id, "c", 1, "hi");
            let event = signed_event(Format::HttpApiV2, id, &body);
            let started = Instant::now();
            let (status, answer) = answer(&handlers[&id].handle_event(&event).await);
            let took = started.elapsed();
            assert_eq!(status, 503, "{id}, {fault}: {answer}");
            assert!(
                took < PROVIDER_DEADLINE,
                "{id}, {fault}: answered after {took:?}"
            );
            println!(
                "{id}, table and queue {fault}: 503 in {} ms",
                took.as_millis()
            );
        }
        if mode == proxy::RESET {
            // Nothing was accepted, and nothing reached the queue or the table.
            assert_eq!(depth(&sqs, &queue).await, (0, 0), "{fault}");
            assert!(scan(&admin, &table).await.is_empty(), "{fault}");
        }
    }
    queue_proxy.set(proxy::PASS);
    table_proxy.set(proxy::PASS);
    // A slow table or queue may take a body after the function gave up on it (and answered
    // 503): such a late copy is harmless, the drain stores it once and the provider's retry is
    // then a duplicate.
    tokio::time::sleep(proxy::SLOW_BY + Duration::from_millis(500)).await;
    drain(&sqs, &queue, &handlers, 5).await;
    assert_eq!(depth(&sqs, &queue).await, (0, 0));
    for &id in ProviderId::ALL {
        let body = message_body(id, "c", 1, "hi");
        let (status, answer) = answer(
            &handlers[&id]
                .handle_event(&signed_event(Format::HttpApiV2, id, &body))
                .await,
        );
        assert_eq!(status, 200, "{id}: the provider's retry: {answer}");
        assert!(
            ["stored", "duplicate"].contains(&answer["status"].as_str().unwrap()),
            "{id}: {answer}"
        );
    }
    let items = scan(&admin, &table).await;
    let messages = items
        .iter()
        .filter(|i| s(i, "sk").starts_with("MSG#"))
        .count();
    assert_eq!(messages, ProviderId::ALL.len(), "each message once");
}

#[tokio::test]
async fn the_happy_path_never_calls_the_queue() {
    let admin = admin_client().await;
    let sqs = sqs_admin().await;
    let table = create_table(&admin, "spool-happy").await;
    let (queue, _) = create_queues(&sqs, "spool-happy", 5).await;
    for &id in ProviderId::ALL {
        let counting = Arc::new(MemorySpool::new());
        let h = any_handler(
            id,
            spec(
                &table,
                local_client().await,
                counting.clone(),
                Budget::DEFAULT,
            ),
        );
        let real = any_handler(
            id,
            spec(
                &table,
                local_client().await,
                spool_at(&sqs_endpoint(), &queue),
                Budget::DEFAULT,
            ),
        );
        let samples = id.samples();
        let mut answers = Vec::new();
        for (n, handler) in [(1, &h), (2, &real)] {
            let body = message_body(id, "happy", n, "hi");
            answers.push(
                answer(
                    &handler
                        .handle_event(&signed_event(Format::HttpApiV2, id, &body))
                        .await,
                )
                .1,
            );
            answers.push(
                answer(
                    &handler
                        .handle_event(&signed_event(Format::HttpApiV2, id, &body))
                        .await,
                )
                .1,
            );
            if let Some(update) = samples.status_update("happy", n, "hi") {
                answers.push(
                    answer(
                        &handler
                            .handle_event(&signed_event(Format::HttpApiV2, id, &body_of(&update)))
                            .await,
                    )
                    .1,
                );
            }
        }
        let statuses: Vec<&str> = answers
            .iter()
            .map(|a| a["status"].as_str().unwrap_or(""))
            .collect();
        assert!(
            statuses
                .iter()
                .all(|s| ["stored", "duplicate", "updated"].contains(s)),
            "{id}: {statuses:?}"
        );
        assert_eq!(counting.sends(), 0, "{id}: no send when the table answers");
    }
    assert_eq!(
        depth(&sqs, &queue).await,
        (0, 0),
        "the real queue stays empty"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_brings_fixed_bodies_back_and_changes_nothing_the_second_time() {
    let admin = admin_client().await;
    let sqs = sqs_admin().await;
    let table = create_table(&admin, "spool-replay").await;
    let (queue, dlq) = create_queues(&sqs, "spool-replay", 5).await;
    let proxy = Proxy::start(host_port(
        &std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap(),
    ))
    .await;
    let client = table_at(&proxy.address).await;
    let id = ProviderId::Partoo;
    let mut handlers: HashMap<ProviderId, Box<dyn AnyHandler>> = HashMap::new();
    handlers.insert(
        id,
        any_handler(
            id,
            spec(
                &table,
                client,
                spool_at(&sqs_endpoint(), &queue),
                Budget::DEFAULT,
            ),
        ),
    );

    // A body the drain cannot parse: spooled while the table is down, quarantined by the drain.
    let broken =
        br#"{"type":"message_created","payload":{"message":{"id":77,"conversation_id":7}}}"#;
    proxy.set(proxy::RESET);
    let (status, accepted) = answer(
        &handlers[&id]
            .handle_event(&signed_event(Format::HttpApiV2, id, broken))
            .await,
    );
    assert_eq!(
        (status, accepted["status"].as_str()),
        (200, Some("accepted"))
    );
    proxy.set(proxy::PASS);
    drain(&sqs, &queue, &handlers, 5).await;
    assert_eq!(depth(&sqs, &queue).await, (0, 0));
    let quarantine = |items: &[Item]| -> Vec<Item> {
        items
            .iter()
            .filter(|i| s(i, "pk") == "QUARANTINE#partoo")
            .cloned()
            .collect()
    };
    let kept = quarantine(&scan(&admin, &table).await);
    assert_eq!(kept.len(), 1);
    assert!(
        s(&kept[0], "error").contains("payload.message"),
        "{:?}",
        kept[0]
    );

    // The simulated fix: a body an older parser refused that today's code accepts, kept as the
    // function keeps quarantined bodies.
    let fixed = message_body(id, "7", 8, "refused by an older parser");
    let fixed_at = "2025-12-31T23:00:00.000Z";
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&fixed))
    };
    admin
        .put_item()
        .table_name(&table)
        .item("pk", AttributeValue::S("QUARANTINE#partoo".into()))
        .item("sk", AttributeValue::S(format!("{fixed_at}#{sha}")))
        .item("raw", AttributeValue::B(fixed.clone().into()))
        .item(
            "error",
            AttributeValue::S("payload.message.date: not a date (old parser)".into()),
        )
        .item("received_at", AttributeValue::S(fixed_at.into()))
        .send()
        .await
        .unwrap();
    let store = DynamoDbStore::new(admin.clone(), &table);
    let source = Source::Quarantine(ProviderId::ALL.to_vec());

    let before = sorted(scan(&admin, &table).await);
    let dry = replay(&store, &source, true).await.unwrap();
    println!("{}", dry.lines().join("\n"));
    assert_eq!(
        (dry.count("stored"), dry.count("invalid"), dry.removed()),
        (1, 1, 1)
    );
    assert_eq!(
        sorted(scan(&admin, &table).await),
        before,
        "a dry run changes nothing"
    );

    let first = replay(&store, &source, false).await.unwrap();
    println!("{}", first.lines().join("\n"));
    assert_eq!(
        (
            first.count("stored"),
            first.count("invalid"),
            first.removed()
        ),
        (1, 1, 1)
    );
    let stored_entry = first
        .entries
        .iter()
        .find(|e| e.outcome == "stored")
        .unwrap();
    assert_eq!(
        (stored_entry.action, stored_entry.message_id.as_deref()),
        (Action::Removed, Some("5008"))
    );
    let after = scan(&admin, &table).await;
    let kept = quarantine(&after);
    assert_eq!(kept.len(), 1, "only the still-invalid body stays");
    assert!(
        s(&kept[0], "error").contains("payload.message"),
        "with today's error"
    );
    let messages: Vec<&Item> = after
        .iter()
        .filter(|i| s(i, "sk").starts_with("MSG#"))
        .collect();
    assert_eq!(messages.len(), 1);
    assert_eq!(
        s(messages[0], "received_at"),
        fixed_at,
        "received when it first came"
    );
    assert_eq!(s(messages[0], "text"), "refused by an older parser");

    let second = replay(&store, &source, false).await.unwrap();
    assert_eq!(
        (
            second.entries.len(),
            second.removed(),
            second.count("invalid")
        ),
        (1, 0, 1)
    );
    assert_eq!(
        sorted(scan(&admin, &table).await),
        sorted(after),
        "the second replay changes nothing"
    );

    // From a dead-letter queue: a message in the spool's format, replayed once.
    let body = message_body(id, "7", 9, "from the dead-letter queue");
    sqs.send_message()
        .queue_url(&dlq)
        .message_body(String::from_utf8(body).unwrap())
        .message_attributes("provider", attribute("partoo"))
        .message_attributes("received_at", attribute("2025-12-31T22:00:00.000Z"))
        .send()
        .await
        .unwrap();
    let from_dlq = Source::Queue {
        client: sqs.clone(),
        url: dlq.clone(),
    };
    let dry = replay(&store, &from_dlq, true).await.unwrap();
    assert_eq!(
        (dry.count("stored"), depth(&sqs, &dlq).await),
        (1, (1, 0)),
        "a dry run keeps the message"
    );
    let first = replay(&store, &from_dlq, false).await.unwrap();
    assert_eq!((first.count("stored"), first.removed()), (1, 1));
    assert_eq!(depth(&sqs, &dlq).await, (0, 0));
    let again = replay(&store, &from_dlq, false).await.unwrap();
    assert!(again.entries.is_empty());
    let texts: Vec<String> = conversation(&admin, &table, "partoo#7")
        .await
        .iter()
        .map(|m| s(m, "text").to_string())
        .collect();
    assert_eq!(
        texts,
        ["refused by an older parser", "from the dead-letter queue"]
    );
}

fn attribute(value: &str) -> aws_sdk_sqs::types::MessageAttributeValue {
    aws_sdk_sqs::types::MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .unwrap()
}

fn sorted(items: Vec<Item>) -> Vec<String> {
    let mut items: Vec<String> = items
        .iter()
        .map(|i| format!("{:?}", BTreeMap::from_iter(i.iter())))
        .collect();
    items.sort();
    items
}
