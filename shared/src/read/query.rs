//! What a read asks for, as the read API's routes take it and storage answers it: the list's
//! filters, the order of a conversation's messages, the key a customer is found by.

/// The conversation list's filters, each optional, all of them combined.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filters {
    pub provider: Option<String>,
    pub account_id: Option<String>,
    pub channel: Option<String>,
    pub awaiting_reply: Option<bool>,
}

/// The order of a conversation's messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// Newest first (the default).
    Desc,
    Asc,
}

impl Order {
    pub fn as_str(self) -> &'static str {
        match self {
            Order::Desc => "desc",
            Order::Asc => "asc",
        }
    }
}

/// A customer, by the key the summaries carry (digits of a phone, an address in lower case).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Customer {
    Phone(String),
    Email(String),
}
