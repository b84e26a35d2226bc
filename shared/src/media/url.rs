//! The little of URLs the media function needs: an absolute `http`/`https` URL split into
//! scheme, host, port and the request target, and a redirect's `Location` resolved against
//! the URL that answered it. Anything else (other schemes, user info, a host that is not ASCII)
//! is not fetched.

use std::fmt;
use std::net::IpAddr;

/// An absolute URL the fetcher may request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaUrl {
    pub https: bool,
    /// Lower-case host name, or an IP address (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    /// Path and query, percent-encoded where the provider left bytes that HTTP cannot carry.
    pub target: String,
}

/// Why a URL cannot be fetched: always the attachment's `refused`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadUrl(pub &'static str);

impl fmt::Display for BadUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl MediaUrl {
    pub fn parse(text: &str) -> Result<MediaUrl, BadUrl> {
        let text = text.trim();
        let (scheme, rest) = text
            .split_once("://")
            .ok_or(BadUrl("not an absolute URL"))?;
        let https = match scheme.to_ascii_lowercase().as_str() {
            "https" => true,
            "http" => false,
            _ => return Err(BadUrl("scheme is neither https nor http")),
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(end);
        if authority.contains('@') {
            return Err(BadUrl("URL carries credentials"));
        }
        let (host, port) = split_host_port(authority)?;
        let port = port.unwrap_or(if https { 443 } else { 80 });
        Ok(MediaUrl {
            https,
            host,
            port,
            target: request_target(target),
        })
    }

    /// The URL a redirect's `Location` names, relative to this one.
    pub fn join(&self, location: &str) -> Result<MediaUrl, BadUrl> {
        let location = location.trim();
        if location.is_empty() {
            return Err(BadUrl("redirect without a location"));
        }
        if location.contains("://") && !location.starts_with('/') {
            return MediaUrl::parse(location);
        }
        if let Some(rest) = location.strip_prefix("//") {
            let scheme = if self.https { "https" } else { "http" };
            return MediaUrl::parse(&format!("{scheme}://{rest}"));
        }
        let location = location.split('#').next().unwrap_or("");
        let target = if location.starts_with('/') {
            location.to_string()
        } else if location.starts_with('?') {
            let path = self.target.split('?').next().unwrap_or("/");
            format!("{path}{location}")
        } else {
            let path = self.target.split('?').next().unwrap_or("/");
            let dir = &path[..=path.rfind('/').unwrap_or(0)];
            format!("{dir}{location}")
        };
        Ok(MediaUrl {
            target: request_target(&target),
            ..self.clone()
        })
    }

    /// The host as an IP address, when it is one.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }

    /// The `Host` header value.
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default = if self.https { 443 } else { 80 };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

impl fmt::Display for MediaUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority(), self.target)
    }
}

/// When a link says it stops working: a signed TikTok CDN link carries
/// `x-tos-expires=<epoch seconds>` in its query. The message item keeps no copy of it
/// (docs/CONTRACT.md): this is where the media function reads it.
pub fn stated_expiry(url: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let query = url.split_once('?')?.1.split('#').next()?;
    let seconds = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("x-tos-expires="))?
        .parse::<i64>()
        .ok()?;
    chrono::DateTime::from_timestamp(seconds, 0)
}

fn split_host_port(authority: &str) -> Result<(String, Option<u16>), BadUrl> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or(BadUrl("unclosed IPv6 address"))?;
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(BadUrl("not an IPv6 address in brackets"));
        }
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or(BadUrl("bad port"))?),
        };
        (host.to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host.to_string(), Some(port)),
            None => (authority.to_string(), None),
        }
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() {
        return Err(BadUrl("no host"));
    }
    let valid = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b':'));
    if !valid {
        return Err(BadUrl("host is not an ASCII name or address"));
    }
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or(BadUrl("bad port"))?,
        ),
    };
    Ok((host, port))
}

/// Path and query as a request target: the fragment dropped, `/` when empty, and every byte
/// HTTP cannot carry in a request line percent-encoded.
fn request_target(target: &str) -> String {
    let target = target.split('#').next().unwrap_or("");
    let mut out = String::with_capacity(target.len() + 1);
    if !target.starts_with('/') {
        out.push('/');
    }
    for &b in target.as_bytes() {
        if b.is_ascii_graphic() && b != b'"' && b != b'<' && b != b'>' && b != b'\\' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_may_say_when_it_stops_working() {
        let at = |url| stated_expiry(url).map(|t| t.to_rfc3339());
        assert_eq!(
            at("https://p16.tiktokcdn.example/obj/1?a=b&x-tos-expires=1681980481&x-tos-signature=q"),
            Some("2023-04-20T08:48:01+00:00".into())
        );
        for url in [
            "https://i/1.png",
            "https://i/1.png?x-tos-expires=soon",
            "https://i/1.png?x-tos-expires=-",
            "https://i/1.png?x-expires=1681980481",
            "https://i/1.png#x-tos-expires=1681980481",
            "https://i/1.png?x-tos-expires=99999999999999999",
        ] {
            assert_eq!(at(url), None, "{url}");
        }
    }

    #[test]
    fn parses_absolute_urls() {
        let url = MediaUrl::parse("https://CDN.Example.com/a/b.jpg?x=1#frag").unwrap();
        assert_eq!(
            url,
            MediaUrl {
                https: true,
                host: "cdn.example.com".into(),
                port: 443,
                target: "/a/b.jpg?x=1".into()
            }
        );
        let url = MediaUrl::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!((url.port, url.target.as_str()), (8080, "/"));
        let url = MediaUrl::parse("https://[::1]:4443/x").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("::1", 4443));
        assert_eq!(url.to_string(), "https://[::1]:4443/x");
        let url = MediaUrl::parse("https://h/caf\u{e9} 1.jpg").unwrap();
        assert_eq!(url.target, "/caf%C3%A9%201.jpg");
    }

    #[test]
    fn refuses_what_it_cannot_fetch() {
        for bad in [
            "ftp://h/x",
            "file:///etc/passwd",
            "gopher://h/",
            "h/x",
            "https://user:pass@h/x",
            "https://@h/x",
            "https:///x",
            "https://h:0/x",
            "https://h:99999/x",
            "https://[::1/x",
            "https://[nothost]/x",
            "https://h\u{e9}.com/x",
            "https://h%2ecom/x",
        ] {
            assert!(MediaUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn joins_redirect_locations() {
        let base = MediaUrl::parse("https://h:8443/a/b/c.jpg?q=1").unwrap();
        let join = |l: &str| base.join(l).unwrap().to_string();
        assert_eq!(join("http://other/x"), "http://other/x");
        assert_eq!(join("//other/y"), "https://other/y");
        assert_eq!(join("/root"), "https://h:8443/root");
        assert_eq!(join("d.jpg"), "https://h:8443/a/b/d.jpg");
        assert_eq!(join("?q=2"), "https://h:8443/a/b/c.jpg?q=2");
        assert!(base.join("").is_err());
        assert!(base.join("ftp://x/").is_err());
    }
}
