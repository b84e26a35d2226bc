//! `ingest-dev backfill` on DynamoDB Local: messages stored by the webhook handlers before the
//! read side existed (no summaries), then backfilled — the summaries the projector's fold makes
//! of the same messages, found by the list's and the customer lookup's indexes; a second run
//! writes nothing; a run cut short and resumed from its token ends the same; a dry run writes
//! nothing; a summary the projector already began is completed, not replaced.

mod support;

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use ingest::backfill::{Backfill, Report, ResumeToken};
use ingest::read::summary::{merge, MessageImage};
use ingest::storage::keys::{activity_shard, BY_ACTIVITY_INDEX, BY_EMAIL_INDEX, BY_PHONE_INDEX};
use ingest::storage::{DynamoDbStore, SummaryItem};
use support::*;

/// Conversations per provider, and messages in each (the `n`th of them has n + 1).
const CONVERSATIONS: u64 = 3;

/// A Partoo message of conversation 77, whose customer has a phone and an address.
fn partoo_body(id: u64, second: u64, sender: &str) -> Vec<u8> {
    format!(
        r#"{{"type":"message_created","payload":{{"message":{{"id":{id},"conversation_id":77,"date":"2024-05-01 10:00:{second:02}.000000+00:00","content_type":"Text","sender_type":"{sender}","status":"Success","is_deleted":false,"is_automated":false,"content":"hello {id}"}},"conversation":{{"id":77,"consumer_name":"John","consumer_phone_number":"+33 6 12 34 56 78","consumer_email":"John.Doe@Example.com","messaging_partner":"Whatsapp"}},"org_id":5}}}}"#
    )
    .into_bytes()
}

/// Delivers each body through its provider's handler; each must be stored. A 503 (DynamoDB
/// Local behind the functions' tight time limits on a loaded machine) is delivered again, as
/// the provider would.
async fn deliver(table: &str, bodies: &[(ProviderId, Vec<u8>)]) {
    let client = local_client().await;
    for (id, body) in bodies {
        let handler = table_handler(*id, table, client.clone());
        let event = signed_event(Format::HttpApiV2, *id, body);
        for attempt in 1..=5 {
            let (code, answer) = answer(&handler.handle_event(&event).await);
            if code == 503 && attempt < 5 {
                tokio::time::sleep(std::time::Duration::from_millis(200 * attempt)).await;
                continue;
            }
            assert_eq!(
                (code, answer["status"].as_str()),
                (200, Some("stored")),
                "{answer}"
            );
            break;
        }
    }
}

/// A table of stored messages and no summaries: every provider's sample conversations, and
/// Partoo's conversation 77 (customer, agent, customer) with a phone and an address.
async fn stored_history(client: &Client, prefix: &str) -> String {
    let table = create_table(client, prefix).await;
    let mut bodies = Vec::new();
    for &id in ProviderId::ALL {
        for c in 0..CONVERSATIONS {
            for n in 1..=c + 1 {
                bodies.push((
                    id,
                    message_body(id, &format!("conv-{c}"), n, &format!("m{n}")),
                ));
            }
        }
    }
    for (n, sender) in [(1, "Consumer"), (2, "User"), (3, "Consumer")] {
        bodies.push((ProviderId::Partoo, partoo_body(100 + n, n, sender)));
    }
    deliver(&table, &bodies).await;
    assert!(
        summaries(client, &table).await.is_empty(),
        "the webhook writes no summary: the projector (or the backfill) does"
    );
    table
}

/// Every message item, by conversation, as the fold reads them.
async fn images(client: &Client, table: &str) -> BTreeMap<String, Vec<MessageImage>> {
    let mut conversations: BTreeMap<String, Vec<MessageImage>> = BTreeMap::new();
    for item in scan(client, table).await {
        if s(&item, "sk").starts_with("MSG#") {
            let image: MessageImage = serde_dynamo::from_item(item).expect("a message image");
            conversations
                .entry(image.pk.clone())
                .or_default()
                .push(image);
        }
    }
    conversations
}

