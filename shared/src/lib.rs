//! Customer messages from TikTok Shop, Partoo and Callbell webhooks, verified, normalized into
//! one message record and stored once per message in DynamoDB, keyed by conversation.
//!
//! The functions in `functions/` are thin: they call [`telemetry::init`], build [`Settings`]
//! and a [`store::DynamoDbStore`], and [`lambda::serve`] a [`Handler`]. Everything else is here:
//!
//! - [`request`]: the HTTP request inside an API Gateway or function URL event;
//! - [`verify`]: each provider's signature or token, on the raw bytes;
//! - [`providers`]: one module per provider, its payloads and its mapping;
//! - [`message`]: the normalized message; [`inbound`]: what a webhook means;
//! - [`store`]: DynamoDB behind a small trait; [`response`]: outcomes as HTTP answers;
//! - [`handler`]: the pipeline that ties them together in the contract's order.

pub mod config;
pub mod error;
pub mod handler;
pub mod inbound;
pub mod lambda;
pub mod message;
pub mod providers;
pub mod request;
pub mod response;
pub mod store;
pub mod telemetry;
pub mod verify;
pub mod wire;

pub use config::Settings;
pub use handler::Handler;
pub use message::{Message, Provider};
