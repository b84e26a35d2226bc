//! Configuration from the environment (the README's "Configuration" table), read once when a
//! function starts, in two parts: [`FunctionConfig`], what every function shares (the table, the
//! logs, the spool queue, the warm-up, its AWS clients' region, endpoints and CA bundle), and a
//! function's own part on top of it — a provider's verifier (`crate::Settings`), the media
//! function's `MEDIA_*` (`crate::media::MediaSettings`), or nothing at all for a function that
//! verifies nothing. Reading never fails the process: a bad configuration becomes [`Misconfigured`],
//! which the handler answers with 500 to every request, so a function never runs open and never
//! crashes.

use std::path::PathBuf;

use crate::error::Misconfigured;

/// Where settings come from: the process environment, or a map in tests. Values are trimmed,
/// and an empty value counts as unset — for every setting, through [`Env::get`].
pub struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Env<'a> {
    pub fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Env { lookup }
    }

    /// The process environment.
    pub fn process() -> Env<'static> {
        Env::new(&process_env)
    }

    /// The trimmed value of `name`, unless it is unset or blank.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    pub fn require(&self, name: &str) -> Result<String, Misconfigured> {
        self.get(name)
            .ok_or_else(|| Misconfigured(format!("{name} is not set")))
    }
}

/// Reads the process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// What every function reads, whatever it serves.
#[derive(Clone, Debug)]
pub struct FunctionConfig {
    /// `TABLE_NAME`: every function works on the table; one without it is misconfigured.
    pub table_name: Result<String, Misconfigured>,
    pub logs: LogConfig,
    pub spool: SpoolConfig,
    /// `DYNAMODB_WARM_UP`: whether the DynamoDB client is readied during init (see
    /// [`warm_up_enabled`]).
    pub warm_up: bool,
    pub aws: AwsConfig,
    /// `RETENTION_DAYS`: how long the items a message writes are kept; `None` keeps them.
    /// An unreadable value is [`Misconfigured`], and a webhook function then answers 500:
    /// storing messages for ever, or for a day, because of a typo is worse than refusing them
    /// (the provider redelivers, the spool keeps what it holds).
    pub retention: Result<Option<Retention>, Misconfigured>,
}

/// `RETENTION_DAYS`: a whole number of days, at least one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    days: u32,
}

/// Seconds in a day: the TTL counts whole days of 86 400 s, leap seconds aside as Unix time does.
const DAY_SECONDS: i64 = 86_400;

impl Retention {
    /// `days` as a retention, if it is one (at least a day).
    pub fn days(days: u32) -> Option<Self> {
        (days >= 1).then_some(Retention { days })
    }

    /// Reads `RETENTION_DAYS`: unset or blank keeps everything; a whole number ≥ 1 is the
    /// retention; anything else (0, negative, a fraction, text) is refused rather than guessed.
    pub fn read(env: &Env) -> Result<Option<Self>, Misconfigured> {
        let Some(value) = env.get("RETENTION_DAYS") else {
            return Ok(None);
        };
        value
            .parse::<u32>()
            .ok()
            .and_then(Retention::days)
            .map(Some)
            .ok_or_else(|| {
                Misconfigured("RETENTION_DAYS is not a whole number of days of at least 1".into())
            })
    }

    /// The TTL (`expires_at`, epoch seconds) of an item whose message was received at
    /// `received_at` (the contract's timestamp, RFC 3339): that instant plus the days. `None`
    /// for a time that does not parse — the handler always writes one that does; an item
    /// without a TTL is kept, which is the safe side of a bug.
    pub fn expires_at(&self, received_at: &str) -> Option<i64> {
        let received = chrono::DateTime::parse_from_rfc3339(received_at).ok()?;
        Some(received.timestamp() + i64::from(self.days) * DAY_SECONDS)
    }
}

/// How the function logs: Lambda's advanced logging controls, else `RUST_LOG`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else `info`; lower case (see
    /// [`crate::telemetry::log_filter`]).
    pub level: String,
    /// `AWS_LAMBDA_LOG_FORMAT` is `Text`: plain lines rather than JSON.
    pub text: bool,
}

