//! A WhatsApp Web channel's session (admin): its state with the current QR code (as
//! text and as a server-drawn SVG), its history, a pairing code instead of the QR
//! code, restart and logout.

use crate::audit::{self, Event};
use crate::auth::extract::Authorized;
use crate::auth::permission::ManageChannels;
use crate::error::ApiError;
use crate::http::client::ClientInfo;
use crate::http::json::Json;
use crate::state::AppState;
use crate::whatsapp_web::qr;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_actors::channel::{Channel, ChannelKind};
use switchboard_actors::session::{SessionDetail, SessionRecord, SessionState};
use switchboard_actors::{ChannelId, Millis, PhoneE164};
use uuid::Uuid;

/// Transitions shown by `GET …/session/history`.
const HISTORY_LIMIT: u32 = 100;

async fn web_channel(
    state: &AppState,
    auth: &Authorized<ManageChannels>,
    id: Uuid,
) -> Result<Channel, ApiError> {
    match state
        .store
        .channel(auth.caller.tenant_id(), ChannelId(id))
        .await?
    {
        Some(channel) if channel.kind == ChannelKind::WhatsAppWeb => Ok(channel),
        _ => Err(ApiError::not_found("WhatsApp Web channel")),
    }
}

/// A session as admins see it; `qr_svg` draws the current code while it is in `qr`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct SessionView<'a> {
    channel_id: ChannelId,
    state: SessionState,
    detail: &'a SessionDetail,
    qr_svg: Option<String>,
    /// The keys hold a linked device: the session reconnects by itself at start.
    paired: bool,
    /// The account's number once it was linked.
    phone: Option<&'a str>,
    updated_at: String,
}

fn view(record: &SessionRecord) -> SessionView<'_> {
    let qr_svg = match record.state {
        SessionState::Qr => record.detail.qr.as_deref().and_then(qr::svg),
        _ => None,
    };
    SessionView {
        channel_id: record.channel_id,
        state: record.state,
        detail: &record.detail,
        qr_svg,
        paired: record.paired,
        phone: record.phone.as_deref(),
        updated_at: record.updated_at.to_rfc3339(),
    }
}

async fn current(state: &AppState, channel: &Channel) -> Result<SessionRecord, ApiError> {
    state
        .store
        .session(channel.tenant_id, channel.id)
        .await?
        .ok_or_else(|| ApiError::not_found("session"))
}

#[utoipa::path(
    get,
    path = "/api/v1/channels/{id}/session",
    operation_id = "sessions.get",
    tag = "sessions",
    summary = "A WhatsApp Web session's state and current QR",
    params(("id" = Uuid, Path, description = "the channel's id")),
    responses((status = 200, description = "the session", body = SessionView))
)]
pub async fn get(
    state: web::Data<AppState>,
    auth: Authorized<ManageChannels>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let channel = web_channel(&state, &auth, *id).await?;
    let record = current(&state, &channel).await?;
    Ok(HttpResponse::Ok().json(view(&record)))
}

/// Newest first: each `session.updated` event's data.
#[utoipa::path(
    get,
    path = "/api/v1/channels/{id}/session/history",
    operation_id = "sessions.history",
    tag = "sessions",
    summary = "The session's transitions",
    params(("id" = Uuid, Path, description = "the channel's id")),
    responses((status = 200, description = "`{data: [...]}`", body = Object))
)]
pub async fn history(
    state: web::Data<AppState>,
    auth: Authorized<ManageChannels>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let channel = web_channel(&state, &auth, *id).await?;
    let events = state
        .store
        .session_history(channel.tenant_id, channel.id, HISTORY_LIMIT)
        .await?;
    let data: Vec<Value> = events
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(&e.data).ok())
        .map(|mut data| {
            // A code in the history is spent; it is not shown again.
            if let Some(detail) = data.get_mut("detail").and_then(Value::as_object_mut) {
                detail.remove("qr");
                detail.remove("pairing_code");
            }
            data
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "data": data })))
}

