//! The media function: copies of attachments, so that they outlive the providers' links
//! (docs/CONTRACT.md, "The media function").
//!
//! It consumes the table's stream (new images, filtered to message items with attachments by
//! [`filter::pattern`]). For each attachment without `stored`, on a channel `MEDIA_CHANNELS`
//! allows, it fetches the URL by the rules of [`fetch`] and [`address`], streams the body into
//! `MEDIA_BUCKET` under [`keys::object_key`] while hashing it ([`upload`]), and sets that
//! attachment's `stored` with a conditional update of that list element only ([`table`]).
//! [`handler`] runs a batch; [`run`] is the function's whole `main`.

pub mod address;
pub mod fetch;
pub mod filter;
mod handler;
mod keys;
pub mod settings;
mod table;
mod upload;
pub mod url;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::value::RawValue;

pub use handler::MediaHandler;
pub use keys::{conversation_prefix, object_key};
pub use settings::MediaSettings;

/// The media function, from start to finish: its configuration (the shared part and
/// `MEDIA_*`), clients, then invocations until the runtime stops.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    let env = crate::config::Env::process();
    let config = crate::config::FunctionConfig::read(&env);
    crate::telemetry::init(&config.logs);
    let settings = MediaSettings::read(&config, &env);
    match &settings {
        Ok(s) if s.allow_private_networks => tracing::warn!(
            "MEDIA_ALLOW_PRIVATE_NETWORKS is set: media may be fetched from loopback and private \
             addresses and over plain HTTP. This is for local runs and tests only; never deploy it"
        ),
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "misconfigured: every batch will fail"),
    }
    // One HTTP client (connection pools, TLS set-up) for both AWS clients.
    let http = config.aws.https_client();
    let handler = Arc::new(MediaHandler::new(
        settings,
        config.aws.dynamodb_client(http.clone()),
        config.aws.s3_client(http),
    ));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Box<RawValue>>| {
        let handler = Arc::clone(&handler);
        async move {
            let deadline = instant_of(event.context.deadline());
            handler
                .handle(event.payload.get().as_bytes(), deadline)
                .await
        }
    }))
    .await
}

/// The invocation's deadline as a monotonic instant. Lambda always gives one in the future; a
/// local emulator may give none (`cargo lambda watch` sends a deadline already past), and then
/// the invocation gets Lambda's longest timeout, 15 minutes.
fn instant_of(deadline: SystemTime) -> tokio::time::Instant {
    let left = deadline
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    let left = if left.is_zero() {
        Duration::from_secs(900)
    } else {
        left
    };
    tokio::time::Instant::now() + left
}
