//! Erasure against DynamoDB Local and moto's S3: one customer with a Partoo and a Callbell
//! conversation (their phone written in two formats), media copies and a quarantined body that
//! names them, among another customer's — `erase --phone` removes every item and object of
//! theirs and nothing of anyone else's; a dry run counts the same and changes nothing; a run
//! cut short by a fault finishes on the next, and a third finds nothing.

mod support;

use aws_sdk_dynamodb::types::AttributeValue;
use ingest::erase::{Eraser, Report, Subject};
use ingest::read::summary::MessageImage;
use ingest::storage::DynamoDbStore;
use support::proxy::Proxy;
use support::*;

/// A Partoo message of conversation `conversation` from a customer with `phone` and `email`;
/// without its date (a required field) it is quarantined.
fn partoo_body(id: u64, conversation: u64, phone: &str, email: &str, dated: bool) -> Vec<u8> {
    let date = if dated {
        format!(r#""date":"2024-05-01 10:00:{:02}.000000+00:00","#, id % 60)
    } else {
        String::new()
    };
    format!(
        r#"{{"type":"message_created","payload":{{"message":{{"id":{id},"conversation_id":{conversation},{date}"content_type":"Text","sender_type":"Consumer","status":"Success","is_deleted":false,"is_automated":false,"content":"hello {id}"}},"conversation":{{"id":{conversation},"consumer_name":"Someone","consumer_phone_number":"{phone}","consumer_email":"{email}","messaging_partner":"Whatsapp"}},"org_id":5}}}}"#
    )
    .into_bytes()
}

fn callbell_body(uuid: &str, second: u64) -> Vec<u8> {
    format!(
        r#"{{"event":"message_created","payload":{{"uuid":"{uuid}","to":"1","from":"33612345678","text":"hi {uuid}","status":"received","channel":"whatsapp","contact":{{"uuid":"c1x","conversationHref":"https://dash.callbell.eu/chat/chat-9x","name":"John","phoneNumber":"33612345678"}},"createdAt":"2024-05-01T11:00:{second:02}.000Z"}}}}"#
    )
    .into_bytes()
}

const X_PHONE: &str = "+33 6 12 34 56 78";
const X_EMAIL: &str = "John.Doe@Example.com";
const Y_PHONE: &str = "+49 151 12345678";
const Y_EMAIL: &str = "jane@example.org";

async fn deliver(handler: &dyn AnyHandler, id: ProviderId, body: &[u8], status: &str) {
    let (code, answer) = answer(
        &handler
            .handle_event(&signed_event(Format::HttpApiV2, id, body))
            .await,
    );
    assert_eq!(
        answer["status"]
            .as_str()
            .or(answer.get("error").map(|_| "error")),
        Some(status),
        "{code} {answer}"
    );
}

/// Everything in the table, each item as text (its attributes, and `raw` decoded), and every
/// object key in the bucket.
async fn everything(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> (Vec<String>, Vec<String>) {
    let items = scan(client, table)
        .await
        .into_iter()
        .map(|item| {
            // Decoded as the readers decode it: a message's raw is gzip since schema 3, and
            // the phone or ids inside it would not show in its compressed bytes.
            let raw = item
                .get("raw")
                .map(|raw| {
                    let body = ingest::storage::raw::body_of(raw).expect("a readable raw");
                    String::from_utf8_lossy(&body).to_string()
                })
                .unwrap_or_default();
            let attributes: std::collections::BTreeMap<&String, String> =
                item.iter().map(|(k, v)| (k, text_of(v))).collect();
            format!("{attributes:?} {raw}")
        })
        .collect::<Vec<_>>();
    let mut items = items;
    items.sort();
    let objects = s3
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect();
    (items, objects)
}

/// An attribute as text, maps with their members in name order (so that equal items read the same).
fn text_of(value: &AttributeValue) -> String {
    match value {
        AttributeValue::M(members) => {
            let sorted: std::collections::BTreeMap<&String, String> =
                members.iter().map(|(k, v)| (k, text_of(v))).collect();
            format!("{sorted:?}")
        }
        AttributeValue::L(items) => format!("{:?}", items.iter().map(text_of).collect::<Vec<_>>()),
        other => format!("{other:?}"),
    }
}

fn mentions_x(text: &str) -> bool {
    [
        "33612345678",
        X_PHONE,
        "john.doe@example.com",
        X_EMAIL,
        "chat-9x",
        "c1x",
        "partoo#77",
        "media/partoo/77/",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasing_a_customer_by_phone_removes_theirs_and_nothing_else() {
    let client = admin_client().await;
    let table = create_table(&client, "erase").await;
    let s3 = ingest::aws::s3_client();
    let bucket = format!("media-{table}");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();

    let partoo = table_handler(ProviderId::Partoo, &table, local_client().await);
    let callbell = table_handler(ProviderId::Callbell, &table, local_client().await);
    for n in 1..=3 {
        deliver(
            &*partoo,
            ProviderId::Partoo,
            &partoo_body(100 + n, 77, X_PHONE, X_EMAIL, true),
            "stored",
        )
        .await;
    }
    for n in 1..=2 {
        deliver(
            &*callbell,
            ProviderId::Callbell,
            &callbell_body(&format!("x{n}"), n),
            "stored",
        )
        .await;
    }
    for n in 1..=2 {
        deliver(
            &*partoo,
            ProviderId::Partoo,
            &partoo_body(200 + n, 88, Y_PHONE, Y_EMAIL, true),
            "stored",
        )
        .await;
    }
    deliver(
        &*partoo,
        ProviderId::Partoo,
        &partoo_body(109, 77, X_PHONE, X_EMAIL, false),
        "error",
    )
    .await;
    deliver(
        &*partoo,
        ProviderId::Partoo,
        &partoo_body(209, 88, Y_PHONE, Y_EMAIL, false),
        "error",
    )
    .await;
    // Media copies, where the media function puts them.
    for key in [
        ingest::media::object_key("partoo", "77", "101", 0),
        ingest::media::object_key("partoo", "77", "103", 0),
        ingest::media::object_key("partoo", "88", "201", 0),
    ] {
        s3.put_object()
            .bucket(&bucket)
            .key(&key)
            .body(b"bytes".to_vec().into())
            .send()
            .await
            .unwrap();
    }
    // The summaries, as the projector makes them.
    let store = DynamoDbStore::new(local_client().await, &table);
    for pk in ["partoo#77", "callbell#chat-9x", "partoo#88"] {
        let items = scan(&client, &table).await;
        let images: Vec<MessageImage> = items
            .into_iter()
            .filter(|i| {
                i["pk"].as_s().unwrap() == pk && i["sk"].as_s().unwrap().starts_with("MSG#")
            })
            .map(|i| serde_dynamo::from_item(i).unwrap())
            .collect();
        let refs: Vec<&MessageImage> = images.iter().collect();
        store.fold_summary(pk, &refs).await.unwrap();
    }

    let before = everything(&client, &table, &s3, &bucket).await;
    let x_items = before.0.iter().filter(|i| mentions_x(i)).count();
    let y_items = before.0.iter().filter(|i| !mentions_x(i)).count();
    assert!(
        x_items >= 8,
        "X's five messages, two summaries and quarantined body: {x_items}"
    );
    let expected = Report {
        conversations: 2,
        messages: 5,
        id_items: before
            .0
            .iter()
            .filter(|i| mentions_x(i) && i.contains("ID#"))
            .count(),
        summaries: 2,
        other_items: 0,
        media_objects: 2,
        quarantined: 1,
    };

    let eraser =
        |dynamodb: aws_sdk_dynamodb::Client, s3: aws_sdk_s3::Client, dry_run: bool| Eraser {
            dynamodb,
            table: table.clone(),
            media: Some((s3, bucket.clone())),
            dry_run,
        };
    // The phone in another format than either conversation has it.
    let subject = Subject::Phone("+33 (6) 12-34-56-78".into());

    // A dry run: the same counts, nothing changed.
    let dry = eraser(client.clone(), s3.clone(), true)
        .erase(&subject)
        .await
        .unwrap();
    assert_eq!(dry, expected);
    assert_eq!(
        everything(&client, &table, &s3, &bucket).await,
        before,
        "a dry run changes nothing"
    );

    // A run cut short: S3 refuses to delete Partoo's copies (the last conversation erased).
    let s3_endpoint = std::env::var("AWS_ENDPOINT_URL_S3").unwrap();
    let proxy = Proxy::start(support::proxy::host_port(&s3_endpoint)).await;
    proxy.refuse_containing(Some(b"?delete"));
    let s3_via_proxy = aws_sdk_s3::Client::from_conf(
        s3.config()
            .to_builder()
            .endpoint_url(&proxy.address)
            .build(),
    );
    let cut = eraser(client.clone(), s3_via_proxy, false)
        .erase(&subject)
        .await;
    assert!(cut.is_err(), "the fault stops the run: {cut:?}");
    assert!(proxy.refused() > 0);
    let halfway = everything(&client, &table, &s3, &bucket).await;
    assert!(
        halfway.0.iter().filter(|i| mentions_x(i)).count() < x_items,
        "something was erased"
    );
    assert!(halfway.0.iter().any(|i| mentions_x(i)), "not everything");

    // The next run finishes it, and says what it removed; a third finds nothing.
    let rest = eraser(client.clone(), s3.clone(), false)
        .erase(&subject)
        .await
        .unwrap();
    assert_eq!(rest.conversations, 1, "{rest:?}");
    assert_eq!(rest.quarantined, 0, "{rest:?}");
    assert_eq!(rest.media_objects, 2, "{rest:?}");
    let again = eraser(client.clone(), s3.clone(), false)
        .erase(&subject)
        .await
        .unwrap();
    assert!(again.is_empty(), "{again:?}");

    let (items, objects) = everything(&client, &table, &s3, &bucket).await;
    for text in items.iter().chain(&objects) {
        assert!(!mentions_x(text), "left behind: {text}");
    }
    assert_eq!(items.len(), y_items, "everyone else's items are all there");
    assert_eq!(
        objects,
        vec![ingest::media::object_key("partoo", "88", "201", 0)]
    );
}
