//! What the schema-2 code stored keeps working (docs/CONTRACT.md, "Writing less": nothing
//! already stored moves). Each case of `tests/data/schema-2/items.json` — the message item and
//! its id item exactly as that code wrote them, `raw` a string — is written to DynamoDB Local
//! as it is; then today's handler meets it: a redelivery is a duplicate (in a new envelope too,
//! and not a conflict unless the content differs), an update finds the message (Callbell through
//! its id item, Partoo by key), replay settles quarantined redeliveries of it, and none of it
//! is rewritten or joined by new items.

mod support;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::Client;
use ingest::storage::DynamoDbStore;
use serde_json::Value;
use support::items::{item_from_json, item_to_json};
use support::*;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/schema-2/items.json"
);

/// One message as the schema-2 code stored it.
struct Stored {
    /// `events/bodies/<function>/<name>.json`
    sample: String,
    provider: ProviderId,
    items: Vec<Item>,
}

impl Stored {
    fn all() -> Vec<Stored> {
        let fixture: Value = serde_json::from_slice(&std::fs::read(FIXTURE).unwrap()).unwrap();
        fixture["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|case| {
                let sample = case["sample"].as_str().unwrap().to_string();
                let function = sample.split('/').nth(2).unwrap();
                Stored {
                    provider: ProviderId::find(function).unwrap(),
                    items: case["items"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(item_from_json)
                        .collect(),
                    sample,
                }
            })
            .collect()
    }

    fn message(&self) -> &Item {
        self.items
            .iter()
            .find(|i| s(i, "sk").starts_with("MSG#"))
            .unwrap()
    }

    /// The body of its first delivery, as its item keeps it (a string).
    fn body(&self) -> Vec<u8> {
        let raw = self.message().get("raw").unwrap();
        raw.as_s()
            .expect("schema 2 keeps raw as a string")
            .as_bytes()
            .to_vec()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body()).unwrap()
    }

    /// A fresh table holding exactly these items.
    async fn table(&self, admin: &Client) -> String {
        let table = create_table(admin, "schema-2").await;
        for item in &self.items {
            admin
                .put_item()
                .table_name(&table)
                .set_item(Some(item.clone()))
                .send()
                .await
                .unwrap();
        }
        table
    }
}

/// Every item of `table`, in DynamoDB JSON (comparable as a set).
async fn contents(admin: &Client, table: &str) -> BTreeSet<String> {
    scan(admin, table)
        .await
        .iter()
        .map(|item| item_to_json(item).to_string())
        .collect()
}

fn as_json_set(items: &[Item]) -> BTreeSet<String> {
    items.iter().map(|i| item_to_json(i).to_string()).collect()
}

/// Provider `id`'s handler on `table`, and the conflict counts of its metrics, one per request.
fn counting_handler(
    id: ProviderId,
    table: &str,
    client: Client,
) -> (Box<dyn AnyHandler>, Arc<Mutex<Vec<u64>>>) {
    let conflicts = Arc::new(Mutex::new(Vec::new()));
    let sink = {
        let conflicts = Arc::clone(&conflicts);
        ingest::telemetry::MetricsSink::new(move |line| {
            let doc: Value = serde_json::from_str(line).unwrap();
            conflicts
                .lock()
                .unwrap()
                .push(doc["Conflicts"].as_u64().unwrap());
        })
    };
    let handler = any_handler(
        id,
        HandlerSpec {
            metrics: Some(sink),
            ..HandlerSpec::new(DynamoDbStore::new(client, table), table)
        },
    );
    (handler, conflicts)
}

async fn send(handler: &dyn AnyHandler, id: ProviderId, body: &[u8]) -> (u16, Value) {
    answer(
        &handler
            .handle_event(&signed_event(Format::HttpApiV2, id, body))
            .await,
    )
}

#[tokio::test]
async fn a_redelivery_of_a_schema_2_message_is_a_duplicate_and_changes_nothing() {
    let admin = admin_client().await;
    for stored in Stored::all() {
        let what = &stored.sample;
        let id = stored.provider;
        let table = stored.table(&admin).await;
        let (handler, conflicts) = counting_handler(id, &table, local_client().await);
        let message_id = s(stored.message(), "message_id").to_string();
        let duplicate = serde_json::json!({"status": "duplicate", "message_id": message_id});

        // The same bytes, re-signed.
        assert_eq!(
            send(&*handler, id, &stored.body()).await,
            (200, duplicate.clone()),
            "{what}"
        );
        // In a new envelope (what the provider changes when it sends it again), compacted:
        // other bytes, the same message.
        let mut again = stored.json();
        id.samples().redeliver(&mut again, 1);
        assert_ne!(body_of(&again), stored.body());
        assert_eq!(
            send(&*handler, id, &body_of(&again)).await,
            (200, duplicate.clone()),
            "{what}"
        );
        assert_eq!(*conflicts.lock().unwrap(), [0, 0], "{what}: no conflict");
        // The same id saying something else is a conflict, and the first is kept.
        let mut changed = stored.json();
        id.samples().set_text(&mut changed, "not what was said");
        assert_eq!(
            send(&*handler, id, &body_of(&changed)).await,
            (200, duplicate),
            "{what}"
        );
        assert_eq!(
            *conflicts.lock().unwrap(),
            [0, 0, 1],
            "{what}: the conflict counted"
        );

        assert_eq!(
            contents(&admin, &table).await,
            as_json_set(&stored.items),
            "{what}: the schema-2 items, untouched, and nothing beside them"
        );
    }
}

