//! Meta's products: WhatsApp Cloud API, Messenger, Instagram and Lead Ads share one
//! Graph API and one webhook format.

pub mod graph;
pub mod leads;
pub mod outgoing;
pub mod signature;
pub mod webhook;

use super::adapter::{Parsed, Refused, WebhookAdapter};
use super::credentials::Credentials;
use actix_web::http::header::HeaderMap;
use switchboard_actors::Millis;

/// Meta's webhooks: `X-Hub-Signature-256` over the raw body with the app secret (Meta
/// signs no timestamp), one format for all four products.
pub struct Meta;

impl WebhookAdapter for Meta {
    const PROVIDER: &'static str = "meta";

    fn verify(
        credentials: &Credentials,
        headers: &HeaderMap,
        body: &[u8],
        _now: Millis,
    ) -> Result<(), Refused> {
        let header = headers.get(signature::HEADER).and_then(|v| v.to_str().ok());
        if signature::verify(&credentials.app_secret, body, header) {
            Ok(())
        } else {
            Err(Refused(
                "X-Hub-Signature-256 is missing or is not the HMAC-SHA256 of the body under the app secret",
            ))
        }
    }

    fn parse(body: &[u8]) -> Result<Parsed, String> {
        webhook::parse(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn credentials() -> Credentials {
        Credentials {
            access_token: "token".into(),
            app_secret: "the app secret".into(),
            verify_token: "verify".into(),
        }
    }

    fn signed_by(secret: &str, body: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static(signature::HEADER),
            HeaderValue::from_str(&signature::sign(secret, body)).unwrap(),
        );
        headers
    }

    #[test]
    fn a_delivery_is_taken_only_with_the_channels_own_signature_on_its_raw_body() {
        let body = br#"{"object":"page","entry":[]}"#;
        let now = Millis(0);
        assert_eq!(
            Meta::verify(
                &credentials(),
                &signed_by("the app secret", body),
                body,
                now
            ),
            Ok(())
        );
        let refused = |headers: &HeaderMap, body: &[u8]| {
            Meta::verify(&credentials(), headers, body, now).is_err()
        };
        assert!(refused(&signed_by("another secret", body), body));
        assert!(refused(
            &signed_by("the app secret", body),
            br#"{"object":"page"}"#
        ));
        assert!(refused(&HeaderMap::new(), body));
        assert_eq!(Meta::parse(body).map(|p| p.events.len()), Ok(0));
        assert!(Meta::parse(b"not json").is_err());
    }
}
