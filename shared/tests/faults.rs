//! The table misbehaving: DynamoDB Local behind a loopback proxy that slows every exchange past
//! the deadline or resets connections, and a table that isn't there at all. Each function then
//! answers 503 within its deadline — for a message and for a quarantine write alike — stores
//! nothing half-way, and stores the message when the provider retries after the fault.

mod support;

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use support::proxy::{self, Proxy};
use support::*;

const SLOW: u8 = proxy::SLOW;
const RESET: u8 = proxy::RESET;
const PASS: u8 = proxy::PASS;
/// The providers' deadline: TikTok wants an answer within about 3 s.
const PROVIDER_DEADLINE: Duration = Duration::from_secs(3);

/// A body that is authentic but can't be a message (a required field of the wrong type): it
/// goes to quarantine.
fn not_a_message(id: ProviderId) -> Vec<u8> {
    let mut message = id.samples().message("c", 0, "hi");
    let path = id.samples().shape().required[0];
    let (last, parents) = path.split_last().expect("a path names a field");
    let mut node = &mut message;
    for key in parents {
        node = &mut node[*key];
    }
    node[*last] = true.into();
    body_of(&message)
}

async fn timed(
    handler: &dyn AnyHandler,
    provider: ProviderId,
    body: &[u8],
) -> (u16, serde_json::Value, Duration) {
    let event = signed_event(Format::HttpApiV2, provider, body);
    let started = Instant::now();
    let (status, answer) = answer(&handler.handle_event(&event).await);
    (status, answer, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_or_resetting_table_answers_503_in_time_and_retries_store() {
    let admin = admin_client().await;
    let upstream = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap();
    let upstream = upstream
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    for provider in ProviderId::ALL.iter().copied() {
        let table = create_table(&admin, &format!("faults-{}", provider.function())).await;
        let proxy = Proxy::start(upstream.clone()).await;
        let config = local_client()
            .await
            .config()
            .to_builder()
            .endpoint_url(&proxy.address)
            .build();
        let handler = table_handler(provider, &table, Client::from_conf(config));

        let mut n = 0;
        for (fault, mode) in [("slow", SLOW), ("resetting", RESET)] {
            n += 1;
            let body = message_body(provider, "c", n, "hi");
            proxy.set(mode);
            let (status, answer, took) = timed(&*handler, provider, &body).await;
            assert_eq!(status, 503, "{provider}, {fault} table: {answer}");
            assert!(
                took < PROVIDER_DEADLINE,
                "{provider}, {fault} table: answered after {took:?}"
            );
            println!("{provider}, {fault} table: 503 in {} ms", took.as_millis());
            let (status, answer, took) = timed(&*handler, provider, &not_a_message(provider)).await;
            assert_eq!(
                status, 503,
                "{provider}, {fault} table, quarantine write: {answer}"
            );
            assert!(
                took < PROVIDER_DEADLINE,
                "{provider}, {fault} quarantine: answered after {took:?}"
            );
            println!(
                "{provider}, {fault} quarantine: 503 in {} ms",
                took.as_millis()
            );

            // The provider retries once the table is back.
            proxy.set(PASS);
            let (status, answer, _) = timed(&*handler, provider, &body).await;
            assert_eq!(
                (status, answer["status"].as_str()),
                (200, Some("stored")),
                "{provider}, after {fault}: {answer}"
            );
        }
        let (status, _, _) = timed(&*handler, provider, &not_a_message(provider)).await;
        assert_eq!(status, 400);

        let items = scan(&admin, &table).await;
        let count = |prefix: &str| {
            items
                .iter()
                .filter(|i| s(i, "sk").starts_with(prefix) || s(i, "pk").starts_with(prefix))
                .count()
        };
        assert_eq!(count("MSG#"), 2, "{provider}: both messages, once each");
        // Id items only where updates find a message by id alone (the test kit's Callbell
        // messages, which the business sent).
        let id_items = if provider == ProviderId::Callbell {
            2
        } else {
            0
        };
        assert_eq!(count("ID#"), id_items, "{provider}");
        assert_eq!(
            count("QUARANTINE#"),
            1,
            "{provider}: only the quarantine write that could succeed"
        );
    }
}

#[tokio::test]
async fn missing_table_server_answers_503_in_time() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    for provider in ProviderId::ALL.iter().copied() {
        let config = local_client()
            .await
            .config()
            .to_builder()
            .endpoint_url(format!("http://{closed}"))
            .build();
        let handler = table_handler(provider, "absent", Client::from_conf(config));
        for body in [
            message_body(provider, "c", 1, "hi"),
            not_a_message(provider),
        ] {
            let (status, answer, took) = timed(&*handler, provider, &body).await;
            assert_eq!(status, 503, "{provider}: {answer}");
            assert!(
                took < PROVIDER_DEADLINE,
                "{provider}: answered after {took:?}"
            );
            println!("{provider}: 503 in {} ms", took.as_millis());
        }
    }
}

/// A message item whose id item failed to be written: the message put went through, the id
/// item's put never reached the table (the proxy resets every request carrying `"ID#`).
struct HalfWritten {
    admin: Client,
    table: String,
    proxy: Proxy,
    body: Vec<u8>,
    pk: String,
    message_id: String,
}

impl HalfWritten {
    async fn start(prefix: &str) -> HalfWritten {
        let admin = admin_client().await;
        let table = create_table(&admin, prefix).await;
        let upstream = proxy::host_port(&std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap());
        let proxy = Proxy::start(upstream).await;
        // The test kit's Callbell messages are sent by the business: status updates find them
        // by id, so each gets an id item.
        let message = ProviderId::Callbell
            .samples()
            .message("half", 1, "on its way");
        HalfWritten {
            admin,
            table,
            proxy,
            body: body_of(&message),
            pk: "callbell#half".into(),
            message_id: message["payload"]["uuid"].as_str().unwrap().into(),
        }
    }

    /// The functions' client (their timeouts and retries), through the proxy.
    async fn client(&self) -> Client {
        let config = local_client()
            .await
            .config()
            .to_builder()
            .endpoint_url(&self.proxy.address)
            .build();
        Client::from_conf(config)
    }

    async fn items(&self) -> Vec<Item> {
        scan(&self.admin, &self.table)
            .await
            .into_iter()
            .filter(|i| s(i, "pk") == self.pk)
            .collect()
    }

    async fn id_item(&self) -> Option<Item> {
        let id_sk = format!("ID#{}", self.message_id);
        self.items().await.into_iter().find(|i| s(i, "sk") == id_sk)
    }

    fn status_update(&self) -> Vec<u8> {
        let update = ProviderId::Callbell.samples().status_update("half", 1, "");
        body_of(&update.expect("Callbell sends status updates"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_between_the_message_and_its_id_item_is_repaired_by_the_redelivery() {
    let half = HalfWritten::start("faults-id-item").await;
    let handler = table_handler(ProviderId::Callbell, &half.table, half.client().await);

    half.proxy.refuse_containing(Some(br#""ID#"#));
    let (status, answer, took) = timed(&*handler, ProviderId::Callbell, &half.body).await;
    assert_eq!(status, 503, "the id item was not written: {answer}");
    assert!(took < PROVIDER_DEADLINE, "answered after {took:?}");
    assert!(
        half.proxy.refused() > 0,
        "the id item's put was the one reset"
    );
    let items = half.items().await;
    assert_eq!(items.len(), 1, "the message item alone: {items:?}");
    assert!(s(&items[0], "sk").starts_with("MSG#"));
    // The table whole again: until the redelivery, a status update cannot find the message.
    half.proxy.refuse_containing(None);
    let (_, answer, _) = timed(&*handler, ProviderId::Callbell, &half.status_update()).await;
    assert_eq!(answer["reason"], "unknown_message", "{answer}");

    // The provider redelivers (503 asks it to).
    let (status, answer, _) = timed(&*handler, ProviderId::Callbell, &half.body).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("duplicate")),
        "{answer}"
    );
    let id = half
        .id_item()
        .await
        .expect("the redelivery put the id item back");
    let message = half
        .items()
        .await
        .into_iter()
        .find(|i| s(i, "sk").starts_with("MSG#"))
        .unwrap();
    assert_eq!(s(&id, "message_sk"), s(&message, "sk"));
    assert_eq!(s(&id, "body_sha256"), s(&message, "body_sha256"));
    let (_, answer, _) = timed(&*handler, ProviderId::Callbell, &half.status_update()).await;
    assert_eq!(answer["status"], "updated", "{answer}");
    // Redelivered again: nothing more to repair, nothing written.
    let before = half.items().await.len();
    let (_, answer, _) = timed(&*handler, ProviderId::Callbell, &half.body).await;
    assert_eq!(answer["status"], "duplicate");
    assert_eq!(half.items().await.len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_spool_queue_the_drain_repairs_a_missing_id_item() {
    use ingest::spool::event::{sqs_event, sqs_record};
    use ingest::spool::MemorySpool;
    use std::sync::Arc;

    let half = HalfWritten::start("faults-id-item-spool").await;
    let spool = Arc::new(MemorySpool::new());
    let spec = HandlerSpec::new(
        ingest::storage::DynamoDbStore::new(half.client().await, &half.table),
        &half.table,
    )
    .with_spool(spool.clone());
    let handler = any_handler(ProviderId::Callbell, spec);

    half.proxy.refuse_containing(Some(br#""ID#"#));
    let (status, answer, _) = timed(&*handler, ProviderId::Callbell, &half.body).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("accepted")),
        "{answer}"
    );
    assert!(half.id_item().await.is_none());
    let spooled = spool.messages();
    assert_eq!(spooled.len(), 1);

    half.proxy.refuse_containing(None);
    let record = sqs_record(
        "m1",
        &spooled[0].body.text,
        1,
        &[
            ("provider", spooled[0].provider.name()),
            ("received_at", spooled[0].received_at.as_str()),
        ],
    );
    match handler.invoke(&sqs_event(vec![record])).await {
        ingest::response::Answer::Batch(batch) => {
            assert!(
                batch.failed_ids().is_empty(),
                "the drain settled it: {batch:?}"
            )
        }
        other => panic!("an SQS event answered {other:?}"),
    }
    let id = half
        .id_item()
        .await
        .expect("the drain put the id item back");
    assert!(s(&id, "message_sk").starts_with("MSG#"));
    let (_, answer, _) = timed(&*handler, ProviderId::Callbell, &half.status_update()).await;
    assert_eq!(answer["status"], "updated", "{answer}");
}
