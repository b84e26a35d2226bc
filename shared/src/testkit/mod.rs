//! The test kit (feature `testkit`): what the tests, fuzz targets, benches and `ingest-dev`
//! share to act like a provider. One set of secrets — `local.env`'s published development
//! values, compiled in — signing as each provider signs ([`Samples`], implemented in each
//! provider's module), events in every shape a function receives ([`events`]), handlers on any
//! store with a pinned clock, the in-memory store, and the fuzz targets' checks ([`fuzz`]).
//!
//! Never in a function's binary: the functions do not enable the feature.

pub mod events;
pub mod fuzz;
#[cfg(feature = "testkit-stream")]
pub mod stream;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::handler::WebhookHandler;
use crate::providers::{Provider, ProviderId, ProviderVisitor, Settings};
use crate::response::{Answer, HttpResponse};
use crate::spool::{Budget, Spool};
use crate::storage::MessageStore;
use crate::telemetry::MetricsSink;

pub use crate::spool::MemorySpool;
pub use crate::storage::MemoryStore;

/// The pinned clock of tests: 2026-01-01T00:00:00Z.
pub const NOW: i64 = 1_767_225_600;

pub fn pinned_now() -> DateTime<Utc> {
    DateTime::from_timestamp(NOW, 0).expect("NOW is a valid time")
}

/// `local.env` as the repository has it: the local development configuration that
/// `cargo lambda watch`, the scripts, the sample events and the tests all use.
pub const LOCAL_ENV_FILE: &str = include_str!("../../../local.env");

/// The variables of `local.env`: `KEY=value` lines, `#` comments, optional `export `, values
/// optionally quoted.
pub fn local_env() -> &'static BTreeMap<String, String> {
    static VARS: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    VARS.get_or_init(|| parse_env_file(LOCAL_ENV_FILE))
}

/// A `local.env` variable every sample needs; panics naming it when it is missing.
pub fn local(name: &str) -> &'static str {
    local_env()
        .get(name)
        .unwrap_or_else(|| panic!("local.env does not set {name}"))
}

/// The first entry of a `local.env` list setting (the unnamed one the samples sign with).
pub fn local_first(name: &str) -> &'static str {
    local(name)
        .split(',')
        .next()
        .map(str::trim)
        .unwrap_or_default()
}

/// The secret of the entry `<account>=<secret>` of a `local.env` list setting, if it has one.
pub fn local_named(name: &str, account: &str) -> Option<&'static str> {
    local(name).split(',').find_map(|entry| {
        let (name, secret) = entry.trim().split_once('=')?;
        (name.trim() == account).then_some(secret.trim())
    })
}

pub fn parse_env_file(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let l = l.strip_prefix("export ").unwrap_or(l);
            let (k, v) = l.split_once('=')?;
            let v = v.trim();
            let unquoted = ['"', '\'']
                .iter()
                .find_map(|q| v.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)))
                .unwrap_or(v);
            Some((k.trim().to_string(), unquoted.to_string()))
        })
        .collect()
}

/// `P`'s settings from `local.env`, on `table`.
pub fn settings<P: Provider>(table: &str) -> Settings<P> {
    Settings::from_lookup(|name| match name {
        "TABLE_NAME" => Some(table.to_string()),
        _ => local_env().get(name).cloned(),
    })
    .unwrap_or_else(|e| panic!("local.env does not configure {}: {e}", P::NAME))
}

/// `P`'s handler on `store` (named `table`), with the local secrets, the pinned clock and
/// metrics discarded.
pub fn handler<P: Provider, S: MessageStore>(store: S, table: &str) -> WebhookHandler<P, S> {
    WebhookHandler::new(Ok(settings::<P>(table)), store)
        .with_clock(pinned_now)
        .with_metrics(MetricsSink::new(|_| {}))
}

/// Header and query pairs.
pub type Pairs = Vec<(String, String)>;

/// What authenticates a call besides its body: headers and query parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    pub headers: Pairs,
    pub query: Pairs,
}

impl Credentials {
    pub fn header(name: &str, value: impl Into<String>) -> Self {
        Credentials {
            headers: vec![(name.to_string(), value.into())],
            query: Vec::new(),
        }
    }
    pub fn query(name: &str, value: impl Into<String>) -> Self {
        Credentials {
            headers: Vec::new(),
            query: vec![(name.to_string(), value.into())],
        }
    }

