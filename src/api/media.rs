//! `GET /api/v1/messages/{id}/media`: a customer's photo, voice note or file.
//!
//! Providers keep media only for a while and behind the channel's token, so the first
//! request fetches it (from the Graph API, or from WhatsApp's CDN and decrypted for a
//! WhatsApp Web session) and keeps it under `<data_dir>/media/<tenant>/<message>`;
//! later requests are served from there.

use super::conversations;
use crate::auth::extract::Authorized;
use crate::auth::permission::ReadInbox;
use crate::channels::meta::graph::GraphError;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde_json::Value;
use std::path::PathBuf;
use switchboard_actors::inbox::records::Message;
use switchboard_actors::{MessageId, MessageKind, TenantId};
use uuid::Uuid;

/// MIME types shown inline; anything else downloads, so a hostile file cannot run as a
/// page of ours.
const INLINE: &[&str] = &["image/", "audio/", "video/"];

fn media_dir(state: &AppState, tenant: TenantId) -> PathBuf {
    state
        .config
        .server
        .data_dir
        .join("media")
        .join(tenant.0.simple().to_string())
}

#[utoipa::path(
    get,
    path = "/api/v1/messages/{id}/media",
    operation_id = "messages.get",
    tag = "messages",
    summary = "A customer's photo, voice note or file",
    params(("id" = Uuid, Path, description = "the message's id")),
    responses((status = 200, description = "the file, with its own content type", body = Vec<u8>, content_type = "application/octet-stream"))
)]
pub async fn get(
    state: web::Data<AppState>,
    auth: Authorized<ReadInbox>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.caller.tenant_id();
    let message = state
        .store
        .message(tenant, MessageId(*id))
        .await?
        .ok_or_else(|| ApiError::not_found("message"))?;
    let attachment = message.attachment.clone().unwrap_or(Value::Null);
    let media_id = attachment.get("media_id").and_then(Value::as_str);
    let media_url = attachment.get("media_url").and_then(Value::as_str);
    // Only photos, voice notes, videos, files and stickers are fetched; a link a
    // customer shared is theirs to open, not ours to fetch.
    let wa_media = attachment.get("wa_media");
    if !message.kind.is_media() || (media_id.is_none() && media_url.is_none() && wa_media.is_none())
    {
        return Err(ApiError::not_found("media of this message"));
    }
    let dir = media_dir(&state, tenant);
    let file = dir.join(message.id.0.simple().to_string());
    let mime_file = file.with_extension("type");
    if let (Ok(bytes), Ok(mime)) = (
        tokio::fs::read(&file).await,
        tokio::fs::read_to_string(&mime_file).await,
    ) {
        return Ok(serve(bytes, mime.trim()));
    }
    let fetched = match wa_media {
        Some(reference) => {
            let mime = attachment
                .get("mime_type")
                .and_then(Value::as_str)
                .unwrap_or("application/octet-stream")
                .to_owned();
            session_media(&state, message.kind, reference)
                .await
                .map(|bytes| (bytes, mime))
        }
        None => graph_media(&state, tenant, &message, media_id, media_url).await?,
    };
    let (bytes, mime) = fetched.map_err(|err| match err {
        GraphError::Permanent(reason) => {
            tracing::warn!(message = %message.id, %reason, "media refused or gone");
            ApiError::new(
                ErrorCode::NotFound,
                format!("this media cannot be fetched: {reason}"),
            )
        }
        GraphError::Retryable { reason, .. } => {
            tracing::warn!(message = %message.id, %reason, "cannot fetch media");
            ApiError::new(
                ErrorCode::ProviderUnavailable,
                "the provider cannot serve this media right now",
            )
        }
    })?;
    // Written beside, then renamed: a concurrent reader never sees half a file.
    let keep = async {
        tokio::fs::create_dir_all(&dir).await?;
        let partial = file.with_extension("partial");
        tokio::fs::write(&partial, &bytes).await?;
        tokio::fs::write(&mime_file, &mime).await?;
        tokio::fs::rename(&partial, &file).await
    };
    if let Err(err) = keep.await {
        tracing::warn!(message = %message.id, error = %err, "cannot keep fetched media; serving it once");
    }
    Ok(serve(bytes, &mime))
}

/// Media a Graph API channel received: by id through the channel's token, or by the
/// link the provider sent.
async fn graph_media(
    state: &AppState,
    tenant: TenantId,
    message: &Message,
    media_id: Option<&str>,
    media_url: Option<&str>,
) -> Result<Result<(Vec<u8>, String), GraphError>, ApiError> {
    let conversation = conversations::existing(state, tenant, message.conversation_id).await?;
    let channel = match conversation.channel.channel() {
        Some((_, channel_id)) => state.store.channel(tenant, channel_id).await?,
        None => None,
    }
    .ok_or_else(|| ApiError::not_found("the channel of this message"))?;
    let credentials = state
        .channels
        .credentials(&channel)
        .map_err(ApiError::internal)?;
    let graph = state.gateway.providers().graph();
    Ok(match (media_id, media_url) {
        (Some(media_id), _) => graph.media(&credentials.access_token, media_id).await,
        // Messenger links carry their own signature; the token is not sent along.
        (None, Some(url)) => graph.download(None, url).await,
        (None, None) => Err(GraphError::Permanent("the message names no media".into())),
    })
}

/// Media a WhatsApp Web session received: encrypted on WhatsApp's CDN.
#[cfg(feature = "whatsapp-web")]
async fn session_media(
    state: &AppState,
    kind: MessageKind,
    reference: &Value,
) -> Result<Vec<u8>, GraphError> {
    crate::whatsapp_web::media::download(
        state.gateway.providers().graph(),
        &state.config.whatsapp_web.media_urls,
        kind,
        reference,
    )
    .await
}

#[cfg(not(feature = "whatsapp-web"))]
async fn session_media(_: &AppState, _: MessageKind, _: &Value) -> Result<Vec<u8>, GraphError> {
    Err(GraphError::Permanent(
        "this server was built without the whatsapp-web feature".into(),
    ))
}

fn serve(bytes: Vec<u8>, mime: &str) -> HttpResponse {
    let inline = INLINE.iter().any(|p| mime.starts_with(p));
    HttpResponse::Ok()
        .content_type(mime.to_owned())
        .insert_header((header::CACHE_CONTROL, "private, max-age=86400"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            if inline { "inline" } else { "attachment" },
        ))
        .body(bytes)
}
