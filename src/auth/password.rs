//! Password hashing with Argon2id (m=19456 KiB, t=2, p=1: the OWASP minimum).
//!
//! Hashing takes tens of milliseconds of CPU, so it runs on the blocking pool, never
//! on the threads that serve requests.

use super::strength;
use crate::error::ApiError;
use actix_web::web;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

const MEMORY_KIB: u32 = 19_456;
const ITERATIONS: u32 = 2;
const PARALLELISM: u32 = 1;
pub const MIN_LENGTH: usize = 10;
/// Hashing cost grows with input; cap it so a huge "password" is not a cheap DoS.
pub const MAX_LENGTH: usize = 256;

fn argon2() -> Result<Argon2<'static>, ApiError> {
    let params =
        Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).map_err(ApiError::internal)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Checks the policy and hashes; the error says what is wrong with the password.
/// `context` is what the user is known by (email, name, tenant): a password that is
/// just that is refused too (`strength::password_problem`).
pub async fn hash(password: String, context: Vec<String>) -> Result<String, ApiError> {
    let length = password.chars().count();
    if length < MIN_LENGTH || password.len() > MAX_LENGTH {
        return Err(ApiError::invalid(format!(
            "a password needs at least {MIN_LENGTH} characters and at most {MAX_LENGTH} bytes"
        )));
    }
    web::block(move || {
        let context: Vec<&str> = context.iter().map(String::as_str).collect();
        if let Some(problem) = strength::password_problem(&password, &context) {
            return Err(ApiError::invalid(problem));
        }
        argon2()?
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(ApiError::internal)
    })
    .await
    .map_err(ApiError::internal)?
}

/// Whether `password` matches `stored`. With no stored hash (unknown user, invitation
/// not accepted) it still spends the same work on `decoy`, so response times do not
/// reveal which accounts exist.
pub async fn verify(
    password: String,
    stored: Option<String>,
    decoy: String,
) -> Result<bool, ApiError> {
    if password.len() > MAX_LENGTH {
        return Ok(false);
    }
    web::block(move || {
        let exists = stored.is_some();
        let hash = stored.unwrap_or(decoy);
        let matches = argon2()?
            .verify_password(password.as_bytes(), hash.as_str())
            .is_ok();
        Ok(exists && matches)
    })
    .await
    .map_err(ApiError::internal)?
}

/// A hash of a random password, used as the decoy in `verify`.
pub async fn decoy() -> Result<String, ApiError> {
    hash(
        crate::auth::opaque::random_text().map_err(ApiError::internal)?,
        Vec::new(),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let stored = hash("correct horse battery".into(), Vec::new())
            .await
            .unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        let decoy = decoy().await.unwrap();
        assert!(
            verify(
                "correct horse battery".into(),
                Some(stored.clone()),
                decoy.clone()
            )
            .await
            .unwrap()
        );
        assert!(
            !verify("correct horse battery!".into(), Some(stored), decoy.clone())
                .await
                .unwrap()
        );
        assert!(!verify("anything at all".into(), None, decoy).await.unwrap());
    }

    #[actix_rt::test]
    async fn a_short_password_is_refused_with_the_rule() {
        let err = hash("short".into(), Vec::new()).await.unwrap_err();
        assert!(err.message.contains("at least 10"), "{}", err.message);
    }

    #[actix_rt::test]
    async fn a_common_password_or_the_users_own_email_is_refused() {
        for (password, context) in [
            ("password123", vec![]),
            ("qwertyuiop", vec![]),
            ("ada@example.com", vec!["ada@example.com".to_owned()]),
        ] {
            let err = hash(password.into(), context).await.unwrap_err();
            assert!(
                err.message.contains("too common"),
                "{password}: {}",
                err.message
            );
        }
    }
}
