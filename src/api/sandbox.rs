//! `POST /api/v1/sandbox/{channel}/inbound`: plays a customer message on a sandbox
//! channel, through the same ingest path a provider webhook takes.

use crate::auth::extract::Authorized;
use crate::auth::permission::WorkInbox;
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use switchboard_actors::inbox::records::{Identity, Inbound};
use switchboard_actors::inbox::views::{ConversationView, MessageView};
use switchboard_actors::{ChannelKey, MessageKind, Millis, PhoneE164};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundRequest {
    /// Who the customer is on this channel; the same handle is the same contact.
    from: String,
    name: Option<String>,
    phone: Option<PhoneE164>,
    text: String,
    /// Like a provider's message id: sending it again stores nothing new.
    message_id: Option<String>,
}

pub async fn inbound(
    state: web::Data<AppState>,
    auth: Authorized<WorkInbox>,
    channel: web::Path<String>,
    body: web::Json<InboundRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let channel = ChannelKey::sandbox(&channel)?;
    let from = body.from.trim();
    if from.is_empty() || from.len() > 128 {
        return Err(ApiError::invalid("from must be 1 to 128 characters"));
    }
    let text = body.text.trim();
    if text.is_empty() || text.chars().count() > 4096 {
        return Err(ApiError::invalid("text must be 1 to 4096 characters"));
    }
    let inbound = Inbound {
        channel: channel.clone(),
        sender: Identity {
            channel,
            external_id: from.to_owned(),
        },
        sender_name: body
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or(from)
            .to_owned(),
        sender_phone: body.phone,
        provider_id: body.message_id,
        kind: MessageKind::Text,
        body: Some(text.to_owned()),
        attachment: None,
        received_at: Millis::now(),
    };
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
