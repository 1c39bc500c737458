//! Managing the people of a tenant: list, invite, change role or name, deactivate.
//!
//! Hierarchy: a caller manages only users whose role (current and new) is below its
//! own, owners excepted; nobody changes their own role or status, so a tenant cannot
//! lock itself out by accident, and the store refuses to remove the last owner.

use super::auth::display_name;
use super::views::{InvitationView, Invited, Page, TeamMember, UserView};
use crate::audit::{self, Event};
use crate::auth::extract::{Authorized, Caller};
use crate::auth::opaque::{self, Kind};
use crate::auth::permission::{ManageUsers, ReadInbox, ReadUsers};
use crate::error::ApiError;
use crate::http::client::ClientInfo;
use crate::http::json::Json;
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;
use switchboard_actors::inbox::access::AccessChange;
use switchboard_actors::store::{Invitation, User, UserChange};
use switchboard_actors::{Email, Millis, Role, UserId, UserStatus};
use uuid::Uuid;

#[utoipa::path(
    get,
    path = "/api/v1/users",
    operation_id = "users.list",
    tag = "users",
    summary = "Users of the tenant",
    responses((status = 200, description = "the users", body = Page<UserView>))
)]
pub async fn list(
    state: web::Data<AppState>,
    auth: Authorized<ReadUsers>,
) -> Result<HttpResponse, ApiError> {
    let users = state.store.users(auth.caller.tenant_id()).await?;
    Ok(HttpResponse::Ok().json(Page::whole(users.iter().map(UserView::from).collect())))
}

