//! Which URLs may receive webhook deliveries: http(s) to public addresses only.
//!
//! The check and the connection must see the same addresses, or a name that
//! resolves to a public address when checked and to `127.0.0.1` a moment
//! later (DNS rebinding) reaches inside the deployment. So deliveries never
//! resolve a name on their own: the HTTP client's resolver is
//! [`CheckingResolver`], which resolves once, checks every address, and
//! answers only checked ones; hosts given as IP literals (which the client
//! does not resolve) are checked before the request by [`PublicUrlGuard::target`].

use application::ports::UrlGuard;
use async_trait::async_trait;
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use shaku::Component;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// The one answer for a host that does not resolve, resolves too slowly, or
/// resolves to an internal address: a caller who could tell these apart
/// could use registration to map the deployment's network and DNS.
pub const REFUSED: &str = "must resolve to a public address";

/// How long a lookup may take before the host counts as unresolvable.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Component, Clone, Default)]
#[shaku(interface = crate::di::UrlGuardPort)]
pub struct PublicUrlGuard {
    /// `WEBHOOK_ALLOW_PRIVATE`: tests and closed networks.
    allow_private: bool,
}

/// The host of a URL that passed [`PublicUrlGuard::target`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An IP literal, already checked: the client connects to it as is.
    Address(IpAddr),
    /// A name: the client resolves it through [`CheckingResolver`].
    Name(String),
}

impl PublicUrlGuard {
    #[must_use]
    pub const fn new(allow_private: bool) -> Self {
        Self { allow_private }
    }

    /// The resolver every delivery client must use: it refuses (with
    /// [`Refused`]) a name with any internal address.
    #[must_use]
    pub const fn resolver(&self) -> CheckingResolver {
        CheckingResolver { allow_private: self.allow_private }
    }

    /// Parses `url` as the HTTP client will, and checks its host if it is an
    /// IP literal; a name is left to [`CheckingResolver`].
    ///
    /// # Errors
    /// The reason the URL must not be called, without echoing the URL.
    pub fn target(&self, url: &str) -> Result<Target, String> {
        host_and_port(url)?;
        // The client's own parser decides where it connects: it reads
        // `http://2130706433/` and `http://0x7f.1/` as 127.0.0.1, so the
        // check must read the host the same way.
        let parsed = Url::parse(url).map_err(|_| "must be an absolute http(s) URL".to_owned())?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err("must not carry credentials".into());
        }
        // The parser writes IP hosts in canonical form: dotted IPv4, bracketed IPv6.
        let host = parsed.host_str().filter(|h| !h.is_empty()).ok_or("must name a host")?;
        let target = match host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            Ok(ip) => Target::Address(ip),
            Err(_) => Target::Name(host.to_owned()),
        };
        match target {
            Target::Address(ip) if !self.allow_private && is_internal(ip) => Err(REFUSED.into()),
            target => Ok(target),
        }
    }
}

/// Addresses a webhook must never reach from inside the deployment: anything
/// not globally routable unicast, and the tunnelling and translation prefixes
/// whose addresses stand for (possibly internal) IPv4 ones.
#[must_use]
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => is_internal_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, network: [u8; 4], prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(network)) & mask
}

