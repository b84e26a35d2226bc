//! The providers. Each module is one provider, whole: its name, its settings, how it proves a
//! call is authentic, its payloads and how they become a [`Message`](crate::message::Message),
//! the order of its statuses, and (with the `testkit` feature) how to sign a sample like it.
//!
//! The rest of the crate is generic over [`Provider`]: a function serves one provider, and its
//! binary carries only that provider's code. Adding one is a new module and one line in the
//! [`providers!`] list at the end of this file (docs/ADDING_A_PROVIDER.md).

use crate::accounts::AllowList;
use crate::config::{Env, FunctionConfig};
use crate::error::{Invalid, Misconfigured};
use crate::message::Message;
use crate::verify::{Verified, Verify};
use crate::webhook::{StatusOrder, Webhook};

/// Everything the pipeline needs to know about one provider. Only the types of the
/// [`providers!`] list are providers: the list gives each its [`ProviderId`].
pub trait Provider: registration::Registered + Sized + Send + Sync + 'static {
    /// The provider value of items and keys (`tiktok_shop`): lower case, `_` between words.
    const NAME: &'static str;
    /// The function (binary, cargo-lambda and route) name (`tiktok-shop`).
    const FUNCTION: &'static str;
    /// How its delivery statuses move forward, for updates; [`StatusOrder::NONE`] when it
    /// sends none.
    const STATUS_ORDER: StatusOrder;

    /// What authenticates its calls, read once from the environment.
    type Verifier: Verify;

    /// The setting that lists the accounts the function serves (`PARTOO_ORG_IDS`), for a
    /// provider whose messages name their account (`account_id`) and whose signature does not
    /// tell our accounts from others'. When it is set, an authentic message of an account it
    /// leaves out is refused (403) and stored nowhere.
    const ALLOW_LIST: Option<&'static str> = None;

    /// Reads the verifier's settings. A provider that cannot authenticate anything as
    /// configured is [`Misconfigured`]: its function then answers 500, never runs open.
    fn verifier(env: &Env) -> Result<Self::Verifier, Misconfigured>;

    /// What an authentic request means: a message, an update, or something to acknowledge.
    /// A body that is not what the provider sends is [`Invalid`], naming the field to blame.
    fn read(request: &Verified<'_>) -> Result<Webhook, Invalid>;

    /// Whether a later update must find `message` by its `message_id` alone, so that storage
    /// keeps an id item for it (docs/CONTRACT.md, "Writing less"). No by default: a provider
    /// without updates, or whose updates carry their message's order key
    /// ([`crate::webhook::Update::order_key`]).
    fn updates_find_by_id(_message: &Message) -> bool {
        false
    }

    /// The account a body names, read from its envelope alone, for a body [`Provider::read`]
    /// found invalid: a foreign account's body is refused even then, so that strangers cannot
    /// fill the quarantine. `None` when it names none, or the provider has no allow-list.
    fn account_of(_body: &[u8]) -> Option<String> {
        None
    }
}

/// A provider's function's settings: the shared part's table and the provider's verifier, both
/// required (a webhook function answers 500 to everything without them).
pub struct Settings<P: Provider> {
    pub table_name: String,
    pub verifier: P::Verifier,
    /// The accounts it serves ([`Provider::ALLOW_LIST`]), when that setting is set.
    pub allow_list: Option<AllowList>,
    /// `RETENTION_DAYS` (the shared part's): the TTL on the items it writes.
    pub retention: Option<crate::config::Retention>,
}

impl<P: Provider> std::fmt::Debug for Settings<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("provider", &P::NAME)
            .field("table_name", &self.table_name)
            .field("verifier", &self.verifier)
            .field("allow_list", &self.allow_list)
            .field("retention", &self.retention)
            .finish()
    }
}

impl<P: Provider> Settings<P> {
    /// The provider's settings on top of the shared part, both read from `env`.
    pub fn read(shared: &FunctionConfig, env: &Env) -> Result<Self, Misconfigured> {
        let allow_list = match P::ALLOW_LIST {
            Some(setting) => env
                .get(setting)
                .map(|ids| AllowList::parse(setting, &ids))
                .transpose()?,
            None => None,
        };
        Ok(Settings {
            table_name: shared.table_name.clone()?,
            verifier: P::verifier(env)?,
            allow_list,
            retention: shared.retention.clone()?,
        })
    }

    /// Reads the settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Misconfigured> {
        let env = Env::new(&lookup);
        Settings::read(&FunctionConfig::read(&env), &env)
    }
}

/// Calls a function generic over the provider with the provider a [`ProviderId`] names.
pub trait ProviderVisitor {
    type Output;
    fn visit<P: Provider>(self) -> Self::Output;
}

