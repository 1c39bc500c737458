//! How strong passwords and configured secrets must be.
//!
//! Passwords (ASVS 6.2.4): besides the length rule, a password is refused when
//! zxcvbn estimates it is found within `MIN_PASSWORD_GUESSES` guesses. That covers its
//! bundled list of the 30,000 most common passwords (a whole-password match ranks at
//! most 30,000 guesses, times a few for capitals and l33t), the user's own email, name
//! and tenant, and keyboard walks, repeats, sequences and dates.
//!
//! Secrets an operator configures (the JWT key, the credentials key, the first owner's
//! password) are refused when they are the example values our own docs and
//! `docker/example.env` show, or trivially guessable, unless `server.dev_mode` is on.
//! Channel app secrets and verify tokens need `MIN_CHANNEL_SECRET_CHARS` characters
//! and the same guessing resistance as a secret.

/// A password found within this many guesses is refused (zxcvbn's scores 0 and 1).
const MIN_PASSWORD_GUESSES_LOG10: f64 = 6.0;
/// A secret found within this many guesses is refused.
const MIN_SECRET_GUESSES_LOG10: f64 = 10.0;
/// Different characters a configured secret has at least.
const MIN_SECRET_DISTINCT_CHARS: usize = 8;
/// Shortest channel app secret or verify token (Meta's app secrets have 32).
pub const MIN_CHANNEL_SECRET_CHARS: usize = 16;

/// Values shown in `docker/example.env` and the README, and what they share.
const EXAMPLE_MARKERS: &[&str] = &[
    "change-me",
    "changeme",
    "change_me",
    "a long random string of at least 32 bytes",
    "the same 32+ byte secret on every node",
    "base64 of 32 random bytes",
];

/// Why a password is refused, in words for the user; `None` when it is acceptable.
/// `context` holds what the user is known by (email, name, tenant).
pub fn password_problem(password: &str, context: &[&str]) -> Option<String> {
    let guesses = zxcvbn::zxcvbn(password, context).guesses_log10();
    (guesses < MIN_PASSWORD_GUESSES_LOG10).then(|| {
        "this password is too common or too easy to guess (a common password, your own \
         name or email, or a simple pattern); choose another"
            .to_owned()
    })
}

/// Why a configured value is refused as an example from our docs; `None` otherwise.
pub fn example_problem(value: &str) -> Option<String> {
    let lower = value.to_lowercase();
    EXAMPLE_MARKERS
        .iter()
        .any(|marker| lower.contains(marker))
        .then(|| "is an example value from the documentation; generate a random one".into())
}

/// Why a configured secret is refused; `None` when it is acceptable.
pub fn secret_problem(secret: &str) -> Option<String> {
    if let Some(problem) = example_problem(secret) {
        return Some(problem);
    }
    let mut distinct: Vec<char> = secret.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < MIN_SECRET_DISTINCT_CHARS
        || zxcvbn::zxcvbn(secret, &[]).guesses_log10() < MIN_SECRET_GUESSES_LOG10
    {
        return Some("is too easy to guess; generate a random one".into());
    }
    None
}

/// Why a key's bytes are refused (all zeros, a few repeated bytes); `None` when fine.
pub fn key_problem(key: &[u8]) -> Option<String> {
    let mut distinct = key.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    // 32 random bytes have about 30 different values; fewer than 8 is no random key.
    (distinct.len() < MIN_SECRET_DISTINCT_CHARS).then(|| {
        "is not random (too few different bytes); generate one with `openssl rand -base64 32`"
            .into()
    })
}

/// Why a channel's app secret or verify token is refused; `None` when fine.
pub fn channel_secret_problem(secret: &str) -> Option<String> {
    if secret.chars().count() < MIN_CHANNEL_SECRET_CHARS {
        return Some(format!(
            "needs at least {MIN_CHANNEL_SECRET_CHARS} characters"
        ));
    }
    secret_problem(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_personal_and_patterned_passwords_are_refused() {
        for weak in [
            "password123",
            "1234567890",
            "qwertyuiop",
            "1q2w3e4r5t",
            "qwerty123456",
            "Password1!",
            "iloveyou12",
            "aaaaaaaaaaaa",
            "abcdefghijkl",
        ] {
            assert!(password_problem(weak, &[]).is_some(), "{weak}");
        }
        assert!(password_problem("ada@example.com", &["ada@example.com"]).is_some());
        for fine in [
            "correct horse battery",
            "first-owner-password",
            "invited-password",
            "Vq3xkP9sL2mW7rT4",
        ] {
            assert_eq!(password_problem(fine, &["ada@example.com"]), None, "{fine}");
        }
    }

    #[test]
    fn example_and_guessable_secrets_are_refused_and_random_ones_pass() {
        for weak in [
            "change-me-to-at-least-32-random-bytes-please",
            "a long random string of at least 32 bytes",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "0123456789abcdef0123456789abcdef",
            "passwordpasswordpasswordpassword",
        ] {
            assert!(secret_problem(weak).is_some(), "{weak}");
        }
        assert_eq!(secret_problem("kO3v9Qd7Zr1mW8xT2pL6yB4nC0sF5hJ"), None);
        assert!(key_problem(&[0u8; 32]).is_some());
        let random: Vec<u8> = (0u8..32)
            .map(|n| n.wrapping_mul(37).wrapping_add(11))
            .collect();
        assert_eq!(key_problem(&random), None);
        assert!(channel_secret_problem("test-app-secret").is_some());
        assert_eq!(
            channel_secret_problem("5f2b9c1e8d7a46f3b0e2c9d4a1f6b7e8"),
            None
        );
    }
}