fn in_v6(ip: Ipv6Addr, network: [u16; 8], prefix: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    u128::from(ip) & mask == u128::from(Ipv6Addr::from(network)) & mask
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    const BLOCKED: [([u8; 4], u32); 15] = [
        ([0, 0, 0, 0], 8),       // "this network"
        ([10, 0, 0, 0], 8),      // private
        ([100, 64, 0, 0], 10),   // carrier-grade NAT
        ([127, 0, 0, 0], 8),     // loopback
        ([169, 254, 0, 0], 16),  // link local, cloud metadata
        ([172, 16, 0, 0], 12),   // private
        ([192, 0, 0, 0], 24),    // IETF protocol assignments
        ([192, 0, 2, 0], 24),    // documentation
        ([192, 88, 99, 0], 24),  // 6to4 relay anycast
        ([192, 168, 0, 0], 16),  // private
        ([198, 18, 0, 0], 15),   // benchmarking
        ([198, 51, 100, 0], 24), // documentation
        ([203, 0, 113, 0], 24),  // documentation
        ([224, 0, 0, 0], 4),     // multicast
        ([240, 0, 0, 0], 4),     // reserved, and the broadcast address
    ];
    BLOCKED.iter().any(|&(network, prefix)| in_v4(ip, network, prefix))
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    // Addresses that carry an IPv4 address are as internal as that address;
    // the translation and tunnel prefixes are refused whole, because the
    // relay they go through may sit inside the deployment.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_internal_v4(v4);
    }
    const BLOCKED: [([u16; 8], u32); 12] = [
        ([0, 0, 0, 0, 0, 0, 0, 0], 96),          // unspecified, loopback, IPv4-compatible
        ([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96),  // NAT64
        ([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48),  // local-use NAT64
        ([0x100, 0, 0, 0, 0, 0, 0, 0], 64),      // discard only
        ([0x2001, 0, 0, 0, 0, 0, 0, 0], 32),     // Teredo
        ([0x2001, 0x2, 0, 0, 0, 0, 0, 0], 48),   // benchmarking
        ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), // documentation
        ([0x2002, 0, 0, 0, 0, 0, 0, 0], 16),     // 6to4
        ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),      // unique local
        ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),     // link local
        ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10),     // site local (deprecated, still routed by some)
        ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8),      // multicast
    ];
    BLOCKED.iter().any(|&(network, prefix)| in_v6(ip, network, prefix))
}

/// `scheme://host[:port]` split out of `url`, if it is http(s) without credentials.
fn host_and_port(url: &str) -> Result<(String, u16), String> {
    let (scheme, rest) = url.split_once("://").ok_or("must be an absolute http(s) URL")?;
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => 80,
        "https" => 443,
        _ => return Err("must use http or https".into()),
    };
    if url.len() > 2048 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must be at most 2048 characters without spaces".into());
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("must not carry credentials".into());
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']').ok_or("has a malformed IPv6 host")?;
            (host.to_owned(), after.strip_prefix(':').map(str::parse).transpose().map_err(|_| "has a bad port")?)
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host.to_owned(), Some(port.parse().map_err(|_| "has a bad port")?)),
            None => (authority.to_owned(), None),
        },
    };
    if host.is_empty() {
        return Err("must name a host".into());
    }
    Ok((host, port.unwrap_or(default_port)))
}

/// Every address of `host`, if it has any and (unless `allow_private`) all
/// are public; `None` otherwise, whatever the reason.
async fn resolve_public(host: &str, port: u16, allow_private: bool) -> Option<Vec<SocketAddr>> {
    let lookup = tokio::net::lookup_host((host, port));
    let addresses: Vec<SocketAddr> = tokio::time::timeout(LOOKUP_TIMEOUT, lookup).await.ok()?.ok()?.collect();
    let public = allow_private || addresses.iter().all(|a| !is_internal(a.ip()));
    (public && !addresses.is_empty()).then_some(addresses)
}

#[async_trait]
impl UrlGuard for PublicUrlGuard {
    async fn check(&self, url: &str) -> Result<(), String> {
        let (_, port) = host_and_port(url)?;
        match self.target(url)? {
            Target::Address(_) => Ok(()),
            Target::Name(_) if self.allow_private => Ok(()),
            Target::Name(name) => resolve_public(&name, port, false).await.map(drop).ok_or_else(|| REFUSED.into()),
        }
    }
}

/// A name was refused by [`CheckingResolver`]; its text is [`REFUSED`].
#[derive(Debug)]
pub struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REFUSED)
    }
}

impl std::error::Error for Refused {}

/// The delivery client's resolver: it answers only addresses it has checked,
/// so the connection goes exactly where the check looked.
#[derive(Clone, Copy)]
pub struct CheckingResolver {
    allow_private: bool,
}

