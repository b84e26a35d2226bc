//! `ingest-dev`: the developer's command line for running the ingest functions locally.
//!
//! Not deployed. See `ingest-dev help`.

mod bench_events;
mod error;
mod events;
mod table;
mod timeline;

use std::path::PathBuf;
use std::process::ExitCode;

use error::{Error, Result};

const USAGE: &str = "\
ingest-dev: local development helper for the message ingest functions

Usage:
  ingest-dev create-table <name>
      Create the DynamoDB table (pk S HASH, sk S RANGE, on-demand, TTL on expires_at) unless it
      exists, and wait until it is ACTIVE.
  ingest-dev timeline <table>
      Print every stored conversation as a timeline, and the number of quarantined bodies.
  ingest-dev providers [--table]
      Print the function name of every registered provider, one per line (the scripts' list
      of webhook functions); with --table, tab-separated: function, provider value, and
      whether it sends updates (`updates` or `no-updates`).
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

The table commands use the standard AWS environment (AWS_ENDPOINT_URL_DYNAMODB, AWS_REGION,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ...).";

enum Command {
    CreateTable { name: String },
    Timeline { table: String },
    SignEvents { check: bool, root: PathBuf },
    Providers { table: bool },
    BenchEvents(bench_events::Options),
    Help,
}

fn parse_args(args: &[String]) -> Result<Command> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        [] | ["help" | "-h" | "--help", ..] => Ok(Command::Help),
        ["create-table", name] => Ok(Command::CreateTable {
            name: (*name).to_owned(),
        }),
        ["providers"] => Ok(Command::Providers { table: false }),
        ["providers", "--table"] => Ok(Command::Providers { table: true }),
        ["timeline", table] => Ok(Command::Timeline {
            table: (*table).to_owned(),
        }),
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

async fn dynamodb_client() -> aws_sdk_dynamodb::Client {
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
                    println!("{}\t{}\t{updates}", id.function(), id.name());
                } else {
                    println!("{}", id.function());
                }
            }
        }
        Command::CreateTable { name } => table::create(&dynamodb_client().await, &name).await?,
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
            parse(&["bench-events", "partoo", "--count", "2", "--stamp", "9"]),
            Ok(Command::BenchEvents(options)) if options.count == 2 && options.stamp == "9"
        ));
        assert!(parse(&["bench-events", "partoo"]).is_err());
        assert!(parse(&["timeline"]).is_err());
        assert!(parse(&["sign-events", "--bogus"]).is_err());
        assert!(parse(&["sign-events", "--root"]).is_err());
    }
}
