//! Micro-benchmarks of the CPU work in front of DynamoDB, each next to its floor:
//!
//! - `parse/<provider>/<size>`: `Provider::read` (UTF-8 check, payload types, validation and
//!   the mapping into the normalized message) beside a bare `serde_json` pass over the same bytes
//!   into `IgnoredAny`, which is as little as any JSON reader can do;
//! - `verify/<provider>/<size>`: `verify` (header lookup and decoding, the check,
//!   constant-time comparison) beside the signature primitive alone over the same bytes.
//!
//! The events are each provider's own text-message sample, compact, with the text grown to
//! exactly 1 KiB (Partoo: 2 KiB) and 4 KiB, the sizes of real customer messages. `bash scripts/bench.sh` runs these with the
//! rest and writes the figures into docs/PERFORMANCE.md; `cargo bench -p ingest` runs them alone.

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ingest::providers::{Provider, ProviderId, ProviderVisitor};
use ingest::testkit::{settings, NOW};
use ingest::verify::verify;
use ingest::webhook::Webhook;
use serde_json::Value;

/// A customer's words, with accents and an emoji, as real messages have them.
const SENTENCE: &str = "Bonjour ! La doudoune est-elle disponible en taille M ? Merci 😊 ";

/// The provider's text-message sample from `events/bodies/<function>/`.
fn sample(id: ProviderId) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events/bodies")
        .join(id.function())
        .join(id.samples().shape().text_sample);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("samples are JSON")
}

/// The sample serialized compactly, as the providers send it, with its text grown to make
/// exactly `size` bytes.
fn grow(id: ProviderId, template: &Value, size: usize) -> Vec<u8> {
    let render = |text: &str| {
        let mut doc = template.clone();
        id.samples().set_text(&mut doc, text);
        serde_json::to_vec(&doc).expect("serializable")
    };
    let mut text = String::new();
    while render(&format!("{text}{SENTENCE}")).len() <= size {
        text.push_str(SENTENCE);
    }
    // ASCII letters are one byte in every layer of escaping: pad to the exact size.
    while render(&text).len() < size {
        text.push('x');
    }
    let body = render(&text);
    assert_eq!(
        body.len(),
        size,
        "could not grow the sample to {size} bytes"
    );
    body
}

/// 1 KiB (or 2 KiB, where the sample with a short text is already over 1 KiB: Partoo's
/// carries the whole conversation) and 4 KiB, the sizes of real customer messages.
fn sizes(template: &Value) -> [(usize, &'static str); 2] {
    let smallest = serde_json::to_vec(template).expect("serializable").len();
    if smallest < 1024 - SENTENCE.len() {
        [(1024, "1KiB"), (4096, "4KiB")]
    } else {
        [(2048, "2KiB"), (4096, "4KiB")]
    }
}

struct Benches<'c>(&'c mut Criterion);

impl ProviderVisitor for Benches<'_> {
    type Output = ();
    fn visit<P: Provider>(self) {
        let c = self.0;
        let id = ProviderId::of::<P>();
        let template = sample(id);
        let verifier = settings::<P>("messages").verifier;
        for (size, size_name) in sizes(&template) {
            let body = grow(id, &template, size);
            let request = id.samples().sign(&body, NOW).request(&body);
            let verified =
                verify(&verifier, &request, NOW).expect("the bench request is authentic");
            // The figures are only worth reading if the event is a stored message.
            match P::read(&verified) {
                Ok(Webhook::NewMessage(_)) => {}
                other => panic!("{id} {size_name}: not a message: {other:?}"),
            }
            let primitive = id.samples().primitive(&body);
            assert!(primitive(&body));

            let mut group = c.benchmark_group(format!("parse/{id}/{size_name}"));
            group.throughput(Throughput::Bytes(size as u64));
            group.bench_function("floor: serde_json IgnoredAny", |b| {
                b.iter(|| {
                    serde_json::from_slice::<serde::de::IgnoredAny>(black_box(&body)).unwrap()
                })
            });
            let text = std::str::from_utf8(&body).expect("UTF-8");
            group.bench_function("part: wire::check_unique_keys", |b| {
                b.iter(|| ingest::wire::check_unique_keys(black_box(text)).unwrap())
            });
            group.bench_function("Provider::read", |b| {
                b.iter(|| P::read(black_box(&verified)).unwrap())
            });
            group.finish();

            let mut group = c.benchmark_group(format!("verify/{id}/{size_name}"));
            group.throughput(Throughput::Bytes(size as u64));
            let (primitive_name, slow) = id.samples().primitive_name();
            if slow {
                // ~60 µs per call: fewer iterations in the default 5 s, so more load noise.
                group.measurement_time(std::time::Duration::from_secs(12));
            }
            group.bench_function(primitive_name, |b| {
                b.iter(|| assert!(primitive(black_box(&body))))
            });
            group.bench_function("Verifier::verify", |b| {
                b.iter(|| verify(&verifier, black_box(&request), NOW).unwrap())
            });
            group.finish();
        }
    }
}

fn benches(c: &mut Criterion) {
    for id in ProviderId::ALL {
        id.visit(Benches(c));
    }
}

criterion_group!(pipeline, benches);
criterion_main!(pipeline);
