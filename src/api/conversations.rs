//! Conversations and their messages. Every change goes through the conversation's
//! actor, the same path the WebSocket takes, so it reaches every agent's socket.

use super::pipeline;
use super::views::Page;
use crate::auth::extract::{Authorized, Caller};
use crate::auth::permission::{ReadInbox, WorkInbox};
use crate::error::ApiError;
use crate::http::json::{Json, Query};
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;
use switchboard_actors::inbox::records::{
    AssigneeFilter, Conversation, ConversationChange, ConversationCursor, ConversationFilter,
    Outgoing, RichContent,
};
use switchboard_actors::inbox::views::{AssignmentView, ConversationView, ListedView, MessageView};
use switchboard_actors::pipeline::handoff::HandoffState;
use switchboard_actors::pipeline::scoring::Temperature;
use switchboard_actors::pipeline::sentiment::SentimentLabel;
use switchboard_actors::{
    ChannelKey, ClientMessageId, ConversationId, ConversationStatus, Direction, MessageId,
    MessageKind, Millis, Priority, TagName, TenantId, UserId,
};
use uuid::Uuid;

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 200;

fn page_size(limit: Option<u32>) -> u32 {
    limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE)
}

fn author(caller: &Caller) -> Option<UserId> {
    match caller {
        Caller::User(user) => Some(user.id),
        Caller::ApiKey(_) => None,
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<ConversationStatus>,
    /// A user id, `me`, or `none` for unassigned.
    assignee: Option<String>,
    tag: Option<TagName>,
    channel: Option<ChannelKey>,
    #[serde(default)]
    unread: bool,
    /// Part of the contact's name, phone or email.
    q: Option<String>,
    temperature: Option<Temperature>,
    sentiment: Option<SentimentLabel>,
    handoff: Option<HandoffState>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// At most 200 per page (a larger value gives 200); 50 when left out.
    #[param(minimum = 1, maximum = 200, default = 50)]
    limit: Option<u32>,
}

fn parse_cursor(raw: &str) -> Result<ConversationCursor, ApiError> {
    let invalid = || ApiError::invalid("cursor is not one this API returned");
    let (at, id) = raw.split_once('_').ok_or_else(invalid)?;
    Ok(ConversationCursor {
        activity_at: Millis(at.parse().map_err(|_| invalid())?),
        id: ConversationId(Uuid::parse_str(id).map_err(|_| invalid())?),
    })
}

#[utoipa::path(
    get,
    path = "/api/v1/conversations",
    operation_id = "conversations.list",
    tag = "conversations",
    summary = "The inbox",
    params(ListQuery),
    responses((status = 200, description = "most recent activity first", body = Page<ListedView>))
)]
pub async fn list(
    state: web::Data<AppState>,
    auth: Authorized<ReadInbox>,
    query: Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let assignee = match query.assignee.as_deref() {
        None => None,
        Some("none") => Some(AssigneeFilter::Nobody),
        Some("me") => Some(AssigneeFilter::User(author(&auth.caller).ok_or_else(
            || ApiError::invalid("assignee=me needs a signed-in user, not an API key"),
        )?)),
        Some(id) => Some(AssigneeFilter::User(UserId(Uuid::parse_str(id).map_err(
            |_| ApiError::invalid("assignee must be a user id, 'me' or 'none'"),
        )?))),
    };
    let filter = ConversationFilter {
        status: query.status,
        assignee,
        tag: query.tag,
        channel: query.channel,
        unread_only: query.unread,
        contact_matches: query.q.filter(|q| !q.trim().is_empty()),
        temperature: query.temperature,
        sentiment: query.sentiment,
        handoff: query.handoff,
    };
    let after = query.cursor.as_deref().map(parse_cursor).transpose()?;
    let limit = page_size(query.limit);
    let found = state
        .store
        .conversations(auth.caller.tenant_id(), &filter, after, limit)
        .await?;
    let next_cursor = (found.len() == limit as usize)
        .then(|| found.last())
        .flatten()
        .map(|l| &l.conversation)
        .map(|c| format!("{}_{}", c.last_message_at.unwrap_or(c.created_at).0, c.id));
    Ok(HttpResponse::Ok().json(Page {
        data: found.iter().map(ListedView::from).collect(),
        next_cursor,
    }))
}

/// The tenant's conversation `id`, or `not_found`.
pub async fn existing(
    state: &AppState,
    tenant: TenantId,
    id: ConversationId,
) -> Result<Conversation, ApiError> {
    state
        .store
        .conversation(tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found("conversation"))
}

