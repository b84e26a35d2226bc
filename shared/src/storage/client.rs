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

    let mut config = config_on(http, crate::digest::sha256_hex)
        .region(lambda_region())
        .credentials_provider(EnvironmentVariableCredentialsProvider::new());
    if let Some(url) = endpoint_override("AWS_ENDPOINT_URL_DYNAMODB") {
        config = config.endpoint_url(url);
    }
    Client::from_conf(config.build())
}

/// The region of a function's AWS clients, from the variables Lambda sets (no profiles, no
/// instance metadata: that keeps the SDK's provider chain out of the binary).
pub(crate) fn lambda_region() -> Option<aws_sdk_dynamodb::config::Region> {
    non_empty_env("AWS_REGION")
        .or_else(|| non_empty_env("AWS_DEFAULT_REGION"))
        .map(aws_sdk_dynamodb::config::Region::new)
}

/// The SDK's standard endpoint override: the service's own variable, else `AWS_ENDPOINT_URL`.
pub(crate) fn endpoint_override(service_variable: &str) -> Option<String> {
    non_empty_env(service_variable).or_else(|| non_empty_env("AWS_ENDPOINT_URL"))
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The client's settings apart from where it finds its region, credentials and endpoint;
/// `payload_hash` is [`crate::digest::sha256_hex`] but in a test of its effect.
fn config_on(
    http: aws_sdk_dynamodb::config::SharedHttpClient,
    payload_hash: fn(&[u8]) -> String,
) -> aws_sdk_dynamodb::config::Builder {
    use aws_config::retry::RetryConfig;
    use aws_config::timeout::TimeoutConfig;
    use aws_sdk_dynamodb::config::{BehaviorVersion, StalledStreamProtectionConfig};

    aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(http)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(500))
                .operation_attempt_timeout(Duration::from_millis(700))
                .operation_timeout(Duration::from_millis(1500))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        // Stall detection watches throughput over seconds, for large bodies; requests and
        // answers here are a few KiB, and the attempt timeout above already ends a stalled one.
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .interceptor(PayloadSha256 { hash: payload_hash })
}

/// Hands SigV4 the SHA-256 of each request body, taken with [`crate::digest`], through the
/// SDK's documented override for a precomputed payload hash. The body carries the message item
/// and its `raw` (KiBs): its hash was a third of SigV4's instructions and an eighth of a warm
/// invocation's, on CPUs without SHA extensions (docs/PERFORMANCE.md). The rest of signing — the
/// canonical request, the signing key (derived again for every call), the signature — is the
/// SDK's, unchanged.
#[derive(Debug)]
struct PayloadSha256 {
    /// Lower-case hex SHA-256 (a parameter so that a test can hand SigV4 a wrong one).
    hash: fn(&[u8]) -> String,
}

impl aws_sdk_dynamodb::config::Intercept for PayloadSha256 {
    fn name(&self) -> &'static str {
        "PayloadSha256"
    }

    fn modify_before_signing(
        &self,
        context: &mut aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextMut<
            '_,
        >,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        // Only a body in memory (every DynamoDB request); anything else is the SDK's to sign.
        if let Some(body) = context.request().body().bytes() {
            cfg.interceptor_state().store_put(
                aws_runtime::auth::PayloadSigningOverride::Precomputed((self.hash)(body)),
            );
        }
        Ok(())
    }
}

/// The roots AWS endpoints chain to (Amazon Trust Services and the Starfield root that
/// cross-signs them), compiled in: parsing five certificates at a cold start instead of the
/// system's bundle of ~140 took most of init's instructions (docs/PERFORMANCE.md). Pinned to
/// roots valid until 2037–2040; `AWS_CA_BUNDLE` replaces them where endpoints chain elsewhere.
const AWS_ROOTS: &[u8] = include_bytes!("aws-roots.pem");

