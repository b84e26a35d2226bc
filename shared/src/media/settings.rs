//! The media function's settings (`MEDIA_*`, README "Configuration"), read once at start, on
//! top of the part every function shares ([`FunctionConfig`]).
//! Reading never fails the process: a bad setting is [`Misconfigured`], and a misconfigured
//! function fetches nothing and fails every batch (the stream retries it, then the dead-letter
//! queue keeps it), so it never runs open.

use std::net::SocketAddr;
use std::time::Duration;

use crate::config::{Env, FunctionConfig};
use crate::error::Misconfigured;

/// `MEDIA_MAX_BYTES` when unset: 100 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 100 * 1024 * 1024;
/// Multipart part size: a file larger than one part is uploaded in parts of this size, and no
/// more than two parts are ever held in memory (one filling, one uploading).
pub const PART_SIZE: usize = 8 * 1024 * 1024;

#[derive(Clone, Debug)]
pub struct MediaSettings {
    /// `TABLE_NAME`.
    pub table_name: String,
    /// `MEDIA_BUCKET`.
    pub bucket: String,
    /// `MEDIA_CHANNELS`.
    pub channels: Channels,
    /// `MEDIA_MAX_BYTES`.
    pub max_bytes: u64,
    /// `MEDIA_ALLOW_PRIVATE_NETWORKS` (local runs and tests only).
    pub allow_private_networks: bool,
    /// `MEDIA_ALLOW_HOSTS`.
    pub allow_hosts: AllowHosts,
    /// `MEDIA_CONNECT_TO` (local runs only; needs `MEDIA_ALLOW_PRIVATE_NETWORKS`).
    pub connect_to: Vec<(String, SocketAddr)>,
    pub timeouts: Timeouts,
    pub part_size: usize,
}

/// How long a fetch may take.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// Resolving a host name.
    pub resolve: Duration,
    /// TCP connect and TLS handshake, each.
    pub connect: Duration,
    /// Waiting for the response head, and then for each piece of the body.
    pub read: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            resolve: Duration::from_secs(5),
            connect: Duration::from_secs(5),
            read: Duration::from_secs(20),
        }
    }
}

/// `MEDIA_CHANNELS`: `*` or a comma-separated list of channel values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Channels {
    All,
    Only(Vec<String>),
}

impl Channels {
    pub fn parse(value: Option<&str>) -> Channels {
        let list: Vec<String> = value
            .unwrap_or("*")
            .split(',')
            .map(|c| c.trim().to_ascii_lowercase())
            .filter(|c| !c.is_empty())
            .collect();
        if list.is_empty() || list.iter().any(|c| c == "*") {
            Channels::All
        } else {
            Channels::Only(list)
        }
    }

    pub fn allows(&self, channel: Option<&str>) -> bool {
        match self {
            Channels::All => true,
            Channels::Only(list) => {
                channel.is_some_and(|c| list.iter().any(|l| l.eq_ignore_ascii_case(c)))
            }
        }
    }
}

/// `MEDIA_ALLOW_HOSTS`: the hosts the function may fetch from, checked before any lookup.
/// `*` (the default) is every host; otherwise comma-separated names, each exact (`cdn.example.com`,
/// `127.0.0.1`, `[::1]`) or a suffix wildcard (`*.tiktokcdn.com`: its subdomains, not itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowHosts {
    All,
    Only(Vec<String>),
}

impl AllowHosts {
    pub fn parse(value: Option<&str>) -> AllowHosts {
        let list: Vec<String> = value
            .unwrap_or("*")
            .split(',')
            .map(|h| {
                let h = h.trim().trim_end_matches('.').to_ascii_lowercase();
                h.strip_prefix('[')
                    .and_then(|h| h.strip_suffix(']'))
                    .map(str::to_string)
                    .unwrap_or(h)
            })
            .filter(|h| !h.is_empty())
            .collect();
        if list.iter().any(|h| h == "*") {
            AllowHosts::All
        } else {
            AllowHosts::Only(list)
        }
    }

    /// `host` as [`super::url::MediaUrl`] has it (lower case, IPv6 without brackets).
    pub fn allows(&self, host: &str) -> bool {
        match self {
            AllowHosts::All => true,
            AllowHosts::Only(list) => list.iter().any(|entry| match entry.strip_prefix("*.") {
                Some(suffix) => host
                    .strip_suffix(suffix)
                    .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1),
                None => entry == host,
            }),
        }
    }
}

/// `true`, `1`, `yes`, `on` (any case) are true; anything else is false.
fn flag(value: Option<&str>) -> bool {
    matches!(
        value.map(|v| v.trim().to_ascii_lowercase()).as_deref(),
        Some("true" | "1" | "yes" | "on")
    )
}

/// `MEDIA_CONNECT_TO`: `host=ip:port` pairs, comma-separated.
fn parse_connect_to(value: &str) -> Result<Vec<(String, SocketAddr)>, Misconfigured> {
    value
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (host, addr) = pair.split_once('=').ok_or_else(|| {
                Misconfigured(format!(
                    "MEDIA_CONNECT_TO entry {pair:?} is not host=ip:port"
                ))
            })?;
            let addr: SocketAddr = addr.trim().parse().map_err(|_| {
                Misconfigured(format!("MEDIA_CONNECT_TO entry {pair:?}: not an ip:port"))
            })?;
            Ok((host.trim().to_ascii_lowercase(), addr))
        })
        .collect()
}

