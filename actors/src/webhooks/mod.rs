//! Outbound webhooks: a tenant's endpoints, and one delivery per event and endpoint
//! that wants it.
//!
//! `fanout` follows each tenant's stream from a leased cursor like automations do:
//! every event (and what it means: a new conversation, a captured lead) becomes a
//! delivery row per endpoint that asked for its type, unique per endpoint, type and
//! event, and a durable job that sends it. The server's delivery handler signs and
//! posts it (Standard Webhooks), records each attempt, and retries on the schedule
//! below through the job runner; a replay walks the stream again for one endpoint.
//! So a delivery is made at least once, under one `webhook-id`, whatever restarts.

pub mod catalog;
pub mod fanout;

use crate::domain::text_enum::text_enum;
use crate::inbox::bus::NodeId;
use crate::inbox::stream::StreamEvent;
use crate::store::StoreError;
use crate::{DeliveryId, EndpointId, Millis, TenantId};
use async_trait::async_trait;
use std::time::Duration;

/// The job that makes one attempt at a delivery (and is retried on the schedule).
pub const DELIVERY_JOB: &str = "webhook.delivery";
/// The job that walks the stream again for one endpoint from a time on.
pub const REPLAY_JOB: &str = "webhook.replay";

/// The `webhook-id` header of a delivery: the same on every attempt and redelivery.
pub fn webhook_id(id: DeliveryId) -> String {
    format!("msg_{}", id.0.simple())
}

/// Where a tenant's events are posted.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub id: EndpointId,
    pub tenant_id: TenantId,
    pub url: String,
    pub description: String,
    /// The event types it receives (`catalog::EVENT_TYPES`).
    pub event_types: Vec<String>,
    pub enabled: bool,
    /// Why the server switched it off, when it did.
    pub disabled_reason: Option<String>,
    /// When the run of failed attempts it is in began; None after a success.
    pub failing_since: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl Endpoint {
    pub fn wants(&self, event_type: &str) -> bool {
        self.event_types.iter().any(|t| t == event_type)
    }
}

/// An endpoint's signing secrets, sealed by the server (the core never sees them
/// open): the current one, and during a rotation the one before it, still signed
/// with until `previous_until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSecrets {
    pub current: Vec<u8>,
    pub previous: Option<(Vec<u8>, Millis)>,
}

text_enum!(
    /// Where a delivery is.
    DeliveryState, "a delivery state" {
        /// Not tried yet.
        Pending => "pending",
        /// Tried and failed; tried again at `next_attempt_at`.
        Retrying => "retrying",
        Succeeded => "succeeded",
        /// Its attempts are used up, or its endpoint was switched off or answered
        /// 410; redelivered only by hand.
        Failed => "failed",
    }
);

#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    pub id: DeliveryId,
    pub tenant_id: TenantId,
    pub endpoint_id: EndpointId,
    pub event_type: String,
    /// `<epoch>:<offset>` of the stream event it comes from; None for a test event.
    pub event_key: Option<String>,
    /// The body, byte for byte what is signed and posted.
    pub payload: String,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: DeliveryId,
    pub tenant_id: TenantId,
    pub endpoint_id: EndpointId,
    pub event_type: String,
    pub event_key: Option<String>,
    pub payload: String,
    pub status: DeliveryState,
    /// Attempts made, over every redelivery.
    pub attempts: u32,
    pub next_attempt_at: Option<Millis>,
    /// The last attempt's answer: its status code, its time and the start of its body.
    pub response_status: Option<u16>,
    pub latency_ms: Option<u64>,
    pub response_body: Option<String>,
    pub error: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub delivered_at: Option<Millis>,
}

/// One attempt, as the delivery log lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub attempt: u32,
    pub at: Millis,
    pub response_status: Option<u16>,
    pub latency_ms: u64,
    /// The first KiB of the answer.
    pub response_body: Option<String>,
    /// Why it failed when no answer came (a timeout, a refused address).
    pub error: Option<String>,
}

