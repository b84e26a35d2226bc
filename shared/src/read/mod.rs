//! The read side: what the `inbox` function answers and the projector keeps up to date.
//!
//! - [`summary`]: one summary item per conversation, and the fold of message images into it;
//! - [`customer`]: the phone and address keys that find a customer's conversations;
//! - [`cursor`]: page cursors bound to the request they continue;
//! - [`listing`]: one page of the conversation list from the activity index's shards;
//! - [`query`]: what a read asks for (the list's filters, the messages' order, a customer's key).

pub mod cursor;
pub mod customer;
pub mod listing;
pub mod query;
pub mod summary;
