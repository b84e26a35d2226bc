//! The request pipeline, in the order of checks of docs/CONTRACT.md ("HTTP behaviour"):
//! configuration, size and encoding, authentication, meaning, storage. Every path ends in an
//! [`Outcome`]; nothing here panics on input or returns an error to the Lambda runtime.

use std::future::Future;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::config::Settings;
use crate::error::{Invalid, Misconfigured, StoreError};
use crate::message::{format_timestamp, Message};
use crate::providers::Provider;
use crate::request::Request;
use crate::response::{HttpResponse, Outcome};
use crate::storage::keys::{beside, check_sizes, conversation_key, id_sort_key, MessageKeys};
use crate::storage::{Fingerprint, Inserted, MessageStore, Quarantined, Updated};
use crate::telemetry::{emf_document, MetricsSink};
use crate::verify::verify;
use crate::webhook::{IfUnknown, Update, Webhook};

/// How long storage may take in all before the request is answered 503. TikTok allows ~3 s.
pub const STORAGE_DEADLINE: Duration = Duration::from_millis(1500);

/// One provider's function: its settings (or why it has none), its store and its clock.
pub struct Handler<P: Provider, S> {
    settings: Result<Settings<P>, Misconfigured>,
    store: S,
    clock: fn() -> DateTime<Utc>,
    deadline: Duration,
    metrics: MetricsSink,
}

/// How a request ended, and which message it was about (for its log line).
#[derive(Debug)]
pub struct Handled {
    pub outcome: Outcome,
    pub message: Option<MessageRef>,
}

/// The conversation and message a request was about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRef {
    pub conversation_id: String,
    pub message_id: String,
}

impl From<Outcome> for Handled {
    fn from(outcome: Outcome) -> Self {
        Handled {
            outcome,
            message: None,
        }
    }
}

/// When a request's storage calls must be done by.
#[derive(Clone, Copy)]
struct Deadline {
    at: tokio::time::Instant,
    budget: Duration,
}

impl Deadline {
    /// Runs a storage call, giving up at the deadline.
    async fn within<T>(
        self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout_at(self.at, call)
            .await
            .unwrap_or(Err(StoreError::Timeout(self.budget.as_millis())))
    }
}

/// An authentic body on its way into the table.
struct Delivery<'b> {
    body: &'b [u8],
    received_at: String,
    deadline: Deadline,
}

impl<P: Provider, S: MessageStore> Handler<P, S> {
    pub fn new(settings: Result<Settings<P>, Misconfigured>, store: S) -> Self {
        if let Err(why) = &settings {
            tracing::error!(
                provider = P::NAME,
                error = %why,
                "function misconfigured; answering 500 to every request"
            );
        }
        Handler {
            settings,
            store,
            clock: Utc::now,
            deadline: STORAGE_DEADLINE,
            metrics: MetricsSink::stdout(),
        }
    }

    /// Replaces the clock (tests pin it to check Callbell's signature window).
    pub fn with_clock(mut self, clock: fn() -> DateTime<Utc>) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces where metrics go (stdout by default).
    pub fn with_metrics(mut self, metrics: MetricsSink) -> Self {
        self.metrics = metrics;
        self
    }

    /// Replaces the storage deadline.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Answers one raw Lambda event (the JSON API Gateway or a function URL sends), and writes
    /// the request's one summary log line and its metrics.
    pub async fn handle_event(&self, event: &[u8]) -> HttpResponse {
        let started = Instant::now();
        let (handled, request_id, version) = match Request::from_event(event) {
            Ok(request) => {
                let handled = self.handle_request(&request).await;
                (handled, request.request_id, request.payload_version)
            }
            // A misconfigured function answers 500 before it reads anything.
            Err(_) if self.settings.is_err() => {
                (Outcome::Misconfigured.into(), None, Default::default())
            }
            Err(rejected) => (Outcome::Rejected(rejected).into(), None, Default::default()),
        };
        let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        self.report(&handled, request_id.as_deref(), duration_ms);
        handled.outcome.into_response(version)
    }

