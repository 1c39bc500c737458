//! `POST /api/v1/sandbox/{channel}/inbound`: plays a customer message on a sandbox
//! channel, through the same ingest path a provider webhook takes.

use crate::auth::extract::Authorized;
use crate::auth::permission::WorkInbox;
use crate::channels::sandbox::CustomerMessage;
use crate::error::ApiError;
use crate::http::json::Json;
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use switchboard_actors::inbox::views::{ConversationView, MessageView};

/// The customer's message as stored, and its conversation.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Ingested {
    message: MessageView,
    conversation: ConversationView,
    duplicate: bool,
}

#[utoipa::path(
    post,
    path = "/api/v1/sandbox/{channel}/inbound",
    operation_id = "sandbox.inbound",
    tag = "sandbox",
    summary = "Play a customer message",
    params(("channel" = String, Path, description = "the sandbox channel's name")),
    request_body = CustomerMessage,
    responses((status = 201, description = "stored", body = Ingested), (status = 200, description = "a repeated `message_id`: already stored (`duplicate` is true)", body = Ingested))
)]
pub async fn inbound(
    state: web::Data<AppState>,
    auth: Authorized<WorkInbox>,
    channel: web::Path<String>,
    body: Json<CustomerMessage>,
) -> Result<HttpResponse, ApiError> {
    let inbound = body.into_inner().into_inbound(&channel)?;
    let recorded = state
        .inbox
        .ingest(auth.caller.tenant_id(), &inbound)
        .await?;
    let body = Ingested {
        message: MessageView::from(&recorded.message),
        conversation: ConversationView::from(&recorded.conversation),
        duplicate: recorded.duplicate,
    };
    Ok(if recorded.duplicate {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::Created().json(body)
    })
}
