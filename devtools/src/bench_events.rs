//! `bench-events`: signed API Gateway HTTP API (payload 2.0) events for the bench harness
//! (bench/harness.py), each a message never sent before, one compact JSON document per line.
//!
//! Everything comes from the test kit, so the bench signs as the tests, the sample events and
//! the fuzzers do, with `local.env`'s secrets: the body is the provider's
//! [`Samples::message`](ingest::testkit::Samples::message), its text grown to the size of the
//! provider's committed text sample (`events/bodies/<function>/<text_sample>`, as the harness
//! used before and as the criterion benches grow theirs), and the event is
//! [`sample_event`], signed with [`Samples::sign_lasting`](ingest::testkit::Samples::sign_lasting)
//! so that it stays valid however long a slow (callgrind) run takes to deliver it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use ingest::testkit::events::sample_event;
use ingest::ProviderId;
use serde_json::Value;

use crate::error::{Context, Error, Result};

/// A customer's words, with accents and an emoji, as the criterion benches grow their texts.
const SENTENCE: &str = "Bonjour ! La doudoune est-elle disponible en taille M ? Merci 😊 ";

/// The longest stamp: with the six conversation digits, a conversation id stays within a u64
/// (Partoo's conversation ids are numbers).
const MAX_STAMP_DIGITS: usize = 12;

/// `bench-events`' arguments.
#[derive(Debug, PartialEq, Eq, clap::Args)]
pub struct Options {
    /// The provider's function
    pub function: String,
    /// How many events
    #[arg(long, value_name = "COUNT")]
    pub count: u64,
    /// Digits unique to one bench run, at the head of every conversation id (1 to 12)
    #[arg(long, value_name = "STAMP", value_parser = stamp)]
    pub stamp: String,
    /// The conversation's number, below 1000000 (its six digits follow the stamp)
    #[arg(
        long,
        value_name = "CONVERSATION",
        default_value_t = 1,
        value_parser = clap::value_parser!(u64).range(..1_000_000)
    )]
    pub conversation: u64,
    /// The number of the first message (messages are <FIRST>, <FIRST> + 1, ...)
    #[arg(
        long,
        value_name = "FIRST",
        default_value_t = 1,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub first: u64,
    /// The body size to grow to, in bytes; by default the committed text sample's size
    #[arg(long, value_name = "SIZE")]
    pub bytes: Option<usize>,
    /// The repository root, where the committed text samples are
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub root: PathBuf,
}

/// `--stamp`: 1 to [`MAX_STAMP_DIGITS`] digits.
fn stamp(text: &str) -> Result<String, String> {
    if (1..=MAX_STAMP_DIGITS).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit()) {
        Ok(text.to_owned())
    } else {
        Err(format!("must be 1 to {MAX_STAMP_DIGITS} digits"))
    }
}

/// The conversation every event of one call belongs to: the stamp, then six digits.
pub fn conversation_id(stamp: &str, conversation: u64) -> String {
    format!("{stamp}{conversation:06}")
}

/// The size of the provider's committed text sample, which bench bodies are grown to.
pub fn sample_size(root: &Path, id: ProviderId) -> Result<usize> {
    let path = root
        .join("events/bodies")
        .join(id.function())
        .join(id.samples().shape().text_sample);
    let metadata = std::fs::metadata(&path).with_context(|| {
        format!(
            "cannot read {} (run from the repository root or pass --root)",
            path.display()
        )
    })?;
    Ok(metadata.len() as usize)
}

/// The text that grows message `n` of `conversation` to `size` bytes (compact JSON): whole
/// sentences, then ASCII letters (one byte in every layer of escaping) up to the size. A body
/// that is already larger keeps an empty text.
pub fn grown_text(id: ProviderId, conversation: &str, n: u64, size: usize) -> String {
    let samples = id.samples();
    let render = |text: &str| {
        let mut message = samples.message(conversation, n, "");
        samples.set_text(&mut message, text);
        serde_json::to_vec(&message)
            .expect("a JSON value serializes")
            .len()
    };
    let mut text = String::new();
    while render(&format!("{text}{SENTENCE}")) <= size {
        text.push_str(SENTENCE);
    }
    while render(&text) < size {
        text.push('x');
    }
    text
}

/// Message `n` of `conversation` saying `text`, as the provider sends it: compact JSON.
pub fn body(id: ProviderId, conversation: &str, n: u64, text: &str) -> String {
    let samples = id.samples();
    let mut message: Value = samples.message(conversation, n, "");
    samples.set_text(&mut message, text);
    serde_json::to_string(&message).expect("a JSON value serializes")
}

/// The signed event carrying message `n` of `conversation`, as one line of compact JSON.
pub fn event(id: ProviderId, conversation: &str, n: u64, text: &str) -> String {
    let body = body(id, conversation, n, text);
    let name = format!("bench-{conversation}-{n}");
    let pretty = sample_event(id, &name, &body, &BTreeMap::new());
    let value: Value = serde_json::from_str(&pretty).expect("a sample event is JSON");
    serde_json::to_string(&value).expect("a JSON value serializes")
}

