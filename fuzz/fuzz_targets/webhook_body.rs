//! `<provider>\n<body>`: arbitrary bytes as that provider's body, authentic: verify → read →
//! normalize → store through the real handler, and the reader called directly, must agree
//! (see `ingest::testkit::fuzz::check_body`). One target covers every registered provider.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ingest::testkit::fuzz::check_webhook_body(data);
});
