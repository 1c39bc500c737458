//! The JSON shapes the API returns. Records never go out directly, so a new column
//! (a password hash, say) cannot leak by accident.

use serde::Serialize;
use switchboard_actors::store::{ApiKey, AuditActor, AuditEntry, Tenant, User};

#[derive(Serialize, utoipa::ToSchema)]
pub struct TenantView {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub created_at: String,
}

impl From<&Tenant> for TenantView {
    fn from(t: &Tenant) -> Self {
        Self {
            id: t.id.to_string(),
            slug: t.slug.clone(),
            name: t.name.clone(),
            created_at: t.created_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: &'static str,
    pub status: &'static str,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.to_string(),
            email: u.email.to_string(),
            name: u.name.clone(),
            role: u.role.as_str(),
            status: u.status.as_str(),
            created_at: u.created_at.to_rfc3339(),
            updated_at: u.updated_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    /// `sbk_…` plus the last characters of the key.
    pub hint: String,
    pub scopes: Vec<&'static str>,
    pub created_by: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
}

impl From<&ApiKey> for ApiKeyView {
    fn from(k: &ApiKey) -> Self {
        Self {
            id: k.id.to_string(),
            name: k.name.clone(),
            hint: format!("sbk_…{}", k.hint),
            scopes: k.scopes.iter().map(|s| s.as_str()).collect(),
            created_by: k.created_by.to_string(),
            created_at: k.created_at.to_rfc3339(),
            expires_at: k.expires_at.map(|m| m.to_rfc3339()),
            revoked_at: k.revoked_at.map(|m| m.to_rfc3339()),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ActorView {
    pub kind: &'static str,
    pub id: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AuditView {
    pub id: String,
    pub at: String,
    pub actor: ActorView,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub details: serde_json::Value,
}

impl From<&AuditEntry> for AuditView {
    fn from(e: &AuditEntry) -> Self {
        let actor = match e.actor {
            AuditActor::User(id) => ActorView {
                kind: "user",
                id: Some(id.to_string()),
            },
            AuditActor::ApiKey(id) => ActorView {
                kind: "api_key",
                id: Some(id.to_string()),
            },
            AuditActor::System => ActorView {
                kind: "system",
                id: None,
            },
            AuditActor::Anonymous => ActorView {
                kind: "anonymous",
                id: None,
            },
        };
        Self {
            id: e.id.to_string(),
            at: e.at.to_rfc3339(),
            actor,
            action: e.action.clone(),
            target_type: e.target_type.clone(),
            target_id: e.target_id.clone(),
            ip: e.ip.clone(),
            request_id: e.request_id.clone(),
            details: e.details.clone(),
        }
    }
}

/// What a successful sign-in, registration, refresh or invitation acceptance returns.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Session {
    pub access_token: String,
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub refresh_token: String,
    pub user: UserView,
}

/// A list response; `next_cursor` is absent on the last page.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Page<T: Serialize> {
    pub data: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A new tenant and a session for its owner.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Registered {
    pub tenant: TenantView,
    pub session: Session,
}

/// The signed-in user and their tenant.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Me {
    pub user: UserView,
    pub tenant: TenantView,
}

/// An invited user and the token they accept with, shown once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Invited {
    pub user: UserView,
    pub invitation: InvitationView,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct InvitationView {
    pub token: String,
    pub expires_at: String,
}

/// A team member as every colleague may see them: no email.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TeamMember {
    pub id: String,
    pub name: String,
    pub role: &'static str,
}

/// A new API key and its secret, shown once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct NewApiKey {
    pub api_key: ApiKeyView,
    pub key: String,
}

impl<T: Serialize> Page<T> {
    /// A list that fits one page: there is no next cursor.
    pub fn whole(data: Vec<T>) -> Self {
        Self {
            data,
            next_cursor: None,
        }
    }
}
