//! The DynamoDB client the functions use.

use std::time::Duration;

use aws_sdk_dynamodb::Client;

/// A DynamoDB client for the functions, with timeouts short enough that a slow table still gets
/// a 503 answered well inside a provider's 3 s.
///
/// It is configured from the environment Lambda gives every function (`AWS_REGION`, the
/// credentials in `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) plus the
/// SDK's standard `AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL` overrides, rather than through
/// aws-config's whole provider chain: profiles, SSO, STS web identity and IMDS are never used
/// in Lambda, and leaving them out takes their code out of the binary (docs/PERFORMANCE.md).
/// TLS is rustls on *ring*, for the same reason.
pub fn dynamodb_client() -> Client {
    dynamodb_client_on(https_client())
}

/// [`dynamodb_client`] on a given HTTP client (a function shares one with its SQS client).
pub fn dynamodb_client_on(http: aws_sdk_dynamodb::config::SharedHttpClient) -> Client {
    use aws_config::environment::EnvironmentVariableCredentialsProvider;
    use aws_config::retry::RetryConfig;
    use aws_config::timeout::TimeoutConfig;
    use aws_sdk_dynamodb::config::{BehaviorVersion, Region};

    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let mut config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(
            env("AWS_REGION")
                .or_else(|| env("AWS_DEFAULT_REGION"))
                .map(Region::new),
        )
        .credentials_provider(EnvironmentVariableCredentialsProvider::new())
        .http_client(http)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(500))
                .operation_attempt_timeout(Duration::from_millis(700))
                .operation_timeout(Duration::from_millis(1500))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(3));
    if let Some(url) = env("AWS_ENDPOINT_URL_DYNAMODB").or_else(|| env("AWS_ENDPOINT_URL")) {
        config = config.endpoint_url(url);
    }
    Client::from_conf(config.build())
}

/// The SDK's hyper client over rustls with the *ring* crypto provider (the SDK's default HTTPS
/// client brings aws-lc, over a megabyte of code for the same handshake).
pub fn https_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// `DYNAMODB_WARM_UP`: whether a function readies its DynamoDB client during init. Off unless
/// `true`: measured, the warm-up's extra round trip costs a cold start more than the first
/// message saves (docs/PERFORMANCE.md). It pays where init is off the request path
/// (provisioned concurrency).
pub fn warm_up_enabled(value: Option<&str>) -> bool {
    matches!(
        value.map(|v| v.trim().to_ascii_lowercase()).as_deref(),
        Some("true" | "1" | "yes" | "on")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warm_up_is_off_unless_switched_on() {
        for on in ["true", "TRUE", " 1 ", "yes", "on"] {
            assert!(warm_up_enabled(Some(on)), "{on:?}");
        }
        for off in [
            None,
            Some(""),
            Some("false"),
            Some("0"),
            Some("no"),
            Some("treu"),
        ] {
            assert!(!warm_up_enabled(off), "{off:?}");
        }
    }
}