/// Every summary item, by conversation, at revision 0 (the count of writes is not the point).
async fn summaries(client: &Client, table: &str) -> BTreeMap<String, SummaryItem> {
    scan(client, table)
        .await
        .into_iter()
        .filter(|item| s(item, "sk") == "SUMMARY")
        .map(|item| {
            let mut summary = SummaryItem::from_item(item).expect("a summary item");
            summary.revision = 0;
            (summary.pk.clone(), summary)
        })
        .collect()
}

/// What the projector makes of the same messages: one fold of all of each conversation's.
fn folded(images: &BTreeMap<String, Vec<MessageImage>>) -> BTreeMap<String, SummaryItem> {
    images
        .iter()
        .map(|(pk, images)| {
            let images: Vec<&MessageImage> = images.iter().collect();
            let state = merge(None, &images).expect("a conversation with messages");
            (pk.clone(), SummaryItem::new(pk, state, 0))
        })
        .collect()
}

fn backfill(table: &str, client: &Client, dry_run: bool, page_size: Option<i32>) -> Backfill {
    Backfill {
        dynamodb: client.clone(),
        table: table.to_string(),
        dry_run,
        page_size,
    }
}

/// A whole run from the beginning, in `segments`.
async fn run(backfill: &Backfill, segments: u32) -> Report {
    let from = ResumeToken::start(&backfill.table, segments).unwrap();
    let (report, end) = backfill
        .run(from, |_| ControlFlow::Continue(()))
        .await
        .expect("the backfill runs");
    assert!(end.is_done(), "{end:?}");
    report
}

