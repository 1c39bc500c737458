//! `Embeddings`: the node's share of embedding the knowledge base. Tenants whose AI
//! settings name an embedding model have their new passages sent to it in batches,
//! one node at a time per tenant (a lease in `knowledge_embedding_models`), and the
//! vectors stored beside the passages. A tenant whose model fails waits a while before
//! it is tried again; its questions are answered from the full-text search meanwhile.

use super::{Passage, vectors};
use crate::inbox::bus::NodeId;
use crate::llm::TenantModels;
use crate::store::{Store, StoreError};
use crate::tenant_workers::{TenantWork, TenantWorkers};
use crate::{Millis, PassageId, TenantId};
use actix::prelude::*;
use async_trait::async_trait;
use dashmap::DashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct EmbeddingSettings {
    /// A node holds a tenant's embedding this long without renewing it.
    pub lease_ttl: Duration,
    /// How often the node looks for passages to embed.
    pub poll_every: Duration,
    /// Tenants looked at per round.
    pub tenants_per_round: u32,
    /// Passages sent to the model in one request.
    pub batch: u32,
    /// How long a tenant whose model failed is left before it is tried again.
    pub retry_after: Duration,
}

#[derive(Clone)]
pub struct Embeddings(Arc<TenantWorkers<Shared>>);

struct Shared {
    store: Arc<dyn Store>,
    models: Arc<dyn TenantModels>,
    node: NodeId,
    settings: EmbeddingSettings,
    /// Tenants whose model failed, and when they may be tried again.
    resting: DashMap<TenantId, Instant>,
}

impl Embeddings {
    /// The tenant workers run on an arbiter (thread) of their own.
    pub fn new(
        store: Arc<dyn Store>,
        models: Arc<dyn TenantModels>,
        node: NodeId,
        settings: EmbeddingSettings,
    ) -> Self {
        let shared = Shared {
            store,
            models,
            node,
            settings,
            resting: DashMap::new(),
        };
        Self(Arc::new(TenantWorkers::new(
            Arc::new(shared),
            Arbiter::new().handle(),
        )))
    }

    pub async fn run(self) {
        self.0.run_every(self.0.work().settings.poll_every).await;
    }

    /// Gives up this node's tenants, so other nodes take them at once.
    pub async fn shutdown(&self) {
        self.0.shutdown().await;
    }
}

#[async_trait]
impl TenantWork for Shared {
    const NAME: &'static str = "knowledge embeddings";

    async fn candidates(&self, now: Millis) -> Result<Vec<TenantId>, StoreError> {
        self.resting.retain(|_, until| *until > Instant::now());
        let tenants = self
            .store
            .embedding_candidates(self.node, now, self.settings.tenants_per_round)
            .await?;
        Ok(tenants
            .into_iter()
            .filter(|t| !self.resting.contains_key(t))
            .collect())
    }

    async fn drain(&self, tenant: TenantId) -> Result<(), StoreError> {
        let lease = |now: Millis| now.plus(self.settings.lease_ttl);
        let now = Millis::now();
        let Some(model) = self
            .store
            .claim_embedding(tenant, self.node, now, lease(now))
            .await?
        else {
            return Ok(());
        };
        let Some(embedder) = self
            .models
            .embedder(tenant)
            .await?
            .filter(|e| e.model() == model)
        else {
            // The settings changed (or no longer open) since the model was named.
            self.rest(tenant, "its AI settings name no usable embedding model");
            return Ok(());
        };
        let mut claimed_at = Instant::now();
        loop {
            let passages = self
                .store
                .unembedded_passages(tenant, self.settings.batch)
                .await?;
            if passages.is_empty() {
                return Ok(());
            }
            let texts: Vec<String> = passages.iter().map(Passage::indexed_text).collect();
            let answer = match embedder.embed(&texts).await {
                Ok(answer) => answer,
                Err(err) => {
                    self.rest(tenant, &err.to_string());
                    return Ok(());
                }
            };
            let Some(vectors) = paired(&passages, answer) else {
                self.rest(
                    tenant,
                    "the model's answer did not hold one usable vector per passage",
                );
                return Ok(());
            };
            self.store.save_embeddings(tenant, &model, &vectors).await?;
            if claimed_at.elapsed() >= self.settings.lease_ttl / 5 {
                let now = Millis::now();
                if self
                    .store
                    .claim_embedding(tenant, self.node, now, lease(now))
                    .await?
                    .is_none()
                {
                    return Ok(());
                }
                claimed_at = Instant::now();
            }
        }
    }

    async fn release(&self, tenant: TenantId) -> Result<(), StoreError> {
        self.store.release_embedding(tenant, self.node).await
    }
}

impl Shared {
    fn rest(&self, tenant: TenantId, why: &str) {
        tracing::warn!(%tenant, why, "cannot embed the tenant's knowledge base; trying again later");
        self.resting
            .insert(tenant, Instant::now() + self.settings.retry_after);
    }
}

/// Each passage with its vector, when the answer holds exactly one usable vector each.
fn paired(passages: &[Passage], answer: Vec<Vec<f32>>) -> Option<Vec<(PassageId, Vec<f32>)>> {
    if answer.len() != passages.len() || !answer.iter().all(|v| vectors::usable(v)) {
        return None;
    }
    Some(passages.iter().map(|p| p.id).zip(answer).collect())
}
