//! What an authentic request turns out to be, once its provider module has read it.

use crate::message::{Message, Provider};

/// The meaning of an authentic webhook.
#[derive(Clone, Debug, PartialEq)]
pub enum Inbound {
    /// A message to store once (contract row 8/9).
    Message(Box<Message>),
    /// A change to a message stored earlier (row 10–12).
    Update(Box<Update>),
    /// An authentic event that is not a message (row 4). The reason is snake_case.
    Ignored(&'static str),
    /// Callbell's periodic "are you there" call (row 5).
    ConnectionCheck,
}

/// A status or deletion change for a message, found through its id item.
#[derive(Clone, Debug, PartialEq)]
pub struct Update {
    pub provider: Provider,
    pub conversation_id: String,
    pub message_id: String,
    /// The new delivery status, lower case.
    pub status: Option<String>,
    /// The provider reports the message deleted.
    pub deleted: bool,
    /// What to do when the message was never stored.
    pub if_unknown: IfUnknown,
}

#[derive(Clone, Debug, PartialEq)]
pub enum IfUnknown {
    /// Partoo's update carries the whole message: store it as new (row 11).
    StoreAsNew(Box<Message>),
    /// Callbell's status update carries too little to be a message: ignore it (row 12).
    Ignore,
}

/// What an update changes on the stored message, given what it holds now.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Changes {
    pub status: Option<String>,
    pub deleted: bool,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.status.is_none() && !self.deleted
    }
}

impl Update {
    /// The changes to make to a message whose current `status` and `deleted` flag are given.
    /// A status never moves backwards, and a deletion is never undone.
    pub fn changes(&self, current_status: Option<&str>, currently_deleted: bool) -> Changes {
        let status = self
            .status
            .as_deref()
            .filter(|new| status_may_replace(self.provider, current_status, new))
            .map(str::to_string);
        Changes {
            status,
            deleted: self.deleted && !currently_deleted,
        }
    }
}

/// Position of a status in its provider's delivery order, and whether it is final.
fn status_rank(provider: Provider, status: &str) -> Option<(u8, bool)> {
    match (provider, status) {
        (Provider::Partoo, "sending") => Some((0, false)),
        (Provider::Partoo, "success" | "failed") => Some((1, true)),
        (Provider::Callbell, "enqueued") => Some((0, false)),
        (Provider::Callbell, "sent") => Some((1, false)),
        (Provider::Callbell, "delivered") => Some((2, false)),
        (Provider::Callbell, "read") => Some((3, false)),
        (Provider::Callbell, "failed" | "mismatch") => Some((4, true)),
        _ => None,
    }
}

/// Whether `new` may replace `current`: Callbell enqueued < sent < delivered < read, failed and
/// mismatch final; Partoo sending < success | failed. A status outside the known order replaces
/// anything that is not final, and anything replaces a status outside the order.
pub fn status_may_replace(provider: Provider, current: Option<&str>, new: &str) -> bool {
    let Some(current) = current else { return true };
    if current == new {
        return false;
    }
    match (status_rank(provider, current), status_rank(provider, new)) {
        (Some((_, true)), _) => false,
        (Some((c, false)), Some((n, _))) => n > c,
        (Some((_, false)), None) => true,
        (None, _) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callbell_statuses_only_move_forward() {
        let p = Provider::Callbell;
        assert!(status_may_replace(p, None, "sent"));
        assert!(status_may_replace(p, Some("sent"), "delivered"));
        assert!(status_may_replace(p, Some("delivered"), "read"));
        assert!(!status_may_replace(p, Some("read"), "delivered"));
        assert!(!status_may_replace(p, Some("delivered"), "sent"));
        assert!(!status_may_replace(p, Some("read"), "read"));
        assert!(status_may_replace(p, Some("delivered"), "failed"));
        assert!(!status_may_replace(p, Some("failed"), "read"));
        assert!(!status_may_replace(p, Some("mismatch"), "delivered"));
    }

    #[test]
    fn partoo_success_and_failure_are_final() {
        let p = Provider::Partoo;
        assert!(status_may_replace(p, Some("sending"), "success"));
        assert!(status_may_replace(p, Some("sending"), "failed"));
        assert!(!status_may_replace(p, Some("success"), "sending"));
        assert!(!status_may_replace(p, Some("failed"), "success"));
    }

    #[test]
    fn deletion_is_sticky_and_reported_once() {
        let update = Update {
            provider: Provider::Partoo,
            conversation_id: "1".into(),
            message_id: "2".into(),
            status: Some("success".into()),
            deleted: true,
            if_unknown: IfUnknown::Ignore,
        };
        assert_eq!(
            update.changes(Some("sending"), false),
            Changes {
                status: Some("success".into()),
                deleted: true
            }
        );
        assert!(update.changes(Some("success"), true).is_empty());
    }
}
