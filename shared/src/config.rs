//! Configuration from the environment, as the contract's "Configuration" table names it.
//! Reading never fails the process: a bad configuration becomes [`Misconfigured`], which the
//! handler answers with 500 to every request, so the function never runs open and never crashes.

use crate::error::Misconfigured;
use crate::message::Provider;
use crate::verify::{parse_ed25519_public_key, Secret, Verifier};

/// Partoo's published production key, used when `PARTOO_PUBLIC_KEYS` is unset.
pub const PARTOO_PRODUCTION_KEY: &str =
    "d06f5c8872fa5d9417b96aba5b87452efc0d10f5a071db50804565048c195814";
/// Partoo's published sandbox key, for reference (set it in `PARTOO_PUBLIC_KEYS` to accept it).
pub const PARTOO_SANDBOX_KEY: &str =
    "2eccaf5f6c959c6dd92912057c4bd89369e4cda9e836002a052a9d78db9be2c3";

/// Everything a function needs besides its DynamoDB client.
#[derive(Clone, Debug)]
pub struct Settings {
    pub provider: Provider,
    pub table_name: String,
    pub verifier: Verifier,
}

impl Settings {
    /// Reads the provider's settings from the process environment.
    pub fn from_env(provider: Provider) -> Result<Settings, Misconfigured> {
        Settings::from_lookup(provider, |name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests). Empty values count
    /// as unset.
    pub fn from_lookup(
        provider: Provider,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, Misconfigured> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let table_name =
            get("TABLE_NAME").ok_or_else(|| Misconfigured("TABLE_NAME is not set".into()))?;
        let verifier = match provider {
            Provider::TiktokShop => {
                match (get("TIKTOK_SHOP_APP_KEY"), get("TIKTOK_SHOP_APP_SECRET")) {
                    (Some(key), Some(secret)) => Verifier::TiktokShop {
                        app_key: Secret::new(key.trim()),
                        app_secret: Secret::new(secret.trim()),
                    },
                    _ => {
                        return Err(Misconfigured(
                            "TIKTOK_SHOP_APP_KEY and TIKTOK_SHOP_APP_SECRET must both be set"
                                .into(),
                        ))
                    }
                }
            }
            Provider::Partoo => {
                let listed =
                    get("PARTOO_PUBLIC_KEYS").unwrap_or_else(|| PARTOO_PRODUCTION_KEY.to_string());
                let keys = listed
                    .split(',')
                    .filter(|k| !k.trim().is_empty())
                    .map(parse_ed25519_public_key)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| Misconfigured(format!("PARTOO_PUBLIC_KEYS: {e}")))?;
                if keys.is_empty() {
                    return Err(Misconfigured("PARTOO_PUBLIC_KEYS lists no key".into()));
                }
                Verifier::Partoo { keys }
            }
            Provider::Callbell => {
                let signing_secret = get("CALLBELL_WEBHOOK_SECRET").map(|s| Secret::new(s.trim()));
                let url_token = get("CALLBELL_URL_TOKEN").map(|s| Secret::new(s.trim()));
                if signing_secret.is_none() && url_token.is_none() {
                    return Err(Misconfigured(
                        "set CALLBELL_WEBHOOK_SECRET or CALLBELL_URL_TOKEN (or both)".into(),
                    ));
                }
                Verifier::Callbell {
                    signing_secret,
                    url_token,
                }
            }
        };
        Ok(Settings {
            provider,
            table_name,
            verifier,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(provider: Provider, vars: &[(&str, &str)]) -> Result<Settings, Misconfigured> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(provider, |name| map.get(name).cloned())
    }

    #[test]
    fn table_name_is_required_everywhere() {
        for provider in Provider::ALL {
            let err = settings(provider, &[]).unwrap_err();
            assert!(err.0.contains("TABLE_NAME"), "{err}");
        }
    }

    #[test]
    fn tiktok_needs_key_and_secret() {
        assert!(settings(
            Provider::TiktokShop,
            &[("TABLE_NAME", "t"), ("TIKTOK_SHOP_APP_KEY", "k")]
        )
        .is_err());
        assert!(settings(
            Provider::TiktokShop,
            &[("TABLE_NAME", "t"), ("TIKTOK_SHOP_APP_SECRET", "s")]
        )
        .is_err());
        let ok = settings(
            Provider::TiktokShop,
            &[
                ("TABLE_NAME", "t"),
                ("TIKTOK_SHOP_APP_KEY", "k"),
                ("TIKTOK_SHOP_APP_SECRET", "s"),
            ],
        )
        .unwrap();
        assert_eq!(ok.table_name, "t");
    }

    #[test]
    fn partoo_defaults_to_the_production_key_and_rejects_bad_entries() {
        let ok = settings(Provider::Partoo, &[("TABLE_NAME", "t")]).unwrap();
        match ok.verifier {
            Verifier::Partoo { keys } => {
                assert_eq!(hex::encode(keys[0].as_bytes()), PARTOO_PRODUCTION_KEY);
            }
            other => panic!("{other:?}"),
        }
        let two = format!("{PARTOO_PRODUCTION_KEY}, {PARTOO_SANDBOX_KEY}");
        match settings(
            Provider::Partoo,
            &[("TABLE_NAME", "t"), ("PARTOO_PUBLIC_KEYS", &two)],
        )
        .unwrap()
        .verifier
        {
            Verifier::Partoo { keys } => assert_eq!(keys.len(), 2),
            other => panic!("{other:?}"),
        }
        let bad = format!("{PARTOO_PRODUCTION_KEY},abc");
        let err = settings(
            Provider::Partoo,
            &[("TABLE_NAME", "t"), ("PARTOO_PUBLIC_KEYS", &bad)],
        )
        .unwrap_err();
        assert!(err.0.contains("64 hex digits"), "{err}");
    }

    #[test]
    fn callbell_needs_a_secret_or_a_token() {
        assert!(settings(
            Provider::Callbell,
            &[("TABLE_NAME", "t"), ("CALLBELL_URL_TOKEN", "  ")]
        )
        .is_err());
        assert!(settings(
            Provider::Callbell,
            &[("TABLE_NAME", "t"), ("CALLBELL_URL_TOKEN", "x")]
        )
        .is_ok());
        assert!(settings(
            Provider::Callbell,
            &[("TABLE_NAME", "t"), ("CALLBELL_WEBHOOK_SECRET", "whsec_x")]
        )
        .is_ok());
    }

    #[test]
    fn errors_never_show_secrets() {
        let err = settings(
            Provider::TiktokShop,
            &[("TABLE_NAME", "t"), ("TIKTOK_SHOP_APP_SECRET", "hunter2")],
        )
        .unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
    }
}
