//! The guarded HTTP client: the one way to fetch a URL that did not come from our own
//! configuration (media links in webhooks and Graph API answers today; outbound
//! webhooks, CRMs and AI providers reuse it).
//!
//! A URL from outside may name anything the server can reach: the cloud metadata
//! service, Redis on loopback, an admin panel on the private network. So before a
//! byte is sent:
//! - the scheme must be https (plain http only where the policy allows it), with no
//!   credentials in the URL, and the host must be on the policy's allow-list if it has
//!   one;
//! - the host is resolved once, by our resolver, and every address that is not a
//!   public unicast address (loopback, private, link-local and so metadata,
//!   carrier-grade NAT, multicast, documentation, IPv4 inside IPv6) is dropped; the
//!   connection goes to the addresses that passed, so a second lookup cannot swap in
//!   another answer (DNS rebinding). An IP literal is checked the same way;
//! - redirects are followed only to the same host and scheme rules, at most
//!   `MAX_REDIRECTS`;
//! - the body is read up to `max_bytes`, the whole exchange within `timeout`.
//!
//! Private targets are refused unless `allow_private` is set: tests turn it on to reach
//! their local fakes; the default refuses them.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::HeaderMap;
use reqwest::{StatusCode, Url, redirect};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Redirects followed at most (each must stay on the first URL's host).
const MAX_REDIRECTS: usize = 5;

/// What may be fetched, and how much.
#[derive(Debug, Clone)]
pub struct FetchPolicy {
    /// Plain `http` as well as `https` (tests, local development).
    pub allow_http: bool,
    /// Loopback, private and link-local targets (tests, local development).
    pub allow_private: bool,
    /// Hosts that may be fetched, each matching itself and its subdomains
    /// (`fbcdn.net` matches `scontent.xx.fbcdn.net`); empty allows any public host.
    pub hosts: Vec<String>,
    pub max_bytes: usize,
    pub timeout: Duration,
    /// Follow redirects (to the same host, under the same rules). Off, a 3xx is the
    /// answer, as outbound webhooks want: a receiver that moved must be told.
    pub follow_redirects: bool,
}

/// Why a fetch did not return a body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The URL, its host, an address it resolves to or a redirect broke the policy.
    #[error("refused: {0}")]
    Refused(String),
    #[error("the response is larger than {0} bytes")]
    TooLarge(usize),
    #[error("no answer in time")]
    Timeout,
    /// Connecting or reading failed; trying again later may work.
    #[error("cannot reach the host: {0}")]
    Transport(String),
    /// The server answered with an error status.
    #[error("HTTP {status}")]
    Status {
        status: StatusCode,
        headers: HeaderMap,
        body: Vec<u8>,
    },
}

/// Any answer, with the start of its body (`post_raw`).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// Up to the bytes asked for; the rest was not read.
    pub body_head: Vec<u8>,
}

/// A successful answer, read whole within the limits.
#[derive(Debug)]
pub struct Fetched {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

#[derive(Clone)]
pub struct GuardedClient {
    http: reqwest::Client,
    policy: Arc<FetchPolicy>,
}

impl GuardedClient {
    pub fn new(policy: FetchPolicy) -> Result<Self, reqwest::Error> {
        let policy = Arc::new(policy);
        let redirects = policy.clone();
        let http = reqwest::Client::builder()
            // A proxy from the environment would resolve the host itself, out of
            // reach of the address check.
            .no_proxy()
            .dns_resolver(PublicOnly {
                allow_private: policy.allow_private,
            })
            .redirect(redirect::Policy::custom(move |attempt| {
                if !redirects.follow_redirects {
                    return attempt.stop();
                }
                let first = attempt.previous().first().cloned();
                if attempt.previous().len() > MAX_REDIRECTS {
                    return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
                }
                let same_host = first
                    .as_ref()
                    .is_some_and(|first| first.host_str() == attempt.url().host_str());
                if !same_host {
                    return attempt.error("a redirect to another host");
                }
                match check_url(&redirects, attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(reason) => attempt.error(reason),
                }
            }))
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout)
            .build()?;
        Ok(Self { http, policy })
    }

    /// `GET url` with `headers`; the body when the answer is a success.
    pub async fn get(&self, url: &str, headers: HeaderMap) -> Result<Fetched, FetchError> {
        let url = self.checked(url)?;
        self.read(self.http.get(url).headers(headers)).await
    }

    /// `POST url` with a JSON body and `headers`; the body when the answer is a success.
    pub async fn post_json(
        &self,
        url: &str,
        headers: HeaderMap,
        body: &serde_json::Value,
    ) -> Result<Fetched, FetchError> {
        let url = self.checked(url)?;
        self.read(self.http.post(url).headers(headers).json(body))
            .await
    }

