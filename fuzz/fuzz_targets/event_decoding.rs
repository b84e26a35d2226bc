//! Arbitrary bytes as a Lambda event: `Request::from_event` and the three handlers must answer,
//! never panic (see `check_event` for every invariant).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ingest_fuzz::check_event(data);
});
