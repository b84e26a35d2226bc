//! The projector on DynamoDB Local, driven by the table's real stream: messages stored by the
//! webhook handlers (shuffled, concurrently, with redeliveries), the stream's records read as
//! Lambda delivers them (the mapping's filter applied), and the projector's handler run on
//! them in batches; then the summaries it left, and what its answers and metrics said.

mod support;

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use futures_util::StreamExt as _;
use ingest::storage::{DynamoDbStore, SummaryItem};
use ingest::testkit::stream::{stream_arn, streams_client, StreamReader};
use serde_json::Value;
use support::projector::{new_records, Projector};
use support::*;

/// A table with its stream, a reader of the stream, and the projector on the table.
struct Setup {
    client: Client,
    table: String,
    reader: StreamReader,
    store: DynamoDbStore,
}

async fn setup(prefix: &str) -> Setup {
    let client = admin_client().await;
    let table = create_table_with_stream(&client, prefix).await;
    let arn = stream_arn(&client, &table)
        .await
        .unwrap()
        .expect("the table has a stream");
    Setup {
        store: DynamoDbStore::new(local_client().await, &table),
        client,
        reader: StreamReader::new(streams_client(), arn),
        table,
    }
}

/// Message `n` of Partoo conversation `conversation`, from the customer or the business; `n`
/// orders them in time (n seconds after 10:00).
fn partoo_body(conversation: u64, n: u64, inbound: bool) -> Vec<u8> {
    let sender = if inbound { "Consumer" } else { "User" };
    let (minute, second) = (n / 60, n % 60);
    format!(
        r#"{{"type":"message_created","payload":{{"message":{{"id":{id},"conversation_id":{conversation},"date":"2024-05-01 10:{minute:02}:{second:02}.000000+00:00","content_type":"Text","sender_type":"{sender}","status":"Success","is_deleted":false,"is_automated":false,"content":"m{n}"}},"conversation":{{"id":{conversation},"consumer_name":"Jane","consumer_phone_number":"+33 6 12 34 56 78","messaging_partner":"Whatsapp"}},"org_id":5}}}}"#,
        id = conversation * 10_000 + n
    )
    .into_bytes()
}

