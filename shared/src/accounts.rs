//! Accounts and secrets (docs/CONTRACT.md, "Accounts and secrets"): settings that hold several
//! values, read strictly. A secret setting is a comma-separated list, so that a secret rotates
//! without a window of 401s (add the new one, switch the provider, remove the old one); an entry
//! may name the account it belongs to (`<account>=<secret>`); an allow-list names the accounts a
//! function serves. A doubtful entry is never guessed at: it is a [`SettingError`] naming the
//! setting and the entry's position, never its value, and the function answers 500.
//!
//! Which entry verified a request is chosen in constant time
//! ([`matching_entry`](crate::verify::matching_entry)): every entry is compared, and which one
//! matched does not change how long that takes.

use std::collections::BTreeSet;
use std::fmt;

use crate::error::Misconfigured;
use crate::verify::Secret;
pub use crate::verify::{AccountName, MAX_ACCOUNT_NAME};

/// A setting that cannot be read as written. Says which setting and which entry, never a value:
/// the text of a malformed entry may be most of a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingError {
    pub setting: &'static str,
    pub problem: Problem,
}

/// What is wrong with a setting. Positions count entries from 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// `a,,b`, a leading or a trailing comma.
    EmptyEntry { position: usize, entries: usize },
    /// `=secret`: nothing before the `=`.
    NoAccountName { position: usize },
    /// `<account>=`: nothing after the `=`.
    NoSecret { position: usize },
    /// The text before the first `=` is not an account name.
    NotAnAccountName { position: usize },
    /// `<text>==…`: what looks like base64 padding, not a name and a secret.
    PaddingNotNamed { position: usize },
    /// A `<key>:<secret>` entry without its `:`, or with either side empty.
    NotAKeyAndSecret { position: usize },
    /// The same secret twice, under different account names (or named and unnamed): which
    /// account a request is would depend on the order of the checks.
    SameSecretTwoAccounts {
        first: usize,
        second: usize,
        /// The other setting, when the second entry is in another one.
        other_setting: Option<&'static str>,
    },
    /// A setting that takes one value was given a list.
    OneValueOnly,
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let setting = self.setting;
        match &self.problem {
            Problem::EmptyEntry { position, entries } => write!(
                f,
                "{setting}: entry {position} of {entries} is empty (a doubled, leading or trailing comma?)"
            ),
            Problem::NoAccountName { position } => write!(
                f,
                "{setting}: entry {position} has no account name before its '=' (expected <account>=<secret>)"
            ),
            Problem::NoSecret { position } => write!(
                f,
                "{setting}: entry {position} has nothing after its '=' (expected <account>=<secret>)"
            ),
            Problem::NotAnAccountName { position } => write!(
                f,
                "{setting}: entry {position}: the text before its first '=' is not an account name \
                 (1 to {MAX_ACCOUNT_NAME} letters, digits, '_', '.', '-'); a secret that contains '=' \
                 is written named: <account>=<secret>"
            ),
            Problem::PaddingNotNamed { position } => write!(
                f,
                "{setting}: entry {position} has '==' where an account name would end (base64 \
                 padding?); a secret that contains '=' is written named: <account>=<secret>"
            ),
            Problem::NotAKeyAndSecret { position } => write!(
                f,
                "{setting}: entry {position} is not <app key>:<app secret>"
            ),
            Problem::SameSecretTwoAccounts {
                first,
                second,
                other_setting: None,
            } => write!(
                f,
                "{setting}: entries {first} and {second} hold the same secret under different account names (or one named, one not)"
            ),
            Problem::SameSecretTwoAccounts {
                first,
                second,
                other_setting: Some(other),
            } => write!(
                f,
                "{setting} entry {first} and {other} entry {second} hold the same secret under different account names (or one named, one not)"
            ),
            Problem::OneValueOnly => write!(
                f,
                "{setting} takes one value, not a comma-separated list"
            ),
        }
    }
}

impl std::error::Error for SettingError {}

impl From<SettingError> for Misconfigured {
    fn from(error: SettingError) -> Self {
        Misconfigured(error.to_string())
    }
}