/// What one attempt leaves the delivery at.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptOutcome {
    pub attempt: Attempt,
    pub status: DeliveryState,
    pub next_attempt_at: Option<Millis>,
}

/// A delivery as a caller added it: its row, new or there already from an earlier
/// pass over the same event.
#[derive(Debug, Clone, PartialEq)]
pub struct Added {
    pub id: DeliveryId,
    pub status: DeliveryState,
    pub attempts: u32,
}

/// The idempotency key of the job that makes a delivery's next round of attempts:
/// one job per delivery and redelivery, whichever node or pass adds it.
pub fn job_key(id: DeliveryId, attempts_before: u32) -> String {
    format!("webhook:{}:{attempts_before}", id.0.simple())
}

/// The delay before attempt `n + 1` after attempt `n` failed (1-based), from
/// `schedule` (the first entry is the first attempt's, normally 0); None when the
/// attempts are used up. A `Retry-After` the receiver sent wins when it is longer,
/// up to `max_wait`.
pub fn next_delay(
    schedule: &[Duration],
    attempts_made: u32,
    retry_after: Option<Duration>,
    max_wait: Duration,
) -> Option<Duration> {
    let planned = *schedule.get(attempts_made as usize)?;
    Some(match retry_after {
        Some(asked) if asked > planned => asked.min(max_wait).max(planned),
        _ => planned,
    })
}