/// Who is on the team, for everyone who works the inbox: names for assignees,
/// typing and presence. Active users only, and no emails (those stay with managers).
#[utoipa::path(
    get,
    path = "/api/v1/team",
    operation_id = "users.team",
    tag = "users",
    summary = "The active team, without emails",
    responses((status = 200, description = "the active members", body = Page<TeamMember>))
)]
pub async fn team(
    state: web::Data<AppState>,
    auth: Authorized<ReadInbox>,
) -> Result<HttpResponse, ApiError> {
    let users = state.store.users(auth.caller.tenant_id()).await?;
    let members = users
        .iter()
        .filter(|u| u.status == UserStatus::Active)
        .map(|u| TeamMember {
            id: u.id.to_string(),
            name: u.name.clone(),
            role: u.role.as_str(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page::whole(members)))
}

#[utoipa::path(
    get,
    path = "/api/v1/users/{id}",
    operation_id = "users.get",
    tag = "users",
    summary = "One user",
    params(("id" = Uuid, Path, description = "the user's id")),
    responses((status = 200, description = "the user", body = UserView))
)]
pub async fn get(
    state: web::Data<AppState>,
    auth: Authorized<ReadUsers>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let user = state
        .store
        .user(auth.caller.tenant_id(), UserId(*id))
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    Ok(HttpResponse::Ok().json(UserView::from(&user)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    email: Email,
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    role: Role,
}

#[utoipa::path(
    post,
    path = "/api/v1/users",
    operation_id = "users.invite",
    tag = "users",
    summary = "Invite a user",
    request_body = InviteRequest,
    responses((status = 201, description = "the invited user and the token to accept with, shown once", body = Invited))
)]
pub async fn invite(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ManageUsers>,
    body: Json<InviteRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    ensure_can_manage(&auth.caller, body.role)?;
    let tenant = auth.caller.tenant_id();
    let now = Millis::now();
    let user = User {
        tenant_id: tenant,
        id: UserId::new(),
        email: body.email,
        name: display_name(&body.name, "name")?,
        role: body.role,
        status: UserStatus::Invited,
        password_hash: None,
        created_at: now,
        updated_at: now,
    };
    let (token, token_hash) =
        opaque::generate(Kind::Invitation, tenant).map_err(ApiError::internal)?;
    let expires_at = now.plus(Duration::from_secs(state.config.auth.invite_ttl_secs));
    state
        .store
        .create_user(
            &user,
            Some(&Invitation {
                token_hash,
                expires_at,
            }),
        )
        .await?;
    let event = Event {
        tenant,
        actor: auth.caller.audit_actor(),
        action: "user.invite",
        target: Some(("user", user.id.to_string())),
        details: json!({ "email": user.email, "role": user.role.as_str() }),
    };
    audit::record(state.store.as_ref(), &client, event).await;
    Ok(HttpResponse::Created().json(Invited {
        user: UserView::from(&user),
        invitation: InvitationView {
            token,
            expires_at: expires_at.to_rfc3339(),
        },
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UserChange)]
pub struct UpdateRequest {
    #[schema(min_length = 1, max_length = 200)]
    name: Option<String>,
    role: Option<Role>,
    status: Option<UserStatus>,
}

#[utoipa::path(
    patch,
    path = "/api/v1/users/{id}",
    operation_id = "users.update",
    tag = "users",
    summary = "Change a user's name, role or status",
    params(("id" = Uuid, Path, description = "the user's id")),
    request_body = UpdateRequest,
    responses((status = 200, description = "the user as changed", body = UserView))
)]
pub async fn update(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ManageUsers>,
    id: web::Path<Uuid>,
    body: Json<UpdateRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let tenant = auth.caller.tenant_id();
    let target = state
        .store
        .user(tenant, UserId(*id))
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    let changes_access = body.role.is_some_and(|r| r != target.role)
        || body.status.is_some_and(|s| s != target.status);
    if let Caller::User(me) = &auth.caller
        && me.id == target.id
        && changes_access
    {
        return Err(ApiError::forbidden(
            "you cannot change your own role or status",
        ));
    }
    ensure_can_manage(&auth.caller, target.role)?;
    if let Some(role) = body.role {
        ensure_can_manage(&auth.caller, role)?;
    }
    match (body.status, target.status) {
        (Some(UserStatus::Invited), from) if from != UserStatus::Invited => {
            return Err(ApiError::invalid(
                "a user cannot be put back to invited; invite a new user instead",
            ));
        }
        (Some(UserStatus::Active), UserStatus::Invited) => {
            return Err(ApiError::invalid(
                "an invited user becomes active by accepting the invitation",
            ));
        }
        _ => {}
    }
    let change = UserChange {
        name: body
            .name
            .as_deref()
            .map(|n| display_name(n, "name"))
            .transpose()?,
        role: body.role,
        status: body.status,
    };
    let now = Millis::now();
    let updated = state
        .store
        .update_user(tenant, target.id, &change, now)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    // Open sockets follow at once, on every node: a new role is what they act with
    // from their next frame; a deactivated user's sign-ins and sockets end.
    if updated.status != target.status && updated.status == UserStatus::Deactivated {
        state
            .store
            .revoke_user_refresh_tokens(tenant, target.id, now)
            .await?;
        state
            .inbox
            .access_changed(tenant, target.id, AccessChange::Revoked)
            .await;
    } else if updated.role != target.role {
        state
            .inbox
            .access_changed(tenant, target.id, AccessChange::Role(updated.role))
            .await;
    }
    let event = Event {
        tenant,
        actor: auth.caller.audit_actor(),
        action: "user.update",
        target: Some(("user", target.id.to_string())),
        details: json!({
            "role": { "from": target.role.as_str(), "to": updated.role.as_str() },
            "status": { "from": target.status.as_str(), "to": updated.status.as_str() },
            "name_changed": target.name != updated.name,
        }),
    };
    audit::record(state.store.as_ref(), &client, event).await;
    Ok(HttpResponse::Ok().json(UserView::from(&updated)))
}

fn ensure_can_manage(caller: &Caller, role: Role) -> Result<(), ApiError> {
    if caller.rank().can_manage(role) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "a {} cannot manage users with the {} role",
            caller.rank().as_str(),
            role.as_str()
        )))
    }
}
