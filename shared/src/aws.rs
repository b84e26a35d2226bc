//! The functions' AWS clients, made one way: one HTTPS client (rustls on *ring*, the AWS roots
//! compiled in), each service's client configured alike from [`AwsConfig`] with only its time
//! limits of its own, and SDK errors in one line of text.
//!
//! The clients take their region from [`AwsConfig`] and their credentials from the variables
//! Lambda sets (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), rather than
//! through aws-config's whole provider chain: profiles, SSO, STS web identity and IMDS are never
//! used in Lambda, and leaving them out takes their code out of the binary
//! (docs/PERFORMANCE.md). TLS is rustls on *ring*, for the same reason. Making a client sends
//! nothing: the first request connects.

use std::path::Path;
use std::time::Duration;

use aws_sdk_dynamodb::config::SharedHttpClient;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::config::AwsConfig;

/// A service's config builder with what every function's client shares: the latest behaviour
/// version, the configured region, the credentials of Lambda's environment, the shared HTTPS
/// client, `$limits`' timeouts and three attempts.
macro_rules! client_config {
    ($sdk:ident, $aws:expr, $http:expr, $limits:expr) => {
        $sdk::Config::builder()
            .behavior_version($sdk::config::BehaviorVersion::latest())
            .region($aws.region.clone().map($sdk::config::Region::new))
            .credentials_provider(
                aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
            )
            .http_client($http)
            .timeout_config($limits.timeout_config())
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
    };
}
pub(crate) use client_config;

/// A client's time limits: connecting, one attempt, the whole operation (its retries included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    pub connect: Duration,
    pub attempt: Duration,
    pub operation: Duration,
}

impl Limits {
    pub fn timeout_config(self) -> aws_config::timeout::TimeoutConfig {
        aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .operation_attempt_timeout(self.attempt)
            .operation_timeout(self.operation)
            .build()
    }
}

/// SQS: short enough for the queue's share of a request's budget.
const SQS_LIMITS: Limits = Limits {
    connect: Duration::from_millis(300),
    attempt: Duration::from_millis(400),
    operation: Duration::from_millis(1500),
};

/// S3 (the media function): room for an 8 MiB part on a slow link.
const S3_LIMITS: Limits = Limits {
    connect: Duration::from_secs(3),
    attempt: Duration::from_secs(60),
    operation: Duration::from_secs(180),
};

impl AwsConfig {
    /// The SDK's hyper client over rustls with the *ring* crypto provider (the SDK's default
    /// HTTPS client brings aws-lc, over a megabyte of code for the same handshake), trusting
    /// [`trusted_roots`] of the configured CA bundle. A function makes one and shares it among
    /// its clients (connection pools, TLS set-up).
    pub fn https_client(&self) -> SharedHttpClient {
        use aws_smithy_http_client::tls::{
            rustls_provider::CryptoMode, Provider, TlsContext, TrustStore,
        };
        let roots = trusted_roots(self.ca_bundle.as_deref());
        let tls = TlsContext::builder()
            .with_trust_store(TrustStore::empty().with_pem_certificate(roots))
            .build()
            .expect("a TLS context of a trust store always builds");
        aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .tls_context(tls)
            .build_https()
    }

    /// A function's SQS client on `http`, with timeouts short enough for the queue's share of
    /// the budget.
    pub fn sqs_client(&self, http: SharedHttpClient) -> aws_sdk_sqs::Client {
        let mut config = client_config!(aws_sdk_sqs, self, http, SQS_LIMITS);
        if let Some(url) = &self.sqs_endpoint {
            config = config.endpoint_url(url);
        }
        aws_sdk_sqs::Client::from_conf(config.build())
    }

    /// The media function's S3 client on `http`; with an endpoint override, path-style
    /// addressing (which local S3 servers need).
    pub fn s3_client(&self, http: SharedHttpClient) -> aws_sdk_s3::Client {
        let mut config = client_config!(aws_sdk_s3, self, http, S3_LIMITS);
        if let Some(url) = &self.s3_endpoint {
            config = config.endpoint_url(url).force_path_style(true);
        }
        aws_sdk_s3::Client::from_conf(config.build())
    }
}

/// EventBridge (the projector's events): PutEvents of up to 10 entries, well within a stream
/// batch's time.
const EVENTBRIDGE_LIMITS: Limits = Limits {
    connect: Duration::from_secs(1),
    attempt: Duration::from_secs(3),
    operation: Duration::from_secs(10),
};

impl AwsConfig {
    /// The projector's EventBridge client on `http`.
    pub fn eventbridge_client(&self, http: SharedHttpClient) -> aws_sdk_eventbridge::Client {
        let mut config = client_config!(aws_sdk_eventbridge, self, http, EVENTBRIDGE_LIMITS);
        if let Some(url) = &self.eventbridge_endpoint {
            config = config.endpoint_url(url);
        }
        aws_sdk_eventbridge::Client::from_conf(config.build())
    }
}

/// An EventBridge client as the projector's, configured from the process environment.
pub fn eventbridge_client() -> aws_sdk_eventbridge::Client {
    let aws = AwsConfig::from_env();
    aws.eventbridge_client(aws.https_client())
}

/// An HTTPS client as a function's, configured from the process environment (tests and tools).
pub fn https_client() -> SharedHttpClient {
    AwsConfig::from_env().https_client()
}

