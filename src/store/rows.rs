//! Rows as both SQL dialects return them, and their conversion into domain records.
//! A value the domain cannot read (an unknown role, say) is a store failure, never a
//! silent default.

use sqlx::FromRow;
use switchboard_actors::domain::InvalidValue;
use switchboard_actors::store::{ApiKey, AuditActor, AuditEntry, StoreError, Tenant, User};
use switchboard_actors::{
    ApiKeyId, AuditId, Email, Millis, Role, Scope, TenantId, UserId, UserStatus,
};
use uuid::Uuid;

pub fn corrupt(what: &str) -> impl Fn(InvalidValue) -> StoreError + '_ {
    move |err| StoreError::Backend(format!("unreadable {what} row: {err}"))
}

#[derive(FromRow)]
pub struct TenantRow {
    id: Uuid,
    slug: String,
    name: String,
    created_at: i64,
}

impl From<TenantRow> for Tenant {
    fn from(row: TenantRow) -> Self {
        Tenant {
            id: TenantId(row.id),
            slug: row.slug,
            name: row.name,
            created_at: Millis(row.created_at),
        }
    }
}

#[derive(FromRow)]
pub struct UserRow {
    tenant_id: Uuid,
    id: Uuid,
    email: String,
    name: String,
    role: String,
    status: String,
    password_hash: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(row: UserRow) -> Result<Self, Self::Error> {
        Ok(User {
            tenant_id: TenantId(row.tenant_id),
            id: UserId(row.id),
            email: Email::parse(&row.email).map_err(corrupt("user"))?,
            name: row.name,
            role: Role::parse(&row.role).map_err(corrupt("user"))?,
            status: UserStatus::parse(&row.status).map_err(corrupt("user"))?,
            password_hash: row.password_hash,
            created_at: Millis(row.created_at),
            updated_at: Millis(row.updated_at),
        })
    }
}

/// A user with whether one of their sign-ins still holds.
#[derive(FromRow)]
pub struct UserSignInRow {
    #[sqlx(flatten)]
    pub user: UserRow,
    pub signed_in: bool,
}

#[derive(FromRow)]
pub struct ApiKeyRow {
    tenant_id: Uuid,
    id: Uuid,
    name: String,
    hint: String,
    scopes: String,
    created_by: Uuid,
    created_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl TryFrom<ApiKeyRow> for ApiKey {
    type Error = StoreError;
    fn try_from(row: ApiKeyRow) -> Result<Self, Self::Error> {
        Ok(ApiKey {
            tenant_id: TenantId(row.tenant_id),
            id: ApiKeyId(row.id),
            name: row.name,
            hint: row.hint,
            scopes: Scope::split(&row.scopes).map_err(corrupt("api key"))?,
            created_by: UserId(row.created_by),
            created_at: Millis(row.created_at),
            expires_at: row.expires_at.map(Millis),
            revoked_at: row.revoked_at.map(Millis),
        })
    }
}

/// The part of a refresh token a rotation needs to decide what happened.
#[derive(FromRow)]
pub struct RefreshStateRow {
    pub user_id: Uuid,
    pub family_id: Uuid,
    pub used_at: Option<i64>,
}

#[derive(FromRow)]
pub struct AuditRow {
    tenant_id: Uuid,
    id: Uuid,
    at: i64,
    actor_kind: String,
    actor_id: Option<Uuid>,
    action: String,
    target_type: Option<String>,
    target_id: Option<String>,
    ip: Option<String>,
    request_id: Option<String>,
    details: String,
}

/// How an actor is spelled in the `actor_kind`/`actor_id` columns.
pub fn actor_columns(actor: AuditActor) -> (&'static str, Option<Uuid>) {
    match actor {
        AuditActor::User(id) => ("user", Some(id.0)),
        AuditActor::ApiKey(id) => ("api_key", Some(id.0)),
        AuditActor::System => ("system", None),
        AuditActor::Anonymous => ("anonymous", None),
    }
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = StoreError;
    fn try_from(row: AuditRow) -> Result<Self, Self::Error> {
        let actor = match (row.actor_kind.as_str(), row.actor_id) {
            ("user", Some(id)) => AuditActor::User(UserId(id)),
            ("api_key", Some(id)) => AuditActor::ApiKey(ApiKeyId(id)),
            ("system", None) => AuditActor::System,
            ("anonymous", None) => AuditActor::Anonymous,
            (kind, _) => {
                return Err(StoreError::Backend(format!(
                    "unreadable audit actor '{kind}'"
                )));
            }
        };
        let details = serde_json::from_str(&row.details)
            .map_err(|err| StoreError::Backend(format!("unreadable audit details: {err}")))?;
        Ok(AuditEntry {
            tenant_id: TenantId(row.tenant_id),
            id: AuditId(row.id),
            at: Millis(row.at),
            actor,
            action: row.action,
            target_type: row.target_type,
            target_id: row.target_id,
            ip: row.ip,
            request_id: row.request_id,
            details,
        })
    }
}

/// Maps a driver error, turning a unique violation into `Conflict(what)`.
pub fn conflict_as(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |err| match err.as_database_error() {
        Some(db) if db.is_unique_violation() => StoreError::Conflict(what),
        _ => backend(err),
    }
}

pub fn backend(err: sqlx::Error) -> StoreError {
    match err {
        sqlx::Error::PoolTimedOut => StoreError::Busy,
        err => StoreError::Backend(err.to_string()),
    }
}
