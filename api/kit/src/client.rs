//! Who sent a request: client IP, request id, user agent. The audit log and the per-IP limits
//! read it; it knows nothing of sign-in, so both can depend on it.
//!
//! **The client's address (U2).** `X-Forwarded-For` is written by whoever sends the request, so
//! only the entries that the API's own proxies appended can be believed. With
//! `TRUSTED_PROXIES` set to the networks of those proxies, the address is found the way a proxy
//! chain records it: start at the socket peer; while that hop is a trusted proxy, step to the
//! entry it appended (the rightmost one not yet read). The first hop that is not a trusted proxy
//! is the client. Entries left of it were written by the client and are ignored, so a forged
//! header changes nothing; with no trusted proxies the header is never read.
//!
//! Per-IP limits key an IPv6 client by its /64 (one subscriber's allocation: an attacker has
//! 2^64 addresses in it), an IPv4 client by its address.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::request::Parts,
};
use ipnet::IpNet;

use crate::state::AppState;

/// Who is asking, for the audit log: client IP, request id, user agent.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub user_agent: Option<String>,
}

impl RequestMeta {
    /// Reads the meta from request parts; the IP as [`client_ip`] finds it.
    pub fn from_parts(parts: &Parts, proxies: &TrustedProxies) -> Self {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.chars().take(256).collect::<String>())
        };
        RequestMeta {
            ip: client_ip(parts, proxies).map(|ip| ip.to_string()),
            request_id: header("x-request-id"),
            user_agent: header("user-agent"),
        }
    }
}

/// The networks of the reverse proxies in front of the API (`TRUSTED_PROXIES`): addresses
/// (`10.0.0.7`, `::1`) or networks (`10.0.0.0/8`, `fd00::/8`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

/// A `TRUSTED_PROXIES` entry that is neither an address nor a network.
#[derive(Debug, thiserror::Error)]
#[error("'{0}' is not an IP address or network (10.0.0.0/8, 127.0.0.1, fd00::/8)")]
pub struct BadProxyNetwork(pub String);

impl TrustedProxies {
    /// No proxy: the socket peer is the client.
    pub fn none() -> Self {
        TrustedProxies(Vec::new())
    }

    /// Parses entries; a bare address is a network of one.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, BadProxyNetwork> {
        entries
            .iter()
            .map(|e| {
                let e = e.as_ref().trim();
                e.parse::<IpNet>()
                    .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| BadProxyNetwork(e.to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    /// Whether `ip` is one of the proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The client's address: the socket peer, or, when the peer is a trusted proxy, the first
/// untrusted hop of `X-Forwarded-For` read from the right (see the module docs).
pub fn client_ip(parts: &Parts, proxies: &TrustedProxies) -> Option<IpAddr> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_canonical())?;
    Some(resolve(peer, forwarded_hops(parts), proxies))
}

/// Every `X-Forwarded-For` entry in the order the hops appended them (several header lines
/// are one list).
fn forwarded_hops(parts: &Parts) -> Vec<&str> {
    parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect()
}

/// The walk of the module docs over `hops` (left to right as written), starting at `peer`.
fn resolve(peer: IpAddr, hops: Vec<&str>, proxies: &TrustedProxies) -> IpAddr {
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        if !proxies.contains(client) {
            break;
        }
        match hop.parse::<IpAddr>() {
            Ok(ip) => client = ip.to_canonical(),
            // Garbage appended by no proxy of ours: the last trusted hop is all we know.
            Err(_) => break,
        }
    }
    client
}

/// The key a per-IP limit counts under: an IPv4 address, or an IPv6 address's /64.
pub fn limit_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let net = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            format!("{net}/64")
        }
    }
}

impl FromRequestParts<AppState> for RequestMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(RequestMeta::from_parts(
            parts,
            &state.config.trusted_proxies,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(entries: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(entries).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn u2_without_trusted_proxies_the_header_is_never_read() {
        let got = resolve(
            ip("198.51.100.9"),
            vec!["203.0.113.1"],
            &TrustedProxies::none(),
        );
        assert_eq!(got, ip("198.51.100.9"));
    }

    #[test]
    fn u2_a_client_talking_to_the_api_directly_cannot_claim_another_address() {
        // Trusted proxies exist, but this peer is not one of them.
        let got = resolve(
            ip("198.51.100.9"),
            vec!["203.0.113.1"],
            &proxies(&["10.0.0.0/8"]),
        );
        assert_eq!(got, ip("198.51.100.9"));
    }

    #[test]
    fn u2_the_entries_a_client_forged_left_of_the_proxys_are_ignored() {
        // The client sent "1.2.3.4, 5.6.7.8"; our proxy (10.0.0.2) appended what it saw.
        let hops = vec!["1.2.3.4", "5.6.7.8", "203.0.113.50"];
        let got = resolve(ip("10.0.0.2"), hops, &proxies(&["10.0.0.0/8"]));
        assert_eq!(got, ip("203.0.113.50"));
    }

    #[test]
    fn u2_a_chain_of_trusted_proxies_is_walked_to_the_first_untrusted_hop() {
        // client → CDN (192.0.2.10, trusted) → load balancer (10.0.0.2) → API.
        let hops = vec!["6.6.6.6", "203.0.113.50", "192.0.2.10"];
        let got = resolve(
            ip("10.0.0.2"),
            hops,
            &proxies(&["10.0.0.0/8", "192.0.2.10"]),
        );
        assert_eq!(got, ip("203.0.113.50"));
    }

    #[test]
    fn u2_garbage_in_the_header_stops_the_walk_at_the_last_trusted_hop() {
        let got = resolve(
            ip("10.0.0.2"),
            vec!["203.0.113.50", "not-an-ip"],
            &proxies(&["10.0.0.0/8"]),
        );
        assert_eq!(got, ip("10.0.0.2"));
    }

    #[test]
    fn u2_ipv4_mapped_peers_match_ipv4_networks() {
        let got = resolve(
            ip("::ffff:10.0.0.2"),
            vec!["203.0.113.50"],
            &proxies(&["10.0.0.0/8"]),
        );
        assert_eq!(got, ip("203.0.113.50"));
    }

    #[test]
    fn u2_ipv6_clients_are_limited_by_their_slash_64() {
        assert_eq!(
            limit_key(ip("2001:db8:1:2:aaaa::1")),
            limit_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"))
        );
        assert_ne!(
            limit_key(ip("2001:db8:1:2::1")),
            limit_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(limit_key(ip("2001:db8:1:2::1")), "2001:db8:1:2::/64");
        assert_eq!(limit_key(ip("203.0.113.7")), "203.0.113.7");
        assert_eq!(limit_key(ip("::ffff:203.0.113.7")), "203.0.113.7");
    }

    #[test]
    fn trusted_proxy_entries_parse_as_addresses_or_networks() {
        let p = proxies(&["10.0.0.0/8", "127.0.0.1", "fd00::/8"]);
        assert!(p.contains(ip("10.200.0.1")));
        assert!(p.contains(ip("127.0.0.1")));
        assert!(!p.contains(ip("127.0.0.2")));
        assert!(p.contains(ip("fd12::1")));
        assert!(TrustedProxies::parse(&["10.0.0.0/33"]).is_err());
        assert!(TrustedProxies::parse(&["proxy.internal"]).is_err());
    }
}