impl MediaSettings {
    /// The media function's part of its configuration, on top of the shared part (whose table
    /// it needs), both read from `env`.
    pub fn read(shared: &FunctionConfig, env: &Env) -> Result<Self, Misconfigured> {
        let max_bytes = match env.get("MEDIA_MAX_BYTES") {
            None => DEFAULT_MAX_BYTES,
            Some(v) => v.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                Misconfigured(format!(
                    "MEDIA_MAX_BYTES must be a positive number of bytes, not {v:?}"
                ))
            })?,
        };
        let allow_private_networks = flag(env.get("MEDIA_ALLOW_PRIVATE_NETWORKS").as_deref());
        let connect_to = match env.get("MEDIA_CONNECT_TO") {
            None => Vec::new(),
            Some(_) if !allow_private_networks => return Err(Misconfigured(
                "MEDIA_CONNECT_TO is for local runs: it needs MEDIA_ALLOW_PRIVATE_NETWORKS=true"
                    .into(),
            )),
            Some(v) => parse_connect_to(&v)?,
        };
        Ok(MediaSettings {
            table_name: shared.table_name.clone()?,
            bucket: env.require("MEDIA_BUCKET")?,
            channels: Channels::parse(env.get("MEDIA_CHANNELS").as_deref()),
            max_bytes,
            allow_private_networks,
            allow_hosts: AllowHosts::parse(env.get("MEDIA_ALLOW_HOSTS").as_deref()),
            connect_to,
            timeouts: Timeouts::default(),
            part_size: PART_SIZE,
        })
    }

    /// Reads both parts through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Misconfigured> {
        let env = Env::new(&lookup);
        MediaSettings::read(&FunctionConfig::read(&env), &env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<MediaSettings, Misconfigured> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        MediaSettings::from_lookup(|name| map.get(name).cloned())
    }

    const BASE: [(&str, &str); 2] = [("TABLE_NAME", "t"), ("MEDIA_BUCKET", "b")];

    #[test]
    fn defaults() {
        let s = settings(&BASE).unwrap();
        assert_eq!(s.max_bytes, 100 * 1024 * 1024);
        assert_eq!(s.channels, Channels::All);
        assert_eq!(s.allow_hosts, AllowHosts::All);
        assert!(!s.allow_private_networks);
        assert!(s.connect_to.is_empty());
    }

    #[test]
    fn table_and_bucket_are_required() {
        assert!(settings(&[("TABLE_NAME", "t")])
            .unwrap_err()
            .0
            .contains("MEDIA_BUCKET"));
        assert!(settings(&[("MEDIA_BUCKET", "b")])
            .unwrap_err()
            .0
            .contains("TABLE_NAME"));
    }

    #[test]
    fn max_bytes_must_be_a_positive_number() {
        for bad in ["0", "-1", "10MB", "1e6"] {
            let mut vars = BASE.to_vec();
            vars.push(("MEDIA_MAX_BYTES", bad));
            assert!(settings(&vars).is_err(), "{bad}");
        }
        let mut vars = BASE.to_vec();
        vars.push(("MEDIA_MAX_BYTES", "1048576"));
        assert_eq!(settings(&vars).unwrap().max_bytes, 1_048_576);
    }

    #[test]
    fn channels() {
        assert_eq!(Channels::parse(Some(" * ")), Channels::All);
        assert_eq!(Channels::parse(Some("")), Channels::All);
        let only = Channels::parse(Some("WhatsApp, tiktok_shop"));
        assert!(only.allows(Some("whatsapp")));
        assert!(only.allows(Some("tiktok_shop")));
        assert!(!only.allows(Some("instagram")));
        assert!(!only.allows(None));
        assert!(Channels::All.allows(None));
    }

    #[test]
    fn allow_hosts() {
        let hosts = AllowHosts::parse(Some("media.localhost, *.tiktokcdn.com,[::1],127.0.0.1"));
        assert!(hosts.allows("media.localhost"));
        assert!(hosts.allows("v16.tiktokcdn.com"));
        assert!(hosts.allows("a.b.tiktokcdn.com"));
        assert!(!hosts.allows("tiktokcdn.com"));
        assert!(!hosts.allows("eviltiktokcdn.com"));
        assert!(hosts.allows("::1"));
        assert!(hosts.allows("127.0.0.1"));
        assert!(!hosts.allows("localhost"));
        assert!(!hosts.allows("cdn.example"));
        assert_eq!(AllowHosts::parse(None), AllowHosts::All);
        assert!(AllowHosts::parse(Some("*")).allows("anything"));
        // An empty list allows nothing.
        assert!(!AllowHosts::parse(Some(",")).allows("x"));
    }

    #[test]
    fn private_networks_flag_and_connect_to() {
        let mut vars = BASE.to_vec();
        vars.push(("MEDIA_CONNECT_TO", "media.localhost=127.0.0.1:9"));
        assert!(settings(&vars)
            .unwrap_err()
            .0
            .contains("MEDIA_ALLOW_PRIVATE"));
        vars.push(("MEDIA_ALLOW_PRIVATE_NETWORKS", "TRUE"));
        let s = settings(&vars).unwrap();
        assert!(s.allow_private_networks);
        assert_eq!(
            s.connect_to,
            vec![("media.localhost".into(), "127.0.0.1:9".parse().unwrap())]
        );
        let mut vars = BASE.to_vec();
        vars.push(("MEDIA_ALLOW_PRIVATE_NETWORKS", "yes please"));
        assert!(!settings(&vars).unwrap().allow_private_networks);
        let mut vars = BASE.to_vec();
        vars.push(("MEDIA_ALLOW_PRIVATE_NETWORKS", "true"));
        vars.push(("MEDIA_CONNECT_TO", "media.localhost"));
        assert!(settings(&vars).is_err());
    }
}
