//! Who is calling: the client address (for rate limits and the audit log) and the
//! request id, gathered once per request.

use crate::http::request_id;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use std::convert::Infallible;
use std::future::{Ready, ready};
use std::net::{IpAddr, SocketAddr};

#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub ip: Option<IpAddr>,
    pub request_id: Option<String>,
}

/// The caller's address: the socket peer, or the forwarded address when the server is
/// configured to trust its proxy.
pub fn client_ip(req: &HttpRequest, trust_forwarded_for: bool) -> Option<IpAddr> {
    if trust_forwarded_for {
        let info = req.connection_info();
        if let Some(addr) = info.realip_remote_addr().and_then(parse_addr) {
            return Some(addr);
        }
    }
    req.peer_addr().map(|addr| addr.ip())
}

fn parse_addr(text: &str) -> Option<IpAddr> {
    text.parse::<SocketAddr>()
        .map(|s| s.ip())
        .or_else(|_| text.trim_matches(['[', ']']).parse())
        .ok()
}

impl FromRequest for ClientInfo {
    type Error = Infallible;
    type Future = Ready<Result<Self, Infallible>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let trust = req
            .app_data::<web::Data<AppState>>()
            .is_some_and(|s| s.config.server.trust_forwarded_for);
        ready(Ok(ClientInfo {
            ip: client_ip(req, trust),
            request_id: request_id::current(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_addresses_parse_with_or_without_a_port() {
        assert_eq!(parse_addr("203.0.113.9"), "203.0.113.9".parse().ok());
        assert_eq!(parse_addr("203.0.113.9:4711"), "203.0.113.9".parse().ok());
        assert_eq!(parse_addr("[2001:db8::1]:443"), "2001:db8::1".parse().ok());
        assert_eq!(parse_addr("[2001:db8::1]"), "2001:db8::1".parse().ok());
        assert_eq!(parse_addr("unknown"), None);
    }
}
