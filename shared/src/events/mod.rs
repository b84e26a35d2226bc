//! Events on EventBridge (docs/CONTRACT.md, "Events (3)"): what a change of the table means to
//! a reader ([`change`]: `Message Stored`, `Message Updated`, `Attachment Stored`, each with an
//! `event_id` the same for every delivery of the change), its detail within the bus's limit
//! ([`detail`]), and publishing in order per conversation, with a dead-letter queue for what the
//! bus refuses for good ([`publish`]). The projector publishes them, off the table's stream.

pub mod change;
pub mod detail;
pub mod publish;

pub use change::{changes, event_id, Change, DetailType, RecordKind};
pub use detail::{Event, MAX_DETAIL_BYTES, MAX_ENTRY_BYTES};
pub use publish::{DeadLetters, Fate, Publisher};

use crate::config::{AwsConfig, Env};

/// The events' `source` unless `EVENT_SOURCE` says another.
pub const DEFAULT_SOURCE: &str = "message-ingest";

/// Where the projector publishes: `EVENT_BUS_NAME` (unset: no events, the summaries only),
/// `EVENT_SOURCE`, and `EVENTS_DEAD_LETTER_QUEUE_URL` for entries the bus refuses for good.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventsConfig {
    pub bus: Option<String>,
    pub source: String,
    pub dead_letter_queue_url: Option<String>,
}

impl EventsConfig {
    pub fn read(env: &Env) -> Self {
        EventsConfig {
            bus: env.get("EVENT_BUS_NAME"),
            source: env
                .get("EVENT_SOURCE")
                .unwrap_or_else(|| DEFAULT_SOURCE.to_string()),
            dead_letter_queue_url: env.get("EVENTS_DEAD_LETTER_QUEUE_URL"),
        }
    }

    /// The publisher this configuration names, its clients on `aws`'s endpoints; `None`
    /// without a bus (publishing off).
    pub fn publisher(&self, aws: &AwsConfig) -> Option<Publisher> {
        let bus = self.bus.clone()?;
        let http = aws.https_client();
        Some(Publisher {
            events: aws.eventbridge_client(http.clone()),
            bus,
            source: self.source.clone(),
            dead_letters: self
                .dead_letter_queue_url
                .clone()
                .map(|queue_url| DeadLetters {
                    sqs: aws.sqs_client(http),
                    queue_url,
                }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_means_no_bus_and_the_default_source() {
        let none = |_: &str| None;
        let config = EventsConfig::read(&Env::new(&none));
        assert_eq!(config.bus, None);
        assert_eq!(config.source, "message-ingest");
        let set = |name: &str| match name {
            "EVENT_BUS_NAME" => Some("stack-messages".to_string()),
            "EVENT_SOURCE" => Some(" acme ".to_string()),
            "EVENTS_DEAD_LETTER_QUEUE_URL" => Some("http://127.0.0.1:1/q".to_string()),
            _ => None,
        };
        let config = EventsConfig::read(&Env::new(&set));
        assert_eq!(config.bus.as_deref(), Some("stack-messages"));
        assert_eq!(config.source, "acme");
        assert_eq!(
            config.dead_letter_queue_url.as_deref(),
            Some("http://127.0.0.1:1/q")
        );
    }
}
