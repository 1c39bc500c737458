//! `POST /api/v1/sandbox/{channel}/inbound`: plays a customer message on a sandbox
//! channel, through the same ingest path a provider webhook takes.

use crate::auth::extract::Authorized;
use crate::auth::permission::WorkInbox;
use crate::channels::sandbox::CustomerMessage;
use crate::error::ApiError;
use crate::http::json::Json;
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use serde_json::json;
use switchboard_actors::inbox::views::{ConversationView, MessageView};

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
    let body = json!({
        "message": MessageView::from(&recorded.message),
        "conversation": ConversationView::from(&recorded.conversation),
        "duplicate": recorded.duplicate,
    });
    Ok(if recorded.duplicate {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::Created().json(body)
    })
}