#[async_trait]
pub trait WebhookStore: Send + Sync + 'static {
    /// Adds an endpoint. When it is the tenant's first enabled one, the fan-out
    /// cursor moves to the stream's head: endpoints receive what happens from now on
    /// (a replay sends what came before).
    async fn add_endpoint(
        &self,
        endpoint: &Endpoint,
        secrets: &SealedSecrets,
    ) -> Result<(), StoreError>;

    /// Saves an endpoint's fields (not its secrets); false when there is none.
    async fn save_endpoint(&self, endpoint: &Endpoint) -> Result<bool, StoreError>;

    async fn endpoint(
        &self,
        tenant: TenantId,
        id: EndpointId,
    ) -> Result<Option<Endpoint>, StoreError>;

    async fn endpoints(&self, tenant: TenantId) -> Result<Vec<Endpoint>, StoreError>;

    async fn endpoint_secrets(
        &self,
        tenant: TenantId,
        id: EndpointId,
    ) -> Result<Option<SealedSecrets>, StoreError>;

    /// Replaces the secrets (a rotation); false when there is no such endpoint.
    async fn set_endpoint_secrets(
        &self,
        tenant: TenantId,
        id: EndpointId,
        secrets: &SealedSecrets,
        at: Millis,
    ) -> Result<bool, StoreError>;

    /// Deletes the endpoint with its deliveries and their attempts.
    async fn delete_endpoint(&self, tenant: TenantId, id: EndpointId) -> Result<bool, StoreError>;

    /// Switches an enabled endpoint off with `reason` and appends its
    /// `webhook.disabled` event, in one transaction; None when it was not enabled.
    async fn disable_endpoint(
        &self,
        tenant: TenantId,
        id: EndpointId,
        reason: &str,
        at: Millis,
    ) -> Result<Option<StreamEvent>, StoreError>;

    /// Sets (`Some`, only when unset) or clears (`None`) when the endpoint's run of
    /// failures began; what it is after.
    async fn mark_failing(
        &self,
        tenant: TenantId,
        id: EndpointId,
        since: Option<Millis>,
    ) -> Result<Option<Millis>, StoreError>;

    /// Adds deliveries, each once per endpoint, type and event: a second add of the
    /// same answers the row there.
    async fn add_deliveries(&self, deliveries: &[NewDelivery]) -> Result<Vec<Added>, StoreError>;

    async fn delivery(
        &self,
        tenant: TenantId,
        id: DeliveryId,
    ) -> Result<Option<Delivery>, StoreError>;

    /// An endpoint's deliveries, newest first, before `before` when given; only
    /// those in `status` when given.
    async fn deliveries(
        &self,
        tenant: TenantId,
        endpoint: EndpointId,
        status: Option<DeliveryState>,
        before: Option<DeliveryId>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError>;

    async fn attempts(&self, tenant: TenantId, id: DeliveryId) -> Result<Vec<Attempt>, StoreError>;

    /// Counts an attempt about to be made; its number (1 for the first).
    async fn begin_attempt(
        &self,
        tenant: TenantId,
        id: DeliveryId,
        at: Millis,
    ) -> Result<u32, StoreError>;

    /// Records an attempt and what it leaves the delivery at.
    async fn record_attempt(
        &self,
        tenant: TenantId,
        id: DeliveryId,
        outcome: &AttemptOutcome,
    ) -> Result<(), StoreError>;

    /// Marks a delivery failed without an attempt (its endpoint is switched off).
    async fn fail_delivery(
        &self,
        tenant: TenantId,
        id: DeliveryId,
        error: &str,
        at: Millis,
    ) -> Result<(), StoreError>;

    /// Sets a delivery to go again (a redelivery or replay): `pending`, its error
    /// kept until the next attempt. The attempts it had before, for its job's key.
    async fn requeue_delivery(
        &self,
        tenant: TenantId,
        id: DeliveryId,
        at: Millis,
    ) -> Result<Option<u32>, StoreError>;

    /// The newest offset of the tenant's stream written before `at` (0 when none),
    /// where a replay from `at` begins.
    async fn offset_before(&self, tenant: TenantId, at: Millis) -> Result<i64, StoreError>;

    /// Removes deliveries (and their attempts) created before `before`; how many.
    async fn prune_deliveries(&self, before: Millis) -> Result<u64, StoreError>;

    /// Tenants with enabled endpoints and stream events past their fan-out cursor
    /// that no other node holds.
    async fn webhook_candidates(
        &self,
        node: NodeId,
        now: Millis,
        limit: u32,
    ) -> Result<Vec<TenantId>, StoreError>;

    async fn claim_webhooks(
        &self,
        tenant: TenantId,
        node: NodeId,
        now: Millis,
        lease_until: Millis,
    ) -> Result<Option<i64>, StoreError>;

    async fn advance_webhooks(
        &self,
        tenant: TenantId,
        node: NodeId,
        offset: i64,
    ) -> Result<bool, StoreError>;

    async fn release_webhooks(&self, tenant: TenantId, node: NodeId) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(list: &[u64]) -> Vec<Duration> {
        list.iter().map(|s| Duration::from_secs(*s)).collect()
    }

    #[test]
    fn the_delay_after_each_failed_attempt_follows_the_schedule_and_ends_with_it() {
        let schedule = secs(&[0, 5, 300]);
        let max = Duration::from_secs(3_600);
        assert_eq!(
            next_delay(&schedule, 1, None, max),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            next_delay(&schedule, 2, None, max),
            Some(Duration::from_secs(300))
        );
        assert_eq!(next_delay(&schedule, 3, None, max), None);
    }

    #[test]
    fn a_longer_retry_after_wins_up_to_the_cap_and_a_shorter_one_does_not() {
        let schedule = secs(&[0, 5, 300]);
        let max = Duration::from_secs(60);
        let asked = |s| Some(Duration::from_secs(s));
        assert_eq!(
            next_delay(&schedule, 1, asked(30), max),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            next_delay(&schedule, 1, asked(7_200), max),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            next_delay(&schedule, 2, asked(1), max),
            Some(Duration::from_secs(300))
        );
    }

    #[test]
    fn a_webhook_id_is_the_delivery_s_uuid_without_dashes_after_msg() {
        let id = DeliveryId(uuid::Uuid::nil());
        assert_eq!(webhook_id(id), "msg_00000000000000000000000000000000");
    }
}
