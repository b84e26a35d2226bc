//! Arbitrary bytes as a Lambda event: reading it and every provider's handler must answer,
//! never panic (see `ingest::testkit::fuzz::check_event` for every invariant).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ingest::testkit::fuzz::check_event(data);
});
