//! Outbound webhook endpoints over REST: admins add them (the `whsec_` secret is
//! shown once), change, switch on and off, rotate the secret and delete them
//! (audited); read each endpoint's delivery log with every attempt; redeliver one
//! message, replay everything since a time, and send a test event.

use super::views::Page;
use crate::audit::{self, Event};
use crate::auth::extract::Authorized;
use crate::auth::permission::ManageWebhooks;
use crate::error::{ApiError, ErrorCode};
use crate::http::client::ClientInfo;
use crate::http::guarded::FetchError;
use crate::http::json::{Json, Query};
use crate::outbound_webhooks::{seal_secret, signature};
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;
use switchboard_actors::jobs::Added;
use switchboard_actors::webhooks::catalog::{TEST_EVENT, check_types, event_types, test_payload};
use switchboard_actors::webhooks::fanout::{ReplayPayload, delivery_job, enqueue, replay_job};
use switchboard_actors::webhooks::{
    Delivery, DeliveryState, Endpoint, NewDelivery, SealedSecrets, webhook_id,
};
use switchboard_actors::{DeliveryId, EndpointId, JobId, Millis};
use uuid::Uuid;

/// The longest endpoint URL and description.
pub(super) const MAX_URL_CHARS: usize = 2_048;
pub(super) const MAX_DESCRIPTION_CHARS: usize = 500;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEndpoint {
    #[schema(min_length = 1, max_length = 2048)]
    url: String,
    event_types: Vec<String>,
    #[serde(default)]
    #[schema(max_length = 500)]
    description: String,
    #[serde(default = "enabled_by_default")]
    enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointChange {
    #[schema(min_length = 1, max_length = 2048)]
    url: Option<String>,
    event_types: Option<Vec<String>>,
    #[schema(max_length = 500)]
    description: Option<String>,
    enabled: Option<bool>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct EventTypes {
    data: Vec<&'static str>,
    /// What the test button sends, whatever an endpoint asked for.
    test_event: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RotatedSecret {
    secret: String,
    /// Until then deliveries are signed with the old secret too; null when
    /// `webhooks.previous_secret_hours` is 0.
    previous_valid_until: Option<String>,
}

/// A replay job and the stream offsets it covers: after the first, up to the second.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReplayQueued {
    job_id: JobId,
    after_offset: i64,
    until_offset: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct EndpointView {
    id: EndpointId,
    url: String,
    description: String,
    event_types: Vec<String>,
    enabled: bool,
    /// Why the server switched it off, when it did.
    disabled_reason: Option<String>,
    /// When the run of failed attempts it is in began.
    failing_since: Option<String>,
    created_at: String,
    updated_at: String,
    /// The signing secret: only in the answer that adds the endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

fn endpoint_view(e: &Endpoint) -> EndpointView {
    EndpointView {
        id: e.id,
        url: e.url.clone(),
        description: e.description.clone(),
        event_types: e.event_types.clone(),
        enabled: e.enabled,
        disabled_reason: e.disabled_reason.clone(),
        failing_since: e.failing_since.map(|m| m.to_rfc3339()),
        created_at: e.created_at.to_rfc3339(),
        updated_at: e.updated_at.to_rfc3339(),
        secret: None,
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    id: DeliveryId,
    /// The `webhook-id` header of every attempt.
    webhook_id: String,
    endpoint_id: EndpointId,
    event_type: String,
    status: DeliveryState,
    /// Attempts made, over every redelivery.
    attempts: u32,
    next_attempt_at: Option<String>,
    /// The last attempt's answer: its status, its time and the first KiB of its body.
    response_status: Option<u16>,
    latency_ms: Option<u64>,
    response_body: Option<String>,
    error: Option<String>,
    created_at: String,
    updated_at: String,
    delivered_at: Option<String>,
}

fn delivery_view(d: &Delivery) -> DeliveryView {
    DeliveryView {
        id: d.id,
        webhook_id: webhook_id(d.id),
        endpoint_id: d.endpoint_id,
        event_type: d.event_type.clone(),
        status: d.status,
        attempts: d.attempts,
        next_attempt_at: d.next_attempt_at.map(|m| m.to_rfc3339()),
        response_status: d.response_status,
        latency_ms: d.latency_ms,
        response_body: d.response_body.clone(),
        error: d.error.clone(),
        created_at: d.created_at.to_rfc3339(),
        updated_at: d.updated_at.to_rfc3339(),
        delivered_at: d.delivered_at.map(|m| m.to_rfc3339()),
    }
}

/// One delivery with the body it posts and every attempt.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DeliveryDetail {
    #[serde(flatten)]
    delivery: DeliveryView,
    /// The body, as posted.
    payload: Value,
    attempts_log: Vec<AttemptView>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AttemptView {
    attempt: u32,
    at: String,
    response_status: Option<u16>,
    latency_ms: u64,
    response_body: Option<String>,
    error: Option<String>,
}

/// A URL the guarded client would post to now; its refusal said as the client's
/// error.
async fn checked_url(state: &AppState, raw: &str) -> Result<String, ApiError> {
    let url = raw.trim();
    if url.is_empty() || url.chars().count() > MAX_URL_CHARS {
        return Err(ApiError::invalid(format!(
            "url must be 1 to {MAX_URL_CHARS} characters"
        )));
    }
    match state.webhook_client.vet(url).await {
        Ok(()) => Ok(url.to_owned()),
        Err(FetchError::Refused(why)) => Err(ApiError::invalid(format!("url is refused: {why}"))),
        Err(err) => Err(ApiError::invalid(format!("url cannot be reached: {err}"))),
    }
}

fn checked_description(raw: &str) -> Result<String, ApiError> {
    let description = raw.trim();
    if description.chars().count() > MAX_DESCRIPTION_CHARS || description.contains('\0') {
        return Err(ApiError::invalid(format!(
            "description must be at most {MAX_DESCRIPTION_CHARS} characters"
        )));
    }
    Ok(description.to_owned())
}

fn checked_types(raw: &[String]) -> Result<Vec<String>, ApiError> {
    check_types(raw).map_err(|err| ApiError::invalid(format!("event_types: {err}")))
}

/// A new secret, and its sealed form bound to the endpoint.
fn new_secret(state: &AppState, endpoint: EndpointId) -> Result<(String, Vec<u8>), ApiError> {
    let secret = signature::generate_secret()
        .map_err(|err| ApiError::internal(format!("cannot draw a secret: {err}")))?;
    let sealed = seal_secret(state.channels.sealer(), endpoint, &secret)
        .map_err(|err| ApiError::internal(format!("cannot seal a secret: {err}")))?;
    Ok((secret, sealed))
}

async fn found(
    state: &AppState,
    auth: &Authorized<ManageWebhooks>,
    id: Uuid,
) -> Result<Endpoint, ApiError> {
    state
        .store
        .endpoint(auth.caller.tenant_id(), EndpointId(id))
        .await?
        .ok_or_else(|| ApiError::not_found("webhook endpoint"))
}

/// The endpoint, when it is on: what sends to it (`for_what`) is refused otherwise.
fn switched_on(endpoint: Endpoint, for_what: &str) -> Result<Endpoint, ApiError> {
    if endpoint.enabled {
        return Ok(endpoint);
    }
    Err(ApiError::new(
        ErrorCode::Conflict,
        format!("the endpoint is switched off; switch it on {for_what}"),
    ))
}

async fn audit_endpoint(
    state: &AppState,
    client: &ClientInfo,
    auth: &Authorized<ManageWebhooks>,
    action: &'static str,
    endpoint: &Endpoint,
    details: Value,
) {
    let event = Event {
        tenant: auth.caller.tenant_id(),
        actor: auth.caller.audit_actor(),
        action,
        target: Some(("webhook_endpoint", endpoint.id.to_string())),
        details,
    };
    audit::record(state.store.as_ref(), client, event).await;
}

/// The event types an endpoint may ask for.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/event-types",
    operation_id = "webhooks.types",
    tag = "webhooks",
    summary = "The event types an endpoint can want",
    responses((status = 200, description = "the event types, and the type of the test event", body = EventTypes))
)]
pub async fn types(_auth: Authorized<ManageWebhooks>) -> HttpResponse {
    HttpResponse::Ok().json(EventTypes {
        data: event_types(),
        test_event: TEST_EVENT,
    })
}

#[utoipa::path(
    get,
    path = "/api/v1/webhooks",
    operation_id = "webhooks.list",
    tag = "webhooks",
    summary = "Webhook endpoints",
    responses((status = 200, description = "every endpoint of the tenant", body = Page<EndpointView>))
)]
pub async fn list(
    state: web::Data<AppState>,
    auth: Authorized<ManageWebhooks>,
) -> Result<HttpResponse, ApiError> {
    let endpoints = state.store.endpoints(auth.caller.tenant_id()).await?;
    Ok(HttpResponse::Ok().json(Page::whole(endpoints.iter().map(endpoint_view).collect())))
}

#[utoipa::path(
    post,
    path = "/api/v1/webhooks",
    operation_id = "webhooks.create",
    tag = "webhooks",
    summary = "Add an endpoint",
    request_body = NewEndpoint,
    responses((status = 201, description = "the endpoint, with its `secret` shown once", body = EndpointView))
)]
pub async fn create(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ManageWebhooks>,
    body: Json<NewEndpoint>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let tenant = auth.caller.tenant_id();
    let event_types = checked_types(&body.event_types)?;
    let description = checked_description(&body.description)?;
    // Last: it may look the host up.
    let url = checked_url(&state, &body.url).await?;
    let max = state.config.webhooks.max_endpoints;
    if state.store.endpoints(tenant).await?.len() >= max {
        return Err(ApiError::new(
            ErrorCode::LimitReached,
            format!("a tenant holds at most {max} webhook endpoints; remove one first"),
        ));
    }
    let now = Millis::now();
    let endpoint = Endpoint {
        id: EndpointId::new(),
        tenant_id: tenant,
        url,
        description,
        event_types,
        enabled: body.enabled,
        disabled_reason: None,
        failing_since: None,
        created_at: now,
        updated_at: now,
    };
    let (secret, sealed) = new_secret(&state, endpoint.id)?;
    let secrets = SealedSecrets {
        current: sealed,
        previous: None,
    };
    state.store.add_endpoint(&endpoint, &secrets).await?;
    let details = json!({ "url": endpoint.url, "event_types": endpoint.event_types });
    audit_endpoint(&state, &client, &auth, "webhook.create", &endpoint, details).await;
    let mut view = endpoint_view(&endpoint);
    view.secret = Some(secret);
    Ok(HttpResponse::Created().json(view))
}

