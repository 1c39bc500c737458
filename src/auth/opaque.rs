//! Opaque bearer secrets: refresh tokens, API keys and invitations.
//!
//! Shape: `<kind>_<tenant id, 32 hex>_<43 chars of base64url randomness>`. The tenant
//! part lets every lookup filter on the tenant like every other query; the 256 random
//! bits are the secret. Only the SHA-256 of the whole string is stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use switchboard_actors::TenantId;
use switchboard_actors::store::TokenHash;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Refresh,
    ApiKey,
    Invitation,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Refresh => "sbr",
            Kind::ApiKey => "sbk",
            Kind::Invitation => "sbi",
        }
    }
}

/// 32 bytes from the operating system's CSPRNG, base64url.
pub fn random_text() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

pub fn hash(token: &str) -> TokenHash {
    TokenHash(Sha256::digest(token.as_bytes()).into())
}

/// A new secret for `tenant`: the text to hand out once, and the hash to store.
pub fn generate(kind: Kind, tenant: TenantId) -> Result<(String, TokenHash), getrandom::Error> {
    let token = format!("{}_{}_{}", kind.prefix(), tenant.0.simple(), random_text()?);
    let hashed = hash(&token);
    Ok((token, hashed))
}

/// The tenant a presented secret claims and the hash to look it up by; `None` when it
/// is not of this kind's shape.
pub fn parse(kind: Kind, token: &str) -> Option<(TenantId, TokenHash)> {
    let rest = token.strip_prefix(kind.prefix())?.strip_prefix('_')?;
    let (tenant, secret) = rest.split_once('_')?;
    if secret.len() != 43
        || !secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    let tenant = Uuid::try_parse(tenant).ok()?;
    Some((TenantId(tenant), hash(token)))
}

pub fn is_api_key(token: &str) -> bool {
    token.starts_with(Kind::ApiKey.prefix())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_token_parses_back_to_its_tenant_and_hash() {
        let tenant = TenantId::new();
        let (token, stored) = generate(Kind::Refresh, tenant).unwrap();
        assert_eq!(parse(Kind::Refresh, &token), Some((tenant, stored)));
        assert_eq!(
            parse(Kind::ApiKey, &token),
            None,
            "a refresh token is not an API key"
        );
    }

    #[test]
    fn two_tokens_never_repeat() {
        let tenant = TenantId::new();
        assert_ne!(
            generate(Kind::ApiKey, tenant).unwrap().0,
            generate(Kind::ApiKey, tenant).unwrap().0
        );
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let tenant = TenantId::new();
        let (token, _) = generate(Kind::Invitation, tenant).unwrap();
        assert_eq!(parse(Kind::Invitation, &token[..token.len() - 1]), None);
        assert_eq!(
            parse(
                Kind::Invitation,
                "sbi_nothex_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            ),
            None
        );
        assert_eq!(parse(Kind::Invitation, ""), None);
    }
}