/// The conversation with its most recent messages, from its live actor.
#[utoipa::path(
    get,
    path = "/api/v1/conversations/{id}",
    operation_id = "conversations.get",
    tag = "conversations",
    summary = "A conversation with recent messages",
    params(("id" = Uuid, Path, description = "the conversation's id")),
    responses((status = 200, description = "`{conversation, messages, lead, insights}`", body = Object))
)]
pub async fn get(
    state: web::Data<AppState>,
    auth: Authorized<ReadInbox>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, id) = (auth.caller.tenant_id(), ConversationId(*id));
    let snapshot = state.inbox.snapshot(tenant, id).await?;
    Ok(HttpResponse::Ok().json(json!({
        "conversation": ConversationView::from(&snapshot.conversation),
        "recent_messages": snapshot.recent.iter().map(MessageView::from).collect::<Vec<_>>(),
        "lead": pipeline::lead_of(&state, tenant, id).await?,
        "insights": pipeline::insights_of(&state, tenant, id, &snapshot.recent).await?,
    })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ConversationChange)]
pub struct UpdateRequest {
    status: Option<ConversationStatus>,
    priority: Option<Priority>,
    /// RFC 3339; required with status `snoozed`.
    snoozed_until: Option<String>,
}

#[utoipa::path(
    patch,
    path = "/api/v1/conversations/{id}",
    operation_id = "conversations.update",
    tag = "conversations",
    summary = "Change status or priority",
    params(("id" = Uuid, Path, description = "the conversation's id")),
    request_body = UpdateRequest,
    responses((status = 200, description = "the conversation as changed", body = ConversationView))
)]
pub async fn update(
    state: web::Data<AppState>,
    auth: Authorized<WorkInbox>,
    id: web::Path<Uuid>,
    body: Json<UpdateRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let (tenant, id) = (auth.caller.tenant_id(), ConversationId(*id));
    let snoozed_until = body.snoozed_until.as_deref().map(parse_time).transpose()?;
    let mut changes = Vec::new();
    match (body.status, snoozed_until) {
        (Some(ConversationStatus::Snoozed), Some(until)) if until > Millis::now() => {
            changes.push(ConversationChange::Status {
                status: ConversationStatus::Snoozed,
                snoozed_until: Some(until),
            })
        }
        (Some(ConversationStatus::Snoozed), _) => {
            return Err(ApiError::invalid(
                "status snoozed needs snoozed_until in the future",
            ));
        }
        (Some(status), None) => changes.push(ConversationChange::Status {
            status,
            snoozed_until: None,
        }),
        (_, Some(_)) => return Err(ApiError::invalid("snoozed_until goes with status snoozed")),
        (None, None) => {}
    }
    if let Some(priority) = body.priority {
        changes.push(ConversationChange::Priority(priority));
    }
    if changes.is_empty() {
        return Err(ApiError::invalid("send status, priority or both"));
    }
    let mut latest = None;
    for change in changes {
        latest = Some(state.inbox.change(tenant, id, change).await?.conversation);
    }
    let conversation = latest.ok_or_else(|| ApiError::internal("no change applied"))?;
    Ok(HttpResponse::Ok().json(ConversationView::from(&conversation)))
}

fn parse_time(raw: &str) -> Result<Millis, ApiError> {
    let at = time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
        .map_err(|_| ApiError::invalid(format!("'{raw}' is not an RFC 3339 time")))?;
    Ok(Millis(
        i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// `null` unassigns.
    user_id: Option<Uuid>,
}

#[utoipa::path(
    put,
    path = "/api/v1/conversations/{id}/assignment",
    operation_id = "conversations.assign",
    tag = "conversations",
    summary = "Assign, or unassign with null",
    params(("id" = Uuid, Path, description = "the conversation's id")),
    request_body = AssignRequest,
    responses((status = 200, description = "the conversation as changed", body = ConversationView))
)]
pub async fn assign(
    state: web::Data<AppState>,
    auth: Authorized<WorkInbox>,
    id: web::Path<Uuid>,
    body: Json<AssignRequest>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.caller.tenant_id();
    let assignee = body.user_id.map(UserId);
    if let Some(user) = assignee {
        let found = state.store.user(tenant, user).await?;
        if !found.is_some_and(|u| u.status == switchboard_actors::UserStatus::Active) {
            return Err(ApiError::invalid(
                "user_id must name an active user of this tenant",
            ));
        }
    }
    let change = ConversationChange::Assign {
        assignee,
        by: author(&auth.caller),
    };
    let changed = state
        .inbox
        .change(tenant, ConversationId(*id), change)
        .await?;
    Ok(HttpResponse::Ok().json(ConversationView::from(&changed.conversation)))
}