    /// `POST url` with `body` as it is (signed bytes) and `headers`: whatever the
    /// answer's status, with the first `keep` bytes of its body.
    pub async fn post_raw(
        &self,
        url: &str,
        headers: HeaderMap,
        body: Vec<u8>,
        keep: usize,
    ) -> Result<Answer, FetchError> {
        let url = self.checked(url)?;
        let mut response = self
            .http
            .post(url)
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(transport)?;
        let (status, headers) = (response.status(), response.headers().clone());
        let mut body_head = Vec::new();
        while body_head.len() < keep {
            let Some(chunk) = response.chunk().await.map_err(transport)? else {
                break;
            };
            let room = keep - body_head.len();
            body_head.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        Ok(Answer {
            status,
            headers,
            body_head,
        })
    }

    /// Whether `url` could be fetched now: its form, and the addresses its host
    /// resolves to (checked again at every fetch, as they may change).
    pub async fn vet(&self, url: &str) -> Result<(), FetchError> {
        let url = self.checked(url)?;
        let Some(host) = url.host_str() else {
            return Err(FetchError::Refused("a URL without a host".into()));
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.parse::<IpAddr>().is_ok() {
            // An address literal was judged by `checked`.
            return Ok(());
        }
        match allowed_addresses(host, self.policy.allow_private).await {
            Ok(_) => Ok(()),
            Err(err) => match err.downcast::<Refusal>() {
                Ok(refused) => Err(FetchError::Refused(refused.0)),
                Err(err) => Err(FetchError::Transport(err.to_string())),
            },
        }
    }

    fn checked(&self, url: &str) -> Result<Url, FetchError> {
        let url =
            Url::parse(url).map_err(|err| FetchError::Refused(format!("not a URL: {err}")))?;
        check_url(&self.policy, &url).map_err(FetchError::Refused)?;
        Ok(url)
    }

    /// Sends the request and reads the answer within `max_bytes`.
    async fn read(&self, request: reqwest::RequestBuilder) -> Result<Fetched, FetchError> {
        let mut response = request.send().await.map_err(transport)?;
        let max = self.policy.max_bytes;
        if response.content_length().is_some_and(|n| n > max as u64) {
            return Err(FetchError::TooLarge(max));
        }
        let (status, headers) = (response.status(), response.headers().clone());
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > max {
                return Err(FetchError::TooLarge(max));
            }
            body.extend_from_slice(&chunk);
        }
        if status.is_success() {
            Ok(Fetched { headers, body })
        } else {
            Err(FetchError::Status {
                status,
                headers,
                body,
            })
        }
    }
}

/// How long an answer asked us to wait (`Retry-After` in seconds, the form the APIs
/// we call send; an HTTP date is not read).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds))
}

fn transport(err: reqwest::Error) -> FetchError {
    if err.is_timeout() {
        return FetchError::Timeout;
    }
    // The resolver's and the redirect policy's refusals arrive wrapped; say them as such.
    let mut source: Option<&dyn std::error::Error> = Some(&err);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<Refusal>() {
            return FetchError::Refused(refused.0.clone());
        }
        source = cause.source();
    }
    if err.is_redirect() {
        let reason =
            std::error::Error::source(&err).map_or_else(|| err.to_string(), ToString::to_string);
        return FetchError::Refused(reason);
    }
    FetchError::Transport(err.to_string())
}

/// Scheme, credentials, allow-list and IP-literal rules for one URL.
fn check_url(policy: &FetchPolicy, url: &Url) -> Result<(), String> {
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_http => {}
        other => return Err(format!("the scheme '{other}' is not allowed")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials in the URL".into());
    }
    let host = url.host_str().ok_or("a URL without a host")?;
    if !host_allowed(&policy.hosts, host) {
        return Err(format!("the host '{host}' is not on the allow-list"));
    }
    // The parser has already turned every IPv4 spelling (`2130706433`, `0x7f.1`) into
    // dotted form, and keeps IPv6 in brackets.
    let literal = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok();
    match literal {
        Some(ip) if !policy.allow_private && !is_public(ip) => {
            Err(format!("the address {ip} is not a public address"))
        }
        _ => Ok(()),
    }
}

/// Whether `host` is one of `allowed` or a subdomain of one; everything when the list
/// is empty.
pub fn host_allowed(allowed: &[String], host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    allowed.is_empty()
        || allowed.iter().any(|entry| {
            let entry = entry.trim_matches('.').to_ascii_lowercase();
            host == entry
                || host
                    .strip_suffix(&entry)
                    .is_some_and(|rest| rest.ends_with('.'))
        })
}

