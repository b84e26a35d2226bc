//! The projector's settings: only the shared part ([`FunctionConfig`]'s table). Reading never
//! fails the process: without a table the function is [`Misconfigured`] and fails every batch
//! (the stream retries it, then the dead-letter queue keeps it).

use crate::config::{Env, FunctionConfig};
use crate::error::Misconfigured;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectorSettings {
    /// `TABLE_NAME`.
    pub table_name: String,
}

impl ProjectorSettings {
    pub fn read(shared: &FunctionConfig) -> Result<Self, Misconfigured> {
        Ok(ProjectorSettings {
            table_name: shared.table_name.clone()?,
        })
    }

    /// Reads it through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Misconfigured> {
        ProjectorSettings::read(&FunctionConfig::read(&Env::new(&lookup)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_required() {
        let settings = ProjectorSettings::from_lookup(|name| {
            (name == "TABLE_NAME").then(|| "messages".to_string())
        });
        assert_eq!(settings.unwrap().table_name, "messages");
        let missing = ProjectorSettings::from_lookup(|_| None).unwrap_err();
        assert!(missing.0.contains("TABLE_NAME"), "{missing}");
    }
}
