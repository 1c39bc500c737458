//! A node's share of work that follows each tenant's stream from a leased cursor (the
//! pipeline, AI replies): every round it asks which tenants have work that no other
//! node holds, and gives each a supervised worker actor of its own that drains the
//! tenant's backlog, one drain at a time. On a clean stop it gives the tenants up so
//! other nodes take them at once.

use crate::inbox::store::InboxStore;
use crate::inbox::stream::StreamEvent;
use crate::store::StoreError;
use crate::{Millis, TenantId};
use actix::prelude::*;
use async_trait::async_trait;
use dashmap::DashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The work itself.
#[async_trait]
pub trait TenantWork: Send + Sync + 'static {
    /// For logs: "the pipeline", "replies".
    const NAME: &'static str;

    /// Tenants with work that no other node holds, this node's own included.
    async fn candidates(&self, now: Millis) -> Result<Vec<TenantId>, StoreError>;

    /// Works through the tenant's backlog (taking or renewing its lease first).
    async fn drain(&self, tenant: TenantId) -> Result<(), StoreError>;

    /// Gives the tenant's lease up.
    async fn release(&self, tenant: TenantId) -> Result<(), StoreError>;
}

/// A worker's own cursor in tenants' streams, leased to one node at a time.
#[async_trait]
pub trait LeasedCursor: Send + Sync {
    /// Takes or renews the tenant's cursor until `lease_until`: the offset to go on
    /// after, or None while another node holds it.
    async fn claim(
        &self,
        tenant: TenantId,
        now: Millis,
        lease_until: Millis,
    ) -> Result<Option<i64>, StoreError>;

    /// Moves the cursor to `offset`; false when the node no longer holds it.
    async fn advance(&self, tenant: TenantId, offset: i64) -> Result<bool, StoreError>;
}

/// What a worker does with each batch of a tenant's stream.
#[async_trait]
pub trait StreamBatches: Send + Sync {
    async fn batch(&self, events: &[StreamEvent]) -> Result<(), StoreError>;
}

/// Takes the tenant's cursor and hands its stream to `each`, `batch` events at a time
/// up to the end, moving the cursor after each batch (so a crash replays at most the
/// batch at hand) and renewing the lease every fifth of `lease_ttl`. Stops when the
/// lease is lost: the new holder goes on from the cursor.
pub async fn follow_stream(
    store: &dyn InboxStore,
    cursor: &dyn LeasedCursor,
    tenant: TenantId,
    lease_ttl: Duration,
    batch: u32,
    each: &dyn StreamBatches,
) -> Result<(), StoreError> {
    let lease = |now: Millis| now.plus(lease_ttl);
    let now = Millis::now();
    let Some(mut offset) = cursor.claim(tenant, now, lease(now)).await? else {
        return Ok(());
    };
    let mut claimed_at = Instant::now();
    loop {
        let events = store.events_after(tenant, offset, batch).await?;
        let Some(last) = events.last().map(|e| e.offset) else {
            return Ok(());
        };
        each.batch(&events).await?;
        if !cursor.advance(tenant, last).await? {
            return Ok(());
        }
        offset = last;
        if events.len() < batch as usize {
            return Ok(());
        }
        if claimed_at.elapsed() >= lease_ttl / 5 {
            let now = Millis::now();
            if cursor.claim(tenant, now, lease(now)).await?.is_none() {
                return Ok(());
            }
            claimed_at = Instant::now();
        }
    }
}

pub struct TenantWorkers<W: TenantWork> {
    work: Arc<W>,
    workers: DashMap<TenantId, Addr<Worker<W>>>,
    /// Where the workers run.
    arbiter: ArbiterHandle,
}

impl<W: TenantWork> TenantWorkers<W> {
    pub fn new(work: Arc<W>, arbiter: ArbiterHandle) -> Self {
        Self {
            work,
            workers: DashMap::new(),
            arbiter,
        }
    }

    pub fn work(&self) -> &Arc<W> {
        &self.work
    }

    /// Starts a drain for every tenant with work.
    pub async fn round(&self) {
        let tenants = match self.work.candidates(Millis::now()).await {
            Ok(tenants) => tenants,
            Err(err) => {
                tracing::warn!(error = %err, "cannot look for work for {}", W::NAME);
                return;
            }
        };
        for tenant in tenants {
            let worker = self
                .workers
                .entry(tenant)
                .or_insert_with(|| {
                    let work = self.work.clone();
                    Supervisor::start_in_arbiter(&self.arbiter, move |_| Worker { work, tenant })
                })
                .clone();
            // A drain already waiting covers this one.
            let _ = worker.try_send(Drain);
        }
    }

    /// A round every `every`, until dropped.
    pub async fn run_every(&self, every: std::time::Duration) {
        loop {
            self.round().await;
            tokio::time::sleep(every).await;
        }
    }

    /// Gives up this node's tenants, so other nodes take them at once.
    pub async fn shutdown(&self) {
        let tenants: Vec<TenantId> = self.workers.iter().map(|e| *e.key()).collect();
        for tenant in tenants {
            if let Err(err) = self.work.release(tenant).await {
                tracing::warn!(%tenant, error = %err, "cannot release a tenant's {}", W::NAME);
            }
        }
    }
}

/// One tenant's worker on this node.
struct Worker<W: TenantWork> {
    work: Arc<W>,
    tenant: TenantId,
}

#[derive(Message)]
#[rtype(result = "()")]
struct Drain;

impl<W: TenantWork> Actor for Worker<W> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // One drain running and one waiting is all there is ever use for.
        ctx.set_mailbox_capacity(1);
    }
}

impl<W: TenantWork> Supervised for Worker<W> {}

impl<W: TenantWork> Handler<Drain> for Worker<W> {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, _: Drain, _: &mut Self::Context) -> Self::Result {
        let work = self.work.clone();
        let tenant = self.tenant;
        AtomicResponse::new(Box::pin(
            async move {
                if let Err(err) = work.drain(tenant).await {
                    tracing::warn!(%tenant, error = %err, "{} stopped on a store error; it resumes next round", W::NAME);
                }
            }
            .into_actor(self),
        ))
    }
}