impl SettingError {
    fn new(setting: &'static str, problem: Problem) -> Self {
        SettingError { setting, problem }
    }
}

/// The entries of a comma-separated setting, each trimmed. Every entry must have something in
/// it: an empty one is a typo that would otherwise pass unseen.
pub fn entries<'v>(setting: &'static str, value: &'v str) -> Result<Vec<&'v str>, SettingError> {
    let entries: Vec<&str> = value.split(',').map(str::trim).collect();
    let count = entries.len();
    match entries.iter().position(|entry| entry.is_empty()) {
        Some(empty) => Err(SettingError::new(
            setting,
            Problem::EmptyEntry {
                position: empty + 1,
                entries: count,
            },
        )),
        None => Ok(entries),
    }
}

/// A setting that takes exactly one value: a comma in it is refused rather than kept as part of
/// the value (someone expected a list).
pub fn single(setting: &'static str, value: &str) -> Result<String, SettingError> {
    if value.contains(',') {
        return Err(SettingError::new(setting, Problem::OneValueOnly));
    }
    Ok(value.trim().to_string())
}

/// A list of secrets, any of which verifies.
pub fn secrets(setting: &'static str, value: &str) -> Result<Vec<Secret>, SettingError> {
    let mut secrets: Vec<Secret> = Vec::new();
    for entry in entries(setting, value)? {
        // The same secret twice checks twice for nothing.
        if !secrets.iter().any(|s| s.expose() == entry.as_bytes()) {
            secrets.push(Secret::new(entry));
        }
    }
    Ok(secrets)
}

/// A `<key>:<secret>` list (several apps, each with its key and secret), split at each entry's
/// first `:`. The key is no secret, but it is kept as one: the signature covers it, and nothing
/// needs to print it.
pub fn key_secret_pairs(
    setting: &'static str,
    value: &str,
) -> Result<Vec<(Secret, Secret)>, SettingError> {
    let mut pairs: Vec<(Secret, Secret)> = Vec::new();
    for (index, entry) in entries(setting, value)?.into_iter().enumerate() {
        let problem = Problem::NotAKeyAndSecret {
            position: index + 1,
        };
        let (key, secret) = entry
            .split_once(':')
            .ok_or_else(|| SettingError::new(setting, problem.clone()))?;
        let (key, secret) = (key.trim(), secret.trim());
        if key.is_empty() || secret.is_empty() {
            return Err(SettingError::new(setting, problem));
        }
        let known = pairs
            .iter()
            .any(|(k, s)| k.expose() == key.as_bytes() && s.expose() == secret.as_bytes());
        if !known {
            pairs.push((Secret::new(key), Secret::new(secret)));
        }
    }
    Ok(pairs)
}

/// One entry of a setting whose entries may name their account.
#[derive(Clone, Debug)]
pub struct NamedSecret {
    pub account: Option<AccountName>,
    pub secret: Secret,
    /// Its position in the setting, from 1 (for messages about it).
    pub position: usize,
}

/// The entries of a secret setting whose entries may be named: `<secret>` or
/// `<account>=<secret>`. The split rule, in order:
///
/// 1. an entry that starts with `never_named_prefix` (Callbell's `whsec_`, whose base64 may
///    end in `=`) is a secret, whole;
/// 2. an entry without `=` is a secret, whole;
/// 3. otherwise the text before the first `=` must be an account name ([`AccountName`]) and
///    the text after it a secret that does not start with `=` — anything else (`=secret`,
///    `<account>=`, `dG9rZW4==`, `a/b=c`) is refused, never guessed at.
///
/// One account may have several secrets (rotation). The same secret under two different names,
/// or named and unnamed, is refused: the account of a request must not depend on an order.
#[derive(Clone, Debug)]
pub struct NamedSecrets {
    pub setting: &'static str,
    pub entries: Vec<NamedSecret>,
}

