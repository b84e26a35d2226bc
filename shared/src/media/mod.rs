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
pub mod handler;
pub mod keys;
pub mod settings;
pub mod table;
pub mod upload;
pub mod url;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::value::RawValue;

pub use handler::{BatchResponse, ItemFailure, MediaHandler};
pub use settings::MediaSettings;

/// The media function, from start to finish: settings, clients, then invocations until the
/// runtime stops.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init();
    let settings = MediaSettings::from_env();
    match &settings {
        Ok(s) if s.allow_private_networks => tracing::warn!(
            "MEDIA_ALLOW_PRIVATE_NETWORKS is set: media may be fetched from loopback and private \
             addresses and over plain HTTP. This is for local runs and tests only; never deploy it"
        ),
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "misconfigured: every batch will fail"),
    }
    let handler = Arc::new(MediaHandler::new(
        settings,
        crate::storage::dynamodb_client(),
        s3_client(),
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

/// The S3 client of the media function, built like [`crate::storage::dynamodb_client`]: the
/// region and credentials Lambda gives, rustls on *ring*, and the standard
/// `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` override (then path-style addressing, which local
/// S3 servers need). Timeouts leave room for an 8 MiB part on a slow link.
pub fn s3_client() -> aws_sdk_s3::Client {
    use aws_config::environment::EnvironmentVariableCredentialsProvider;
    use aws_config::retry::RetryConfig;
    use aws_config::timeout::TimeoutConfig;
    use aws_sdk_s3::config::BehaviorVersion;

    let mut config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(crate::storage::lambda_region())
        .credentials_provider(EnvironmentVariableCredentialsProvider::new())
        .http_client(crate::storage::https_client())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(Duration::from_secs(60))
                .operation_timeout(Duration::from_secs(180))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(3));
    if let Some(url) = crate::storage::endpoint_override("AWS_ENDPOINT_URL_S3") {
        config = config.endpoint_url(url).force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(config.build())
}