impl Resolve for CheckingResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            // The connector puts the URL's port on each address it gets.
            match resolve_public(name.as_str(), 0, allow_private).await {
                Some(addresses) => Ok(Box::new(addresses.into_iter()) as Addrs),
                None => Err(Box::new(Refused) as Box<dyn std::error::Error + Send + Sync>),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn internal(ip: &str) -> bool {
        is_internal(ip.parse().unwrap())
    }

    #[test]
    fn loopback_private_and_link_local_addresses_are_internal() {
        for ip in ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.0.1", "169.254.169.254", "0.0.0.0", "100.64.0.1"] {
            assert!(internal(ip), "{ip}");
        }
        for ip in ["::1", "::", "fc00::1", "fd12::1", "fe80::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1"] {
            assert!(internal(ip), "{ip}");
        }
    }

    #[test]
    fn translation_tunnel_benchmark_reserved_and_multicast_ranges_are_internal() {
        for ip in [
            "64:ff9b::a00:1",
            "64:ff9b::808:808", // NAT64 of a public address: the translator may be ours
            "64:ff9b:1::1",
            "2002:a00:1::1",
            "2002:808:808::1",
            "2001::1", // Teredo
            "fec0::1",
            "feff::1",
            "ff02::1",
            "ff0e::1",
            "198.18.0.1",
            "198.19.255.255",
            "240.0.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "239.255.255.250",
            "192.0.2.1",
            "2001:db8::1",
        ] {
            assert!(internal(ip), "{ip}");
        }
    }

    #[test]
    fn global_unicast_addresses_are_public() {
        for ip in ["93.184.216.34", "8.8.8.8", "198.20.0.1", "223.255.255.255", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(!internal(ip), "{ip}");
        }
    }

    #[tokio::test]
    async fn internal_targets_are_refused_unless_allowed() {
        let guard = PublicUrlGuard::new(false);
        for url in [
            "http://127.0.0.1/x",
            "http://localhost:8080/",
            "https://10.1.2.3/",
            "http://[::1]:9/",
            "http://169.254.169.254/latest",
            "http://192.168.0.1",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://[::ffff:7f00:1]/",
        ] {
            assert_eq!(guard.check(url).await, Err(REFUSED.to_owned()), "{url}");
        }
        assert!(guard.check("http://93.184.216.34/hook").await.is_ok());
        assert!(PublicUrlGuard::new(true).check("http://127.0.0.1:9/hook").await.is_ok());
    }

    #[tokio::test]
    async fn an_unresolvable_host_gets_the_same_answer_as_an_internal_one() {
        let guard = PublicUrlGuard::new(false);
        let unresolvable = guard.check("http://no-such-host.invalid/hook").await;
        assert_eq!(unresolvable, guard.check("http://127.0.0.1/hook").await);
        assert_eq!(unresolvable, guard.check("http://localhost:5432/").await);
    }

    #[tokio::test]
    async fn the_resolver_answers_no_address_for_a_name_with_an_internal_one() {
        let refused = PublicUrlGuard::new(false).resolver().resolve("localhost".parse().unwrap()).await;
        assert!(refused.is_err_and(|e| e.is::<Refused>()));
        let allowed = PublicUrlGuard::new(true).resolver().resolve("localhost".parse().unwrap()).await;
        assert!(allowed.unwrap().all(|a| a.ip().is_loopback()));
    }

    #[test]
    fn ip_literals_are_checked_before_any_connection() {
        let guard = PublicUrlGuard::new(false);
        assert_eq!(guard.target("http://[fec0::1]/"), Err(REFUSED.to_owned()));
        assert_eq!(guard.target("http://0x7f.1/"), Err(REFUSED.to_owned()));
        assert_eq!(guard.target("http://8.8.8.8/"), Ok(Target::Address("8.8.8.8".parse().unwrap())));
        assert_eq!(guard.target("https://Example.com/x"), Ok(Target::Name("example.com".to_owned())));
    }

    #[test]
    fn only_plain_http_urls_are_understood() {
        assert!(host_and_port("ftp://example.com").is_err());
        assert!(host_and_port("http://user:pw@example.com").is_err());
        assert!(host_and_port("example.com/hook").is_err());
        assert!(host_and_port("http:///path").is_err());
        assert_eq!(host_and_port("https://example.com/hook").unwrap(), ("example.com".to_owned(), 443));
        assert_eq!(host_and_port("http://[::1]:8080/").unwrap(), ("::1".to_owned(), 8080));
    }
}
