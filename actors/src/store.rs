//! The storage port. Two adapters implement it (SQLite, the embedded default, and
//! Postgres); one conformance suite in the server crate runs against both.
//!
//! Every method that touches tenant data takes the `TenantId` first and every query
//! behind it filters on it: no method can read across tenants.

use crate::automation::AutomationStore;
use crate::broadcasts::BroadcastStore;
use crate::channel::store::ChannelStore;
use crate::contacts::ContactsStore;
use crate::domain::{Email, Role, Scope, UserStatus};
use crate::inbox::store::InboxStore;
use crate::jobs::JobStore;
use crate::knowledge::KnowledgeStore;
use crate::pipeline::store::PipelineStore;
use crate::quick_replies::QuickReplyStore;
use crate::reply::store::ReplyStore;
use crate::session::store::SessionStore;
use crate::webhooks::WebhookStore;
use crate::{ApiKeyId, AuditId, Millis, RefreshFamilyId, RefreshTokenId, TenantId, UserId};
use async_trait::async_trait;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was hit; the text names what already exists.
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The change would leave the tenant without an active owner.
    #[error("a tenant must keep at least one active owner")]
    LastOwner,
    /// Every connection stayed busy for the pool's wait: the database is overloaded,
    /// and the caller may try again shortly.
    #[error("no database connection became free in time")]
    Busy,
    /// The database failed or holds a value the domain cannot read. The text is for
    /// logs only, never for clients.
    #[error("store failure: {0}")]
    Backend(String),
}

/// SHA-256 of a bearer secret (refresh token, API key, invitation). Only this is
/// stored, so a leaked database does not leak usable credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    pub slug: String,
    pub name: String,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub tenant_id: TenantId,
    pub id: UserId,
    pub email: Email,
    pub name: String,
    pub role: Role,
    pub status: UserStatus,
    /// PHC string; `None` until an invited user sets a password.
    pub password_hash: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A pending invitation: the hash of the one-time token sent to the invitee.
#[derive(Debug, Clone, Copy)]
pub struct Invitation {
    pub token_hash: TokenHash,
    pub expires_at: Millis,
}

/// The fields an admin may change on a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub status: Option<UserStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub tenant_id: TenantId,
    pub id: ApiKeyId,
    pub name: String,
    /// The last characters of the key, so people can tell keys apart in a list.
    pub hint: String,
    pub scopes: Vec<Scope>,
    pub created_by: UserId,
    pub created_at: Millis,
    pub expires_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub tenant_id: TenantId,
    pub id: RefreshTokenId,
    pub user_id: UserId,
    pub family_id: RefreshFamilyId,
    pub created_at: Millis,
    pub expires_at: Millis,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshRotation {
    /// The token was live: it is now spent and its successor is stored.
    Rotated {
        user_id: UserId,
        family_id: RefreshFamilyId,
    },
    /// The token had already been spent: somebody replayed it, so the whole family
    /// (including the successor in the legitimate client's hands) is now revoked.
    Reused {
        user_id: UserId,
        family_id: RefreshFamilyId,
    },
    /// Unknown, expired or revoked.
    Invalid,
}

/// The successor a rotation stores when the presented token is live.
#[derive(Debug, Clone, Copy)]
pub struct NextRefreshToken {
    pub id: RefreshTokenId,
    pub hash: TokenHash,
    pub expires_at: Millis,
}

/// Who did an audited action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditActor {
    User(UserId),
    ApiKey(ApiKeyId),
    /// The server itself (bootstrap, background jobs).
    System,
    /// Someone not signed in, such as a failed login.
    Anonymous,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub tenant_id: TenantId,
    pub id: AuditId,
    pub at: Millis,
    pub actor: AuditActor,
    /// Dotted verb such as `user.login` or `api_key.create`.
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub details: serde_json::Value,
}

/// Connection pool figures for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub size: u32,
    pub idle: u32,
}

