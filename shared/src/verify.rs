//! Proving a request came from the provider, on the exact body bytes, in constant time.
//!
//! A [`Verified`] request can only be made here, by passing the provider's check; everything
//! that parses or stores takes a `Verified`, so nothing unverified can reach the table.

use std::fmt;

use base64::Engine;
use ed25519_dalek::{Signature, VerifyingKey};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::Unauthorized;
use crate::request::Request;

type HmacSha256 = Hmac<Sha256>;

/// How far a Callbell signature's `t` may be from now, either way.
pub const CALLBELL_TOLERANCE_SECS: i64 = 300;

pub const TIKTOK_SIGNATURE_HEADER: &str = "authorization";
pub const PARTOO_SIGNATURE_HEADER: &str = "x-partoo-signature-v1";
pub const CALLBELL_SIGNATURE_HEADER: &str = "x-callbell-signature";
pub const CALLBELL_TOKEN_PARAMETER: &str = "token";

/// A secret value. Its `Debug` never shows it, so it can't leak through a log of a config.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(value: impl Into<Vec<u8>>) -> Self {
        Secret(value.into())
    }
    fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A request that passed its provider's authentication.
#[derive(Debug)]
pub struct Verified<'r> {
    request: &'r Request,
}

impl<'r> Verified<'r> {
    pub fn body(&self) -> &'r [u8] {
        self.request.body()
    }
    pub fn request(&self) -> &'r Request {
        self.request
    }
}

/// One provider's authentication, built from configuration.
#[derive(Clone, Debug)]
pub enum Verifier {
    /// `Authorization` = hex HMAC-SHA256(app_secret, app_key ‖ body).
    TiktokShop { app_key: Secret, app_secret: Secret },
    /// `X-Partoo-Signature-v1` = base64 Ed25519 signature of the body, by any of these keys.
    Partoo { keys: Vec<VerifyingKey> },
    /// `X-Callbell-Signature: t=…,v1=…` over `<t>.<body>` within 300 s, or `?token=` — whichever
    /// is configured and passes.
    Callbell {
        signing_secret: Option<Secret>,
        url_token: Option<Secret>,
    },
}

impl Verifier {
    /// Checks the request; `now` is Unix seconds (only Callbell's signature looks at it).
    pub fn verify<'r>(&self, request: &'r Request, now: i64) -> Result<Verified<'r>, Unauthorized> {
        match self {
            Verifier::TiktokShop {
                app_key,
                app_secret,
            } => verify_tiktok(app_key, app_secret, request)?,
            Verifier::Partoo { keys } => verify_partoo(keys, request)?,
            Verifier::Callbell {
                signing_secret,
                url_token,
            } => verify_callbell(signing_secret.as_ref(), url_token.as_ref(), request, now)?,
        }
        Ok(Verified { request })
    }
}

fn single_header<'r>(request: &'r Request, name: &'static str) -> Result<&'r str, Unauthorized> {
    match request.header(name) {
        Ok(Some(value)) => Ok(value.trim()),
        Ok(None) => Err(Unauthorized::MissingHeader(name)),
        Err(_) => Err(Unauthorized::MalformedHeader {
            header: name,
            reason: "sent more than once with different values",
        }),
    }
}

fn verify_tiktok(
    app_key: &Secret,
    app_secret: &Secret,
    request: &Request,
) -> Result<(), Unauthorized> {
    let given = single_header(request, TIKTOK_SIGNATURE_HEADER)?;
    let tag = decode_hex_tag(given).ok_or(Unauthorized::MalformedHeader {
        header: TIKTOK_SIGNATURE_HEADER,
        reason: "expected 64 hex digits",
    })?;
    let mut mac =
        HmacSha256::new_from_slice(app_secret.expose()).expect("HMAC takes any key length");
    mac.update(app_key.expose());
    mac.update(request.body());
    mac.verify_slice(&tag)
        .map_err(|_| Unauthorized::BadSignature("Authorization signature"))
}