/// The SDK's hyper client over rustls with the *ring* crypto provider (the SDK's default HTTPS
/// client brings aws-lc, over a megabyte of code for the same handshake), trusting
/// [`trusted_roots`].
pub fn https_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{
        rustls_provider::CryptoMode, Provider, TlsContext, TrustStore,
    };
    let roots = trusted_roots(std::env::var_os("AWS_CA_BUNDLE").as_deref());
    let tls = TlsContext::builder()
        .with_trust_store(TrustStore::empty().with_pem_certificate(roots))
        .build()
        .expect("a TLS context of a trust store always builds");
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .tls_context(tls)
        .build_https()
}

/// The PEM roots to trust: the bundle `AWS_CA_BUNDLE` names (for an endpoint behind a TLS
/// proxy, a local one in tests and benches, or a partition whose endpoints use other roots),
/// else the compiled-in AWS roots. A bundle that cannot be read, or holds no certificate
/// rustls accepts, is logged and the AWS roots are used: the function keeps running.
pub fn trusted_roots(bundle: Option<&std::ffi::OsStr>) -> Vec<u8> {
    let Some(path) = bundle.filter(|p| !p.is_empty()) else {
        return AWS_ROOTS.to_vec();
    };
    let checked = std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|pem| check_roots(&pem).map(|()| pem));
    checked.unwrap_or_else(|why| {
        tracing::error!(bundle = %path.to_string_lossy(), error = %why, "AWS_CA_BUNDLE unusable; trusting the AWS roots");
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

/// `DYNAMODB_WARM_UP`: whether a function readies its DynamoDB client during init. On unless
/// `false` (or `0`, `no`, `off`): measured with TLS, as in AWS, the warm-up moves the handshake
/// into init, which Lambda runs with burst CPU, out of the first invocation, which runs at the
/// memory's share of a vCPU, and init + first invocation comes out shorter (docs/PERFORMANCE.md).
/// Over plain HTTP (DynamoDB Local) it costs a round trip instead, which is why it can be
/// switched off.
pub fn warm_up_enabled(value: Option<&str>) -> bool {
    !matches!(
        value.map(|v| v.trim().to_ascii_lowercase()).as_deref(),
        Some("false" | "0" | "no" | "off")
    )
}

#[cfg(test)]
pub(crate) mod tests {
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
        assert_eq!(trusted_roots(Some(std::ffi::OsStr::new(""))), AWS_ROOTS);
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
                trusted_roots(Some(bad.as_os_str())),
                AWS_ROOTS,
                "{}",
                bad.display()
            );
        }
        assert_eq!(trusted_roots(Some(good.as_os_str())), first.as_bytes());
        // A client on either builds (the TLS provider panics on roots it cannot take).
        let _ = https_client();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The request a client configured as the functions' sends, as the server receives it.
    async fn request_on_the_wire(
        payload_hash: fn(&[u8]) -> String,
    ) -> aws_smithy_runtime_api::http::Request {
        use aws_sdk_dynamodb::types::AttributeValue;
        let http = Recorder::answering(200);
        // Whatever the (empty) answer makes of the call, the request was captured.
        let _ = recording_client(&http, payload_hash)
            .put_item()
            .table_name("messages")
            .item("pk", AttributeValue::S("tiktok_shop#1".into()))
            .item("raw", AttributeValue::S("{\"type\":14}".repeat(100)))
            .send()
            .await;
        let mut sent = http.requests();
        sent.pop().expect("the client sent no request")
    }

    /// A client configured as the functions' are, on `http`, with fixed credentials and time.
    pub(crate) fn recording_client(http: &Recorder, payload_hash: fn(&[u8]) -> String) -> Client {
        use aws_sdk_dynamodb::config::{Credentials, Region};
        let config = config_on(
            aws_sdk_dynamodb::config::SharedHttpClient::new(http.clone()),
            payload_hash,
        )
        .region(Region::new("eu-west-1"))
        .credentials_provider(Credentials::new("AKIDEXAMPLE", SECRET, None, None, "test"))
        .time_source(aws_smithy_async::time::StaticTimeSource::from_secs(
            1_764_000_000,
        ))
        .endpoint_url("http://127.0.0.1:1")
        .build();
        Client::from_conf(config)
    }

    /// An HTTP client that keeps every request sent to it and answers each with `status` and
    /// `{}`. (The SDK's `test_util::capture_request` would do for one, but its feature turns on
    /// serde_json's `preserve_order` for every test build.)
    #[derive(Clone, Debug)]
    pub(crate) struct Recorder {
        sent: std::sync::Arc<std::sync::Mutex<Vec<aws_smithy_runtime_api::http::Request>>>,
        status: u16,
    }

    impl Recorder {
        pub(crate) fn answering(status: u16) -> Self {
            Recorder {
                sent: Default::default(),
                status,
            }
        }

        pub(crate) fn requests(&self) -> Vec<aws_smithy_runtime_api::http::Request> {
            std::mem::take(&mut *self.sent.lock().unwrap())
        }
    }

    impl aws_smithy_runtime_api::client::http::HttpConnector for Recorder {
        fn call(
            &self,
            request: aws_smithy_runtime_api::http::Request,
        ) -> aws_smithy_runtime_api::client::http::HttpConnectorFuture {
            self.sent.lock().unwrap().push(request);
            let answer = aws_smithy_runtime_api::http::Response::new(
                self.status.try_into().unwrap(),
                aws_smithy_types::body::SdkBody::from("{}"),
            );
            aws_smithy_runtime_api::client::http::HttpConnectorFuture::ready(Ok(answer))
        }
    }

    impl aws_smithy_runtime_api::client::http::HttpClient for Recorder {
        fn http_connector(
            &self,
            _: &aws_smithy_runtime_api::client::http::HttpConnectorSettings,
            _: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        ) -> aws_smithy_runtime_api::client::http::SharedHttpConnector {
            aws_smithy_runtime_api::client::http::SharedHttpConnector::new(self.clone())
        }
    }

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    /// The `Signature=` of a request's Authorization header, and the one aws-sigv4 computes from
    /// the request's own headers and body bytes.
    fn sent_and_expected_signatures(
        request: &aws_smithy_runtime_api::http::Request,
    ) -> (String, String) {
        use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
        use aws_smithy_runtime_api::client::identity::Identity;
        let authorization = request.headers().get("authorization").unwrap();
        let sent = authorization
            .rsplit("Signature=")
            .next()
            .unwrap()
            .to_string();
        let identity: Identity =
            aws_sdk_dynamodb::config::Credentials::new("AKIDEXAMPLE", SECRET, None, None, "test")
                .into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region("eu-west-1")
            .name("dynamodb")
            .time(std::time::UNIX_EPOCH + Duration::from_secs(1_764_000_000))
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        // The headers it names as signed (the SDK adds its invocation id and attempt after
        // signing); `host` comes from the URI.
        let signed = authorization
            .split("SignedHeaders=")
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .unwrap();
        let headers = request
            .headers()
            .iter()
            .filter(|(name, _)| signed.split(';').any(|s| s.eq_ignore_ascii_case(name)));
        let signable = SignableRequest::new(
            request.method(),
            request.uri(),
            headers,
            SignableBody::Bytes(request.body().bytes().unwrap()),
        )
        .unwrap();
        let (_, expected) = sign(signable, &params).unwrap().into_parts();
        (sent, expected)
    }

    #[tokio::test]
    async fn the_signature_sent_is_sigv4_of_the_bytes_sent() {
        let request = request_on_the_wire(crate::digest::sha256_hex).await;
        assert!(request.body().bytes().unwrap().len() > 1000);
        let (sent, expected) = sent_and_expected_signatures(&request);
        assert_eq!(sent, expected);
    }

    #[tokio::test]
    async fn the_payload_hash_handed_to_sigv4_is_the_one_signed() {
        // A wrong hash through the same override makes a wrong signature: the override is used.
        let request = request_on_the_wire(|_| "0".repeat(64)).await;
        let (sent, expected) = sent_and_expected_signatures(&request);
        assert_ne!(sent, expected);
    }

    #[test]
    fn warm_up_is_on_unless_switched_off() {
        for on in [None, Some(""), Some("true"), Some("1"), Some("yes")] {
            assert!(warm_up_enabled(on), "{on:?}");
        }
        for off in ["false", "FALSE", " 0 ", "no", "off"] {
            assert!(!warm_up_enabled(Some(off)), "{off:?}");
        }
    }
}
