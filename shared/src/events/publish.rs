//! Publishing events on the bus: at least once, in order per conversation, and never silently
//! dropped.
//!
//! PutEvents takes up to 10 entries a call and answers per entry. To keep a conversation's
//! events in order, a call holds at most one event of each conversation — the next one of
//! every conversation still going (a "round") — and a conversation whose event failed stops
//! there: its later events are not sent, and the failed one is where the stream's batch is
//! retried from. An entry the bus refuses for good (a malformed detail, an invalid argument:
//! retrying would only refuse it again) goes to the dead-letter queue with its whole detail,
//! so a reader can see what was lost to the bus and send it again.

use std::collections::VecDeque;

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde_json::json;

use super::detail::{Event, MAX_ENTRY_BYTES};
use crate::aws::error_text;

/// PutEvents' limits: entries a call, and bytes a call (entries' sizes summed).
const ENTRIES_PER_CALL: usize = 10;
const BYTES_PER_CALL: usize = MAX_ENTRY_BYTES;

/// The per-entry error codes no retry can cure (PutEventsResultEntry's ErrorCode).
const REFUSED_FOR_GOOD: &[&str] = &["MalformedDetail", "InvalidArgument", "ValidationException"];

/// Where events go: the bus, their `source`, and the queue for those it refuses for good.
#[derive(Clone, Debug)]
pub struct Publisher {
    pub events: aws_sdk_eventbridge::Client,
    pub bus: String,
    pub source: String,
    pub dead_letters: Option<DeadLetters>,
}

/// The events' dead-letter queue.
#[derive(Clone, Debug)]
pub struct DeadLetters {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
}

/// What became of one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fate {
    Published,
    /// Refused by the bus for good, and kept in the dead-letter queue.
    DeadLettered {
        error: String,
    },
    /// Not published yet (the bus or its dead-letter queue failed, or an earlier event of its
    /// conversation did): to be tried again from here.
    Failed {
        error: String,
    },
}

impl Publisher {
    /// Publishes `events` (stream order), each conversation's in order; the fate of each, by
    /// index.
    pub async fn publish(&self, events: &[Event]) -> Vec<Fate> {
        let mut fates: Vec<Option<Fate>> = vec![None; events.len()];
        // Each conversation's events, in order, as a queue of indexes.
        let mut queues: Vec<VecDeque<usize>> = Vec::new();
        let mut conversation_of: Vec<(&str, usize)> = Vec::new();
        for (index, event) in events.iter().enumerate() {
            match conversation_of
                .iter()
                .find(|(c, _)| *c == event.conversation)
            {
                Some(&(_, queue)) => queues[queue].push_back(index),
                None => {
                    conversation_of.push((&event.conversation, queues.len()));
                    queues.push(VecDeque::from([index]));
                }
            }
        }
        loop {
            let round: Vec<usize> = queues.iter().filter_map(|q| q.front().copied()).collect();
            if round.is_empty() {
                break;
            }
            // A round's calls hold different conversations: sent at once, so a bus that hangs
            // costs one call's time limit a round, not one per ten conversations.
            let calls = calls(events, &round, &self.source);
            let results =
                futures_util::future::join_all(calls.iter().map(|call| self.put(events, call)))
                    .await;
            for (call, results) in calls.into_iter().zip(results) {
                for (index, fate) in call.into_iter().zip(results) {
                    fates[index] = Some(fate);
                }
            }
            for queue in queues.iter_mut() {
                let Some(&head) = queue.front() else { continue };
                match &fates[head] {
                    Some(Fate::Failed { error }) => {
                        // The rest of this conversation waits for the retry.
                        let error = format!("an earlier event of its conversation failed: {error}");
                        for &later in queue.iter().skip(1) {
                            fates[later] = Some(Fate::Failed {
                                error: error.clone(),
                            });
                        }
                        queue.clear();
                    }
                    _ => {
                        queue.pop_front();
                    }
                }
            }
        }
        fates
            .into_iter()
            .map(|fate| {
                fate.unwrap_or(Fate::Failed {
                    error: "not sent".into(),
                })
            })
            .collect()
    }

