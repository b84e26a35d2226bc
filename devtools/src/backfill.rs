//! `ingest-dev backfill`: the command line around `ingest::backfill` — its client, its resume
//! tokens on stderr after each page, its counts on stdout.

use std::ops::ControlFlow;

use aws_config::retry::RetryConfig;
use ingest::backfill::{Backfill, ResumeToken};

use crate::error::{Error, Result};

/// Attempts of each request: a Scan across the table and a burst of summary writes may be
/// throttled for a while on an on-demand table, and the SDK's 3 would give up too soon.
const ATTEMPTS: u32 = 10;

pub struct Options<'a> {
    pub table: &'a str,
    pub segments: Option<u32>,
    pub page_size: Option<i32>,
    pub resume: Option<&'a str>,
    pub dry_run: bool,
}

/// Runs the backfill; `false` when some message items could not be read (named on stderr).
pub async fn run(options: &Options<'_>) -> Result<bool> {
    let from = ResumeToken::start_or_resume(options.table, options.segments, options.resume)
        .map_err(|e| Error::msg(format!("backfill: {e}")))?;
    let config = aws_sdk_dynamodb::config::Builder::from(&crate::sdk_config().await)
        .retry_config(RetryConfig::standard().with_max_attempts(ATTEMPTS))
        .build();
    let backfill = Backfill {
        dynamodb: aws_sdk_dynamodb::Client::from_conf(config),
        table: options.table.to_string(),
        dry_run: options.dry_run,
        page_size: options.page_size,
    };
    let outcome = backfill
        .run(from, |progress| {
            eprintln!(
                "backfill: {} messages read; resume token: {}",
                progress.report.messages,
                progress.resume.encode()
            );
            ControlFlow::Continue(())
        })
        .await;
    let report = match outcome {
        Ok((report, _)) => report,
        Err(stopped) => {
            for failure in &stopped.report.failures {
                eprintln!("backfill: {failure}");
            }
            println!("{}", stopped.report);
            return Err(Error::msg(format!(
                "backfill: {} (resume with --resume {})",
                stopped.error,
                stopped.resume.encode()
            )));
        }
    };
    for failure in &report.failures {
        eprintln!("backfill: {failure}");
    }
    if options.dry_run {
        println!("dry run: nothing written; would write:");
    }
    println!("{report}");
    Ok(report.failed == 0)
}
