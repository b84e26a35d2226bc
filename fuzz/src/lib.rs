//! The fuzz targets' checks. They live in `shared/tests/support/fuzz_checks.rs`, where
//! `shared/tests/fuzz_regressions.rs` runs the same checks on every saved input, so a crash found
//! here is reproduced there by a plain `cargo test`.

#[path = "../../shared/tests/support/fuzz_checks.rs"]
mod fuzz_checks;

pub use fuzz_checks::*;
