//! Micro-benchmarks of the CPU work in front of DynamoDB, each next to its floor:
//!
//! - `parse/<provider>/<size>`: `providers::parse` (UTF-8 check, payload types, validation and
//!   the mapping into the normalized message) beside a bare `serde_json` pass over the same bytes
//!   into `IgnoredAny`, which is as little as any JSON reader can do;
//! - `verify/<provider>/<size>`: `Verifier::verify` (header lookup and decoding, the check,
//!   constant-time comparison) beside the signature primitive alone over the same bytes.
//!
//! The events are each provider's own text-message sample, compact, with the text grown to
//! exactly 1 KiB (Partoo: 2 KiB) and 4 KiB, the sizes of real customer messages. `bash scripts/bench.sh` runs these with the
//! rest and writes the figures into docs/PERFORMANCE.md; `cargo bench -p ingest` runs them alone.

use std::hint::black_box;
use std::path::Path;

use base64::Engine as _;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ed25519_dalek::{Signature, Signer as _, SigningKey};
use hmac::{KeyInit as _, Mac as _};
use ingest::message::Provider;
use ingest::providers;
use ingest::request::Request;
use ingest::verify::Verifier;
use ingest::Settings;
use serde_json::Value;
use sha2::Sha256;

type HmacSha256 = hmac::Hmac<Sha256>;

