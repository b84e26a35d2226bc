//! Proving a request came from its provider, on the exact body bytes, in constant time.
//!
//! A [`Verified`] request can only be made by [`verify`], by passing the provider's check —
//! or, inside this crate only, by [`trust_spooled`] for a body that passed it when it first
//! arrived (spooled, or quarantined). Everything that reads or stores a body takes a
//! `Verified`, so nothing unverified can reach the table. The primitives here are shared by the
//! providers' own checks.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::accounts::AccountName;
use crate::error::Unauthorized;
use crate::providers::{Provider, Verify};
use crate::request::Request;

pub type HmacSha256 = Hmac<Sha256>;

/// A secret value. Its `Debug` never shows it, so it can't leak through a log of a config.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(value: impl Into<Vec<u8>>) -> Self {
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

/// Checks `request` with `P`'s verifier; `now` is Unix seconds.
pub fn verify<'r, P: Provider>(
    verifier: &P::Verifier,
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
pub fn single_header<'r>(
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
pub fn hmac_sha256(key: &Secret, parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key.expose()).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Whether any of `candidates` equals `expected`, comparing every one in constant time.
pub fn any_tag_matches(candidates: &[[u8; 32]], expected: &[u8; 32]) -> bool {
    let matched = candidates.iter().fold(subtle::Choice::from(0), |acc, tag| {
        acc | tag.as_slice().ct_eq(expected.as_slice())
    });
    bool::from(matched)
}

/// Constant-time equality that also hides the secret's length: compares digests.
pub fn same_secret(secret: &Secret, given: &str) -> bool {
    let a = Sha256::digest(secret.expose());
    let b = Sha256::digest(given.as_bytes());
    bool::from(a.as_slice().ct_eq(b.as_slice()))
}

/// Exactly 64 hex digits (either case) as 32 bytes. The length is checked first: the decoder
/// would also accept a `0x` prefix, which no provider sends.
pub fn decode_hex_tag(text: &str) -> Option<[u8; 32]> {
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
        assert!(decode_hex_tag(tag).is_some());
        assert!(decode_hex_tag(&tag.to_uppercase()).is_some());
        // The hex decoder would strip a `0x`.
        assert!(decode_hex_tag(&format!("0x{tag}")).is_none());
        assert!(decode_hex_tag(&format!("0x{}", &tag[2..])).is_none());
        assert!(decode_hex_tag(&tag[..63]).is_none());
        assert!(decode_hex_tag(&"g".repeat(64)).is_none());
    }

    #[test]
    fn tags_and_secrets_compare_whole() {
        let a = [7u8; 32];
        let mut b = a;
        b[31] ^= 1;
        assert!(any_tag_matches(&[b, a], &a));
        assert!(!any_tag_matches(&[b], &a));
        assert!(!any_tag_matches(&[], &a));
        let secret = Secret::new("tok-123");
        assert!(same_secret(&secret, "tok-123"));
        assert!(!same_secret(&secret, "tok-12"));
        assert!(!same_secret(&secret, "tok-1234"));
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