impl NamedSecrets {
    pub fn parse(
        setting: &'static str,
        value: &str,
        never_named_prefix: &str,
    ) -> Result<NamedSecrets, SettingError> {
        let mut named = NamedSecrets {
            setting,
            entries: Vec::new(),
        };
        for (index, entry) in entries(setting, value)?.into_iter().enumerate() {
            let position = index + 1;
            let (account, secret) = split_named(setting, entry, position, never_named_prefix)?;
            match named
                .entries
                .iter()
                .find(|e| e.secret.expose() == secret.as_bytes())
            {
                Some(earlier) if earlier.account == account => {} // the same entry twice
                Some(earlier) => {
                    return Err(SettingError::new(
                        setting,
                        Problem::SameSecretTwoAccounts {
                            first: earlier.position,
                            second: position,
                            other_setting: None,
                        },
                    ))
                }
                None => named.entries.push(NamedSecret {
                    account,
                    secret: Secret::new(secret),
                    position,
                }),
            }
        }
        Ok(named)
    }

    /// Refuses a secret that `other` also holds under another account (or named in one,
    /// unnamed in the other): a request carrying it would belong to two accounts.
    pub fn check_distinct_from(&self, other: &NamedSecrets) -> Result<(), SettingError> {
        for entry in &self.entries {
            for theirs in &other.entries {
                if entry.secret.expose() == theirs.secret.expose()
                    && entry.account != theirs.account
                {
                    return Err(SettingError::new(
                        self.setting,
                        Problem::SameSecretTwoAccounts {
                            first: entry.position,
                            second: theirs.position,
                            other_setting: Some(other.setting),
                        },
                    ));
                }
            }
        }
        Ok(())
    }
}

fn split_named<'e>(
    setting: &'static str,
    entry: &'e str,
    position: usize,
    never_named_prefix: &str,
) -> Result<(Option<AccountName>, &'e str), SettingError> {
    let refuse = |problem| Err(SettingError::new(setting, problem));
    if !never_named_prefix.is_empty() && entry.starts_with(never_named_prefix) {
        return Ok((None, entry));
    }
    let Some((name, secret)) = entry.split_once('=') else {
        return Ok((None, entry));
    };
    let (name, secret) = (name.trim(), secret.trim());
    if name.is_empty() {
        return refuse(Problem::NoAccountName { position });
    }
    if secret.is_empty() {
        return refuse(Problem::NoSecret { position });
    }
    if secret.starts_with('=') {
        return refuse(Problem::PaddingNotNamed { position });
    }
    match AccountName::parse(name) {
        Some(account) => Ok((Some(account), secret)),
        None => refuse(Problem::NotAnAccountName { position }),
    }
}

/// The accounts (organizations, shops) a function serves, as the provider's ids. An authentic
/// message of any other account is refused (403) and stored nowhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowList {
    pub setting: &'static str,
    ids: BTreeSet<String>,
}

impl AllowList {
    pub fn parse(setting: &'static str, value: &str) -> Result<AllowList, SettingError> {
        Ok(AllowList {
            setting,
            ids: entries(setting, value)?
                .into_iter()
                .map(str::to_string)
                .collect(),
        })
    }

