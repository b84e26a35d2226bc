//! `ingest-dev`'s command line: every command, argument and default, and the help that
//! describes them (`ingest-dev help`, `ingest-dev help <command>`).
//!
//! The scripts, benches and README call these commands: their arguments, defaults and exit
//! statuses (2 for a usage error, with clap's message) stay as they are. The doc comments are
//! the help text, laid out as written (`verbatim_doc_comment`: clap is built without
//! terminal-width wrapping).

use std::path::PathBuf;

use clap::{value_parser, Parser, Subcommand};
use ingest::ProviderId;

use crate::{bench_events, follow, inbox, smoke};

/// ingest-dev: the message ingest tool, locally and on a deployed stack (replay, erase, inbox)
#[derive(Debug, Parser)]
#[command(
    name = "ingest-dev",
    // An option given twice takes its last value, as the hand-written parser did.
    args_override_self = true,
    after_help = AFTER_HELP
)]
pub struct Cli {
    // None: the help is printed, as `ingest-dev help` prints it.
    #[command(subcommand)]
    pub command: Option<Command>,
}

const AFTER_HELP: &str = "\
The table and queue commands use the standard AWS environment (AWS_ENDPOINT_URL_DYNAMODB,
AWS_ENDPOINT_URL_SQS, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ...).
`ingest-dev help <command>` (or `ingest-dev <command> --help`) tells a command in full.";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the DynamoDB table unless it exists, and wait until it is ACTIVE
    ///
    /// The table: pk S HASH, sk S RANGE, on-demand, TTL on expires_at, a NEW_IMAGE stream.
    /// An existing table with another key schema is an error; one without the stream or TTL
    /// gets them.
    #[command(verbatim_doc_comment)]
    CreateTable {
        /// The table's name
        name: String,
    },

    /// Create the media bucket in the S3 server of AWS_ENDPOINT_URL_S3 unless it exists
    #[command(verbatim_doc_comment)]
    CreateBucket {
        /// The bucket's name
        name: String,
    },

    /// The local event source mappings: the table's stream into media and the projector
    ///
    /// Read the table's stream from its start and, for each function, keep the records its
    /// template filter admits and invoke it through cargo lambda watch in batches (media: 10,
    /// projector: 100, as the template's), retrying a failed record twice. Stops once the
    /// stream is idle (exit 1 if a record was dead-lettered), or with --follow keeps
    /// following; --skip-existing starts at its end. --function (repeatable) picks the
    /// functions to feed.
    #[command(verbatim_doc_comment)]
    FollowStream(follow::Options),

    /// Check every attachment: the local ones copied, the others refused or expired
    ///
    /// Those <HOST> serves (from <DIR>) must be copied with the file's sha256 and size, the
    /// others refused or expired. Exit 1 otherwise.
    #[command(verbatim_doc_comment)]
    CheckMedia {
        /// The table whose message items to check
        table: String,
        /// The media bucket the copies must be in
        #[arg(long, value_name = "NAME")]
        bucket: String,
        /// The host the local file server stands for (media.localhost)
        #[arg(long, value_name = "HOST")]
        served_host: String,
        /// The directory it serves
        #[arg(long, value_name = "DIR")]
        served_root: PathBuf,
    },

    /// The media bench's baseline: stream a loopback URL into S3 in 8 MiB parts, plainly
    #[command(verbatim_doc_comment)]
    PlainCopy {
        /// What to GET (a loopback address only)
        url: String,
        /// The bucket to upload to
        bucket: String,
        /// The object's key
        key: String,
    },

    /// Print the media function's event filter (JSON), as template.yaml must carry it
    ///
    /// The pattern of the event source mapping's filter, the one definition of which items'
    /// stream records reach the media function.
    #[command(verbatim_doc_comment)]
    MediaFilter,

    /// Print the projector's event filter (JSON), as template.yaml must carry it
    ///
    /// The pattern of the event source mapping's filter, the one definition of which items'
    /// stream records reach the projector (every record of a message item, removals too).
    #[command(verbatim_doc_comment)]
    ProjectorFilter,

    /// Print the table's definition (JSON, CloudFormation's shape), as template.yaml must carry it
    ///
    /// Its key schema, attribute definitions, global secondary indexes and stream, as
    /// `create-table` makes them: the one definition (shared/src/storage/table.rs).
    #[command(verbatim_doc_comment)]
    TableDefinition,

    /// Read conversations, messages and customers through the read API (the inbox function)
    ///
    /// Locally from cargo lambda watch (the default --url, plain HTTP over loopback); from a
    /// deployed stack with --url <the stack's InboxUrl output>, SigV4-signed (execute-api) with
    /// your AWS credentials (environment, profile or SSO, as the AWS CLI finds them).
    /// `ingest-dev inbox conversations [--provider P] [--awaiting-reply] ...`,
    /// `ingest-dev inbox messages <PROVIDER> <CONVERSATION_ID>`,
    /// `ingest-dev inbox customers --phone <PHONE> | --email <EMAIL>`.
    #[command(verbatim_doc_comment)]
    Inbox(inbox::Options),

    /// Check a deployed stack (or a local run) from the outside: one line per check
    ///
    /// From the stack's outputs (--outputs-file: `aws cloudformation describe-stacks
    /// --stack-name <stack>`'s JSON, - for standard input) or a local run (--local
    /// http://127.0.0.1:<port>, scripts/run-local.sh), for each webhook URL the outputs name:
    /// an unsigned call is refused (401), and the provider's own test call, signed with
    /// --secrets-file's secrets, is acknowledged (TikTok Shop: an event that is not a message,
    /// `ignored`; Partoo: a tryout, `ignored`; Callbell: a connection check, `ok`); and the
    /// inbox answers GET /conversations (SigV4-signed with your AWS credentials, as `inbox`;
    /// or --inbox-token-env's JWT). Exits 1 when a check fails; a check whose secret is not given is skipped. Prints no
    /// secret.
    #[command(verbatim_doc_comment)]
    Smoke(smoke::Options),

    /// Print every stored conversation as a timeline, and how many bodies are quarantined
    #[command(verbatim_doc_comment)]
    Timeline {
        /// The table to read
        table: String,
    },

    /// Print the function name of every registered provider, one per line
    ///
    /// The scripts' list of webhook functions; with --table, tab-separated: function, provider
    /// value, whether it sends updates (`updates` or `no-updates`), and the setting of its
    /// allow-list of accounts (`PARTOO_ORG_IDS`, or `-` when it has none).
    #[command(verbatim_doc_comment)]
    Providers {
        /// Tab-separated lines: function, provider value, `updates` or `no-updates`, the
        /// allow-list's setting or `-`
        #[arg(long)]
        table: bool,
    },

    /// Replay quarantined or dead-lettered bodies through today's code, as the drain does
    ///
    /// From the quarantine (every provider's, or one's), or from the queue at <URL> (a spool
    /// queue's dead-letter queue). Stored, duplicate, updated and ignored ones leave the
    /// quarantine or the queue; one still invalid stays quarantined with today's error; one the
    /// table cannot take stays. With --dry-run, read only: print what would happen, change
    /// nothing.
    #[command(verbatim_doc_comment)]
    Replay {
        /// The messages table
        table: String,
        /// Only this provider's quarantine (provider value or function name); default: every
        /// provider's
        #[arg(long, value_name = "PROVIDER", value_parser = provider)]
        provider: Option<ProviderId>,
        /// Replay the messages of this queue (a spool queue's dead-letter queue) instead
        #[arg(long, value_name = "URL")]
        queue_url: Option<String>,
        /// Read only: print what would happen, change nothing
        #[arg(long)]
        dry_run: bool,
    },

    /// Build the read side's summaries for messages stored before it (an upgraded stack)
    ///
    /// A parallel Scan of the table's message items, each conversation folded into its
    /// summary (and the list's and customer lookup's index entries) as the projector folds
    /// the stream: a summary that already holds its messages is left alone, so a second run
    /// writes nothing, and a run racing the projector converges. Prints a resume token on
    /// stderr after each page (the last one printed is where an interrupted run goes on,
    /// with --resume), and counts at the end. With --dry-run, read only: count what would be
    /// written, write nothing. Cost: README, "Backfilling the read side".
    #[command(verbatim_doc_comment)]
    Backfill {
        /// The messages table
        table: String,
        /// Scans at once, each over its share of the table (default 4; a resumed run keeps
        /// its token's)
        #[arg(long, value_name = "N", value_parser = value_parser!(u32).range(1..=1000))]
        segments: Option<u32>,
        /// Items each Scan request reads (default: DynamoDB's pages of 1 MB)
        #[arg(long, value_name = "N", value_parser = value_parser!(i32).range(1..))]
        page_size: Option<i32>,
        /// Go on from this token, printed by an earlier run
        #[arg(long, value_name = "TOKEN")]
        resume: Option<String>,
        /// Read only: count what would be written, write nothing
        #[arg(long)]
        dry_run: bool,
    },

    /// Erase one customer's data: their conversations, media copies and quarantined bodies
    ///
    /// The customer is one conversation (--provider and --conversation), or everyone the
    /// customer indexes find by --phone (compared by its digits) or --email (compared without
    /// case), on any provider. Removes their message, id and summary items, their media copies
    /// in the bucket (under media/<provider>/<conversation>/), and the quarantined bodies that
    /// name them; prints how many of each (never content). Idempotent; a run cut short
    /// finishes on the next. With --dry-run, read only: print what would be removed.
    /// The rights it needs: README, "Retention and erasure" (the stack's ErasePolicyArn).
    #[command(verbatim_doc_comment)]
    #[command(group(clap::ArgGroup::new("subject").required(true).args(["conversation", "phone", "email"])))]
    Erase {
        /// The messages table
        table: String,
        /// The media bucket (the stack's MediaBucketName); needed when a conversation has copies
        #[arg(long, value_name = "NAME")]
        bucket: Option<String>,
        /// The conversation's provider (provider value or function name)
        #[arg(long, value_name = "PROVIDER", value_parser = provider, requires = "conversation")]
        provider: Option<ProviderId>,
        /// The conversation's id, as the provider gives it
        #[arg(long, value_name = "ID", requires = "provider")]
        conversation: Option<String>,
        /// The customer's phone number, in any format
        #[arg(long, value_name = "NUMBER")]
        phone: Option<String>,
        /// The customer's address
        #[arg(long, value_name = "ADDRESS")]
        email: Option<String>,
        /// Read only: print what would be removed, remove nothing
        #[arg(long)]
        dry_run: bool,
    },

    /// Create a spool queue and its dead-letter queue unless they exist; print its URL
    ///
    /// The spool queue <NAME> and its dead-letter queue <NAME>-dlq, which it redrives to after
    /// <N> receives. For local runs (AWS_ENDPOINT_URL_SQS); in AWS, template.yaml makes them.
    #[command(verbatim_doc_comment)]
    CreateQueue {
        /// The spool queue's name
        name: String,
        /// Receives before a message goes to the dead-letter queue
        #[arg(
            long,
            value_name = "N",
            default_value_t = ingest::spool::DEFAULT_MAX_RECEIVES,
            value_parser = value_parser!(u32).range(1..)
        )]
        max_receives: u32,
        /// The queue's visibility timeout
        #[arg(
            long = "visibility-timeout",
            value_name = "SECONDS",
            default_value_t = 30,
            value_parser = value_parser!(u32).range(1..)
        )]
        visibility_seconds: u32,
    },

    /// Print a signed API Gateway HTTP API event carrying a new sample message
    ///
    /// The provider's sample message <N> of <CONVERSATION>, saying <TEXT>, signed with
    /// local.env's secrets as the committed events are.
    #[command(verbatim_doc_comment)]
    SampleEvent {
        /// The provider's function (or provider value)
        #[arg(value_name = "FUNCTION", value_parser = provider)]
        provider: ProviderId,
        /// The conversation id
        #[arg(allow_hyphen_values = true)]
        conversation: String,
        /// The message's number in the conversation
        n: u64,
        /// What the message says
        #[arg(allow_hyphen_values = true)]
        text: String,
    },

    /// Regenerate the signed events/<function>/<name>.json from events/bodies/
    ///
    /// API Gateway HTTP API v2 events, signed with the secrets of local.env, from
    /// events/bodies/<function>/<name>.json. With --check, change nothing and exit 1 when a
    /// committed event differs from what would be generated.
    #[command(verbatim_doc_comment)]
    SignEvents {
        /// Change nothing; exit 1 when a committed event differs from what would be generated
        #[arg(long)]
        check: bool,
        /// The repository root
        #[arg(long, value_name = "DIR", default_value = ".")]
        root: PathBuf,
    },

    /// Print signed events of new messages, one JSON document per line, for the bench
    ///
    /// <COUNT> signed API Gateway HTTP API v2 events, one compact JSON document per line, each
    /// a new message: messages <FIRST>.. of conversation <STAMP><CONVERSATION as six digits>,
    /// signed with local.env's secrets by the test kit. Bodies are grown to <SIZE> bytes, by
    /// default the size of the function's committed text sample under <DIR>/events/bodies.
    /// For bench/harness.py; <STAMP> (1-12 digits) keeps every bench run's conversations
    /// apart.
    #[command(verbatim_doc_comment)]
    BenchEvents(bench_events::Options),
}