async fn audit_action(
    state: &AppState,
    client: &ClientInfo,
    auth: &Authorized<ManageChannels>,
    channel: &Channel,
    action: &str,
    details: Value,
) {
    let event = Event {
        tenant: channel.tenant_id,
        actor: auth.caller.audit_actor(),
        action,
        target: Some(("channel", channel.id.to_string())),
        details,
    };
    audit::record(state.store.as_ref(), client, event).await;
}

/// What an admin asks of a session, besides a pairing code.
#[derive(Clone, Copy)]
enum Command {
    Restart,
    Logout,
}

#[utoipa::path(
    post,
    path = "/api/v1/channels/{id}/session/restart",
    operation_id = "sessions.restart",
    tag = "sessions",
    summary = "Restart the session",
    params(("id" = Uuid, Path, description = "the channel's id")),
    responses((status = 202, description = "the session, starting", body = SessionView))
)]
pub async fn restart(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ManageChannels>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    command(&state, &client, &auth, *id, Command::Restart).await
}

#[utoipa::path(
    post,
    path = "/api/v1/channels/{id}/session/logout",
    operation_id = "sessions.logout",
    tag = "sessions",
    summary = "Log the session out",
    params(("id" = Uuid, Path, description = "the channel's id")),
    responses((status = 200, description = "the session, logged out", body = SessionView))
)]
pub async fn logout(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ManageChannels>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    command(&state, &client, &auth, *id, Command::Logout).await
}

async fn command(
    state: &AppState,
    client: &ClientInfo,
    auth: &Authorized<ManageChannels>,
    id: Uuid,
    command: Command,
) -> Result<HttpResponse, ApiError> {
    let channel = web_channel(state, auth, id).await?;
    let (tenant, by) = (channel.tenant_id, auth.caller.user_id());
    let (action, mut reply) = match command {
        Command::Restart => {
            state.sessions.restart(tenant, channel.id, by).await?;
            ("session.restart", HttpResponse::Accepted())
        }
        Command::Logout => {
            state.sessions.logout(tenant, channel.id, by).await?;
            ("session.logout", HttpResponse::Ok())
        }
    };
    audit_action(state, client, auth, &channel, action, json!({})).await;
    let record = current(state, &channel).await?;
    Ok(reply.json(view(&record)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PairingCodeRequest {
    /// The number to link, with its country code (`+4915…`).
    phone: String,
}

/// The code the phone's "Link with phone number" asks for, and until when it works.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct PairingCode {
    code: String,
    expires_at: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/channels/{id}/session/pairing-code",
    operation_id = "sessions.pairing_code",
    tag = "sessions",
    summary = "Log in with a pairing code",
    params(("id" = Uuid, Path, description = "the channel's id")),
    request_body = PairingCodeRequest,
    responses((status = 200, description = "the code to type on the phone", body = PairingCode))
)]
pub async fn pairing_code(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ManageChannels>,
    id: web::Path<Uuid>,
    body: Json<PairingCodeRequest>,
) -> Result<HttpResponse, ApiError> {
    let channel = web_channel(&state, &auth, *id).await?;
    let phone = PhoneE164::parse(&body.phone)?;
    // WhatsApp takes the number as digits only.
    let digits: String = phone
        .as_str()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let code = state
        .sessions
        .pairing_code(channel.tenant_id, channel.id, digits, auth.caller.user_id())
        .await?;
    audit_action(
        &state,
        &client,
        &auth,
        &channel,
        "session.pairing_code",
        json!({ "phone": phone.as_str() }),
    )
    .await;
    let expires_at = Millis::now().plus(switchboard_actors::session::actor::PAIRING_CODE_VALID_FOR);
    Ok(HttpResponse::Ok().json(PairingCode {
        code,
        expires_at: expires_at.to_rfc3339(),
    }))
}