/// The partition keys an index holds for `value`.
async fn index_keys(
    client: &Client,
    table: &str,
    index: &str,
    key: &str,
    value: &str,
) -> Vec<String> {
    let mut keys: Vec<String> = client
        .query()
        .table_name(table)
        .index_name(index)
        .key_condition_expression("#k = :v")
        .expression_attribute_names("#k", key)
        .expression_attribute_values(":v", AttributeValue::S(value.into()))
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
async fn backfill_makes_the_projectors_summaries_once_and_a_dry_run_writes_nothing() {
    let client = admin_client().await;
    let table = stored_history(&client, "backfill").await;
    let images = images(&client, &table).await;
    let messages: usize = images.values().map(Vec::len).sum();
    let conversations = 3 * CONVERSATIONS + 1;
    assert_eq!(images.len() as u64, conversations);

    let dry = run(&backfill(&table, &client, true, None), 2).await;
    assert_eq!(
        (
            dry.messages,
            dry.conversations,
            dry.written,
            dry.unchanged,
            dry.failed
        ),
        (messages as u64, conversations, conversations, 0, 0),
        "{dry:?}"
    );
    assert!(
        summaries(&client, &table).await.is_empty(),
        "a dry run writes nothing"
    );

    let first = run(&backfill(&table, &client, false, None), 2).await;
    assert_eq!(
        (
            first.messages,
            first.conversations,
            first.written,
            first.unchanged,
            first.failed
        ),
        (messages as u64, conversations, conversations, 0, 0),
        "{first:?}"
    );
    let expected = folded(&images);
    assert_eq!(summaries(&client, &table).await, expected);

    // The list's index holds each in its shard; the customer indexes find the customer of 77
    // by their phone's digits and their address in lower case.
    for (pk, summary) in &expected {
        let shard = activity_shard(pk);
        assert_eq!(summary.activity_shard, shard);
        let listed = index_keys(&client, &table, BY_ACTIVITY_INDEX, "activity_shard", &shard).await;
        assert!(listed.contains(pk), "{pk} not in {shard}: {listed:?}");
    }
    assert_eq!(
        index_keys(
            &client,
            &table,
            BY_PHONE_INDEX,
            "customer_phone",
            "33612345678"
        )
        .await,
        ["partoo#77"]
    );
    assert_eq!(
        index_keys(
            &client,
            &table,
            BY_EMAIL_INDEX,
            "customer_email",
            "john.doe@example.com"
        )
        .await,
        ["partoo#77"]
    );
    let partoo = &expected["partoo#77"].state;
    assert_eq!(partoo.summary.last_message.message_id, "103");
    assert!(partoo.summary.awaiting_reply);

    // Again, with other segments, in pages of 3 items that cut conversations (and pages of
    // id items only): everything is in, nothing is written, each conversation counted once.
    let second = run(&backfill(&table, &client, false, Some(3)), 3).await;
    assert_eq!(
        (second.messages, second.conversations, second.written),
        (messages as u64, conversations, 0),
        "{second:?}"
    );
    assert!(
        second.unchanged > conversations,
        "a conversation cut by a page is folded once per page: {second:?}"
    );
    assert_eq!(summaries(&client, &table).await, expected);
}

#[tokio::test]
async fn a_run_cut_short_resumes_from_its_token_to_the_same_summaries() {
    let client = admin_client().await;
    let table = stored_history(&client, "backfill-resume").await;
    let images = images(&client, &table).await;
    let messages: usize = images.values().map(Vec::len).sum();
    // Pages of 4 items (message and id items alike: the filter comes after the limit), so
    // conversations straddle pages; stopped after the first page of any segment.
    let cut = backfill(&table, &client, false, Some(4));
    let mut pages = 0;
    let mut printed = String::new();
    let (report, stopped_at) = cut
        .run(ResumeToken::start(&table, 2).unwrap(), |progress| {
            pages += 1;
            printed = progress.resume.encode();
            ControlFlow::Break(())
        })
        .await
        .expect("the first page runs");
    // The other segment's first page was in flight when the callback broke: it finishes (and
    // is in the token), but no segment starts another.
    assert!((1..=2).contains(&pages), "{pages} pages");
    assert!(!stopped_at.is_done(), "{stopped_at:?}");
    assert_eq!(
        printed,
        stopped_at.encode(),
        "the last token handed over is the end"
    );
    let partial = summaries(&client, &table).await;
    assert!(
        partial.len() < images.len(),
        "a page of 4 items cannot hold every conversation: {}",
        partial.len()
    );

    // Resumed as the command line does, from the printed token.
    let from = ResumeToken::start_or_resume(&table, None, Some(&printed)).unwrap();
    let mut tokens = Vec::new();
    let (rest, end) = cut
        .run(from, |progress| {
            tokens.push(progress.resume.clone());
            ControlFlow::Continue(())
        })
        .await
        .expect("the rest runs");
    assert!(end.is_done());
    assert!(
        tokens.len() > 1,
        "a token after each page: {}",
        tokens.len()
    );
    assert_eq!(
        report.messages + rest.messages,
        messages as u64,
        "no page is read twice, none skipped"
    );
    assert_eq!(rest.failed, 0);
    assert_eq!(summaries(&client, &table).await, folded(&images));

    // A finished token has nothing left: the run reads nothing.
    let (nothing, _) = cut.run(end, |_| ControlFlow::Continue(())).await.unwrap();
    assert_eq!(nothing, Report::default());
}

#[tokio::test]
async fn a_summary_the_projector_began_is_completed_and_a_token_of_another_table_refused() {
    let client = admin_client().await;
    let table = stored_history(&client, "backfill-race").await;
    let images = images(&client, &table).await;
    // The projector of the upgraded stack folded 77's oldest message only (the stream's
    // first record of it); the backfill folds the newer ones over it.
    let store = DynamoDbStore::new(local_client().await, &table);
    let oldest = images["partoo#77"].iter().min_by_key(|i| &i.sk).unwrap();
    store.fold_summary("partoo#77", &[oldest]).await.unwrap();
    let began = store.summary("partoo#77").await.unwrap().unwrap();
    assert_eq!(began.revision, 1);

    let report = run(&backfill(&table, &client, false, None), 1).await;
    assert_eq!(report.written, images.len() as u64, "{report:?}");
    assert_eq!(summaries(&client, &table).await, folded(&images));
    let completed = store.summary("partoo#77").await.unwrap().unwrap();
    assert_eq!(completed.revision, 2, "written over the revision it read");

    let token = ResumeToken::start(&table, 1).unwrap().encode();
    let refused = ResumeToken::start_or_resume("another-table", None, Some(&token)).unwrap_err();
    assert!(refused.to_string().contains(&table), "{refused}");
}
