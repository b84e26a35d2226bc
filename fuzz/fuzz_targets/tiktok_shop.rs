//! Arbitrary bytes as a TikTok Shop body, correctly signed: verify → parse → normalize → store
//! through the real handler and the parser directly (see `check_body` for every invariant).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ingest_fuzz::check_body(ingest::Provider::TiktokShop, data);
});
