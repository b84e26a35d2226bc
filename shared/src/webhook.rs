//! What an authentic webhook means, once its provider has read it, and how updates change a
//! stored message.

use crate::message::{Message, OrderKey};
use crate::providers::ProviderId;

/// The meaning of an authentic webhook call.
#[derive(Clone, Debug, PartialEq)]
pub enum Webhook {
    /// A message to store once (a redelivery is a duplicate).
    NewMessage(Box<Message>),
    /// A change to a message stored earlier, found through its id.
    Update(Box<Update>),
    /// An authentic event that is not a message.
    Ignored(Reason),
    /// Callbell's periodic "are you there" call, answered `{"status":"ok"}`.
    ConnectionCheck,
    /// An authentic JSON object that is not an event envelope (Callbell: no `event`), perhaps
    /// a message routed without its envelope: answered like a connection check, but kept in
    /// quarantine and logged, so that a misrouted integration never loses messages unseen.
    Unenveloped,
}

/// Why an authentic request stores nothing (docs/CONTRACT.md, rows 4, 10b and 12): the
/// `reason` of its answer and log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Row 4: an event that is not a message (another TikTok type, a Partoo lead, …).
    NotAMessageEvent,
    /// Row 4: a delivery Partoo's dashboard sends to test the URL.
    Tryout,
    /// Row 10b: an update that changes nothing (the same or an older status).
    NoChange,
    /// Row 12: a status update of a message never stored.
    UnknownMessage,
}

impl Reason {
    /// The contract's snake_case reason.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::NotAMessageEvent => "not_a_message_event",
            Reason::Tryout => "tryout",
            Reason::NoChange => "no_change",
            Reason::UnknownMessage => "unknown_message",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status or deletion change for a stored message.
#[derive(Clone, Debug, PartialEq)]
pub struct Update {
    /// The provider, as in the message's keys.
    pub provider: ProviderId,
    /// The account it comes from (Partoo's organization, a named Callbell account): what the
    /// allow-list judges. The stored message keeps its own.
    pub account_id: Option<String>,
    pub conversation_id: String,
    pub message_id: String,
    /// Where the message is, when the update can tell (Partoo's carry the whole message, and so
    /// its order key): found by key. `None`: found through its id item (Callbell's say only the
    /// `message_id`).
    pub order_key: Option<OrderKey>,
    /// The new delivery status, lower case.
    pub status: Option<String>,
    /// The provider reports the message deleted.
    pub deleted: bool,
    /// What to do when the message was never stored.
    pub if_unknown: IfUnknown,
}

#[derive(Clone, Debug, PartialEq)]
pub enum IfUnknown {
    /// The update carries the whole message (Partoo): store it as new.
    StoreAsNew(Box<Message>),
    /// The update carries too little to be a message (Callbell): ignore it.
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
    /// The changes to make to a message whose current `status` and `deleted` flag are given:
    /// a status never moves backwards in `order`, and a deletion is never undone.
    pub fn changes(
        &self,
        order: &StatusOrder,
        current_status: Option<&str>,
        currently_deleted: bool,
    ) -> Changes {
        let status = self
            .status
            .as_deref()
            .filter(|new| order.may_replace(current_status, new))
            .map(str::to_string);
        Changes {
            status,
            deleted: self.deleted && !currently_deleted,
        }
    }
}

/// A provider's delivery statuses in the order they happen. Statuses in one step are
/// alternatives (`success` or `failed`); a final status is never replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusOrder {
    steps: &'static [&'static [&'static str]],
    finals: &'static [&'static str],
}

impl StatusOrder {
    /// A provider that sends no status updates.
    pub const NONE: StatusOrder = StatusOrder {
        steps: &[],
        finals: &[],
    };

    /// `steps` in order, earliest first; `finals` may never be replaced.
    pub const fn new(
        steps: &'static [&'static [&'static str]],
        finals: &'static [&'static str],
    ) -> Self {
        StatusOrder { steps, finals }
    }

    /// Whether the provider sends status updates at all.
    pub fn is_none(&self) -> bool {
        self.steps.is_empty()
    }

    /// The step of `status`, and whether it is final.
    fn rank(&self, status: &str) -> Option<(usize, bool)> {
        let step = self.steps.iter().position(|s| s.contains(&status))?;
        Some((step, self.finals.contains(&status)))
    }

    /// Whether `new` may replace `current`. A status outside the known order replaces anything
    /// that is not final, and anything replaces a status outside the order.
    pub fn may_replace(&self, current: Option<&str>, new: &str) -> bool {
        let Some(current) = current else { return true };
        if current == new {
            return false;
        }
        match (self.rank(current), self.rank(new)) {
            (Some((_, true)), _) => false,
            (Some((c, false)), Some((n, _))) => n > c,
            (Some((_, false)), None) => true,
            (None, _) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DELIVERY: StatusOrder = StatusOrder::new(
        &[&["sent"], &["delivered"], &["read"], &["failed"]],
        &["failed"],
    );

    #[test]
    fn statuses_only_move_forward() {
        assert!(DELIVERY.may_replace(None, "sent"));
        assert!(DELIVERY.may_replace(Some("sent"), "delivered"));
        assert!(!DELIVERY.may_replace(Some("read"), "delivered"));
        assert!(!DELIVERY.may_replace(Some("read"), "read"));
        assert!(DELIVERY.may_replace(Some("delivered"), "failed"));
        assert!(!DELIVERY.may_replace(Some("failed"), "read"));
    }

    #[test]
    fn statuses_outside_the_order() {
        assert!(DELIVERY.may_replace(Some("sent"), "mystery"));
        assert!(DELIVERY.may_replace(Some("mystery"), "sent"));
        assert!(!DELIVERY.may_replace(Some("failed"), "mystery"));
        assert!(StatusOrder::NONE.may_replace(Some("a"), "b"));
    }

    #[test]
    fn deletion_is_sticky_and_reported_once() {
        let update = Update {
            provider: ProviderId::Callbell,
            account_id: None,
            conversation_id: "1".into(),
            message_id: "2".into(),
            order_key: None,
            status: Some("read".into()),
            deleted: true,
            if_unknown: IfUnknown::Ignore,
        };
        assert_eq!(
            update.changes(&DELIVERY, Some("sent"), false),
            Changes {
                status: Some("read".into()),
                deleted: true
            }
        );
        assert!(update.changes(&DELIVERY, Some("read"), true).is_empty());
    }
}
