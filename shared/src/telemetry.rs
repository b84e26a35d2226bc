//! What the functions tell their operators: JSON log lines at the level Lambda's log settings
//! ask for, one summary line per request, and CloudWatch metrics in Embedded Metric Format.

use std::sync::Arc;

use serde::Serialize;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;

use crate::config::LogConfig;
use crate::response::OutcomeName;

/// The CloudWatch namespace of the functions' metrics.
pub(crate) const METRICS_NAMESPACE: &str = "MessageIngest";

/// Installs the log subscriber: JSON lines unless `AWS_LAMBDA_LOG_FORMAT` is `Text`; the level
/// from `AWS_LAMBDA_LOG_LEVEL` (Lambda's advanced logging controls), else `RUST_LOG`, else info
/// (as [`LogConfig`] has read them).
pub(crate) fn init(logs: &LogConfig) {
    let filter = log_filter(&logs.level);
    // Lambda stamps every line with its time already.
    let _ = if logs.text {
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
/// and outcome), `Latency` (ms), `Quarantined`, `Conflicts`, `Spooled` (counts; `Spooled`:
/// bodies handed to the spool queue, outcome `spooled`) and `ForeignAccount` (a message of an
/// account the allow-list leaves out, refused). Written straight to JSON text: this runs on
/// every request.
pub(crate) fn emf_document(
    function: &str,
    outcome: OutcomeName,
    latency_ms: f64,
    quarantined: bool,
    conflict: bool,
    foreign: bool,
    timestamp_ms: i64,
) -> String {
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Request<'a> {
        #[serde(rename = "_aws")]
        aws: Metadata,
        function: &'a str,
        outcome: &'a str,
        requests: u8,
        latency: f64,
        quarantined: u8,
        conflicts: u8,
        spooled: u8,
        foreign_account: u8,
    }
    const METRICS: &[Metric] = &[
        metric("Requests", "Count"),
        metric("Latency", "Milliseconds"),
        metric("Quarantined", "Count"),
        metric("Conflicts", "Count"),
        metric("Spooled", "Count"),
        metric("ForeignAccount", "Count"),
    ];
    let document = Request {
        aws: Metadata::new(timestamp_ms, BY_FUNCTION_AND_OUTCOME, METRICS),
        function,
        outcome: outcome.as_str(),
        requests: 1,
        latency: (latency_ms * 1000.0).round() / 1000.0,
        quarantined: u8::from(quarantined),
        conflicts: u8::from(conflict),
        spooled: u8::from(outcome == OutcomeName::Spooled),
        foreign_account: u8::from(foreign),
    };
    serde_json::to_string(&document).expect("an EMF document serializes")
}

/// One drained spool message's metrics: `Drained` (count, per function and per function and
/// outcome), `DrainRetries` (left in the queue for a later receive), `Quarantined` and
/// `ForeignAccount` (a body of an account the allow-list no longer lists, dropped).
pub(crate) fn emf_drained(
    function: &str,
    outcome: OutcomeName,
    retry: bool,
    quarantined: bool,
    foreign: bool,
    timestamp_ms: i64,
) -> String {
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Drained<'a> {
        #[serde(rename = "_aws")]
        aws: Metadata,
        function: &'a str,
        outcome: &'a str,
        drained: u8,
        drain_retries: u8,
        quarantined: u8,
        foreign_account: u8,
    }
    const METRICS: &[Metric] = &[
        metric("Drained", "Count"),
        metric("DrainRetries", "Count"),
        metric("Quarantined", "Count"),
        metric("ForeignAccount", "Count"),
    ];
    let document = Drained {
        aws: Metadata::new(timestamp_ms, BY_FUNCTION_AND_OUTCOME, METRICS),
        function,
        outcome: outcome.as_str(),
        drained: 1,
        drain_retries: u8::from(retry),
        quarantined: u8::from(quarantined),
        foreign_account: u8::from(foreign),
    };
    serde_json::to_string(&document).expect("an EMF document serializes")
}

/// The webhook functions' dimensions: per function, and per function and outcome.
const BY_FUNCTION_AND_OUTCOME: &[&[&str]] = &[&["Function"], &["Function", "Outcome"]];