/// Each provider's sample grown to these sizes; Partoo's smallest message event is already
/// ~1.3 KiB (it carries the whole conversation), so its small size is 2 KiB.
fn sizes(provider: Provider) -> [(usize, &'static str); 2] {
    match provider {
        Provider::Partoo => [(2048, "2KiB"), (4096, "4KiB")],
        _ => [(1024, "1KiB"), (4096, "4KiB")],
    }
}
const TIKTOK_APP_KEY: &str = "bench-app-key";
const TIKTOK_APP_SECRET: &str = "bench-app-secret";
const CALLBELL_SECRET: &str = "bench-callbell-signing-secret";
/// RFC 8032 test 1: a published test key.
const PARTOO_SECRET_KEY: [u8; 32] = [
    0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
    0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
];
const CALLBELL_TIMESTAMP: i64 = 1_763_643_605;

/// A customer's words, with accents and an emoji, as real messages have them.
const SENTENCE: &str = "Bonjour ! La doudoune est-elle disponible en taille M ? Merci 😊 ";

fn sample(provider: &str, name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events/bodies")
        .join(provider)
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("samples are JSON")
}

/// Serializes `template` compactly, as the providers send it, with its text set by `set_text`
/// to make exactly `size` bytes.
fn grow(template: &Value, size: usize, set_text: impl Fn(&mut Value, &str)) -> Vec<u8> {
    let render = |text: &str| {
        let mut doc = template.clone();
        set_text(&mut doc, text);
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

fn tiktok_body(size: usize) -> Vec<u8> {
    grow(&sample("tiktok-shop", "text.json"), size, |doc, text| {
        // TikTok nests the message as a JSON document inside a string.
        doc["data"]["content"] = Value::String(serde_json::json!({ "content": text }).to_string());
    })
}

fn partoo_body(size: usize) -> Vec<u8> {
    grow(
        &sample("partoo", "whatsapp-consumer-text.json"),
        size,
        |doc, text| {
            doc["payload"]["message"]["content"] = Value::String(text.into());
        },
    )
}

fn callbell_body(size: usize) -> Vec<u8> {
    grow(
        &sample("callbell", "whatsapp-text.json"),
        size,
        |doc, text| {
            doc["payload"]["text"] = Value::String(text.into());
        },
    )
}

fn tiktok_tag(body: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(TIKTOK_APP_SECRET.as_bytes()).unwrap();
    mac.update(TIKTOK_APP_KEY.as_bytes());
    mac.update(body);
    mac.finalize().into_bytes().into()
}

fn callbell_tag(body: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(CALLBELL_SECRET.as_bytes()).unwrap();
    mac.update(CALLBELL_TIMESTAMP.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// The bare signature check over a body, as the bench's baseline.
type Primitive = Box<dyn Fn(&[u8]) -> bool>;

/// One provider's benchmark inputs: a signed request and what its primitive needs.
struct Case {
    provider: Provider,
    verifier: Verifier,
    request: Request,
    primitive: Primitive,
}

fn case(provider: Provider, body: Vec<u8>) -> Case {
    let partoo_key = SigningKey::from_bytes(&PARTOO_SECRET_KEY);
    let env = [
        ("TABLE_NAME", "messages".to_string()),
        ("TIKTOK_SHOP_APP_KEY", TIKTOK_APP_KEY.to_string()),
        ("TIKTOK_SHOP_APP_SECRET", TIKTOK_APP_SECRET.to_string()),
        (
            "PARTOO_PUBLIC_KEYS",
            hex::encode(partoo_key.verifying_key().to_bytes()),
        ),
        ("CALLBELL_WEBHOOK_SECRET", CALLBELL_SECRET.to_string()),
    ];
    let settings = Settings::from_lookup(provider, |name| {
        env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
    })
    .expect("bench settings are complete");
    let (request, primitive): (Request, Primitive) = match provider {
        Provider::TiktokShop => {
            let tag = tiktok_tag(&body);
            let header = hex::encode(tag);
            (
                Request::new(&[("authorization", &header)], &[], body),
                Box::new(move |body: &[u8]| {
                    let mut mac = HmacSha256::new_from_slice(TIKTOK_APP_SECRET.as_bytes()).unwrap();
                    mac.update(TIKTOK_APP_KEY.as_bytes());
                    mac.update(body);
                    mac.verify_slice(&tag).is_ok()
                }),
            )
        }
        Provider::Partoo => {
            let signature = partoo_key.sign(&body);
            let header = base64::engine::general_purpose::STANDARD.encode(signature.to_bytes());
            let key = partoo_key.verifying_key();
            let signature = Signature::from_bytes(&signature.to_bytes());
            (
                Request::new(&[("x-partoo-signature-v1", &header)], &[], body),
                // verify_strict, as the function uses: the same curve work as verify, plus
                // rejecting weak keys and non-canonical points.
                Box::new(move |body: &[u8]| key.verify_strict(body, &signature).is_ok()),
            )
        }
        Provider::Callbell => {
            let tag = callbell_tag(&body);
            let header = format!("t={CALLBELL_TIMESTAMP},v1={}", hex::encode(tag));
            (
                Request::new(&[("x-callbell-signature", &header)], &[], body),
                Box::new(move |body: &[u8]| {
                    let mut mac = HmacSha256::new_from_slice(CALLBELL_SECRET.as_bytes()).unwrap();
                    mac.update(CALLBELL_TIMESTAMP.to_string().as_bytes());
                    mac.update(b".");
                    mac.update(body);
                    mac.verify_slice(&tag).is_ok()
                }),
            )
        }
    };
    Case {
        provider,
        verifier: settings.verifier,
        request,
        primitive,
    }
}

fn bodies(provider: Provider, size: usize) -> Vec<u8> {
    match provider {
        Provider::TiktokShop => tiktok_body(size),
        Provider::Partoo => partoo_body(size),
        Provider::Callbell => callbell_body(size),
    }
}

fn benches(c: &mut Criterion) {
    for provider in Provider::ALL {
        for (size, size_name) in sizes(provider) {
            let case = case(provider, bodies(provider, size));
            let body = case.request.body().to_vec();
            let verified = case
                .verifier
                .verify(&case.request, CALLBELL_TIMESTAMP)
                .expect("the bench request is authentic");
            // The figures are only worth reading if the event is a stored message.
            match providers::parse(case.provider, &verified) {
                Ok(ingest::inbound::Inbound::Message(_)) => {}
                other => panic!("{provider:?} {size_name}: not a message: {other:?}"),
            }
            assert!((case.primitive)(&body));

            let mut group = c.benchmark_group(format!("parse/{}/{size_name}", provider.as_str()));
            group.throughput(Throughput::Bytes(size as u64));
            group.bench_function("floor: serde_json IgnoredAny", |b| {
                b.iter(|| {
                    serde_json::from_slice::<serde::de::IgnoredAny>(black_box(&body)).unwrap()
                })
            });
            group.bench_function("providers::parse", |b| {
                b.iter(|| providers::parse(case.provider, black_box(&verified)).unwrap())
            });
            group.finish();

            let mut group = c.benchmark_group(format!("verify/{}/{size_name}", provider.as_str()));
            group.throughput(Throughput::Bytes(size as u64));
            if provider == Provider::Partoo {
                // ~60 µs per call: fewer iterations in the default 5 s, so more load noise.
                group.measurement_time(std::time::Duration::from_secs(12));
            }
            let primitive_name = match provider {
                Provider::Partoo => "primitive: Ed25519 verify_strict",
                _ => "primitive: HMAC-SHA256 verify",
            };
            group.bench_function(primitive_name, |b| {
                b.iter(|| assert!((case.primitive)(black_box(&body))))
            });
            group.bench_function("Verifier::verify", |b| {
                b.iter(|| {
                    case.verifier
                        .verify(black_box(&case.request), CALLBELL_TIMESTAMP)
                        .unwrap()
                })
            });
            group.finish();
        }
    }
}

criterion_group!(pipeline, benches);
criterion_main!(pipeline);
