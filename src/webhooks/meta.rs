//! `/webhooks/meta/{channel_id}`: one URL per connected channel, so each delivery is
//! checked against that channel's own app secret before anything is read.
//!
//! Meta sends every account of an app to the app's one callback URL, so a delivery
//! may name another account (a second number, the page's Lead Ads). Events are routed
//! by the account they name to the tenant's channel for it; an account the tenant
//! has not connected goes to the webhook log.
//!
//! The provider gets 2xx only after everything usable in the delivery has committed;
//! a store failure answers 500 (or 503) so Meta sends the delivery again, and replays
//! are harmless because ingest is idempotent on the provider's message id.

use crate::channels::adapter::{Account, Event, Refused, WebhookAdapter};
use crate::channels::directory::{KnownChannel, KnownError};
use crate::channels::meta::Meta;
use crate::channels::meta::graph::GraphError;
use crate::channels::meta::leads::{self, LeadRef};
use crate::error::{ApiError, ErrorCode};
use crate::http::json::Query;
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;
use switchboard_actors::broadcasts::RecipientStatus;
use switchboard_actors::channel::{Channel, ChannelState, WebhookLogEntry};
use switchboard_actors::domain::text::{clean, clean_json};
use switchboard_actors::inbox::records::{Message, StatusReport};
use switchboard_actors::{ChannelId, DeliveryStatus, Direction, Millis, WebhookLogId};
use uuid::Uuid;

/// A status can overtake the answer to the send it reports on; wait this long in
/// total for the send to record the provider's message id.
const STATUS_WAIT_STEPS: u32 = 10;
const STATUS_WAIT_STEP: Duration = Duration::from_millis(50);

#[derive(Deserialize)]
pub struct Handshake {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

async fn channel_of(state: &AppState, id: Uuid) -> Result<Arc<KnownChannel>, ApiError> {
    match state.channels.known_channel(ChannelId(id)).await {
        Ok(Some(known)) => Ok(known),
        Ok(None) => Err(ApiError::not_found("channel")),
        Err(KnownError::Store(err)) => Err(err.into()),
        Err(KnownError::Credentials(reason)) => Err(ApiError::internal(reason)),
    }
}

/// `GET`: Meta's subscription check. Echoes `hub.challenge` when the verify token
/// is the channel's; 403 otherwise.
#[utoipa::path(
    get,
    path = "/webhooks/meta/{channel_id}",
    operation_id = "provider_webhooks.handshake",
    tag = "provider webhooks",
    summary = "Meta's subscription handshake",
    security(()),
    params(("channel_id" = Uuid, Path, description = "the channel"), ("hub.mode" = String, Query), ("hub.verify_token" = String, Query), ("hub.challenge" = String, Query)),
    responses((status = 200, description = "the challenge, echoed", body = String, content_type = "text/plain"))
)]
pub async fn handshake(
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    query: Query<Handshake>,
) -> Result<HttpResponse, ApiError> {
    let known = channel_of(&state, *id).await?;
    let credentials = &known.credentials;
    let token_ok = query
        .verify_token
        .as_deref()
        .is_some_and(|t| bool::from(t.as_bytes().ct_eq(credentials.verify_token.as_bytes())));
    match (&query.mode, &query.challenge) {
        (Some(mode), Some(challenge)) if mode == "subscribe" && token_ok => Ok(HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body(challenge.clone())),
        _ => Err(ApiError::forbidden(
            "hub.mode must be 'subscribe' and hub.verify_token must be the channel's verify token",
        )),
    }
}

