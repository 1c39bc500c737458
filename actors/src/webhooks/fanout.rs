//! `Webhooks`: the node's share of turning stream events into deliveries. Each
//! tenant with an enabled endpoint is followed from its own cursor
//! (`webhook_cursors`), leased to one node at a time; a batch of events becomes its
//! deliveries and their jobs before the cursor moves past it. A batch seen twice (a
//! crash before the cursor moved, a lease lost) finds its deliveries there and adds
//! no job twice, as each job is keyed by its delivery.
//!
//! `Replays` walks the stream again for one endpoint, as a job: what it finds
//! delivered is left alone, what failed goes again, what is missing is added.

use super::catalog::{event_key, payload, types_of, wants_meanings};
use super::{DELIVERY_JOB, DeliveryState, Endpoint, NewDelivery, REPLAY_JOB, job_key};
use crate::inbox::bus::NodeId;
use crate::inbox::stream::StreamEvent;
use crate::jobs::Job;
use crate::jobs::NewJob;
use crate::jobs::runner::{JobFailure, JobHandler};
use crate::store::{Store, StoreError};
use crate::tenant_workers::{
    LeasedCursor, StreamBatches, TenantWork, TenantWorkers, follow_stream,
};
use crate::{DeliveryId, EndpointId, Millis, TenantId};
use actix::prelude::*;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct FanoutSettings {
    pub lease_ttl: Duration,
    pub poll_every: Duration,
    /// Events read from the stream at a time.
    pub batch: u32,
    pub tenants_per_round: u32,
    /// Attempts a delivery gets: the length of the retry schedule.
    pub attempts: u32,
}

/// The deliveries `events` make for `endpoints` (the enabled ones).
pub fn deliveries_for(
    tenant: TenantId,
    events: &[StreamEvent],
    endpoints: &[Endpoint],
    now: Millis,
) -> Vec<NewDelivery> {
    let mut found = Vec::new();
    let meanings = endpoints
        .iter()
        .any(|e| e.enabled && wants_meanings(&e.event_types));
    for event in events {
        for event_type in types_of(event, meanings) {
            let mut wanting = endpoints
                .iter()
                .filter(|e| e.enabled && e.wants(event_type))
                .peekable();
            if wanting.peek().is_none() {
                continue;
            }
            // Rendered once, whatever the number of endpoints that get it.
            let body = payload(tenant, event, event_type);
            for endpoint in wanting {
                found.push(NewDelivery {
                    id: DeliveryId::new(),
                    tenant_id: tenant,
                    endpoint_id: endpoint.id,
                    event_type: event_type.to_owned(),
                    event_key: Some(event_key(event)),
                    payload: body.clone(),
                    created_at: now,
                });
            }
        }
    }
    found
}

/// The job that makes a delivery's attempts, due now.
pub fn delivery_job(
    tenant: TenantId,
    id: DeliveryId,
    attempts_before: u32,
    max_attempts: u32,
    now: Millis,
) -> NewJob {
    NewJob {
        tenant,
        kind: DELIVERY_JOB.to_owned(),
        payload: json!({ "delivery_id": id }),
        run_at: now,
        max_attempts,
        idempotency_key: Some(job_key(id, attempts_before)),
    }
}

/// Adds `deliveries` and a job for each that is still to be made; with
/// `again_if_failed` (a replay), failed ones go again too. How many will be sent.
pub async fn enqueue(
    store: &dyn Store,
    deliveries: &[NewDelivery],
    attempts: u32,
    again_if_failed: bool,
) -> Result<usize, StoreError> {
    if deliveries.is_empty() {
        return Ok(0);
    }
    let now = Millis::now();
    let mut queued = 0;
    for (added, new) in store
        .add_deliveries(deliveries)
        .await?
        .iter()
        .zip(deliveries)
    {
        let attempts_before = match added.status {
            // New, or added by an earlier pass that may have stopped before its job.
            DeliveryState::Pending => Some(added.attempts),
            DeliveryState::Failed if again_if_failed => {
                store.requeue_delivery(new.tenant_id, added.id, now).await?
            }
            _ => None,
        };
        if let Some(before) = attempts_before {
            store
                .add_job(
                    &delivery_job(new.tenant_id, added.id, before, attempts, now),
                    now,
                )
                .await?;
            queued += 1;
        }
    }
    Ok(queued)
}

