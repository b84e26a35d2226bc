//! An event's `detail` as the contract gives it, always within EventBridge's limit of 256 KB an
//! entry.

use serde_json::{json, Map, Value};

use super::change::Change;

/// `schema_version` of the detail.
pub const DETAIL_SCHEMA_VERSION: u32 = 3;

/// EventBridge's limit on one entry: its `Detail`, `DetailType`, `Source` and `Resources` in
/// UTF-8 bytes, and 14 for `Time` (the PutEvents entry size of AWS's documentation).
pub const MAX_ENTRY_BYTES: usize = 256 * 1024;

/// What is left for `Detail`: the limit less a kilobyte, more than the other fields take
/// (`Source` and `DetailType` are short names).
pub const MAX_DETAIL_BYTES: usize = MAX_ENTRY_BYTES - 1024;

/// One event, ready to publish.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub detail_type: &'static str,
    pub event_id: String,
    /// The message item's `pk`: events of one conversation are published in order.
    pub conversation: String,
    /// The detail as JSON text, at most [`MAX_DETAIL_BYTES`].
    pub detail: String,
    /// Whether long strings of the message were cut to fit (`"truncated": true` in the detail).
    pub truncated: bool,
}

impl Event {
    /// The event of `change`, a change of the message item whose partition key is `pk`.
    pub fn of(change: Change, pk: &str) -> Self {
        let Change {
            detail_type,
            event_id,
            mut message,
            attachment_index,
        } = change;
        let field = |name: &str| message.get(name).cloned().unwrap_or(Value::Null);
        let mut detail = Map::new();
        detail.insert("schema_version".into(), json!(DETAIL_SCHEMA_VERSION));
        detail.insert("event_id".into(), json!(event_id));
        detail.insert("provider".into(), field("provider"));
        detail.insert("conversation_id".into(), field("conversation_id"));
        detail.insert("message_id".into(), field("message_id"));
        if let Some(index) = attachment_index {
            detail.insert("attachment_index".into(), json!(index));
        }
        let overhead = Value::Object(detail.clone()).to_string().len()
            + r#","message":,"truncated":true"#.len();
        let truncated = fit(&mut message, MAX_DETAIL_BYTES.saturating_sub(overhead));
        detail.insert("message".into(), Value::Object(message));
        if truncated {
            detail.insert("truncated".into(), Value::Bool(true));
        }
        Self {
            detail_type: detail_type.as_str(),
            event_id,
            conversation: pk.to_string(),
            detail: Value::Object(detail).to_string(),
            truncated,
        }
    }
}

/// Cuts the longest strings of `message` (the text, an integrator's metadata, …) until its JSON
/// takes at most `budget` bytes; whether anything was cut. Each cut keeps a prefix, on a
/// character boundary, ending in `…`.
fn fit(message: &mut Map<String, Value>, budget: usize) -> bool {
    let mut truncated = false;
    loop {
        let size = Value::Object(message.clone()).to_string().len();
        if size <= budget {
            return truncated;
        }
        let Some(longest) = longest_string(message) else {
            // Nothing left to cut (a message of very many short strings): drop the attachments
            // and the rest of the optional content, which the read API still has.
            message.retain(|k, _| {
                matches!(
                    k.as_str(),
                    "provider" | "conversation_id" | "message_id" | "created_at"
                )
            });
            return true;
        };
        // The excess, or half the string where that is less (JSON escapes may make one byte
        // six, so a cut may save more than its length): a few rounds at most.
        let excess = size - budget;
        let len = longest.len();
        let keep = len.saturating_sub(excess + 16).max(len / 2);
        let mut cut = keep;
        while !longest.is_char_boundary(cut) {
            cut -= 1;
        }
        longest.truncate(cut);
        longest.push('…');
        truncated = true;
    }
}

/// The longest string anywhere in `message` that cutting would shorten (over 64 bytes).
fn longest_string(message: &mut Map<String, Value>) -> Option<&mut String> {
    fn walk<'a>(value: &'a mut Value, best: &mut Option<&'a mut String>) {
        match value {
            Value::String(s) if s.len() > 64 && best.as_ref().is_none_or(|b| s.len() > b.len()) => {
                *best = Some(s);
            }
            Value::Array(items) => items.iter_mut().for_each(|v| walk(v, best)),
            Value::Object(map) => map.values_mut().for_each(|v| walk(v, best)),
            _ => {}
        }
    }
    let mut best = None;
    for value in message.values_mut() {
        walk(value, &mut best);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::change::DetailType;

    fn change(message: Value, attachment_index: Option<usize>) -> Change {
        Change {
            detail_type: DetailType::MessageStored,
            event_id: "0123456789abcdef0123456789abcdef".into(),
            message: message.as_object().unwrap().clone(),
            attachment_index,
        }
    }

    #[test]
    fn the_detail_is_the_contracts() {
        let message = json!({"provider": "partoo", "conversation_id": "c1", "message_id": "m1", "text": "hi"});
        let event = Event::of(change(message.clone(), Some(2)), "partoo#c1");
        let detail: Value = serde_json::from_str(&event.detail).unwrap();
        assert_eq!(
            detail,
            json!({"schema_version": 3, "event_id": "0123456789abcdef0123456789abcdef",
                   "provider": "partoo", "conversation_id": "c1", "message_id": "m1",
                   "attachment_index": 2, "message": message})
        );
        assert!(!event.truncated);
        assert_eq!(event.detail_type, "Message Stored");
        assert_eq!(event.conversation, "partoo#c1");
    }

    #[test]
    fn a_message_over_the_limit_is_cut_to_fit_and_says_so() {
        // Control characters escape to six bytes each: 128 KiB of them is 768 KiB of JSON.
        let text: String = "\u{1}é".repeat(64 * 1024);
        let metadata = "m".repeat(200 * 1024);
        let message = json!({"provider": "callbell", "conversation_id": "c", "message_id": "m",
                             "text": text, "metadata": metadata, "kind": "text"});
        let event = Event::of(change(message, None), "callbell#c");
        assert!(
            event.detail.len() <= MAX_DETAIL_BYTES,
            "{}",
            event.detail.len()
        );
        assert!(event.truncated);
        let detail: Value = serde_json::from_str(&event.detail).unwrap();
        assert_eq!(detail["truncated"], true);
        assert_eq!(detail["message"]["kind"], "text", "short fields stay");
        let cut = detail["message"]["text"].as_str().unwrap();
        assert!(cut.ends_with('…') && text.starts_with(cut.trim_end_matches('…')));
    }
}
