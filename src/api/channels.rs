//! Connected channels (admin): create, list, update, disable, delete, status; and
//! what the gateway keeps for admins: the webhook log and the dead letters.

use super::auth::display_name;
use super::broadcasts::MAX_RATE_PER_SECOND;
use super::conversations;
use super::views::Page;
use crate::audit::{self, Event};
use crate::auth::extract::{Authorized, Caller};
use crate::auth::opaque::random_text;
use crate::auth::permission::{ManageChannels, ReadInbox, WorkInbox};
use crate::auth::strength::channel_secret_problem;
use crate::broadcasts::sender::{DAILY_LIMIT_SETTING, RATE_SETTING};
use crate::channels::credentials::Credentials;
use crate::channels::templates::{BUSINESS_ACCOUNT_SETTING, SyncError};
use crate::error::{ApiError, ErrorCode};
use crate::http::client::ClientInfo;
use crate::http::json::{Json, Query};
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use switchboard_actors::channel::store::DeadLetterKey;
use switchboard_actors::channel::templates::MessageTemplate;
use switchboard_actors::channel::{
    Channel, ChannelKind, ChannelState, DeadLetter, WebhookLogEntry,
};
use switchboard_actors::inbox::outbound::Delivery;
use switchboard_actors::inbox::views::MessageView;
use switchboard_actors::session::Ending;
use switchboard_actors::{ChannelId, DeadLetterId, MessageId, Millis, country_code};
use uuid::Uuid;

pub(super) const MAX_SECRET_CHARS: usize = 1024;
pub(super) const MAX_ACCOUNT_CHARS: usize = 64;
const LIST_LIMIT: u32 = 200;

