//! Customer messages from TikTok Shop, Partoo and Callbell webhooks, verified, normalized into
//! one message record and stored once per message in DynamoDB, keyed by conversation.
//!
//! A function is one line: `ingest::lambda::run::<ingest::providers::Partoo>()`. The pipeline
//! is generic over the [`providers::Provider`] it serves. The layers, and what each module may
//! use, are docs/ARCHITECTURE.md's:
//!
//! - the model: [`message`] (the normalized message and its order key), [`webhook`] (what a
//!   webhook means, how updates change a message), [`error`];
//! - the primitives: [`request`] (the HTTP request inside an event), [`verify`] (what a
//!   verified request is, and the checks' building blocks), [`wire`] (lenient JSON), `digest`;
//! - [`providers`]: one module per provider: settings, verification, payloads, mapping;
//! - `accounts`: secret lists, named accounts and allow-lists, read strictly;
//! - [`storage`]: DynamoDB behind a small trait, and the table's key layout; [`spool`]: the
//!   queue that keeps bodies the table cannot take in time, and its events;
//! - the pipeline: `handler` ([`WebhookHandler`]: the checks in order, and the drain),
//!   [`response`] (outcomes as HTTP answers);
//! - the functions: [`config`] (read once), [`aws`] (the clients), [`telemetry`], [`lambda`]
//!   (a webhook function's runtime glue), [`media`] (the media function), [`projector`] (the
//!   read side's summaries from the table's stream);
//! - `testkit`, `replay`, `backfill` and `erase` (features): for tests, fuzz targets, benches and
//!   `ingest-dev` only.

mod accounts;
pub mod aws;
#[cfg(feature = "backfill")]
pub mod backfill;
pub mod config;
mod digest;
#[cfg(feature = "erase")]
pub mod erase;
pub mod error;
pub mod events;
mod handler;
pub mod inbox;
pub mod lambda;
pub mod media;
pub mod message;
pub mod projector;
pub mod providers;
pub mod read;
#[cfg(feature = "replay")]
pub mod replay;
pub mod request;
pub mod response;
pub mod spool;
pub mod storage;
pub mod telemetry;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod verify;
pub mod webhook;
pub mod wire;

pub use handler::WebhookHandler;
pub use message::Message;
pub use providers::{Provider, ProviderId, Settings};
