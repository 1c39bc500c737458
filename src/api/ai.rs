//! A tenant's AI settings (admins, audited): its language-model providers in the
//! order they are tried, and whether the pipeline asks them about the messages its
//! rules are unsure of. Keys are sealed at rest and never shown again.

use crate::ai::settings::AiSettings;
use crate::audit::{self, Event};
use crate::auth::extract::Authorized;
use crate::auth::permission::ManageSettings;
use crate::error::ApiError;
use crate::http::client::ClientInfo;
use crate::http::json::Json;
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use switchboard_actors::{Millis, TenantId};

async fn saved(state: &AppState, tenant: TenantId) -> Result<Option<AiSettings>, ApiError> {
    let Some(sealed) = state.store.ai_settings(tenant).await? else {
        return Ok(None);
    };
    AiSettings::open(state.gateway.sealer(), tenant, &sealed)
        .map(Some)
        .map_err(|err| ApiError::internal(format!("cannot open the AI settings: {err}")))
}

/// The settings without their keys; the defaults (no provider) where none are saved.
pub async fn settings(
    state: web::Data<AppState>,
    auth: Authorized<ManageSettings>,
) -> Result<HttpResponse, ApiError> {
    let settings = saved(&state, auth.caller.tenant_id())
        .await?
        .unwrap_or_default();
    Ok(HttpResponse::Ok().json(settings.view()))
}

/// Replaces the settings as a whole; a provider sent without `api_key` keeps the key
/// saved under its name. They apply from the pipeline's next batch.
pub async fn save_settings(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ManageSettings>,
    body: Json<AiSettings>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.caller.tenant_id();
    // A saved document that no longer opens (a changed server key) lends no keys.
    let before = saved(&state, tenant).await.ok().flatten();
    let settings = body.into_inner().completed(before.as_ref())?;
    let sealed = settings
        .seal(state.gateway.sealer(), tenant)
        .map_err(|err| ApiError::internal(format!("cannot seal the AI settings: {err}")))?;
    state
        .store
        .save_ai_settings(tenant, &sealed, Millis::now())
        .await?;
    let view = settings.view();
    let event = Event {
        tenant,
        actor: auth.caller.audit_actor(),
        action: "ai.settings",
        target: None,
        details: view.clone(),
    };
    audit::record(state.store.as_ref(), &client, event).await;
    Ok(HttpResponse::Ok().json(view))
}
