//! Signing the way each provider does, to make authentic sample events.

use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey};
use hmac::{KeyInit as _, Mac as _};
use sha2::Sha256;

use crate::error::{Error, Result};

/// TikTok Shop `Authorization`: lowercase hex HMAC-SHA256 keyed with the app secret over the app
/// key followed by the raw body.
pub fn tiktok_authorization(app_key: &str, app_secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(app_secret.as_bytes())
        .expect("HMAC-SHA256 takes a key of any length");
    mac.update(app_key.as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// An Ed25519 key that signs like Partoo (`X-Partoo-Signature-v1`).
pub struct PartooSigner(SigningKey);

impl PartooSigner {
    /// From the hex of the 32-byte secret key (seed).
    pub fn from_secret_hex(secret_hex: &str) -> Result<Self> {
        let bytes: [u8; 32] = hex::decode(secret_hex)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| Error::msg("an Ed25519 secret key must be 64 hex digits"))?;
        Ok(Self(SigningKey::from_bytes(&bytes)))
    }

    /// The hex of the public key, as `PARTOO_PUBLIC_KEYS` lists it.
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.0.verifying_key().to_bytes())
    }

    /// Standard padded base64 of the signature over the raw body.
    pub fn signature(&self, body: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0.sign(body).to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors from the provider notes (shared/providers/NOTES.md).
    const TIKTOK_BODY: &str = r#"{"type":1,"tts_notification_id":"7380066284010030890","shop_id":"7495540735365777507","timestamp":1718305585,"data":{"is_on_hold_order":true,"order_id":"576653688135258178","order_status":"UNPAID","update_time":1718305585}}"#;
    const RFC8032_TEST1_SECRET: &str =
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

    #[test]
    fn tiktok_vector() {
        assert_eq!(
            tiktok_authorization("abcdef", "123", TIKTOK_BODY.as_bytes()),
            "5dec0f11ec2f6783b8deee53c9ffbf8d024302f7c7e7fa55a35d17629031ac05"
        );
        // Swapping key and message gives another value.
        assert_ne!(
            tiktok_authorization("123", "abcdef", TIKTOK_BODY.as_bytes()),
            "5dec0f11ec2f6783b8deee53c9ffbf8d024302f7c7e7fa55a35d17629031ac05"
        );
    }

    #[test]
    fn partoo_vector() {
        let signer = PartooSigner::from_secret_hex(RFC8032_TEST1_SECRET).unwrap();
        assert_eq!(
            signer.public_key_hex(),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        assert_eq!(
            signer.signature(br#"{"type":"message_created","payload":{"org_id":1}}"#),
            "enAtOBn0Sb9qMhDiaYydbxCBn/pKGiTpnPMkYg+jnNAk1FTwA9aXQ5laF74ke1x+AsviTNd2g2+0Uq7SCXrUBw=="
        );
    }

    #[test]
    fn partoo_rejects_bad_secret() {
        assert!(PartooSigner::from_secret_hex("abcd").is_err());
        assert!(PartooSigner::from_secret_hex(&"zz".repeat(32)).is_err());
    }
}