/// The `_aws` member of every EMF document the functions write: which of the document's
/// members are metrics, in which namespace and dimensions. A document is a struct with this
/// member, named `_aws`, beside the metrics' and dimensions' values.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Metadata {
    timestamp: i64,
    cloud_watch_metrics: [Directive; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Directive {
    namespace: &'static str,
    dimensions: &'static [&'static [&'static str]],
    metrics: &'static [Metric],
}

/// A metric a document declares: its member's name and its unit.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Metric {
    name: &'static str,
    unit: &'static str,
}

pub(crate) const fn metric(name: &'static str, unit: &'static str) -> Metric {
    Metric { name, unit }
}

impl Metadata {
    /// `metrics`, in [`METRICS_NAMESPACE`], by each of the dimension sets `dimensions`, at
    /// `timestamp` (Unix milliseconds).
    pub(crate) fn new(
        timestamp: i64,
        dimensions: &'static [&'static [&'static str]],
        metrics: &'static [Metric],
    ) -> Self {
        Metadata {
            timestamp,
            cloud_watch_metrics: [Directive {
                namespace: METRICS_NAMESPACE,
                dimensions,
                metrics,
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_documents_declare_their_metrics() {
        let parse = |text: String| -> serde_json::Value { serde_json::from_str(&text).unwrap() };
        let doc = parse(emf_document(
            "partoo",
            OutcomeName::Stored,
            2.71234,
            false,
            false,
            false,
            1_700_000_000_000,
        ));
        let drained = parse(emf_drained(
            "partoo",
            OutcomeName::Unavailable,
            true,
            false,
            false,
            1_700_000_000_000,
        ));
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
        let spooled = parse(emf_document(
            "partoo",
            OutcomeName::Spooled,
            1.0,
            false,
            false,
            false,
            0,
        ));
        assert_eq!(spooled["Spooled"], 1);
        assert_eq!(
            (
                doc["ForeignAccount"].as_u64(),
                drained["ForeignAccount"].as_u64()
            ),
            (Some(0), Some(0))
        );
        let refused = parse(emf_document(
            "partoo",
            OutcomeName::Forbidden,
            1.0,
            false,
            false,
            true,
            0,
        ));
        assert_eq!(refused["ForeignAccount"], 1);
        let dropped = parse(emf_drained(
            "partoo",
            OutcomeName::Forbidden,
            false,
            false,
            true,
            0,
        ));
        assert_eq!(dropped["ForeignAccount"], 1);
        assert_eq!(
            (
                drained["Drained"].as_u64(),
                drained["DrainRetries"].as_u64()
            ),
            (Some(1), Some(1))
        );
    }

    #[test]
    fn emf_documents_are_the_same_text_as_ever() {
        assert_eq!(
            emf_document(
                "partoo",
                OutcomeName::Spooled,
                2.71234,
                false,
                true,
                false,
                1_700_000_000_000
            ),
            concat!(
                r#"{"_aws":{"Timestamp":1700000000000,"CloudWatchMetrics":[{"#,
                r#""Namespace":"MessageIngest","Dimensions":[["Function"],["Function","Outcome"]],"#,
                r#""Metrics":[{"Name":"Requests","Unit":"Count"},"#,
                r#"{"Name":"Latency","Unit":"Milliseconds"},{"Name":"Quarantined","Unit":"Count"},"#,
                r#"{"Name":"Conflicts","Unit":"Count"},{"Name":"Spooled","Unit":"Count"},"#,
                r#"{"Name":"ForeignAccount","Unit":"Count"}]}]},"#,
                r#""Function":"partoo","Outcome":"spooled","Requests":1,"Latency":2.712,"#,
                r#""Quarantined":0,"Conflicts":1,"Spooled":1,"ForeignAccount":0}"#
            )
        );
        assert_eq!(
            emf_drained("callbell", OutcomeName::Stored, false, true, false, 5),
            concat!(
                r#"{"_aws":{"Timestamp":5,"CloudWatchMetrics":[{"Namespace":"MessageIngest","#,
                r#""Dimensions":[["Function"],["Function","Outcome"]],"#,
                r#""Metrics":[{"Name":"Drained","Unit":"Count"},"#,
                r#"{"Name":"DrainRetries","Unit":"Count"},{"Name":"Quarantined","Unit":"Count"},"#,
                r#"{"Name":"ForeignAccount","Unit":"Count"}]}]},"#,
                r#""Function":"callbell","Outcome":"stored","Drained":1,"DrainRetries":0,"#,
                r#""Quarantined":1,"ForeignAccount":0}"#
            )
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