/// The webhook functions' spool queue (docs/CONTRACT.md, row 7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpoolConfig {
    /// `SPOOL_QUEUE_URL`; no spool when unset.
    pub queue_url: Option<String>,
    /// `SPOOL_MAX_RECEIVES` (see [`max_receives`]).
    pub max_receives: u32,
    /// `SPOOL_MAX_RECEIVES` is set but is not a positive number (the default is used; the
    /// function says so once its logs are set up).
    pub max_receives_unreadable: bool,
}

/// Where a function's AWS clients connect, besides the region and credentials of Lambda's
/// environment that the SDK reads itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AwsConfig {
    /// `AWS_REGION`, else `AWS_DEFAULT_REGION`.
    pub region: Option<String>,
    /// `AWS_CA_BUNDLE`: the roots to trust instead of the compiled-in AWS roots.
    pub ca_bundle: Option<PathBuf>,
    /// The SDK's standard endpoint overrides: `AWS_ENDPOINT_URL_<SERVICE>`, else
    /// `AWS_ENDPOINT_URL`.
    pub dynamodb_endpoint: Option<String>,
    pub sqs_endpoint: Option<String>,
    pub s3_endpoint: Option<String>,
    pub eventbridge_endpoint: Option<String>,
}

impl FunctionConfig {
    /// Reads the shared part from the process environment.
    pub fn from_env() -> Self {
        FunctionConfig::read(&Env::process())
    }

    pub fn read(env: &Env) -> Self {
        let given_receives = env.get("SPOOL_MAX_RECEIVES");
        let max_receives = max_receives(given_receives.as_deref());
        FunctionConfig {
            table_name: env.require("TABLE_NAME"),
            logs: LogConfig {
                level: env
                    .get("AWS_LAMBDA_LOG_LEVEL")
                    .or_else(|| env.get("RUST_LOG"))
                    .unwrap_or_else(|| "info".to_string())
                    .to_lowercase(),
                text: env
                    .get("AWS_LAMBDA_LOG_FORMAT")
                    .is_some_and(|f| f.eq_ignore_ascii_case("text")),
            },
            spool: SpoolConfig {
                queue_url: env.get("SPOOL_QUEUE_URL"),
                max_receives,
                max_receives_unreadable: given_receives
                    .is_some_and(|r| r.parse::<u32>().ok() != Some(max_receives)),
            },
            warm_up: warm_up_enabled(env.get("DYNAMODB_WARM_UP").as_deref()),
            aws: AwsConfig::read(env),
            retention: Retention::read(env),
        }
    }
}

impl AwsConfig {
    /// Reads the AWS part from the process environment (for tests and tools).
    pub fn from_env() -> Self {
        AwsConfig::read(&Env::process())
    }

    pub fn read(env: &Env) -> Self {
        let endpoint = |service: &str| env.get(service).or_else(|| env.get("AWS_ENDPOINT_URL"));
        AwsConfig {
            region: env
                .get("AWS_REGION")
                .or_else(|| env.get("AWS_DEFAULT_REGION")),
            ca_bundle: env.get("AWS_CA_BUNDLE").map(PathBuf::from),
            dynamodb_endpoint: endpoint("AWS_ENDPOINT_URL_DYNAMODB"),
            sqs_endpoint: endpoint("AWS_ENDPOINT_URL_SQS"),
            s3_endpoint: endpoint("AWS_ENDPOINT_URL_S3"),
            eventbridge_endpoint: endpoint("AWS_ENDPOINT_URL_EVENTBRIDGE"),
        }
    }
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

/// `SPOOL_MAX_RECEIVES` when unset: the spool queue's `maxReceiveCount` in template.yaml.
pub const DEFAULT_MAX_RECEIVES: u32 = 5;

/// `SPOOL_MAX_RECEIVES`: a positive number, or [`DEFAULT_MAX_RECEIVES`] when unset or not one.
pub(crate) fn max_receives(value: Option<&str>) -> u32 {
    value
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_MAX_RECEIVES)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{Provider, ProviderId, ProviderVisitor, Settings};
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn settings<P: Provider>(vars: &[(&str, &str)]) -> Result<Settings<P>, Misconfigured> {
        Settings::from_lookup(lookup(vars))
    }

    struct TableNameRequired;
    impl ProviderVisitor for TableNameRequired {
        type Output = ();
        fn visit<P: Provider>(self) {
            let err = settings::<P>(&[]).unwrap_err();
            assert!(err.0.contains("TABLE_NAME"), "{}: {err}", P::NAME);
        }
    }

