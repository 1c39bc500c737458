//! Broadcasts: one WhatsApp template (or text, to those inside their 24-hour window)
//! to a segment or an uploaded list of phones, now or at a local time, at the
//! channel's rate; per-recipient status; pause, resume and cancel. Admins only: a
//! broadcast speaks to many customers at once, and its progress goes to admins'
//! sockets (`broadcast.updated`).

use super::conversations::TemplateRequest;
use super::views::Page;
use crate::audit::{self, Event};
use crate::auth::extract::Authorized;
use crate::auth::permission::SendBroadcasts;
use crate::broadcasts::sender::{self, rate_for};
use crate::error::{ApiError, ErrorCode};
use crate::http::client::ClientInfo;
use crate::http::json::{Json, Query};
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;
use switchboard_actors::broadcasts::{
    Broadcast, BroadcastStatus, BroadcastView, Content, MAX_BROADCAST_NAME_CHARS,
    MAX_LISTED_PHONES, Recipient, RecipientStatus, send_time,
};
use switchboard_actors::channel::{Channel, ChannelKind, ChannelState};
use switchboard_actors::contacts::scan;
use switchboard_actors::{
    BroadcastId, ChannelId, ContactId, Millis, PhoneE164, RecipientId, SegmentId, TenantId,
};
use uuid::Uuid;

/// Broadcasts listed at most, newest first.
const LISTED: u32 = 100;
/// The fastest a broadcast may ask to go.
pub const MAX_RATE_PER_SECOND: u32 = 1000;
/// How far in the past `send_at` may be (a form filled in a minute ago).
const PAST_GRACE_MS: i64 = 5 * 60 * 1000;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewBroadcast)]
pub struct CreateRequest {
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    /// A WhatsApp Cloud API channel.
    channel_id: ChannelId,
    /// The segment whose contacts receive it (listed when it starts); or `phones`.
    segment_id: Option<SegmentId>,
    /// An uploaded list of phones (international, or national in the tenant's
    /// default country); matched to contacts by phone.
    #[schema(max_items = 100000)]
    phones: Option<Vec<String>>,
    /// An approved template; or `text`, sent only to those inside their 24-hour
    /// window. Parameters and text may hold `{{contact.first_name}}`,
    /// `{{contact.name}}` and `{{contact.<custom field>}}`.
    template: Option<TemplateRequest>,
    #[schema(min_length = 1, max_length = 4096)]
    text: Option<String>,
    /// A local date and time in `time_zone` (`2026-12-01T09:00`); now when left out.
    send_at: Option<String>,
    /// An IANA time zone such as `Europe/Lisbon`; needed with `send_at`.
    time_zone: Option<String>,
    /// Sends per second at most (the channel's limit wins when lower).
    #[schema(minimum = 1, maximum = 1000)]
    rate_per_second: Option<u32>,
}

