//! The projector function: keeps the conversation summaries of the read side (docs/CONTRACT.md,
//! "Our design: the read side") up to date from the table's stream.
//!
//! Its event source mapping admits message items' records only ([`filter::pattern`]: `sk`
//! begins with `MSG#`, inserted, modified or removed). [`handler`] groups a batch's records by
//! conversation and folds each conversation's once ([`DynamoDbStore::project`]): one read of
//! its summary and at most one write, so a burst of one conversation's messages costs one
//! summary update. Then it publishes the batch's events on the bus, when `EVENT_BUS_NAME`
//! names one ([`crate::events`]). [`run`] is the function's whole `main`.

pub mod filter;
mod handler;
pub mod settings;

use std::sync::Arc;

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::value::RawValue;

pub use handler::{batch_events, emf_document, ProjectorHandler, Tally};
pub use settings::ProjectorSettings;

#[cfg(doc)]
use crate::storage::DynamoDbStore;

/// The projector, from start to finish: its configuration (the shared part: the table), its
/// DynamoDB client (built once), then invocations until the runtime stops.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    let env = crate::config::Env::process();
    let config = crate::config::FunctionConfig::read(&env);
    crate::telemetry::init(&config.logs);
    let settings = ProjectorSettings::read(&config);
    if let Err(e) = &settings {
        tracing::error!(error = %e, "misconfigured: every batch will fail");
    }
    let client = config.aws.dynamodb_client(config.aws.https_client());
    let events = crate::events::EventsConfig::read(&env);
    let publisher = events.publisher(&config.aws);
    // Once, at start: whether this projector publishes, and where (names, no secrets).
    match &publisher {
        None => tracing::info!("EVENT_BUS_NAME unset: no events are published, summaries only"),
        Some(p) => tracing::info!(
            bus = %p.bus,
            source = %p.source,
            dead_letter_queue = p.dead_letters.is_some(),
            "events are published"
        ),
    }
    let handler = Arc::new(ProjectorHandler::new(settings, client).with_publisher(publisher));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Box<RawValue>>| {
        let handler = Arc::clone(&handler);
        async move { handler.handle(event.payload.get().as_bytes()).await }
    }))
    .await
}
