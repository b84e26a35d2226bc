//! The `inbox` function: the read API over the table (docs/CONTRACT.md, "The read API (3)").
//!
//! - [`route`]: which read a request asks for, checked whole before anything is read;
//! - [`error`]: what can be wrong with it, as HTTP answers;
//! - [`handler`]: one read, from the event to its JSON answer, log line and metrics;
//! - [`settings`]: the table and the media bucket;
//! - [`run`]: the function's whole `main`.

pub mod error;
mod handler;
pub mod route;
pub mod settings;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::value::RawValue;

pub use handler::{InboxHandler, DOWNLOAD_URL_VALIDITY};
pub use settings::InboxSettings;

use crate::response::HttpResponse;
use crate::storage::DynamoDbStore;

/// The inbox, from start to finish: its configuration read once (the shared part and
/// `MEDIA_BUCKET`), logging, the DynamoDB and S3 clients on one HTTPS client (the S3 client
/// only presigns: it sends nothing), then invocations until the runtime stops.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    let env = crate::config::Env::process();
    let config = crate::config::FunctionConfig::read(&env);
    crate::telemetry::init(&config.logs);
    let settings = InboxSettings::read(&config, &env);
    if let Err(e) = &settings {
        tracing::error!(error = %e, "misconfigured: every request will be answered 500");
    }
    let http = config.aws.https_client();
    let table = settings
        .as_ref()
        .map(|s| s.table_name.clone())
        .unwrap_or_default();
    let store = DynamoDbStore::for_function(
        config.aws.dynamodb_client(http.clone()),
        table,
        config.warm_up && settings.is_ok(),
    )
    .await;
    let handler = Arc::new(InboxHandler::new(
        settings,
        store,
        config.aws.s3_client(http),
    ));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Box<RawValue>>| {
        let handler = Arc::clone(&handler);
        async move {
            Ok::<HttpResponse, Infallible>(
                invocation(&handler, event.payload.get().as_bytes()).await,
            )
        }
    }))
    .await
}

/// One invocation's answer as a boxed future from a call never inlined, so that `main` does
/// not lay the whole read (the SDK's futures included) out in one type (see
/// [`crate::lambda`]).
#[inline(never)]
fn invocation<'a>(
    handler: &'a InboxHandler<DynamoDbStore>,
    event: &'a [u8],
) -> Pin<Box<dyn Future<Output = HttpResponse> + Send + 'a>> {
    Box::pin(handler.handle_event(event))
}
