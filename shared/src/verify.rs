//! Proving a request came from its sender, on the exact body bytes, in constant time: what a
//! verified request is, the [`Verify`] check a verifier implements, and the primitives the
//! providers' verifiers are built on. Nothing here names a provider: each provider's module
//! says what its verifier checks, and the handler runs the check of the provider it serves.
//!
//! A [`Verified`] request can only be made by [`verify`], by passing a verifier's check — or,
//! inside this crate only, by [`trust_spooled`] for a body that passed it when it first arrived
//! (spooled, or quarantined). Everything that reads or stores a body takes a `Verified`, so
//! nothing unverified can reach the table.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use crate::error::Unauthorized;
use crate::request::Request;

/// An authentication check, on the request's exact bytes.
pub trait Verify: fmt::Debug + Send + Sync {
    /// `Ok` when the request is authentic; `now` is Unix seconds, for checks with a window.
    fn check(&self, request: &Request, now: i64) -> Result<(), Unauthorized>;

    /// [`Verify::check`], and the account of the configured entry that verified the request
    /// (Callbell's `<account>=<secret>`), when the entry names one.
    fn account(&self, request: &Request, now: i64) -> Result<Option<AccountName>, Unauthorized> {
        self.check(request, now).map(|()| None)
    }
}

/// The longest account name: it becomes an attribute of every message of the account.
pub const MAX_ACCOUNT_NAME: usize = 64;

/// The name of an account, as a configured entry `<account>=<secret>` gives it: 1 to
/// [`MAX_ACCOUNT_NAME`] ASCII letters, digits, `_`, `.` or `-`. No secret.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountName(String);

impl AccountName {
    pub fn parse(text: &str) -> Option<AccountName> {
        let valid = !text.is_empty()
            && text.len() <= MAX_ACCOUNT_NAME
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        valid.then(|| AccountName(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// A secret value. Its `Debug` never shows it, so it can't leak through a log of a config.
#[derive(Clone)]
pub(crate) struct Secret(Vec<u8>);

impl Secret {
    pub(crate) fn new(value: impl Into<Vec<u8>>) -> Self {
        Secret(value.into())
    }
    pub(crate) fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A request that passed its provider's authentication, and the account of the entry that
/// verified it, when the entry is named.
#[derive(Debug)]
pub struct Verified<'r> {
    request: &'r Request,
    account: Option<AccountName>,
}

impl<'r> Verified<'r> {
    pub fn body(&self) -> &'r [u8] {
        self.request.body()
    }
    pub fn request(&self) -> &'r Request {
        self.request
    }
    pub fn account(&self) -> Option<&AccountName> {
        self.account.as_ref()
    }
}

/// Checks `request` with `verifier`; `now` is Unix seconds.
pub fn verify<'r, V: Verify + ?Sized>(
    verifier: &V,
    request: &'r Request,
    now: i64,
) -> Result<Verified<'r>, Unauthorized> {
    let account = verifier.account(request, now)?;
    Ok(Verified { request, account })
}

/// A body that passed its provider's check when the webhook received it, coming back from the
/// spool queue (only the functions may send to it: template.yaml's policies) or from the
/// quarantine (only the functions write it). Crate-private on purpose: the drain and replay
/// in [`crate::handler`] are its only callers, and no signature can be checked again (it may
/// have expired, and a spooled body keeps no headers).
pub(crate) fn trust_spooled(request: &Request, account: Option<AccountName>) -> Verified<'_> {
    Verified { request, account }
}

/// The value of a header that must be there once (a repeat with the same value is the same).
pub(crate) fn single_header<'r>(
    request: &'r Request,
    name: &'static str,
) -> Result<&'r str, Unauthorized> {
    match request.header(name) {
        Ok(Some(value)) => Ok(value.trim()),
        Ok(None) => Err(Unauthorized::MissingHeader(name)),
        Err(_) => Err(Unauthorized::MalformedHeader {
            header: name,
            reason: "sent more than once with different values",
        }),
    }
}

/// HMAC-SHA256 keyed with `key` over `parts`, one after the other.
pub(crate) fn hmac_sha256(key: &Secret, parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key.expose()).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Whether any of `candidates` equals `expected`, comparing every one in constant time; a
/// [`Choice`], for [`matching_entry`].
pub(crate) fn any_tag(candidates: &[[u8; 32]], expected: &[u8; 32]) -> Choice {
    candidates.iter().fold(Choice::from(0), |acc, tag| {
        acc | tag.as_slice().ct_eq(expected.as_slice())
    })
}

