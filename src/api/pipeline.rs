//! The pipeline's REST surface: a tenant's settings (handoff triggers, its own
//! intents, assignment; admins, audited), the handoff of one conversation (an agent
//! takes it from the bot or hands it back) and the scores its lead has had.

use super::conversations;
use super::views::Page;
use crate::audit::{self, Event};
use crate::auth::extract::{Authorized, Caller};
use crate::auth::permission::{ManageSettings, ReadInbox, WorkInbox};
use crate::error::ApiError;
use crate::http::client::ClientInfo;
use crate::http::json::Json;
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use switchboard_actors::inbox::records::Message;
use switchboard_actors::pipeline::handoff::HandoffState;
use switchboard_actors::pipeline::queue::Actor;
use switchboard_actors::pipeline::settings::PipelineSettingsDoc;
use switchboard_actors::pipeline::store::{Lead, LeadPoint};
use switchboard_actors::{ConversationId, Millis, TenantId};
use uuid::Uuid;

/// The tenant's settings, the defaults where it saved none.
#[utoipa::path(
    get,
    path = "/api/v1/settings/pipeline",
    operation_id = "settings.pipeline",
    tag = "settings",
    summary = "Pipeline settings",
    responses((status = 200, description = "handoff triggers, intents, assignment", body = Object))
)]
pub async fn settings(
    state: web::Data<AppState>,
    auth: Authorized<ManageSettings>,
) -> Result<HttpResponse, ApiError> {
    let saved = state
        .store
        .pipeline_settings(auth.caller.tenant_id())
        .await?
        .unwrap_or_default();
    Ok(HttpResponse::Ok().json(saved))
}

/// Replaces the settings as a whole; they apply from the next customer message on.
#[utoipa::path(
    put,
    path = "/api/v1/settings/pipeline",
    operation_id = "settings.save_pipeline",
    tag = "settings",
    summary = "Replace pipeline settings",
    request_body = PipelineSettingsDoc,
    responses((status = 200, description = "the settings as saved", body = Object))
)]
pub async fn save_settings(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ManageSettings>,
    body: Json<PipelineSettingsDoc>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.caller.tenant_id();
    let settings = body.into_inner();
    settings.compile()?;
    state
        .store
        .save_pipeline_settings(tenant, &settings, Millis::now())
        .await?;
    let event = Event {
        tenant,
        actor: auth.caller.audit_actor(),
        action: "pipeline.settings",
        target: None,
        details: json!(settings),
    };
    audit::record(state.store.as_ref(), &client, event).await;
    Ok(HttpResponse::Ok().json(settings))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoffRequest {
    /// `human`: the caller takes the conversation; `bot`: hands it back.
    to: HandoffState,
}

#[utoipa::path(
    post,
    path = "/api/v1/conversations/{id}/handoff",
    operation_id = "conversations.handoff",
    tag = "conversations",
    summary = "Take a conversation from the bot, or hand it back",
    params(("id" = Uuid, Path, description = "the conversation's id")),
    request_body = HandoffRequest,
    responses((status = 200, description = "the lead", body = Object))
)]
pub async fn handoff(
    state: web::Data<AppState>,
    auth: Authorized<WorkInbox>,
    id: web::Path<Uuid>,
    body: Json<HandoffRequest>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, conversation) = (auth.caller.tenant_id(), ConversationId(*id));
    let by = match &auth.caller {
        Caller::User(user) => Actor {
            user: Some(user.id),
            name: &user.name,
        },
        Caller::ApiKey(key) => Actor {
            user: None,
            name: &key.name,
        },
    };
    let queue = state.pipelines.queue();
    let moved = match body.to {
        HandoffState::Human => queue.take(tenant, conversation, by).await?,
        HandoffState::Bot => queue.hand_back(tenant, conversation, by).await?,
        HandoffState::PendingHuman => {
            return Err(ApiError::invalid(
                "to must be 'human' (take the conversation) or 'bot' (hand it back)",
            ));
        }
    };
    // Unchanged (it was there already): the lead as it stands.
    let lead = match moved {
        Some(lead) => lead,
        None => state
            .store
            .lead(tenant, conversation)
            .await?
            .unwrap_or_else(|| Lead::new(conversation)),
    };
    Ok(HttpResponse::Ok().json(lead.view()))
}

/// What the pipeline found in `messages` (one page of a conversation), by message id.
pub async fn insights_of(
    state: &AppState,
    tenant: TenantId,
    conversation: ConversationId,
    messages: &[Message],
) -> Result<Value, ApiError> {
    let seqs = messages.iter().map(|m| m.seq);
    let Some(range) = seqs.clone().min().zip(seqs.max()) else {
        return Ok(json!({}));
    };
    let found = state
        .store
        .message_insights(tenant, conversation, Some(range))
        .await?;
    let by_id: Map<String, Value> = found
        .into_iter()
        .map(|(id, analysis)| (id.to_string(), json!(analysis)))
        .collect();
    Ok(Value::Object(by_id))
}

/// How many scores `GET …/lead/history` shows: the newest.
const HISTORY_LIMIT: u32 = 500;

/// The scores the conversation's lead has had, one per customer message the pipeline
/// judged, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/conversations/{id}/lead/history",
    operation_id = "conversations.lead_history",
    tag = "conversations",
    summary = "The scores the lead has had",
    params(("id" = Uuid, Path, description = "the conversation's id")),
    responses((status = 200, description = "`{data: [{message_id, score, temperature, at}]}`, newest first, the last 500", body = Object))
)]
pub async fn lead_history(
    state: web::Data<AppState>,
    auth: Authorized<ReadInbox>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, conversation) = (auth.caller.tenant_id(), ConversationId(*id));
    conversations::existing(&state, tenant, conversation).await?;
    let points = state
        .store
        .lead_history(tenant, conversation, HISTORY_LIMIT)
        .await?;
    Ok(HttpResponse::Ok().json(Page::whole(points.iter().map(LeadPoint::view).collect())))
}

/// A conversation's lead as the API shows it; `null` before the pipeline saw it.
pub async fn lead_of(
    state: &AppState,
    tenant: TenantId,
    conversation: ConversationId,
) -> Result<Value, ApiError> {
    Ok(state
        .store
        .lead(tenant, conversation)
        .await?
        .map_or(Value::Null, |lead| lead.view()))
}