/// Writes the events `options` asks for to `out`, one per line.
pub fn write_events(options: &Options, out: &mut impl Write) -> Result<()> {
    let id = ProviderId::find(&options.function).ok_or_else(|| {
        Error::msg(format!(
            "no provider has the function {:?} (see ingest-dev providers)",
            options.function
        ))
    })?;
    let size = match options.bytes {
        Some(bytes) => bytes,
        None => sample_size(&options.root, id)?,
    };
    let conversation = conversation_id(&options.stamp, options.conversation);
    // One text for the whole batch, measured on its first message: later ones differ only by a
    // few digits in their ids and times.
    let text = grown_text(id, &conversation, options.first, size);
    for n in options.first..options.first + options.count {
        writeln!(out, "{}", event(id, &conversation, n, &text)).context("cannot write an event")?;
    }
    out.flush().context("cannot write an event")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest::request::Request;
    use ingest::testkit::{any_handler, HandlerSpec, MemoryStore};
    use std::collections::BTreeSet;
    use std::sync::Arc;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    /// `ingest-dev bench-events <args>`, parsed as the command line does.
    fn parse(args: &[&str]) -> Result<Options, clap::Error> {
        match crate::cli::parse(&[&["bench-events"], args].concat())? {
            Some(crate::cli::Command::BenchEvents(options)) => Ok(options),
            other => panic!("not bench-events: {other:?}"),
        }
    }

    #[test]
    fn parses_options() {
        let options = parse(&["partoo", "--count", "3", "--stamp", "42"]).unwrap();
        assert_eq!(options.function, "partoo");
        assert_eq!(
            (options.count, options.conversation, options.first),
            (3, 1, 1)
        );
        assert_eq!(options.bytes, None);
        let options = parse(&[
            "callbell",
            "--count",
            "1",
            "--stamp",
            "7",
            "--conversation",
            "9",
            "--first",
            "5",
            "--bytes",
            "2048",
            "--root",
            "/r",
        ])
        .unwrap();
        assert_eq!((options.conversation, options.first), (9, 5));
        assert_eq!(options.bytes, Some(2048));
        assert_eq!(options.root, PathBuf::from("/r"));
        for bad in [
            &["--count", "1"][..],
            &["partoo", "--stamp", "1"],
            &["partoo", "--count", "1"],
            &["partoo", "--count", "1", "--stamp", "12a"],
            &["partoo", "--count", "1", "--stamp", "1234567890123"],
            &["partoo", "--count", "x", "--stamp", "1"],
            &["partoo", "--count", "1", "--stamp", "1", "--first", "0"],
            &[
                "partoo",
                "--count",
                "1",
                "--stamp",
                "1",
                "--conversation",
                "1000000",
            ],
            &["partoo", "--count", "1", "--stamp", "1", "--bogus", "1"],
            &["partoo", "--count"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bodies_grow_to_the_committed_samples_size() {
        for id in ProviderId::ALL {
            let size = sample_size(&root(), *id).unwrap();
            let conversation = conversation_id("1234567", 1);
            let text = grown_text(*id, &conversation, 1, size);
            assert!(text.contains(SENTENCE), "{id}: the text did not grow");
            assert_eq!(body(*id, &conversation, 1, &text).len(), size, "{id}");
            // Later messages of the batch stay within a few bytes of it.
            let later = body(*id, &conversation, 123_456, &text).len();
            assert!(later.abs_diff(size) <= 16, "{id}: {later} against {size}");
        }
    }

    /// Every event is a new message its function stores, each one a different message.
    #[tokio::test]
    async fn every_event_is_a_new_stored_message() {
        for id in ProviderId::ALL {
            let options = parse(&[
                id.function(),
                "--count",
                "5",
                "--stamp",
                "1234567",
                "--conversation",
                "3",
                "--root",
                root().to_str().unwrap(),
            ])
            .unwrap();
            let mut out = Vec::new();
            write_events(&options, &mut out).unwrap();
            let lines: Vec<&str> = std::str::from_utf8(&out).unwrap().lines().collect();
            assert_eq!(lines.len(), 5, "{id}");
            assert_eq!(lines.iter().collect::<BTreeSet<_>>().len(), 5, "{id}");

            let store = Arc::new(MemoryStore::new());
            let handler = any_handler(*id, HandlerSpec::new(Arc::clone(&store), "messages"));
            for line in &lines {
                let request = Request::from_event(line.as_bytes()).unwrap();
                assert!(
                    std::str::from_utf8(request.body())
                        .unwrap()
                        .contains("1234567000003"),
                    "{id}: the conversation id carries the stamp"
                );
                let response = handler.handle_event(line.as_bytes()).await;
                let answer: Value = serde_json::from_str(&response.body).unwrap();
                assert_eq!(
                    (response.status_code, answer["status"].as_str()),
                    (200, Some("stored")),
                    "{id}: {answer}"
                );
            }
        }
    }

    #[test]
    fn an_unknown_function_is_an_error() {
        let options = parse(&["nope", "--count", "1", "--stamp", "1"]).unwrap();
        assert!(write_events(&options, &mut Vec::new()).is_err());
    }
}
