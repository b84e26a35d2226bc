//! Retention against DynamoDB Local (docs/CONTRACT.md, "Retention and erasure (3)"): with
//! `RETENTION_DAYS=30` every item a message writes — its message item, the id item of a
//! Callbell WhatsApp message the business sent, a quarantined body — carries `expires_at` =
//! its `received_at` + 30 days, and a conversation's summary that of its latest message
//! (messages arriving shuffled); without it nothing carries one; and the read side leaves out
//! whatever has expired while the TTL has not deleted it yet.

mod support;

use std::sync::atomic::{AtomicI64, Ordering};

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use ingest::config::Retention;
use ingest::read::query::{Customer, Filters, Order};
use ingest::read::summary::MessageImage;
use ingest::storage::{ConversationReader, DynamoDbStore};
use support::*;

const DAY: i64 = 86_400;

/// The clock of the handlers below: each delivery is received when the test says.
static CLOCK: AtomicI64 = AtomicI64::new(NOW);

fn test_clock() -> DateTime<Utc> {
    DateTime::from_timestamp(CLOCK.load(Ordering::SeqCst), 0).expect("a valid time")
}

/// A Partoo message of `conversation` from a customer with `phone`; without its date (a
/// required field) it is quarantined.
fn partoo_body(id: u64, conversation: &str, phone: &str, dated: bool) -> Vec<u8> {
    let date = if dated {
        format!(r#""date":"2024-05-01 10:00:{:02}.000000+00:00","#, id % 60)
    } else {
        String::new()
    };
    format!(
        r#"{{"type":"message_created","payload":{{"message":{{"id":{id},"conversation_id":"{conversation}",{date}"content_type":"Text","sender_type":"Consumer","status":"Success","is_deleted":false,"is_automated":false,"content":"hello {id}"}},"conversation":{{"id":"{conversation}","consumer_name":"Someone","consumer_phone_number":"{phone}","messaging_partner":"Whatsapp"}},"org_id":5}}}}"#
    )
    .into_bytes()
}

/// A WhatsApp message the business sent on Callbell: the one kind with an id item.
fn callbell_sent(uuid: &str) -> Vec<u8> {
    format!(
        r#"{{"event":"message_created","payload":{{"uuid":"{uuid}","to":"1","from":"2","text":"hi","status":"sent","channel":"whatsapp","contact":{{"uuid":"c1","conversationHref":"https://dash.callbell.eu/chat/chat-1","name":"John"}},"createdAt":"2024-05-01T11:00:00.000Z"}}}}"#
    )
    .into_bytes()
}

/// `id`'s handler on `store`; on [`test_clock`] when `moving` (one test only: it is shared),
/// else on the pinned clock.
fn handler(id: ProviderId, store: DynamoDbStore, table: &str, moving: bool) -> Box<dyn AnyHandler> {
    any_handler(
        id,
        HandlerSpec {
            clock: moving.then_some(test_clock as fn() -> DateTime<Utc>),
            ..HandlerSpec::new(store, table)
        },
    )
}

async fn deliver(handler: &dyn AnyHandler, id: ProviderId, body: &[u8], status: &str) {
    let (code, answer) = answer(
        &handler
            .handle_event(&signed_event(Format::HttpApiV2, id, body))
            .await,
    );
    let got = answer["status"]
        .as_str()
        .or(answer.get("error").map(|_| "error"));
    assert_eq!(got, Some(status), "{code} {answer}");
}

fn s(item: &Item, name: &str) -> String {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

fn expires_at(item: &Item) -> Option<i64> {
    item.get("expires_at")
        .map(|v| v.as_n().expect("expires_at is a number").parse().unwrap())
}

/// `received_at` (RFC 3339) in epoch seconds, computed here rather than by the code under test.
fn epoch(received_at: &str) -> i64 {
    DateTime::parse_from_rfc3339(received_at)
        .unwrap_or_else(|e| panic!("{received_at}: {e}"))
        .timestamp()
}

/// Folds every message of `pk` into its summary, as the projector would, the images in the
/// order given by `order` (indexes into the messages in key order).
async fn fold(store: &DynamoDbStore, items: &[Item], pk: &str, order: &[usize]) {
    let images: Vec<MessageImage> = items
        .iter()
        .filter(|i| s(i, "pk") == pk && s(i, "sk").starts_with("MSG#"))
        .map(|i| serde_dynamo::from_item(i.clone()).unwrap())
        .collect();
    assert_eq!(images.len(), order.len(), "{pk}");
    let shuffled: Vec<&MessageImage> = order.iter().map(|n| &images[*n]).collect();
    for image in shuffled {
        // One at a time, as stream records arrive.
        store.fold_summary(pk, &[image]).await.unwrap();
    }
}

#[tokio::test]
async fn with_thirty_days_every_item_of_a_message_expires_thirty_days_after_it_arrived() {
    let client = admin_client().await;
    let table = create_table(&client, "retention").await;
    let store =
        DynamoDbStore::new(local_client().await, &table).with_retention(Retention::days(30));
    let partoo = handler(ProviderId::Partoo, store.clone(), &table, true);
    let callbell = handler(ProviderId::Callbell, store.clone(), &table, true);

    // Callbell's signature is made at NOW and holds for 300 s: its deliveries come then.
    CLOCK.store(NOW, Ordering::SeqCst);
    deliver(
        &*callbell,
        ProviderId::Callbell,
        &callbell_sent("wa-1"),
        "stored",
    )
    .await;
    // A redelivery later keeps the first delivery's TTL (nothing is rewritten).
    CLOCK.store(NOW + 200, Ordering::SeqCst);
    deliver(
        &*callbell,
        ProviderId::Callbell,
        &callbell_sent("wa-1"),
        "duplicate",
    )
    .await;

    // Received an hour apart, in an order the keys do not follow: the third message (by its
    // date) arrives first and the first last.
    for (n, hour) in [(3, 0), (1, 2), (2, 1)] {
        CLOCK.store(NOW + hour * 3600, Ordering::SeqCst);
        deliver(
            &*partoo,
            ProviderId::Partoo,
            &partoo_body(n, "r", "+33 6 12 34 56 78", true),
            "stored",
        )
        .await;
    }
    CLOCK.store(NOW + 7 * 3600, Ordering::SeqCst);
    deliver(
        &*partoo,
        ProviderId::Partoo,
        &partoo_body(9, "r", "+33 6 12 34 56 78", false),
        "error",
    )
    .await;

    let items = scan(&client, &table).await;
    let (mut messages, mut ids, mut quarantined) = (0, 0, 0);
    for item in &items {
        let sk = s(item, "sk");
        let received_at = if sk.starts_with("ID#") {
            // The id item has no time of its own: it goes with its message item.
            ids += 1;
            let message = items
                .iter()
                .find(|m| s(m, "pk") == s(item, "pk") && s(m, "sk") == s(item, "message_sk"))
                .expect("the id item's message");
            s(message, "received_at")
        } else {
            if s(item, "pk").starts_with("QUARANTINE") || item.contains_key("error") {
                quarantined += 1;
            } else {
                messages += 1;
            }
            s(item, "received_at")
        };
        assert_eq!(
            expires_at(item),
            Some(epoch(&received_at) + 30 * DAY),
            "{sk} received at {received_at}"
        );
    }
    assert_eq!((messages, ids, quarantined), (4, 1, 1), "{items:?}");

    // The summary follows its latest message (received last: message 1, at NOW + 2 h),
    // whichever order the fold meets them in.
    for order in [[0, 1, 2], [2, 0, 1], [1, 2, 0]] {
        let pk = "partoo#r";
        store
            .client()
            .delete_item()
            .table_name(&table)
            .key("pk", AttributeValue::S(pk.into()))
            .key("sk", AttributeValue::S("SUMMARY".into()))
            .send()
            .await
            .unwrap();
        fold(&store, &items, pk, &order).await;
        let summary = store.summary(pk).await.unwrap().expect("a summary");
        assert_eq!(
            summary.state.expires_at,
            Some(NOW + 2 * 3600 + 30 * DAY),
            "{order:?}"
        );
        let item = summary.to_item();
        assert_eq!(expires_at(&item), summary.state.expires_at, "on the item");
    }
}

#[tokio::test]
async fn without_retention_nothing_expires() {
    let client = admin_client().await;
    let table = create_table(&client, "retention-none").await;
    let store = DynamoDbStore::new(local_client().await, &table).with_retention(None);
    let partoo = handler(ProviderId::Partoo, store.clone(), &table, false);
    let callbell = handler(ProviderId::Callbell, store.clone(), &table, false);
    deliver(
        &*partoo,
        ProviderId::Partoo,
        &partoo_body(1, "n", "+33 6 00 00 00 01", true),
        "stored",
    )
    .await;
    deliver(
        &*callbell,
        ProviderId::Callbell,
        &callbell_sent("wa-2"),
        "stored",
    )
    .await;
    deliver(
        &*partoo,
        ProviderId::Partoo,
        &partoo_body(2, "n", "+33 6 00 00 00 01", false),
        "error",
    )
    .await;
    let items = scan(&client, &table).await;
    fold(&store, &items, "partoo#n", &[0]).await;
    let items = scan(&client, &table).await;
    assert_eq!(
        items.len(),
        5,
        "two messages, an id item, a quarantined body, a summary"
    );
    for item in &items {
        assert_eq!(expires_at(item), None, "{item:?}");
    }
}

#[tokio::test]
async fn reads_leave_out_what_has_expired() {
    let client = admin_client().await;
    let table = create_table(&client, "retention-read").await;
    let store = DynamoDbStore::new(local_client().await, &table);
    let partoo = handler(ProviderId::Partoo, store.clone(), &table, false);
    let phone = "+33 6 98 76 54 32";
    for n in 1..=4 {
        deliver(
            &*partoo,
            ProviderId::Partoo,
            &partoo_body(n, "live", phone, true),
            "stored",
        )
        .await;
    }
    deliver(
        &*partoo,
        ProviderId::Partoo,
        &partoo_body(7, "gone", phone, true),
        "stored",
    )
    .await;
    let items = scan(&client, &table).await;
    fold(&store, &items, "partoo#live", &[0, 1, 2, 3]).await;
    fold(&store, &items, "partoo#gone", &[0]).await;

    // What the TTL has given up but not deleted yet: a minute past, and one kept a day more.
    let now = Utc::now().timestamp();
    let set_ttl = |pk: String, sk: String, at: i64| {
        let client = client.clone();
        let table = table.clone();
        async move {
            client
                .update_item()
                .table_name(&table)
                .key("pk", AttributeValue::S(pk))
                .key("sk", AttributeValue::S(sk))
                .update_expression("SET expires_at = :at")
                .expression_attribute_values(":at", AttributeValue::N(at.to_string()))
                .send()
                .await
                .unwrap();
        }
    };
    let live_sks: Vec<String> = items
        .iter()
        .filter(|i| s(i, "pk") == "partoo#live")
        .map(|i| s(i, "sk"))
        .collect();
    let mut sorted = live_sks.clone();
    sorted.sort();
    // The first and third messages expired; the second expires tomorrow; the fourth never.
    set_ttl("partoo#live".into(), sorted[0].clone(), now - 60).await;
    set_ttl("partoo#live".into(), sorted[2].clone(), now - 60).await;
    set_ttl("partoo#live".into(), sorted[1].clone(), now + DAY).await;
    for item in items.iter().filter(|i| s(i, "pk") == "partoo#gone") {
        set_ttl(s(item, "pk"), s(item, "sk"), now - 60).await;
    }
    set_ttl("partoo#gone".into(), "SUMMARY".into(), now - 60).await;

    // Messages, a page of one at a time: short pages are allowed, the cursor goes on.
    for order in [Order::Asc, Order::Desc] {
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..10 {
            let page = store
                .list_messages("partoo#live", order, 1, after.as_deref(), false)
                .await
                .unwrap();
            assert!(page.messages.len() <= 1);
            seen.extend(page.messages.iter().map(|m| m.sk.clone()));
            after = page.next_after;
            if after.is_none() {
                break;
            }
        }
        let mut expected = vec![sorted[1].clone(), sorted[3].clone()];
        if order == Order::Desc {
            expected.reverse();
        }
        assert_eq!(seen, expected, "{order:?}");
        assert!(after.is_none(), "the pages end");
    }

    assert!(store.summary_of("partoo#gone").await.unwrap().is_none());
    assert!(store.summary_of("partoo#live").await.unwrap().is_some());
    let list = store
        .list_conversations(&Filters::default(), 50, None)
        .await
        .unwrap();
    let listed: Vec<&str> = list
        .summaries
        .iter()
        .map(|s| s.conversation_id.as_str())
        .collect();
    assert_eq!(listed, ["live"], "the expired summary is not listed");
    let customer = store
        .customers(&Customer::Phone("33698765432".into()))
        .await
        .unwrap();
    let found: Vec<&str> = customer
        .iter()
        .map(|s| s.conversation_id.as_str())
        .collect();
    assert_eq!(found, ["live"], "nor found by the customer's phone");
}