fn verify_partoo(keys: &[VerifyingKey], request: &Request) -> Result<(), Unauthorized> {
    let given = single_header(request, PARTOO_SIGNATURE_HEADER)?;
    let malformed = Unauthorized::MalformedHeader {
        header: PARTOO_SIGNATURE_HEADER,
        reason: "expected a base64 Ed25519 signature (64 bytes)",
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(given)
        .map_err(|_| malformed.clone())?;
    let bytes: [u8; 64] = bytes.try_into().map_err(|_| malformed)?;
    let signature = Signature::from_bytes(&bytes);
    if keys
        .iter()
        .any(|key| key.verify_strict(request.body(), &signature).is_ok())
    {
        Ok(())
    } else {
        Err(Unauthorized::BadSignature("X-Partoo-Signature-v1"))
    }
}

fn verify_callbell(
    signing_secret: Option<&Secret>,
    url_token: Option<&Secret>,
    request: &Request,
    now: i64,
) -> Result<(), Unauthorized> {
    let signature_result =
        signing_secret.map(|secret| verify_callbell_signature(secret, request, now));
    if let Some(Ok(())) = signature_result {
        return Ok(());
    }
    if let Some(token) = url_token {
        if request
            .query_values(CALLBELL_TOKEN_PARAMETER)
            .any(|given| same_secret(token, given))
        {
            return Ok(());
        }
    }
    Err(match (signature_result, url_token) {
        // A signature was attempted: its failure is the useful message.
        (Some(Err(e)), None) => e,
        (Some(Err(e)), Some(_)) if request.has_header(CALLBELL_SIGNATURE_HEADER) => e,
        (Some(_), Some(_)) => Unauthorized::NoValidCredential,
        _ => Unauthorized::BadToken,
    })
}

fn verify_callbell_signature(
    secret: &Secret,
    request: &Request,
    now: i64,
) -> Result<(), Unauthorized> {
    let header = single_header(request, CALLBELL_SIGNATURE_HEADER)?;
    let malformed = |reason| Unauthorized::MalformedHeader {
        header: CALLBELL_SIGNATURE_HEADER,
        reason,
    };
    let mut timestamp: Option<&str> = None;
    let mut candidates: Vec<[u8; 32]> = Vec::new();
    for part in header.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or(malformed("expected t=<seconds>,v1=<hex>"))?;
        match key.trim() {
            "t" => timestamp = Some(value.trim()),
            "v1" => candidates
                .push(decode_hex_tag(value.trim()).ok_or(malformed("v1 is not 64 hex digits"))?),
            _ => {} // other schemes may be added by the provider; v1 is the one we check
        }
    }
    let timestamp = timestamp.ok_or(malformed("no t="))?;
    let seconds: i64 = timestamp
        .parse()
        .map_err(|_| malformed("t is not a Unix time in seconds"))?;
    if candidates.is_empty() {
        return Err(malformed("no v1="));
    }
    let mut mac = HmacSha256::new_from_slice(secret.expose()).expect("HMAC takes any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(request.body());
    let expected = mac.finalize().into_bytes();
    // Compare with every candidate, without stopping early.
    let matched = candidates.iter().fold(subtle::Choice::from(0), |acc, tag| {
        acc | tag.as_slice().ct_eq(expected.as_slice())
    });
    if !bool::from(matched) {
        return Err(Unauthorized::BadSignature("X-Callbell-Signature"));
    }
    let skew = now.saturating_sub(seconds);
    if skew.abs() > CALLBELL_TOLERANCE_SECS {
        return Err(Unauthorized::Stale(skew));
    }
    Ok(())
}

/// Constant-time equality that also hides the secret's length: compares digests.
fn same_secret(secret: &Secret, given: &str) -> bool {
    let a = Sha256::digest(secret.expose());
    let b = Sha256::digest(given.as_bytes());
    bool::from(a.as_slice().ct_eq(b.as_slice()))
}

/// Exactly 64 hex digits (either case) as 32 bytes. The length is checked first: the decoder
/// would also accept a `0x` prefix, which no provider sends.
fn decode_hex_tag(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut tag = [0u8; 32];
    hex::decode_to_slice(text, &mut tag).ok()?;
    Some(tag)
}

/// Parses one `PARTOO_PUBLIC_KEYS` entry: 64 hex digits of a raw Ed25519 public key.
pub fn parse_ed25519_public_key(hex_key: &str) -> Result<VerifyingKey, String> {
    let not_hex = || format!("public key {:?} is not 64 hex digits", hex_key.trim());
    if hex_key.trim().len() != 64 {
        return Err(not_hex());
    }
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex_key.trim(), &mut bytes).map_err(|_| not_hex())?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| {
        format!(
            "public key {:?} is not a valid Ed25519 point",
            hex_key.trim()
        )
    })
}

