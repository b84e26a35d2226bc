//! The request pipeline, in the order of checks of docs/CONTRACT.md ("HTTP behaviour"):
//! configuration, size and encoding, authentication, meaning, storage — and, when the table
//! cannot take a body in time, the spool queue (row 7). The same pipeline, without the
//! signature check, drains the spool queue's SQS events ("The spool and its drain") and replays
//! bodies for `ingest-dev replay`. Every path ends in an [`Outcome`]; nothing here panics on
//! input or returns an error to the Lambda runtime.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::accounts::AccountName;
use crate::error::{Invalid, Misconfigured, StoreError};
use crate::message::{format_timestamp, Message};
use crate::providers::{Provider, ProviderId, Settings};
use crate::request::{Invocation, Request};
use crate::response::{Answer, BatchResponse, HttpResponse, Outcome};
use crate::spool::event::{read_event, Record, Spooled};
use crate::spool::{Budget, Spool, SpoolMessage, SqsBody, DEFAULT_MAX_RECEIVES};
use crate::storage::keys::{
    check_sizes, conversation_key, id_sort_key, message_sort_key, MessageKeys,
};
use crate::storage::{
    content_sha256, Fingerprint, FirstDelivery, Inserted, MessageStore, Quarantined, Updated,
};
use crate::telemetry::{emf_document, emf_drained, MetricsSink};
use crate::verify::{trust_spooled, verify, Verified};
use crate::webhook::{IfUnknown, Reason, Update, Webhook};

/// A webhook function's pipeline, for one provider: its settings (or why it has none), its
/// store, its spool queue (if configured) and its clock. It answers the provider's HTTP
/// requests and drains the function's spool queue; a function that serves no webhook (the
/// media function, a reader) has a handler of its own.
pub struct WebhookHandler<P: Provider, S> {
    settings: Result<Settings<P>, Misconfigured>,
    store: S,
    clock: fn() -> DateTime<Utc>,
    budget: Budget,
    metrics: MetricsSink,
    spool: Option<Arc<dyn Spool>>,
    /// The spool queue's `maxReceiveCount` (`SPOOL_MAX_RECEIVES`).
    max_receives: u32,
    /// `ingest-dev replay`'s handler: it has no settings, and redelivers without them.
    replaying: bool,
}

/// How a request ended, and which message it was about (for its log line).
#[derive(Debug)]
pub(crate) struct Handled {
    pub(crate) outcome: Outcome,
    pub(crate) message: Option<MessageRef>,
}

/// The conversation and message a request was about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MessageRef {
    pub(crate) conversation_id: String,
    pub(crate) message_id: String,
}

impl From<Outcome> for Handled {
    fn from(outcome: Outcome) -> Self {
        Handled {
            outcome,
            message: None,
        }
    }
}

/// What happens to a drained (or replayed) spool message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Disposition {
    /// Settled — stored, a duplicate, updated, ignored or quarantined: it leaves the queue.
    Done,
    /// Not yet: the table is unavailable, or a status update's message is not stored yet and
    /// this is not its last receive. It stays for a later receive (a batch item failure).
    Retry,
}

/// A drained or replayed body: how it ended, and whether it leaves the queue.
#[derive(Debug)]
pub(crate) struct Drained {
    pub(crate) handled: Handled,
    pub(crate) disposition: Disposition,
}

/// Whether a receive is the last one the queue allows before its dead-letter queue: the
/// receive count has reached `max_receives`. An unknown count is not the last.
pub(crate) fn is_last_receive(receive_count: Option<u32>, max_receives: u32) -> bool {
    receive_count.is_some_and(|n| n >= max_receives)
}

/// The drain's rule: a body leaves the queue unless the table was unavailable, or it is a status
/// update whose message is not stored yet (row 12) before its last receive.
pub(crate) fn disposition(outcome: &Outcome, last_receive: bool) -> Disposition {
    match outcome {
        Outcome::Unavailable(_) | Outcome::Misconfigured => Disposition::Retry,
        Outcome::Ignored(Reason::UnknownMessage) if !last_receive => Disposition::Retry,
        _ => Disposition::Done,
    }
}