/// Delivers every body through Partoo's handler, `concurrency` at a time: each stored, or a
/// duplicate when it was delivered before. A 503 (DynamoDB Local behind the functions' tight
/// limits on a loaded machine) is delivered again, as Partoo would.
async fn deliver_all(table: &str, bodies: Vec<Vec<u8>>, concurrency: usize) {
    let handler = Arc::new(table_handler(
        ProviderId::Partoo,
        table,
        local_client().await,
    ));
    futures_util::stream::iter(bodies)
        .map(|body| {
            let handler = Arc::clone(&handler);
            async move {
                let event = signed_event(Format::HttpApiV2, ProviderId::Partoo, &body);
                for attempt in 1..=5 {
                    let (code, answer) = answer(&handler.handle_event(&event).await);
                    if code == 503 && attempt < 5 {
                        tokio::time::sleep(std::time::Duration::from_millis(200 * attempt)).await;
                        continue;
                    }
                    assert_eq!(code, 200, "{answer}");
                    let status = answer["status"].as_str().unwrap_or("");
                    assert!(["stored", "duplicate"].contains(&status), "{answer}");
                    return;
                }
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<()>>()
        .await;
}

/// A fixed shuffle (no randomness in tests).
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

async fn summary(store: &DynamoDbStore, pk: &str) -> Option<SummaryItem> {
    store.summary(pk).await.unwrap()
}

/// The greatest `MSG#` key of a conversation, as the table holds it.
async fn newest_sk(client: &Client, table: &str, pk: &str) -> String {
    let items = conversation(client, table, pk).await;
    items.iter().map(|i| s(i, "sk").to_string()).max().unwrap()
}

async fn delete_message(client: &Client, table: &str, pk: &str, sk: &str) {
    client
        .delete_item()
        .table_name(table)
        .key("pk", AttributeValue::S(pk.into()))
        .key("sk", AttributeValue::S(sk.into()))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn shuffled_concurrent_deliveries_leave_the_greatest_key_last() {
    let mut setup = setup("projector-shuffled").await;
    // Conversation 1 ends with the business's answer, 2 with the customer's message.
    let mut bodies = Vec::new();
    for (conversation, last_inbound) in [(1, false), (2, true)] {
        for n in 1..=60 {
            let inbound = if n == 60 { last_inbound } else { n % 3 != 0 };
            bodies.push(partoo_body(conversation, n, inbound));
        }
    }
    // Redeliveries: every fifth message again, later.
    let again: Vec<Vec<u8>> = bodies.iter().step_by(5).cloned().collect();
    bodies.extend(again);
    deliver_all(&setup.table, shuffled(bodies, 7), 8).await;

    let projector = Projector::new(&setup.table).await;
    let records = new_records(&mut setup.reader).await;
    assert!(records.len() >= 120, "{} records", records.len());
    for batch in records.chunks(9) {
        let answer = projector.batch(batch).await;
        assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
    }
    for (pk, awaiting) in [("partoo#1", false), ("partoo#2", true)] {
        let item = summary(&setup.store, pk).await.expect("a summary");
        assert_eq!(
            item.state.last_sk,
            newest_sk(&setup.client, &setup.table, pk).await,
            "{pk}: the greatest order key"
        );
        assert_eq!(item.state.summary.last_message.text.as_deref(), Some("m60"));
        assert_eq!(item.state.summary.awaiting_reply, awaiting, "{pk}");
        assert_eq!(
            item.state.summary.last_message.direction,
            if awaiting { "inbound" } else { "outbound" }
        );
    }
    // The whole stream again (a mapping's retry, a replay): nothing changes, nothing written.
    let written = projector.total("SummariesWritten");
    let revisions = (
        summary(&setup.store, "partoo#1").await.unwrap().revision,
        summary(&setup.store, "partoo#2").await.unwrap().revision,
    );
    for batch in records.chunks(100) {
        assert!(projector.batch(batch).await.batch_item_failures.is_empty());
    }
    assert_eq!(
        projector.total("SummariesWritten"),
        written,
        "a replay writes nothing"
    );
    assert_eq!(
        (
            summary(&setup.store, "partoo#1").await.unwrap().revision,
            summary(&setup.store, "partoo#2").await.unwrap().revision,
        ),
        revisions
    );
}

#[tokio::test]
async fn a_batch_of_one_conversation_writes_its_summary_once() {
    let mut setup = setup("projector-once").await;
    let bodies = (1..=50).map(|n| partoo_body(3, n, true)).collect();
    deliver_all(&setup.table, bodies, 4).await;
    let projector = Projector::new(&setup.table).await;
    let records = new_records(&mut setup.reader).await;
    assert_eq!(records.len(), 50, "one record per message");
    assert!(projector
        .batch(&records)
        .await
        .batch_item_failures
        .is_empty());
    let item = summary(&setup.store, "partoo#3").await.unwrap();
    assert_eq!(item.revision, 1, "50 messages, one summary write");
    assert_eq!(projector.total("SummariesWritten"), 1);
    assert_eq!(item.state.summary.last_message.text.as_deref(), Some("m50"));

    // A change to a message that is not the last one (its status, say) changes no summary.
    let older = conversation(&setup.client, &setup.table, "partoo#3").await[10].clone();
    setup
        .client
        .update_item()
        .table_name(&setup.table)
        .key("pk", older["pk"].clone())
        .key("sk", older["sk"].clone())
        .update_expression("SET #status = :read")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":read", AttributeValue::S("read".into()))
        .send()
        .await
        .unwrap();
    let modified = new_records(&mut setup.reader).await;
    assert_eq!(
        modified.len(),
        1,
        "the message's MODIFY (the summary's own records filtered out)"
    );
    assert!(projector
        .batch(&modified)
        .await
        .batch_item_failures
        .is_empty());
    assert_eq!(summary(&setup.store, "partoo#3").await.unwrap().revision, 1);
    assert_eq!(projector.total("SummariesWritten"), 1);
}

#[tokio::test]
async fn two_projectors_racing_on_one_conversation_converge() {
    let mut setup = setup("projector-race").await;
    let (first, second) = (
        Projector::new(&setup.table).await,
        Projector::new(&setup.table).await,
    );
    for round in 0..5u64 {
        let bodies = (1..=4)
            .map(|k| partoo_body(4, round * 4 + k, k % 2 == 1))
            .collect();
        deliver_all(&setup.table, bodies, 4).await;
        let records = new_records(&mut setup.reader).await;
        let (early, late) = records.split_at(records.len() / 2);
        // The older half's projector may write last: the revision check makes the loser read
        // again and fold over the winner's summary.
        let (a, b) = tokio::join!(second.batch(late), first.batch(early));
        assert!(a.batch_item_failures.is_empty() && b.batch_item_failures.is_empty());
        let item = summary(&setup.store, "partoo#4").await.unwrap();
        assert_eq!(
            item.state.last_sk,
            newest_sk(&setup.client, &setup.table, "partoo#4").await,
            "round {round}"
        );
        assert_eq!(
            item.state.summary.last_message.text.as_deref(),
            Some(format!("m{}", round * 4 + 4).as_str())
        );
        assert!(
            !item.state.summary.awaiting_reply,
            "the last one is the business's"
        );
    }
    assert!(
        first.total("SummaryConflicts") + second.total("SummaryConflicts") > 0,
        "the two came between each other's read and write at least once"
    );
}

#[tokio::test]
async fn removing_the_last_message_leaves_the_newest_one_left_or_no_summary() {
    let mut setup = setup("projector-remove").await;
    // 1 from the customer, 2 the answer, 3 the customer again.
    let bodies = [(1, true), (2, false), (3, true)]
        .into_iter()
        .map(|(n, inbound)| partoo_body(5, n, inbound))
        .collect();
    deliver_all(&setup.table, bodies, 1).await;
    let projector = Projector::new(&setup.table).await;
    let inserts = new_records(&mut setup.reader).await;
    projector.batch(&inserts).await;
    let pk = "partoo#5";
    let sks: Vec<String> = conversation(&setup.client, &setup.table, pk)
        .await
        .iter()
        .map(|i| s(i, "sk").to_string())
        .collect();
    let first = summary(&setup.store, pk).await.unwrap();
    assert!(first.state.summary.awaiting_reply);
    let at = |n: usize| format!("2024-05-01T10:00:{n:02}.000Z");

    // 3 (the last, and the last inbound) erased: 2 is the last, 1 the last inbound.
    delete_message(&setup.client, &setup.table, pk, &sks[2]).await;
    let answer = projector.batch(&new_records(&mut setup.reader).await).await;
    assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
    let item = summary(&setup.store, pk).await.unwrap();
    assert_eq!(item.state.last_sk, sks[1]);
    assert_eq!(item.state.summary.last_message.text.as_deref(), Some("m2"));
    assert_eq!(item.state.summary.last_activity_at, at(2));
    assert_eq!(item.state.summary.last_inbound_at, Some(at(1)));
    assert!(!item.state.summary.awaiting_reply);
    assert_eq!(
        item.activity_key,
        format!("{}#{pk}", at(2)),
        "moved down the list"
    );

    // 2 and 1 expire in one batch: nothing is left, and neither is the summary.
    delete_message(&setup.client, &setup.table, pk, &sks[1]).await;
    delete_message(&setup.client, &setup.table, pk, &sks[0]).await;
    projector.batch(&new_records(&mut setup.reader).await).await;
    assert!(summary(&setup.store, pk).await.is_none());
    assert_eq!(projector.total("SummariesDeleted"), 1);

    // A late redelivery of the messages' first records brings nothing back.
    assert!(projector
        .batch(&inserts)
        .await
        .batch_item_failures
        .is_empty());
    assert!(summary(&setup.store, pk).await.is_none());
}

#[tokio::test]
async fn an_unreadable_record_is_reported_and_nothing_is_lost() {
    let mut setup = setup("projector-unreadable").await;
    let bodies = vec![
        partoo_body(6, 1, true),
        partoo_body(6, 2, true),
        partoo_body(7, 1, true),
    ];
    deliver_all(&setup.table, bodies, 1).await;
    let mut records = new_records(&mut setup.reader).await;
    // A record of conversation 6 that cannot be read as a message, among the others.
    let mut poison = records[1].clone();
    poison["eventName"] = "MODIFY".into();
    poison["dynamodb"]["NewImage"]
        .as_object_mut()
        .unwrap()
        .remove("direction");
    poison["dynamodb"]["SequenceNumber"] = "poison".into();
    records.insert(2, poison);
    let earliest_of_6 = records
        .iter()
        .find(|r| r["dynamodb"]["Keys"]["pk"]["S"] == "partoo#6")
        .unwrap()["dynamodb"]["SequenceNumber"]
        .clone();

    let projector = Projector::new(&setup.table).await;
    let answer = projector.batch(&records).await;
    let failed: Vec<&str> = answer
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(
        failed,
        [earliest_of_6.as_str().unwrap()],
        "the conversation's earliest record: the retry starts there"
    );
    assert!(
        summary(&setup.store, "partoo#7").await.is_some(),
        "the other conversation is folded"
    );
    // Lambda's retry: from that record on. What was folded folds to no change; the unreadable
    // record fails again (until the mapping's retries end and its place goes to the DLQ).
    let written = projector.total("SummariesWritten");
    let at = records
        .iter()
        .position(|r| r["dynamodb"]["SequenceNumber"] == earliest_of_6)
        .unwrap();
    let again = projector.batch(&records[at..]).await;
    assert_eq!(again.batch_item_failures.len(), 1);
    assert_eq!(
        projector.total("SummariesWritten"),
        written,
        "nothing written twice"
    );
    // Without the unreadable record (the batch bisected, or the record fixed), conversation 6
    // ends with both its messages.
    let readable: Vec<Value> = records
        .iter()
        .filter(|r| r["dynamodb"]["SequenceNumber"] != "poison")
        .cloned()
        .collect();
    assert!(projector
        .batch(&readable)
        .await
        .batch_item_failures
        .is_empty());
    let six = summary(&setup.store, "partoo#6").await.unwrap();
    assert_eq!(six.state.summary.last_message.text.as_deref(), Some("m2"));
}
