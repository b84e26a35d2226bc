//! The projector as the tests run it: its handler on a table (its EMF documents kept, a
//! publisher when a test gives one), and the stream's records its mapping admits.

use std::sync::{Arc, Mutex};

use ingest::events::Publisher;
use ingest::projector::{filter, ProjectorHandler, ProjectorSettings};
use ingest::response::BatchResponse;
use ingest::telemetry::MetricsSink;
use ingest::testkit::stream::{event, StreamReader};
use serde_json::Value;

use super::local_client;

/// A projector on `table`, its EMF documents kept.
pub struct Projector {
    pub handler: ProjectorHandler,
    documents: Arc<Mutex<Vec<Value>>>,
}

impl Projector {
    pub async fn new(table: &str) -> Self {
        Projector::publishing(table, None).await
    }

    /// A projector that publishes each batch's events through `publisher`.
    pub async fn publishing(table: &str, publisher: Option<Publisher>) -> Self {
        let documents = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&documents);
        let handler = ProjectorHandler::new(
            Ok(ProjectorSettings {
                table_name: table.to_string(),
            }),
            local_client().await,
        )
        .with_publisher(publisher)
        .with_metrics(MetricsSink::new(move |line| {
            kept.lock()
                .unwrap()
                .push(serde_json::from_str(line).unwrap())
        }));
        Projector { handler, documents }
    }

    pub async fn batch(&self, records: &[Value]) -> BatchResponse {
        self.handler
            .handle(&event(records))
            .await
            .expect("a stream event")
    }

    /// The sum of one metric over every batch so far.
    pub fn total(&self, metric: &str) -> u64 {
        let documents = self.documents.lock().unwrap();
        documents.iter().map(|d| d[metric].as_u64().unwrap()).sum()
    }
}

/// The stream's new records that the projector's mapping admits.
pub async fn new_records(reader: &mut StreamReader) -> Vec<Value> {
    let pattern = filter::pattern();
    reader
        .read_new()
        .await
        .expect("read the stream")
        .into_iter()
        .filter(|r| ingest::media::filter::matches(&pattern, r))
        .collect()
}