#[derive(Serialize, utoipa::ToSchema)]
pub struct ChannelView {
    id: String,
    kind: &'static str,
    name: String,
    account_id: String,
    state: &'static str,
    settings: Map<String, Value>,
    /// Where to point the provider's webhooks, and the token its handshake echoes
    /// (none for a WhatsApp Web channel: its session brings its messages).
    webhook: Option<WebhookSetup>,
    /// `ok`, or `unreadable` when the stored credentials cannot be opened (another
    /// credentials key, a damaged row): the channel cannot work until they are set
    /// again with `PATCH`.
    credentials: &'static str,
    created_at: String,
    updated_at: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct WebhookSetup {
    path: String,
    /// Absent when the credentials cannot be opened.
    verify_token: Option<String>,
}

impl ChannelView {
    fn new(channel: &Channel, credentials: Option<&Credentials>) -> Self {
        Self {
            id: channel.id.to_string(),
            kind: channel.kind.as_str(),
            name: channel.name.clone(),
            account_id: channel.account_id.clone(),
            state: channel.state.as_str(),
            settings: channel.settings.clone(),
            webhook: (channel.kind != ChannelKind::WhatsAppWeb).then(|| WebhookSetup {
                path: format!("/webhooks/meta/{}", channel.id),
                verify_token: credentials.map(|c| c.verify_token.clone()),
            }),
            credentials: if credentials.is_some() {
                "ok"
            } else {
                "unreadable"
            },
            created_at: channel.created_at.to_rfc3339(),
            updated_at: channel.updated_at.to_rfc3339(),
        }
    }
}

/// A channel as admins see it. Credentials that cannot be opened show as such: one
/// broken row must not hide the others (or the way to repair it).
fn view(state: &AppState, channel: &Channel) -> ChannelView {
    match state.channels.credentials(channel) {
        Ok(credentials) => ChannelView::new(channel, Some(&credentials)),
        Err(reason) => {
            tracing::warn!(channel = %channel.id, %reason, "cannot open a channel's credentials");
            ChannelView::new(channel, None)
        }
    }
}

fn secret(raw: &str, field: &str) -> Result<String, ApiError> {
    let value = raw.trim();
    if value.is_empty() || value.chars().count() > MAX_SECRET_CHARS {
        return Err(ApiError::invalid(format!(
            "{field} must have 1 to {MAX_SECRET_CHARS} characters"
        )));
    }
    Ok(value.to_owned())
}

/// An app secret or verify token: whoever guesses one can sign webhooks (or pass the
/// handshake) as the provider, so each needs some strength (`auth::strength`).
fn strong_secret(raw: &str, field: &str) -> Result<String, ApiError> {
    let value = secret(raw, field)?;
    match channel_secret_problem(&value) {
        Some(problem) => Err(ApiError::invalid(format!("{field} {problem}"))),
        None => Ok(value),
    }
}

/// The largest daily limit a channel may set (WhatsApp's highest tier is unlimited;
/// this is far above what one number sends in a day).
const MAX_DAILY_LIMIT: u64 = 10_000_000;

/// Settings the gateway reads; anything else is refused so a typo is not ignored.
fn settings(mut raw: Map<String, Value>) -> Result<Map<String, Value>, ApiError> {
    for (key, value) in raw.iter_mut() {
        match key.as_str() {
            "default_country" => {
                let code = value.as_str().ok_or_else(|| {
                    ApiError::invalid(
                        "settings.default_country must be a two-letter country code such as DE",
                    )
                })?;
                *value = Value::String(country_code(code)?);
            }
            BUSINESS_ACCOUNT_SETTING => {
                let id = value.as_str().filter(|id| {
                    !id.is_empty() && id.len() <= 32 && id.chars().all(|c| c.is_ascii_digit())
                });
                if id.is_none() {
                    return Err(ApiError::invalid(
                        "settings.business_account_id must be the WhatsApp Business Account's numeric id",
                    ));
                }
            }
            DAILY_LIMIT_SETTING => {
                if !value
                    .as_u64()
                    .is_some_and(|n| (1..=MAX_DAILY_LIMIT).contains(&n))
                {
                    return Err(ApiError::invalid(format!(
                        "settings.{DAILY_LIMIT_SETTING} must be 1 to {MAX_DAILY_LIMIT} broadcast messages per 24 hours (the number's messaging limit)"
                    )));
                }
            }
            RATE_SETTING => {
                if !value
                    .as_u64()
                    .is_some_and(|n| (1..=u64::from(MAX_RATE_PER_SECOND)).contains(&n))
                {
                    return Err(ApiError::invalid(format!(
                        "settings.{RATE_SETTING} must be 1 to {MAX_RATE_PER_SECOND} sends per second"
                    )));
                }
            }
            other => {
                return Err(ApiError::invalid(format!(
                    "unknown setting '{other}' (known: default_country, {BUSINESS_ACCOUNT_SETTING}, {DAILY_LIMIT_SETTING}, {RATE_SETTING})"
                )));
            }
        }
    }
    Ok(raw)
}

/// How the tenant's channels read national phone numbers.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ChannelDefaults {
    /// ISO 3166 alpha-2, such as `DE`; null when not set.
    default_country: Option<String>,
}

/// The tenant's gateway defaults: `{"default_country": "DE"}` (or `null`).
#[utoipa::path(
    get,
    path = "/api/v1/channel-settings",
    operation_id = "channels.tenant_settings",
    tag = "channels",
    summary = "How national phone numbers are read",
    responses((status = 200, description = "the default country, or null", body = ChannelDefaults))
)]
pub async fn tenant_settings(
    state: web::Data<AppState>,
    auth: Authorized<ManageChannels>,
) -> Result<HttpResponse, ApiError> {
    let country = state.store.default_country(auth.caller.tenant_id()).await?;
    Ok(HttpResponse::Ok().json(ChannelDefaults {
        default_country: country,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantSettingsRequest {
    default_country: Option<String>,
}

#[utoipa::path(
    put,
    path = "/api/v1/channel-settings",
    operation_id = "channels.set_tenant_settings",
    tag = "channels",
    summary = "Set the default country",
    request_body = TenantSettingsRequest,
    responses((status = 200, description = "the default country, or null", body = ChannelDefaults))
)]
pub async fn set_tenant_settings(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ManageChannels>,
    body: Json<TenantSettingsRequest>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.caller.tenant_id();
    let country = body
        .default_country
        .as_deref()
        .map(country_code)
        .transpose()?;
    state
        .store
        .set_default_country(tenant, country.as_deref())
        .await?;
    let event = Event {
        tenant,
        actor: auth.caller.audit_actor(),
        action: "tenant.settings",
        target: None,
        details: json!({ "default_country": country }),
    };
    audit::record(state.store.as_ref(), &client, event).await;
    Ok(HttpResponse::Ok().json(ChannelDefaults {
        default_country: country,
    }))
}

#[utoipa::path(
    get,
    path = "/api/v1/channels",
    operation_id = "channels.list",
    tag = "channels",
    summary = "Connected channels",
    responses((status = 200, description = "every channel of the tenant", body = Page<ChannelView>))
)]
pub async fn list(
    state: web::Data<AppState>,
    auth: Authorized<ManageChannels>,
) -> Result<HttpResponse, ApiError> {
    let channels = state.store.channels(auth.caller.tenant_id()).await?;
    let data: Vec<ChannelView> = channels.iter().map(|c| view(&state, c)).collect();
    Ok(HttpResponse::Ok().json(Page::whole(data)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewChannel)]
pub struct CreateRequest {
    kind: ChannelKind,
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    /// The provider's account id; a WhatsApp Web channel has none before pairing.
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_-]+$")]
    account_id: Option<String>,
    /// Required for the Meta kinds; a WhatsApp Web channel has no provider secrets.
    #[schema(min_length = 1, max_length = 1024)]
    access_token: Option<String>,
    #[schema(min_length = 16, max_length = 1024)]
    app_secret: Option<String>,
    /// Absent: a random one is made.
    #[schema(min_length = 16, max_length = 1024)]
    verify_token: Option<String>,
    #[serde(default)]
    settings: Map<String, Value>,
}

