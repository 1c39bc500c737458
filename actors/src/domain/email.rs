use super::InvalidValue;
use serde::{Deserialize, Serialize};

/// An email address, trimmed and lower-cased so that lookups are case-insensitive.
///
/// Only the shape is checked (one `@`, a dot in the domain, no spaces): whether the
/// mailbox exists is not something a server can know at sign-up.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

const MAX_EMAIL_LEN: usize = 254;

impl Email {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let email = raw.trim().to_lowercase();
        let invalid = || InvalidValue(format!("'{}' is not a valid email address", raw.trim()));
        if email.len() > MAX_EMAIL_LEN || email.chars().any(char::is_whitespace) {
            return Err(invalid());
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@');
        if local.is_empty() || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Email> for String {
    fn from(value: Email) -> Self {
        value.0
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_is_trimmed_and_lower_cased() {
        let email = Email::parse("  Ada@Example.COM ").map(|e| e.0);
        assert_eq!(email, Ok("ada@example.com".to_owned()));
    }

    #[test]
    fn shapes_that_cannot_be_an_address_are_refused() {
        for raw in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "a b@example.com",
            "ada@.com",
            "a@b@c.com",
        ] {
            assert!(Email::parse(raw).is_err(), "{raw} was accepted");
        }
    }
}
