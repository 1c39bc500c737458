//! Quick replies: the tenant's canned responses (managers keep the list), and the
//! list filled in for one conversation, as the composer offers it after `/`.

use super::conversations::existing as existing_conversation;
use super::views::Page;
use crate::auth::extract::{Authorized, Caller};
use crate::auth::permission::{ManageQuickReplies, ReadInbox, WorkInbox};
use crate::error::{ApiError, ErrorCode};
use crate::http::json::{Json, Query};
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use switchboard_actors::quick_replies::{MAX_QUICK_REPLIES, QuickReply};
use switchboard_actors::{ConversationId, Millis, QuickReplyId, TenantId};
use uuid::Uuid;

#[derive(Serialize, utoipa::ToSchema)]
pub struct QuickReplyView {
    pub id: QuickReplyId,
    pub shortcut: String,
    /// As written, placeholders and all; in a conversation's list, filled in.
    pub text: String,
    pub created_at: String,
    pub updated_at: String,
}

impl QuickReplyView {
    fn of(reply: &QuickReply, text: String) -> Self {
        Self {
            id: reply.id,
            shortcut: reply.shortcut.clone(),
            text,
            created_at: reply.created_at.to_rfc3339(),
            updated_at: reply.updated_at.to_rfc3339(),
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/quick-replies",
    operation_id = "quick_replies.list",
    tag = "conversations",
    summary = "The quick replies",
    responses((status = 200, description = "every quick reply by shortcut, as written", body = Page<QuickReplyView>))
)]
pub async fn list(
    state: web::Data<AppState>,
    auth: Authorized<ReadInbox>,
) -> Result<HttpResponse, ApiError> {
    let replies = state.store.quick_replies(auth.caller.tenant_id()).await?;
    let views = replies
        .iter()
        .map(|r| QuickReplyView::of(r, r.text.clone()))
        .collect();
    Ok(HttpResponse::Ok().json(Page::whole(views)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewQuickReply)]
pub struct QuickReplyRequest {
    /// What follows `/` in the composer: 1-32 letters, digits, `-` or `_`.
    #[schema(min_length = 1, max_length = 32)]
    shortcut: String,
    /// Up to 4,096 characters; `{{contact.name}}`, `{{contact.first_name}}`,
    /// `{{contact.<custom field>}}` and `{{agent.name}}` are filled in when used.
    #[schema(min_length = 1, max_length = 4096)]
    text: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/quick-replies",
    operation_id = "quick_replies.create",
    tag = "conversations",
    summary = "Add a quick reply",
    request_body = QuickReplyRequest,
    responses((status = 201, description = "the quick reply", body = QuickReplyView))
)]
pub async fn create(
    state: web::Data<AppState>,
    auth: Authorized<ManageQuickReplies>,
    body: Json<QuickReplyRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let tenant = auth.caller.tenant_id();
    let now = Millis::now();
    let reply = QuickReply {
        tenant_id: tenant,
        id: QuickReplyId::new(),
        shortcut: body.shortcut,
        text: body.text,
        created_at: now,
        updated_at: now,
    }
    .tidy()?;
    if state.store.quick_replies(tenant).await?.len() >= MAX_QUICK_REPLIES {
        return Err(ApiError::new(
            ErrorCode::LimitReached,
            format!("a tenant holds at most {MAX_QUICK_REPLIES} quick replies; remove one first"),
        ));
    }
    state.store.create_quick_reply(&reply).await?;
    Ok(HttpResponse::Created().json(QuickReplyView::of(&reply, reply.text.clone())))
}

#[utoipa::path(
    put,
    path = "/api/v1/quick-replies/{id}",
    operation_id = "quick_replies.replace",
    tag = "conversations",
    summary = "Rewrite a quick reply",
    params(("id" = Uuid, Path, description = "the quick reply's id")),
    request_body = QuickReplyRequest,
    responses((status = 200, description = "the quick reply as rewritten", body = QuickReplyView))
)]
pub async fn replace(
    state: web::Data<AppState>,
    auth: Authorized<ManageQuickReplies>,
    id: web::Path<Uuid>,
    body: Json<QuickReplyRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let tenant = auth.caller.tenant_id();
    let mut reply = existing(&state, tenant, *id).await?;
    reply.shortcut = body.shortcut;
    reply.text = body.text;
    reply.updated_at = Millis::now();
    let reply = reply.tidy()?;
    if !state.store.update_quick_reply(&reply).await? {
        return Err(ApiError::not_found("quick reply"));
    }
    Ok(HttpResponse::Ok().json(QuickReplyView::of(&reply, reply.text.clone())))
}

#[utoipa::path(
    delete,
    path = "/api/v1/quick-replies/{id}",
    operation_id = "quick_replies.delete",
    tag = "conversations",
    summary = "Remove a quick reply",
    params(("id" = Uuid, Path, description = "the quick reply's id")),
    responses((status = 204, description = "removed"))
)]
pub async fn delete(
    state: web::Data<AppState>,
    auth: Authorized<ManageQuickReplies>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.caller.tenant_id();
    if !state
        .store
        .delete_quick_reply(tenant, QuickReplyId(*id))
        .await?
    {
        return Err(ApiError::not_found("quick reply"));
    }
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ForConversationQuery {
    /// What was typed after `/`: shortcuts that start with it come first, then
    /// those that hold it.
    q: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/conversations/{id}/quick-replies",
    operation_id = "quick_replies.for_conversation",
    tag = "conversations",
    summary = "The quick replies filled in for one conversation",
    params(("id" = Uuid, Path, description = "the conversation's id"), ForConversationQuery),
    responses((status = 200, description = "matching quick replies, their placeholders filled", body = Page<QuickReplyView>))
)]
pub async fn for_conversation(
    state: web::Data<AppState>,
    auth: Authorized<WorkInbox>,
    id: web::Path<Uuid>,
    query: Query<ForConversationQuery>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.caller.tenant_id();
    let conversation = existing_conversation(&state, tenant, ConversationId(*id)).await?;
    let contact = state.store.contact(tenant, conversation.contact_id).await?;
    let agent = match &auth.caller {
        Caller::User(user) => Some(user.name.as_str()),
        Caller::ApiKey(_) => None,
    };
    let typed = query.q.as_deref().unwrap_or_default().trim().to_lowercase();
    let mut replies: Vec<QuickReply> = state
        .store
        .quick_replies(tenant)
        .await?
        .into_iter()
        .filter(|r| r.shortcut.contains(&typed))
        .collect();
    // Stable: shortcuts that start with what was typed first, each group by shortcut.
    replies.sort_by_key(|r| !r.shortcut.starts_with(&typed));
    let views = replies
        .iter()
        .map(|r| QuickReplyView::of(r, r.render(contact.as_ref(), agent)))
        .collect();
    Ok(HttpResponse::Ok().json(Page::whole(views)))
}

async fn existing(state: &AppState, tenant: TenantId, id: Uuid) -> Result<QuickReply, ApiError> {
    state
        .store
        .quick_replies(tenant)
        .await?
        .into_iter()
        .find(|r| r.id == QuickReplyId(id))
        .ok_or_else(|| ApiError::not_found("quick reply"))
}