pub struct Shared {
    store: Arc<dyn Store>,
    node: NodeId,
    settings: FanoutSettings,
}

#[async_trait]
impl TenantWork for Shared {
    const NAME: &'static str = "webhooks";

    async fn candidates(&self, now: Millis) -> Result<Vec<TenantId>, StoreError> {
        self.store
            .webhook_candidates(self.node, now, self.settings.tenants_per_round)
            .await
    }

    async fn drain(&self, tenant: TenantId) -> Result<(), StoreError> {
        let endpoints: Vec<Endpoint> = self
            .store
            .endpoints(tenant)
            .await?
            .into_iter()
            .filter(|e| e.enabled)
            .collect();
        let fanning = Fanning {
            shared: self,
            tenant,
            endpoints,
        };
        follow_stream(
            self.store.as_ref(),
            self,
            tenant,
            self.settings.lease_ttl,
            self.settings.batch,
            &fanning,
        )
        .await
    }

    async fn release(&self, tenant: TenantId) -> Result<(), StoreError> {
        self.store.release_webhooks(tenant, self.node).await
    }
}

#[async_trait]
impl LeasedCursor for Shared {
    async fn claim(
        &self,
        tenant: TenantId,
        now: Millis,
        lease_until: Millis,
    ) -> Result<Option<i64>, StoreError> {
        self.store
            .claim_webhooks(tenant, self.node, now, lease_until)
            .await
    }

    async fn advance(&self, tenant: TenantId, offset: i64) -> Result<bool, StoreError> {
        self.store.advance_webhooks(tenant, self.node, offset).await
    }
}

/// One drain's endpoints, offered each batch of the tenant's stream.
struct Fanning<'a> {
    shared: &'a Shared,
    tenant: TenantId,
    endpoints: Vec<Endpoint>,
}

#[async_trait]
impl StreamBatches for Fanning<'_> {
    async fn batch(&self, events: &[StreamEvent]) -> Result<(), StoreError> {
        let deliveries = deliveries_for(self.tenant, events, &self.endpoints, Millis::now());
        let store = self.shared.store.as_ref();
        enqueue(store, &deliveries, self.shared.settings.attempts, false).await?;
        Ok(())
    }
}

#[derive(Clone)]
pub struct Webhooks(Arc<TenantWorkers<Shared>>);

impl Webhooks {
    pub fn new(store: Arc<dyn Store>, node: NodeId, settings: FanoutSettings) -> Self {
        let shared = Shared {
            store,
            node,
            settings,
        };
        Self(Arc::new(TenantWorkers::new(
            Arc::new(shared),
            Arbiter::new().handle(),
        )))
    }

    /// Looks for events to deliver every `poll_every`, until dropped.
    pub async fn run(self) {
        self.0.run_every(self.0.work().settings.poll_every).await;
    }

    pub async fn shutdown(&self) {
        self.0.shutdown().await;
    }
}

/// Stream events one replay job reads before it hands the rest to the next job, so
/// a long replay never runs into the runner's timeout.
const REPLAY_EVENTS_PER_JOB: u32 = 2_000;
const REPLAY_BATCH: u32 = 200;

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ReplayPayload {
    pub endpoint_id: EndpointId,
    /// Go on after this offset...
    pub after: i64,
    /// ...up to this one (the stream's head when the replay was asked for).
    pub until: i64,
}

/// The job that walks a part of a replay.
pub fn replay_job(tenant: TenantId, replay: ReplayPayload, now: Millis) -> NewJob {
    NewJob {
        tenant,
        kind: REPLAY_JOB.to_owned(),
        payload: json!(replay),
        run_at: now,
        max_attempts: 5,
        idempotency_key: Some(format!(
            "webhook-replay:{}:{}:{}",
            replay.endpoint_id.0.simple(),
            replay.after,
            replay.until
        )),
    }
}

