//! Registration, sign-in, token refresh, sign-out, invitations and `me`.

use super::views::{Me, Registered, Session, TenantView, UserView};
use crate::audit::{self, Event};
use crate::auth::extract::{Authorized, Caller};
use crate::auth::opaque::{self, Kind};
use crate::auth::password;
use crate::auth::permission::Member;
use crate::auth::throttle::SignInThrottle;
use crate::error::{ApiError, ErrorCode};
use crate::http::client::ClientInfo;
use crate::http::json::Json;
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use std::time::{Duration, Instant};
use switchboard_actors::inbox::access::AccessChange;
use switchboard_actors::store::{
    AuditActor, NextRefreshToken, RefreshRotation, RefreshToken, Tenant, User,
};
use switchboard_actors::{
    Email, Millis, RefreshFamilyId, RefreshTokenId, Role, TenantId, UserId, UserStatus,
};

pub(super) const MAX_NAME_CHARS: usize = 200;
const SLUG_CHARS: std::ops::RangeInclusive<usize> = 2..=63;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    #[schema(min_length = 1, max_length = 200)]
    tenant_name: String,
    /// Defaults to one derived from the tenant name.
    #[schema(
        min_length = 2,
        max_length = 63,
        pattern = "^[a-z0-9][a-z0-9-]*[a-z0-9]$"
    )]
    tenant_slug: Option<String>,
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    email: Email,
    #[schema(min_length = 10, max_length = 256)]
    password: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/auth/register",
    operation_id = "auth.register",
    tag = "auth",
    summary = "Create a tenant and its owner",
    security(()),
    request_body = RegisterRequest,
    responses((status = 201, description = "the new tenant and a session for its owner", body = Registered))
)]
pub async fn register(
    state: web::Data<AppState>,
    client: ClientInfo,
    body: Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    if !state.config.auth.registration_open {
        return Err(ApiError::new(
            ErrorCode::RegistrationClosed,
            "this server does not accept new tenants",
        ));
    }
    let body = body.into_inner();
    let tenant_name = display_name(&body.tenant_name, "tenant_name")?;
    let slug = match &body.tenant_slug {
        Some(slug) => parse_slug(slug)?,
        None => parse_slug(&slugify(&tenant_name)).map_err(|_| {
            ApiError::invalid(
                "cannot derive a slug from tenant_name; send tenant_slug (a-z, 0-9, -)",
            )
        })?,
    };
    let context = vec![
        body.email.as_str().to_owned(),
        body.name.clone(),
        tenant_name.clone(),
        slug.clone(),
    ];
    let password_hash = password::hash(body.password, context).await?;
    let now = Millis::now();
    let tenant = Tenant {
        id: TenantId::new(),
        slug,
        name: tenant_name,
        created_at: now,
    };
    let owner = User {
        tenant_id: tenant.id,
        id: UserId::new(),
        email: body.email,
        name: display_name(&body.name, "name")?,
        role: Role::Owner,
        status: UserStatus::Active,
        password_hash: Some(password_hash),
        created_at: now,
        updated_at: now,
    };
    state.store.create_tenant(&tenant, &owner).await?;
    let event = Event {
        tenant: tenant.id,
        actor: AuditActor::User(owner.id),
        action: "tenant.register",
        target: Some(("tenant", tenant.id.to_string())),
        details: json!({ "slug": tenant.slug }),
    };
    audit::record(state.store.as_ref(), &client, event).await;
    let (_, session) = start_session(&state, &owner, now).await?;
    Ok(HttpResponse::Created().json(Registered {
        tenant: TenantView::from(&tenant),
        session,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The tenant's slug.
    tenant: String,
    email: String,
    password: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    operation_id = "auth.login",
    tag = "auth",
    summary = "Sign in",
    security(()),
    request_body = LoginRequest,
    responses((status = 200, description = "a session", body = Session))
)]
pub async fn login(
    state: web::Data<AppState>,
    client: ClientInfo,
    body: Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let refused = || {
        ApiError::new(
            ErrorCode::InvalidCredentials,
            "tenant, email or password is wrong",
        )
    };
    let throttle = SignInThrottle::key(&body.tenant, &body.email);
    check_throttle(&state, &throttle)?;
    let tenant = state.store.tenant_by_slug(&body.tenant).await?;
    let user = match (&tenant, Email::parse(&body.email)) {
        (Some(tenant), Ok(email)) => state.store.user_by_email(tenant.id, &email).await?,
        _ => None,
    };
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    let matches = password::verify(body.password, stored, state.password_decoy.clone()).await?;
    let signed_in = match user {
        Some(user) if matches && user.status == UserStatus::Active => user,
        other => {
            state.sign_in_throttle.failed(&throttle, Instant::now());
            if let Some(tenant) = tenant {
                let event = Event {
                    tenant: tenant.id,
                    actor: AuditActor::Anonymous,
                    action: "user.login_failed",
                    target: other.map(|u| ("user", u.id.to_string())),
                    details: json!({ "email": body.email }),
                };
                audit::record(state.store.as_ref(), &client, event).await;
            }
            return Err(refused());
        }
    };
    state.sign_in_throttle.succeeded(&throttle);
    let event = Event {
        tenant: signed_in.tenant_id,
        actor: AuditActor::User(signed_in.id),
        action: "user.login",
        target: None,
        details: json!({}),
    };
    audit::record(state.store.as_ref(), &client, event).await;
    let (_, session) = start_session(&state, &signed_in, Millis::now()).await?;
    Ok(HttpResponse::Ok().json(session))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    refresh_token: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/auth/refresh",
    operation_id = "auth.refresh",
    tag = "auth",
    summary = "Rotate a refresh token",
    security(()),
    request_body = RefreshRequest,
    responses((status = 200, description = "a session with a new refresh token", body = Session))
)]
pub async fn refresh(
    state: web::Data<AppState>,
    client: ClientInfo,
    body: Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let invalid = || {
        ApiError::new(
            ErrorCode::InvalidToken,
            "the refresh token is invalid, expired or revoked",
        )
    };
    let (tenant, presented) =
        opaque::parse(Kind::Refresh, &body.refresh_token).ok_or_else(invalid)?;
    let (token, hash) = opaque::generate(Kind::Refresh, tenant).map_err(ApiError::internal)?;
    let now = Millis::now();
    let next = NextRefreshToken {
        id: RefreshTokenId::new(),
        hash,
        expires_at: now.plus(refresh_ttl(&state)),
    };
    match state
        .store
        .rotate_refresh_token(tenant, &presented, &next, now)
        .await?
    {
        RefreshRotation::Rotated { user_id, family_id } => {
            let user = state
                .store
                .user(tenant, user_id)
                .await?
                .filter(|u| u.status == UserStatus::Active);
            let Some(user) = user else {
                state
                    .store
                    .revoke_user_refresh_tokens(tenant, user_id, now)
                    .await?;
                return Err(invalid());
            };
            Ok(HttpResponse::Ok().json(session(&state, &user, token, family_id, now)?))
        }
        RefreshRotation::Reused { user_id, family_id } => {
            let event = Event {
                tenant,
                actor: AuditActor::Anonymous,
                action: "session.refresh_reuse_detected",
                target: Some(("user", user_id.to_string())),
                details: json!({ "family_id": family_id.to_string() }),
            };
            audit::record(state.store.as_ref(), &client, event).await;
            state
                .inbox
                .access_changed(tenant, user_id, AccessChange::SignedOut(vec![family_id]))
                .await;
            Err(ApiError::new(
                ErrorCode::InvalidToken,
                "this refresh token was already used; every session descended from that sign-in is now revoked",
            ))
        }
        RefreshRotation::Invalid => Err(invalid()),
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    operation_id = "auth.logout",
    tag = "auth",
    summary = "Sign out: revoke the refresh token's family",
    request_body = RefreshRequest,
    responses((status = 204, description = "signed out"))
)]
pub async fn logout(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<Member>,
    body: Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.caller.tenant_id();
    // Signing out twice, or with a token already gone, is still signed out.
    if let Some((token_tenant, presented)) = opaque::parse(Kind::Refresh, &body.refresh_token)
        && token_tenant == tenant
        && let Some(family) = state
            .store
            .revoke_refresh_family_of(tenant, &presented, Millis::now())
            .await?
    {
        // The sign-in's access tokens stop now, and so do its open sockets.
        if let Caller::User(user) = &auth.caller {
            state
                .inbox
                .access_changed(tenant, user.id, AccessChange::SignedOut(vec![family]))
                .await;
        }
        let event = Event {
            tenant,
            actor: auth.caller.audit_actor(),
            action: "user.logout",
            target: None,
            details: json!({}),
        };
        audit::record(state.store.as_ref(), &client, event).await;
    }
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    get,
    path = "/api/v1/auth/me",
    operation_id = "auth.me",
    tag = "auth",
    summary = "The signed-in user and tenant",
    responses((status = 200, description = "the user and tenant", body = Me))
)]
pub async fn me(
    state: web::Data<AppState>,
    auth: Authorized<Member>,
) -> Result<HttpResponse, ApiError> {
    let Caller::User(user) = &auth.caller else {
        return Err(ApiError::forbidden("an API key has no user profile"));
    };
    let tenant = state
        .store
        .tenant(user.tenant_id)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    Ok(HttpResponse::Ok().json(Me {
        user: UserView::from(user),
        tenant: TenantView::from(&tenant),
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInviteRequest {
    token: String,
    #[schema(min_length = 10, max_length = 256)]
    password: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/auth/accept-invite",
    operation_id = "auth.accept_invite",
    tag = "auth",
    summary = "Accept an invitation",
    security(()),
    request_body = AcceptInviteRequest,
    responses((status = 200, description = "a session for the invited user", body = Session))
)]
pub async fn accept_invite(
    state: web::Data<AppState>,
    client: ClientInfo,
    body: Json<AcceptInviteRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let invalid = || {
        ApiError::new(
            ErrorCode::InvalidToken,
            "the invitation is invalid, used or expired",
        )
    };
    let (tenant, token) = opaque::parse(Kind::Invitation, &body.token).ok_or_else(invalid)?;
    // The invitee is not known until the token is spent, so no personal context here.
    let hash = password::hash(body.password, Vec::new()).await?;
    let now = Millis::now();
    let user = state
        .store
        .accept_invitation(tenant, &token, &hash, now)
        .await?
        .ok_or_else(invalid)?;
    let event = Event {
        tenant,
        actor: AuditActor::User(user.id),
        action: "user.invitation_accepted",
        target: Some(("user", user.id.to_string())),
        details: json!({}),
    };
    audit::record(state.store.as_ref(), &client, event).await;
    let (_, session) = start_session(&state, &user, now).await?;
    Ok(HttpResponse::Ok().json(session))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    current_password: String,
    #[schema(min_length = 10, max_length = 256)]
    new_password: String,
}

/// Changes the caller's password and signs out every other session of theirs; the
/// response is a fresh session for the device that made the change.
#[utoipa::path(
    post,
    path = "/api/v1/auth/password",
    operation_id = "auth.change_password",
    tag = "auth",
    summary = "Change password",
    request_body = ChangePasswordRequest,
    responses((status = 200, description = "a fresh session; other sessions are signed out", body = Session))
)]
pub async fn change_password(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<Member>,
    body: Json<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let Caller::User(user) = &auth.caller else {
        return Err(ApiError::forbidden("an API key has no password"));
    };
    let body = body.into_inner();
    // A stolen access token must not become a way to guess the password.
    let throttle = SignInThrottle::key(&user.tenant_id.to_string(), user.email.as_str());
    check_throttle(&state, &throttle)?;
    let current_ok = password::verify(
        body.current_password,
        user.password_hash.clone(),
        state.password_decoy.clone(),
    )
    .await?;
    if !current_ok {
        state.sign_in_throttle.failed(&throttle, Instant::now());
        return Err(ApiError::new(
            ErrorCode::InvalidCredentials,
            "the current password is wrong",
        ));
    }
    state.sign_in_throttle.succeeded(&throttle);
    let hash = password::hash(
        body.new_password,
        vec![user.email.as_str().to_owned(), user.name.clone()],
    )
    .await?;
    let now = Millis::now();
    if !state
        .store
        .set_password(user.tenant_id, user.id, &hash, now)
        .await?
    {
        return Err(ApiError::not_found("user"));
    }
    state
        .store
        .revoke_user_refresh_tokens(user.tenant_id, user.id, now)
        .await?;
    let event = Event {
        tenant: user.tenant_id,
        actor: AuditActor::User(user.id),
        action: "user.password_change",
        target: Some(("user", user.id.to_string())),
        details: json!({}),
    };
    audit::record(state.store.as_ref(), &client, event).await;
    let (kept, session) = start_session(&state, user, now).await?;
    // Every other sign-in ends: its access tokens at their next request, its open
    // sockets now.
    state
        .inbox
        .access_changed(user.tenant_id, user.id, AccessChange::SignedOutExcept(kept))
        .await;
    Ok(HttpResponse::Ok().json(session))
}

/// 429 while the account must wait after failed attempts (see `SignInThrottle`).
fn check_throttle(state: &AppState, key: &str) -> Result<(), ApiError> {
    state
        .sign_in_throttle
        .check(key, Instant::now())
        .map_err(|wait| {
            let mut err =
                ApiError::rate_limited(wait.as_secs() + u64::from(wait.subsec_nanos() > 0));
            err.message =
                "too many failed sign-ins for this account; wait before trying again".into();
            err
        })
}

fn refresh_ttl(state: &AppState) -> Duration {
    Duration::from_secs(state.config.auth.refresh_token_ttl_secs)
}

/// A new sign-in: a fresh refresh-token family (returned) and an access token.
async fn start_session(
    state: &AppState,
    user: &User,
    now: Millis,
) -> Result<(RefreshFamilyId, Session), ApiError> {
    let (token, hash) =
        opaque::generate(Kind::Refresh, user.tenant_id).map_err(ApiError::internal)?;
    let record = RefreshToken {
        tenant_id: user.tenant_id,
        id: RefreshTokenId::new(),
        user_id: user.id,
        family_id: RefreshFamilyId::new(),
        created_at: now,
        expires_at: now.plus(refresh_ttl(state)),
    };
    state.store.insert_refresh_token(&record, &hash).await?;
    Ok((
        record.family_id,
        session(state, user, token, record.family_id, now)?,
    ))
}

fn session(
    state: &AppState,
    user: &User,
    refresh_token: String,
    sign_in: RefreshFamilyId,
    now: Millis,
) -> Result<Session, ApiError> {
    Ok(Session {
        access_token: state
            .tokens
            .issue(user.tenant_id, user.id, sign_in, now)
            .map_err(ApiError::internal)?,
        token_type: "Bearer",
        expires_in: state.tokens.ttl.as_secs(),
        refresh_token,
        user: UserView::from(user),
    })
}

/// A trimmed, non-empty name of bounded length.
pub fn display_name(raw: &str, field: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::invalid(format!(
            "{field} must have 1 to {MAX_NAME_CHARS} characters"
        )));
    }
    Ok(name.to_owned())
}

fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_matches('-')
        .chars()
        .take(*SLUG_CHARS.end())
        .collect::<String>()
        .trim_end_matches('-')
        .to_owned()
}

fn parse_slug(raw: &str) -> Result<String, ApiError> {
    let ok = SLUG_CHARS.contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !raw.starts_with('-')
        && !raw.ends_with('-');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(ApiError::invalid(format!(
            "tenant_slug must be {}-{} characters of a-z, 0-9 and inner -",
            SLUG_CHARS.start(),
            SLUG_CHARS.end()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_derived_from_names() {
        assert_eq!(slugify("Acme Widgets, Inc."), "acme-widgets-inc");
        assert_eq!(slugify("  Ünïcode  Shop "), "n-code-shop");
        assert!(parse_slug(&slugify("!!!")).is_err());
    }

    #[test]
    fn slugs_outside_the_alphabet_are_refused() {
        for bad in ["A", "ab_c", "-ab", "ab-", "a", &"a".repeat(64)] {
            assert!(parse_slug(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_slug("acme-1").ok().as_deref(), Some("acme-1"));
    }
}