    /// One PutEvents call of the events at `indexes`; the fate of each.
    async fn put(&self, events: &[Event], indexes: &[usize]) -> Vec<Fate> {
        let entries = indexes
            .iter()
            .map(|&i| entry(&events[i], &self.bus, &self.source))
            .collect();
        let output = match self
            .events
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
        {
            Ok(output) => output,
            Err(e) => {
                let error = format!("PutEvents: {}", error_text(&e, "the event bus"));
                return indexes
                    .iter()
                    .map(|_| Fate::Failed {
                        error: error.clone(),
                    })
                    .collect();
            }
        };
        let results = output.entries();
        let mut fates = Vec::with_capacity(indexes.len());
        for (position, &index) in indexes.iter().enumerate() {
            let result = results.get(position);
            let code = result.and_then(|r| r.error_code());
            let fate = match code {
                None if result.is_some_and(|r| r.event_id().is_some()) => Fate::Published,
                None => Fate::Failed {
                    error: "PutEvents answered no entry for it".into(),
                },
                Some(code) => {
                    let message = result.and_then(|r| r.error_message()).unwrap_or_default();
                    let error = format!("PutEvents: {code}: {message}");
                    if REFUSED_FOR_GOOD.contains(&code) {
                        self.dead_letter(&events[index], &error).await
                    } else {
                        Fate::Failed { error }
                    }
                }
            };
            fates.push(fate);
        }
        fates
    }

    /// Keeps an event the bus refused for good in the dead-letter queue; without one, or when
    /// it fails, the event stays to be retried (and, past the retries, the stream mapping's
    /// own dead-letter queue records the batch): never dropped.
    async fn dead_letter(&self, event: &Event, error: &str) -> Fate {
        let Some(dead_letters) = &self.dead_letters else {
            return Fate::Failed {
                error: format!("{error}; no dead-letter queue to keep it"),
            };
        };
        let body = json!({
            "reason": "refused by the event bus",
            "error": error,
            "bus": self.bus,
            "source": self.source,
            "detail-type": event.detail_type,
            "event_id": event.event_id,
            "detail": event.detail,
        });
        match dead_letters
            .sqs
            .send_message()
            .queue_url(&dead_letters.queue_url)
            .message_body(body.to_string())
            .send()
            .await
        {
            Ok(_) => Fate::DeadLettered {
                error: error.to_string(),
            },
            Err(e) => Fate::Failed {
                error: format!(
                    "{error}; SQS SendMessage: {}",
                    error_text(&e, "the dead-letter queue")
                ),
            },
        }
    }
}

fn entry(event: &Event, bus: &str, source: &str) -> PutEventsRequestEntry {
    PutEventsRequestEntry::builder()
        .event_bus_name(bus)
        .source(source)
        .detail_type(event.detail_type)
        .detail(&event.detail)
        .build()
}

/// An entry's size as PutEvents counts it: source, detail-type and detail in UTF-8, and 14
/// bytes of time.
fn entry_size(event: &Event, source: &str) -> usize {
    14 + source.len() + event.detail_type.len() + event.detail.len()
}

/// The round's events in PutEvents calls: at most 10 entries and 256 KB a call.
fn calls(events: &[Event], round: &[usize], source: &str) -> Vec<Vec<usize>> {
    let mut calls: Vec<Vec<usize>> = Vec::new();
    let mut bytes = 0;
    for &index in round {
        let size = entry_size(&events[index], source);
        match calls.last_mut() {
            Some(call) if call.len() < ENTRIES_PER_CALL && bytes + size <= BYTES_PER_CALL => {
                call.push(index);
                bytes += size;
            }
            _ => {
                calls.push(vec![index]);
                bytes = size;
            }
        }
    }
    calls
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(conversation: &str, detail_bytes: usize) -> Event {
        Event {
            detail_type: "Message Stored",
            event_id: "e".into(),
            conversation: conversation.into(),
            detail: "x".repeat(detail_bytes),
            truncated: false,
        }
    }

    #[test]
    fn calls_hold_ten_entries_and_256_kb_at_most() {
        let small: Vec<Event> = (0..23).map(|i| event(&format!("c{i}"), 100)).collect();
        let round: Vec<usize> = (0..23).collect();
        let sizes: Vec<usize> = calls(&small, &round, "message-ingest")
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, [10, 10, 3]);
        let large: Vec<Event> = (0..3)
            .map(|i| event(&format!("c{i}"), 100 * 1024))
            .collect();
        let split = calls(&large, &[0, 1, 2], "message-ingest");
        assert_eq!(
            split,
            [vec![0, 1], vec![2]],
            "two of 100 KB fit in a call, not three"
        );
    }
}
