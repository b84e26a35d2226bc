//! Many deliveries at once: each of 120 messages (40 per provider) is delivered three times —
//! in new envelopes, re-signed — shuffled over 8 concurrent clients against DynamoDB Local.
//! Exactly one item per message, every answer 2xx, each conversation reads back in provider
//! order.

mod support;

use std::collections::HashMap;
use std::sync::Arc;

use ingest::Provider;
use support::*;

const MESSAGES_PER_PROVIDER: usize = 40;
const DELIVERIES: usize = 3;
const CLIENTS: usize = 8;
const CONVERSATIONS: usize = 4;

/// The body of message `i` of a provider, in delivery `copy` (envelope details vary by copy).
fn body(provider: Provider, i: usize, copy: usize) -> String {
    let conversation = i % CONVERSATIONS;
    match provider {
        Provider::TiktokShop => {
            let content =
                serde_json::to_string(&format!(r#"{{"content":"message {i}"}}"#)).unwrap();
            format!(
                r#"{{"type":14,"tts_notification_id":"n{i}-{copy}","shop_id":"s1","timestamp":{},"data":{{"content":{content},"conversation_id":"c{conversation}","create_time":1700000000,"message_id":"m{i}","index":"{}","type":"TEXT","sender":{{"im_user_id":"u","role":"BUYER"}}}}}}"#,
                1_700_000_000 + copy,
                1000 + i
            )
        }
        Provider::Partoo => format!(
            r#"{{"type":"message_created","payload":{{"message":{{"id":{},"conversation_id":{conversation},"date":"2024-05-01 10:{:02}:{:02}.123456+00:00","content_type":"Text","sender_type":"Consumer","content":"message {i}"}},"org_id":1}}}}"#,
            5000 + i,
            i / 60,
            i % 60
        ),
        Provider::Callbell => format!(
            r#"{{"event":"message_created","payload":{{"uuid":"u{i}","text":"message {i}","status":"received","channel":"whatsapp","contact":{{"uuid":"k{conversation}","conversationHref":"https://dash.callbell.eu/chat/c{conversation}"}},"createdAt":"2024-05-01T10:{:02}:{:02}.000Z"}}}}"#,
            i / 60,
            i % 60
        ),
    }
}

/// A deterministic shuffle (xorshift), so a failure can be replayed.
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        items.swap(i, (seed % (i as u64 + 1)) as usize);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_shuffled_redeliveries_store_each_message_once() {
    let admin = admin_client().await;
    let mut deliveries = Vec::new();
    let mut handlers = HashMap::new();
    let mut tables = HashMap::new();
    for provider in Provider::ALL {
        let table =
            create_table(&admin, &format!("concurrency-{}", provider.function_name())).await;
        let handler = table_handler(provider, &table, local_client().await);
        handlers.insert(provider, Arc::new(handler));
        tables.insert(provider, table);
        for i in 0..MESSAGES_PER_PROVIDER {
            for copy in 0..DELIVERIES {
                let body = body(provider, i, copy);
                // Callbell re-signs every retry with a new t.
                let (headers, query) =
                    credentials(provider, body.as_bytes(), NOW - 10 * copy as i64);
                let event = event(
                    Format::HttpApiV2,
                    provider,
                    &headers,
                    &query,
                    body.as_bytes(),
                    false,
                );
                deliveries.push((provider, i, event));
            }
        }
    }
    shuffle(&mut deliveries, 0x5eed_1234_abcd_0042);
    let total = deliveries.len();
    let clock = std::time::Instant::now();

    let mut shares: Vec<Vec<_>> = (0..CLIENTS).map(|_| Vec::new()).collect();
    for (n, delivery) in deliveries.into_iter().enumerate() {
        shares[n % CLIENTS].push(delivery);
    }
    let mut clients = Vec::new();
    for share in shares {
        let handlers = handlers.clone();
        clients.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for (provider, i, event) in share {
                let (status, body) = answer(&handlers[&provider].handle_event(&event).await);
                answers.push((provider, i, status, body));
            }
            answers
        }));
    }
    let mut stored: HashMap<(Provider, usize), usize> = HashMap::new();
    let mut answered = 0;
    for client in clients {
        for (provider, i, status, body) in client.await.unwrap() {
            answered += 1;
            assert_eq!(status, 200, "{provider} message {i}: {body}");
            match body["status"].as_str() {
                Some("stored") => *stored.entry((provider, i)).or_default() += 1,
                Some("duplicate") => {}
                other => panic!("{provider} message {i}: unexpected {other:?}"),
            }
        }
    }
    assert_eq!(answered, total);
    println!(
        "{total} deliveries of {} messages from {CLIENTS} clients in {} ms: all 200, {} stored, {} duplicates",
        3 * MESSAGES_PER_PROVIDER,
        clock.elapsed().as_millis(),
        stored.len(),
        total - stored.len()
    );
    assert_eq!(
        stored.len(),
        3 * MESSAGES_PER_PROVIDER,
        "every message stored"
    );
    assert!(
        stored.values().all(|&n| n == 1),
        "each message stored exactly once"
    );

    for provider in Provider::ALL {
        let table = &tables[&provider];
        let items = scan(&admin, table).await;
        let messages = items
            .iter()
            .filter(|i| s(i, "sk").starts_with("MSG#"))
            .count();
        let ids = items
            .iter()
            .filter(|i| s(i, "sk").starts_with("ID#"))
            .count();
        assert_eq!(
            (messages, ids, items.len()),
            (
                MESSAGES_PER_PROVIDER,
                MESSAGES_PER_PROVIDER,
                2 * MESSAGES_PER_PROVIDER
            ),
            "{provider}"
        );
        for conversation in 0..CONVERSATIONS {
            let pk = format!("{provider}#c{conversation}");
            let pk = if provider == Provider::Partoo {
                format!("partoo#{conversation}")
            } else {
                pk
            };
            let texts: Vec<String> = conversation_items(&admin, table, &pk).await;
            let expected: Vec<String> = (0..MESSAGES_PER_PROVIDER)
                .filter(|i| i % CONVERSATIONS == conversation)
                .map(|i| format!("message {i}"))
                .collect();
            assert_eq!(
                texts, expected,
                "{provider} conversation {conversation} in provider order"
            );
        }
    }
}

async fn conversation_items(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: &str,
) -> Vec<String> {
    conversation(client, table, pk)
        .await
        .iter()
        .map(|m| s(m, "text").to_string())
        .collect()
}
