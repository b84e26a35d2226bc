//! Many deliveries at once: each of 120 messages (40 per provider) is delivered three times —
//! in new envelopes, re-signed — shuffled over 8 concurrent clients against DynamoDB Local.
//! Exactly one item per message, every answer 2xx, each conversation reads back in provider
//! order.

mod support;

use std::collections::HashMap;
use std::sync::Arc;

use support::*;

const MESSAGES_PER_PROVIDER: usize = 40;
const DELIVERIES: usize = 3;
const CLIENTS: usize = 8;
const CONVERSATIONS: usize = 4;

/// Message `i` of provider `id`, in delivery `copy` (a redelivery's envelope differs), signed
/// as that delivery would be (a Callbell retry is re-signed with a new `t`).
fn delivery(id: ProviderId, i: usize, copy: usize) -> Vec<u8> {
    let samples = id.samples();
    let conversation = format!("c{}", i % CONVERSATIONS);
    let mut message = samples.message(&conversation, i as u64, &format!("message {i}"));
    if copy > 0 {
        samples.redeliver(&mut message, copy as u32);
    }
    let body = body_of(&message);
    let credentials = samples.sign(&body, NOW - 10 * copy as i64);
    event(Format::HttpApiV2, id.function(), &credentials, &body, false)
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
    for provider in ProviderId::ALL.iter().copied() {
        let table = create_table(&admin, &format!("concurrency-{}", provider.function())).await;
        let handler = table_handler(provider, &table, local_client().await);
        handlers.insert(provider, Arc::new(handler));
        tables.insert(provider, table);
        for i in 0..MESSAGES_PER_PROVIDER {
            for copy in 0..DELIVERIES {
                deliveries.push((provider, i, delivery(provider, i, copy)));
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
    let mut stored: HashMap<(ProviderId, usize), usize> = HashMap::new();
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
        ProviderId::ALL.len() * MESSAGES_PER_PROVIDER,
        clock.elapsed().as_millis(),
        stored.len(),
        total - stored.len()
    );
    assert_eq!(
        stored.len(),
        ProviderId::ALL.len() * MESSAGES_PER_PROVIDER,
        "every message stored"
    );
    assert!(
        stored.values().all(|&n| n == 1),
        "each message stored exactly once"
    );

    for &provider in ProviderId::ALL {
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
        // An id item only for messages whose updates find them by id alone: Callbell's sent
        // ones (the test kit's Callbell messages are sent by the business).
        let id_items = if provider == ProviderId::Callbell {
            MESSAGES_PER_PROVIDER
        } else {
            0
        };
        assert_eq!(
            (messages, ids, items.len()),
            (
                MESSAGES_PER_PROVIDER,
                id_items,
                MESSAGES_PER_PROVIDER + id_items
            ),
            "{provider}"
        );
        for conversation in 0..CONVERSATIONS {
            let pk = format!("{provider}#c{conversation}");
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
