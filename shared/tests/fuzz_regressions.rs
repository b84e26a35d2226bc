//! Every saved fuzz input, through the same check as its fuzz target: the files under
//! `fuzz/regressions/event_decoding/` (Lambda events) and `fuzz/regressions/<provider>/` (one
//! provider's bodies, for `webhook_body`): seeds that exercise each path, and every crash the
//! fuzzers found, minimized. No fuzzing here, and no DynamoDB: the checks use the memory store.
//! To add a crash, see fuzz/README.md.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use ingest::testkit::fuzz::{check_body, check_event};
use ingest::ProviderId;

fn regressions_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions")
}

fn inputs(dir: &str) -> Vec<PathBuf> {
    let dir = regressions_dir().join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// Runs every input of `fuzz/regressions/<dir>/` through `check`, reporting all that fail
/// rather than only the first.
fn run(dir: &str, check: impl Fn(&[u8]) -> String) {
    let files = inputs(dir);
    assert!(
        !files.is_empty(),
        "fuzz/regressions/{dir}/ holds no input: the test would check nothing"
    );
    let mut failed = Vec::new();
    // How many inputs got each answer: the inputs must reach more than one path.
    let mut answers: BTreeMap<String, usize> = BTreeMap::new();
    for path in &files {
        let data = std::fs::read(path).unwrap();
        match catch_unwind(AssertUnwindSafe(|| check(&data))) {
            Ok(answer) => *answers.entry(answer).or_default() += 1,
            Err(_) => failed.push(path.file_name().unwrap().to_string_lossy().into_owned()),
        }
    }
    println!("fuzz/regressions/{dir}: {} inputs checked", files.len());
    for (answer, count) in &answers {
        println!("  {count:>3} × {answer}");
    }
    assert!(
        failed.is_empty(),
        "{} of {} inputs of fuzz/regressions/{dir}/ fail its check (panics above): {failed:?}",
        failed.len(),
        files.len()
    );
}

/// Inputs around the 128 KiB limit, made here rather than kept as files (and too big to be
/// seeds: they would raise libFuzzer's `max_len` for every input).
#[test]
fn bodies_around_the_size_limit() {
    const LIMIT: usize = 128 * 1024;
    let padded = |len: usize| {
        let head = r#"{"event":"message_created","pad":""#;
        let mut body = head.to_string() + &"a".repeat(len - head.len() - 2);
        body.push_str(r#""}"#);
        assert_eq!(body.len(), len);
        body
    };
    for (id, body, expected) in [
        (ProviderId::Callbell, padded(LIMIT), "400 error"),
        (ProviderId::Callbell, padded(LIMIT + 1), "413 error"),
        (ProviderId::TiktokShop, padded(LIMIT + 1), "413 error"),
        (ProviderId::Partoo, padded(LIMIT + 1), "413 error"),
    ] {
        assert_eq!(
            check_body(id, body.as_bytes()),
            expected,
            "{id}, {} bytes",
            body.len()
        );
    }
    let event = |body: &str, base64: bool| {
        serde_json::json!({"version": "2.0", "body": body, "isBase64Encoded": base64}).to_string()
    };
    let encode = |n: usize| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(vec![b'a'; n])
    };
    let every = |answer: &str| {
        ProviderId::ALL
            .iter()
            .map(|id| format!("{id}: {answer}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (too_large, unsigned) = (&every("413 error"), &every("401 error"));
    for (event, expected) in [
        (event(&"a".repeat(LIMIT), false), unsigned),
        (event(&"a".repeat(LIMIT + 1), false), too_large),
        (event(&encode(LIMIT), true), unsigned),
        (event(&encode(LIMIT + 1), true), too_large),
        (event(&(encode(LIMIT) + "\n"), true), unsigned),
    ] {
        assert_eq!(&check_event(event.as_bytes()), expected);
    }
}

#[test]
fn event_decoding_regressions() {
    run("event_decoding", check_event);
}

/// Every provider has saved bodies, and they all pass `webhook_body`'s check.
#[test]
fn webhook_body_regressions() {
    for id in ProviderId::ALL.iter().copied() {
        run(id.name(), |body| check_body(id, body));
    }
}