/// The error the resolver and the redirect policy raise, found again in `transport`.
#[derive(Debug)]
struct Refusal(String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

/// Resolves with the system resolver and keeps only the addresses the policy allows;
/// reqwest connects to exactly those.
struct PublicOnly {
    allow_private: bool,
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let kept = allowed_addresses(&host, allow_private).await?;
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `host`'s addresses that the policy allows; a `Refusal` when none is left.
async fn allowed_addresses(host: &str, allow_private: bool) -> Result<Vec<SocketAddr>, BoxError> {
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host, 0)).await?.collect();
    let kept: Vec<SocketAddr> = found
        .iter()
        .copied()
        .filter(|addr| allow_private || is_public(addr.ip()))
        .collect();
    if kept.is_empty() {
        let reason = if found.is_empty() {
            format!("'{host}' has no address")
        } else {
            format!("'{host}' resolves only to addresses that are not public")
        };
        return Err(Box::new(Refusal(reason)));
    }
    Ok(kept)
}

/// Whether `ip` is a public unicast address: not loopback, private, link-local (the
/// cloud metadata services live there), shared (carrier-grade NAT), multicast,
/// broadcast, reserved, documentation or benchmarking space, and for IPv6 also not an
/// IPv4 address carried inside one (mapped, NAT64, 6to4, Teredo), which is judged as
/// the IPv4 address it carries or refused.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => is_public_v6(ip),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let refused = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240; // reserved
    !refused
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    let refused = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00 // unique local
        || (segments[0] & 0xffc0) == 0xfe80 // link-local
        || (segments[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
        || (segments[0] == 0x2001 && segments[1] == 0) // Teredo
        || segments[0] == 0x2002 // 6to4
        || (segments[0] == 0x0064 && segments[1] == 0xff9b) // NAT64
        || segments[..6].iter().all(|s| *s == 0); // IPv4-compatible
    !refused
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_unicast_addresses_count_as_public() {
        for refused in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "192.0.0.170",
            "192.0.2.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "::",
            "::1",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "2001:0:4136:e378::1",
            "2002:7f00:1::1",
            "64:ff9b::7f00:1",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(refused.parse().unwrap()), "{refused}");
        }
        for public in [
            "8.8.8.8",
            "157.240.1.35",
            "172.32.0.1",
            "100.128.0.1",
            "192.0.1.1",
            "2a03:2880:f10c:83:face:b00c::25de",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn hosts_match_themselves_and_their_subdomains_only() {
        let allowed = vec!["fbcdn.net".to_owned(), "lookaside.fbsbx.com".to_owned()];
        for ok in [
            "fbcdn.net",
            "scontent.xx.fbcdn.net",
            "SCONTENT.FBCDN.NET",
            "fbcdn.net.",
            "lookaside.fbsbx.com",
        ] {
            assert!(host_allowed(&allowed, ok), "{ok}");
        }
        for refused in [
            "evilfbcdn.net",
            "fbcdn.net.evil.example",
            "fbsbx.com",
            "127.0.0.1",
            "other.fbsbx.com",
        ] {
            assert!(!host_allowed(&allowed, refused), "{refused}");
        }
        assert!(host_allowed(&[], "anything.example"));
    }

    fn policy() -> FetchPolicy {
        FetchPolicy {
            allow_http: false,
            allow_private: false,
            hosts: vec![],
            max_bytes: 1024,
            timeout: Duration::from_secs(5),
            follow_redirects: true,
        }
    }

    #[test]
    fn urls_are_refused_for_scheme_credentials_host_and_private_literals() {
        let check = |policy: &FetchPolicy, url: &str| check_url(policy, &Url::parse(url).unwrap());
        let strict = policy();
        assert!(check(&strict, "https://cdn.example/a.jpg").is_ok());
        for refused in [
            "http://cdn.example/a.jpg",
            "ftp://cdn.example/a.jpg",
            "file:///etc/passwd",
            "https://user:pw@cdn.example/a.jpg",
            "https://127.0.0.1/latest/meta-data/",
            "https://169.254.169.254/latest/meta-data/",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://2130706433/",
            "https://0x7f.1/",
        ] {
            assert!(check(&strict, refused).is_err(), "{refused}");
        }
        let listed = FetchPolicy {
            hosts: vec!["fbcdn.net".into()],
            ..policy()
        };
        assert!(check(&listed, "https://scontent.fbcdn.net/x").is_ok());
        assert!(check(&listed, "https://evil.example/x").is_err());
        let local = FetchPolicy {
            allow_http: true,
            allow_private: true,
            ..policy()
        };
        assert!(check(&local, "http://127.0.0.1:8080/x").is_ok());
    }

    #[actix_rt::test]
    async fn a_name_that_resolves_to_loopback_is_refused_before_connecting() {
        let client = GuardedClient::new(FetchPolicy {
            allow_http: true,
            ..policy()
        })
        .unwrap();
        let err = client
            .get("http://localhost:9/", HeaderMap::new())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, FetchError::Refused(reason) if reason.contains("not public")),
            "{err:?}"
        );
    }
}
