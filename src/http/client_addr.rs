//! Who is really asking: behind a reverse proxy the TCP peer is the proxy, and the client's
//! address, the scheme it used and the host it asked for travel in `Forwarded` (RFC 7239) or
//! `X-Forwarded-For` / `X-Forwarded-Proto` / `X-Forwarded-Host`. Those headers are believed only
//! from the proxies the admin names (`--trusted-proxies`): from anyone else they are the
//! client's own words, and ignored. Resolved once per request; everything downstream (the
//! throttle, the argon2 budget, the failed-login line, last-used data, the access log, Secure
//! cookies and same-origin checks) sees only the result.

use http::HeaderMap;
use http::header::{FORWARDED, HOST, HeaderValue};
use ipnet::IpNet;
use std::net::IpAddr;
use std::str::FromStr;

/// The networks whose connections are reverse proxies, whose forwarding headers are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

/// A `--trusted-proxies` entry that is no network.
#[derive(Debug, thiserror::Error)]
#[error("'{0}' is not a network (e.g. 10.0.0.0/8, 127.0.0.1/32, ::1/128) or an address")]
pub struct BadNetwork(String);

impl FromStr for TrustedProxies {
    type Err = BadNetwork;

    /// Comma-separated networks or single addresses; empty means none.
    fn from_str(text: &str) -> Result<Self, BadNetwork> {
        let nets = text
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| {
                n.parse::<IpNet>()
                    .or_else(|_| n.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| BadNetwork(n.to_string()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self(nets))
    }
}

impl TrustedProxies {
    /// Whether `addr` is one of the proxies (an IPv4-mapped IPv6 peer counts as its IPv4).
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = addr.to_canonical();
        self.0.iter().any(|net| net.contains(&addr))
    }

    /// True when no proxy is trusted (the headers are never read).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The client as resolved for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// The client's address: the peer, or what a trusted proxy says.
    pub addr: IpAddr,
    /// Whether the client's own connection is HTTPS (ours, or the proxy's front).
    pub https: bool,
    /// `host[:port]` the client asked for, when a trusted proxy says it (else the request's own
    /// `Host` stands).
    pub forwarded_host: Option<String>,
}

const X_FORWARDED_FOR: &str = "x-forwarded-for";
const X_FORWARDED_PROTO: &str = "x-forwarded-proto";
const X_FORWARDED_HOST: &str = "x-forwarded-host";

/// Resolves the client of a request that came from `peer` on a listener that is HTTPS when
/// `tls`. Malformed headers from a trusted proxy fall back to what the connection says.
pub fn resolve(trusted: &TrustedProxies, peer: IpAddr, tls: bool, headers: &HeaderMap) -> Client {
    let own = Client { addr: peer.to_canonical(), https: tls, forwarded_host: None };
    if !trusted.contains(peer) {
        return own;
    }
    let forwarded = Forwarded::parse(headers);
    let chain = match &forwarded {
        Some(f) => f.chain.clone(),
        None => x_forwarded_for(headers).unwrap_or_default(),
    };
    // The right-most hop not a proxy of ours is the client; a chain of only proxies, the
    // left-most of them.
    let addr = chain
        .iter()
        .rev()
        .find(|a| !trusted.contains(**a))
        .or(chain.first())
        .copied()
        .unwrap_or(own.addr)
        .to_canonical();
    let proto = forwarded
        .as_ref()
        .and_then(|f| f.proto.clone())
        .or_else(|| last_value(headers, X_FORWARDED_PROTO));
    let https = match proto.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("https") => true,
        Some("http") => false,
        _ => tls,
    };
    let forwarded_host = forwarded
        .and_then(|f| f.host)
        .or_else(|| last_value(headers, X_FORWARDED_HOST))
        .filter(|h| valid_host(h));
    Client { addr, https, forwarded_host }
}

/// Sets the request's `Host` to what a trusted proxy said the client asked for.
pub fn apply_host(client: &Client, headers: &mut HeaderMap) {
    if let Some(host) = &client.forwarded_host
        && let Ok(value) = HeaderValue::from_str(host)
    {
        headers.insert(HOST, value);
    }
}

/// The last comma-separated value of a header (the one the nearest proxy wrote).
fn last_value(headers: &HeaderMap, name: &str) -> Option<String> {
    let all = headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>();
    let last = all.join(",").rsplit(',').next()?.trim().to_string();
    (!last.is_empty()).then_some(last)
}

