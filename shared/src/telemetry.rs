//! Logs as JSON lines, one object per event, at the level Lambda's log settings ask for.

use tracing_subscriber::EnvFilter;

/// Installs the JSON log subscriber. The level comes from `AWS_LAMBDA_LOG_LEVEL` (set by
/// Lambda's advanced logging controls), else `RUST_LOG`, else `info`.
pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "info".to_string())
        .to_lowercase();
    let filter = EnvFilter::try_new(&level).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .try_init();
}