/// A provider by its value (`tiktok_shop`) or its function's name (`tiktok-shop`).
fn provider(name: &str) -> Result<ProviderId, String> {
    ProviderId::find(name).ok_or_else(|| {
        let known: Vec<String> = ProviderId::ALL
            .iter()
            .map(|id| match (id.function(), id.name()) {
                (function, name) if function == name => name.to_owned(),
                (function, name) => format!("{function} ({name})"),
            })
            .collect();
        format!("no provider {name:?}; known: {}", known.join(", "))
    })
}

/// Parses `args` (without the program's name) as the command line does.
#[cfg(test)]
pub fn parse(args: &[&str]) -> Result<Option<Command>, clap::Error> {
    Cli::try_parse_from(std::iter::once("ingest-dev").chain(args.iter().copied()))
        .map(|cli| cli.command)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use clap::error::ErrorKind;
    use clap::CommandFactory as _;

    use super::*;

    fn kind(args: &[&str]) -> ErrorKind {
        parse(args).expect_err("an error").kind()
    }

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Each command's summary is shown by `ingest-dev help`, its whole text and every
    /// argument's help by `ingest-dev help <command>`.
    #[test]
    fn every_command_and_argument_is_described() {
        let mut cli = Cli::command();
        cli.build();
        let help = cli.render_long_help().to_string();
        let mut commands = 0;
        for command in cli.get_subcommands_mut() {
            let name = command.get_name().to_owned();
            if name == "help" {
                continue;
            }
            commands += 1;
            let about = command.get_about().map(ToString::to_string);
            let about = about.unwrap_or_else(|| panic!("{name} has no summary"));
            assert!(
                help.contains(&format!("  {name}")) && help.contains(&about),
                "{name} is missing from the help:\n{help}"
            );
            for arg in command.get_arguments() {
                if arg.get_id() != "help" {
                    assert!(
                        arg.get_help().is_some(),
                        "{name}'s {} has no help",
                        arg.get_id()
                    );
                }
            }
            let long = command.render_long_help().to_string();
            assert!(long.contains(&about), "{name}: {long}");
        }
        assert_eq!(commands, 19);
        assert!(help.contains("AWS_ENDPOINT_URL_DYNAMODB"), "{help}");
    }

    #[test]
    fn no_command_or_help_is_the_help() {
        assert!(matches!(parse(&[]), Ok(None)));
        for args in [&["help"][..], &["-h"], &["--help"], &["help", "replay"]] {
            let err = parse(args).expect_err("help is clap's answer");
            assert_eq!(err.kind(), ErrorKind::DisplayHelp, "{args:?}");
            assert_eq!(err.exit_code(), 0, "{args:?}");
        }
        let err = parse(&["help", "replay"]).unwrap_err().to_string();
        assert!(err.contains("--queue-url <URL>"), "{err}");
    }

    #[test]
    fn usage_errors_exit_with_2() {
        for args in [
            &["bogus"][..],
            &["create-table"],
            &["create-table", "a", "b"],
            &["providers", "--bogus"],
        ] {
            assert_eq!(parse(args).unwrap_err().exit_code(), 2, "{args:?}");
        }
        assert_eq!(kind(&["bogus"]), ErrorKind::InvalidSubcommand);
        let err = parse(&["create-tabel", "t"]).unwrap_err().to_string();
        assert!(err.contains("create-table"), "a suggestion: {err}");
    }

    #[test]
    fn table_commands() {
        assert!(matches!(
            parse(&["create-table", "messages"]),
            Ok(Some(Command::CreateTable { name })) if name == "messages"
        ));
        assert!(matches!(
            parse(&["create-bucket", "media-bench"]),
            Ok(Some(Command::CreateBucket { name })) if name == "media-bench"
        ));
        assert!(matches!(
            parse(&["timeline", "messages"]),
            Ok(Some(Command::Timeline { table })) if table == "messages"
        ));
        assert_eq!(kind(&["timeline"]), ErrorKind::MissingRequiredArgument);
        assert_eq!(
            kind(&["timeline", "t", "extra"]),
            ErrorKind::UnknownArgument
        );
        assert_eq!(kind(&["create-bucket"]), ErrorKind::MissingRequiredArgument);
        assert!(matches!(
            parse(&["media-filter"]),
            Ok(Some(Command::MediaFilter))
        ));
        assert!(parse(&["media-filter", "x"]).is_err());
        assert!(matches!(
            parse(&["projector-filter"]),
            Ok(Some(Command::ProjectorFilter))
        ));
        assert!(matches!(
            parse(&["table-definition"]),
            Ok(Some(Command::TableDefinition))
        ));
    }

    #[test]
    fn providers() {
        assert!(matches!(
            parse(&["providers"]),
            Ok(Some(Command::Providers { table: false }))
        ));
        assert!(matches!(
            parse(&["providers", "--table"]),
            Ok(Some(Command::Providers { table: true }))
        ));
    }

    #[test]
    fn backfill() {
        assert!(matches!(
            parse(&["backfill", "t", "--segments", "8", "--page-size", "100", "--dry-run"]),
            Ok(Some(Command::Backfill { table, segments: Some(8), page_size: Some(100), resume: None, dry_run: true }))
                if table == "t"
        ));
        assert!(matches!(
            parse(&["backfill", "t", "--resume", "abc"]),
            Ok(Some(Command::Backfill { segments: None, resume: Some(r), dry_run: false, .. })) if r == "abc"
        ));
        for wrong in [
            &["backfill"][..],
            &["backfill", "t", "--segments", "0"],
            &["backfill", "t", "--segments", "1001"],
            &["backfill", "t", "--page-size", "0"],
        ] {
            assert!(parse(wrong).is_err(), "{wrong:?}");
        }
    }

    #[test]
    fn replay() {
        assert!(matches!(
            parse(&["replay", "t", "--provider", "partoo", "--dry-run"]),
            Ok(Some(Command::Replay { table, provider: Some(ProviderId::Partoo), queue_url: None, dry_run: true }))
                if table == "t"
        ));
        assert!(matches!(
            parse(&["erase", "t", "--phone", "+33 6 12 34 56 78", "--bucket", "b", "--dry-run"]),
            Ok(Some(Command::Erase { table, bucket: Some(bucket), phone: Some(phone), dry_run: true, .. }))
                if table == "t" && bucket == "b" && phone == "+33 6 12 34 56 78"
        ));
        assert!(matches!(
            parse(&["erase", "t", "--provider", "partoo", "--conversation", "77"]),
            Ok(Some(Command::Erase { provider: Some(ProviderId::Partoo), conversation: Some(c), .. })) if c == "77"
        ));
        for wrong in [
            &["erase", "t"][..],
            &["erase", "t", "--phone", "1", "--email", "a@b"],
            &["erase", "t", "--conversation", "77"],
            &["erase", "t", "--provider", "partoo"],
            &["erase", "t", "--provider", "acme", "--conversation", "1"],
        ] {
            assert!(parse(wrong).is_err(), "{wrong:?}");
        }
        // By function name too, as sample-event takes it.
        assert!(matches!(
            parse(&["replay", "t", "--provider", ProviderId::ALL[0].function()]),
            Ok(Some(Command::Replay { provider: Some(id), .. })) if id == ProviderId::ALL[0]
        ));
        let Ok(Some(Command::Replay {
            provider,
            queue_url,
            dry_run,
            ..
        })) = parse(&["replay", "t", "--queue-url", "http://q"])
        else {
            panic!("replay with a queue");
        };
        assert_eq!(
            (provider, queue_url.as_deref(), dry_run),
            (None, Some("http://q"), false)
        );
        assert_eq!(kind(&["replay"]), ErrorKind::MissingRequiredArgument);
        assert_eq!(
            kind(&["replay", "--dry-run"]),
            ErrorKind::MissingRequiredArgument
        );
        let err = parse(&["replay", "t", "--provider", "nobody"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ValueValidation);
        assert!(err.to_string().contains("no provider \"nobody\""), "{err}");
        assert_eq!(
            kind(&["replay", "t", "--queue-url"]),
            ErrorKind::InvalidValue
        );
        assert_eq!(
            kind(&["replay", "t", "--bogus"]),
            ErrorKind::UnknownArgument
        );
        // The last of a repeated option counts, as before.
        assert!(matches!(
            parse(&[
                "replay",
                "t",
                "--provider",
                "partoo",
                "--provider",
                "callbell"
            ]),
            Ok(Some(Command::Replay {
                provider: Some(ProviderId::Callbell),
                ..
            }))
        ));
    }

    #[test]
    fn create_queue() {
        // scripts/run-local.sh's call.
        assert!(matches!(
            parse(&["create-queue", "ingest-spool", "--max-receives", "3"]),
            Ok(Some(Command::CreateQueue { name, max_receives: 3, visibility_seconds: 30 }))
                if name == "ingest-spool"
        ));
        let Ok(Some(Command::CreateQueue {
            max_receives,
            visibility_seconds,
            ..
        })) = parse(&["create-queue", "q", "--visibility-timeout", "60"])
        else {
            panic!("create-queue");
        };
        assert_eq!(
            (max_receives, visibility_seconds),
            (ingest::spool::DEFAULT_MAX_RECEIVES, 60)
        );
        for bad in [
            &["create-queue"][..],
            &["create-queue", "--max-receives", "3"],
            &["create-queue", "q", "--max-receives", "0"],
            &["create-queue", "q", "--max-receives", "x"],
            &["create-queue", "q", "--max-receives", "-1"],
            &["create-queue", "q", "--visibility-timeout", "0"],
            &["create-queue", "q", "--max-receives"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sample_event() {
        // scripts/run-local.sh's call.
        let Ok(Some(Command::SampleEvent {
            provider,
            conversation,
            n,
            text,
        })) = parse(&[
            "sample-event",
            "partoo",
            "spool-demo",
            "42",
            "spooled while the table was down, stored by the drain",
        ])
        else {
            panic!("sample-event");
        };
        assert_eq!(provider, ProviderId::Partoo);
        assert_eq!((conversation.as_str(), n), ("spool-demo", 42));
        assert_eq!(
            text,
            "spooled while the table was down, stored by the drain"
        );
        assert!(matches!(
            parse(&["sample-event", "tiktok-shop", "7", "3", "-hi"]),
            Ok(Some(Command::SampleEvent { provider: ProviderId::TiktokShop, text, .. })) if text == "-hi"
        ));
        assert_eq!(
            kind(&["sample-event", "nobody", "7", "3", "hi"]),
            ErrorKind::ValueValidation
        );
        assert_eq!(
            kind(&["sample-event", "partoo", "7", "x", "hi"]),
            ErrorKind::ValueValidation
        );
        assert_eq!(
            kind(&["sample-event", "partoo", "7", "3"]),
            ErrorKind::MissingRequiredArgument
        );
    }

    #[test]
    fn follow_stream() {
        // scripts/run-local.sh's two calls.
        let Ok(Some(Command::FollowStream(options))) = parse(&[
            "follow-stream",
            "messages",
            "--invoke",
            "http://127.0.0.1:9000",
        ]) else {
            panic!("follow-stream");
        };
        assert_eq!(options.table, "messages");
        assert_eq!(options.invoke, "http://127.0.0.1:9000");
        assert_eq!(options.functions, ["media", "projector"]);
        assert!(!options.follow && !options.skip_existing);
        let Ok(Some(Command::FollowStream(options))) = parse(&[
            "follow-stream",
            "messages",
            "--invoke",
            "http://127.0.0.1:9000",
            "--follow",
            "--skip-existing",
            "--function",
            "projector",
        ]) else {
            panic!("follow-stream --follow");
        };
        assert!(options.follow && options.skip_existing);
        assert_eq!(options.functions, ["projector"]);
        assert_eq!(options.batch_size, None);
        // The write-units bench's: one record per invocation.
        let args = ["follow-stream", "t", "--invoke", "http://127.0.0.1:9"];
        let Ok(Some(Command::FollowStream(options))) =
            parse(&[&args[..], &["--batch-size", "1"]].concat())
        else {
            panic!("follow-stream --batch-size 1");
        };
        assert_eq!(options.batch_size, Some(1));
        for bad in ["0", "-1", "x", "10001"] {
            assert!(
                parse(&[&args[..], &["--batch-size", bad]].concat()).is_err(),
                "{bad}"
            );
        }
        assert_eq!(
            kind(&["follow-stream", "t"]),
            ErrorKind::MissingRequiredArgument
        );
        assert!(parse(&["follow-stream", "t", "--invoke"]).is_err());
        assert!(parse(&["follow-stream", "t", "--invoke", ""]).is_err());
        assert_eq!(
            kind(&["follow-stream", "--invoke", "http://127.0.0.1:9"]),
            ErrorKind::MissingRequiredArgument
        );
    }

    #[test]
    fn check_media() {
        // scripts/run-local.sh's call.
        let Ok(Some(Command::CheckMedia {
            table,
            bucket,
            served_host,
            served_root,
        })) = parse(&[
            "check-media",
            "messages",
            "--bucket",
            "media",
            "--served-host",
            "media.localhost",
            "--served-root",
            "events/media",
        ])
        else {
            panic!("check-media");
        };
        assert_eq!(
            (table.as_str(), bucket.as_str(), served_host.as_str()),
            ("messages", "media", "media.localhost")
        );
        assert_eq!(served_root, Path::new("events/media"));
        for missing in [
            &["check-media"][..],
            &["check-media", "t", "--bucket", "b"],
            &["check-media", "t", "--bucket", "b", "--served-host", "h"],
            &[
                "check-media",
                "t",
                "--served-host",
                "h",
                "--served-root",
                "d",
            ],
        ] {
            assert_eq!(
                kind(missing),
                ErrorKind::MissingRequiredArgument,
                "{missing:?}"
            );
        }
    }

    #[test]
    fn plain_copy() {
        // bench/media.py's call.
        assert!(matches!(
            parse(&["plain-copy", "http://127.0.0.1:8080/f", "media-bench", "plain/m1"]),
            Ok(Some(Command::PlainCopy { url, bucket, key }))
                if url == "http://127.0.0.1:8080/f" && bucket == "media-bench" && key == "plain/m1"
        ));
        assert_eq!(
            kind(&["plain-copy", "u", "b"]),
            ErrorKind::MissingRequiredArgument
        );
    }

    #[test]
    fn sign_events() {
        // scripts/test.sh's call and the README's.
        assert!(matches!(
            parse(&["sign-events", "--check"]),
            Ok(Some(Command::SignEvents { check: true, root })) if root == Path::new(".")
        ));
        assert!(matches!(
            parse(&["sign-events"]),
            Ok(Some(Command::SignEvents { check: false, .. }))
        ));
        assert!(matches!(
            parse(&["sign-events", "--check", "--root", "/x"]),
            Ok(Some(Command::SignEvents { check: true, root })) if root == Path::new("/x")
        ));
        assert_eq!(
            kind(&["sign-events", "--bogus"]),
            ErrorKind::UnknownArgument
        );
        assert!(parse(&["sign-events", "--root"]).is_err());
    }

    #[test]
    fn smoke() {
        // scripts/run-local.sh's call, and the README's.
        assert!(matches!(
            parse(&["smoke", "--local", "http://127.0.0.1:9000"]),
            Ok(Some(Command::Smoke(smoke::Options { local: Some(url), outputs_file: None, secrets_file: None, callbell_auth: smoke::CallbellAuth::Auto, timeout: 60, .. })))
                if url == "http://127.0.0.1:9000"
        ));
        assert!(matches!(
            parse(&["smoke", "--outputs-file", "-", "--secrets-file", "/dev/fd/63", "--callbell-auth", "both"]),
            Ok(Some(Command::Smoke(smoke::Options { outputs_file: Some(outputs), secrets_file: Some(_), callbell_auth: smoke::CallbellAuth::Both, .. })))
                if outputs == Path::new("-")
        ));
        assert_eq!(kind(&["smoke"]), ErrorKind::MissingRequiredArgument);
        assert_eq!(
            kind(&[
                "smoke",
                "--local",
                "http://127.0.0.1:1",
                "--outputs-file",
                "o.json"
            ]),
            ErrorKind::ArgumentConflict
        );
        assert_eq!(
            kind(&["smoke", "--local", "u", "--callbell-auth", "maybe"]),
            ErrorKind::InvalidValue
        );
    }

    #[test]
    fn inbox() {
        // scripts/run-local.sh's calls.
        let Ok(Some(Command::Inbox(options))) = parse(&[
            "inbox",
            "--url",
            "http://127.0.0.1:9000/lambda-url/inbox",
            "messages",
            "partoo",
            "spool-demo",
        ]) else {
            panic!("inbox messages");
        };
        assert_eq!(options.url, "http://127.0.0.1:9000/lambda-url/inbox");
        assert!(matches!(
            options.read,
            inbox::Read::Messages { provider, conversation_id, newest_first: false, limit: 200 }
                if provider == "partoo" && conversation_id == "spool-demo"
        ));
        let Ok(Some(Command::Inbox(options))) = parse(&[
            "inbox",
            "conversations",
            "--provider",
            "callbell",
            "--awaiting-reply",
        ]) else {
            panic!("inbox conversations");
        };
        assert_eq!(options.url, inbox::LOCAL_URL);
        assert!(matches!(
            options.read,
            inbox::Read::Conversations { provider: Some(p), awaiting_reply: true, limit: 25, .. }
                if p == "callbell"
        ));
        assert!(
            parse(&["inbox", "customers"]).is_err(),
            "a phone or an address"
        );
        assert!(parse(&["inbox", "customers", "--phone", "1", "--email", "a@b"]).is_err());
        assert!(parse(&["inbox", "messages", "partoo"]).is_err());
    }

    #[test]
    fn bench_events() {
        // bench/harness.py's call.
        let Ok(Some(Command::BenchEvents(options))) = parse(&[
            "bench-events",
            "partoo",
            "--count",
            "100",
            "--stamp",
            "1234567",
            "--conversation",
            "3",
            "--root",
            "/repo",
        ]) else {
            panic!("bench-events");
        };
        assert_eq!(
            options,
            bench_events::Options {
                function: "partoo".to_owned(),
                count: 100,
                stamp: "1234567".to_owned(),
                conversation: 3,
                first: 1,
                bytes: None,
                root: PathBuf::from("/repo"),
            }
        );
        assert_eq!(
            kind(&["bench-events", "partoo", "--stamp", "1"]),
            ErrorKind::MissingRequiredArgument
        );
    }
}