/// Every address of `X-Forwarded-For`, left to right; None if any is not an address.
fn x_forwarded_for(headers: &HeaderMap) -> Option<Vec<IpAddr>> {
    let mut chain = Vec::new();
    for value in headers.get_all(X_FORWARDED_FOR) {
        for hop in value.to_str().ok()?.split(',') {
            chain.push(node_addr(hop.trim())?);
        }
    }
    (!chain.is_empty()).then_some(chain)
}

/// What `Forwarded` says: the `for=` chain and the last `proto=` and `host=`.
struct Forwarded {
    chain: Vec<IpAddr>,
    proto: Option<String>,
    host: Option<String>,
}

impl Forwarded {
    /// None without the header, or when any element is malformed (then the whole header is
    /// disbelieved, not a part of it).
    fn parse(headers: &HeaderMap) -> Option<Self> {
        let mut parsed = Self { chain: Vec::new(), proto: None, host: None };
        let mut seen = false;
        for value in headers.get_all(FORWARDED) {
            for element in value.to_str().ok()?.split(',') {
                for pair in element.split(';').map(str::trim).filter(|p| !p.is_empty()) {
                    let (key, value) = pair.split_once('=')?;
                    let value = value.trim().trim_matches('"');
                    match key.trim().to_ascii_lowercase().as_str() {
                        "for" => parsed.chain.push(node_addr(value)?),
                        "proto" => parsed.proto = Some(value.to_string()),
                        "host" => parsed.host = Some(value.to_string()),
                        _ => {}
                    }
                    seen = true;
                }
            }
        }
        (seen && !parsed.chain.is_empty()).then_some(parsed)
    }
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `[::1]`, `[::1]:5678`, `::1`.
fn node_addr(text: &str) -> Option<IpAddr> {
    if let Ok(addr) = text.parse::<IpAddr>() {
        return Some(addr);
    }
    if let Some(rest) = text.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    let (host, port) = text.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// A host a browser could have sent: name or address, maybe a port, nothing else.
fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_static(v));
        }
        map
    }

    fn proxies() -> TrustedProxies {
        "127.0.0.1/32, 10.0.0.0/8,::1/128".parse().unwrap()
    }

    const PROXY: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
    const STRANGER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 9));

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.5, 10.1.2.3")]);
        let client = resolve(&proxies(), PROXY, false, &h);
        assert_eq!(client.addr, "203.0.113.5".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.5"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "evil.example"),
        ]);
        let client = resolve(&proxies(), STRANGER, false, &h);
        assert_eq!(client, Client { addr: STRANGER, https: false, forwarded_host: None });
        assert_eq!(resolve(&TrustedProxies::default(), PROXY, false, &h).addr, PROXY);
    }

    #[test]
    fn forwarded_wins_and_carries_proto_and_host() {
        let h = headers(&[
            ("forwarded", "for=198.51.100.7;proto=https;host=files.example.com, for=\"[::1]:80\""),
            ("x-forwarded-for", "203.0.113.5"),
        ]);
        let client = resolve(&proxies(), PROXY, false, &h);
        assert_eq!(client.addr, "198.51.100.7".parse::<IpAddr>().unwrap());
        assert!(client.https);
        assert_eq!(client.forwarded_host.as_deref(), Some("files.example.com"));
    }

    #[test]
    fn malformed_headers_fall_back_to_the_peer() {
        for bad in ["not-an-address", "1.2.3.4, ", "", "[::1", "1.2.3.4:99999"] {
            let h = headers(&[("x-forwarded-for", bad)]);
            assert_eq!(resolve(&proxies(), PROXY, false, &h).addr, PROXY, "{bad:?}");
        }
        let h = headers(&[("forwarded", "for"), ("x-forwarded-proto", "gopher")]);
        let client = resolve(&proxies(), PROXY, true, &h);
        assert_eq!((client.addr, client.https), (PROXY, true));
        let h = headers(&[("x-forwarded-host", "a b\"c")]);
        assert_eq!(resolve(&proxies(), PROXY, false, &h).forwarded_host, None);
    }

    #[test]
    fn addresses_with_ports_and_brackets_are_read() {
        assert_eq!(node_addr("1.2.3.4:80"), Some("1.2.3.4".parse().unwrap()));
        assert_eq!(node_addr("[2001:db8::1]:443"), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(node_addr("2001:db8::1"), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(node_addr("unknown"), None);
    }

    #[test]
    fn a_bad_network_is_refused() {
        assert!("10.0.0.0/33".parse::<TrustedProxies>().is_err());
        assert!("".parse::<TrustedProxies>().unwrap().is_empty());
        assert!(proxies().contains("::ffff:127.0.0.1".parse().unwrap()));
    }
}
