use super::InvalidValue;
use serde::{Deserialize, Serialize};

/// What a user may do inside a tenant. The order is the hierarchy: each role can do
/// everything the roles below it can.
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
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Agent,
    Manager,
    Admin,
    Owner,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Viewer,
        Role::Agent,
        Role::Manager,
        Role::Admin,
        Role::Owner,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Agent => "agent",
            Role::Manager => "manager",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str() == raw)
            .ok_or_else(|| {
                InvalidValue(format!(
                    "'{raw}' is not a role (viewer, agent, manager, admin, owner)"
                ))
            })
    }

    /// Whether a user with this role may create, change or deactivate a user who has
    /// (or would get) `other`. Owners manage everyone; everyone else manages only roles
    /// strictly below their own, so an admin cannot promote anyone to admin or touch
    /// another admin.
    pub fn can_manage(self, other: Role) -> bool {
        self == Role::Owner || other < self
    }
}

/// Where a user account stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    /// Created by an admin; becomes active when the invitation is accepted.
    Invited,
    Active,
    /// Cannot sign in; existing sessions stop working at their next request.
    Deactivated,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Invited => "invited",
            UserStatus::Active => "active",
            UserStatus::Deactivated => "deactivated",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        match raw {
            "invited" => Ok(UserStatus::Invited),
            "active" => Ok(UserStatus::Active),
            "deactivated" => Ok(UserStatus::Deactivated),
            other => Err(InvalidValue(format!("'{other}' is not a user status"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_manage_everyone_and_others_only_roles_below_them() {
        assert!(Role::Owner.can_manage(Role::Owner));
        assert!(Role::Admin.can_manage(Role::Manager));
        assert!(!Role::Admin.can_manage(Role::Admin));
        assert!(!Role::Admin.can_manage(Role::Owner));
        assert!(!Role::Agent.can_manage(Role::Agent));
        assert!(Role::Manager.can_manage(Role::Viewer));
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Ok(role));
        }
        assert!(Role::parse("superuser").is_err());
    }
}