    /// The request's summary log line and metrics document.
    fn report(&self, handled: &Handled, request_id: Option<&str>, duration_ms: f64) {
        let outcome = &handled.outcome;
        tracing::info!(
            provider = P::NAME,
            outcome = outcome.name(),
            status = outcome.status_code(),
            conversation_id = handled.message.as_ref().map(|m| m.conversation_id.as_str()),
            message_id = handled.message.as_ref().map(|m| m.message_id.as_str()),
            request_id,
            detail = outcome.detail().as_deref(),
            duration_ms,
            "request handled"
        );
        let emf = emf_document(
            P::FUNCTION,
            outcome.name(),
            duration_ms,
            matches!(outcome, Outcome::Invalid(_)),
            matches!(outcome, Outcome::Duplicate { conflict: true, .. }),
            (self.clock)().timestamp_millis(),
        );
        self.metrics.write(&emf);
    }

    /// Answers a request already read out of its event.
    pub async fn handle_request(&self, request: &Request) -> Handled {
        let Ok(settings) = &self.settings else {
            return Outcome::Misconfigured.into();
        };
        let now = (self.clock)();
        let verified = match verify::<P>(&settings.verifier, request, now.timestamp()) {
            Ok(verified) => verified,
            Err(unauthorized) => return Outcome::Unauthorized(unauthorized).into(),
        };
        let delivery = Delivery {
            body: verified.body(),
            received_at: format_timestamp(now),
            deadline: Deadline {
                at: tokio::time::Instant::now() + self.deadline,
                budget: self.deadline,
            },
        };
        let webhook = match P::read(&verified) {
            Ok(webhook) => webhook,
            Err(invalid) => return self.quarantine(&delivery, invalid).await.into(),
        };
        match webhook {
            Webhook::Ignored(reason) => Outcome::Ignored(reason).into(),
            Webhook::ConnectionCheck => Outcome::ConnectionOk.into(),
            Webhook::NewMessage(message) => Handled {
                message: Some(MessageRef::of(
                    &message.conversation_id,
                    &message.message_id,
                )),
                outcome: self.store_message(*message, &delivery).await,
            },
            Webhook::Update(update) => Handled {
                message: Some(MessageRef::of(&update.conversation_id, &update.message_id)),
                outcome: self.apply_update(*update, &delivery).await,
            },
        }
    }

    async fn store_message(&self, mut message: Message, delivery: &Delivery<'_>) -> Outcome {
        // Providers read bodies with wire::parse_body, which refuses any that is not UTF-8.
        let Ok(raw) = std::str::from_utf8(delivery.body) else {
            let invalid = Invalid::body("body is not valid UTF-8, so not JSON");
            return self.quarantine(delivery, invalid).await;
        };
        let fingerprint = fingerprint(&message, delivery.body);
        message.raw = raw.to_string();
        message.received_at = delivery.received_at.clone();
        let mut inserted = self.insert(&message, &fingerprint, delivery).await;
        if let Ok(Inserted::OrderKeyTaken) = inserted {
            // Another message holds its place (one TikTok index for two messages): it goes
            // right after that one, and is deduplicated and updated like any other.
            message.order_key = beside(&message.order_key, &message.message_id);
            inserted = self.insert(&message, &fingerprint, delivery).await;
        }
        let message_id = message.message_id.clone();
        match inserted {
            Ok(Inserted::Stored) => Outcome::Stored { message_id },
            Ok(Inserted::Duplicate { same_content }) => {
                if !same_content {
                    tracing::warn!(
                        provider = P::NAME,
                        conversation_id = %message.conversation_id,
                        message_id = %message_id,
                        "conflict: a delivery reuses a stored message's id with other content; keeping the first"
                    );
                }
                Outcome::Duplicate {
                    message_id,
                    conflict: !same_content,
                }
            }
            Ok(Inserted::OrderKeyTaken) => Outcome::Unavailable(StoreError::Unavailable(format!(
                "order key {} and the one beside it are both taken",
                message.order_key
            ))),
            Err(e) => self.refused_or_unavailable(e, delivery).await,
        }
    }

    /// Writes the message and its id item, if their keys fit in the table.
    async fn insert(
        &self,
        message: &Message,
        fingerprint: &Fingerprint,
        delivery: &Delivery<'_>,
    ) -> Result<Inserted, StoreError> {
        MessageKeys::of(message)
            .check_sizes()
            .map_err(StoreError::Invalid)?;
        delivery
            .deadline
            .within(self.store.insert(message, fingerprint))
            .await
    }

