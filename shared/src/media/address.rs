//! Which addresses the media function may connect to. Pure functions of an address: nothing
//! here resolves or connects, so the rules are tested on addresses alone.
//!
//! Always refused: loopback, private (RFC 1918, IPv6 unique local), shared/CGNAT (100.64/10),
//! link-local (169.254/16, fe80::/10), cloud metadata (169.254.169.254, AWS's `fd00:ec2::/32`
//! services), unspecified (0.0.0.0, ::), and everything else that is not a public unicast
//! address (multicast, broadcast, documentation and benchmarking ranges, 0/8, 240/4, the
//! deprecated IPv4-compatible `::/96` and Teredo). An IPv6 address that embeds an IPv4 one
//! (IPv4-mapped `::ffff:0:0/96`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) is judged by the
//! IPv4 address it carries.
//!
//! `MEDIA_ALLOW_PRIVATE_NETWORKS=true` (local runs and tests) also allows loopback and private
//! addresses; link-local and metadata addresses stay refused whatever the setting.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// What kind of address an IP address is, for the media function's purposes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressClass {
    /// A public unicast address: the only kind fetched from in production.
    Public,
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// 10/8, 172.16/12, 192.168/16, fc00::/7 (except AWS's fd00:ec2::/32).
    Private,
    /// 100.64.0.0/10, carrier-grade NAT's shared address space.
    SharedCgnat,
    /// 169.254/16 (except the metadata address), fe80::/10.
    LinkLocal,
    /// 169.254.169.254 and AWS's IPv6 service range fd00:ec2::/32 (IMDS at fd00:ec2::254).
    Metadata,
    /// 0.0.0.0, ::.
    Unspecified,
    /// Anything else that is not public unicast: multicast, broadcast, 0/8, documentation,
    /// benchmarking and reserved ranges, IPv4-compatible IPv6, Teredo.
    Reserved,
}

/// Which classes of address may be connected to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    /// `MEDIA_ALLOW_PRIVATE_NETWORKS`: loopback and private addresses (and plain HTTP, which
    /// the fetcher decides) are allowed.
    pub allow_private: bool,
    /// Exact socket addresses allowed whatever their class. Only the test kit can set it (a
    /// local TLS server standing in for a public host, so that redirects can be tested under
    /// the production rules); never from the environment.
    exempt: Vec<SocketAddr>,
}

impl AddressPolicy {
    /// The production rules: public addresses only.
    pub fn production() -> Self {
        AddressPolicy::default()
    }

    /// The rules of local runs and tests: loopback and private addresses too.
    pub fn private_networks() -> Self {
        AddressPolicy {
            allow_private: true,
            exempt: Vec::new(),
        }
    }

    /// These rules, and one exact socket address allowed besides (test kit only).
    #[cfg(any(test, feature = "testkit"))]
    pub fn exempting(mut self, addr: SocketAddr) -> Self {
        self.exempt.push(addr);
        self
    }

    /// Whether the function may connect to `addr`.
    pub fn allows(&self, addr: SocketAddr) -> bool {
        if self.exempt.contains(&addr) {
            return true;
        }
        match classify(addr.ip()) {
            AddressClass::Public => true,
            AddressClass::Loopback | AddressClass::Private => self.allow_private,
            AddressClass::SharedCgnat
            | AddressClass::LinkLocal
            | AddressClass::Metadata
            | AddressClass::Unspecified
            | AddressClass::Reserved => false,
        }
    }
}

/// The class of an IP address.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let [a, b, c, _] = ip.octets();
    if ip == Ipv4Addr::new(169, 254, 169, 254) {
        return AddressClass::Metadata;
    }
    if ip.is_unspecified() {
        return AddressClass::Unspecified;
    }
    if ip.is_loopback() {
        return AddressClass::Loopback;
    }
    if ip.is_private() {
        return AddressClass::Private;
    }
    if a == 100 && (64..128).contains(&b) {
        return AddressClass::SharedCgnat;
    }
    if ip.is_link_local() {
        return AddressClass::LinkLocal;
    }
    let reserved = a == 0 // "this network"
        || ip.is_multicast() // 224/4
        || a >= 240 // 240/4 reserved, and 255.255.255.255
        || (a == 192 && b == 0 && c == 0) // 192.0.0.0/24 IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // documentation
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 192 && b == 88 && c == 99); // 6to4 relay anycast
    if reserved {
        AddressClass::Reserved
    } else {
        AddressClass::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    let segments = ip.segments();
    // IPv4-mapped (::ffff:a.b.c.d): the IPv4 address is what a socket reaches.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    // NAT64 well-known prefix 64:ff9b::/96: a NAT64 gateway reaches the embedded IPv4 address.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return classify_v4(embedded_v4(segments[6], segments[7]));
    }
    // 6to4 (2002:V4ADDR::/48): the embedded IPv4 address.
    if segments[0] == 0x2002 {
        return classify_v4(embedded_v4(segments[1], segments[2]));
    }
    if ip.is_unspecified() {
        return AddressClass::Unspecified;
    }
    if ip.is_loopback() {
        return AddressClass::Loopback;
    }
    // AWS's IPv6 services (IMDS fd00:ec2::254, DNS ::253, NTP ::123) sit in fc00::/7: check first.
    if segments[0] == 0xfd00 && segments[1] == 0x0ec2 {
        return AddressClass::Metadata;
    }
    if segments[0] & 0xfe00 == 0xfc00 {
        return AddressClass::Private;
    }
    if segments[0] & 0xffc0 == 0xfe80 {
        return AddressClass::LinkLocal;
    }
    let reserved = segments[0] & 0xff00 == 0xff00 // multicast
        || segments[..6] == [0, 0, 0, 0, 0, 0] // IPv4-compatible ::a.b.c.d (deprecated)
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
        || (segments[0] == 0x2001 && segments[1] == 0) // Teredo
        || segments[0] & 0xe000 != 0x2000; // outside 2000::/3, the global unicast range
    if reserved {
        AddressClass::Reserved
    } else {
        AddressClass::Public
    }
}