pub struct Replays {
    store: Arc<dyn Store>,
    attempts: u32,
}

impl Replays {
    pub fn new(store: Arc<dyn Store>, attempts: u32) -> Self {
        Self { store, attempts }
    }
}

#[async_trait]
impl JobHandler for Replays {
    async fn run(&self, job: &Job) -> Result<(), JobFailure> {
        let replay: ReplayPayload = serde_json::from_value(job.payload.clone())
            .map_err(|err| JobFailure::Permanent(format!("not a replay: {err}")))?;
        let store = self.store.as_ref();
        let tenant = job.tenant_id;
        let retry = |err: StoreError| JobFailure::Retry(err.to_string());
        let Some(endpoint) = store
            .endpoint(tenant, replay.endpoint_id)
            .await
            .map_err(retry)?
        else {
            return Err(JobFailure::Permanent("the endpoint is gone".into()));
        };
        let endpoints = [endpoint];
        let mut after = replay.after;
        let mut read = 0;
        while after < replay.until {
            let events = store
                .events_after(tenant, after, REPLAY_BATCH)
                .await
                .map_err(retry)?;
            let events: Vec<StreamEvent> = events
                .into_iter()
                .take_while(|e| e.offset <= replay.until)
                .collect();
            let Some(last) = events.last().map(|e| e.offset) else {
                return Ok(());
            };
            let deliveries = deliveries_for(tenant, &events, &endpoints, Millis::now());
            enqueue(store, &deliveries, self.attempts, true)
                .await
                .map_err(retry)?;
            after = last;
            read += events.len() as u32;
            if read >= REPLAY_EVENTS_PER_JOB && after < replay.until {
                let rest = ReplayPayload { after, ..replay };
                store
                    .add_job(&replay_job(tenant, rest, Millis::now()), Millis::now())
                    .await
                    .map_err(retry)?;
                return Ok(());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ConversationId;
    use crate::inbox::stream::{Epoch, EventKind};

    fn endpoint(types: &[&str], enabled: bool) -> Endpoint {
        Endpoint {
            id: EndpointId::new(),
            tenant_id: TenantId(uuid::Uuid::nil()),
            url: "https://hooks.example.com/in".into(),
            description: String::new(),
            event_types: types.iter().map(|t| (*t).to_owned()).collect(),
            enabled,
            disabled_reason: None,
            failing_since: None,
            created_at: Millis(0),
            updated_at: Millis(0),
        }
    }

    #[test]
    fn each_enabled_endpoint_gets_the_types_it_asked_for_under_one_event_key() {
        let first_message = StreamEvent {
            epoch: Epoch(uuid::Uuid::nil()),
            offset: 3,
            kind: EventKind::MessageNew,
            conversation_id: ConversationId(uuid::Uuid::nil()),
            assignee_id: None,
            data: r#"{"message":{"direction":"inbound","seq":1,"type":"text"}}"#.into(),
            at: Millis(5),
        };
        let all = endpoint(&["message.new", "conversation.created"], true);
        let created = endpoint(&["conversation.created"], true);
        let off = endpoint(&["message.new"], false);
        let status = endpoint(&["message.status"], true);
        let endpoints = [all.clone(), created.clone(), off, status];
        let found = deliveries_for(all.tenant_id, &[first_message], &endpoints, Millis(9));
        let got: Vec<(EndpointId, &str)> = found
            .iter()
            .map(|d| (d.endpoint_id, d.event_type.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (all.id, "message.new"),
                (all.id, "conversation.created"),
                (created.id, "conversation.created"),
            ]
        );
        let key = format!("{}:3", uuid::Uuid::nil());
        assert!(
            found
                .iter()
                .all(|d| d.event_key.as_deref() == Some(key.as_str()))
        );
        assert_eq!(found[1].payload, found[2].payload);
    }
}