    /// The request a function reads out of an event carrying `body` with these credentials.
    pub fn request(&self, body: &[u8]) -> crate::request::Request {
        fn refs(pairs: &Pairs) -> Vec<(&str, &str)> {
            pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect()
        }
        crate::request::Request::new(&refs(&self.headers), &refs(&self.query), body.to_vec())
    }
}

/// A JSON path, as field names from the top.
pub type Path = &'static [&'static str];

/// Where a provider's payload keeps what the generic tests change, and how it behaves where
/// providers differ.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// The top-level field naming the event (`type`, `event`).
    pub event_field: &'static str,
    /// Fields a message cannot do without (a 400 when missing or of the wrong type).
    pub required: &'static [Path],
    /// Optional fields of a message, for wrong-type cases that must still store it.
    pub optional: &'static [Path],
    pub message_id: Path,
    pub conversation_id: Path,
    /// Its text-message sample in `events/bodies/<function>/`, which benches grow.
    pub text_sample: &'static str,
    /// Every kind its mapping gives, each of which a sample in `events/` shows.
    pub kinds: &'static [&'static str],
    /// An empty body, or an object without `event_field`, is a connection check (Callbell).
    pub connection_checks: bool,
    /// An unusable message id falls back to one derived from the message (Callbell).
    pub message_id_optional: bool,
    /// The signature header is a list (`t=…,v1=…`), so repeating it comma-joined still verifies.
    pub signature_header_is_a_list: bool,
}

/// What a request may leave in the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stores {
    Nothing,
    /// One quarantine item holding the exact body.
    Quarantine,
    /// One message item (and its id item, where its provider's updates need one).
    Message,
}

/// A hostile or broken request only one provider can be sent, with the answer it must get.
#[derive(Clone, Debug)]
pub struct HostileCase {
    pub category: &'static str,
    pub name: String,
    pub body: Vec<u8>,
    pub credentials: Credentials,
    pub status: u16,
    pub stores: Stores,
    /// Made without the provider's credentials.
    pub forged: bool,
}

/// A bare signature check of a body, for benches.
pub type Primitive = Box<dyn Fn(&[u8]) -> bool>;

/// How to act like one provider in tests and tools; each provider's module implements it.
pub trait Samples: Sync {
    /// The headers and query of a genuine call carrying `body` at Unix time `now`, signed with
    /// `local.env`'s secrets.
    fn sign(&self, body: &[u8], now: i64) -> Credentials;
    /// Credentials that stay valid whenever a committed sample event is replayed (a Callbell
    /// signature expires after 300 s; its URL token does not).
    fn sign_lasting(&self, body: &[u8]) -> Credentials {
        self.sign(body, NOW)
    }
    /// Lasting credentials of another of `local.env`'s entries than the first — `signer` names
    /// it (a sample's `<name>.signer`: TikTok's `second-app`, a named Callbell account) — or
    /// `None` when the provider has no such entry.
    fn sign_lasting_as(&self, _body: &[u8], _signer: &str) -> Option<Credentials> {
        None
    }
    /// [`Samples::sign`]'s credentials, spoiled: the function must refuse them.
    fn forge(&self, body: &[u8], now: i64) -> Credentials;
    /// The user agent the provider's calls come with, for sample events.
    fn user_agent(&self) -> &'static str;
    /// A new message's body: message `n` of conversation `conversation`, saying `text`, its
    /// time `n` seconds after a fixed start (so that order follows `n`).
    fn message(&self, conversation: &str, n: u64, text: &str) -> Value;
    /// An update of message `n` (as [`Samples::message`] makes it) that changes it for good:
    /// Partoo's `message_updated` reporting it deleted, Callbell's `message_status_updated`
    /// with a later status; `None` for a provider that sends no updates.
    fn status_update(&self, conversation: &str, n: u64, text: &str) -> Option<Value>;
    /// Makes `message` a redelivery (`copy` > 0): what a provider changes in its envelope when
    /// it sends the same message again (notification ids, timestamps).
    fn redeliver(&self, _message: &mut Value, _copy: u32) {}
    /// Sets the text of a message body made by [`Samples::message`] or of its text sample.
    fn set_text(&self, message: &mut Value, text: &str);
    /// The bare signature check of `body` as [`Samples::sign`] signs it: what verification
    /// can be measured against.
    fn primitive(&self, body: &[u8]) -> Primitive;
    /// The primitive's name, and whether it is slow enough to need a longer measurement.
    fn primitive_name(&self) -> (&'static str, bool);
    fn shape(&self) -> &'static Shape;
    /// Cases beyond the shared corpus: this provider's own forgeries and limits. `message`
    /// makes a fresh valid message body each call.
    fn hostile_cases(&self, message: &mut dyn FnMut() -> Value) -> Vec<HostileCase>;
}

impl HostileCase {
    /// `body`, signed as the provider signs it at [`NOW`].
    pub fn signed(
        samples: &dyn Samples,
        category: &'static str,
        name: &str,
        body: Vec<u8>,
        status: u16,
        stores: Stores,
    ) -> Self {
        HostileCase {
            category,
            name: name.to_string(),
            credentials: samples.sign(&body, NOW),
            body,
            status,
            stores,
            forged: false,
        }
    }