#[utoipa::path(
    post,
    path = "/api/v1/broadcasts",
    operation_id = "broadcasts.create",
    tag = "broadcasts",
    summary = "Send a template to a segment or a list, now or at a time",
    description = "Recipients who opted out are skipped and counted, and so are those a text \
        cannot reach (outside their 24-hour window) and those whose fields leave a template \
        parameter empty. Sending is a job: at the channel's rate, within its `daily_limit`, \
        and after a restart it goes on without sending anyone twice.",
    request_body = CreateRequest,
    responses((status = 201, description = "the broadcast, scheduled", body = BroadcastView))
)]
pub async fn create(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<SendBroadcasts>,
    body: Json<CreateRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let tenant = auth.caller.tenant_id();
    let now = Millis::now();
    let name = body.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > MAX_BROADCAST_NAME_CHARS {
        return Err(ApiError::invalid(format!(
            "name must be 1 to {MAX_BROADCAST_NAME_CHARS} characters"
        )));
    }
    let channel = sending_channel(&state, tenant, body.channel_id).await?;
    let content = match (body.template, body.text) {
        (Some(t), None) => Content::Template {
            name: t.name,
            language: t.language,
            parameters: t.parameters,
        },
        (None, Some(body)) => Content::Text { body },
        _ => {
            return Err(ApiError::invalid(
                "a broadcast has exactly one of template or text",
            ));
        }
    };
    content.check()?;
    check_template(&state, &channel, &content).await?;
    let send_at = match (body.send_at.as_deref(), body.time_zone.as_deref()) {
        (None, _) => now,
        (Some(_), None) => return Err(ApiError::invalid("time_zone is needed with send_at")),
        (Some(local), Some(zone)) => {
            let at = send_time(local, zone)?;
            if at.0 < now.0 - PAST_GRACE_MS {
                return Err(ApiError::invalid(format!(
                    "send_at '{local}' is in the past"
                )));
            }
            at
        }
    };
    let rate = match body.rate_per_second {
        Some(rate) if !(1..=MAX_RATE_PER_SECOND).contains(&rate) => {
            return Err(ApiError::invalid(format!(
                "rate_per_second must be 1 to {MAX_RATE_PER_SECOND}"
            )));
        }
        Some(rate) => rate,
        None => MAX_RATE_PER_SECOND,
    };
    let mut broadcast = Broadcast {
        tenant_id: tenant,
        id: BroadcastId::new(),
        name,
        channel_id: channel.id,
        segment_id: None,
        content,
        send_at,
        time_zone: body.send_at.and(body.time_zone),
        rate_per_second: rate_for(&channel, rate, &state.config.channels),
        status: BroadcastStatus::Scheduled,
        generation: 0,
        listed: false,
        list_cursor: None,
        note: None,
        created_by: auth.caller.user_id(),
        created_at: now,
        updated_at: now,
        started_at: None,
        finished_at: None,
    };
    let recipients = match (body.segment_id, body.phones) {
        (Some(segment), None) => {
            if state.store.segment(tenant, segment).await?.is_none() {
                return Err(ApiError::not_found("segment"));
            }
            broadcast.segment_id = Some(segment);
            Vec::new()
        }
        (None, Some(phones)) => {
            broadcast.listed = true;
            listed(&state, &broadcast, &channel, &phones).await?
        }
        _ => {
            return Err(ApiError::invalid(
                "a broadcast has exactly one of segment_id or phones",
            ));
        }
    };
    state
        .store
        .create_broadcast(&broadcast, &recipients)
        .await?;
    state.store.add_job(&sender::job(&broadcast), now).await?;
    let event = Event {
        tenant,
        actor: auth.caller.audit_actor(),
        action: "broadcast.create",
        target: Some(("broadcast", broadcast.id.to_string())),
        details: json!({
            "name": broadcast.name, "channel_id": broadcast.channel_id, "segment_id": broadcast.segment_id,
            "phones": recipients.len(), "content": broadcast.content.to_json(), "send_at": broadcast.send_at.to_rfc3339(),
        }),
    };
    audit::record(state.store.as_ref(), &client, event).await;
    let totals = state.store.recipient_totals(tenant, broadcast.id).await?;
    Ok(HttpResponse::Created().json(broadcast.view(totals)))
}

/// The channel a broadcast goes out on: an active WhatsApp Cloud API channel.
async fn sending_channel(
    state: &AppState,
    tenant: TenantId,
    id: ChannelId,
) -> Result<Channel, ApiError> {
    let channel = state
        .store
        .channel(tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found("channel"))?;
    if channel.kind != ChannelKind::WhatsApp {
        return Err(ApiError::invalid(
            "broadcasts go out on a WhatsApp Cloud API channel (templates reach people outside their 24-hour window)",
        ));
    }
    if channel.state != ChannelState::Active {
        return Err(ApiError::invalid("the channel is disabled"));
    }
    Ok(channel)
}

/// A template must be one of the channel's approved ones, with its number of
/// parameters, once the channel's templates are synced (before, WhatsApp decides).
async fn check_template(
    state: &AppState,
    channel: &Channel,
    content: &Content,
) -> Result<(), ApiError> {
    let Content::Template {
        name,
        language,
        parameters,
    } = content
    else {
        return Ok(());
    };
    let synced = state.store.templates(channel.tenant_id, channel.id).await?;
    if synced.is_empty() {
        return Ok(());
    }
    let Some(template) = synced
        .iter()
        .find(|t| &t.name == name && &t.language == language)
    else {
        return Err(ApiError::invalid(format!(
            "the channel has no template '{name}' in '{language}'; sync its templates or pick another"
        )));
    };
    if template.status != "approved" {
        return Err(ApiError::invalid(format!(
            "template '{name}' ({language}) is {}, not approved",
            template.status
        )));
    }
    if usize::try_from(template.parameters).ok() != Some(parameters.len()) {
        return Err(ApiError::invalid(format!(
            "template '{name}' ({language}) takes {} parameters, not {}",
            template.parameters,
            parameters.len()
        )));
    }
    Ok(())
}

