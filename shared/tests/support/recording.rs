//! An HTTP client that passes every request on to the functions' own client and keeps the
//! operation each names (DynamoDB's `X-Amz-Target`: `DynamoDB_20120810.Query`), so a test can
//! assert on what a function sends.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

#[derive(Clone, Debug)]
pub struct Recording {
    inner: SharedHttpClient,
    operations: Arc<Mutex<Vec<String>>>,
}

impl Recording {
    /// In front of the functions' HTTPS client, configured from the environment.
    pub fn new() -> Self {
        Recording {
            inner: ingest::aws::https_client(),
            operations: Arc::default(),
        }
    }

    /// A DynamoDB client as a function's, whose requests this records.
    pub fn dynamodb_client(&self) -> aws_sdk_dynamodb::Client {
        ingest::config::AwsConfig::from_env().dynamodb_client(SharedHttpClient::new(self.clone()))
    }

    /// The operations sent so far (`Query`, `BatchGetItem`, …), in order.
    pub fn operations(&self) -> Vec<String> {
        self.operations.lock().unwrap().clone()
    }
}

#[derive(Debug)]
struct Connector {
    inner: SharedHttpConnector,
    operations: Arc<Mutex<Vec<String>>>,
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let operation = request
            .headers()
            .get("x-amz-target")
            .map(|t| t.rsplit('.').next().unwrap_or(t).to_string())
            .unwrap_or_else(|| format!("{} {}", request.method(), request.uri()));
        self.operations.lock().unwrap().push(operation);
        self.inner.call(request)
    }
}

impl HttpClient for Recording {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(Connector {
            inner: self.inner.http_connector(settings, components),
            operations: Arc::clone(&self.operations),
        })
    }
}