#[utoipa::path(
    get,
    path = "/api/v1/webhooks/{id}",
    operation_id = "webhooks.get",
    tag = "webhooks",
    summary = "One endpoint",
    params(("id" = Uuid, Path, description = "the endpoint's id")),
    responses((status = 200, description = "the endpoint", body = EndpointView))
)]
pub async fn get(
    state: web::Data<AppState>,
    auth: Authorized<ManageWebhooks>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let endpoint = found(&state, &auth, *id).await?;
    Ok(HttpResponse::Ok().json(endpoint_view(&endpoint)))
}

/// Changes the fields given. Switching an endpoint on clears why it was switched
/// off and its run of failures.
#[utoipa::path(
    patch,
    path = "/api/v1/webhooks/{id}",
    operation_id = "webhooks.update",
    tag = "webhooks",
    summary = "Change an endpoint",
    params(("id" = Uuid, Path, description = "the endpoint's id")),
    request_body = EndpointChange,
    responses((status = 200, description = "the endpoint as changed", body = EndpointView))
)]
pub async fn update(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ManageWebhooks>,
    id: web::Path<Uuid>,
    body: Json<EndpointChange>,
) -> Result<HttpResponse, ApiError> {
    let change = body.into_inner();
    let mut endpoint = found(&state, &auth, *id).await?;
    if let Some(url) = &change.url {
        endpoint.url = checked_url(&state, url).await?;
    }
    if let Some(types) = &change.event_types {
        endpoint.event_types = checked_types(types)?;
    }
    if let Some(description) = &change.description {
        endpoint.description = checked_description(description)?;
    }
    if let Some(enabled) = change.enabled {
        if enabled && !endpoint.enabled {
            endpoint.disabled_reason = None;
            endpoint.failing_since = None;
        }
        endpoint.enabled = enabled;
    }
    endpoint.updated_at = Millis::now();
    if !state.store.save_endpoint(&endpoint).await? {
        return Err(ApiError::not_found("webhook endpoint"));
    }
    let details = json!({
        "url": endpoint.url,
        "event_types": endpoint.event_types,
        "enabled": endpoint.enabled,
    });
    audit_endpoint(&state, &client, &auth, "webhook.update", &endpoint, details).await;
    Ok(HttpResponse::Ok().json(endpoint_view(&endpoint)))
}