#[cfg(test)]
mod tests {
    //! Known-answer tests with the vectors of the providers' NOTES.md.
    use super::*;

    const TIKTOK_BODY: &str = r#"{"type":1,"tts_notification_id":"7380066284010030890","shop_id":"7495540735365777507","timestamp":1718305585,"data":{"is_on_hold_order":true,"order_id":"576653688135258178","order_status":"UNPAID","update_time":1718305585}}"#;
    const TIKTOK_SIGNATURE: &str =
        "5dec0f11ec2f6783b8deee53c9ffbf8d024302f7c7e7fa55a35d17629031ac05";

    const PARTOO_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const PARTOO_BODY: &str = r#"{"type":"message_created","payload":{"org_id":1}}"#;
    const PARTOO_SIGNATURE: &str =
        "enAtOBn0Sb9qMhDiaYydbxCBn/pKGiTpnPMkYg+jnNAk1FTwA9aXQ5laF74ke1x+AsviTNd2g2+0Uq7SCXrUBw==";
    const PARTOO_PRODUCTION: &str =
        "d06f5c8872fa5d9417b96aba5b87452efc0d10f5a071db50804565048c195814";

    const CALLBELL_SECRET: &str = "whsec_dGVzdC12ZWN0b3ItY2FsbGJlbGw=";
    const CALLBELL_BODY: &str =
        r#"{"event":"message_created","payload":{"uuid":"m1","text":"hi"}}"#;
    const CALLBELL_SIGNATURE: &str =
        "t=1763700000,v1=3f0253265d3978f8559d261f5fbde51667f2f8136902a050ce0d7eaa957acdc1";
    const CALLBELL_T: i64 = 1_763_700_000;

    fn tiktok() -> Verifier {
        Verifier::TiktokShop {
            app_key: Secret::new("abcdef"),
            app_secret: Secret::new("123"),
        }
    }
    fn partoo() -> Verifier {
        Verifier::Partoo {
            keys: vec![parse_ed25519_public_key(PARTOO_PUBLIC).unwrap()],
        }
    }
    fn callbell(secret: bool, token: bool) -> Verifier {
        Verifier::Callbell {
            signing_secret: secret.then(|| Secret::new(CALLBELL_SECRET)),
            url_token: token.then(|| Secret::new("tok-123")),
        }
    }

    #[test]
    fn tiktok_known_answer() {
        let ok = Request::new(&[("Authorization", TIKTOK_SIGNATURE)], &[], TIKTOK_BODY);
        assert!(tiktok().verify(&ok, 0).is_ok());
    }

    #[test]
    fn tiktok_rejects_other_constructions_and_changes() {
        // The body alone, or key and message swapped, give other values (NOTES.md).
        let mut body_only = HmacSha256::new_from_slice(b"123").unwrap();
        body_only.update(TIKTOK_BODY.as_bytes());
        let body_only = hex::encode(body_only.finalize().into_bytes());
        let req = Request::new(&[("authorization", &body_only)], &[], TIKTOK_BODY);
        assert_eq!(
            tiktok().verify(&req, 0).unwrap_err(),
            Unauthorized::BadSignature("Authorization signature")
        );

        let changed = TIKTOK_BODY.replace("UNPAID", "UNPAIX");
        let req = Request::new(&[("authorization", TIKTOK_SIGNATURE)], &[], changed);
        assert!(tiktok().verify(&req, 0).is_err());

        let req = Request::new(&[], &[], TIKTOK_BODY);
        assert_eq!(
            tiktok().verify(&req, 0).unwrap_err(),
            Unauthorized::MissingHeader("authorization")
        );

        let truncated = &TIKTOK_SIGNATURE[..63];
        let req = Request::new(&[("authorization", truncated)], &[], TIKTOK_BODY);
        assert!(matches!(
            tiktok().verify(&req, 0),
            Err(Unauthorized::MalformedHeader { .. })
        ));

        let bearer = format!("Bearer {TIKTOK_SIGNATURE}");
        let req = Request::new(&[("authorization", &bearer)], &[], TIKTOK_BODY);
        assert!(tiktok().verify(&req, 0).is_err());
    }

