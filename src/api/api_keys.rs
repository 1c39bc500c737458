//! API keys for integrations: created with scopes, shown once, revocable.

use super::auth::display_name;
use super::views::{ApiKeyView, NewApiKey, Page};
use crate::audit::{self, Event};
use crate::auth::extract::{Authorized, Caller};
use crate::auth::opaque::{self, Kind};
use crate::auth::permission::ManageApiKeys;
use crate::error::ApiError;
use crate::http::client::ClientInfo;
use crate::http::json::Json;
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;
use switchboard_actors::store::ApiKey;
use switchboard_actors::{ApiKeyId, Millis, Scope};
use uuid::Uuid;

/// How many trailing characters of a key its listing shows.
const HINT_CHARS: usize = 6;
pub(super) const MAX_EXPIRY_DAYS: u32 = 3650;

#[utoipa::path(
    get,
    path = "/api/v1/api-keys",
    operation_id = "api-keys.list",
    tag = "api-keys",
    summary = "API keys",
    responses((status = 200, description = "the keys, never their secrets", body = Page<ApiKeyView>))
)]
pub async fn list(
    state: web::Data<AppState>,
    auth: Authorized<ManageApiKeys>,
) -> Result<HttpResponse, ApiError> {
    let keys = state.store.api_keys(auth.caller.tenant_id()).await?;
    Ok(HttpResponse::Ok().json(Page::whole(keys.iter().map(ApiKeyView::from).collect())))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ApiKeyRequest)]
pub struct CreateRequest {
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    scopes: Vec<Scope>,
    /// Absent: the key does not expire.
    #[schema(minimum = 1, maximum = 3650)]
    expires_in_days: Option<u32>,
}

#[utoipa::path(
    post,
    path = "/api/v1/api-keys",
    operation_id = "api-keys.create",
    tag = "api-keys",
    summary = "Create an API key",
    request_body = CreateRequest,
    responses((status = 201, description = "the key, and its secret shown once", body = NewApiKey))
)]
pub async fn create(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ManageApiKeys>,
    body: Json<CreateRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    // ManageApiKeys admits no API key, so the caller is a user.
    let Caller::User(creator) = &auth.caller else {
        return Err(ApiError::forbidden("API keys cannot create API keys"));
    };
    if body.scopes.is_empty() {
        return Err(ApiError::invalid("an API key needs at least one scope"));
    }
    let expires_at = match body.expires_in_days {
        Some(days) if days == 0 || days > MAX_EXPIRY_DAYS => {
            return Err(ApiError::invalid(format!(
                "expires_in_days must be 1 to {MAX_EXPIRY_DAYS}"
            )));
        }
        Some(days) => Some(Millis::now().plus(Duration::from_secs(u64::from(days) * 86_400))),
        None => None,
    };
    let mut scopes = body.scopes;
    scopes.sort();
    scopes.dedup();
    let (secret, hash) =
        opaque::generate(Kind::ApiKey, creator.tenant_id).map_err(ApiError::internal)?;
    let key = ApiKey {
        tenant_id: creator.tenant_id,
        id: ApiKeyId::new(),
        name: display_name(&body.name, "name")?,
        hint: secret
            .chars()
            .rev()
            .take(HINT_CHARS)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect(),
        scopes,
        created_by: creator.id,
        created_at: Millis::now(),
        expires_at,
        revoked_at: None,
    };
    state.store.create_api_key(&key, &hash).await?;
    let event = Event {
        tenant: key.tenant_id,
        actor: auth.caller.audit_actor(),
        action: "api_key.create",
        target: Some(("api_key", key.id.to_string())),
        details: json!({ "name": key.name, "scopes": Scope::join(&key.scopes) }),
    };
    audit::record(state.store.as_ref(), &client, event).await;
    Ok(HttpResponse::Created().json(NewApiKey {
        api_key: ApiKeyView::from(&key),
        key: secret,
    }))
}

#[utoipa::path(
    delete,
    path = "/api/v1/api-keys/{id}",
    operation_id = "api-keys.revoke",
    tag = "api-keys",
    summary = "Revoke an API key",
    params(("id" = Uuid, Path, description = "the key's id")),
    responses((status = 204, description = "revoked"))
)]
pub async fn revoke(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ManageApiKeys>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.caller.tenant_id();
    if !state
        .store
        .revoke_api_key(tenant, ApiKeyId(*id), Millis::now())
        .await?
    {
        return Err(ApiError::not_found("api key"));
    }
    let event = Event {
        tenant,
        actor: auth.caller.audit_actor(),
        action: "api_key.revoke",
        target: Some(("api_key", id.to_string())),
        details: json!({}),
    };
    audit::record(state.store.as_ref(), &client, event).await;
    Ok(HttpResponse::NoContent().finish())
}
