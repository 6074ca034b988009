//! Which URLs may receive webhook deliveries: http(s) to public addresses only.

use application::ports::UrlGuard;
use async_trait::async_trait;
use shaku::Component;
use std::net::IpAddr;

#[derive(Component, Clone, Default)]
#[shaku(interface = crate::di::UrlGuardPort)]
pub struct PublicUrlGuard {
    /// `WEBHOOK_ALLOW_PRIVATE`: tests and closed networks.
    allow_private: bool,
}

impl PublicUrlGuard {
    #[must_use]
    pub const fn new(allow_private: bool) -> Self {
        Self { allow_private }
    }
}

/// Addresses a webhook must never reach from inside the deployment.
fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
                || a == 0
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link local
                || v6.to_ipv4_mapped().is_some_and(|v4| is_internal(IpAddr::V4(v4)))
        }
    }
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

#[async_trait]
impl UrlGuard for PublicUrlGuard {
    async fn check(&self, url: &str) -> Result<(), String> {
        let (host, port) = host_and_port(url)?;
        if self.allow_private {
            return Ok(());
        }
        let addresses: Vec<IpAddr> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|_| format!("host {host} does not resolve"))?
            .map(|a| a.ip())
            .collect();
        if addresses.is_empty() || addresses.iter().any(|ip| is_internal(*ip)) {
            return Err("must not point to a loopback, private or internal address".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        ] {
            assert!(guard.check(url).await.is_err(), "{url}");
        }
        assert!(guard.check("http://93.184.216.34/hook").await.is_ok());
        assert!(PublicUrlGuard::new(true).check("http://127.0.0.1:9/hook").await.is_ok());
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