#[utoipa::path(
    get,
    path = "/api/v1/conversations/{id}/assignments",
    operation_id = "conversations.assignments",
    tag = "conversations",
    summary = "Assignment history",
    params(("id" = Uuid, Path, description = "the conversation's id")),
    responses((status = 200, description = "newest first", body = Page<AssignmentView>))
)]
pub async fn assignments(
    state: web::Data<AppState>,
    auth: Authorized<ReadInbox>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let history = state
        .store
        .assignments(auth.caller.tenant_id(), ConversationId(*id))
        .await?;
    Ok(HttpResponse::Ok().json(Page::whole(
        history.iter().map(AssignmentView::from).collect(),
    )))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagRequest {
    tag: TagName,
}

#[utoipa::path(
    post,
    path = "/api/v1/conversations/{id}/tags",
    operation_id = "conversations.add_tag",
    tag = "conversations",
    summary = "Tag a conversation",
    params(("id" = Uuid, Path, description = "the conversation's id")),
    request_body = TagRequest,
    responses((status = 200, description = "the conversation as changed", body = ConversationView))
)]
pub async fn add_tag(
    state: web::Data<AppState>,
    auth: Authorized<WorkInbox>,
    id: web::Path<Uuid>,
    body: Json<TagRequest>,
) -> Result<HttpResponse, ApiError> {
    let change = ConversationChange::Tag {
        tag: body.into_inner().tag,
        present: true,
    };
    let changed = state
        .inbox
        .change(auth.caller.tenant_id(), ConversationId(*id), change)
        .await?;
    Ok(HttpResponse::Ok().json(ConversationView::from(&changed.conversation)))
}

#[utoipa::path(
    delete,
    path = "/api/v1/conversations/{id}/tags/{tag}",
    operation_id = "conversations.remove_tag",
    tag = "conversations",
    summary = "Untag a conversation",
    params(("id" = Uuid, Path, description = "the conversation's id"), ("tag" = String, Path, description = "the tag")),
    responses((status = 200, description = "the conversation as changed", body = ConversationView))
)]
pub async fn remove_tag(
    state: web::Data<AppState>,
    auth: Authorized<WorkInbox>,
    path: web::Path<(Uuid, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, tag) = path.into_inner();
    let change = ConversationChange::Tag {
        tag: TagName::parse(&tag)?,
        present: false,
    };
    let changed = state
        .inbox
        .change(auth.caller.tenant_id(), ConversationId(id), change)
        .await?;
    Ok(HttpResponse::Ok().json(ConversationView::from(&changed.conversation)))
}

#[utoipa::path(
    post,
    path = "/api/v1/conversations/{id}/read",
    operation_id = "conversations.mark_read",
    tag = "conversations",
    summary = "Mark read",
    params(("id" = Uuid, Path, description = "the conversation's id")),
    responses((status = 200, description = "the conversation as changed", body = ConversationView))
)]
pub async fn mark_read(
    state: web::Data<AppState>,
    auth: Authorized<WorkInbox>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let changed = state
        .inbox
        .change(
            auth.caller.tenant_id(),
            ConversationId(*id),
            ConversationChange::Read,
        )
        .await?;
    Ok(HttpResponse::Ok().json(ConversationView::from(&changed.conversation)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MessagesQuery {
    /// Messages with a `seq` below this one: the cursor of the previous page.
    before: Option<i64>,
    /// At most 200 per page (a larger value gives 200); 50 when left out.
    #[param(minimum = 1, maximum = 200, default = 50)]
    limit: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/api/v1/conversations/{id}/messages",
    operation_id = "conversations.messages",
    tag = "conversations",
    summary = "A page of the timeline",
    params(("id" = Uuid, Path, description = "the conversation's id"), MessagesQuery),
    responses((status = 200, description = "messages by `seq`, newest first, and the pipeline's insights for them", body = MessagesPage))
)]
pub async fn messages(
    state: web::Data<AppState>,
    auth: Authorized<ReadInbox>,
    id: web::Path<Uuid>,
    query: Query<MessagesQuery>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, id) = (auth.caller.tenant_id(), ConversationId(*id));
    existing(&state, tenant, id).await?;
    let limit = page_size(query.limit);
    let page = state
        .store
        .messages(tenant, id, query.before, limit)
        .await?;
    let next_cursor = (page.len() == limit as usize)
        .then(|| page.first())
        .flatten()
        .filter(|m| m.seq > 1)
        .map(|m| m.seq.to_string());
    Ok(HttpResponse::Ok().json(MessagesPage {
        insights: pipeline::insights_of(&state, tenant, id, &page).await?,
        page: Page {
            data: page.iter().map(MessageView::from).collect(),
            next_cursor,
        },
    }))
}

/// A page of a timeline, with what the pipeline found in its customer messages.
#[derive(Serialize, utoipa::ToSchema)]
struct MessagesPage {
    #[serde(flatten)]
    page: Page<MessageView>,
    /// What the pipeline found in each customer message, by message id.
    insights: serde_json::Value,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    #[schema(min_length = 1, max_length = 4096)]
    body: String,
    /// Makes a retried request store the note once.
    client_id: Option<ClientMessageId>,
}

/// A reply: text in `body`, or exactly one of `template`, `media`, `reaction`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    #[schema(min_length = 1, max_length = 4096)]
    body: Option<String>,
    template: Option<TemplateRequest>,
    media: Option<MediaRequest>,
    reaction: Option<ReactionRequest>,
    /// Makes a retried request store the message once.
    client_id: Option<ClientMessageId>,
}

