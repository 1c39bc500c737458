use super::InvalidValue;
use serde::{Deserialize, Serialize};

/// What an API key may do. Keys carry scopes instead of a role so that an integration
/// gets exactly the access it needs; the role a user needs for the same action is
/// named next to each scope in the server's permission table.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum Scope {
    #[serde(rename = "users:read")]
    UsersRead,
    #[serde(rename = "users:write")]
    UsersWrite,
    #[serde(rename = "audit:read")]
    AuditRead,
    #[serde(rename = "conversations:read")]
    ConversationsRead,
    #[serde(rename = "conversations:write")]
    ConversationsWrite,
    #[serde(rename = "contacts:read")]
    ContactsRead,
    #[serde(rename = "contacts:write")]
    ContactsWrite,
    /// Connecting channels, their dead letters and webhook log.
    #[serde(rename = "channels:write")]
    ChannelsWrite,
    /// The tenant's settings: handoff triggers, intents, assignment.
    #[serde(rename = "settings:write")]
    SettingsWrite,
}

impl Scope {
    pub const ALL: [Scope; 9] = [
        Scope::UsersRead,
        Scope::UsersWrite,
        Scope::AuditRead,
        Scope::ConversationsRead,
        Scope::ConversationsWrite,
        Scope::ContactsRead,
        Scope::ContactsWrite,
        Scope::ChannelsWrite,
        Scope::SettingsWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::UsersRead => "users:read",
            Scope::UsersWrite => "users:write",
            Scope::AuditRead => "audit:read",
            Scope::ConversationsRead => "conversations:read",
            Scope::ConversationsWrite => "conversations:write",
            Scope::ContactsRead => "contacts:read",
            Scope::ContactsWrite => "contacts:write",
            Scope::ChannelsWrite => "channels:write",
            Scope::SettingsWrite => "settings:write",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|s| s.as_str()).collect();
                InvalidValue(format!(
                    "'{raw}' is not a scope (known: {})",
                    known.join(", ")
                ))
            })
    }

    /// Scopes are stored as one space-separated column, the OAuth convention.
    pub fn join(scopes: &[Scope]) -> String {
        scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn split(stored: &str) -> Result<Vec<Scope>, InvalidValue> {
        stored.split_whitespace().map(Scope::parse).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_survive_the_stored_form() {
        let scopes = vec![Scope::UsersRead, Scope::AuditRead];
        assert_eq!(Scope::split(&Scope::join(&scopes)), Ok(scopes));
        assert_eq!(Scope::split(""), Ok(vec![]));
        assert!(Scope::split("users:read root").is_err());
    }
}