    #[test]
    fn hex_with_a_0x_prefix_is_malformed() {
        // The hex decoder would strip a `0x`; signatures and keys are exactly 64 digits.
        let prefixed = format!("0x{TIKTOK_SIGNATURE}");
        let req = Request::new(&[("authorization", &prefixed)], &[], TIKTOK_BODY);
        assert!(matches!(
            tiktok().verify(&req, 0),
            Err(Unauthorized::MalformedHeader { .. })
        ));
        let short_prefixed = format!("0x{}", &TIKTOK_SIGNATURE[2..]);
        let req = Request::new(&[("authorization", &short_prefixed)], &[], TIKTOK_BODY);
        assert!(matches!(
            tiktok().verify(&req, 0),
            Err(Unauthorized::MalformedHeader { .. })
        ));
        let key = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
        assert!(parse_ed25519_public_key(key).is_ok());
        assert!(parse_ed25519_public_key(&format!("0x{key}")).is_err());
        assert!(parse_ed25519_public_key(&format!("0x{}", &key[2..])).is_err());
    }

    #[test]
    fn tiktok_accepts_upper_case_hex_and_rejects_conflicting_repeats() {
        let upper = TIKTOK_SIGNATURE.to_uppercase();
        let req = Request::new(&[("authorization", &upper)], &[], TIKTOK_BODY);
        assert!(tiktok().verify(&req, 0).is_ok());
        let req = Request::new(
            &[("authorization", TIKTOK_SIGNATURE), ("Authorization", "00")],
            &[],
            TIKTOK_BODY,
        );
        assert!(tiktok().verify(&req, 0).is_err());
    }

    #[test]
    fn partoo_known_answer() {
        let ok = Request::new(
            &[("X-Partoo-Signature-v1", PARTOO_SIGNATURE)],
            &[],
            PARTOO_BODY,
        );
        assert!(partoo().verify(&ok, 0).is_ok());
    }

    #[test]
    fn partoo_rejects_wrong_key_changed_body_and_garbage() {
        let production = Verifier::Partoo {
            keys: vec![parse_ed25519_public_key(PARTOO_PRODUCTION).unwrap()],
        };
        let req = Request::new(
            &[("x-partoo-signature-v1", PARTOO_SIGNATURE)],
            &[],
            PARTOO_BODY,
        );
        assert_eq!(
            production.verify(&req, 0).unwrap_err(),
            Unauthorized::BadSignature("X-Partoo-Signature-v1")
        );
        // Any of several configured keys may sign.
        let both = Verifier::Partoo {
            keys: vec![
                parse_ed25519_public_key(PARTOO_PRODUCTION).unwrap(),
                parse_ed25519_public_key(PARTOO_PUBLIC).unwrap(),
            ],
        };
        assert!(both.verify(&req, 0).is_ok());

        let req = Request::new(
            &[("x-partoo-signature-v1", PARTOO_SIGNATURE)],
            &[],
            PARTOO_BODY.replace('1', "2"),
        );
        assert!(partoo().verify(&req, 0).is_err());
        let req = Request::new(&[("x-partoo-signature-v1", "not base64")], &[], PARTOO_BODY);
        assert!(matches!(
            partoo().verify(&req, 0),
            Err(Unauthorized::MalformedHeader { .. })
        ));
        let req = Request::new(
            &[("x-partoo-signature-v1", &PARTOO_SIGNATURE[..40])],
            &[],
            PARTOO_BODY,
        );
        assert!(matches!(
            partoo().verify(&req, 0),
            Err(Unauthorized::MalformedHeader { .. })
        ));
    }

