//! Configuration from the environment (the README's "Configuration" table). Reading never fails
//! the process: a bad configuration becomes [`Misconfigured`], which the handler answers with
//! 500 to every request, so a function never runs open and never crashes.

use crate::accounts::AllowList;
use crate::error::Misconfigured;
use crate::providers::Provider;

/// Where settings come from: the process environment, or a map in tests. Values are trimmed,
/// and an empty value counts as unset.
pub struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Env<'a> {
    pub fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Env { lookup }
    }

    /// The trimmed value of `name`, unless it is unset or blank.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    pub fn require(&self, name: &str) -> Result<String, Misconfigured> {
        self.get(name)
            .ok_or_else(|| Misconfigured(format!("{name} is not set")))
    }
}

/// Reads the process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Everything a provider's function needs besides its AWS clients.
pub struct Settings<P: Provider> {
    pub table_name: String,
    pub verifier: P::Verifier,
    /// The accounts it serves ([`Provider::ALLOW_LIST`]), when that setting is set.
    pub allow_list: Option<AllowList>,
}

impl<P: Provider> std::fmt::Debug for Settings<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("provider", &P::NAME)
            .field("table_name", &self.table_name)
            .field("verifier", &self.verifier)
            .field("allow_list", &self.allow_list)
            .finish()
    }
}

impl<P: Provider> Settings<P> {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, Misconfigured> {
        Settings::from_lookup(process_env)
    }

    /// Reads the settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Misconfigured> {
        let env = Env::new(&lookup);
        let allow_list = match P::ALLOW_LIST {
            Some(setting) => env
                .get(setting)
                .map(|ids| AllowList::parse(setting, &ids))
                .transpose()?,
            None => None,
        };
        Ok(Settings {
            table_name: env.require("TABLE_NAME")?,
            verifier: P::verifier(&env)?,
            allow_list,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{ProviderId, ProviderVisitor};
    use std::collections::HashMap;

    pub(crate) fn settings<P: Provider>(
        vars: &[(&str, &str)],
    ) -> Result<Settings<P>, Misconfigured> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    struct TableNameRequired;
    impl ProviderVisitor for TableNameRequired {
        type Output = ();
        fn visit<P: Provider>(self) {
            let err = settings::<P>(&[]).unwrap_err();
            assert!(err.0.contains("TABLE_NAME"), "{}: {err}", P::NAME);
        }
    }

    #[test]
    fn table_name_is_required_everywhere() {
        for id in ProviderId::ALL {
            id.visit(TableNameRequired);
        }
    }

    #[test]
    fn blank_values_are_unset() {
        let lookup = |name: &str| match name {
            "A" => Some("  x ".to_string()),
            "B" => Some("   ".to_string()),
            _ => None,
        };
        let env = Env::new(&lookup);
        assert_eq!(env.get("A").as_deref(), Some("x"));
        assert_eq!(env.get("B"), None);
        assert!(env.require("C").unwrap_err().0.contains("C is not set"));
    }
}
