//! Where copies go in the media bucket: one key per attachment, the same every time.
//!
//! `media/<provider>/<conversation_id>/<message_id>/<index>`: the attachment's place in its
//! message item, so a retry or a replay of the same record overwrites the same object, and an
//! operator can find a message's media by its ids. Each id is percent-encoded (anything but
//! ASCII letters, digits, `-`, `_` and `.`), and an encoded id over 200 bytes is replaced by
//! `h-` and its SHA-256 (hex), which keeps every key well under S3's 1024 bytes.

use sha2::{Digest, Sha256};

/// Every copy is under this prefix; the function's IAM policy allows writing only there.
pub const MEDIA_PREFIX: &str = "media/";

const MAX_COMPONENT: usize = 200;

/// The object key of attachment `index` of a message.
pub fn object_key(provider: &str, conversation_id: &str, message_id: &str, index: usize) -> String {
    format!(
        "{MEDIA_PREFIX}{}/{}/{}/{index}",
        component(provider),
        component(conversation_id),
        component(message_id)
    )
}

/// The prefix every copy of a conversation's attachments is under
/// (`media/<provider>/<conversation_id>/`): what erasing the conversation deletes.
pub fn conversation_prefix(provider: &str, conversation_id: &str) -> String {
    format!(
        "{MEDIA_PREFIX}{}/{}/",
        component(provider),
        component(conversation_id)
    )
}

fn component(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for &b in id.as_bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_')
            || (b == b'.' && id != "." && id != "..")
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() {
        out.push_str("%00");
    }
    if out.len() > MAX_COMPONENT {
        format!("h-{}", hex::encode(Sha256::digest(id.as_bytes())))
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_readable_and_stable() {
        assert_eq!(
            object_key("callbell", "9d2f7c1b", "2b3c-4d5e", 0),
            "media/callbell/9d2f7c1b/2b3c-4d5e/0"
        );
        assert_eq!(
            object_key("partoo", "a/b c", "é", 2),
            "media/partoo/a%2Fb%20c/%C3%A9/2"
        );
        assert_eq!(object_key("p", "..", ".", 1), "media/p/%2E%2E/%2E/1");
        // Every copy of a conversation is under its prefix, and no other conversation's is.
        let prefix = conversation_prefix("partoo", "a/b c");
        assert_eq!(prefix, "media/partoo/a%2Fb%20c/");
        assert!(object_key("partoo", "a/b c", "é", 2).starts_with(&prefix));
        assert!(!object_key("partoo", "a/b c2", "m", 0).starts_with(&prefix));
        assert_eq!(object_key("p", "", "m", 0), "media/p/%00/m/0");
        assert_eq!(
            object_key("p", "c", "m", 3),
            object_key("p", "c", "m", 3),
            "same attachment, same key"
        );
        assert_ne!(object_key("p", "c", "m", 3), object_key("p", "c", "m", 4));
    }

    #[test]
    fn long_ids_are_hashed() {
        let long = "x".repeat(1000);
        let key = object_key("p", &long, &long, 0);
        assert!(key.len() < 300, "{key}");
        assert!(key.contains("/h-"));
        assert_ne!(
            object_key("p", &long, "m", 0),
            object_key("p", &format!("{long}y"), "m", 0)
        );
    }
}