#[utoipa::path(
    delete,
    path = "/api/v1/webhooks/{id}",
    operation_id = "webhooks.delete",
    tag = "webhooks",
    summary = "Delete an endpoint and its log",
    params(("id" = Uuid, Path, description = "the endpoint's id")),
    responses((status = 204, description = "deleted"))
)]
pub async fn delete(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ManageWebhooks>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let endpoint = found(&state, &auth, *id).await?;
    if !state
        .store
        .delete_endpoint(endpoint.tenant_id, endpoint.id)
        .await?
    {
        return Err(ApiError::not_found("webhook endpoint"));
    }
    let details = json!({ "url": endpoint.url });
    audit_endpoint(&state, &client, &auth, "webhook.delete", &endpoint, details).await;
    Ok(HttpResponse::NoContent().finish())
}

/// A new secret, shown once; deliveries are signed with the old one too for
/// `webhooks.previous_secret_hours`, so receivers can switch without a gap.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{id}/rotate-secret",
    operation_id = "webhooks.rotate_secret",
    tag = "webhooks",
    summary = "Rotate the signing secret",
    params(("id" = Uuid, Path, description = "the endpoint's id")),
    responses((status = 200, description = "the new secret, shown once", body = RotatedSecret))
)]
pub async fn rotate_secret(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ManageWebhooks>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let endpoint = found(&state, &auth, *id).await?;
    let tenant = endpoint.tenant_id;
    let old = state
        .store
        .endpoint_secrets(tenant, endpoint.id)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook endpoint"))?;
    let (secret, sealed) = new_secret(&state, endpoint.id)?;
    let now = Millis::now();
    let hours = state.config.webhooks.previous_secret_hours;
    let until = now.plus(Duration::from_secs(hours.saturating_mul(3_600)));
    let secrets = SealedSecrets {
        current: sealed,
        previous: (hours > 0).then_some((old.current, until)),
    };
    if !state
        .store
        .set_endpoint_secrets(tenant, endpoint.id, &secrets, now)
        .await?
    {
        return Err(ApiError::not_found("webhook endpoint"));
    }
    audit_endpoint(
        &state,
        &client,
        &auth,
        "webhook.rotate_secret",
        &endpoint,
        json!({}),
    )
    .await;
    Ok(HttpResponse::Ok().json(RotatedSecret {
        secret,
        previous_valid_until: secrets
            .previous
            .as_ref()
            .map(|(_, until)| until.to_rfc3339()),
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveryPage {
    /// `pending`, `retrying`, `succeeded` or `failed`.
    status: Option<String>,
    /// A delivery id: deliveries older than it.
    before: Option<Uuid>,
    /// At most 200 per page (a larger value gives 200); 50 when left out.
    #[param(minimum = 1, maximum = 200, default = 50)]
    limit: Option<u32>,
}

/// An endpoint's deliveries, newest first; `before` (a delivery id) pages back.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/{id}/deliveries",
    operation_id = "webhooks.deliveries",
    tag = "webhooks",
    summary = "The delivery log",
    params(("id" = Uuid, Path, description = "the endpoint's id"), DeliveryPage),
    responses((status = 200, description = "newest first; pass the last id as `before` for more", body = Page<DeliveryView>))
)]
pub async fn deliveries(
    state: web::Data<AppState>,
    auth: Authorized<ManageWebhooks>,
    id: web::Path<Uuid>,
    page: Query<DeliveryPage>,
) -> Result<HttpResponse, ApiError> {
    let endpoint = found(&state, &auth, *id).await?;
    let status = page
        .status
        .as_deref()
        .map(DeliveryState::parse)
        .transpose()
        .map_err(|err| ApiError::invalid(err.0))?;
    let limit = page.limit.unwrap_or(50).clamp(1, 200);
    let found = state
        .store
        .deliveries(
            endpoint.tenant_id,
            endpoint.id,
            status,
            page.before.map(DeliveryId),
            limit,
        )
        .await?;
    Ok(HttpResponse::Ok().json(Page::whole(found.iter().map(delivery_view).collect())))
}

async fn found_delivery(
    state: &AppState,
    auth: &Authorized<ManageWebhooks>,
    path: (Uuid, Uuid),
) -> Result<Delivery, ApiError> {
    let endpoint = found(state, auth, path.0).await?;
    state
        .store
        .delivery(endpoint.tenant_id, DeliveryId(path.1))
        .await?
        .filter(|d| d.endpoint_id == endpoint.id)
        .ok_or_else(|| ApiError::not_found("webhook delivery"))
}

/// One delivery with its body and every attempt.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/{id}/deliveries/{delivery}",
    operation_id = "webhooks.delivery",
    tag = "webhooks",
    summary = "One delivery with its payload and every attempt",
    params(("id" = Uuid, Path, description = "the endpoint's id"), ("delivery" = Uuid, Path, description = "the delivery's id")),
    responses((status = 200, description = "the delivery", body = DeliveryDetail))
)]
pub async fn delivery(
    state: web::Data<AppState>,
    auth: Authorized<ManageWebhooks>,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let delivery = found_delivery(&state, &auth, path.into_inner()).await?;
    let attempts = state
        .store
        .attempts(delivery.tenant_id, delivery.id)
        .await?;
    let attempts_log = attempts
        .iter()
        .map(|a| AttemptView {
            attempt: a.attempt,
            at: a.at.to_rfc3339(),
            response_status: a.response_status,
            latency_ms: a.latency_ms,
            response_body: a.response_body.clone(),
            error: a.error.clone(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(DeliveryDetail {
        payload: serde_json::from_str(&delivery.payload).unwrap_or(Value::Null),
        delivery: delivery_view(&delivery),
        attempts_log,
    }))
}

/// Sends one delivery again, under the same `webhook-id`, with a fresh schedule.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{id}/deliveries/{delivery}/redeliver",
    operation_id = "webhooks.redeliver",
    tag = "webhooks",
    summary = "Deliver one message again",
    params(("id" = Uuid, Path, description = "the endpoint's id"), ("delivery" = Uuid, Path, description = "the delivery's id")),
    responses((status = 202, description = "the delivery, queued", body = DeliveryView))
)]
pub async fn redeliver(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ManageWebhooks>,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let delivery = found_delivery(&state, &auth, path.into_inner()).await?;
    let tenant = delivery.tenant_id;
    let now = Millis::now();
    let before = state
        .store
        .requeue_delivery(tenant, delivery.id, now)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook delivery"))?;
    // Read back before the job exists: the answer is the delivery as this request
    // queued it, not whatever a fast runner has made of it since.
    let requeued = state
        .store
        .delivery(tenant, delivery.id)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook delivery"))?;
    let attempts = state.config.webhooks.attempts();
    state
        .store
        .add_job(
            &delivery_job(tenant, delivery.id, before, attempts, now),
            now,
        )
        .await?;
    let endpoint = found(&state, &auth, delivery.endpoint_id.0).await?;
    let details = json!({ "delivery_id": delivery.id });
    audit_endpoint(
        &state,
        &client,
        &auth,
        "webhook.redeliver",
        &endpoint,
        details,
    )
    .await;
    Ok(HttpResponse::Accepted().json(delivery_view(&requeued)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Replay {
    /// RFC 3339: events written from this time on.
    since: String,
}

/// Sends again, as a job, every event since a time that the endpoint asks for and
/// did not receive: missing deliveries are added, failed ones go again, delivered
/// ones are left alone. Events older than the stream keeps are not replayed.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{id}/replay",
    operation_id = "webhooks.replay",
    tag = "webhooks",
    summary = "Deliver again everything since a time",
    params(("id" = Uuid, Path, description = "the endpoint's id")),
    request_body = Replay,
    responses((status = 202, description = "the replay, queued", body = ReplayQueued))
)]
pub async fn replay(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ManageWebhooks>,
    id: web::Path<Uuid>,
    body: Json<Replay>,
) -> Result<HttpResponse, ApiError> {
    let endpoint = switched_on(found(&state, &auth, *id).await?, "before a replay")?;
    let since = Millis::parse_rfc3339(&body.since)
        .ok_or_else(|| ApiError::invalid("since must be an RFC 3339 time"))?;
    let tenant = endpoint.tenant_id;
    let after = state.store.offset_before(tenant, since).await?;
    let until = state.store.stream_head(tenant).await?.last_offset;
    let now = Millis::now();
    let replay = ReplayPayload {
        endpoint_id: endpoint.id,
        after,
        until,
    };
    let (Added::Added(job) | Added::Exists(job)) = state
        .store
        .add_job(&replay_job(tenant, replay, now), now)
        .await?;
    let details =
        json!({ "since": since.to_rfc3339(), "after_offset": after, "until_offset": until });
    audit_endpoint(&state, &client, &auth, "webhook.replay", &endpoint, details).await;
    Ok(HttpResponse::Accepted().json(ReplayQueued {
        job_id: job,
        after_offset: after,
        until_offset: until,
    }))
}

/// Posts a `webhook.test` event to the endpoint (whatever types it asked for),
/// logged and retried like any delivery.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{id}/test",
    operation_id = "webhooks.test",
    tag = "webhooks",
    summary = "Send a test event",
    params(("id" = Uuid, Path, description = "the endpoint's id")),
    responses((status = 202, description = "the queued delivery", body = DeliveryView))
)]
pub async fn test(
    state: web::Data<AppState>,
    auth: Authorized<ManageWebhooks>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let endpoint = switched_on(found(&state, &auth, *id).await?, "to test it")?;
    let now = Millis::now();
    let new = NewDelivery {
        id: DeliveryId::new(),
        tenant_id: endpoint.tenant_id,
        endpoint_id: endpoint.id,
        event_type: TEST_EVENT.to_owned(),
        event_key: None,
        payload: test_payload(endpoint.tenant_id, endpoint.id, now),
        created_at: now,
    };
    let attempts = state.config.webhooks.attempts();
    enqueue(
        state.store.as_ref(),
        std::slice::from_ref(&new),
        attempts,
        false,
    )
    .await?;
    let delivery = state
        .store
        .delivery(endpoint.tenant_id, new.id)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook delivery"))?;
    Ok(HttpResponse::Accepted().json(delivery_view(&delivery)))
}