/// An approved WhatsApp template by name and language, with its body's parameters.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateRequest {
    #[schema(min_length = 1, max_length = 1024)]
    pub(crate) name: String,
    pub(crate) language: String,
    #[serde(default)]
    #[schema(max_items = 20)]
    pub(crate) parameters: Vec<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MediaRequest {
    #[serde(rename = "type")]
    kind: MessageKind,
    link: String,
    #[schema(max_length = 1024)]
    caption: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReactionRequest {
    /// Our id of the customer's message.
    message_id: Uuid,
    emoji: String,
}

/// Replies to the customer.
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{id}/messages",
    operation_id = "conversations.send",
    tag = "conversations",
    summary = "Reply to the customer",
    params(("id" = Uuid, Path, description = "the conversation's id")),
    request_body = SendRequest,
    responses((status = 201, description = "the reply, `pending` until the channel takes it", body = MessageView), (status = 200, description = "a repeated `client_id`: the reply already stored", body = MessageView))
)]
pub async fn send(
    state: web::Data<AppState>,
    auth: Authorized<WorkInbox>,
    id: web::Path<Uuid>,
    body: Json<SendRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let (author, client_id) = (author(&auth.caller), body.client_id);
    let given = [
        body.body.is_some(),
        body.template.is_some(),
        body.media.is_some(),
        body.reaction.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(ApiError::invalid(
            "a reply has exactly one of body, template, media or reaction",
        ));
    }
    let content = if let Some(template) = body.template {
        RichContent::Template {
            name: template.name,
            language: template.language,
            parameters: template.parameters,
        }
    } else if let Some(media) = body.media {
        RichContent::Media {
            kind: media.kind,
            link: media.link,
            caption: media.caption,
        }
    } else if let Some(reaction) = body.reaction {
        let target = state
            .store
            .message(auth.caller.tenant_id(), MessageId(reaction.message_id))
            .await?
            .filter(|m| m.conversation_id.0 == *id)
            .ok_or_else(|| ApiError::not_found("message in this conversation"))?;
        let provider_id = target
            .provider_id
            .ok_or_else(|| ApiError::invalid("that message has no provider id to react to"))?;
        RichContent::Reaction {
            provider_id,
            emoji: reaction.emoji,
        }
    } else {
        let text = body.body.unwrap_or_default();
        let message = Outgoing::text(Direction::Outbound, &text, author, client_id)?;
        return append(state, auth, *id, message).await;
    };
    let message = Outgoing::rich(content, author, client_id)?;
    append(state, auth, *id, message).await
}

/// Adds an internal note: part of the timeline, never sent to the customer.
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{id}/notes",
    operation_id = "conversations.add_note",
    tag = "conversations",
    summary = "Add an internal note",
    params(("id" = Uuid, Path, description = "the conversation's id")),
    request_body = NoteRequest,
    responses((status = 201, description = "the note", body = MessageView), (status = 200, description = "a repeated `client_id`: the note already stored", body = MessageView))
)]
pub async fn add_note(
    state: web::Data<AppState>,
    auth: Authorized<WorkInbox>,
    id: web::Path<Uuid>,
    body: Json<NoteRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let message = Outgoing::text(
        Direction::Note,
        &body.body,
        author(&auth.caller),
        body.client_id,
    )?;
    append(state, auth, *id, message).await
}

async fn append(
    state: web::Data<AppState>,
    auth: Authorized<WorkInbox>,
    id: Uuid,
    message: Outgoing,
) -> Result<HttpResponse, ApiError> {
    let recorded = state
        .inbox
        .append(auth.caller.tenant_id(), ConversationId(id), message)
        .await?;
    let view = MessageView::from(&recorded.message);
    Ok(if recorded.duplicate {
        HttpResponse::Ok().json(view)
    } else {
        HttpResponse::Created().json(view)
    })
}
