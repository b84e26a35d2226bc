//! Events on the bus (issue 21), from the table's real stream: messages stored and changed by
//! the webhook handlers and the media function's kind of update on DynamoDB Local, the stream's
//! records read as Lambda delivers them, and the projector's handler publishing them on moto's
//! EventBridge, whose rules deliver to moto's SQS queues — what a consumer of the bus receives.

mod support;

use aws_sdk_dynamodb::types::AttributeValue;
use ingest::events::{DeadLetters, Publisher};
use ingest::read::query::Order;
use ingest::storage::{ConversationReader, DynamoDbStore};
use ingest::testkit::stream::{stream_arn, streams_client, StreamReader};
use serde_json::{json, Value};
use support::projector::{new_records, Projector};
use support::proxy::{self, Proxy};
use support::sqs::sqs_admin;
use support::*;

/// The README's first example rule: the customers' WhatsApp messages, as they are stored.
fn inbound_whatsapp_pattern(source: &str) -> Value {
    readme_pattern(
        include_str!("../../docs/event-rules/inbound-whatsapp.json"),
        source,
    )
}

/// The README's second example rule: messages whose delivery failed (Callbell's status).
fn failed_status_pattern(source: &str) -> Value {
    readme_pattern(
        include_str!("../../docs/event-rules/failed-messages.json"),
        source,
    )
}

/// A pattern of docs/event-rules/ (the README's), for a bus whose events' source is `source`.
fn readme_pattern(text: &str, source: &str) -> Value {
    let mut pattern: Value = serde_json::from_str(text).expect("a JSON pattern");
    assert_eq!(pattern["source"], json!(["message-ingest"]));
    pattern["source"] = json!([source]);
    pattern
}

/// moto's EventBridge. Bus tests refuse to pass without it.
fn eventbridge_endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL_EVENTBRIDGE").unwrap_or_else(|_| {
        panic!(
            "bus tests need moto's EventBridge: run them with scripts/test.sh \
             (or start scripts/aws-local.sh and set AWS_ENDPOINT_URL_EVENTBRIDGE)"
        )
    })
}

fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// A bus of its own on moto, its events' source, and clients to set it up and read its
/// rules' queues.
struct Bus {
    events: aws_sdk_eventbridge::Client,
    sqs: aws_sdk_sqs::Client,
    name: String,
    source: String,
}

impl Bus {
    async fn new(prefix: &str) -> Bus {
        eventbridge_endpoint();
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(ingest::aws::https_client())
            .load()
            .await;
        let events = aws_sdk_eventbridge::Client::new(&config);
        let name = unique(prefix);
        events
            .create_event_bus()
            .name(&name)
            .send()
            .await
            .expect("create the bus on moto");
        Bus {
            events,
            sqs: sqs_admin().await,
            source: format!("{name}.source"),
            name,
        }
    }

    async fn queue(&self, name: &str) -> (String, String) {
        let url = self
            .sqs
            .create_queue()
            .queue_name(unique(name))
            .send()
            .await
            .expect("create a queue")
            .queue_url
            .unwrap();
        let arn = self
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
            .clone();
        (url, arn)
    }

    /// A rule of `pattern` on the bus with a new queue as its target: the queue's URL.
    async fn rule_to_queue(&self, name: &str, pattern: &Value) -> String {
        let (url, arn) = self.queue(name).await;
        let rule = unique(name);
        self.events
            .put_rule()
            .name(&rule)
            .event_bus_name(&self.name)
            .event_pattern(pattern.to_string())
            .send()
            .await
            .expect("put the rule");
        self.events
            .put_targets()
            .rule(&rule)
            .event_bus_name(&self.name)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("queue")
                    .arn(arn)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("put the rule's target");
        url
    }

    /// The projector's publisher on this bus (the function's clients), through `endpoint`
    /// (moto, or a proxy in front of it), with `dead_letters` as its dead-letter queue.
    fn publisher(&self, endpoint: &str, dead_letters: Option<String>) -> Publisher {
        let mut aws = ingest::config::AwsConfig::from_env();
        aws.eventbridge_endpoint = Some(endpoint.to_string());
        let http = aws.https_client();
        Publisher {
            events: aws.eventbridge_client(http.clone()),
            bus: self.name.clone(),
            source: self.source.clone(),
            dead_letters: dead_letters.map(|queue_url| DeadLetters {
                sqs: aws.sqs_client(http),
                queue_url,
            }),
        }
    }

