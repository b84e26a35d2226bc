//! Page cursors of the read API: opaque to callers, bound to the request they continue.
//!
//! A cursor is `<position>.<tag>`, both base64url without padding: the position is where the
//! next page starts (a sort key, an index key), and the tag is 16 bytes of SHA-256 over a
//! domain string, the request's binding (route, path parameters, filters, order) and the
//! position. A cursor altered by one character, taken from another conversation, filter or
//! order, or made up, does not match its request and is refused (400, `field: cursor`).
//!
//! The tag is not a secret MAC, on purpose: cursors are not authorization (the routes are behind
//! IAM or a JWT authorizer), so a caller who forges one can only name a position inside their
//! own request, and the reader checks that the position is one that request can have.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use thiserror::Error;

const DOMAIN: &[u8] = b"message-ingest inbox cursor v1\n";
const TAG_BYTES: usize = 16;

/// What a request is: the same binding gives the same cursors, any other refuses them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding(String);

impl Binding {
    /// The route template followed by each named part of the request, in the caller's (fixed)
    /// order; absent parts are given as `None` so that "no filter" differs from an empty one.
    pub fn new<'a>(
        route: &str,
        parts: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    ) -> Self {
        let mut binding = String::from(route);
        for (name, value) in parts {
            binding.push('\n');
            binding.push_str(name);
            match value {
                // Lengths first, so that no value can pass for another part.
                Some(value) => binding.push_str(&format!("={}:{value}", value.len())),
                None => binding.push_str("=-"),
            }
        }
        Binding(binding)
    }
}

#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum CursorError {
    #[error("not a cursor of this request (use the next_cursor of the previous page, unchanged)")]
    Mismatch,
    #[error("malformed cursor")]
    Malformed,
}

/// The cursor that continues `binding` at `position`.
pub fn encode(binding: &Binding, position: &str) -> String {
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(position),
        URL_SAFE_NO_PAD.encode(tag(binding, position.as_bytes()))
    )
}

/// The position `cursor` names, if it is a cursor of `binding`.
pub fn decode(binding: &Binding, cursor: &str) -> Result<String, CursorError> {
    let (position, given) = cursor.split_once('.').ok_or(CursorError::Malformed)?;
    let position = URL_SAFE_NO_PAD
        .decode(position)
        .map_err(|_| CursorError::Malformed)?;
    let given = URL_SAFE_NO_PAD
        .decode(given)
        .map_err(|_| CursorError::Malformed)?;
    let expected = tag(binding, &position);
    use subtle::ConstantTimeEq;
    if given.len() != TAG_BYTES || !bool::from(given.as_slice().ct_eq(&expected)) {
        return Err(CursorError::Mismatch);
    }
    String::from_utf8(position).map_err(|_| CursorError::Malformed)
}

fn tag(binding: &Binding, position: &[u8]) -> [u8; TAG_BYTES] {
    let mut input = Vec::with_capacity(DOMAIN.len() + binding.0.len() + 1 + position.len());
    input.extend_from_slice(DOMAIN);
    input.extend_from_slice(binding.0.as_bytes());
    input.push(b'\n');
    input.extend_from_slice(position);
    let digest = crate::digest::sha256(&input);
    let mut tag = [0; TAG_BYTES];
    tag.copy_from_slice(&digest[..TAG_BYTES]);
    tag
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(conversation: &str, order: &str) -> Binding {
        Binding::new(
            "/conversations/{provider}/{conversation_id}/messages",
            [
                ("provider", Some("partoo")),
                ("conversation_id", Some(conversation)),
                ("order", Some(order)),
            ],
        )
    }

    #[test]
    fn a_cursor_continues_its_own_request() {
        let binding = messages("42", "desc");
        let cursor = encode(
            &binding,
            "MSG#2023-01-31T16:22:17.327Z#00000000000000000001",
        );
        assert_eq!(
            decode(&binding, &cursor).unwrap(),
            "MSG#2023-01-31T16:22:17.327Z#00000000000000000001"
        );
    }

    #[test]
    fn altered_or_foreign_cursors_are_refused() {
        let binding = messages("42", "desc");
        let cursor = encode(&binding, "MSG#b");
        // Every single-character change is caught.
        for i in 0..cursor.len() {
            let mut bytes = cursor.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(bytes).unwrap();
            if altered != cursor {
                assert!(decode(&binding, &altered).is_err(), "{altered}");
            }
        }
        assert_eq!(
            decode(&messages("43", "desc"), &cursor),
            Err(CursorError::Mismatch)
        );
        assert_eq!(
            decode(&messages("42", "asc"), &cursor),
            Err(CursorError::Mismatch)
        );
        for garbage in ["", ".", "abc", "abc.def", "%%%.%%%", "a.b.c"] {
            assert!(decode(&binding, garbage).is_err(), "{garbage}");
        }
    }

    #[test]
    fn no_part_can_pass_for_another() {
        let a = Binding::new("/r", [("x", Some("1\ny=2")), ("y", None)]);
        let b = Binding::new("/r", [("x", Some("1")), ("y", Some("2"))]);
        let c = Binding::new("/r", [("x", Some("")), ("y", None)]);
        let d = Binding::new("/r", [("x", None), ("y", None)]);
        assert_ne!(a, b);
        assert_ne!(c, d);
        assert!(decode(&b, &encode(&a, "p")).is_err());
    }
}