#[utoipa::path(
    post,
    path = "/api/v1/channels",
    operation_id = "channels.create",
    tag = "channels",
    summary = "Connect a channel",
    request_body = CreateRequest,
    responses((status = 201, description = "the channel", body = ChannelView))
)]
pub async fn create(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ManageChannels>,
    body: Json<CreateRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let id = ChannelId::new();
    let (account_id, credentials) = if body.kind == ChannelKind::WhatsAppWeb {
        if body.access_token.is_some() || body.app_secret.is_some() || body.verify_token.is_some() {
            return Err(ApiError::invalid(
                "a whatsapp_web channel takes no access_token, app_secret or verify_token: it logs in by QR code or pairing code",
            ));
        }
        let credentials = Credentials {
            access_token: String::new(),
            app_secret: String::new(),
            verify_token: String::new(),
        };
        (id.0.simple().to_string(), credentials)
    } else {
        let account_id = body.account_id.as_deref().unwrap_or_default().trim();
        let account_ok = !account_id.is_empty()
            && account_id.len() <= MAX_ACCOUNT_CHARS
            && account_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !account_ok {
            return Err(ApiError::invalid(format!(
                "account_id must be the provider's id (1 to {MAX_ACCOUNT_CHARS} letters, digits, '_' or '-')"
            )));
        }
        let verify_token = match &body.verify_token {
            Some(token) => strong_secret(token, "verify_token")?,
            None => random_text().map_err(ApiError::internal)?,
        };
        let required = |value: &Option<String>, field: &str| {
            value
                .as_deref()
                .ok_or_else(|| {
                    ApiError::invalid(format!(
                        "{field} is required for a {} channel",
                        body.kind.as_str()
                    ))
                })
                .map(str::to_owned)
        };
        let credentials = Credentials {
            access_token: secret(
                &required(&body.access_token, "access_token")?,
                "access_token",
            )?,
            app_secret: strong_secret(&required(&body.app_secret, "app_secret")?, "app_secret")?,
            verify_token,
        };
        (account_id.to_owned(), credentials)
    };
    let now = Millis::now();
    let channel = Channel {
        tenant_id: auth.caller.tenant_id(),
        id,
        kind: body.kind,
        name: display_name(&body.name, "name")?,
        account_id,
        state: ChannelState::Active,
        settings: settings(body.settings)?,
        sealed_credentials: state
            .channels
            .sealer()
            .seal(id, &credentials)
            .map_err(ApiError::internal)?,
        last_inbound_at: None,
        last_error: None,
        last_error_at: None,
        created_at: now,
        updated_at: now,
    };
    state.store.create_channel(&channel).await?;
    // A webhook that came for this id before it existed must not keep it unknown here.
    state.channels.forget(channel.id);
    schedule_template_sync(&state, &channel).await?;
    if channel.kind == ChannelKind::WhatsAppWeb {
        // The session starts at once: its QR code reaches admins as it comes.
        state.sessions.create(channel.tenant_id, channel.id).await?;
    }
    let event = Event {
        tenant: channel.tenant_id,
        actor: auth.caller.audit_actor(),
        action: "channel.create",
        target: Some(("channel", channel.id.to_string())),
        details: json!({"kind": channel.kind.as_str(), "account_id": channel.account_id}),
    };
    audit::record(state.store.as_ref(), &client, event).await;
    Ok(HttpResponse::Created().json(ChannelView::new(&channel, Some(&credentials))))
}

