//! Conversation summaries on DynamoDB Local: messages stored by the webhook handlers, their
//! items folded into summaries in shuffled batches as the projector folds stream images, and
//! the read side's indexes (`by_activity`, `by_phone`, `by_email`) answering for them.

mod support;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use ingest::read::summary::MessageImage;
use ingest::storage::keys::{activity_shard, BY_ACTIVITY_INDEX, BY_EMAIL_INDEX, BY_PHONE_INDEX};
use ingest::storage::{DynamoDbStore, Folded};
use support::*;

fn partoo_body(id: u64, second: u64, sender: &str) -> Vec<u8> {
    format!(
        r#"{{"type":"message_created","payload":{{"message":{{"id":{id},"conversation_id":77,"date":"2024-05-01 10:00:{second:02}.000000+00:00","content_type":"Text","sender_type":"{sender}","status":"Success","is_deleted":false,"is_automated":false,"content":"hello {id}"}},"conversation":{{"id":77,"consumer_name":"John","consumer_phone_number":"+33 6 12 34 56 78","consumer_email":"John.Doe@Example.com","messaging_partner":"Whatsapp"}},"org_id":5}}}}"#
    )
    .into_bytes()
}

fn callbell_body(uuid: &str, second: u64) -> Vec<u8> {
    format!(
        r#"{{"event":"message_created","payload":{{"uuid":"{uuid}","to":"1","from":"33612345678","text":"hi {uuid}","status":"received","channel":"whatsapp","contact":{{"uuid":"c1","conversationHref":"https://dash.callbell.eu/chat/chat-9","name":"John","phoneNumber":"33612345678"}},"createdAt":"2024-05-01T11:00:{second:02}.000Z"}}}}"#
    )
    .into_bytes()
}

async fn deliver(handler: &dyn AnyHandler, id: ProviderId, body: &[u8]) {
    let (code, answer) = answer(
        &handler
            .handle_event(&signed_event(Format::HttpApiV2, id, body))
            .await,
    );
    assert_eq!(
        (code, answer["status"].as_str()),
        (200, Some("stored")),
        "{answer}"
    );
}

