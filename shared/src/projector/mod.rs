//! The projector function: keeps the conversation summaries of the read side (docs/CONTRACT.md,
//! "Our design: the read side") up to date from the table's stream.
//!
//! Its event source mapping admits message items' records only ([`filter::pattern`]: `sk`
//! begins with `MSG#`, inserted, modified or removed). [`handler`] groups a batch's records by
//! conversation and folds each conversation's once ([`DynamoDbStore::project`]): one read of
//! its summary and at most one write, so a burst of one conversation's messages costs one
//! summary update. [`run`] is the function's whole `main`.

pub mod filter;
mod handler;
pub mod settings;

use std::sync::Arc;

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::value::RawValue;

pub use handler::{emf_document, ProjectorHandler, Tally};
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
    let handler = Arc::new(ProjectorHandler::new(settings, client));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Box<RawValue>>| {
        let handler = Arc::clone(&handler);
        async move { handler.handle(event.payload.get().as_bytes()).await }
    }))
    .await
}
