//! The request pipeline, in the contract's order of checks: configuration, size and encoding,
//! authentication, meaning, storage. Every path ends in an [`Outcome`]; nothing here panics on
//! input or returns an error to the Lambda runtime.

use std::future::Future;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::config::Settings;
use crate::error::{Invalid, Misconfigured, StoreError};
use crate::inbound::{IfUnknown, Inbound, Update};
use crate::message::{check_key_sizes, format_timestamp, id_sort_key, Message, Provider};
use crate::request::Request;
use crate::response::{HttpResponse, Outcome};
use crate::store::{Fingerprint, Inserted, MessageStore, Quarantined, Updated};
use crate::telemetry::{emf_document, MetricsSink};

/// How long storage may take in all before the request is answered 503. TikTok allows ~3 s.
pub const STORAGE_DEADLINE: Duration = Duration::from_millis(1500);

/// One provider's function: its settings (or why it has none), its store and its clock.
pub struct Handler<S> {
    provider: Provider,
    settings: Result<Settings, Misconfigured>,
    store: S,
    clock: fn() -> DateTime<Utc>,
    deadline: Duration,
    metrics: MetricsSink,
}

/// What a request's log line reports besides its outcome; filled in as the pipeline learns it.
#[derive(Debug, Default)]
pub struct Facts {
    pub conversation_id: Option<String>,
    pub message_id: Option<String>,
}

impl Facts {
    fn note(&mut self, conversation_id: &str, message_id: &str) {
        self.conversation_id = Some(conversation_id.to_string());
        self.message_id = Some(message_id.to_string());
    }
}