    #[test]
    fn callbell_known_answer_within_the_window() {
        let req = Request::new(
            &[("X-Callbell-Signature", CALLBELL_SIGNATURE)],
            &[],
            CALLBELL_BODY,
        );
        assert!(callbell(true, false).verify(&req, CALLBELL_T).is_ok());
        assert!(callbell(true, false).verify(&req, CALLBELL_T + 300).is_ok());
        assert!(callbell(true, false).verify(&req, CALLBELL_T - 300).is_ok());
        assert_eq!(
            callbell(true, false)
                .verify(&req, CALLBELL_T + 301)
                .unwrap_err(),
            Unauthorized::Stale(301)
        );
        assert_eq!(
            callbell(true, false)
                .verify(&req, CALLBELL_T - 301)
                .unwrap_err(),
            Unauthorized::Stale(-301)
        );
    }

    #[test]
    fn callbell_rejects_changed_body_and_bad_headers() {
        let req = Request::new(
            &[("x-callbell-signature", CALLBELL_SIGNATURE)],
            &[],
            CALLBELL_BODY.replace("hi", "ho"),
        );
        assert_eq!(
            callbell(true, false).verify(&req, CALLBELL_T).unwrap_err(),
            Unauthorized::BadSignature("X-Callbell-Signature")
        );
        for bad in [
            "v1=3f02",
            "t=abc,v1=3f0253265d3978f8559d261f5fbde51667f2f8136902a050ce0d7eaa957acdc1",
            "t=1763700000",
            "garbage",
        ] {
            let req = Request::new(&[("x-callbell-signature", bad)], &[], CALLBELL_BODY);
            assert!(
                matches!(
                    callbell(true, false).verify(&req, CALLBELL_T),
                    Err(Unauthorized::MalformedHeader { .. })
                ),
                "{bad}"
            );
        }
        // A second v1 may be present (rotation); either may match.
        let two = format!("t=1763700000,v1={},v1=3f0253265d3978f8559d261f5fbde51667f2f8136902a050ce0d7eaa957acdc1", "0".repeat(64));
        let req = Request::new(&[("x-callbell-signature", &two)], &[], CALLBELL_BODY);
        assert!(callbell(true, false).verify(&req, CALLBELL_T).is_ok());
    }

    #[test]
    fn callbell_token_alone_or_either_check() {
        let with_token = Request::new(&[], &[("token", "tok-123")], CALLBELL_BODY);
        let wrong_token = Request::new(&[], &[("token", "tok-124")], CALLBELL_BODY);
        let signed = Request::new(
            &[("x-callbell-signature", CALLBELL_SIGNATURE)],
            &[],
            CALLBELL_BODY,
        );
        assert!(callbell(false, true).verify(&with_token, 0).is_ok());
        assert_eq!(
            callbell(false, true).verify(&wrong_token, 0).unwrap_err(),
            Unauthorized::BadToken
        );
        assert_eq!(
            callbell(false, true)
                .verify(&signed, CALLBELL_T)
                .unwrap_err(),
            Unauthorized::BadToken
        );
        assert!(callbell(true, true).verify(&with_token, 0).is_ok());
        assert!(callbell(true, true).verify(&signed, CALLBELL_T).is_ok());
        assert_eq!(
            callbell(true, true).verify(&wrong_token, 0).unwrap_err(),
            Unauthorized::NoValidCredential
        );
        // The token only counts where configured.
        assert_eq!(
            callbell(true, false).verify(&with_token, 0).unwrap_err(),
            Unauthorized::MissingHeader("x-callbell-signature")
        );
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let shown = format!("{:?}", tiktok());
        assert!(
            !shown.contains("abcdef") && !shown.contains("123"),
            "{shown}"
        );
        assert!(format!("{:?}", callbell(true, true)).contains("redacted"));
    }

    #[test]
    fn public_keys_must_be_64_hex_digits() {
        assert!(parse_ed25519_public_key(PARTOO_PRODUCTION).is_ok());
        assert!(parse_ed25519_public_key("abc").is_err());
        assert!(parse_ed25519_public_key(&"g".repeat(64)).is_err());
    }
}