/// A DynamoDB client as a function's, configured from the process environment.
pub fn dynamodb_client() -> aws_sdk_dynamodb::Client {
    let aws = AwsConfig::from_env();
    aws.dynamodb_client(aws.https_client())
}

/// An SQS client as a function's, configured from the process environment.
pub fn sqs_client() -> aws_sdk_sqs::Client {
    let aws = AwsConfig::from_env();
    aws.sqs_client(aws.https_client())
}

/// An S3 client as the media function's, configured from the process environment.
pub fn s3_client() -> aws_sdk_s3::Client {
    let aws = AwsConfig::from_env();
    aws.s3_client(aws.https_client())
}

/// The roots AWS endpoints chain to (Amazon Trust Services and the Starfield root that
/// cross-signs them), compiled in: parsing five certificates at a cold start instead of the
/// system's bundle of ~140 took most of init's instructions (docs/PERFORMANCE.md). Pinned to
/// roots valid until 2037–2040; `AWS_CA_BUNDLE` replaces them where endpoints chain elsewhere.
const AWS_ROOTS: &[u8] = include_bytes!("aws-roots.pem");

/// The PEM roots to trust: the bundle `AWS_CA_BUNDLE` names (for an endpoint behind a TLS
/// proxy, a local one in tests and benches, or a partition whose endpoints use other roots),
/// else the compiled-in AWS roots. A bundle that cannot be read, or holds no certificate
/// rustls accepts, is logged and the AWS roots are used: the function keeps running.
pub(crate) fn trusted_roots(bundle: Option<&Path>) -> Vec<u8> {
    let Some(path) = bundle.filter(|p| !p.as_os_str().is_empty()) else {
        return AWS_ROOTS.to_vec();
    };
    let checked = std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|pem| check_roots(&pem).map(|()| pem));
    checked.unwrap_or_else(|why| {
        tracing::error!(bundle = %path.display(), error = %why, "AWS_CA_BUNDLE unusable; trusting the AWS roots");
        AWS_ROOTS.to_vec()
    })
}

/// Every certificate of a PEM bundle is one rustls can take as a root (the HTTPS client would
/// otherwise panic on it), and there is at least one.
fn check_roots(pem: &[u8]) -> Result<(), String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not PEM certificates: {e:?}"))?;
    if certificates.is_empty() {
        return Err("no certificate in the bundle".into());
    }
    let mut store = rustls::RootCertStore::empty();
    for certificate in certificates {
        store
            .add(certificate)
            .map_err(|e| format!("a certificate rustls refuses as a root: {e}"))?;
    }
    Ok(())
}

/// A failed call's error as `<call>: <error_text>` (`S3 PutObject: timed out`), for `map_err`.
pub(crate) fn failed<E, R>(
    call: impl std::fmt::Display,
    unreached: &'static str,
) -> impl FnOnce(SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    move |error| format!("{call}: {}", error_text(&error, unreached))
}

/// A failed SDK call in one line, for logs and error messages: the service's error code and
/// message; `timed out`; `timed out connecting`; `could not reach <unreached>` (the table, S3,
/// …); or else the error with its chain of causes (the SDK's `Display` alone says only "service
/// error" or "dispatch failure").
pub fn error_text<E, R>(error: &SdkError<E, R>, unreached: &str) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match error {
        SdkError::ServiceError(service) => {
            let e = service.err();
            format!(
                "{}: {}",
                e.code().unwrap_or("service error"),
                e.message().unwrap_or("")
            )
        }
        SdkError::TimeoutError(_) => "timed out".to_string(),
        SdkError::DispatchFailure(d) if d.is_timeout() => "timed out connecting".to_string(),
        SdkError::DispatchFailure(_) => format!("could not reach {unreached}"),
        other => DisplayErrorContext(other).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_in_roots_are_five_good_certificates() {
        assert!(check_roots(AWS_ROOTS).is_ok());
        assert_eq!(
            String::from_utf8_lossy(AWS_ROOTS)
                .matches("BEGIN CERTIFICATE")
                .count(),
            5
        );
        assert_eq!(trusted_roots(None), AWS_ROOTS);
        assert_eq!(trusted_roots(Some(Path::new(""))), AWS_ROOTS);
    }

    #[test]
    fn an_unusable_bundle_falls_back_to_the_aws_roots() {
        let dir = std::env::temp_dir().join(format!("ingest-roots-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let garbage = dir.join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "# nothing here\n").unwrap();
        let good = dir.join("good.pem");
        let one = String::from_utf8_lossy(AWS_ROOTS);
        let first = &one
            [one.find("-----BEGIN").unwrap()..one.find("-----END CERTIFICATE-----").unwrap() + 25];
        std::fs::write(&good, first).unwrap();
        for bad in [&garbage, &empty, &dir.join("missing.pem")] {
            assert_eq!(
                trusted_roots(Some(bad.as_path())),
                AWS_ROOTS,
                "{}",
                bad.display()
            );
        }
        assert_eq!(trusted_roots(Some(good.as_path())), first.as_bytes());
        // A client on either builds (the TLS provider panics on roots it cannot take).
        let _ = AwsConfig::default().https_client();
        let _ = AwsConfig {
            ca_bundle: Some(good.clone()),
            ..AwsConfig::default()
        }
        .https_client();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
