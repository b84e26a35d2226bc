//! `ingest-dev`: the developer's command line for running the ingest functions locally.
//!
//! Not deployed. See `ingest-dev help`.

mod bench_events;
mod error;
mod events;
mod follow;
mod media;
mod queue;
mod table;
mod timeline;

use std::path::PathBuf;
use std::process::ExitCode;

use error::{Error, Result};

const USAGE: &str = "\
ingest-dev: local development helper for the message ingest functions

Usage:
  ingest-dev create-table <name>
      Create the DynamoDB table (pk S HASH, sk S RANGE, on-demand, TTL on expires_at, a
      NEW_IMAGE stream) unless it exists, and wait until it is ACTIVE.
  ingest-dev create-bucket <name>
      Create the media bucket in the S3 server of AWS_ENDPOINT_URL_S3 unless it exists.
  ingest-dev follow-stream <table> --invoke http://127.0.0.1:<port> [--follow] [--skip-existing]
      The local event source mapping of the media function: read the table's stream from its
      start, keep the records the template's filter admits, and invoke the function through
      cargo lambda watch in batches of 10, retrying a failed record twice. Stops once the
      stream is idle (exit 1 if a record was dead-lettered), or with --follow keeps
      following; --skip-existing starts at its end.
  ingest-dev check-media <table> --bucket <name> --served-host <host> --served-root <dir>
      Check every attachment: those <host> serves (from <dir>) are copied with the file's
      sha256 and size, the others refused or expired. Exit 1 otherwise.
  ingest-dev plain-copy <url> <bucket> <key>
      The media bench's baseline: stream a loopback URL into S3 in 8 MiB parts, plainly.
  ingest-dev media-filter
      Print the media function's event filter pattern (JSON), as template.yaml must carry it.
  ingest-dev timeline <table>
      Print every stored conversation as a timeline, and the number of quarantined bodies.
  ingest-dev providers [--table]
      Print the function name of every registered provider, one per line (the scripts' list
      of webhook functions); with --table, tab-separated: function, provider value, whether it
      sends updates (`updates` or `no-updates`), and the setting of its allow-list of accounts
      (`PARTOO_ORG_IDS`, or `-` when it has none).
  ingest-dev replay <table> [--provider <provider>] [--queue-url <url>] [--dry-run]
      Run bodies through today's code again, as the drain does: from the quarantine (every
      provider's, or one's), or from the queue at <url> (a spool queue's dead-letter queue).
      Stored, duplicate, updated and ignored ones leave the quarantine or the queue; one still
      invalid stays quarantined with today's error; one the table cannot take stays. With
      --dry-run, read only: print what would happen, change nothing.
  ingest-dev create-queue <name> [--max-receives <n>] [--visibility-timeout <seconds>]
      Create the spool queue <name> and its dead-letter queue <name>-dlq (redrive after <n>
      receives, default 5; visibility timeout default 30 s) unless they exist, and print the
      queue's URL. For local runs (AWS_ENDPOINT_URL_SQS); in AWS, template.yaml makes them.
  ingest-dev sample-event <function> <conversation> <n> <text>
      Print a signed API Gateway HTTP API event carrying a new message: the provider's sample
      message <n> of <conversation>, saying <text> (signed with local.env's secrets, as the
      committed events are).
  ingest-dev sign-events [--check] [--root <dir>]
      Regenerate events/<function>/<name>.json (API Gateway HTTP API v2 events, signed with the
      secrets of local.env) from events/bodies/<function>/<name>.json. With --check, change
      nothing and exit 1 when a committed event differs from what would be generated.
      <dir> is the repository root (default: the current directory).
  ingest-dev bench-events <function> --count <n> --stamp <digits> [--conversation <c>]
                          [--first <m>] [--bytes <size>] [--root <dir>]
      Print <n> signed API Gateway HTTP API v2 events, one compact JSON document per line, each
      a new message: messages <m>.. (default 1) of conversation <digits><c as six digits>
      (default c = 1), signed with local.env's secrets by the test kit. Bodies are grown to
      <size> bytes, by default the size of the function's committed text sample under
      <dir>/events/bodies. For bench/harness.py; <digits> (1-12) keep every bench run's
      conversations apart.

The table and queue commands use the standard AWS environment (AWS_ENDPOINT_URL_DYNAMODB,
AWS_ENDPOINT_URL_SQS, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ...).";

enum Command {
    CreateTable {
        name: String,
    },
    CreateBucket {
        name: String,
    },
    FollowStream(follow::Options),
    CheckMedia {
        table: String,
        bucket: String,
        served_host: String,
        served_root: PathBuf,
    },
    MediaFilter,
    PlainCopy {
        url: String,
        bucket: String,
        key: String,
    },
    Timeline {
        table: String,
    },
    SignEvents {
        check: bool,
        root: PathBuf,
    },
    Providers {
        table: bool,
    },
    Replay {
        table: String,
        providers: Vec<ingest::ProviderId>,
        queue_url: Option<String>,
        dry_run: bool,
    },
    SampleEvent {
        provider: ingest::ProviderId,
        conversation: String,
        n: u64,
        text: String,
    },
    CreateQueue {
        name: String,
        max_receives: u32,
        visibility_seconds: u32,
    },
    BenchEvents(bench_events::Options),
    Help,
}

/// The value after an option.
fn value<'a>(rest: &mut std::slice::Iter<'_, &'a str>, option: &str) -> Result<&'a str> {
    rest.next()
        .copied()
        .ok_or_else(|| Error::msg(format!("{option} needs a value")))
}

fn number(text: &str, option: &str) -> Result<u32> {
    text.parse::<u32>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| Error::msg(format!("{option} needs a positive number, got {text:?}")))
}

