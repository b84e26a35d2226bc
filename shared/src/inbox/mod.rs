//! The `inbox` function: the read API over the table (docs/CONTRACT.md, "The read API (3)").
//!
//! - [`route`]: which read a request asks for, checked whole before anything is read;
//! - [`error`]: what can be wrong with it, as HTTP answers.

pub mod error;
pub mod route;