/// `POST`: a signed delivery.
#[utoipa::path(
    post,
    path = "/webhooks/meta/{channel_id}",
    operation_id = "provider_webhooks.receive",
    tag = "provider webhooks",
    summary = "Meta's signed deliveries",
    security(()),
    params(("channel_id" = Uuid, Path, description = "the channel"), ("X-Hub-Signature-256" = String, Header, description = "sha256=<HMAC of the body with the app secret>")),
    request_body = Object,
    responses((status = 200, description = "accepted"))
)]
pub async fn receive(
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let known = channel_of(&state, *id).await?;
    let (channel, credentials) = (&known.channel, &known.credentials);
    let now = Millis::now();
    if let Err(Refused(why)) = Meta::verify(credentials, request.headers(), &body, now) {
        state.metrics.record_webhook(Meta::PROVIDER, "rejected");
        return Err(ApiError::new(ErrorCode::InvalidSignature, why));
    }
    state.metrics.record_webhook(Meta::PROVIDER, "received");
    // Health needs the time to the second, not a write per delivery: noted in memory,
    // written by the channel directory every second, never on this request's path.
    state.channels.note_inbound(channel.id, now);
    let mut problems = Vec::new();
    let mut applied = 0usize;
    if channel.state == ChannelState::Disabled {
        problems.push("the channel is disabled; nothing was delivered to the inbox".to_owned());
    } else {
        match Meta::parse(&body) {
            Err(problem) => problems.push(problem),
            Ok(parsed) => {
                problems.extend(parsed.problems);
                let mut targets = Targets::new(channel);
                for (account, event) in parsed.events {
                    let Some(target) = targets.resolve(&state, &account).await? else {
                        problems.push(format!(
                            "no active {} channel for account {} in this tenant",
                            account.kind.as_str(),
                            account.id
                        ));
                        continue;
                    };
                    match apply(&state, &target, event).await? {
                        Some(problem) => problems.push(problem),
                        None => applied += 1,
                    }
                }
            }
        }
    }
    if !problems.is_empty() {
        let entry = WebhookLogEntry {
            tenant_id: channel.tenant_id,
            id: WebhookLogId::new(),
            channel_id: channel.id,
            error: problems.join("; "),
            // Kept as text, so it obeys the text rule too (a NUL would fail the insert
            // on Postgres, and the provider would redeliver for ever).
            body: clean(&String::from_utf8_lossy(&body)).into_owned(),
            received_at: now,
        };
        // Not kept means not acknowledged: Meta sends it again.
        state.store.log_webhook(&entry).await?;
        state.metrics.record_webhook("meta", "logged");
    }
    Ok(HttpResponse::Ok().json(json!({"received": applied, "logged": problems.len()})))
}

/// The tenant's channels an event may be routed to, read once per delivery.
struct Targets<'a> {
    addressed: &'a Channel,
    others: Option<Vec<Channel>>,
}

impl<'a> Targets<'a> {
    fn new(addressed: &'a Channel) -> Self {
        Self {
            addressed,
            others: None,
        }
    }

    async fn resolve(
        &mut self,
        state: &AppState,
        account: &Account,
    ) -> Result<Option<Channel>, ApiError> {
        let matches = |c: &Channel| {
            c.kind == account.kind && c.account_id == account.id && c.state == ChannelState::Active
        };
        if matches(self.addressed) {
            return Ok(Some(self.addressed.clone()));
        }
        if self.others.is_none() {
            self.others = Some(state.store.channels(self.addressed.tenant_id).await?);
        }
        Ok(self.others.iter().flatten().find(|c| matches(c)).cloned())
    }
}

/// A report on a broadcast's message moves its recipient too.
async fn report_to_broadcast(
    state: &AppState,
    message: &Message,
    status: DeliveryStatus,
    error: Option<&str>,
) -> Result<(), ApiError> {
    let from_broadcast = message
        .attachment
        .as_ref()
        .is_some_and(|a| a.get("broadcast").is_some());
    let Some(status) = RecipientStatus::of_delivery(status).filter(|_| from_broadcast) else {
        return Ok(());
    };
    let tenant = message.tenant_id;
    if let Some(broadcast) = state
        .store
        .report_recipient(tenant, message.id, status, error, Millis::now())
        .await?
    {
        state.broadcasts.moved(tenant, broadcast);
    }
    Ok(())
}

