//! Arbitrary bytes as a Partoo body, correctly signed (Ed25519): verify → parse → normalize →
//! store through the real handler and the parser directly (see `check_body`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ingest_fuzz::check_body(ingest::Provider::Partoo, data);
});