fn parse_args(args: &[String]) -> Result<Command> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        [] | ["help" | "-h" | "--help", ..] => Ok(Command::Help),
        ["create-table", name] => Ok(Command::CreateTable {
            name: (*name).to_owned(),
        }),
        ["create-bucket", name] => Ok(Command::CreateBucket {
            name: (*name).to_owned(),
        }),
        ["media-filter"] => Ok(Command::MediaFilter),
        ["plain-copy", url, bucket, key] => Ok(Command::PlainCopy {
            url: (*url).to_owned(),
            bucket: (*bucket).to_owned(),
            key: (*key).to_owned(),
        }),
        ["follow-stream", table, rest @ ..] => {
            let mut options = follow::Options {
                table: (*table).to_owned(),
                invoke: String::new(),
                function: "media".to_owned(),
                follow: false,
                skip_existing: false,
            };
            let mut rest = rest.iter();
            while let Some(arg) = rest.next() {
                match *arg {
                    "--invoke" => options.invoke = value(&mut rest, "--invoke")?.to_owned(),
                    "--function" => options.function = value(&mut rest, "--function")?.to_owned(),
                    "--follow" => options.follow = true,
                    "--skip-existing" => options.skip_existing = true,
                    other => {
                        return Err(Error::msg(format!(
                            "unknown follow-stream option {other:?}"
                        )))
                    }
                }
            }
            if options.invoke.is_empty() {
                return Err(Error::msg(
                    "follow-stream needs --invoke http://127.0.0.1:<port>",
                ));
            }
            Ok(Command::FollowStream(options))
        }
        ["check-media", table, rest @ ..] => {
            let (mut bucket, mut served_host, mut served_root) = (None, None, None);
            let mut rest = rest.iter();
            while let Some(arg) = rest.next() {
                match *arg {
                    "--bucket" => bucket = Some(value(&mut rest, "--bucket")?.to_owned()),
                    "--served-host" => {
                        served_host = Some(value(&mut rest, "--served-host")?.to_owned())
                    }
                    "--served-root" => {
                        served_root = Some(PathBuf::from(value(&mut rest, "--served-root")?))
                    }
                    other => {
                        return Err(Error::msg(format!("unknown check-media option {other:?}")))
                    }
                }
            }
            let missing = |what: &str| Error::msg(format!("check-media needs {what}"));
            Ok(Command::CheckMedia {
                table: (*table).to_owned(),
                bucket: bucket.ok_or_else(|| missing("--bucket"))?,
                served_host: served_host.ok_or_else(|| missing("--served-host"))?,
                served_root: served_root.ok_or_else(|| missing("--served-root"))?,
            })
        }
        ["providers"] => Ok(Command::Providers { table: false }),
        ["providers", "--table"] => Ok(Command::Providers { table: true }),
        ["timeline", table] => Ok(Command::Timeline {
            table: (*table).to_owned(),
        }),
        ["replay", table, rest @ ..] if !table.starts_with('-') => {
            let mut providers = ingest::ProviderId::ALL.to_vec();
            let mut queue_url = None;
            let mut dry_run = false;
            let mut rest = rest.iter();
            while let Some(arg) = rest.next() {
                match *arg {
                    "--dry-run" => dry_run = true,
                    "--queue-url" => queue_url = Some(value(&mut rest, arg)?.to_owned()),
                    "--provider" => {
                        let name = value(&mut rest, arg)?;
                        let id = ingest::ProviderId::find(name)
                            .ok_or_else(|| Error::msg(format!("no provider {name:?}")))?;
                        providers = vec![id];
                    }
                    other => return Err(Error::msg(format!("unknown replay option {other:?}"))),
                }
            }
            Ok(Command::Replay {
                table: (*table).to_owned(),
                providers,
                queue_url,
                dry_run,
            })
        }
        ["sample-event", function, conversation, n, text] => Ok(Command::SampleEvent {
            provider: ingest::ProviderId::find(function)
                .ok_or_else(|| Error::msg(format!("no provider {function:?}")))?,
            conversation: (*conversation).to_owned(),
            n: n.parse()
                .map_err(|_| Error::msg(format!("<n> must be a number, got {n:?}")))?,
            text: (*text).to_owned(),
        }),
        ["create-queue", name, rest @ ..] if !name.starts_with('-') => {
            let mut max_receives = ingest::spool::DEFAULT_MAX_RECEIVES;
            let mut visibility_seconds = 30;
            let mut rest = rest.iter();
            while let Some(arg) = rest.next() {
                match *arg {
                    "--max-receives" => max_receives = number(value(&mut rest, arg)?, arg)?,
                    "--visibility-timeout" => {
                        visibility_seconds = number(value(&mut rest, arg)?, arg)?
                    }
                    other => {
                        return Err(Error::msg(format!("unknown create-queue option {other:?}")))
                    }
                }
            }
            Ok(Command::CreateQueue {
                name: (*name).to_owned(),
                max_receives,
                visibility_seconds,
            })
        }
        ["bench-events", rest @ ..] => {
            Ok(Command::BenchEvents(bench_events::Options::parse(rest)?))
        }
        ["sign-events", rest @ ..] => {
            let mut check = false;
            let mut root = PathBuf::from(".");
            let mut rest = rest.iter();
            while let Some(arg) = rest.next() {
                match *arg {
                    "--check" => check = true,
                    "--root" => {
                        root = rest
                            .next()
                            .map(PathBuf::from)
                            .ok_or_else(|| Error::msg("--root needs a directory"))?;
                    }
                    other => {
                        return Err(Error::msg(format!("unknown sign-events option {other:?}")))
                    }
                }
            }
            Ok(Command::SignEvents { check, root })
        }
        [command, ..] => Err(Error::msg(format!(
            "unknown command or wrong arguments: {command:?} (see ingest-dev help)"
        ))),
    }
}

