//! `ingest-dev`: the developer's command line for running the ingest functions locally.
//!
//! Not deployed. See `ingest-dev help`.

mod backfill;
mod bench_events;
mod cli;
mod error;
mod events;
mod follow;
mod inbox;
mod media;
mod queue;
mod smoke;
mod table;
mod timeline;

use std::process::ExitCode;

use clap::{CommandFactory as _, Parser as _};
use cli::{Cli, Command};
use error::Result;

/// The commands' AWS configuration: aws-config's whole provider chain (an operator's profile
/// or SSO, which the functions leave out), over the crate's HTTPS client.
pub(crate) async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(ingest::aws::https_client())
        .load()
        .await
}

pub(crate) async fn dynamodb_client() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&sdk_config().await)
}

pub(crate) async fn sqs_client() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&sdk_config().await)
}

async fn run(command: Command) -> Result<ExitCode> {
    match command {
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
        } => queue::create(&sqs_client().await, &name, max_receives, visibility_seconds).await?,
        Command::Replay {
            table,
            provider,
            queue_url,
            dry_run,
        } => {
            queue::run_replay(
                dynamodb_client().await,
                &table,
                provider,
                queue_url,
                dry_run,
            )
            .await?
        }
        Command::Backfill {
            table,
            segments,
            page_size,
            resume,
            dry_run,
        } => {
            let options = backfill::Options {
                table: &table,
                segments,
                page_size,
                resume: resume.as_deref(),
                dry_run,
            };
            if !backfill::run(&options).await? {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Inbox(options) => inbox::run(options).await?,
        Command::Smoke(options) => {
            if !smoke::run(options).await? {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Erase {
            table,
            bucket,
            provider,
            conversation,
            phone,
            email,
            dry_run,
        } => {
            let subject = match (provider, conversation, phone, email) {
                (Some(provider), Some(conversation_id), None, None) => {
                    ingest::erase::Subject::Conversation {
                        provider,
                        conversation_id,
                    }
                }
                (None, None, Some(phone), None) => ingest::erase::Subject::Phone(phone),
                (None, None, None, Some(email)) => ingest::erase::Subject::Email(email),
                _ => unreachable!("clap's group and requirements allow nothing else"),
            };
            let eraser = ingest::erase::Eraser {
                dynamodb: dynamodb_client().await,
                table,
                media: bucket.map(|bucket| (ingest::aws::s3_client(), bucket)),
                dry_run,
            };
            let report = eraser
                .erase(&subject)
                .await
                .map_err(|e| error::Error::msg(format!("erase: {e} (run it again to finish)")))?;
            if dry_run {
                println!("dry run: nothing removed; would remove:");
            }
            println!("{report}");
        }
        Command::CreateBucket { name } => media::create_bucket(&name).await?,
        Command::MediaFilter => println!("{}", ingest::media::filter::pattern()),
        Command::ProjectorFilter => println!("{}", ingest::projector::filter::pattern()),
        Command::TableDefinition => println!("{}", table::definition()),
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
    // A usage error is printed with the usage and exits with 2; the help goes to stdout.
    let Some(command) = Cli::parse().command else {
        return match Cli::command().print_long_help() {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        };
    };
    run(command).await.unwrap_or_else(|err| {
        eprintln!("ingest-dev: error: {err}");
        ExitCode::FAILURE
    })
}