/// The one list of providers: each `module::Type` here becomes a module of this crate, a
/// variant of [`ProviderId`], and an entry of [`ProviderId::ALL`]. Everything that must cover
/// every provider (tests, fuzzing, the developer tools, the scripts through `ingest-dev`) walks
/// `ProviderId::ALL` or matches on it, so nothing can leave a provider out silently.
macro_rules! providers {
    ($($module:ident :: $provider:ident),+ $(,)?) => {
        $(mod $module;)+
        $(pub use $module::$provider;)+

        $(impl registration::Registered for $provider {
            const ID: ProviderId = ProviderId::$provider;
        })+

        /// One variant per provider.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ProviderId {
            $($provider),+
        }

        impl ProviderId {
            /// Every provider, in the order of the list.
            pub const ALL: &'static [ProviderId] = &[$(ProviderId::$provider),+];

            /// The provider value (`tiktok_shop`).
            pub const fn name(self) -> &'static str {
                match self {
                    $(ProviderId::$provider => <$provider as Provider>::NAME),+
                }
            }

            /// The function name (`tiktok-shop`).
            pub const fn function(self) -> &'static str {
                match self {
                    $(ProviderId::$provider => <$provider as Provider>::FUNCTION),+
                }
            }

            /// Whether it sends updates of stored messages (its status order has statuses).
            pub fn sends_updates(self) -> bool {
                match self {
                    $(ProviderId::$provider => !<$provider as Provider>::STATUS_ORDER.is_none()),+
                }
            }

            /// [`Provider::updates_find_by_id`] of this provider: whether storage keeps an id
            /// item for `message`.
            pub fn updates_find_by_id(self, message: &Message) -> bool {
                match self {
                    $(ProviderId::$provider => <$provider as Provider>::updates_find_by_id(message)),+
                }
            }

            /// The setting of its allow-list of accounts ([`Provider::ALLOW_LIST`]), if it has one.
            pub const fn allow_list(self) -> Option<&'static str> {
                match self {
                    $(ProviderId::$provider => <$provider as Provider>::ALLOW_LIST),+
                }
            }

            /// Runs `visitor` with this provider's type.
            pub fn visit<V: ProviderVisitor>(self, visitor: V) -> V::Output {
                match self {
                    $(ProviderId::$provider => visitor.visit::<$provider>()),+
                }
            }

            /// How to sign and build samples like this provider's.
            #[cfg(feature = "testkit")]
            pub fn samples(self) -> &'static dyn crate::testkit::Samples {
                match self {
                    $(ProviderId::$provider => &$provider),+
                }
            }
        }
    };
}

/// What makes a type a provider of the list: its id, given by [`providers!`] (public in a
/// private module, so that nothing else can implement it).
mod registration {
    pub trait Registered {
        const ID: super::ProviderId;
    }
}

impl ProviderId {
    /// The provider whose provider value or function name is `name` (a person's words: the
    /// command line, the scripts).
    pub fn find(name: &str) -> Option<ProviderId> {
        ProviderId::ALL
            .iter()
            .copied()
            .find(|id| id.name() == name || id.function() == name)
    }

    /// The provider whose provider value is `value` (what items, keys and spool messages
    /// carry); a function name is not one.
    pub fn named(value: &str) -> Option<ProviderId> {
        ProviderId::ALL
            .iter()
            .copied()
            .find(|id| id.name() == value)
    }

    /// The id of `P`.
    pub const fn of<P: Provider>() -> ProviderId {
        P::ID
    }
}

impl std::fmt::Display for ProviderId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Written as its provider value (`tiktok_shop`), in items and fingerprints alike.
impl serde::Serialize for ProviderId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// A provider value compares equal to its text.
impl PartialEq<str> for ProviderId {
    fn eq(&self, value: &str) -> bool {
        self.name() == value
    }
}

impl PartialEq<&str> for ProviderId {
    fn eq(&self, value: &&str) -> bool {
        self.name() == *value
    }
}

providers! {
    tiktok_shop::TiktokShop,
    partoo::Partoo,
    callbell::Callbell,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_and_follow_the_conventions() {
        let mut names = std::collections::HashSet::new();
        for id in ProviderId::ALL {
            let (name, function) = (id.name(), id.function());
            assert!(names.insert(name), "{name} registered twice");
            assert!(
                name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{name}: a provider value is lower case with `_`"
            );
            assert_eq!(function, name.replace('_', "-"), "{name}: function name");
            assert_eq!(ProviderId::find(name), Some(*id));
            assert_eq!(ProviderId::find(function), Some(*id));
            assert_eq!(ProviderId::named(name), Some(*id));
            assert_eq!(*id, name);
        }
        assert_eq!(ProviderId::find("nobody"), None);
        assert_eq!(
            ProviderId::named("tiktok-shop"),
            None,
            "a function name is no value"
        );
    }
}
