//! The client's address: the peer, or what a trusted proxy says it forwarded.

use actix_web::dev::Payload;
use actix_web::http::header::HeaderMap;
use actix_web::{FromRequest, HttpRequest, web};
use ipnet::IpNet;
use std::convert::Infallible;
use std::fmt;
use std::future::{Ready, ready};
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

/// The proxies whose `X-Forwarded-For` is believed (`TRUSTED_PROXIES`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

/// A `TRUSTED_PROXIES` entry that is neither an address nor a network.
#[derive(Debug)]
pub struct BadProxy(String);

impl fmt::Display for BadProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not an IP address or CIDR network", self.0)
    }
}

impl FromStr for TrustedProxies {
    type Err = BadProxy;

    /// Comma-separated addresses (`10.0.0.1`, `::1`) and networks (`10.0.0.0/8`).
    fn from_str(list: &str) -> Result<Self, BadProxy> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| BadProxy(entry.to_owned()))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

impl TrustedProxies {
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    #[must_use]
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|network| network.contains(&address))
    }

    /// The client behind `peer`. Only a trusted peer's `X-Forwarded-For` is
    /// read, from the right (the hop its proxy appended) leftwards, skipping
    /// hops that are trusted proxies themselves: the first other hop is the
    /// client. Hops further left were written by the client and prove nothing.
    #[must_use]
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.contains(client) {
            return client;
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        for hop in hops.iter().rev() {
            // Garbage written by whoever is left of the last trusted hop: the trusted hop is all we know.
            let Ok(address) = hop.parse::<IpAddr>() else { break };
            client = address.to_canonical();
            if !self.contains(client) {
                break;
            }
        }
        client
    }
}

/// The address a request is counted under for throttling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

impl FromRequest for ClientAddress {
    type Error = Infallible;
    type Future = Ready<Result<Self, Infallible>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // actix always knows the peer of a TCP connection; only hand-built test
        // requests lack one, and they are all one unspecified client.
        let peer = req.peer_addr().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |addr| addr.ip());
        let client = match req.app_data::<web::Data<TrustedProxies>>() {
            Some(proxies) => proxies.client(peer, req.headers()),
            None => peer.to_canonical(),
        };
        ready(Ok(Self(client)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(HeaderName::from_static("x-forwarded-for"), HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let proxies: TrustedProxies = "10.0.0.1".parse().unwrap();
        assert_eq!(proxies.client(ip("203.0.113.9"), &forwarded(&["1.2.3.4"])), ip("203.0.113.9"));
        let none = TrustedProxies::default();
        assert_eq!(none.client(ip("127.0.0.1"), &forwarded(&["1.2.3.4"])), ip("127.0.0.1"));
    }

    #[test]
    fn a_trusted_peer_names_the_rightmost_hop_that_is_not_a_proxy() {
        let proxies: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        // The client claims 6.6.6.6; the proxies appended the real address and then each other.
        let headers = forwarded(&["6.6.6.6, 198.51.100.7", "10.1.1.1"]);
        assert_eq!(proxies.client(ip("10.0.0.1"), &headers), ip("198.51.100.7"));
    }

    #[test]
    fn a_trusted_peer_without_a_usable_hop_is_the_client() {
        let proxies: TrustedProxies = "10.0.0.1".parse().unwrap();
        assert_eq!(proxies.client(ip("10.0.0.1"), &HeaderMap::new()), ip("10.0.0.1"));
        assert_eq!(proxies.client(ip("10.0.0.1"), &forwarded(&["not-an-ip"])), ip("10.0.0.1"));
    }

    #[test]
    fn ipv4_mapped_addresses_count_as_ipv4() {
        let proxies: TrustedProxies = "10.0.0.1".parse().unwrap();
        assert_eq!(proxies.client(ip("::ffff:10.0.0.1"), &forwarded(&["::ffff:198.51.100.7"])), ip("198.51.100.7"));
    }

    #[test]
    fn a_list_with_a_bad_entry_is_refused() {
        assert!("10.0.0.1, nonsense".parse::<TrustedProxies>().is_err());
        assert!("".parse::<TrustedProxies>().unwrap().is_empty());
    }
}