async fn find(
    state: &AppState,
    auth: &Authorized<ManageChannels>,
    id: Uuid,
) -> Result<Channel, ApiError> {
    state
        .store
        .channel(auth.caller.tenant_id(), ChannelId(id))
        .await?
        .ok_or_else(|| ApiError::not_found("channel"))
}

#[utoipa::path(
    get,
    path = "/api/v1/channels/{id}",
    operation_id = "channels.get",
    tag = "channels",
    summary = "One channel",
    params(("id" = Uuid, Path, description = "the channel's id")),
    responses((status = 200, description = "the channel", body = ChannelView))
)]
pub async fn get(
    state: web::Data<AppState>,
    auth: Authorized<ManageChannels>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let channel = find(&state, &auth, *id).await?;
    Ok(HttpResponse::Ok().json(view(&state, &channel)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ChannelChange)]
pub struct UpdateRequest {
    #[schema(min_length = 1, max_length = 200)]
    name: Option<String>,
    state: Option<ChannelState>,
    settings: Option<Map<String, Value>>,
    #[schema(min_length = 1, max_length = 1024)]
    access_token: Option<String>,
    #[schema(min_length = 16, max_length = 1024)]
    app_secret: Option<String>,
    #[schema(min_length = 16, max_length = 1024)]
    verify_token: Option<String>,
}

#[utoipa::path(
    patch,
    path = "/api/v1/channels/{id}",
    operation_id = "channels.update",
    tag = "channels",
    summary = "Change a channel",
    params(("id" = Uuid, Path, description = "the channel's id")),
    request_body = UpdateRequest,
    responses((status = 200, description = "the channel as changed", body = ChannelView))
)]
pub async fn update(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ManageChannels>,
    id: web::Path<Uuid>,
    body: Json<UpdateRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut channel = find(&state, &auth, *id).await?;
    let mut credentials = match state.channels.credentials(&channel) {
        Ok(credentials) => credentials,
        // Unreadable credentials are repaired by sending all of them again.
        Err(_)
            if body.access_token.is_some()
                && body.app_secret.is_some()
                && body.verify_token.is_some() =>
        {
            Credentials {
                access_token: String::new(),
                app_secret: String::new(),
                verify_token: String::new(),
            }
        }
        Err(reason) => {
            tracing::warn!(channel = %channel.id, %reason, "cannot open a channel's credentials");
            return Err(ApiError::invalid(
                "the stored credentials cannot be opened (another credentials key?); send access_token, app_secret and verify_token to replace them",
            ));
        }
    };
    let mut changed = Vec::new();
    if let Some(name) = &body.name {
        channel.name = display_name(name, "name")?;
        changed.push("name");
    }
    if let Some(new_state) = body.state {
        channel.state = new_state;
        changed.push("state");
    }
    if let Some(raw) = body.settings {
        channel.settings = settings(raw)?;
        changed.push("settings");
    }
    let secrets = [
        (
            &body.access_token,
            &mut credentials.access_token,
            "access_token",
        ),
        (&body.app_secret, &mut credentials.app_secret, "app_secret"),
        (
            &body.verify_token,
            &mut credentials.verify_token,
            "verify_token",
        ),
    ];
    for (new, current, field) in secrets {
        if let Some(new) = new {
            *current = if field == "access_token" {
                secret(new, field)?
            } else {
                strong_secret(new, field)?
            };
            changed.push(field);
        }
    }
    channel.sealed_credentials = state
        .channels
        .sealer()
        .seal(channel.id, &credentials)
        .map_err(ApiError::internal)?;
    channel.updated_at = Millis::now();
    if !state.store.update_channel(&channel).await? {
        return Err(ApiError::not_found("channel"));
    }
    state.channels.forget(channel.id);
    if changed.contains(&"settings") {
        schedule_template_sync(&state, &channel).await?;
    }
    if channel.kind == ChannelKind::WhatsAppWeb && body.state.is_some() {
        match channel.state {
            ChannelState::Disabled => {
                state
                    .sessions
                    .retire(
                        channel.id,
                        Ending::Stopped("the channel was disabled".into()),
                    )
                    .await;
            }
            ChannelState::Active => {
                state
                    .sessions
                    .restart(channel.tenant_id, channel.id, auth.caller.user_id())
                    .await?;
            }
        }
    }
    let event = Event {
        tenant: channel.tenant_id,
        actor: auth.caller.audit_actor(),
        action: "channel.update",
        target: Some(("channel", channel.id.to_string())),
        // Names of the changed fields only: never the secrets.
        details: json!({"changed": changed, "state": channel.state.as_str()}),
    };
    audit::record(state.store.as_ref(), &client, event).await;
    Ok(HttpResponse::Ok().json(ChannelView::new(&channel, Some(&credentials))))
}

