//! Who is calling: the client address (for rate limits and the audit log) and the
//! request id, gathered once per request.
//!
//! Behind reverse proxies the socket peer is the proxy, and the client is named in a
//! header each proxy appends to. Anyone can send that header too, so only what our
//! own proxies wrote counts: the header is read only when the peer is a trusted
//! proxy, and from the right, skipping trusted proxies; the first address that is not
//! one of ours is the client. Whatever a client wrote further left is ignored, so it
//! cannot pick its own rate-limit key or forge the audit log.

use crate::config::{ClientIpHeader, ConfigError};
use crate::http::request_id;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::http::header::HeaderName;
use actix_web::{FromRequest, HttpRequest, web};
use ipnet::IpNet;
use std::convert::Infallible;
use std::future::{Ready, ready};
use std::net::{IpAddr, SocketAddr};

#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub ip: Option<IpAddr>,
    pub request_id: Option<String>,
}

/// How client addresses are found: the trusted proxies and the header they set.
#[derive(Debug, Clone)]
pub struct ClientAddresses {
    proxies: Vec<IpNet>,
    header: ClientIpHeader,
}

impl ClientAddresses {
    /// `proxies` are addresses or CIDR ranges (`10.0.0.5`, `172.28.0.0/16`).
    pub fn new(proxies: &[String], header: ClientIpHeader) -> Result<Self, ConfigError> {
        let proxies = proxies
            .iter()
            .map(|text| parse_net(text))
            .collect::<Result<_, _>>()?;
        Ok(Self { proxies, header })
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.proxies.iter().any(|net| net.contains(&ip))
    }

    /// The caller's address: the socket peer, or when that is a trusted proxy, the
    /// rightmost address in the proxies' header that is not itself a trusted proxy.
    pub fn client_ip(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr().map(|addr| addr.ip())?;
        if !self.trusted(peer) {
            return Some(peer);
        }
        let name = match self.header {
            ClientIpHeader::XForwardedFor => HeaderName::from_static("x-forwarded-for"),
            ClientIpHeader::Forwarded => HeaderName::from_static("forwarded"),
        };
        let lines: Vec<&str> = req
            .headers()
            .get_all(name)
            .filter_map(|v| v.to_str().ok())
            .collect();
        Some(self.rightmost_untrusted(peer, &lines))
    }

    /// Walks the hops from the right. `lines` are the header's lines in order.
    fn rightmost_untrusted(&self, peer: IpAddr, lines: &[&str]) -> IpAddr {
        let hops: Vec<&str> = lines.iter().flat_map(|line| line.split(',')).collect();
        let mut nearest = peer;
        for hop in hops.iter().rev() {
            let parsed = match self.header {
                ClientIpHeader::XForwardedFor => parse_addr(hop.trim()),
                ClientIpHeader::Forwarded => forwarded_for(hop),
            };
            // What a trusted proxy wrote is always an address; anything else came
            // from the client side, so the hop that recorded it is the best we know.
            let Some(ip) = parsed else {
                return nearest;
            };
            if !self.trusted(ip) {
                return ip;
            }
            nearest = ip;
        }
        nearest
    }
}

fn parse_net(text: &str) -> Result<IpNet, ConfigError> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| {
            ConfigError::Invalid(format!(
                "server.trusted_proxies: '{text}' is not an address or a CIDR range"
            ))
        })
}

/// An address with or without a port, IPv6 with or without brackets.
fn parse_addr(text: &str) -> Option<IpAddr> {
    text.parse::<SocketAddr>()
        .map(|s| s.ip())
        .or_else(|_| text.trim_matches(['[', ']']).parse())
        .ok()
        .map(|ip: IpAddr| ip.to_canonical())
}

/// The `for=` of one RFC 7239 element (`for=192.0.2.60;proto=http`,
/// `for="[2001:db8::17]:4711"`).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element
        .split(';')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| key.trim().eq_ignore_ascii_case("for"))
        .and_then(|(_, value)| parse_addr(value.trim().trim_matches('"')))
}

impl FromRequest for ClientInfo {
    type Error = Infallible;
    type Future = Ready<Result<Self, Infallible>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let ip = match req.app_data::<web::Data<AppState>>() {
            Some(state) => state.client_addresses.client_ip(req),
            None => req.peer_addr().map(|addr| addr.ip()),
        };
        ready(Ok(ClientInfo {
            ip,
            request_id: request_id::current(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn behind(proxies: &[&str], header: ClientIpHeader) -> ClientAddresses {
        let proxies: Vec<String> = proxies.iter().map(|p| (*p).to_owned()).collect();
        ClientAddresses::new(&proxies, header).unwrap()
    }

    #[test]
    fn forwarded_addresses_parse_with_or_without_a_port() {
        assert_eq!(parse_addr("203.0.113.9"), Some(ip("203.0.113.9")));
        assert_eq!(parse_addr("203.0.113.9:4711"), Some(ip("203.0.113.9")));
        assert_eq!(parse_addr("[2001:db8::1]:443"), Some(ip("2001:db8::1")));
        assert_eq!(parse_addr("[2001:db8::1]"), Some(ip("2001:db8::1")));
        assert_eq!(parse_addr("::ffff:203.0.113.9"), Some(ip("203.0.113.9")));
        assert_eq!(parse_addr("unknown"), None);
    }

    #[test]
    fn the_rightmost_address_that_is_not_a_trusted_proxy_is_the_client() {
        let xff = behind(&["10.0.0.0/8", "192.0.2.1"], ClientIpHeader::XForwardedFor);
        let peer = ip("10.0.0.2");
        // The client sent a forged header; our proxy appended the real peer.
        assert_eq!(
            xff.rightmost_untrusted(peer, &["1.2.3.4, 198.51.100.7"]),
            ip("198.51.100.7")
        );
        // Two of our proxies in a row, over two header lines.
        assert_eq!(
            xff.rightmost_untrusted(peer, &["6.6.6.6, 198.51.100.7", "10.1.1.1, 192.0.2.1"]),
            ip("198.51.100.7")
        );
        // Garbage can only have come from the client side: stop at the last proxy hop.
        assert_eq!(
            xff.rightmost_untrusted(peer, &["not-an-ip, 10.3.3.3"]),
            ip("10.3.3.3")
        );
        // Only our proxies: the leftmost of them.
        assert_eq!(xff.rightmost_untrusted(peer, &["10.9.9.9"]), ip("10.9.9.9"));
        // No header: the proxy itself.
        assert_eq!(xff.rightmost_untrusted(peer, &[]), peer);
    }

    #[test]
    fn rfc_7239_elements_are_read_by_their_for_parameter() {
        let forwarded = behind(&["10.0.0.0/8"], ClientIpHeader::Forwarded);
        assert_eq!(
            forwarded.rightmost_untrusted(
                ip("10.0.0.2"),
                &["for=1.2.3.4, for=\"[2001:db8:cafe::17]:4711\";proto=https, for=10.0.0.9;by=10.0.0.2"]
            ),
            ip("2001:db8:cafe::17")
        );
    }

    #[test]
    fn trusted_proxies_must_be_addresses_or_ranges() {
        assert!(
            ClientAddresses::new(
                &["10.0.0.0/8".into(), "::1".into()],
                ClientIpHeader::XForwardedFor
            )
            .is_ok()
        );
        assert!(
            ClientAddresses::new(&["proxy.internal".into()], ClientIpHeader::XForwardedFor)
                .is_err()
        );
    }
}