impl<S: MessageStore> Handler<S> {
    pub fn new(provider: Provider, settings: Result<Settings, Misconfigured>, store: S) -> Self {
        if let Err(why) = &settings {
            tracing::error!(
                provider = provider.as_str(),
                error = %why,
                "function misconfigured; answering 500 to every request"
            );
        }
        Handler {
            provider,
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

    pub fn provider(&self) -> Provider {
        self.provider
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Answers one raw Lambda event (the JSON API Gateway or a function URL sends), and writes
    /// the request's one summary log line and its metrics.
    pub async fn handle_event(&self, event: &[u8]) -> HttpResponse {
        let started = Instant::now();
        let mut facts = Facts::default();
        let (outcome, request_id, version) = match Request::from_event(event) {
            Ok(request) => {
                let outcome = self.handle_request(&request, &mut facts).await;
                (outcome, request.request_id, request.payload_version)
            }
            // A misconfigured function answers 500 before it reads anything.
            Err(_) if self.settings.is_err() => (Outcome::Misconfigured, None, Default::default()),
            Err(rejected) => (Outcome::Rejected(rejected), None, Default::default()),
        };
        let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        let detail = match &outcome {
            Outcome::Rejected(e) => Some(e.to_string()),
            Outcome::Unauthorized(e) => Some(e.to_string()),
            Outcome::Invalid(e) => Some(e.to_string()),
            Outcome::Unavailable(e) => Some(e.to_string()),
            Outcome::Ignored(reason) => Some(reason.to_string()),
            _ => None,
        };
        tracing::info!(
            provider = self.provider.as_str(),
            outcome = outcome.name(),
            status = outcome.status_code(),
            conversation_id = facts.conversation_id.as_deref(),
            message_id = facts.message_id.as_deref(),
            request_id = request_id.as_deref(),
            detail = detail.as_deref(),
            duration_ms,
            "request handled"
        );
        let emf = emf_document(
            self.provider.function_name(),
            outcome.name(),
            duration_ms,
            matches!(outcome, Outcome::Invalid(_)),
            matches!(outcome, Outcome::Duplicate { conflict: true, .. }),
            (self.clock)().timestamp_millis(),
        );
        self.metrics.write(&emf.to_string());
        outcome.into_response(version)
    }

    /// Answers a request already read out of its event.
    pub async fn handle_request(&self, request: &Request, facts: &mut Facts) -> Outcome {
        let Ok(settings) = &self.settings else {
            return Outcome::Misconfigured;
        };
        let now = (self.clock)();
        let verified = match settings.verifier.verify(request, now.timestamp()) {
            Ok(verified) => verified,
            Err(unauthorized) => return Outcome::Unauthorized(unauthorized),
        };
        let received_at = format_timestamp(now);
        let deadline = tokio::time::Instant::now() + self.deadline;
        let body = verified.body();

        let inbound = match crate::providers::parse(self.provider, &verified) {
            Ok(inbound) => inbound,
            Err(invalid) => return self.quarantine(body, &received_at, invalid, deadline).await,
        };
        match inbound {
            Inbound::Ignored(reason) => Outcome::Ignored(reason),
            Inbound::ConnectionCheck => Outcome::ConnectionOk,
            Inbound::Message(message) => {
                facts.note(&message.conversation_id, &message.message_id);
                self.store_message(*message, body, &received_at, deadline)
                    .await
            }
            Inbound::Update(update) => {
                facts.note(&update.conversation_id, &update.message_id);
                self.apply_update(*update, body, &received_at, deadline)
                    .await
            }
        }
    }

    /// Runs a storage call, giving up at the request's storage deadline.
    async fn within<T>(
        &self,
        deadline: tokio::time::Instant,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout_at(deadline, call)
            .await
            .unwrap_or(Err(StoreError::Timeout(self.deadline.as_millis())))
    }

    async fn store_message(
        &self,
        mut message: Message,
        body: &[u8],
        received_at: &str,
        deadline: tokio::time::Instant,
    ) -> Outcome {
        // Provider parsing refused any body that is not UTF-8.
        let Ok(raw) = std::str::from_utf8(body) else {
            let invalid = Invalid::body("body is not valid UTF-8, so not JSON");
            return self.quarantine(body, received_at, invalid, deadline).await;
        };
        // What the message says, before delivery details are added to it.
        let content_sha256 = hex::encode(Sha256::digest(
            serde_json::to_vec(&message).expect("a Message always serializes"),
        ));
        let fingerprint = Fingerprint {
            body_sha256: hex::encode(Sha256::digest(body)),
            content_sha256,
        };
        let sort_keys = [message.sort_key(), id_sort_key(&message.message_id)];
        let sort_keys = [sort_keys[0].as_str(), sort_keys[1].as_str()];
        if let Err(invalid) = check_key_sizes(self.provider, &message.conversation_id, &sort_keys) {
            return self.quarantine(body, received_at, invalid, deadline).await;
        }
        message.raw = raw.to_string();
        message.received_at = received_at.to_string();
        let message_id = message.message_id.clone();
        match self
            .within(deadline, self.store.insert(&message, &fingerprint))
            .await
        {
            Ok(Inserted::Stored) => Outcome::Stored { message_id },
            Ok(Inserted::Duplicate { same_content }) => {
                if !same_content {
                    tracing::warn!(
                        provider = self.provider.as_str(),
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
            Ok(Inserted::OrderKeyTaken) => {
                let invalid = Invalid::field(
                    "data.index",
                    format!(
                        "another message already holds order key {}",
                        message.order_key
                    ),
                );
                self.quarantine(body, received_at, invalid, deadline).await
            }
            Err(e) => {
                self.refused_or_unavailable(e, body, received_at, deadline)
                    .await
            }
        }
    }

    /// A table that refuses an item will refuse it on every retry: keep the body and answer
    /// 400. Anything else is passing: 503, so that the provider retries.
    async fn refused_or_unavailable(
        &self,
        error: StoreError,
        body: &[u8],
        received_at: &str,
        deadline: tokio::time::Instant,
    ) -> Outcome {
        match error {
            StoreError::Refused(detail) => {
                let invalid = Invalid::body(format!("the table refused the message: {detail}"));
                self.quarantine(body, received_at, invalid, deadline).await
            }
            other => Outcome::Unavailable(other),
        }
    }

    async fn apply_update(
        &self,
        update: Update,
        body: &[u8],
        received_at: &str,
        deadline: tokio::time::Instant,
    ) -> Outcome {
        let id_key = id_sort_key(&update.message_id);
        if let Err(invalid) = check_key_sizes(self.provider, &update.conversation_id, &[&id_key]) {
            return self.quarantine(body, received_at, invalid, deadline).await;
        }
        let message_id = update.message_id.clone();
        let answer = |result: Result<Updated, StoreError>| match result {
            Ok(Updated::Updated) => Some(Outcome::Updated {
                message_id: message_id.clone(),
            }),
            Ok(Updated::Unchanged) => Some(Outcome::Ignored("no_change")),
            Ok(Updated::NotFound) => None,
            Err(e) => Some(Outcome::Unavailable(e)),
        };
        match self
            .within(deadline, self.store.update(&update, received_at))
            .await
        {
            Err(error @ StoreError::Refused(_)) => {
                return self
                    .refused_or_unavailable(error, body, received_at, deadline)
                    .await
            }
            result => {
                if let Some(outcome) = answer(result) {
                    return outcome;
                }
            }
        }
        let Update { if_unknown, .. } = &update;
        let IfUnknown::StoreAsNew(message) = if_unknown else {
            return Outcome::Ignored("unknown_message");
        };
        match self
            .store_message((**message).clone(), body, received_at, deadline)
            .await
        {
            // A concurrent delivery stored it first: apply the update to that one.
            Outcome::Duplicate { .. } => answer(
                self.within(deadline, self.store.update(&update, received_at))
                    .await,
            )
            .unwrap_or(Outcome::Ignored("unknown_message")),
            other => other,
        }
    }

    /// Keeps an authentic body that cannot be a message, then answers 400 — or 503 when it
    /// could not be kept, so that the provider's retry brings it back.
    async fn quarantine(
        &self,
        body: &[u8],
        received_at: &str,
        invalid: Invalid,
        deadline: tokio::time::Instant,
    ) -> Outcome {
        let item = Quarantined {
            provider: self.provider,
            received_at: received_at.to_string(),
            body_sha256: hex::encode(Sha256::digest(body)),
            raw: body.to_vec(),
            error: invalid.to_string(),
        };
        match self.within(deadline, self.store.quarantine(&item)).await {
            Ok(()) => Outcome::Invalid(invalid),
            Err(e) => Outcome::Unavailable(e),
        }
    }
}
