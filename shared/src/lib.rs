//! Customer messages from TikTok Shop, Partoo and Callbell webhooks, verified, normalized into
//! one message record and stored once per message in DynamoDB, keyed by conversation.
//!
//! A function is one line: `ingest::lambda::run::<ingest::providers::Partoo>()`. The pipeline
//! is generic over the [`providers::Provider`] it serves:
//!
//! - [`request`]: the HTTP request inside an API Gateway or function URL event;
//! - [`providers`]: one module per provider: settings, verification, payloads, mapping;
//! - [`verify`]: what a verified request is, and the primitives the providers' checks share;
//!   [`accounts`]: secret lists, named accounts and allow-lists, read strictly;
//! - [`wire`]: reading provider JSON leniently; [`message`]: the normalized message;
//! - [`webhook`]: what a webhook means, and how updates change a message;
//! - [`storage`]: DynamoDB behind a small trait, and the table's key layout; [`digest`]:
//!   SHA-256 of bodies and requests;
//! - [`response`]: outcomes as HTTP answers; [`handler`]: the pipeline, in order, and the
//!   drain of the spool queue;
//! - [`spool`]: the queue that keeps bodies the table cannot take in time, and its events;
//! - [`config`], [`telemetry`], [`lambda`]: settings, logs and metrics, the runtime glue;
//! - [`media`]: the media function, which copies attachments to S3 from the table's stream;
//! - `testkit` (feature): signing like each provider, sample events, the in-memory store.

pub mod accounts;
pub mod config;
pub mod digest;
pub mod error;
pub mod handler;
pub mod lambda;
pub mod media;
pub mod message;
pub mod providers;
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

pub use config::Settings;
pub use handler::Handler;
pub use message::Message;
pub use providers::{Provider, ProviderId};