/// The message items of the conversation at `pk`, as the fold reads them.
async fn images(client: &Client, table: &str, pk: &str) -> Vec<MessageImage> {
    let items = client
        .query()
        .table_name(table)
        .key_condition_expression("pk = :pk AND begins_with(sk, :msg)")
        .expression_attribute_values(":pk", AttributeValue::S(pk.into()))
        .expression_attribute_values(":msg", AttributeValue::S("MSG#".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    items
        .into_iter()
        .map(|item| serde_dynamo::from_item(item).expect("a message item reads as an image"))
        .collect()
}

/// The table keys an index query finds.
async fn index_keys(
    client: &Client,
    table: &str,
    index: &str,
    condition: &str,
    values: &[(&str, &str)],
) -> Vec<String> {
    let mut query = client
        .query()
        .table_name(table)
        .index_name(index)
        .key_condition_expression(condition);
    for (name, value) in values {
        query = query.expression_attribute_values(*name, AttributeValue::S(value.to_string()));
    }
    let mut keys: Vec<String> = query
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default()
        .iter()
        .map(|item| item["pk"].as_s().unwrap().clone())
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn summaries_fold_shuffled_batches_and_the_indexes_find_them() {
    let client = admin_client().await;
    let table = create_table(&client, "summaries").await;
    let store = DynamoDbStore::new(local_client().await, &table);
    let partoo = table_handler(ProviderId::Partoo, &table, local_client().await);
    let callbell = table_handler(ProviderId::Callbell, &table, local_client().await);
    // Partoo: customer, agent, customer, agent, customer (the last is inbound).
    for (n, sender) in [
        (1, "Consumer"),
        (2, "User"),
        (3, "Consumer"),
        (4, "User"),
        (5, "Consumer"),
    ] {
        deliver(
            &*partoo,
            ProviderId::Partoo,
            &partoo_body(100 + n, n, sender),
        )
        .await;
    }
    for n in 1..=3 {
        deliver(
            &*callbell,
            ProviderId::Callbell,
            &callbell_body(&format!("u{n}"), n),
        )
        .await;
    }

    let partoo_pk = "partoo#77";
    let partoo_images = images(&client, &table, partoo_pk).await;
    assert_eq!(partoo_images.len(), 5);
    // Batches as a stream might hand them over after redeliveries and retries: out of order,
    // and a batch of older messages after the newest, which changes nothing.
    let batch =
        |ns: &[usize]| -> Vec<&MessageImage> { ns.iter().map(|n| &partoo_images[n - 1]).collect() };
    for (ns, expected) in [
        (&[3, 1][..], Folded::Written { created: true }),
        (&[5, 2, 4][..], Folded::Written { created: false }),
        (&[1, 2][..], Folded::Unchanged),
    ] {
        assert_eq!(
            store.fold_summary(partoo_pk, &batch(ns)).await.unwrap(),
            expected,
            "{ns:?}"
        );
    }
    let all: Vec<&MessageImage> = partoo_images.iter().collect();
    assert_eq!(
        store.fold_summary(partoo_pk, &all).await.unwrap(),
        Folded::Unchanged,
        "folding again writes nothing"
    );
    let summary = store.summary(partoo_pk).await.unwrap().unwrap();
    let shown = &summary.state.summary;
    assert_eq!(
        shown.last_message.message_id, "105",
        "the greatest order key"
    );
    assert!(shown.awaiting_reply);
    assert_eq!(
        shown.last_inbound_at.as_deref(),
        Some("2024-05-01T10:00:05.000Z")
    );
    assert_eq!(shown.account_id.as_deref(), Some("5"));
    assert_eq!(summary.revision, 2);

    let callbell_pk = "callbell#chat-9";
    let callbell_images = images(&client, &table, callbell_pk).await;
    let refs: Vec<&MessageImage> = callbell_images.iter().collect();
    assert_eq!(
        store.fold_summary(callbell_pk, &refs).await.unwrap(),
        Folded::Written { created: true }
    );

    // The indexes: the conversation in its shard, newest first; both by the phone's digits
    // (written in two formats); Partoo's by its address in any case.
    let shard = activity_shard(partoo_pk);
    let listed = index_keys(
        &client,
        &table,
        BY_ACTIVITY_INDEX,
        "activity_shard = :s",
        &[(":s", &shard)],
    )
    .await;
    assert!(listed.contains(&partoo_pk.to_string()), "{listed:?}");
    assert_eq!(
        index_keys(
            &client,
            &table,
            BY_PHONE_INDEX,
            "customer_phone = :p",
            &[(":p", "33612345678")]
        )
        .await,
        vec![callbell_pk.to_string(), partoo_pk.to_string()]
    );
    assert_eq!(
        index_keys(
            &client,
            &table,
            BY_EMAIL_INDEX,
            "customer_email = :e",
            &[(":e", "john.doe@example.com")]
        )
        .await,
        vec![partoo_pk.to_string()]
    );
    assert!(
        index_keys(
            &client,
            &table,
            BY_PHONE_INDEX,
            "customer_phone = :p",
            &[(":p", "4915112345678")]
        )
        .await
        .is_empty(),
        "nothing for a stranger"
    );
}

#[tokio::test]
async fn a_conversation_whose_messages_are_gone_gets_no_summary() {
    let client = admin_client().await;
    let table = create_table(&client, "summaries-gone").await;
    let store = DynamoDbStore::new(local_client().await, &table);
    let partoo = table_handler(ProviderId::Partoo, &table, local_client().await);
    deliver(
        &*partoo,
        ProviderId::Partoo,
        &partoo_body(101, 1, "Consumer"),
    )
    .await;
    let pk = "partoo#77";
    let found = images(&client, &table, pk).await;
    for image in &found {
        client
            .delete_item()
            .table_name(&table)
            .key("pk", AttributeValue::S(image.pk.clone()))
            .key("sk", AttributeValue::S(image.sk.clone()))
            .send()
            .await
            .unwrap();
    }
    // A late stream record of an erased conversation.
    let refs: Vec<&MessageImage> = found.iter().collect();
    assert_eq!(store.fold_summary(pk, &refs).await.unwrap(), Folded::Gone);
    assert!(store.summary(pk).await.unwrap().is_none());
}

#[tokio::test]
async fn concurrent_folds_of_one_conversation_both_count() {
    let client = admin_client().await;
    let table = create_table(&client, "summaries-race").await;
    let store = DynamoDbStore::new(local_client().await, &table);
    let partoo = table_handler(ProviderId::Partoo, &table, local_client().await);
    for n in 1..=6 {
        deliver(
            &*partoo,
            ProviderId::Partoo,
            &partoo_body(100 + n, n, "Consumer"),
        )
        .await;
    }
    let pk = "partoo#77";
    let found = images(&client, &table, pk).await;
    let refs: Vec<&MessageImage> = found.iter().collect();
    let (early, late) = refs.split_at(3);
    for _ in 0..5 {
        let (a, b) = tokio::join!(store.fold_summary(pk, early), store.fold_summary(pk, late));
        a.unwrap();
        b.unwrap();
    }
    let summary = store.summary(pk).await.unwrap().unwrap();
    assert_eq!(summary.state.summary.last_message.message_id, "106");
}