fn embedded_v4(high: u16, low: u16) -> Ipv4Addr {
    let [a, b] = high.to_be_bytes();
    let [c, d] = low.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use AddressClass::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    /// The IPv4-mapped IPv6 form of an IPv4 address.
    fn mapped(text: &str) -> IpAddr {
        let v4: Ipv4Addr = text.parse().unwrap();
        IpAddr::V6(v4.to_ipv6_mapped())
    }

    const CASES: &[(&str, AddressClass)] = &[
        ("127.0.0.1", Loopback),
        ("127.255.255.254", Loopback),
        ("127.1.2.3", Loopback),
        ("10.0.0.1", Private),
        ("10.255.255.255", Private),
        ("172.16.0.1", Private),
        ("172.31.255.254", Private),
        ("192.168.0.1", Private),
        ("192.168.255.255", Private),
        ("100.64.0.1", SharedCgnat),
        ("100.127.255.254", SharedCgnat),
        ("169.254.0.1", LinkLocal),
        ("169.254.170.2", LinkLocal),
        ("169.254.169.254", Metadata),
        ("0.0.0.0", Unspecified),
        ("0.1.2.3", Reserved),
        ("224.0.0.1", Reserved),
        ("255.255.255.255", Reserved),
        ("240.0.0.1", Reserved),
        ("192.0.2.10", Reserved),
        ("198.18.0.1", Reserved),
        // Public neighbours of the ranges above.
        ("172.15.255.255", Public),
        ("172.32.0.1", Public),
        ("100.63.255.255", Public),
        ("100.128.0.1", Public),
        ("11.0.0.1", Public),
        ("192.169.0.1", Public),
        ("169.253.255.255", Public),
        ("93.184.215.14", Public),
        ("1.1.1.1", Public),
    ];

    #[test]
    fn ipv4_classes() {
        for (text, class) in CASES {
            assert_eq!(classify(ip(text)), *class, "{text}");
        }
    }

    #[test]
    fn ipv4_mapped_ipv6_is_judged_by_its_ipv4_address() {
        for (text, class) in CASES {
            assert_eq!(classify(mapped(text)), *class, "::ffff:{text}");
        }
        assert_eq!(classify(ip("::ffff:127.0.0.1")), Loopback);
        assert_eq!(classify(ip("::ffff:a9fe:a9fe")), Metadata);
        // NAT64 and 6to4 carry an IPv4 address too.
        assert_eq!(classify(ip("64:ff9b::10.0.0.1")), Private);
        assert_eq!(classify(ip("64:ff9b::169.254.169.254")), Metadata);
        assert_eq!(classify(ip("64:ff9b::1.1.1.1")), Public);
        assert_eq!(classify(ip("2002:7f00:1::")), Loopback);
        assert_eq!(classify(ip("2002:a9fe:a9fe::1")), Metadata);
    }

    #[test]
    fn ipv6_classes() {
        let cases = [
            ("::1", Loopback),
            ("::", Unspecified),
            ("fe80::1", LinkLocal),
            ("febf:ffff::1", LinkLocal),
            ("fc00::1", Private),
            ("fd12:3456:789a::1", Private),
            ("fdff:ffff::1", Private),
            ("fd00:ec2::254", Metadata),
            ("fd00:ec2::253", Metadata),
            ("ff02::1", Reserved),
            ("::127.0.0.1", Reserved),
            ("2001:db8::1", Reserved),
            ("2001:0:4136:e378::1", Reserved),
            ("4000::1", Reserved),
            ("2606:4700:4700::1111", Public),
            ("2a00:1450:4001:80b::200e", Public),
            ("fec0::1", Reserved),
        ];
        for (text, class) in cases {
            assert_eq!(classify(ip(text)), class, "{text}");
        }
    }

    #[test]
    fn production_allows_only_public_addresses() {
        let policy = AddressPolicy::production();
        let at = |text: &str| SocketAddr::new(ip(text), 443);
        for text in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.5.4",
            "192.168.1.1",
            "100.64.1.1",
            "169.254.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(!policy.allows(at(text)), "{text} must be refused");
        }
        for text in ["1.1.1.1", "93.184.215.14", "2606:4700:4700::1111"] {
            assert!(policy.allows(at(text)), "{text} must be allowed");
        }
    }

    #[test]
    fn private_networks_never_open_link_local_or_metadata() {
        let policy = AddressPolicy::private_networks();
        let at = |text: &str| SocketAddr::new(ip(text), 80);
        for text in [
            "127.0.0.1",
            "::1",
            "10.0.0.1",
            "192.168.1.1",
            "fc00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(policy.allows(at(text)), "{text} is allowed locally");
        }
        for text in [
            "169.254.169.254",
            "169.254.1.1",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:169.254.169.254",
            "0.0.0.0",
            "::",
            "100.64.0.1",
        ] {
            assert!(!policy.allows(at(text)), "{text} stays refused");
        }
    }

    #[test]
    fn an_exemption_is_one_exact_socket_address() {
        let exempt: SocketAddr = "127.0.0.1:4443".parse().unwrap();
        let policy = AddressPolicy::production().exempting(exempt);
        assert!(policy.allows(exempt));
        assert!(!policy.allows("127.0.0.1:4444".parse().unwrap()));
        assert!(!policy.allows("[::1]:4443".parse().unwrap()));
    }
}