pub(crate) async fn dynamodb_client() -> aws_sdk_dynamodb::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(ingest::storage::https_client())
        .load()
        .await;
    aws_sdk_dynamodb::Client::new(&config)
}

async fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Help => println!("{USAGE}"),
        Command::Providers { table } => {
            for id in ingest::ProviderId::ALL {
                if table {
                    let updates = if id.sends_updates() {
                        "updates"
                    } else {
                        "no-updates"
                    };
                    let allow_list = id.allow_list().unwrap_or("-");
                    println!("{}\t{}\t{updates}\t{allow_list}", id.function(), id.name());
                } else {
                    println!("{}", id.function());
                }
            }
        }
        Command::CreateTable { name } => table::create(&dynamodb_client().await, &name).await?,
        Command::SampleEvent {
            provider,
            conversation,
            n,
            text,
        } => {
            let body = provider.samples().message(&conversation, n, &text);
            let body = serde_json::to_string(&body).expect("a JSON value serializes");
            let name = format!("sample-{conversation}-{n}");
            print!(
                "{}",
                ingest::testkit::events::sample_event(provider, &name, &body, &Default::default())
            );
        }
        Command::CreateQueue {
            name,
            max_receives,
            visibility_seconds,
        } => {
            queue::create(
                &queue::sqs_client().await,
                &name,
                max_receives,
                visibility_seconds,
            )
            .await?
        }
        Command::Replay {
            table,
            providers,
            queue_url,
            dry_run,
        } => {
            queue::run_replay(
                dynamodb_client().await,
                &table,
                providers,
                queue_url,
                dry_run,
            )
            .await?
        }
        Command::CreateBucket { name } => media::create_bucket(&name).await?,
        Command::MediaFilter => println!("{}", ingest::media::filter::pattern()),
        Command::PlainCopy { url, bucket, key } => {
            media::plain_copy(&url, &bucket, &key).await?;
        }
        Command::FollowStream(options) => {
            let summary = follow::run(&options).await?;
            if summary.dead_lettered > 0 {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::CheckMedia {
            table,
            bucket,
            served_host,
            served_root,
        } => {
            let options = media::CheckOptions {
                table: &table,
                bucket: &bucket,
                served_host: &served_host,
                served_root: &served_root,
            };
            if !media::check(&dynamodb_client().await, &options).await? {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Timeline { table } => {
            let mut out = std::io::stdout().lock();
            timeline::print(&dynamodb_client().await, &table, &mut out).await?;
        }
        Command::BenchEvents(options) => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            bench_events::write_events(&options, &mut out)?;
        }
        Command::SignEvents { check, root } => {
            if !events::sign_events(&root, check)? {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match parse_args(&args) {
        Ok(command) => run(command).await,
        Err(err) => {
            eprintln!("ingest-dev: {err}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    result.unwrap_or_else(|err| {
        eprintln!("ingest-dev: error: {err}");
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command> {
        parse_args(&args.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn parses_commands() {
        assert!(matches!(parse(&[]), Ok(Command::Help)));
        assert!(
            matches!(parse(&["create-table", "t"]), Ok(Command::CreateTable { name }) if name == "t")
        );
        assert!(
            matches!(parse(&["timeline", "t"]), Ok(Command::Timeline { table }) if table == "t")
        );
        assert!(matches!(
            parse(&["sign-events", "--check", "--root", "/x"]),
            Ok(Command::SignEvents { check: true, root }) if root == std::path::Path::new("/x")
        ));
        assert!(matches!(
            parse(&["providers"]),
            Ok(Command::Providers { table: false })
        ));
        assert!(matches!(
            parse(&["providers", "--table"]),
            Ok(Command::Providers { table: true })
        ));
        assert!(matches!(
            parse(&["replay", "t", "--provider", "partoo", "--dry-run"]),
            Ok(Command::Replay { table, providers, queue_url: None, dry_run: true })
                if table == "t" && providers == [ingest::ProviderId::Partoo]
        ));
        assert!(matches!(
            parse(&["replay", "t", "--queue-url", "http://q"]),
            Ok(Command::Replay { providers, queue_url: Some(url), dry_run: false, .. })
                if url == "http://q" && providers.len() == ingest::ProviderId::ALL.len()
        ));
        assert!(parse(&["replay"]).is_err());
        assert!(parse(&["replay", "t", "--provider", "nobody"]).is_err());
        assert!(parse(&["replay", "t", "--queue-url"]).is_err());
        assert!(matches!(
            parse(&["create-queue", "spool", "--max-receives", "3"]),
            Ok(Command::CreateQueue { name, max_receives: 3, visibility_seconds: 30 }) if name == "spool"
        ));
        assert!(parse(&["create-queue", "spool", "--max-receives", "0"]).is_err());
        assert!(matches!(
            parse(&["sample-event", "partoo", "7", "3", "hi"]),
            Ok(Command::SampleEvent {
                provider: ingest::ProviderId::Partoo,
                n: 3,
                ..
            })
        ));
        assert!(parse(&["sample-event", "partoo", "7", "x", "hi"]).is_err());
        assert!(matches!(
            parse(&["follow-stream", "t", "--invoke", "http://127.0.0.1:9000", "--follow"]),
            Ok(Command::FollowStream(o)) if o.table == "t" && o.follow && !o.skip_existing
        ));
        assert!(parse(&["follow-stream", "t"]).is_err());
        assert!(matches!(
            parse(&["check-media", "t", "--bucket", "b", "--served-host", "h", "--served-root", "d"]),
            Ok(Command::CheckMedia { bucket, .. }) if bucket == "b"
        ));
        assert!(parse(&["check-media", "t", "--bucket", "b"]).is_err());
        assert!(matches!(parse(&["media-filter"]), Ok(Command::MediaFilter)));
        assert!(matches!(
            parse(&["bench-events", "partoo", "--count", "2", "--stamp", "9"]),
            Ok(Command::BenchEvents(options)) if options.count == 2 && options.stamp == "9"
        ));
        assert!(parse(&["bench-events", "partoo"]).is_err());
        assert!(parse(&["timeline"]).is_err());
        assert!(parse(&["sign-events", "--bogus"]).is_err());
        assert!(parse(&["sign-events", "--root"]).is_err());
    }
}
