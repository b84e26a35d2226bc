//! The DynamoDB client the functions use: configured as every function's AWS client
//! ([`crate::aws`]), with the SDK's payload hash taken by [`crate::digest`].

use std::time::Duration;

use aws_sdk_dynamodb::config::SharedHttpClient;
use aws_sdk_dynamodb::Client;

use crate::aws::{client_config, Limits};
use crate::config::AwsConfig;

/// Short enough that a slow table still gets a 503 answered well inside a provider's 3 s.
const DYNAMODB_LIMITS: Limits = Limits {
    connect: Duration::from_millis(500),
    attempt: Duration::from_millis(700),
    operation: Duration::from_millis(1500),
};

impl AwsConfig {
    /// A function's DynamoDB client on `http` (a function shares one with its other clients).
    pub fn dynamodb_client(&self, http: SharedHttpClient) -> Client {
        let mut config = config_on(self, http, crate::digest::sha256_hex);
        if let Some(url) = &self.dynamodb_endpoint {
            config = config.endpoint_url(url);
        }
        Client::from_conf(config.build())
    }
}

/// The client's settings apart from its endpoint; `payload_hash` is
/// [`crate::digest::sha256_hex`] but in a test of its effect.
fn config_on(
    aws: &AwsConfig,
    http: SharedHttpClient,
    payload_hash: fn(&[u8]) -> String,
) -> aws_sdk_dynamodb::config::Builder {
    use aws_sdk_dynamodb::config::StalledStreamProtectionConfig;

    client_config!(aws_sdk_dynamodb, aws, http, DYNAMODB_LIMITS)
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

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
            &AwsConfig::default(),
            SharedHttpClient::new(http.clone()),
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
}