    /// `body` with credentials the provider never gave it: 401, nothing stored.
    pub fn forged(name: &str, body: &[u8], credentials: Credentials) -> Self {
        HostileCase {
            category: "signature failures",
            name: name.to_string(),
            credentials,
            body: body.to_vec(),
            status: 401,
            stores: Stores::Nothing,
            forged: true,
        }
    }

    /// [`HostileCase::forged`], counted in `category`.
    pub fn forged_as(
        category: &'static str,
        name: &str,
        body: &[u8],
        credentials: Credentials,
    ) -> Self {
        HostileCase {
            category,
            ..HostileCase::forged(name, body, credentials)
        }
    }

    /// Another provider's kind of payload, authentic but not this one's shape.
    pub fn stranger(samples: &dyn Samples, body: &[u8]) -> Self {
        HostileCase::signed(
            samples,
            "not the provider's shape",
            "another provider's payload",
            body.to_vec(),
            400,
            Stores::Quarantine,
        )
    }
}

/// A named change to a message body.
pub type Change<'a> = (&'a str, &'a dyn Fn(&mut Value));

/// Messages whose content is odd in the ways `changes` make it (each applied to a fresh message
/// of `message`), which must all still be stored: content the code cannot read drops that
/// attribute or leaves the kind `unsupported`, never the message.
pub fn tolerated(
    samples: &dyn Samples,
    message: &mut dyn FnMut() -> Value,
    changes: &[Change],
) -> Vec<HostileCase> {
    changes
        .iter()
        .map(|(name, change)| {
            let mut value = message();
            change(&mut value);
            let body = body_of(&value);
            HostileCase::signed(
                samples,
                "odd schema-2 content",
                name,
                body,
                200,
                Stores::Message,
            )
        })
        .collect()
}

/// A boxed future, for handlers behind `dyn`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Any provider's handler, for tests that walk [`ProviderId::ALL`].
pub trait AnyHandler: Send + Sync {
    fn id(&self) -> ProviderId;
    fn handle_event<'a>(&'a self, event: &'a [u8]) -> BoxFuture<'a, HttpResponse>;
    /// Any invocation, as the Lambda runtime hands it over (an HTTP event or an SQS batch).
    fn invoke<'a>(&'a self, event: &'a [u8]) -> BoxFuture<'a, Answer>;
}

impl<P: Provider, S: MessageStore> AnyHandler for WebhookHandler<P, S> {
    fn id(&self) -> ProviderId {
        ProviderId::of::<P>()
    }
    fn handle_event<'a>(&'a self, event: &'a [u8]) -> BoxFuture<'a, HttpResponse> {
        Box::pin(WebhookHandler::handle_event(self, event))
    }
    fn invoke<'a>(&'a self, event: &'a [u8]) -> BoxFuture<'a, Answer> {
        Box::pin(WebhookHandler::handle_invocation(self, event))
    }
}

impl AnyHandler for Box<dyn AnyHandler> {
    fn id(&self) -> ProviderId {
        (**self).id()
    }
    fn handle_event<'a>(&'a self, event: &'a [u8]) -> BoxFuture<'a, HttpResponse> {
        (**self).handle_event(event)
    }
    fn invoke<'a>(&'a self, event: &'a [u8]) -> BoxFuture<'a, Answer> {
        (**self).invoke(event)
    }
}

/// How a test wants its handler: its store and table, and optionally another budget, a
/// metrics sink or a spool queue.
pub struct HandlerSpec<S> {
    pub store: S,
    pub table: String,
    pub budget: Option<Budget>,
    pub metrics: Option<MetricsSink>,
    pub spool: Option<Arc<dyn Spool>>,
    /// The handler's clock instead of [`pinned_now`] (messages received at other times).
    pub clock: Option<fn() -> DateTime<Utc>>,
}

impl<S> HandlerSpec<S> {
    pub fn new(store: S, table: &str) -> Self {
        HandlerSpec {
            store,
            table: table.to_string(),
            budget: None,
            metrics: None,
            spool: None,
            clock: None,
        }
    }

