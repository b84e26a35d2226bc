//! Every saved fuzz input, through the same check as its fuzz target: the files under
//! `fuzz/regressions/<target>/` (seeds that exercise each path, and every crash the fuzzers
//! found, minimized). No fuzzing here, and no DynamoDB: the checks use the memory store.
//! To add a crash: `cargo fuzz tmin <target> <artifact>`, then copy the minimized file into
//! `fuzz/regressions/<target>/` (see fuzz/README.md).

mod support;

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use support::fuzz_checks::{check, TARGETS};

fn regressions_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions")
}

fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = regressions_dir().join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// Runs every input of `target`, reporting all that fail rather than only the first.
fn run(target: &str) {
    let files = inputs(target);
    assert!(
        !files.is_empty(),
        "fuzz/regressions/{target}/ holds no input: the test would check nothing"
    );
    let mut failed = Vec::new();
    // How many inputs got each answer: the inputs must reach more than one path.
    let mut answers: BTreeMap<String, usize> = BTreeMap::new();
    for path in &files {
        let data = std::fs::read(path).unwrap();
        match catch_unwind(AssertUnwindSafe(|| check(target, &data))) {
            Ok(answer) => *answers.entry(answer).or_default() += 1,
            Err(_) => failed.push(path.file_name().unwrap().to_string_lossy().into_owned()),
        }
    }
    println!("fuzz/regressions/{target}: {} inputs checked", files.len());
    for (answer, count) in &answers {
        println!("  {count:>3} × {answer}");
    }
    assert!(
        failed.is_empty(),
        "{} of {} inputs of fuzz/regressions/{target}/ fail its check (panics above): {failed:?}",
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
    for (target, body, expected) in [
        ("callbell", padded(LIMIT), "400 error"),
        ("callbell", padded(LIMIT + 1), "413 error"),
        ("tiktok_shop", padded(LIMIT + 1), "413 error"),
        ("partoo", padded(LIMIT + 1), "413 error"),
    ] {
        assert_eq!(
            check(target, body.as_bytes()),
            expected,
            "{target}, {} bytes",
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
    let too_large = "tiktok_shop: 413 error, partoo: 413 error, callbell: 413 error";
    let unsigned = "tiktok_shop: 401 error, partoo: 401 error, callbell: 401 error";
    for (event, expected) in [
        (event(&"a".repeat(LIMIT), false), unsigned),
        (event(&"a".repeat(LIMIT + 1), false), too_large),
        (event(&encode(LIMIT), true), unsigned),
        (event(&encode(LIMIT + 1), true), too_large),
        (event(&(encode(LIMIT) + "\n"), true), unsigned),
    ] {
        assert_eq!(check("event_decoding", event.as_bytes()), expected);
    }
}

#[test]
fn every_target_has_a_regressions_directory() {
    for target in TARGETS {
        assert!(
            regressions_dir().join(target).is_dir(),
            "fuzz/regressions/{target}/ is missing"
        );
    }
}

#[test]
fn event_decoding_regressions() {
    run("event_decoding");
}

#[test]
fn tiktok_shop_regressions() {
    run("tiktok_shop");
}

#[test]
fn partoo_regressions() {
    run("partoo");
}

#[test]
fn callbell_regressions() {
    run("callbell");
}
