//! JWT access tokens: HS256 only (the algorithm is pinned on decode, so `alg: none`
//! and algorithm-confusion tokens are refused), with `exp`, `iss` and `aud` required.
//!
//! The token names the user, the tenant and the sign-in (`sid`: the refresh-token
//! family the sign-in started); the role, the status and whether that sign-in still
//! holds are read from the store on each request, so a demotion, a deactivation, a
//! sign-out or a password change takes effect at once rather than when the token
//! expires.

use crate::config::AuthConfig;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use switchboard_actors::{Millis, RefreshFamilyId, TenantId, UserId};
use uuid::Uuid;

/// Clock difference tolerated between nodes when checking `exp`.
const LEEWAY_SECS: u64 = 5;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    /// Tenant id.
    pub tid: Uuid,
    /// The sign-in: the refresh-token family this token was issued under.
    pub sid: Uuid,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
}

pub struct AccessTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    pub ttl: Duration,
}

impl AccessTokens {
    pub fn new(secret: &[u8], config: &AuthConfig) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // `tid` and `sid` are required by `Claims` itself: a token without them does
        // not decode.
        validation.leeway = LEEWAY_SECS;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            ttl: Duration::from_secs(config.access_token_ttl_secs),
        }
    }

    pub fn issue(
        &self,
        tenant: TenantId,
        user: UserId,
        sign_in: RefreshFamilyId,
        now: Millis,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let iat = now.0 / 1000;
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        let claims = Claims {
            sub: user.0,
            tid: tenant.0,
            sid: sign_in.0,
            iat,
            exp: iat.saturating_add(ttl),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// The user and tenant of a valid token; `None` for anything else (bad signature,
    /// expired, wrong issuer or audience, another algorithm, garbage).
    pub fn verify(&self, token: &str) -> Option<Verified> {
        let data = decode::<Claims>(token, &self.decoding, &self.validation).ok()?;
        Some(Verified {
            tenant: TenantId(data.claims.tid),
            user: UserId(data.claims.sub),
            sign_in: RefreshFamilyId(data.claims.sid),
            expires_at: Millis(data.claims.exp.saturating_mul(1000)),
        })
    }
}

/// What a valid access token says.
#[derive(Debug, Clone, Copy)]
pub struct Verified {
    pub tenant: TenantId,
    pub user: UserId,
    pub sign_in: RefreshFamilyId,
    /// When the token stops being accepted (a WebSocket authenticated with it closes).
    pub expires_at: Millis,
}