    #[test]
    fn table_name_is_required_everywhere() {
        for id in ProviderId::ALL {
            id.visit(TableNameRequired);
        }
    }

    #[test]
    fn blank_values_are_unset() {
        let lookup = |name: &str| match name {
            "A" => Some("  x ".to_string()),
            "B" => Some("   ".to_string()),
            _ => None,
        };
        let env = Env::new(&lookup);
        assert_eq!(env.get("A").as_deref(), Some("x"));
        assert_eq!(env.get("B"), None);
        assert!(env.require("C").unwrap_err().0.contains("C is not set"));
    }

    #[test]
    fn the_shared_part_needs_no_verifier() {
        let vars = lookup(&[
            ("TABLE_NAME", " messages "),
            ("AWS_LAMBDA_LOG_LEVEL", " "),
            ("RUST_LOG", "DEBUG"),
            ("AWS_LAMBDA_LOG_FORMAT", "Text"),
            ("SPOOL_QUEUE_URL", "http://127.0.0.1:1/q"),
            ("SPOOL_MAX_RECEIVES", "five"),
            ("DYNAMODB_WARM_UP", "off"),
            ("AWS_DEFAULT_REGION", "eu-west-3"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:2"),
            ("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:3"),
            ("AWS_CA_BUNDLE", ""),
        ]);
        let config = FunctionConfig::read(&Env::new(&vars));
        assert_eq!(config.table_name.as_deref(), Ok("messages"));
        assert_eq!(
            config.logs,
            LogConfig {
                level: "debug".into(),
                text: true
            }
        );
        assert_eq!(
            config.spool,
            SpoolConfig {
                queue_url: Some("http://127.0.0.1:1/q".into()),
                max_receives: crate::spool::DEFAULT_MAX_RECEIVES,
                max_receives_unreadable: true,
            }
        );
        assert!(!config.warm_up);
        assert_eq!(
            config.aws,
            AwsConfig {
                region: Some("eu-west-3".into()),
                ca_bundle: None,
                dynamodb_endpoint: Some("http://127.0.0.1:2".into()),
                sqs_endpoint: Some("http://127.0.0.1:3".into()),
                s3_endpoint: Some("http://127.0.0.1:2".into()),
                eventbridge_endpoint: Some("http://127.0.0.1:2".into()),
            }
        );

        let defaults = FunctionConfig::read(&Env::new(&|_| None));
        assert!(defaults.table_name.unwrap_err().0.contains("TABLE_NAME"));
        assert_eq!(defaults.logs.level, "info");
        assert!(!defaults.logs.text);
        assert_eq!(defaults.spool.queue_url, None);
        assert!(!defaults.spool.max_receives_unreadable);
        assert!(defaults.warm_up);
        assert_eq!(defaults.aws, AwsConfig::default());
    }

    #[test]
    fn retention_is_whole_days_or_unset() {
        let read = |value: Option<&str>| {
            let vars = lookup(
                &value
                    .map(|v| vec![("RETENTION_DAYS", v)])
                    .unwrap_or_default(),
            );
            FunctionConfig::read(&Env::new(&vars)).retention
        };
        assert_eq!(read(None), Ok(None));
        assert_eq!(read(Some("  ")), Ok(None), "blank is unset");
        assert_eq!(read(Some(" 30 ")), Ok(Retention::days(30)));
        assert_eq!(read(Some("1")), Ok(Retention::days(1)));
        for bad in ["0", "-1", "x", "1.5", "30d", "99999999999"] {
            let err = read(Some(bad)).unwrap_err();
            assert!(err.0.contains("RETENTION_DAYS"), "{bad}: {err}");
        }
    }

    #[test]
    fn an_item_expires_its_days_after_its_message_arrived() {
        let month = Retention::days(30).unwrap();
        // 2024-05-01T10:00:00Z is 1714557600.
        assert_eq!(
            month.expires_at("2024-05-01T10:00:00.123Z"),
            Some(1_714_557_600 + 30 * 86_400)
        );
        assert_eq!(month.expires_at("yesterday"), None);
        assert_eq!(Retention::days(0), None);
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