/// When a request's storage calls must be done by.
#[derive(Clone, Copy)]
struct Deadline {
    at: tokio::time::Instant,
    budget: Duration,
}

impl Deadline {
    fn after(budget: Duration) -> Self {
        Deadline {
            at: tokio::time::Instant::now() + budget,
            budget,
        }
    }

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
    /// The named account that verified it, kept with it wherever it goes (spool, quarantine).
    account: Option<String>,
}

/// Whether two bodies of one message id say the same (a redelivery in a new envelope: other
/// envelope ids, another signature time) or not (a conflict). Read the way the spool's drain
/// reads a body: both are authentic, and what the account was does not change what they say.
/// Only duplicates with another body come here, so the stored body is read only for them.
fn says_the_same<P: Provider>(stored: &[u8], body: &[u8]) -> bool {
    let content = |body: &[u8]| {
        let request = Request::new(&[], &[], body.to_vec());
        match P::read(&trust_spooled(&request, None)) {
            Ok(Webhook::NewMessage(message)) => {
                Some(content_sha256(&message, message.schema_version))
            }
            _ => None,
        }
    };
    match (content(stored), content(body)) {
        (Some(stored), Some(this)) => stored == this,
        _ => false,
    }
}

impl<P: Provider, S: MessageStore> WebhookHandler<P, S> {
    pub fn new(settings: Result<Settings<P>, Misconfigured>, store: S) -> Self {
        if let Err(why) = &settings {
            tracing::error!(
                provider = P::NAME,
                error = %why,
                "function misconfigured; answering 500 to every request"
            );
        }
        WebhookHandler {
            settings,
            store,
            clock: Utc::now,
            budget: Budget::DEFAULT,
            metrics: MetricsSink::stdout(),
            spool: None,
            max_receives: DEFAULT_MAX_RECEIVES,
            replaying: false,
        }
    }

    /// A handler that only redelivers bodies verified earlier (spooled or quarantined ones), for
    /// `ingest-dev replay`: it has no provider settings, so it answers every webhook 500. No
    /// provider waits for it, so the table gets 10 s a body (an operator's link may be slow).
    #[cfg(feature = "replay")]
    pub(crate) fn replayer(store: S) -> Self {
        WebhookHandler {
            settings: Err(Misconfigured("a replayer verifies nothing".into())),
            store,
            clock: Utc::now,
            budget: Budget {
                total: Duration::from_secs(10),
                table: Duration::from_secs(10),
            },
            metrics: MetricsSink::new(|_| {}),
            spool: None,
            max_receives: DEFAULT_MAX_RECEIVES,
            replaying: true,
        }
    }

    /// Gives the handler its spool queue (row 7): a body the table cannot take in time goes
    /// there, and the answer is `{"status":"accepted"}`.
    pub fn with_spool(mut self, spool: Arc<dyn Spool>) -> Self {
        self.spool = Some(spool);
        self
    }