/// Applies one event; `Some(problem)` when it could not be used.
async fn apply(
    state: &AppState,
    channel: &Channel,
    event: Event,
) -> Result<Option<String>, ApiError> {
    let tenant = channel.tenant_id;
    let key = channel.key();
    match event {
        Event::Message(draft) => {
            let recorded = state.inbox.ingest(tenant, &draft.into_inbound(key)).await?;
            // Looked at for a delivery seen before too: a failure here had the
            // provider deliver it again.
            if recorded.message.direction == Direction::Inbound
                && let Some(broadcast) = state
                    .store
                    .note_broadcast_reply(
                        tenant,
                        recorded.conversation.id,
                        recorded.message.created_at,
                    )
                    .await?
            {
                state.broadcasts.moved(tenant, broadcast);
            }
            Ok(None)
        }
        Event::Status {
            provider_id,
            status,
            error,
        } => {
            for step in 0..STATUS_WAIT_STEPS {
                if let Some(message) = state
                    .store
                    .message_by_provider_id(tenant, &key, &provider_id)
                    .await?
                {
                    let report = StatusReport {
                        error: error.clone(),
                        ..StatusReport::new(status)
                    };
                    state
                        .inbox
                        .report_status(tenant, message.conversation_id, message.id, report)
                        .await?;
                    report_to_broadcast(state, &message, status, error.as_deref()).await?;
                    return Ok(None);
                }
                if step + 1 < STATUS_WAIT_STEPS {
                    actix_rt::time::sleep(STATUS_WAIT_STEP).await;
                }
            }
            Ok(Some(format!(
                "status '{}' for unknown message '{provider_id}'",
                status.as_str()
            )))
        }
        Event::ReadUpTo {
            customer_id,
            watermark,
        } => {
            for message in state
                .store
                .unread_replies(tenant, &key, &customer_id, watermark)
                .await?
            {
                state
                    .inbox
                    .report_status(
                        tenant,
                        message.conversation_id,
                        message.id,
                        StatusReport::new(DeliveryStatus::Read),
                    )
                    .await?;
            }
            Ok(None)
        }
        Event::Lead {
            leadgen_id,
            form_id,
            ad_id,
        } => {
            // A replayed lead is not fetched again.
            if state
                .store
                .message_by_provider_id(tenant, &key, &leadgen_id)
                .await?
                .is_some()
            {
                return Ok(None);
            }
            let credentials = state
                .channels
                .credentials(channel)
                .map_err(ApiError::internal)?;
            let lead = match state
                .gateway
                .providers()
                .graph()
                .lead(&credentials.access_token, &leadgen_id)
                .await
            {
                Ok(mut lead) => {
                    // The provider's answer is text from outside like any other.
                    clean_json(&mut lead);
                    lead
                }
                Err(GraphError::Permanent(reason)) => {
                    return Ok(Some(format!(
                        "lead {leadgen_id} cannot be fetched: {reason}"
                    )));
                }
                Err(GraphError::Retryable { reason, .. }) => {
                    tracing::warn!(channel = %channel.id, %reason, "cannot fetch a lead; the provider will send it again");
                    let mut err = ApiError::new(
                        ErrorCode::ProviderUnavailable,
                        "the lead cannot be fetched from the Graph API right now",
                    );
                    err.retry_after = Some(60);
                    return Err(err);
                }
            };
            let country = match channel
                .settings
                .get("default_country")
                .and_then(|c| c.as_str())
            {
                Some(country) => Some(country.to_owned()),
                None => state.store.default_country(tenant).await?,
            };
            let reference = LeadRef {
                leadgen_id: &leadgen_id,
                form_id: form_id.as_deref(),
                ad_id: ad_id.as_deref(),
            };
            let draft = leads::draft(&lead, &reference, country.as_deref());
            state.inbox.ingest(tenant, &draft.into_inbound(key)).await?;
            Ok(None)
        }
    }
}