    /// A table that refuses an item (or could never hold it) will refuse it on every retry:
    /// keep the body and answer 400. Anything else is passing: 503, so that the provider
    /// retries.
    async fn refused_or_unavailable(&self, error: StoreError, delivery: &Delivery<'_>) -> Outcome {
        match error {
            StoreError::Refused(detail) => {
                let invalid = Invalid::body(format!("the table refused the message: {detail}"));
                self.quarantine(delivery, invalid).await
            }
            StoreError::Invalid(invalid) => self.quarantine(delivery, invalid).await,
            other => Outcome::Unavailable(other),
        }
    }

    /// Applies an update to its stored message; when there is none, stores the message the
    /// update carries (Partoo) or ignores it (Callbell).
    async fn apply_update(&self, update: Update, delivery: &Delivery<'_>) -> Outcome {
        let pk = conversation_key(update.provider, &update.conversation_id);
        if let Err(invalid) = check_sizes(&pk, &[&id_sort_key(&update.message_id)]) {
            return self.quarantine(delivery, invalid).await;
        }
        match self.update_stored(&update, delivery).await {
            Err(error) => self.refused_or_unavailable(error, delivery).await,
            Ok(Updated::NotFound) => self.store_update_as_new(&update, delivery).await,
            Ok(updated) => update_outcome(&update, updated),
        }
    }

    async fn update_stored(
        &self,
        update: &Update,
        delivery: &Delivery<'_>,
    ) -> Result<Updated, StoreError> {
        delivery
            .deadline
            .within(
                self.store
                    .update(update, &P::STATUS_ORDER, &delivery.received_at),
            )
            .await
    }

    async fn store_update_as_new(&self, update: &Update, delivery: &Delivery<'_>) -> Outcome {
        let IfUnknown::StoreAsNew(message) = &update.if_unknown else {
            return Outcome::Ignored("unknown_message");
        };
        match self.store_message((**message).clone(), delivery).await {
            // A concurrent delivery stored it first: apply the update to that one.
            Outcome::Duplicate { .. } => match self.update_stored(update, delivery).await {
                Err(error) => Outcome::Unavailable(error),
                Ok(Updated::NotFound) => Outcome::Ignored("unknown_message"),
                Ok(updated) => update_outcome(update, updated),
            },
            other => other,
        }
    }

    /// Keeps an authentic body that cannot be a message, then answers 400 — or 503 when it
    /// could not be kept, so that the provider's retry brings it back.
    async fn quarantine(&self, delivery: &Delivery<'_>, invalid: Invalid) -> Outcome {
        let item = Quarantined {
            provider: P::NAME,
            received_at: delivery.received_at.clone(),
            body_sha256: hex::encode(Sha256::digest(delivery.body)),
            raw: delivery.body.to_vec(),
            error: invalid.to_string(),
        };
        match delivery.deadline.within(self.store.quarantine(&item)).await {
            Ok(()) => Outcome::Invalid(invalid),
            Err(e) => Outcome::Unavailable(e),
        }
    }
}

impl MessageRef {
    fn of(conversation_id: &str, message_id: &str) -> Self {
        MessageRef {
            conversation_id: conversation_id.to_string(),
            message_id: message_id.to_string(),
        }
    }
}

/// What identifies the delivery's bytes, and what the message says before delivery details
/// (raw body, receipt time) are added to it.
fn fingerprint(message: &Message, body: &[u8]) -> Fingerprint {
    let content = serde_json::to_vec(message).expect("a Message always serializes");
    Fingerprint {
        body_sha256: hex::encode(Sha256::digest(body)),
        content_sha256: hex::encode(Sha256::digest(content)),
    }
}

/// The answer to an update that found its message.
fn update_outcome(update: &Update, updated: Updated) -> Outcome {
    match updated {
        Updated::Updated => Outcome::Updated {
            message_id: update.message_id.clone(),
        },
        Updated::Unchanged => Outcome::Ignored("no_change"),
        Updated::NotFound => Outcome::Ignored("unknown_message"),
    }
}