    /// Whether a message of `account` is served: a listed id. A message that names no account
    /// is not.
    pub fn allows(&self, account: Option<&str>) -> bool {
        account.is_some_and(|id| self.ids.contains(id))
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.ids.iter().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &str = "CALLBELL_WEBHOOK_SECRET";

    fn problem<T: fmt::Debug>(result: Result<T, SettingError>) -> Problem {
        result.unwrap_err().problem
    }

    fn named(value: &str) -> Result<NamedSecrets, SettingError> {
        NamedSecrets::parse(S, value, "whsec_")
    }

    /// (account, secret) of each entry, for known answers.
    fn split(value: &str) -> Vec<(Option<String>, String)> {
        named(value)
            .unwrap()
            .entries
            .iter()
            .map(|e| {
                (
                    e.account.as_ref().map(|a| a.to_string()),
                    String::from_utf8(e.secret.expose().to_vec()).unwrap(),
                )
            })
            .collect()
    }

    fn some(name: &str, secret: &str) -> (Option<String>, String) {
        (Some(name.into()), secret.into())
    }

    fn none(secret: &str) -> (Option<String>, String) {
        (None, secret.into())
    }

    #[test]
    fn lists_are_comma_separated_and_trimmed() {
        assert_eq!(entries(S, "a").unwrap(), ["a"]);
        assert_eq!(entries(S, "a, b ,c").unwrap(), ["a", "b", "c"]);
        for (value, position, count) in [
            ("a,,b", 2, 3),
            ("a,b,", 3, 3),
            (",a", 1, 2),
            ("a, ,b", 2, 3),
            (",", 1, 2),
        ] {
            assert_eq!(
                problem(entries(S, value)),
                Problem::EmptyEntry {
                    position,
                    entries: count
                },
                "{value}"
            );
        }
    }

    #[test]
    fn secret_lists_keep_each_secret_once() {
        let list = secrets("TIKTOK_SHOP_APP_SECRET", "old,new,old").unwrap();
        let values: Vec<&[u8]> = list.iter().map(Secret::expose).collect();
        assert_eq!(values, [b"old".as_slice(), b"new"]);
        assert!(secrets("TIKTOK_SHOP_APP_SECRET", "old,").is_err());
    }

    #[test]
    fn single_values_refuse_lists() {
        assert_eq!(single("TIKTOK_SHOP_APP_KEY", " k ").unwrap(), "k");
        assert_eq!(
            problem(single("TIKTOK_SHOP_APP_KEY", "k1,k2")),
            Problem::OneValueOnly
        );
    }

    #[test]
    fn key_secret_pairs_split_at_the_first_colon() {
        let pairs = key_secret_pairs("TIKTOK_SHOP_APPS", "k1:s1, k2 : s:2 ,k1:s1").unwrap();
        let shown: Vec<(&[u8], &[u8])> = pairs
            .iter()
            .map(|(k, s)| (k.expose(), s.expose()))
            .collect();
        assert_eq!(
            shown,
            [(b"k1".as_slice(), b"s1".as_slice()), (b"k2", b"s:2")]
        );
        for (value, position) in [("k1", 1), ("k1:s1,k2", 2), (":s", 1), ("k:", 1), ("k: ", 1)] {
            assert_eq!(
                problem(key_secret_pairs("TIKTOK_SHOP_APPS", value)),
                Problem::NotAKeyAndSecret { position },
                "{value}"
            );
        }
    }

    #[test]
    fn named_entries_known_answers() {
        assert_eq!(split("plain"), [none("plain")]);
        assert_eq!(split("brand-fr=tok"), [some("brand-fr", "tok")]);
        // Callbell secrets are base64 and may end in '=': never a name.
        assert_eq!(split("whsec_abc="), [none("whsec_abc=")]);
        assert_eq!(split("whsec_a=b=="), [none("whsec_a=b==")]);
        assert_eq!(
            split("whsec_dGVzdC12ZWN0b3ItY2FsbGJlbGw="),
            [none("whsec_dGVzdC12ZWN0b3ItY2FsbGJlbGw=")]
        );
        // A named whsec_ secret keeps its own '='; the split is at the first '='.
        assert_eq!(
            split("brand.fr=whsec_abc="),
            [some("brand.fr", "whsec_abc=")]
        );
        assert_eq!(split("acct=a=b"), [some("acct", "a=b")]);
        // Spaces around the parts are not part of them.
        assert_eq!(split(" a_1 = s "), [some("a_1", "s")]);
        // One account, several secrets (rotation); named and unnamed side by side.
        assert_eq!(
            split("fr=old,fr=new,whsec_x=,es=other"),
            [
                some("fr", "old"),
                some("fr", "new"),
                none("whsec_x="),
                some("es", "other")
            ]
        );
    }

    #[test]
    fn malformed_named_entries_are_refused() {
        for (value, expected) in [
            ("=secret", Problem::NoAccountName { position: 1 }),
            ("a,brand=", Problem::NoSecret { position: 2 }),
            ("brand= ", Problem::NoSecret { position: 1 }),
            // A base64 token with padding, unnamed: refused, not read as "name" and "=".
            ("dG9rZW4xMjM0NQ==", Problem::PaddingNotNamed { position: 1 }),
            ("dG9rZW4xMjM0NQ=", Problem::NoSecret { position: 1 }),
            ("a/b+c=d", Problem::NotAnAccountName { position: 1 }),
            ("my brand=s", Problem::NotAnAccountName { position: 1 }),
            (
                &format!("{}=s", "n".repeat(MAX_ACCOUNT_NAME + 1)),
                Problem::NotAnAccountName { position: 1 },
            ),
            (
                "a,,b",
                Problem::EmptyEntry {
                    position: 2,
                    entries: 3,
                },
            ),
        ] {
            assert_eq!(problem(named(value)), expected, "{value}");
        }
        assert!(named(&format!("{}=s", "n".repeat(MAX_ACCOUNT_NAME))).is_ok());
    }

    #[test]
    fn one_secret_belongs_to_one_account() {
        let twice = Problem::SameSecretTwoAccounts {
            first: 1,
            second: 3,
            other_setting: None,
        };
        assert_eq!(problem(named("fr=s,x,es=s")), twice);
        assert_eq!(problem(named("fr=s,x,s")), twice);
        assert_eq!(problem(named("s,x,fr=s")), twice);
        // The very same entry twice is harmless, and kept once.
        assert_eq!(split("fr=s,fr=s,s2,s2"), [some("fr", "s"), none("s2")]);

        let secrets = named("fr=s1,s2").unwrap();
        let tokens = |value| NamedSecrets::parse("CALLBELL_URL_TOKEN", value, "whsec_").unwrap();
        assert!(secrets.check_distinct_from(&tokens("fr=s1,t")).is_ok());
        assert_eq!(
            problem(secrets.check_distinct_from(&tokens("t,es=s1"))),
            Problem::SameSecretTwoAccounts {
                first: 1,
                second: 2,
                other_setting: Some("CALLBELL_URL_TOKEN"),
            }
        );
        assert!(secrets.check_distinct_from(&tokens("s2")).is_ok());
        assert!(secrets.check_distinct_from(&tokens("fr=s2")).is_err());
    }

    #[test]
    fn errors_name_the_setting_and_never_a_value() {
        let secret = "dG9rZW4xMjM0NQ";
        for value in [
            format!("{secret}=="),
            format!("{secret}="),
            format!("={secret}"),
            format!("fr={secret},es={secret}"),
            format!("{secret},,x"),
            format!("a/{secret}=b"),
        ] {
            let text = named(&value).unwrap_err().to_string();
            assert!(text.starts_with(S), "{text}");
            assert!(!text.contains(secret), "{text}");
            assert!(!text.contains("fr") && !text.contains("es="), "{text}");
        }
        let text = key_secret_pairs("TIKTOK_SHOP_APPS", &format!("key{secret}"))
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("TIKTOK_SHOP_APPS") && !text.contains(secret),
            "{text}"
        );
        let shown = format!("{:?}", named("fr=hunter2").unwrap());
        assert!(
            !shown.contains("hunter2") && shown.contains("fr"),
            "{shown}"
        );
        let shown = format!("{:?}", key_secret_pairs("X", "k:hunter2").unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn allow_lists() {
        let list = AllowList::parse("PARTOO_ORG_IDS", "4242, 17").unwrap();
        assert!(list.allows(Some("4242")) && list.allows(Some("17")));
        assert!(!list.allows(Some("42")) && !list.allows(Some(" 17")));
        assert!(
            !list.allows(None),
            "a message naming no account is not served"
        );
        assert_eq!(list.ids().collect::<Vec<_>>(), ["17", "4242"]);
        assert_eq!(
            problem(AllowList::parse("TIKTOK_SHOP_IDS", "1,")),
            Problem::EmptyEntry {
                position: 2,
                entries: 2
            }
        );
    }
}
