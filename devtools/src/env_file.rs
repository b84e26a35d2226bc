//! Reads `local.env`, the file `cargo lambda watch --env-file` and the scripts read too.
//!
//! Format: `KEY=value` lines; blank lines and `#` comments are skipped; an optional `export `
//! prefix is allowed; a value wrapped in matching single or double quotes loses the quotes.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Context, Error, Result};

pub struct EnvFile {
    path: String,
    vars: BTreeMap<String, String>,
}

impl EnvFile {
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Self::parse(&path.display().to_string(), &text)
    }

    pub fn parse(path: &str, text: &str) -> Result<Self> {
        let mut vars = BTreeMap::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let line = line.strip_prefix("export ").unwrap_or(line);
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| Error::msg(format!("{path}:{}: expected KEY=value", number + 1)))?;
            vars.insert(key.trim().to_owned(), unquote(value.trim()).to_owned());
        }
        Ok(Self {
            path: path.to_owned(),
            vars,
        })
    }

    /// The value of `key`, which must be present and non-empty.
    pub fn require(&self, key: &str) -> Result<&str> {
        match self.vars.get(key) {
            Some(value) if !value.is_empty() => Ok(value),
            _ => Err(Error::msg(format!("{} does not set {key}", self.path))),
        }
    }
}

fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(inner) = value
            .strip_prefix(quote)
            .and_then(|rest| rest.strip_suffix(quote))
        {
            return inner;
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_comments_quotes_and_equals_signs() {
        let env = EnvFile::parse(
            "local.env",
            "# comment\n\nA=1\nexport B = two \nC=\"whsec_abc=\"\nD='x'\nE=\n",
        )
        .unwrap();
        assert_eq!(env.require("A").unwrap(), "1");
        assert_eq!(env.require("B").unwrap(), "two");
        assert_eq!(env.require("C").unwrap(), "whsec_abc=");
        assert_eq!(env.require("D").unwrap(), "x");
        assert!(env.require("E").is_err());
        assert!(env.require("F").is_err());
    }

    #[test]
    fn rejects_lines_without_equals() {
        let err = EnvFile::parse("local.env", "A=1\nnonsense\n")
            .err()
            .unwrap();
        assert_eq!(err.to_string(), "local.env:2: expected KEY=value");
    }
}