/// An uploaded list's recipients in its order: each phone read (national ones in the
/// channel's or tenant's default country), matched to the contact that has it, once.
async fn listed(
    state: &AppState,
    broadcast: &Broadcast,
    channel: &Channel,
    phones: &[String],
) -> Result<Vec<Recipient>, ApiError> {
    if phones.is_empty() || phones.len() > MAX_LISTED_PHONES {
        return Err(ApiError::invalid(format!(
            "phones must hold 1 to {MAX_LISTED_PHONES} numbers"
        )));
    }
    let country = match channel
        .settings
        .get("default_country")
        .and_then(|c| c.as_str())
    {
        Some(country) => Some(country.to_owned()),
        None => state.store.default_country(broadcast.tenant_id).await?,
    };
    let handles = scan::handles(state.store.as_ref(), broadcast.tenant_id).await?;
    let mut seen = std::collections::HashSet::new();
    let mut recipients = Vec::with_capacity(phones.len());
    for (n, raw) in phones.iter().enumerate() {
        let phone = PhoneE164::parse_in(raw, country.as_deref())
            .map_err(|err| ApiError::invalid(format!("phones[{n}] '{raw}': {}", err.0)))?;
        if !seen.insert(phone.as_str().to_owned()) {
            continue;
        }
        let contact: Option<ContactId> = handles.get(phone.as_str()).copied();
        let position = i64::try_from(recipients.len()).unwrap_or(i64::MAX);
        let name = phone.as_str().to_owned();
        recipients.push(Recipient::queued(
            broadcast,
            position,
            contact,
            name.clone(),
            name,
        ));
    }
    Ok(recipients)
}

#[utoipa::path(
    get,
    path = "/api/v1/broadcasts",
    operation_id = "broadcasts.list",
    tag = "broadcasts",
    summary = "The latest broadcasts with their totals",
    responses((status = 200, description = "newest first, at most 100", body = Page<BroadcastView>))
)]
pub async fn list(
    state: web::Data<AppState>,
    auth: Authorized<SendBroadcasts>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.caller.tenant_id();
    let mut views = Vec::new();
    for broadcast in state.store.broadcasts(tenant, LISTED).await? {
        let totals = state.store.recipient_totals(tenant, broadcast.id).await?;
        views.push(broadcast.view(totals));
    }
    Ok(HttpResponse::Ok().json(Page::whole(views)))
}

#[utoipa::path(
    get,
    path = "/api/v1/broadcasts/{id}",
    operation_id = "broadcasts.get",
    tag = "broadcasts",
    summary = "One broadcast with its totals",
    params(("id" = Uuid, Path, description = "the broadcast's id")),
    responses((status = 200, description = "the broadcast", body = BroadcastView))
)]
pub async fn get(
    state: web::Data<AppState>,
    auth: Authorized<SendBroadcasts>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.caller.tenant_id();
    let broadcast = existing(&state, tenant, BroadcastId(*id)).await?;
    let totals = state.store.recipient_totals(tenant, broadcast.id).await?;
    Ok(HttpResponse::Ok().json(broadcast.view(totals)))
}

async fn existing(
    state: &AppState,
    tenant: TenantId,
    id: BroadcastId,
) -> Result<Broadcast, ApiError> {
    state
        .store
        .broadcast(tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found("broadcast"))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RecipientView {
    pub id: RecipientId,
    pub contact_id: Option<ContactId>,
    pub phone: String,
    pub name: String,
    pub status: RecipientStatus,
    /// The provider's reason for a failure, or why it was skipped.
    pub error: Option<String>,
    pub provider_id: Option<String>,
    pub conversation_id: Option<Uuid>,
    pub sent_at: Option<String>,
    pub replied_at: Option<String>,
    pub updated_at: String,
}

impl From<&Recipient> for RecipientView {
    fn from(r: &Recipient) -> Self {
        Self {
            id: r.id,
            contact_id: r.contact_id,
            phone: r.phone.clone(),
            name: r.name.clone(),
            status: r.status,
            error: r.error.clone(),
            provider_id: r.provider_id.clone(),
            conversation_id: r.conversation_id.map(|c| c.0),
            sent_at: r.sent_at.map(|at| at.to_rfc3339()),
            replied_at: r.replied_at.map(|at| at.to_rfc3339()),
            updated_at: r.updated_at.to_rfc3339(),
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RecipientsQuery {
    /// Only recipients in this status.
    status: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<i64>,
    /// At most 500 per page (a larger value gives 500); 100 when left out.
    #[param(minimum = 1, maximum = 500, default = 100)]
    limit: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/api/v1/broadcasts/{id}/recipients",
    operation_id = "broadcasts.recipients",
    tag = "broadcasts",
    summary = "A broadcast's recipients in send order, with what became of each",
    params(("id" = Uuid, Path, description = "the broadcast's id"), RecipientsQuery),
    responses((status = 200, description = "a page of recipients", body = Page<RecipientView>))
)]
pub async fn recipients(
    state: web::Data<AppState>,
    auth: Authorized<SendBroadcasts>,
    id: web::Path<Uuid>,
    query: Query<RecipientsQuery>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.caller.tenant_id();
    let broadcast = existing(&state, tenant, BroadcastId(*id)).await?;
    let status = query
        .status
        .as_deref()
        .map(RecipientStatus::parse)
        .transpose()?;
    let limit = query.limit.unwrap_or(100).clamp(1, 500);
    let page = state
        .store
        .recipients(tenant, broadcast.id, status, query.cursor, limit)
        .await?;
    let next_cursor = (page.len() == limit as usize)
        .then(|| page.last().map(|r| r.position.to_string()))
        .flatten();
    Ok(HttpResponse::Ok().json(Page {
        data: page.iter().map(RecipientView::from).collect(),
        next_cursor,
    }))
}

/// A person's change of a broadcast's status.
#[derive(Clone, Copy)]
enum Action {
    Pause,
    Resume,
    Cancel,
}

#[utoipa::path(
    post,
    path = "/api/v1/broadcasts/{id}/pause",
    operation_id = "broadcasts.pause",
    tag = "broadcasts",
    summary = "Pause a scheduled or running broadcast",
    description = "The run stops within a second; the recipient in flight finishes.",
    params(("id" = Uuid, Path, description = "the broadcast's id")),
    responses((status = 200, description = "the broadcast, paused", body = BroadcastView))
)]
pub async fn pause(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<SendBroadcasts>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    act(&state, &client, &auth, BroadcastId(*id), Action::Pause).await
}

#[utoipa::path(
    post,
    path = "/api/v1/broadcasts/{id}/resume",
    operation_id = "broadcasts.resume",
    tag = "broadcasts",
    summary = "Resume a paused broadcast where it stopped",
    params(("id" = Uuid, Path, description = "the broadcast's id")),
    responses((status = 200, description = "the broadcast, running again", body = BroadcastView))
)]
pub async fn resume(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<SendBroadcasts>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    act(&state, &client, &auth, BroadcastId(*id), Action::Resume).await
}

