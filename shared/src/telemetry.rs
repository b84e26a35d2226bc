//! What the functions tell their operators: JSON log lines at the level Lambda's log settings
//! ask for, one summary line per request, and CloudWatch metrics in Embedded Metric Format.

use std::sync::Arc;

use serde_json::json;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;

/// The CloudWatch namespace of the functions' metrics.
pub const METRICS_NAMESPACE: &str = "MessageIngest";

/// Installs the log subscriber: JSON lines unless `AWS_LAMBDA_LOG_FORMAT` is `Text`; the level
/// from `AWS_LAMBDA_LOG_LEVEL` (Lambda's advanced logging controls), else `RUST_LOG`, else info.
pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "info".to_string())
        .to_lowercase();
    let filter = log_filter(&level);
    let text = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("text"));
    // Lambda stamps every line with its time already.
    let _ = if text {
        tracing::subscriber::set_global_default(
            tracing_subscriber::fmt()
                .with_target(false)
                .with_ansi(false)
                .without_time()
                .finish()
                .with(filter),
        )
    } else {
        tracing::subscriber::set_global_default(json_logs(filter, std::io::stdout))
    };
}

/// A level (`info`) or per-target levels (`ingest=debug,warn`), as Lambda's log level or
/// `RUST_LOG` give it. Lambda's `FATAL` is tracing's `error`; anything unreadable is `info`.
pub fn log_filter(level: &str) -> Targets {
    use tracing_subscriber::filter::LevelFilter;
    let level = level.trim().to_ascii_lowercase();
    let level = if level == "fatal" {
        "error"
    } else {
        level.as_str()
    };
    if let Ok(level) = level.parse::<LevelFilter>() {
        return Targets::new().with_default(level);
    }
    match level.parse::<Targets>() {
        Ok(targets) if level.contains('=') => targets,
        _ => Targets::new().with_default(LevelFilter::INFO),
    }
}

/// The JSON log format: one object per event, its fields at the top level.
pub fn json_logs<W>(filter: Targets, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_target(false)
        .with_ansi(false)
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .without_time()
        .with_writer(writer)
        .finish()
        .with(filter)
}

/// Where Embedded Metric Format documents go: stdout (one line each) in Lambda, where
/// CloudWatch Logs extracts the metrics; anything else in tests.
#[derive(Clone)]
pub struct MetricsSink(Arc<dyn Fn(&str) + Send + Sync>);

impl MetricsSink {
    pub fn stdout() -> Self {
        MetricsSink(Arc::new(|line| println!("{line}")))
    }
    pub fn new(write: impl Fn(&str) + Send + Sync + 'static) -> Self {
        MetricsSink(Arc::new(write))
    }
    pub fn write(&self, line: &str) {
        (self.0)(line)
    }
}

impl std::fmt::Debug for MetricsSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsSink")
    }
}

/// One request's metrics as an EMF document: `Requests` (count, per function and per function
/// and outcome), `Latency` (ms), `Quarantined`, `Conflicts` and `Spooled` (counts; `Spooled`:
/// bodies handed to the spool queue, outcome `spooled`).
pub fn emf_document(
    function: &str,
    outcome: &str,
    latency_ms: f64,
    quarantined: bool,
    conflict: bool,
    timestamp_ms: i64,
) -> serde_json::Value {
    json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": METRICS_NAMESPACE,
                "Dimensions": [["Function"], ["Function", "Outcome"]],
                "Metrics": [
                    {"Name": "Requests", "Unit": "Count"},
                    {"Name": "Latency", "Unit": "Milliseconds"},
                    {"Name": "Quarantined", "Unit": "Count"},
                    {"Name": "Conflicts", "Unit": "Count"},
                    {"Name": "Spooled", "Unit": "Count"}
                ]
            }]
        },
        "Function": function,
        "Outcome": outcome,
        "Requests": 1,
        "Latency": (latency_ms * 1000.0).round() / 1000.0,
        "Quarantined": u8::from(quarantined),
        "Conflicts": u8::from(conflict),
        "Spooled": u8::from(outcome == "spooled"),
    })
}

/// One drained spool message's metrics: `Drained` (count, per function and per function and
/// outcome), `DrainRetries` (left in the queue for a later receive) and `Quarantined`.
pub fn emf_drained(
    function: &str,
    outcome: &str,
    retry: bool,
    quarantined: bool,
    timestamp_ms: i64,
) -> serde_json::Value {
    json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": METRICS_NAMESPACE,
                "Dimensions": [["Function"], ["Function", "Outcome"]],
                "Metrics": [
                    {"Name": "Drained", "Unit": "Count"},
                    {"Name": "DrainRetries", "Unit": "Count"},
                    {"Name": "Quarantined", "Unit": "Count"}
                ]
            }]
        },
        "Function": function,
        "Outcome": outcome,
        "Drained": 1,
        "DrainRetries": u8::from(retry),
        "Quarantined": u8::from(quarantined),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_documents_declare_their_metrics() {
        let doc = emf_document("partoo", "stored", 2.71234, false, false, 1_700_000_000_000);
        let drained = emf_drained("partoo", "unavailable", true, false, 1_700_000_000_000);
        for doc in [&doc, &drained] {
            let directive = &doc["_aws"]["CloudWatchMetrics"][0];
            assert_eq!(directive["Namespace"], METRICS_NAMESPACE);
            for metric in directive["Metrics"].as_array().unwrap() {
                let name = metric["Name"].as_str().unwrap();
                assert!(doc.get(name).is_some(), "metric {name} has no value");
            }
            for set in directive["Dimensions"].as_array().unwrap() {
                for dimension in set.as_array().unwrap() {
                    assert!(doc[dimension.as_str().unwrap()].is_string());
                }
            }
        }
        assert_eq!(doc["Latency"], 2.712);
        assert_eq!(doc["Outcome"], "stored");
        assert_eq!(doc["Spooled"], 0);
        let spooled = emf_document("partoo", "spooled", 1.0, false, false, 0);
        assert_eq!(spooled["Spooled"], 1);
        assert_eq!(
            (
                drained["Drained"].as_u64(),
                drained["DrainRetries"].as_u64()
            ),
            (Some(1), Some(1))
        );
    }

    #[test]
    fn log_levels_read_like_lambdas_and_rust_log() {
        use tracing::Level;
        use tracing_subscriber::filter::LevelFilter;
        let default = |level: &str| log_filter(level).default_level();
        assert_eq!(default("info"), Some(LevelFilter::INFO));
        assert_eq!(default("DEBUG"), Some(LevelFilter::DEBUG));
        assert_eq!(default("FATAL"), Some(LevelFilter::ERROR));
        assert_eq!(default("not a level"), Some(LevelFilter::INFO));
        let targets = log_filter("ingest=debug,warn");
        assert!(targets.would_enable("ingest::store", &Level::DEBUG));
        assert!(!targets.would_enable("aws_smithy_runtime", &Level::INFO));
        assert!(targets.would_enable("aws_smithy_runtime", &Level::WARN));
    }
}