#[utoipa::path(
    delete,
    path = "/api/v1/channels/{id}",
    operation_id = "channels.delete",
    tag = "channels",
    summary = "Disconnect a channel",
    params(("id" = Uuid, Path, description = "the channel's id")),
    responses((status = 204, description = "deleted"))
)]
pub async fn delete(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ManageChannels>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.caller.tenant_id();
    // The client goes first, so nothing writes the session's keys after they are gone.
    state.sessions.retire(ChannelId(*id), Ending::Silent).await;
    if !state.store.delete_channel(tenant, ChannelId(*id)).await? {
        return Err(ApiError::not_found("channel"));
    }
    state.gateway.retire(ChannelId(*id));
    let event = Event {
        tenant,
        actor: auth.caller.audit_actor(),
        action: "channel.delete",
        target: Some(("channel", id.to_string())),
        details: json!({}),
    };
    audit::record(state.store.as_ref(), &client, event).await;
    Ok(HttpResponse::NoContent().finish())
}

/// Health at a glance: `ok`, `disabled`, `circuit_open` (the provider keeps failing
/// and sends are paused) or `failing` (the newest call failed).
#[utoipa::path(
    get,
    path = "/api/v1/channels/{id}/status",
    operation_id = "channels.status",
    tag = "channels",
    summary = "A channel's health",
    params(("id" = Uuid, Path, description = "the channel's id")),
    responses((status = 200, description = "queue, breaker and last error", body = Object))
)]
pub async fn status(
    state: web::Data<AppState>,
    auth: Authorized<ManageChannels>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let channel = find(&state, &auth, *id).await?;
    let worker = state.gateway.health(channel.id);
    let readable = state.channels.credentials(&channel).is_ok();
    let health = if channel.state == ChannelState::Disabled {
        "disabled"
    } else if !readable {
        "credentials_unreadable"
    } else if worker.circuit != "closed" {
        "circuit_open"
    } else if channel.last_error_at.is_some() && channel.last_error_at >= channel.last_inbound_at {
        "failing"
    } else {
        "ok"
    };
    let dead_letters = state
        .store
        .dead_letters(channel.tenant_id, true, LIST_LIMIT)
        .await?
        .iter()
        .filter(|d| d.channel_id == channel.id)
        .count();
    Ok(HttpResponse::Ok().json(json!({
        "id": channel.id.to_string(),
        "state": channel.state.as_str(),
        "health": health,
        "credentials": if readable { "ok" } else { "unreadable" },
        "circuit": worker.circuit,
        "queued": worker.queued,
        "pending_dead_letters": dead_letters,
        "last_inbound_at": channel.last_inbound_at.map(Millis::to_rfc3339),
        "last_error": channel.last_error,
        "last_error_at": channel.last_error_at.map(Millis::to_rfc3339),
    })))
}

#[derive(Serialize, utoipa::ToSchema)]
struct WebhookLogView {
    id: String,
    channel_id: String,
    error: String,
    body: String,
    received_at: String,
}

