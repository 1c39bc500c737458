//! A tenant's AI settings (admins, audited): its language-model providers in the
//! order they are tried, and whether the pipeline asks them about the messages its
//! rules are unsure of. Keys are sealed at rest and never shown again. Its reply
//! settings (modes per channel, voice, rules, fallback). And what the providers'
//! answers used, by month.

use crate::ai::BudgetLimit;
use crate::ai::settings::AiSettings;
use crate::audit::{self, Event};
use crate::auth::extract::Authorized;
use crate::auth::permission::ManageSettings;
use crate::error::ApiError;
use crate::http::client::ClientInfo;
use crate::http::json::{Json, Query};
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use switchboard_actors::llm::ModelUsage;
use switchboard_actors::reply::settings::ReplySettings;
use switchboard_actors::{Millis, TenantId};

async fn saved(state: &AppState, tenant: TenantId) -> Result<Option<AiSettings>, ApiError> {
    let Some(sealed) = state.store.ai_settings(tenant).await? else {
        return Ok(None);
    };
    AiSettings::open(state.channels.sealer(), tenant, &sealed)
        .map(Some)
        .map_err(|err| ApiError::internal(format!("cannot open the AI settings: {err}")))
}

/// The settings without their keys; the defaults (no provider) where none are saved.
#[utoipa::path(
    get,
    path = "/api/v1/settings/ai",
    operation_id = "settings.ai",
    tag = "settings",
    summary = "Language-model providers",
    responses((status = 200, description = "the providers, keys never shown", body = Object))
)]
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
#[utoipa::path(
    put,
    path = "/api/v1/settings/ai",
    operation_id = "settings.save_ai",
    tag = "settings",
    summary = "Replace language-model providers",
    request_body = AiSettings,
    responses((status = 200, description = "the settings as saved", body = Object))
)]
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
        .seal(state.channels.sealer(), tenant)
        .map_err(|err| ApiError::internal(format!("cannot seal the AI settings: {err}")))?;
    state
        .store
        .save_ai_settings(
            tenant,
            &sealed,
            settings.embedding_model().as_deref(),
            Millis::now(),
        )
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

/// The reply settings; the defaults (replies off) where none are saved.
#[utoipa::path(
    get,
    path = "/api/v1/settings/replies",
    operation_id = "settings.replies",
    tag = "settings",
    summary = "AI reply settings",
    responses((status = 200, description = "modes, voice, rules, fallback, link hosts, cache", body = Object))
)]
pub async fn reply_settings(
    state: web::Data<AppState>,
    auth: Authorized<ManageSettings>,
) -> Result<HttpResponse, ApiError> {
    let settings = state
        .store
        .reply_settings(auth.caller.tenant_id())
        .await?
        .unwrap_or_default();
    Ok(HttpResponse::Ok().json(settings))
}

/// Replaces the reply settings as a whole; replies switched on answer the messages
/// that come from now on.
#[utoipa::path(
    put,
    path = "/api/v1/settings/replies",
    operation_id = "settings.save_replies",
    tag = "settings",
    summary = "Replace AI reply settings",
    request_body = ReplySettings,
    responses((status = 200, description = "the settings as saved", body = Object))
)]
pub async fn save_reply_settings(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ManageSettings>,
    body: Json<ReplySettings>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.caller.tenant_id();
    let settings = body
        .into_inner()
        .validated()
        .map_err(|err| ApiError::invalid(err.0))?;
    state
        .store
        .save_reply_settings(tenant, &settings, Millis::now())
        .await?;
    let view = serde_json::to_value(&settings)
        .map_err(|err| ApiError::internal(format!("cannot show the reply settings: {err}")))?;
    let event = Event {
        tenant,
        actor: auth.caller.audit_actor(),
        action: "ai.replies",
        target: None,
        details: view.clone(),
    };
    audit::record(state.store.as_ref(), &client, event).await;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// `YYYY-MM` (UTC); the current month when left out.
    month: Option<String>,
}

/// Calls answered and tokens used in a month, by provider and model, with the total.
#[utoipa::path(
    get,
    path = "/api/v1/ai/usage",
    operation_id = "ai.usage",
    tag = "settings",
    summary = "Language-model use this month",
    params(UsageQuery),
    responses((status = 200, description = "tokens and calls, and the monthly limit", body = Object))
)]
pub async fn usage(
    state: web::Data<AppState>,
    auth: Authorized<ManageSettings>,
    query: Query<UsageQuery>,
) -> Result<HttpResponse, ApiError> {
    let month = match query.into_inner().month {
        Some(month) if is_month(&month) => month,
        Some(_) => return Err(ApiError::invalid("month must be YYYY-MM")),
        None => Millis::now().month(),
    };
    let rows = state
        .store
        .ai_usage(auth.caller.tenant_id(), &month)
        .await?;
    let sum = |field: fn(&ModelUsage) -> u64| rows.iter().map(field).sum::<u64>();
    let used = sum(|r| r.input_tokens) + sum(|r| r.output_tokens);
    let settings = saved(&state, auth.caller.tenant_id())
        .await?
        .unwrap_or_default();
    let budget = match BudgetLimit::of(&settings.budget, state.config.ai.max_monthly_tokens) {
        Some(limit) => json!({
            "monthly_tokens": limit.tokens,
            "warn_at": limit.warn_at,
            "used": used,
            "state": limit.state(used),
        }),
        None => serde_json::Value::Null,
    };
    Ok(HttpResponse::Ok().json(json!({
        "month": month,
        "total": {
            "requests": sum(|r| r.requests),
            "input_tokens": sum(|r| r.input_tokens),
            "output_tokens": sum(|r| r.output_tokens),
        },
        "by_model": rows,
        "budget": budget,
    })))
}

fn is_month(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 7
        && bytes[4] == b'-'
        && bytes[..4].iter().chain(&bytes[5..]).all(u8::is_ascii_digit)
        && matches!(text[5..].parse::<u8>(), Ok(1..=12))
}

#[cfg(test)]
mod tests {
    use super::is_month;

    #[test]
    fn a_month_is_four_digits_a_dash_and_01_to_12() {
        for good in ["2026-11", "1999-01", "2030-12"] {
            assert!(is_month(good), "{good}");
        }
        for bad in [
            "2026-13",
            "2026-00",
            "2026-1",
            "26-11",
            "2026/11",
            "2026-1x",
            "2026-11-01",
            "",
        ] {
            assert!(!is_month(bad), "{bad}");
        }
    }
}