    /// Every message in `url` now, in order, deleted as read: moto delivers a rule's events to
    /// its queue during PutEvents, so nothing more comes later. Bodies as JSON.
    async fn take(&self, url: &str) -> Vec<Value> {
        let mut bodies = Vec::new();
        loop {
            let page = self
                .sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .send()
                .await
                .expect("receive");
            let messages = page.messages.unwrap_or_default();
            if messages.is_empty() {
                return bodies;
            }
            for message in messages {
                bodies.push(serde_json::from_str(message.body().unwrap()).unwrap());
                self.sqs
                    .delete_message()
                    .queue_url(url)
                    .receipt_handle(message.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
}

/// A table with its stream and a reader of it.
struct Table {
    client: aws_sdk_dynamodb::Client,
    name: String,
    reader: StreamReader,
}

async fn table(prefix: &str) -> Table {
    let client = admin_client().await;
    let name = create_table_with_stream(&client, prefix).await;
    let arn = stream_arn(&client, &name).await.unwrap().expect("a stream");
    Table {
        client,
        name,
        reader: StreamReader::new(streams_client(), arn),
    }
}

/// Delivers `body` through provider `id`'s handler on `table`; the answer's `status`.
async fn deliver(table: &str, id: ProviderId, body: &Value) -> String {
    let handler = table_handler(id, table, local_client().await);
    let event = signed_event(Format::HttpApiV2, id, &body_of(body));
    let (code, answer) = answer(&handler.handle_event(&event).await);
    assert_eq!(code, 200, "{answer}");
    answer["status"].as_str().unwrap_or_default().to_string()
}

/// Stores Partoo message `n` of each `(conversation, n)` on `table` (each must be new), and
/// the stream records they made.
async fn store_partoo(table: &mut Table, messages: &[(&str, u64)]) -> Vec<Value> {
    let partoo = ProviderId::Partoo.samples();
    for (conversation, n) in messages {
        let body = partoo.message(conversation, *n, &format!("m{n}"));
        assert_eq!(
            deliver(&table.name, ProviderId::Partoo, &body).await,
            "stored"
        );
    }
    new_records(&mut table.reader).await
}

/// (conversation_id, detail-type, message_id[, attachment_index]) of each event, in order.
fn summary_of(events: &[Value]) -> Vec<(String, String, String)> {
    events
        .iter()
        .map(|e| {
            let detail = &e["detail"];
            let kind = match detail.get("attachment_index") {
                Some(i) => format!("{} {i}", e["detail-type"].as_str().unwrap()),
                None => e["detail-type"].as_str().unwrap().to_string(),
            };
            (
                detail["conversation_id"].as_str().unwrap().to_string(),
                kind,
                detail["message_id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn event_ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["detail"]["event_id"].as_str().unwrap().to_string())
        .collect()
}

/// The message as the read API returns it (the inbox's read of the conversation, without the
/// presigned `download_url`s the inbox adds).
async fn read_api_message(table: &str, pk: &str, message_id: &str) -> Value {
    let store = DynamoDbStore::new(local_client().await, table);
    let page = store
        .list_messages(pk, Order::Asc, 100, None, false)
        .await
        .expect("read the conversation");
    let found = page
        .messages
        .into_iter()
        .find(|m| m.message["message_id"] == message_id)
        .expect("the message is in its conversation");
    Value::Object(found.message)
}

/// `update` on the item at `key`, with `values`: a change made by hand, not by a function.
async fn update_item(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    key: &Item,
    update: &str,
    values: &[(&str, AttributeValue)],
) {
    // `#stored`: `stored` is one of DynamoDB's reserved words.
    let mut request = client
        .update_item()
        .table_name(table)
        .set_key(Some(key.clone()))
        .update_expression(update);
    if update.contains("#stored") {
        request = request.expression_attribute_names("#stored", "stored");
    }
    for (name, value) in values {
        request = request.expression_attribute_values(*name, value.clone());
    }
    request.send().await.expect("update the message item");
}

fn key_of(item: &Item) -> Item {
    ["pk", "sk"]
        .iter()
        .map(|k| (k.to_string(), item[*k].clone()))
        .collect()
}

#[tokio::test]
async fn every_kind_of_change_makes_exactly_the_contracts_events() {
    let mut table = table("bus-changes").await;
    let bus = Bus::new("bus-changes").await;
    let all = bus
        .rule_to_queue("all", &json!({"source": [bus.source]}))
        .await;
    let projector = Projector::publishing(
        &table.name,
        Some(bus.publisher(&eventbridge_endpoint(), None)),
    )
    .await;

    // A Partoo message, then Partoo's message_updated (deleted).
    let partoo = ProviderId::Partoo.samples();
    assert_eq!(
        deliver(
            &table.name,
            ProviderId::Partoo,
            &partoo.message("71", 1, "hello")
        )
        .await,
        "stored"
    );
    let update = partoo.status_update("71", 1, "hello").unwrap();
    assert_eq!(
        deliver(&table.name, ProviderId::Partoo, &update).await,
        "updated"
    );
    // A Callbell message with an attachment, then its status update (read).
    let callbell = ProviderId::Callbell.samples();
    let mut sent = callbell.message("cb-1", 1, "a picture");
    sent["payload"]["attachments"] = json!(["https://media.example/cb-1/1.jpg"]);
    assert_eq!(
        deliver(&table.name, ProviderId::Callbell, &sent).await,
        "stored"
    );
    let read = callbell.status_update("cb-1", 1, "").unwrap();
    assert_eq!(
        deliver(&table.name, ProviderId::Callbell, &read).await,
        "updated"
    );
    let items = scan(&table.client, &table.name).await;
    let message = |pk: &str| {
        items
            .iter()
            .find(|i| s(i, "pk") == pk && s(i, "sk").starts_with("MSG#"))
            .cloned()
            .expect("the message item")
    };
    let (partoo_item, callbell_item) = (message("partoo#71"), message("callbell#cb-1"));
    // The media function's copy: that one attachment's `stored`, as its update writes it.
    let stored = ingest::message::StoredMedia::Copy {
        bucket: "media".into(),
        key: "media/callbell/cb-1/u1/0".into(),
        sha256: "00".repeat(32),
        size_bytes: 3,
        content_type: "image/jpeg".into(),
        stored_at: "2024-05-01T10:05:00.000Z".into(),
    };
    update_item(
        &table.client,
        &table.name,
        &key_of(&callbell_item),
        "SET attachments[0].#stored = :stored",
        &[(
            ":stored",
            serde_dynamo::to_attribute_value(&stored).unwrap(),
        )],
    )
    .await;
    // The read API's message now, before the changes below that make no event (one of them
    // sets `updated_at`, which the read API shows).
    let callbell_id = s(&callbell_item, "message_id").to_string();
    let copied = read_api_message(&table.name, "callbell#cb-1", &callbell_id).await;
    // What no reader sees: a TTL set, an update that changes nothing public (updated_at only),
    // and the same status delivered again.
    update_item(
        &table.client,
        &table.name,
        &key_of(&partoo_item),
        "SET expires_at = :t",
        &[(":t", AttributeValue::N("1900000000".into()))],
    )
    .await;
    update_item(
        &table.client,
        &table.name,
        &key_of(&callbell_item),
        "SET updated_at = :u",
        &[(":u", AttributeValue::S("2024-05-01T11:00:00.000Z".into()))],
    )
    .await;
    let again = deliver(&table.name, ProviderId::Callbell, &read).await;
    assert!(
        ["updated", "duplicate", "ignored"].contains(&again.as_str()),
        "{again}"
    );

    // Every record of the stream, the projector's mapping's filter not applied: read-side
    // items (the summaries of the first batch, read below) make no event either.
    let records = table.reader.read_new().await.unwrap();
    assert!(records.len() >= 7, "{} records", records.len());
    let answer = projector.batch(&records).await;
    assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
    let summaries = table.reader.read_new().await.unwrap();
    assert!(
        summaries
            .iter()
            .all(|r| r["dynamodb"]["Keys"]["sk"]["S"] == "SUMMARY"),
        "only the projector's summaries since"
    );
    assert_eq!(summaries.len(), 2, "a summary per conversation");
    assert!(projector
        .batch(&summaries)
        .await
        .batch_item_failures
        .is_empty());

    let events = bus.take(&all).await;
    let partoo_id = s(&partoo_item, "message_id").to_string();
    let of = |conversation: &str| -> Vec<(String, String, String)> {
        summary_of(&events)
            .into_iter()
            .filter(|(c, _, _)| c == conversation)
            .collect()
    };
    let row = |c: &str, kind: &str, m: &str| (c.to_string(), kind.to_string(), m.to_string());
    assert_eq!(
        of("71"),
        [
            row("71", "Message Stored", &partoo_id),
            row("71", "Message Updated", &partoo_id)
        ]
    );
    assert_eq!(
        of("cb-1"),
        [
            row("cb-1", "Message Stored", &callbell_id),
            row("cb-1", "Message Updated", &callbell_id),
            row("cb-1", "Attachment Stored 0", &callbell_id)
        ]
    );
    assert_eq!(events.len(), 5, "nothing else: {events:#?}");
    assert_eq!(projector.total("EventsPublished"), 5);
    assert_eq!(projector.total("EventsDeadLettered"), 0);

    // The envelope and the detail of the contract.
    for event in &events {
        assert_eq!(event["source"], bus.source.as_str());
        let detail = &event["detail"];
        assert_eq!(detail["schema_version"], 3);
        let id = detail["event_id"].as_str().unwrap();
        assert!(
            id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{id}"
        );
        assert_eq!(detail["provider"], detail["message"]["provider"]);
        assert_eq!(detail["message_id"], detail["message"]["message_id"]);
        assert!(detail["message"].get("raw").is_none());
        assert!(detail["message"].get("pk").is_none());
        assert!(detail["message"].get("expires_at").is_none());
        assert!(detail.get("truncated").is_none());
    }
    let updated = &events
        .iter()
        .find(|e| e["detail-type"] == "Message Updated" && e["detail"]["provider"] == "partoo")
        .unwrap()["detail"]["message"];
    assert_eq!(updated["deleted"], true);
    let status = &events
        .iter()
        .find(|e| e["detail-type"] == "Message Updated" && e["detail"]["provider"] == "callbell")
        .unwrap()["detail"]["message"];
    assert_eq!(status["status"], "read");
    // Each message's last event holds the message as the read API returns it now.
    let last = |provider: &str| {
        events
            .iter()
            .rfind(|e| e["detail"]["provider"] == provider)
            .unwrap()["detail"]["message"]
            .clone()
    };
    assert_eq!(
        last("partoo"),
        read_api_message(&table.name, "partoo#71", &partoo_id).await
    );
    assert!(copied["attachments"][0]["stored"].is_object());
    assert_eq!(last("callbell"), copied);

    // The same batch again (the mapping's retry): the same events, the same ids.
    assert!(projector
        .batch(&records)
        .await
        .batch_item_failures
        .is_empty());
    let redelivered = bus.take(&all).await;
    assert_eq!(summary_of(&redelivered), summary_of(&events));
    assert_eq!(event_ids(&redelivered), event_ids(&events));
}

#[tokio::test]
async fn order_per_conversation_the_largest_message_and_the_readmes_rules() {
    let mut table = table("bus-order").await;
    let bus = Bus::new("bus-order").await;
    let all = bus
        .rule_to_queue("all", &json!({"source": [bus.source]}))
        .await;
    let whatsapp = bus
        .rule_to_queue("inbound-whatsapp", &inbound_whatsapp_pattern(&bus.source))
        .await;
    // moto's rules deliver to SQS, not SNS: the second rule's pattern, tested on a queue.
    let failures = bus
        .rule_to_queue("failed", &failed_status_pattern(&bus.source))
        .await;
    let projector = Projector::publishing(
        &table.name,
        Some(bus.publisher(&eventbridge_endpoint(), None)),
    )
    .await;

    // Partoo conversation 81: 14 messages from the customer on WhatsApp (more than a PutEvents
    // call holds); 82: the same channel, from the business; 83: a customer on Facebook.
    let partoo = ProviderId::Partoo.samples();
    for n in 1..=14 {
        let body = partoo.message("81", n, &format!("m{n}"));
        assert_eq!(
            deliver(&table.name, ProviderId::Partoo, &body).await,
            "stored"
        );
    }
    let mut business = partoo.message("82", 1, "from us");
    business["payload"]["message"]["sender_type"] = json!("User");
    assert_eq!(
        deliver(&table.name, ProviderId::Partoo, &business).await,
        "stored"
    );
    let mut facebook = partoo.message("83", 1, "on facebook");
    facebook["payload"]["conversation"]["messaging_partner"] = json!("Facebook");
    assert_eq!(
        deliver(&table.name, ProviderId::Partoo, &facebook).await,
        "stored"
    );
    // The largest body a function accepts (128 KiB), nearly all of it the text.
    let mut largest = partoo.message("84", 1, "");
    let envelope = body_of(&largest).len();
    let text: String = "é"
        .repeat((ingest::request::MAX_BODY_BYTES - envelope) / 2)
        .chars()
        .collect();
    largest["payload"]["message"]["content"] = json!(text);
    let largest_body = body_of(&largest);
    assert!(
        largest_body.len() <= ingest::request::MAX_BODY_BYTES
            && largest_body.len() > ingest::request::MAX_BODY_BYTES - 16,
        "{} bytes",
        largest_body.len()
    );
    assert_eq!(
        deliver(&table.name, ProviderId::Partoo, &largest).await,
        "stored"
    );

    // Callbell: two messages the business sent on WhatsApp, one read, one failed.
    let callbell = ProviderId::Callbell.samples();
    for (n, status) in [(1, "read"), (2, "failed")] {
        let sent = callbell.message("cb-8", n, "from us");
        assert_eq!(
            deliver(&table.name, ProviderId::Callbell, &sent).await,
            "stored"
        );
        let mut update = callbell.status_update("cb-8", n, "").unwrap();
        update["payload"]["status"] = json!(status);
        assert_eq!(
            deliver(&table.name, ProviderId::Callbell, &update).await,
            "updated"
        );
    }

    let records = new_records(&mut table.reader).await;
    assert_eq!(records.len(), 21);
    assert!(projector
        .batch(&records)
        .await
        .batch_item_failures
        .is_empty());

    let events = bus.take(&all).await;
    assert_eq!(events.len(), 21);
    let texts: Vec<&str> = events
        .iter()
        .filter(|e| e["detail"]["conversation_id"] == "81")
        .map(|e| e["detail"]["message"]["text"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (1..=14).map(|n| format!("m{n}")).collect();
    assert_eq!(texts, expected, "in the order they were stored");

    // The largest message's event: the whole message, within EventBridge's limit.
    let big = events
        .iter()
        .find(|e| e["detail"]["conversation_id"] == "84")
        .unwrap();
    let detail = big["detail"].to_string();
    eprintln!(
        "the largest message: a body of {} bytes, an event detail of {} bytes",
        largest_body.len(),
        detail.len()
    );
    assert!(detail.len() < 256 * 1024, "{} bytes", detail.len());
    assert_eq!(big["detail"]["message"]["text"], text.as_str());
    assert!(big["detail"].get("truncated").is_none());

    // The README's first rule: exactly the customer's WhatsApp messages (81 and 84's).
    let matched = bus.take(&whatsapp).await;
    let conversations: std::collections::BTreeSet<&str> = matched
        .iter()
        .map(|e| e["detail"]["conversation_id"].as_str().unwrap())
        .collect();
    assert_eq!(conversations, ["81", "84"].into());
    assert_eq!(matched.len(), 15);
    assert!(matched.iter().all(|e| e["detail-type"] == "Message Stored"
        && e["detail"]["message"]["direction"] == "inbound"
        && e["detail"]["message"]["channel"] == "whatsapp"));
    // The second: the one failed message's update, not the read one's, nor any stored.
    let failed = bus.take(&failures).await;
    assert_eq!(
        summary_of(&failed),
        [(
            "cb-8".to_string(),
            "Message Updated".to_string(),
            "u2".to_string()
        )]
    );
}

#[tokio::test]
async fn a_bus_that_refuses_leaves_the_records_for_retry_then_the_dead_letter_queue() {
    let mut table = table("bus-refuses").await;
    let bus = Bus::new("bus-refuses").await;
    let all = bus
        .rule_to_queue("all", &json!({"source": [bus.source]}))
        .await;
    let (dead_letters, _) = bus.queue("events-dlq").await;
    let proxy = Proxy::start(proxy::host_port(&eventbridge_endpoint())).await;
    let projector = Projector::publishing(
        &table.name,
        Some(bus.publisher(&proxy.address, Some(dead_letters.clone()))),
    )
    .await;

    let records = store_partoo(&mut table, &[("91", 1), ("92", 1), ("91", 2)]).await;
    assert_eq!(records.len(), 3);
    let sequence = |r: &Value| {
        r["dynamodb"]["SequenceNumber"]
            .as_str()
            .unwrap()
            .to_string()
    };

    // The bus unreachable: each conversation reported from its first record, so the mapping
    // retries from the lowest, the whole batch; the summaries are written all the same.
    proxy.set(proxy::RESET);
    let answer = projector.batch(&records).await;
    let failed: Vec<String> = answer
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(failed, [sequence(&records[0]), sequence(&records[1])]);
    assert_eq!(projector.total("EventsPublished"), 0);
    assert_eq!(projector.total("SummariesWritten"), 2);
    assert!(bus.take(&all).await.is_empty());

    // Past the mapping's retries (MaximumRetryAttempts), Lambda sends the batch's place in the
    // stream to the mapping's on-failure destination — in our design the events' dead-letter
    // queue, the one EVENTS_DEAD_LETTER_QUEUE_URL names. Simulated here as Lambda does it: the
    // handler invoked again on the batch from the lowest failed record until the attempts are
    // spent, then the record of the batch sent.
    const MAXIMUM_RETRY_ATTEMPTS: usize = 2;
    let from = records
        .iter()
        .position(|r| sequence(r) == failed[0])
        .unwrap();
    let mut retried = &records[from..];
    for _ in 0..MAXIMUM_RETRY_ATTEMPTS {
        let answer = projector.batch(retried).await;
        assert!(!answer.batch_item_failures.is_empty());
        let lowest = &answer.batch_item_failures[0].item_identifier;
        retried = &retried[retried.iter().position(|r| &sequence(r) == lowest).unwrap()..];
    }
    let on_failure = json!({
        "requestContext": {"condition": "RetryAttemptsExhausted",
                           "approximateInvokeCount": MAXIMUM_RETRY_ATTEMPTS + 1},
        "DDBStreamBatchInfo": {
            "shardId": "shard-0", "streamArn": table.reader.arn(),
            "startSequenceNumber": sequence(&retried[0]),
            "endSequenceNumber": sequence(retried.last().unwrap()),
            "batchSize": retried.len()
        }
    });
    bus.sqs
        .send_message()
        .queue_url(&dead_letters)
        .message_body(on_failure.to_string())
        .send()
        .await
        .unwrap();
    let kept = bus.take(&dead_letters).await;
    assert_eq!(kept.len(), 1);
    let info = &kept[0]["DDBStreamBatchInfo"];
    assert_eq!(info["startSequenceNumber"], sequence(&records[0]).as_str());
    assert_eq!(info["batchSize"], 3);
    assert!(bus.take(&all).await.is_empty(), "nothing was published");

    // The bus back: the records the dead-letter queue names, handled again (as an operator
    // re-drives them), publish every event once, in order, with the ids a first delivery has.
    proxy.set(proxy::PASS);
    let start = records
        .iter()
        .position(|r| sequence(r) == info["startSequenceNumber"].as_str().unwrap())
        .unwrap();
    let answer = projector.batch(&records[start..]).await;
    assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
    let events = bus.take(&all).await;
    assert_eq!(
        summary_of(&events)
            .iter()
            .map(|(c, kind, _)| format!("{c} {kind}"))
            .collect::<Vec<_>>(),
        [
            "91 Message Stored",
            "92 Message Stored",
            "91 Message Stored"
        ]
    );
    assert_eq!(projector.total("EventsPublished"), 3);
    // Redelivery's ids: those a publisher that never failed gives the same records.
    let fresh = Bus::new("bus-refuses-fresh").await;
    let fresh_all = fresh
        .rule_to_queue("all", &json!({"source": [fresh.source]}))
        .await;
    let other = Projector::publishing(
        &table.name,
        Some(fresh.publisher(&eventbridge_endpoint(), None)),
    )
    .await;
    assert!(other.batch(&records).await.batch_item_failures.is_empty());
    assert_eq!(event_ids(&fresh.take(&fresh_all).await), event_ids(&events));
}

#[tokio::test]
async fn a_hung_bus_costs_one_time_limit_a_round_not_one_a_call() {
    let mut table = table("bus-hung").await;
    let bus = Bus::new("bus-hung").await;
    let proxy = Proxy::start(proxy::host_port(&eventbridge_endpoint())).await;
    let projector =
        Projector::publishing(&table.name, Some(bus.publisher(&proxy.address, None))).await;
    // 25 conversations: three PutEvents calls in the first round.
    let partoo = ProviderId::Partoo.samples();
    for conversation in 0..25 {
        let body = partoo.message(&format!("95{conversation:02}"), 1, "hi");
        assert_eq!(
            deliver(&table.name, ProviderId::Partoo, &body).await,
            "stored"
        );
    }
    let records = new_records(&mut table.reader).await;
    assert_eq!(records.len(), 25);
    proxy.set(proxy::SLOW);
    let started = std::time::Instant::now();
    let answer = projector.batch(&records).await;
    let elapsed = started.elapsed();
    proxy.set(proxy::PASS);
    assert_eq!(
        answer.batch_item_failures.len(),
        25,
        "every conversation retried"
    );
    // The client's operation limit is 10 s: three calls one after another would take 30 s.
    assert!(
        elapsed < std::time::Duration::from_secs(20),
        "{elapsed:?} for one round of three calls"
    );
}

/// A stand-in for EventBridge that refuses every entry for good (`MalformedDetail`), as no
/// detail the projector makes would get from the real bus or from moto: the only way to reach
/// the dead-letter path. It answers PutEvents in AWS's JSON protocol, one entry per entry sent;
/// its address.
async fn refusing_bus() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                loop {
                    // One request: its headers, then Content-Length bytes of body.
                    let end = loop {
                        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                            break at + 4;
                        }
                        let mut chunk = [0u8; 8192];
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let headers = String::from_utf8_lossy(&buffer[..end]).to_lowercase();
                    let length: usize = headers
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    while buffer.len() < end + length {
                        let mut chunk = [0u8; 8192];
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let request: Value =
                        serde_json::from_slice(&buffer[end..end + length]).unwrap_or(Value::Null);
                    buffer.drain(..end + length);
                    let count = request["Entries"].as_array().map_or(0, Vec::len);
                    let refused = json!({"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."});
                    let body = json!({"FailedEntryCount": count, "Entries": vec![refused; count]})
                        .to_string();
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\n\
                         x-amzn-requestid: stand-in\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if socket.write_all(response.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    address
}

#[tokio::test]
async fn entries_refused_for_good_go_to_the_dead_letter_queue_with_their_detail() {
    let mut table = table("bus-refused").await;
    let bus = Bus::new("bus-refused").await;
    let (dead_letters, _) = bus.queue("events-dlq").await;
    let refusing = refusing_bus().await;
    let records = store_partoo(&mut table, &[("96", 1), ("97", 1), ("96", 2)]).await;
    assert_eq!(records.len(), 3);

    // Without a dead-letter queue, a refused entry cannot be kept: its record is retried.
    let keeping_nothing =
        Projector::publishing(&table.name, Some(bus.publisher(&refusing, None))).await;
    let answer = keeping_nothing.batch(&records).await;
    assert_eq!(answer.batch_item_failures.len(), 2, "{answer:?}");
    assert_eq!(keeping_nothing.total("EventsDeadLettered"), 0);

    // With one: every refused event kept there with its detail, the batch done.
    let projector = Projector::publishing(
        &table.name,
        Some(bus.publisher(&refusing, Some(dead_letters.clone()))),
    )
    .await;
    let answer = projector.batch(&records).await;
    assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
    assert_eq!(projector.total("EventsDeadLettered"), 3);
    assert_eq!(projector.total("EventsPublished"), 0);
    let kept = bus.take(&dead_letters).await;
    assert_eq!(kept.len(), 3);
    for letter in &kept {
        assert_eq!(letter["reason"], "refused by the event bus");
        assert!(letter["error"]
            .as_str()
            .unwrap()
            .contains("MalformedDetail"));
        assert_eq!(letter["bus"], bus.name.as_str());
        assert_eq!(letter["detail-type"], "Message Stored");
        let detail: Value = serde_json::from_str(letter["detail"].as_str().unwrap()).unwrap();
        assert_eq!(detail["event_id"], letter["event_id"]);
        assert_eq!(detail["message"]["provider"], "partoo");
    }
    let mut conversations: Vec<String> = kept
        .iter()
        .map(|l| {
            let detail: Value = serde_json::from_str(l["detail"].as_str().unwrap()).unwrap();
            detail["conversation_id"].as_str().unwrap().to_string()
        })
        .collect();
    conversations.sort();
    assert_eq!(conversations, ["96", "96", "97"]);
}