impl From<&WebhookLogEntry> for WebhookLogView {
    fn from(e: &WebhookLogEntry) -> Self {
        Self {
            id: e.id.to_string(),
            channel_id: e.channel_id.to_string(),
            error: e.error.clone(),
            body: e.body.clone(),
            received_at: e.received_at.to_rfc3339(),
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/webhook-log",
    operation_id = "channels.webhook_log",
    tag = "channels",
    summary = "Provider webhooks that could not be used",
    responses((status = 200, description = "newest first", body = Page<WebhookLogView>))
)]
pub async fn webhook_log(
    state: web::Data<AppState>,
    auth: Authorized<ManageChannels>,
) -> Result<HttpResponse, ApiError> {
    let entries = state
        .store
        .webhook_log(auth.caller.tenant_id(), LIST_LIMIT)
        .await?;
    Ok(HttpResponse::Ok().json(Page::whole(
        entries.iter().map(WebhookLogView::from).collect(),
    )))
}

#[derive(Serialize, utoipa::ToSchema)]
struct DeadLetterView {
    id: String,
    channel_id: String,
    conversation_id: String,
    message_id: String,
    error: String,
    attempts: u32,
    created_at: String,
    retried_at: Option<String>,
}

impl From<&DeadLetter> for DeadLetterView {
    fn from(d: &DeadLetter) -> Self {
        Self {
            id: d.id.to_string(),
            channel_id: d.channel_id.to_string(),
            conversation_id: d.conversation_id.to_string(),
            message_id: d.message_id.to_string(),
            error: d.error.clone(),
            attempts: d.attempts,
            created_at: d.created_at.to_rfc3339(),
            retried_at: d.retried_at.map(Millis::to_rfc3339),
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterQuery {
    /// `true`: only those not sent again yet.
    #[serde(default)]
    pending: bool,
}

#[utoipa::path(
    get,
    path = "/api/v1/dead-letters",
    operation_id = "channels.dead_letters",
    tag = "channels",
    summary = "Replies that could not be delivered",
    params(DeadLetterQuery),
    responses((status = 200, description = "newest first", body = Page<DeadLetterView>))
)]
pub async fn dead_letters(
    state: web::Data<AppState>,
    auth: Authorized<ManageChannels>,
    query: Query<DeadLetterQuery>,
) -> Result<HttpResponse, ApiError> {
    let letters = state
        .store
        .dead_letters(auth.caller.tenant_id(), query.pending, LIST_LIMIT)
        .await?;
    Ok(HttpResponse::Ok().json(Page::whole(
        letters.iter().map(DeadLetterView::from).collect(),
    )))
}

/// Sends a dead letter's reply again: it goes back to `pending` (live on the
/// sockets) and into its channel's queue.
#[utoipa::path(
    post,
    path = "/api/v1/dead-letters/{id}/retry",
    operation_id = "channels.retry_dead_letter",
    tag = "channels",
    summary = "Send a dead letter again",
    params(("id" = Uuid, Path, description = "the dead letter's id")),
    responses((status = 202, description = "the reply, `pending` again", body = MessageView))
)]
pub async fn retry_dead_letter(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ManageChannels>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let key = DeadLetterKey::Letter(DeadLetterId(*id));
    requeue(&state, &client, &auth.caller, key).await
}

/// The retry action on a failed reply in the thread: an agent sends it again.
#[utoipa::path(
    post,
    path = "/api/v1/messages/{id}/retry",
    operation_id = "messages.retry_message",
    tag = "messages",
    summary = "Send a failed reply again",
    params(("id" = Uuid, Path, description = "the message's id")),
    responses((status = 202, description = "the reply, `pending` again", body = MessageView))
)]
pub async fn retry_message(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<WorkInbox>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let key = DeadLetterKey::Message(MessageId(*id));
    requeue(&state, &client, &auth.caller, key).await
}

