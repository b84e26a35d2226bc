//! The inbox's settings, on top of the part every function shares: the table it reads, and
//! the media bucket whose copies it links to (`MEDIA_BUCKET`). Either missing makes it
//! misconfigured: it then answers every request 500, never a partial read.

use crate::config::{Env, FunctionConfig};
use crate::error::Misconfigured;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboxSettings {
    /// `TABLE_NAME`.
    pub table_name: String,
    /// `MEDIA_BUCKET`: presigned links are made only to objects of this bucket.
    pub media_bucket: String,
}

impl InboxSettings {
    pub fn read(shared: &FunctionConfig, env: &Env) -> Result<Self, Misconfigured> {
        Ok(InboxSettings {
            table_name: shared.table_name.clone()?,
            media_bucket: env.require("MEDIA_BUCKET")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_and_the_bucket_are_required() {
        let read = |vars: &'static [(&'static str, &'static str)]| {
            let lookup = move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            };
            let env = Env::new(&lookup);
            InboxSettings::read(&FunctionConfig::read(&env), &env)
        };
        assert_eq!(
            read(&[("TABLE_NAME", "messages"), ("MEDIA_BUCKET", " media ")]),
            Ok(InboxSettings {
                table_name: "messages".into(),
                media_bucket: "media".into()
            })
        );
        assert!(read(&[("MEDIA_BUCKET", "media")])
            .unwrap_err()
            .0
            .contains("TABLE_NAME"));
        assert!(read(&[("TABLE_NAME", "messages")])
            .unwrap_err()
            .0
            .contains("MEDIA_BUCKET"));
    }
}