#[tokio::test]
async fn updates_find_schema_2_messages() {
    let admin = admin_client().await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let sample = |name: &str| std::fs::read(root.join("events/bodies").join(name)).unwrap();
    for stored in Stored::all() {
        let what = &stored.sample;
        let id = stored.provider;
        let message_id = s(stored.message(), "message_id").to_string();
        let updates: Vec<(Vec<u8>, &str)> = match id {
            ProviderId::TiktokShop => continue, // TikTok sends no updates
            ProviderId::Partoo => vec![(
                sample("partoo/whatsapp-agent-text-updated-success.json"),
                "success",
            )],
            ProviderId::Callbell => {
                let status = |status: &str| {
                    let mut update: Value =
                        serde_json::from_slice(&sample("callbell/status-delivered.json")).unwrap();
                    update["payload"]["uuid"] = message_id.clone().into();
                    update["payload"]["contact"] = stored.json()["payload"]["contact"].clone();
                    update["payload"]["status"] = status.into();
                    body_of(&update)
                };
                // The inbound one too: schema 2 gave every message an id item.
                vec![(status("delivered"), "delivered"), (status("read"), "read")]
            }
        };
        let table = stored.table(&admin).await;
        let handler = table_handler(id, &table, local_client().await);
        for (update, status) in updates {
            let (code, answer) = send(&*handler, id, &update).await;
            assert_eq!(
                (code, answer),
                (
                    200,
                    serde_json::json!({"status": "updated", "message_id": message_id})
                ),
                "{what} → {status}"
            );
            let items = scan(&admin, &table).await;
            assert_eq!(items.len(), stored.items.len(), "{what}: nothing added");
            let message = items
                .iter()
                .find(|i| s(i, "sk") == s(stored.message(), "sk"))
                .expect("the message item where it was");
            assert_eq!(s(message, "status"), status, "{what}");
            assert_eq!(
                message.get("raw"),
                stored.message().get("raw"),
                "{what}: raw keeps the first delivery, as it was"
            );
        }
    }
}

#[tokio::test]
async fn replay_settles_redeliveries_of_schema_2_and_schema_3_messages() {
    let admin = admin_client().await;
    let stored = Stored::all()
        .into_iter()
        .next()
        .expect("a TikTok case first");
    assert_eq!(stored.provider, ProviderId::TiktokShop);
    let table = stored.table(&admin).await;
    let store = DynamoDbStore::new(local_client().await, &table);
    // A schema-3 message beside it, stored by today's handler.
    let handler = table_handler(ProviderId::TiktokShop, &table, local_client().await);
    let fresh = message_body(ProviderId::TiktokShop, "replay", 1, "new here");
    let (_, answer) = send(&*handler, ProviderId::TiktokShop, &fresh).await;
    assert_eq!(answer["status"], "stored");
    let before = contents(&admin, &table).await;
    // Both bodies, and one never stored, quarantined as a replay finds them.
    let never = message_body(ProviderId::TiktokShop, "replay", 2, "not yet");
    for (n, body) in [stored.body(), fresh, never].iter().enumerate() {
        admin
            .put_item()
            .table_name(&table)
            .item(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S("QUARANTINE#tiktok_shop".into()),
            )
            .item(
                "sk",
                aws_sdk_dynamodb::types::AttributeValue::S(format!(
                    "2026-01-01T00:00:0{n}.000Z#{n}"
                )),
            )
            .item(
                "raw",
                aws_sdk_dynamodb::types::AttributeValue::B(body.clone().into()),
            )
            .item(
                "error",
                aws_sdk_dynamodb::types::AttributeValue::S("kept by hand".into()),
            )
            .send()
            .await
            .unwrap();
    }
    let source = ingest::replay::Source::Quarantine(vec![ProviderId::TiktokShop]);

    let dry = ingest::replay::replay(&store, &source, true).await.unwrap();
    let outcomes: Vec<&str> = dry.entries.iter().map(|e| e.outcome.as_str()).collect();
    assert_eq!(
        outcomes,
        ["duplicate", "duplicate", "stored"],
        "{:?}",
        dry.lines()
    );

    let report = ingest::replay::replay(&store, &source, false)
        .await
        .unwrap();
    let outcomes: Vec<&str> = report.entries.iter().map(|e| e.outcome.as_str()).collect();
    assert_eq!(
        outcomes,
        ["duplicate", "duplicate", "stored"],
        "{:?}",
        report.lines()
    );
    assert_eq!(report.removed(), 3);
    let after = contents(&admin, &table).await;
    assert!(before.is_subset(&after), "what was stored stays as it was");
    assert_eq!(
        after.len(),
        before.len() + 1,
        "one new message item, nothing quarantined"
    );
}