async fn requeue(
    state: &AppState,
    client: &ClientInfo,
    caller: &Caller,
    key: DeadLetterKey,
) -> Result<HttpResponse, ApiError> {
    let tenant = caller.tenant_id();
    let requeued = state
        .store
        .requeue_dead_letter(tenant, key, Millis::now())
        .await?
        .ok_or_else(|| ApiError::not_found("failed reply not yet retried"))?;
    state.inbox.publish(tenant, requeued.events.clone());
    let conversation =
        conversations::existing(state, tenant, requeued.message.conversation_id).await?;
    state.inbox.outbound().dispatch(Delivery {
        tenant,
        channel: conversation.channel,
        conversation: conversation.id,
        message: requeued.message.clone(),
    });
    let event = Event {
        tenant,
        actor: caller.audit_actor(),
        action: "dead_letter.retry",
        target: Some(("message", requeued.message.id.to_string())),
        details: json!({"dead_letter": requeued.dead_letter.id.to_string()}),
    };
    audit::record(state.store.as_ref(), client, event).await;
    Ok(HttpResponse::Accepted().json(MessageView::from(&requeued.message)))
}

/// A WhatsApp channel that names its business account has its templates synced at
/// once, then on the schedule.
async fn schedule_template_sync(state: &AppState, channel: &Channel) -> Result<(), ApiError> {
    if channel.kind == ChannelKind::WhatsApp
        && channel.settings.contains_key(BUSINESS_ACCOUNT_SETTING)
    {
        state
            .templates
            .schedule_now(channel.tenant_id, channel.id)
            .await?;
    }
    Ok(())
}

/// A message template as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TemplateView {
    name: String,
    language: String,
    category: String,
    /// WhatsApp's review status, lower-cased: only `approved` templates can be sent.
    status: String,
    /// The body's text with its `{{n}}` placeholders.
    body: Option<String>,
    /// How many parameters a send gives the body.
    parameters: u32,
    /// Header, body, footer and buttons as WhatsApp describes them.
    #[schema(value_type = Vec<Object>)]
    components: Value,
    rejected_reason: Option<String>,
    synced_at: String,
}

impl From<&MessageTemplate> for TemplateView {
    fn from(t: &MessageTemplate) -> Self {
        Self {
            name: t.name.clone(),
            language: t.language.clone(),
            category: t.category.clone(),
            status: t.status.clone(),
            body: t.body().map(str::to_owned),
            parameters: t.parameters,
            components: t.components.clone(),
            rejected_reason: t.rejected_reason.clone(),
            synced_at: t.synced_at.to_rfc3339(),
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/channels/{id}/templates",
    operation_id = "channels.templates",
    tag = "channels",
    summary = "A WhatsApp channel's message templates, as last synced",
    params(("id" = Uuid, Path, description = "the channel's id")),
    responses((status = 200, description = "by name and language", body = Page<TemplateView>))
)]
pub async fn templates(
    state: web::Data<AppState>,
    auth: Authorized<ReadInbox>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.caller.tenant_id();
    if state.store.channel(tenant, ChannelId(*id)).await?.is_none() {
        return Err(ApiError::not_found("channel"));
    }
    let kept = state.store.templates(tenant, ChannelId(*id)).await?;
    Ok(HttpResponse::Ok().json(Page::whole(kept.iter().map(TemplateView::from).collect())))
}

#[utoipa::path(
    post,
    path = "/api/v1/channels/{id}/templates/sync",
    operation_id = "channels.sync_templates",
    tag = "channels",
    summary = "Sync a WhatsApp channel's message templates now",
    description = "Lists the templates of the channel's WhatsApp Business Account \
        (`settings.business_account_id`) and replaces those kept.",
    params(("id" = Uuid, Path, description = "the channel's id")),
    responses((status = 200, description = "the templates as synced", body = Page<TemplateView>))
)]
pub async fn sync_templates(
    state: web::Data<AppState>,
    auth: Authorized<ManageChannels>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let synced = state
        .templates
        .sync(auth.caller.tenant_id(), ChannelId(*id))
        .await
        .map_err(|err| match err {
            SyncError::NoChannel => ApiError::not_found("channel"),
            SyncError::NotSyncable(why) => ApiError::invalid(why),
            SyncError::Graph(err) => ApiError::new(
                ErrorCode::ProviderUnavailable,
                format!("WhatsApp did not list the templates: {err}"),
            ),
            SyncError::Credentials(err) => ApiError::internal(err),
            SyncError::Store(err) => err.into(),
        })?;
    Ok(HttpResponse::Ok().json(Page::whole(synced.iter().map(TemplateView::from).collect())))
}