#[utoipa::path(
    post,
    path = "/api/v1/broadcasts/{id}/cancel",
    operation_id = "broadcasts.cancel",
    tag = "broadcasts",
    summary = "Cancel a broadcast: recipients not sent yet are skipped",
    params(("id" = Uuid, Path, description = "the broadcast's id")),
    responses((status = 200, description = "the broadcast, cancelled", body = BroadcastView))
)]
pub async fn cancel(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<SendBroadcasts>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    act(&state, &client, &auth, BroadcastId(*id), Action::Cancel).await
}

async fn act(
    state: &AppState,
    client: &ClientInfo,
    auth: &Authorized<SendBroadcasts>,
    id: BroadcastId,
    action: Action,
) -> Result<HttpResponse, ApiError> {
    use BroadcastStatus::*;
    let tenant = auth.caller.tenant_id();
    let current = existing(state, tenant, id).await?;
    let now = Millis::now();
    let (from, to, verb): (&[BroadcastStatus], _, _) = match action {
        Action::Pause => (&[Scheduled, Running], Paused, "pause"),
        // Before its time it waits for it again.
        Action::Resume if current.send_at.0 > now.0 => (&[Paused], Scheduled, "resume"),
        Action::Resume => (&[Paused], Running, "resume"),
        Action::Cancel => (&[Scheduled, Running, Paused], Cancelled, "cancel"),
    };
    let resumed = matches!(action, Action::Resume);
    let Some((mut changed, event)) = state
        .store
        .transition_broadcast(tenant, id, from, to, resumed, now)
        .await?
    else {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("a {} broadcast cannot {verb}", current.status.as_str()),
        ));
    };
    state.inbox.publish(tenant, vec![event]);
    if resumed {
        changed.send_at = Millis(changed.send_at.0.max(now.0));
        state.store.add_job(&sender::job(&changed), now).await?;
    }
    if matches!(action, Action::Cancel) {
        state
            .store
            .settle_recipients(
                tenant,
                id,
                RecipientStatus::Queued,
                RecipientStatus::Skipped,
                "cancelled",
                now,
            )
            .await?;
        // The event above counted them queued.
        state.broadcasts.moved(tenant, id);
    }
    let event = Event {
        tenant,
        actor: auth.caller.audit_actor(),
        action: match action {
            Action::Pause => "broadcast.pause",
            Action::Resume => "broadcast.resume",
            Action::Cancel => "broadcast.cancel",
        },
        target: Some(("broadcast", id.to_string())),
        details: json!({ "name": changed.name, "from": current.status.as_str() }),
    };
    audit::record(state.store.as_ref(), client, event).await;
    let totals = state.store.recipient_totals(tenant, id).await?;
    Ok(HttpResponse::Ok().json(changed.view(totals)))
}