    /// The same, with a spool queue.
    pub fn with_spool(mut self, spool: Arc<dyn Spool>) -> Self {
        self.spool = Some(spool);
        self
    }
}

impl<S: MessageStore + 'static> ProviderVisitor for HandlerSpec<S> {
    type Output = Box<dyn AnyHandler>;
    fn visit<P: Provider>(self) -> Box<dyn AnyHandler> {
        let mut handler = handler::<P, S>(self.store, &self.table);
        if let Some(budget) = self.budget {
            handler = handler.with_budget(budget);
        }
        if let Some(metrics) = self.metrics {
            handler = handler.with_metrics(metrics);
        }
        if let Some(spool) = self.spool {
            handler = handler.with_spool(spool);
        }
        if let Some(clock) = self.clock {
            handler = handler.with_clock(clock);
        }
        Box::new(handler)
    }
}

/// The handler of provider `id` as `spec` says.
pub fn any_handler<S: MessageStore + 'static>(
    id: ProviderId,
    spec: HandlerSpec<S>,
) -> Box<dyn AnyHandler> {
    id.visit(spec)
}

/// Serializes a JSON value as a compact body.
pub fn body_of(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("a JSON value serializes")
}

/// An SDK attribute value as plain JSON, for reading items in tests and tools: numbers as
/// numbers, sets as lists, binary values as null.
pub fn plain_from_sdk(value: &aws_sdk_dynamodb::types::AttributeValue) -> Value {
    use aws_sdk_dynamodb::types::AttributeValue;
    let number = |text: &str| {
        serde_json::from_str::<serde_json::Number>(text)
            .map(Value::Number)
            .unwrap_or_else(|_| Value::String(text.to_string()))
    };
    match value {
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => number(n),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::M(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), plain_from_sdk(v)))
                .collect(),
        ),
        AttributeValue::L(items) => items.iter().map(plain_from_sdk).collect(),
        AttributeValue::Ss(items) => items.iter().cloned().map(Value::String).collect(),
        AttributeValue::Ns(items) => items.iter().map(|n| number(n)).collect(),
        _ => Value::Null,
    }
}

/// HMAC-SHA256 of `parts` keyed with `key`, as lower-case hex (how TikTok and Callbell sign).
pub fn hmac_hex(key: &[u8], parts: &[&[u8]]) -> String {
    let key = crate::verify::Secret::new(key);
    hex::encode(crate::verify::hmac_sha256(&key, parts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_files_read_like_cargo_lambdas() {
        let vars = parse_env_file("# c\nA=1\nexport B = two \nC=\"x=y\"\nD='q'\n\nnot a line\n");
        assert_eq!(vars.get("A").map(String::as_str), Some("1"));
        assert_eq!(vars.get("B").map(String::as_str), Some("two"));
        assert_eq!(vars.get("C").map(String::as_str), Some("x=y"));
        assert_eq!(vars.get("D").map(String::as_str), Some("q"));
        assert_eq!(vars.len(), 4);
    }

    struct Configured;
    impl ProviderVisitor for Configured {
        type Output = ();
        fn visit<P: Provider>(self) {
            let settings = settings::<P>("t");
            assert_eq!(settings.table_name, "t");
        }
    }

    #[test]
    fn local_env_configures_every_provider() {
        assert_eq!(local("TABLE_NAME"), "messages");
        for id in ProviderId::ALL {
            id.visit(Configured);
        }
    }
}