    /// The spool queue's `maxReceiveCount` (`SPOOL_MAX_RECEIVES`).
    pub fn with_max_receives(mut self, max_receives: u32) -> Self {
        self.max_receives = max_receives;
        self
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

    /// Replaces the time budget of storage (the table's share and the queue's).
    pub fn with_budget(mut self, budget: Budget) -> Self {
        self.budget = budget;
        self
    }

    pub fn budget(&self) -> Budget {
        self.budget
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Answers one raw Lambda event: an HTTP request (API Gateway, a function URL) or a batch
    /// from the spool queue (`{"Records": [...]}`).
    pub async fn handle_invocation(&self, event: &[u8]) -> Answer {
        let started = Instant::now();
        let read = match Request::read_invocation(event) {
            Ok(Invocation::Records) => return Answer::Batch(self.handle_sqs_event(event).await),
            Ok(Invocation::Http(request)) => Ok(request),
            Err(rejected) => Err(rejected),
        };
        Answer::Http(self.handle_read_event(read, started).await)
    }

    /// Answers one raw HTTP event (the JSON API Gateway or a function URL sends), and writes
    /// the request's one summary log line and its metrics.
    pub async fn handle_event(&self, event: &[u8]) -> HttpResponse {
        let started = Instant::now();
        self.handle_read_event(Request::from_event(event), started)
            .await
    }

    /// Answers an HTTP event as read; `started` is when it arrived (for its duration).
    async fn handle_read_event(
        &self,
        read: Result<Request, crate::error::Rejected>,
        started: Instant,
    ) -> HttpResponse {
        let (handled, request_id, version) = match read {
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

    /// Why, for a log line: the outcome's detail, or for a misconfigured function which
    /// setting is wrong (never a value: [`Misconfigured`] never holds one).
    fn detail(&self, outcome: &Outcome) -> Option<String> {
        match (outcome, &self.settings) {
            (Outcome::Misconfigured, Err(why)) => Some(why.to_string()),
            _ => outcome.detail(),
        }
    }

    /// The request's summary log line and metrics document.
    fn report(&self, handled: &Handled, request_id: Option<&str>, duration_ms: f64) {
        let outcome = &handled.outcome;
        tracing::info!(
            provider = P::NAME,
            outcome = outcome.name().as_str(),
            status = outcome.status_code(),
            account_id = outcome.refused_account(),
            conversation_id = handled.message.as_ref().map(|m| m.conversation_id.as_str()),
            message_id = handled.message.as_ref().map(|m| m.message_id.as_str()),
            request_id,
            detail = self.detail(outcome).as_deref(),
            duration_ms,
            "request handled"
        );
        let emf = emf_document(
            P::FUNCTION,
            outcome.name(),
            duration_ms,
            outcome.quarantined(),
            matches!(outcome, Outcome::Duplicate { conflict: true, .. }),
            matches!(outcome, Outcome::Forbidden { .. }),
            (self.clock)().timestamp_millis(),
        );
        self.metrics.write(&emf);
    }

    /// Drains a batch from the spool queue: each record concurrently through [`WebhookHandler::drain`],
    /// answering the records to receive again. An event whose records cannot be read, or a
    /// failing record without a message id, fails the whole batch (nothing is lost: the queue
    /// keeps every record, and its dead-letter queue takes them after the last receive).
    pub(crate) async fn handle_sqs_event(&self, event: &[u8]) -> BatchResponse {
        let records = match read_event(event) {
            Ok(records) => records,
            Err(why) => {
                tracing::error!(provider = P::NAME, error = %why, "unreadable SQS event; every record will be received again");
                return BatchResponse::whole_batch();
            }
        };
        let drained =
            futures_util::future::join_all(records.iter().map(|record| self.drain(record))).await;
        let mut failed = Vec::new();
        for (record, drained) in records.iter().zip(drained) {
            if drained.disposition == Disposition::Retry {
                match &record.message_id {
                    Some(id) => failed.push(id.clone()),
                    None => return BatchResponse::whole_batch(),
                }
            }
        }
        BatchResponse::failing(failed)
    }

    /// One record of the spool queue, with its summary log line and metrics.
    pub(crate) async fn drain(&self, record: &Record) -> Drained {
        let last = is_last_receive(record.receive_count, self.max_receives);
        self.drain_as(record, last).await
    }

    /// [`WebhookHandler::drain`], with the caller deciding whether this is the record's last receive
    /// (replay: see [`crate::replay`]).
    pub(crate) async fn drain_as(&self, record: &Record, last: bool) -> Drained {
        let started = Instant::now();
        let drained = match &record.content {
            Ok(spooled) => self.redeliver(spooled, last).await,
            Err(malformed) => {
                let provider = malformed
                    .provider
                    .as_deref()
                    .and_then(ProviderId::named)
                    .unwrap_or(P::ID);
                let received_at = malformed
                    .received_at
                    .clone()
                    .filter(|at| chrono::DateTime::parse_from_rfc3339(at).is_ok());
                let invalid = Invalid::body(format!("unusable spool message: {}", malformed.error));
                self.keep_unusable(provider, &malformed.raw, received_at, invalid)
                    .await
            }
        };
        let outcome = &drained.handled.outcome;
        let retry = drained.disposition == Disposition::Retry;
        tracing::info!(
            provider = P::NAME,
            source = "spool",
            outcome = outcome.name().as_str(),
            retry,
            sqs_message_id = record.message_id.as_deref(),
            receive_count = record.receive_count,
            account_id = outcome.refused_account(),
            conversation_id = drained
                .handled
                .message
                .as_ref()
                .map(|m| m.conversation_id.as_str()),
            message_id = drained
                .handled
                .message
                .as_ref()
                .map(|m| m.message_id.as_str()),
            detail = self.detail(outcome).as_deref(),
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            "spooled message handled"
        );
        let emf = emf_drained(
            P::FUNCTION,
            outcome.name(),
            retry,
            outcome.quarantined(),
            matches!(outcome, Outcome::Forbidden { .. }),
            (self.clock)().timestamp_millis(),
        );
        self.metrics.write(&emf);
        drained
    }

    /// Runs a body verified earlier — spooled by a webhook, or kept in quarantine — through the
    /// same reading and storage as a webhook, with its original `received_at`, the table
    /// getting the whole budget (nothing is spooled again). `last_receive` decides a status
    /// update whose message is not stored (see [`disposition`]). A body spooled for another
    /// provider is quarantined under that provider, where its replay reads it right. (A body
    /// spooled for a provider that is not registered is no [`Spooled`] body: the drain keeps it
    /// as unusable.)
    pub(crate) async fn redeliver(&self, spooled: &Spooled, last_receive: bool) -> Drained {
        let delivery = Delivery {
            body: spooled.body(),
            received_at: spooled.received_at().to_string(),
            deadline: Deadline::after(self.budget.table_share(false)),
            account: spooled.account().map(str::to_string),
        };
        // An account name the functions wrote; anything else is no account at all.
        let account = spooled.account().and_then(AccountName::parse);
        let handled = if self.settings.is_err() && !self.replaying {
            // Its allow-list is part of what it cannot read: nothing is stored unjudged.
            Outcome::Misconfigured.into()
        } else if spooled.provider() == P::ID {
            let request = Request::new(&[], &[], spooled.body().to_vec());
            self.process(&trust_spooled(&request, account), &delivery)
                .await
        } else {
            let other = spooled.provider();
            let invalid = Invalid::body(format!(
                "unusable spool message: spooled for provider {other}, drained by {}'s function",
                P::NAME
            ));
            self.quarantine_as(other, &delivery, invalid).await.into()
        };
        Drained {
            disposition: disposition(&handled.outcome, last_receive),
            handled,
        }
    }

    /// Quarantines what a malformed spool record carried.
    async fn keep_unusable(
        &self,
        provider: ProviderId,
        raw: &[u8],
        received_at: Option<String>,
        invalid: Invalid,
    ) -> Drained {
        let delivery = Delivery {
            body: raw,
            received_at: received_at.unwrap_or_else(|| format_timestamp((self.clock)())),
            deadline: Deadline::after(self.budget.table_share(false)),
            account: None,
        };
        let handled: Handled = self
            .quarantine_as(provider, &delivery, invalid)
            .await
            .into();
        Drained {
            disposition: disposition(&handled.outcome, true),
            handled,
        }
    }

    /// Answers a request already read out of its event.
    pub(crate) async fn handle_request(&self, request: &Request) -> Handled {
        let Ok(settings) = &self.settings else {
            return Outcome::Misconfigured.into();
        };
        let now = (self.clock)();
        let verified = match verify(&settings.verifier, request, now.timestamp()) {
            Ok(verified) => verified,
            Err(unauthorized) => return Outcome::Unauthorized(unauthorized).into(),
        };
        let started = tokio::time::Instant::now();
        let delivery = Delivery {
            body: verified.body(),
            received_at: format_timestamp(now),
            deadline: Deadline::after(self.budget.table_share(self.spool.is_some())),
            account: verified.account().map(|a| a.to_string()),
        };
        let mut handled = self.process(&verified, &delivery).await;
        handled.outcome = match (handled.outcome, &self.spool) {
            // A refused item stays a 400/quarantine (or, should even that be refused, a 503).
            (Outcome::Unavailable(cause), Some(spool)) if !cause.is_permanent() => {
                let deadline = started + self.budget.total;
                self.spool(&**spool, &delivery, cause, deadline).await
            }
            (outcome, _) => outcome,
        };
        handled
    }

    /// Row 7: hands the body to the spool queue, answering `accepted` once it took it, and 503
    /// (row 7b) when it did not by `deadline`.
    async fn spool(
        &self,
        spool: &dyn Spool,
        delivery: &Delivery<'_>,
        cause: StoreError,
        deadline: tokio::time::Instant,
    ) -> Outcome {
        let failed = |why: String| {
            Outcome::Unavailable(StoreError::Unavailable(format!(
                "{cause}; and the spool queue: {why}"
            )))
        };
        let body = match SqsBody::of(delivery.body) {
            Ok(body) => body,
            Err(e) => return failed(e.to_string()),
        };
        let message = SpoolMessage {
            provider: P::ID,
            received_at: delivery.received_at.clone(),
            body,
            account: delivery.account.clone(),
        };
        match tokio::time::timeout_at(deadline, spool.send(&message)).await {
            Ok(Ok(())) => Outcome::Spooled(cause),
            Ok(Err(e)) => failed(e.to_string()),
            Err(_) => failed("did not answer in time".into()),
        }
    }

    /// Reads an authentic body and stores what it means — unless it is of an account the
    /// allow-list leaves out (row 5b): then nothing is stored, not even in quarantine.
    async fn process(&self, verified: &Verified<'_>, delivery: &Delivery<'_>) -> Handled {
        let webhook = match P::read(verified) {
            Ok(webhook) => webhook,
            Err(invalid) => {
                // A body whose account can be read and is foreign does not fill the quarantine.
                if let Some(account) = P::account_of(delivery.body) {
                    if !self.serves(Some(&account)) {
                        return Outcome::Forbidden {
                            account: Some(account),
                        }
                        .into();
                    }
                }
                return self.quarantine(delivery, invalid).await.into();
            }
        };
        let account = match &webhook {
            Webhook::NewMessage(message) => Some(&message.account_id),
            Webhook::Update(update) => Some(&update.account_id),
            _ => None,
        };
        if let Some(account) = account {
            if !self.serves(account.as_deref()) {
                return Outcome::Forbidden {
                    account: account.clone(),
                }
                .into();
            }
        }
        match webhook {
            Webhook::Ignored(reason) => Outcome::Ignored(reason).into(),
            Webhook::ConnectionCheck => Outcome::ConnectionOk.into(),
            Webhook::Unenveloped => self.keep_unenveloped(delivery).await.into(),
            Webhook::NewMessage(message) => Handled {
                message: Some(MessageRef::of(
                    &message.conversation_id,
                    &message.message_id,
                )),
                outcome: self.store_message(*message, delivery).await,
            },
            Webhook::Update(update) => Handled {
                message: Some(MessageRef::of(&update.conversation_id, &update.message_id)),
                outcome: self.apply_update(*update, delivery).await,
            },
        }
    }

    async fn store_message(&self, mut message: Message, delivery: &Delivery<'_>) -> Outcome {
        // Providers read bodies with wire::parse_body, which refuses any that is not UTF-8.
        let Ok(raw) = std::str::from_utf8(delivery.body) else {
            let invalid = Invalid::body("body is not valid UTF-8, so not JSON");
            return self.quarantine(delivery, invalid).await;
        };
        let fingerprint = Fingerprint::of(delivery.body);
        message.raw = raw.to_string();
        message.received_at = delivery.received_at.clone();
        let with_id_item = P::updates_find_by_id(&message);
        let mut inserted = self
            .insert(&message, &fingerprint, with_id_item, delivery)
            .await;
        if let Ok(Inserted::OrderKeyTaken) = inserted {
            // Another message holds its place (one TikTok index for two messages): it goes
            // right after that one, and is deduplicated and updated like any other.
            message.order_key = message.order_key.beside(&message.message_id);
            inserted = self
                .insert(&message, &fingerprint, with_id_item, delivery)
                .await;
        }
        let message_id = message.message_id.clone();
        match inserted {
            Ok(Inserted::Stored) => Outcome::Stored { message_id },
            Ok(Inserted::Duplicate { first }) => {
                let same_content = match first {
                    FirstDelivery::Same => true,
                    FirstDelivery::Different => false,
                    FirstDelivery::OtherBody(stored) => says_the_same::<P>(&stored, delivery.body),
                };
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

    /// Writes the message (and its id item, when it needs one), if their keys fit in the table.
    async fn insert(
        &self,
        message: &Message,
        fingerprint: &Fingerprint,
        with_id_item: bool,
        delivery: &Delivery<'_>,
    ) -> Result<Inserted, StoreError> {
        MessageKeys::of(message)
            .check_sizes()
            .map_err(StoreError::Invalid)?;
        delivery
            .deadline
            .within(self.store.insert(message, fingerprint, with_id_item))
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
        let sort_key = match &update.order_key {
            Some(order_key) => message_sort_key(order_key),
            None => id_sort_key(&update.message_id),
        };
        if let Err(invalid) = check_sizes(&pk, &[&sort_key]) {
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
            return Outcome::Ignored(Reason::UnknownMessage);
        };
        match self.store_message((**message).clone(), delivery).await {
            // A concurrent delivery stored it first: apply the update to that one.
            Outcome::Duplicate { .. } => match self.update_stored(update, delivery).await {
                Err(error) => self.refused_or_unavailable(error, delivery).await,
                Ok(Updated::NotFound) => Outcome::Ignored(Reason::UnknownMessage),
                Ok(updated) => update_outcome(update, updated),
            },
            other => other,
        }
    }

    /// Whether the function serves messages of `account`: always, unless its allow-list is
    /// set and leaves it out (a message naming no account is then not served).
    fn serves(&self, account: Option<&str>) -> bool {
        match &self.settings {
            Ok(Settings {
                allow_list: Some(list),
                ..
            }) => list.allows(account),
            _ => true,
        }
    }

    /// Row 5 (3): an authentic object without an event envelope is answered as a connection
    /// check, and kept in quarantine (it may be a message that lost its envelope on the way),
    /// with a warning. Should the table not take it, it is row 7 like any quarantine write.
    async fn keep_unenveloped(&self, delivery: &Delivery<'_>) -> Outcome {
        tracing::warn!(
            provider = P::NAME,
            body_bytes = delivery.body.len(),
            "a JSON object without `event`: answered as a connection check and kept in quarantine, \
             in case it is a message without its envelope (an integration routed elsewhere?)"
        );
        let invalid = Invalid::body(
            "no `event`: not an event envelope; kept in case it is a message without its envelope",
        );
        match self.quarantine(delivery, invalid).await {
            Outcome::Quarantined(kept) => Outcome::KeptUnenveloped(kept),
            other => other,
        }
    }

    /// Keeps an authentic body that cannot be a message, then answers 400 — or 503 when it
    /// could not be kept, so that the provider's retry brings it back.
    async fn quarantine(&self, delivery: &Delivery<'_>, invalid: Invalid) -> Outcome {
        self.quarantine_as(P::ID, delivery, invalid).await
    }

    async fn quarantine_as(
        &self,
        provider: ProviderId,
        delivery: &Delivery<'_>,
        invalid: Invalid,
    ) -> Outcome {
        let item = Quarantined {
            provider,
            received_at: delivery.received_at.clone(),
            body_sha256: crate::digest::sha256_hex(delivery.body),
            raw: delivery.body.to_vec(),
            error: invalid.to_string(),
            account: delivery.account.clone(),
        };
        match delivery.deadline.within(self.store.quarantine(&item)).await {
            Ok(()) => Outcome::Quarantined(invalid),
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

/// The answer to an update that found its message.
fn update_outcome(update: &Update, updated: Updated) -> Outcome {
    match updated {
        Updated::Updated => Outcome::Updated {
            message_id: update.message_id.clone(),
        },
        Updated::Unchanged => Outcome::Ignored(Reason::NoChange),
        Updated::NotFound => Outcome::Ignored(Reason::UnknownMessage),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::storage::{Item, MemoryStore};
    use crate::webhook::StatusOrder;

    /// A table on which another delivery of the same message wins the race, and which then
    /// refuses the update for good: the update's first attempt does not find the message, the
    /// insert of the message it carries finds it stored (a duplicate), and the follow-up update
    /// is refused (as DynamoDB refuses an item with a ValidationException).
    struct RacedThenRefused {
        table: MemoryStore,
        updates: AtomicUsize,
    }

    impl MessageStore for RacedThenRefused {
        async fn insert(
            &self,
            message: &Message,
            fingerprint: &Fingerprint,
            with_id_item: bool,
        ) -> Result<Inserted, StoreError> {
            self.table.insert(message, fingerprint, with_id_item).await
        }

        async fn update(
            &self,
            _update: &Update,
            _order: &StatusOrder,
            _now: &str,
        ) -> Result<Updated, StoreError> {
            match self.updates.fetch_add(1, Ordering::SeqCst) {
                0 => Ok(Updated::NotFound),
                _ => Err(StoreError::Refused(
                    "an attribute value the table does not take".into(),
                )),
            }
        }

        async fn quarantine(&self, item: &Quarantined) -> Result<(), StoreError> {
            self.table.quarantine(item).await
        }
    }

    #[tokio::test]
    async fn a_refused_update_of_a_message_stored_meanwhile_is_quarantined() {
        use crate::providers::Partoo;
        use crate::testkit::events::{signed_event, Format};
        use crate::testkit::{body_of, handler};

        let store = Arc::new(RacedThenRefused {
            table: MemoryStore::new(),
            updates: AtomicUsize::new(0),
        });
        let handler = handler::<Partoo, _>(Arc::clone(&store), "t");
        let samples = ProviderId::Partoo.samples();
        let webhook = |body: &[u8]| signed_event(Format::HttpApiV2, ProviderId::Partoo, body);

        let created = body_of(&samples.message("7", 1, "hi"));
        let stored = handler.handle_event(&webhook(&created)).await;
        assert_eq!(stored.status_code, 200, "{}", stored.body);

        let update = body_of(&samples.status_update("7", 1, "hi").expect("Partoo updates"));
        let answer = handler.handle_event(&webhook(&update)).await;
        // As when the first attempt of the update is refused: 400, and the body kept.
        assert_eq!(answer.status_code, 400, "{}", answer.body);
        assert!(
            answer.body.contains("the table refused the message"),
            "{}",
            answer.body
        );
        let quarantined: Vec<Item> = store
            .table
            .items()
            .into_iter()
            .filter(|((pk, _), _)| pk == "QUARANTINE#partoo")
            .map(|(_, item)| item)
            .collect();
        assert_eq!(quarantined.len(), 1, "one quarantine item");
        assert_eq!(
            quarantined[0]["raw"].as_b().map(|b| b.as_ref()),
            Ok(update.as_slice()),
            "it holds the update's exact body"
        );
    }

    #[test]
    fn the_last_receive_is_the_one_that_reaches_max_receives() {
        assert!(!is_last_receive(Some(1), 5));
        assert!(!is_last_receive(Some(4), 5));
        assert!(is_last_receive(Some(5), 5));
        // Past it (a dead-letter queue's copy keeps counting) is last too.
        assert!(is_last_receive(Some(7), 5));
        assert!(is_last_receive(Some(1), 1));
        // Without a count, the queue's own limit decides: never ignore early.
        assert!(!is_last_receive(None, 5));
    }

    #[test]
    fn only_an_unavailable_table_or_an_early_unknown_status_stays_in_the_queue() {
        let retry = |outcome: &Outcome, last| disposition(outcome, last) == Disposition::Retry;
        let unknown = Outcome::Ignored(Reason::UnknownMessage);
        assert!(retry(&unknown, false));
        assert!(
            !retry(&unknown, true),
            "ignored as row 12 on its last receive"
        );
        for last in [false, true] {
            assert!(retry(&Outcome::Unavailable(StoreError::Timeout(1)), last));
            assert!(retry(&Outcome::Misconfigured, last));
            for done in [
                Outcome::Stored {
                    message_id: "m".into(),
                },
                Outcome::Duplicate {
                    message_id: "m".into(),
                    conflict: false,
                },
                Outcome::Updated {
                    message_id: "m".into(),
                },
                Outcome::Ignored(Reason::NoChange),
                Outcome::Ignored(Reason::NotAMessageEvent),
                Outcome::ConnectionOk,
                Outcome::KeptUnenveloped(Invalid::body("kept")),
                Outcome::Quarantined(Invalid::body("quarantined")),
            ] {
                assert!(!retry(&done, last), "{done:?}");
            }
        }
    }
}