/// Whether `given` equals `secret`, in constant time and hiding the secret's length (digests
/// are compared); a [`Choice`], for [`matching_entry`].
pub(crate) fn secret_matches(secret: &Secret, given: &[u8]) -> Choice {
    let a = Sha256::digest(secret.expose());
    let b = Sha256::digest(given);
    a.as_slice().ct_eq(b.as_slice())
}

/// The position of the first entry that matched, given whether each matched, found without a
/// branch on any of them: every entry is looked at, and the time taken does not depend on which
/// one matched (or whether one did). Only the answer is then branched on.
pub(crate) fn matching_entry(matches: impl IntoIterator<Item = Choice>) -> Option<usize> {
    let mut found = Choice::from(0);
    let mut index = 0u64;
    for (i, matched) in matches.into_iter().enumerate() {
        let first = matched & !found;
        index = u64::conditional_select(&index, &(i as u64), first);
        found |= matched;
    }
    bool::from(found).then_some(index as usize)
}

/// Exactly 64 hex digits (either case) as 32 bytes: an HMAC-SHA256 tag, an Ed25519 public key.
/// The length is checked first: the decoder would also accept a `0x` prefix, which no provider
/// sends.
pub(crate) fn decode_hex_32(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut tag = [0u8; 32];
    hex::decode_to_slice(text, &mut tag).ok()?;
    Some(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_tags_are_exactly_64_digits() {
        let tag = "5dec0f11ec2f6783b8deee53c9ffbf8d024302f7c7e7fa55a35d17629031ac05";
        assert!(decode_hex_32(tag).is_some());
        assert!(decode_hex_32(&tag.to_uppercase()).is_some());
        // The hex decoder would strip a `0x`.
        assert!(decode_hex_32(&format!("0x{tag}")).is_none());
        assert!(decode_hex_32(&format!("0x{}", &tag[2..])).is_none());
        assert!(decode_hex_32(&tag[..63]).is_none());
        assert!(decode_hex_32(&"g".repeat(64)).is_none());
    }

    #[test]
    fn tags_and_secrets_compare_whole() {
        let a = [7u8; 32];
        let mut b = a;
        b[31] ^= 1;
        assert!(bool::from(any_tag(&[b, a], &a)));
        assert!(!bool::from(any_tag(&[b], &a)));
        assert!(!bool::from(any_tag(&[], &a)));
        let secret = Secret::new("tok-123");
        assert!(bool::from(secret_matches(&secret, b"tok-123")));
        assert!(!bool::from(secret_matches(&secret, b"tok-12")));
        assert!(!bool::from(secret_matches(&secret, b"tok-1234")));
    }

    #[test]
    fn the_first_matching_entry_is_found_among_all() {
        let c = |bits: &[u8]| bits.iter().map(|b| Choice::from(*b)).collect::<Vec<_>>();
        assert_eq!(matching_entry(c(&[])), None);
        assert_eq!(matching_entry(c(&[0, 0, 0])), None);
        assert_eq!(matching_entry(c(&[1])), Some(0));
        assert_eq!(matching_entry(c(&[0, 0, 1])), Some(2));
        assert_eq!(matching_entry(c(&[0, 1, 1])), Some(1));
        // Every entry is looked at, even after a match.
        let mut looked = 0;
        let found = matching_entry((0..5).map(|i| {
            looked += 1;
            Choice::from(u8::from(i == 1))
        }));
        assert_eq!((found, looked), (Some(1), 5));
    }

    #[test]
    fn account_names() {
        assert!(AccountName::parse("brand-fr.eu_1").is_some());
        for bad in ["", "a b", "a/b", "a=b", "é"] {
            assert!(AccountName::parse(bad).is_none(), "{bad}");
        }
        assert!(AccountName::parse(&"n".repeat(MAX_ACCOUNT_NAME)).is_some());
        assert!(AccountName::parse(&"n".repeat(MAX_ACCOUNT_NAME + 1)).is_none());
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let shown = format!("{:?}", Secret::new("hunter2"));
        assert!(
            !shown.contains("hunter2") && shown.contains("redacted"),
            "{shown}"
        );
    }
}