/// Everything the server stores; the inbox part is [`InboxStore`], the channel part
/// [`ChannelStore`], WhatsApp Web sessions [`SessionStore`], the inbound pipeline
/// [`PipelineStore`], the knowledge base [`KnowledgeStore`], AI replies [`ReplyStore`].
#[async_trait]
pub trait Store:
    InboxStore
    + ChannelStore
    + SessionStore
    + PipelineStore
    + KnowledgeStore
    + ReplyStore
    + JobStore
    + AutomationStore
    + WebhookStore
    + ContactsStore
    + QuickReplyStore
    + BroadcastStore
    + Send
    + Sync
    + 'static
{
    /// `sqlite` or `postgres`, for logs and metrics.
    fn backend(&self) -> &'static str;

    fn pool_stats(&self) -> PoolStats;

    /// A round trip to the database, for readiness.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Creates a tenant and its owner in one transaction.
    async fn create_tenant(&self, tenant: &Tenant, owner: &User) -> Result<(), StoreError>;

    /// Like `create_tenant`, but only while the database holds no tenant at all.
    /// Returns whether it created them, so that of several nodes starting at once on
    /// an empty database exactly one creates the first owner.
    async fn create_first_tenant(&self, tenant: &Tenant, owner: &User) -> Result<bool, StoreError>;

    async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>, StoreError>;

    /// Slugs are the one lookup that is not scoped by tenant: they are how a sign-in
    /// names its tenant.
    async fn tenant_by_slug(&self, slug: &str) -> Result<Option<Tenant>, StoreError>;

    async fn user(&self, tenant: TenantId, id: UserId) -> Result<Option<User>, StoreError>;

    /// The user, and whether their sign-in `family` still holds: some refresh token
    /// of it is unrevoked (sign-out, a password change, deactivation and a reused
    /// refresh token revoke the family).
    async fn user_with_sign_in(
        &self,
        tenant: TenantId,
        id: UserId,
        family: RefreshFamilyId,
    ) -> Result<Option<(User, bool)>, StoreError>;

    async fn user_by_email(
        &self,
        tenant: TenantId,
        email: &Email,
    ) -> Result<Option<User>, StoreError>;

    /// All users of a tenant, oldest first.
    async fn users(&self, tenant: TenantId) -> Result<Vec<User>, StoreError>;

    async fn create_user(
        &self,
        user: &User,
        invitation: Option<&Invitation>,
    ) -> Result<(), StoreError>;

    /// Applies `change`; `Ok(None)` when the user does not exist in this tenant.
    /// Refuses with `LastOwner` a change that leaves no active owner.
    async fn update_user(
        &self,
        tenant: TenantId,
        id: UserId,
        change: &UserChange,
        at: Millis,
    ) -> Result<Option<User>, StoreError>;

    /// Activates the invited user whose live invitation has this hash, setting the
    /// password. `Ok(None)` for an unknown, used or expired invitation.
    async fn accept_invitation(
        &self,
        tenant: TenantId,
        token: &TokenHash,
        password_hash: &str,
        now: Millis,
    ) -> Result<Option<User>, StoreError>;

    /// Replaces the password of an active user. Returns whether the user exists.
    async fn set_password(
        &self,
        tenant: TenantId,
        user: UserId,
        password_hash: &str,
        at: Millis,
    ) -> Result<bool, StoreError>;

    async fn insert_refresh_token(
        &self,
        token: &RefreshToken,
        hash: &TokenHash,
    ) -> Result<(), StoreError>;

    /// Spends the presented refresh token and stores its successor, atomically; a
    /// replay of a spent token revokes its family in the same transaction.
    async fn rotate_refresh_token(
        &self,
        tenant: TenantId,
        presented: &TokenHash,
        next: &NextRefreshToken,
        now: Millis,
    ) -> Result<RefreshRotation, StoreError>;

    /// Revokes the family of the presented token (logout). Returns the family when a
    /// live token was found.
    async fn revoke_refresh_family_of(
        &self,
        tenant: TenantId,
        presented: &TokenHash,
        now: Millis,
    ) -> Result<Option<RefreshFamilyId>, StoreError>;

    /// Revokes every refresh token of a user (deactivation, role change).
    async fn revoke_user_refresh_tokens(
        &self,
        tenant: TenantId,
        user: UserId,
        now: Millis,
    ) -> Result<(), StoreError>;

    async fn create_api_key(&self, key: &ApiKey, hash: &TokenHash) -> Result<(), StoreError>;

    async fn api_key_by_hash(
        &self,
        tenant: TenantId,
        hash: &TokenHash,
    ) -> Result<Option<ApiKey>, StoreError>;

    /// All keys of a tenant, newest first, revoked ones included.
    async fn api_keys(&self, tenant: TenantId) -> Result<Vec<ApiKey>, StoreError>;

    /// Returns whether a live key was revoked.
    async fn revoke_api_key(
        &self,
        tenant: TenantId,
        id: ApiKeyId,
        now: Millis,
    ) -> Result<bool, StoreError>;

    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;

    /// Newest first; `before` continues a previous page.
    async fn audit_log(
        &self,
        tenant: TenantId,
        before: Option<AuditId>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError>;
}
