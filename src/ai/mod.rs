//! Language models for a tenant: its providers from its sealed settings, tried in
//! order until one answers, each behind a circuit breaker of its own. The pipeline
//! asks through the `TenantModels` port; nothing here knows what it asks.

pub mod anthropic;
pub mod call;
pub mod openai;
pub mod settings;

use crate::channels::breaker::{Breaker, Circuit};
use crate::channels::credentials::Sealer;
use crate::http::guarded::GuardedClient;
use crate::telemetry::Metrics;
use async_trait::async_trait;
use call::CallFailure;
use dashmap::DashMap;
use settings::{AiSettings, Provider, ProviderKind};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard_actors::llm::{
    ChatReply, ChatRequest, LlmFailure, LlmProvider, TenantModels, UnderstandingModel,
};
use switchboard_actors::store::{Store, StoreError};
use switchboard_actors::{Millis, TenantId};

/// When a provider's circuit opens, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct BreakerRule {
    pub failures: u32,
    pub open_for: Duration,
}

type Breakers = DashMap<(TenantId, String), Breaker>;

/// The server's `TenantModels`: reads a tenant's settings when the pipeline asks.
pub struct Models {
    store: Arc<dyn Store>,
    sealer: Sealer,
    client: GuardedClient,
    breakers: Arc<Breakers>,
    rule: BreakerRule,
    metrics: Metrics,
}

impl Models {
    pub fn new(
        store: Arc<dyn Store>,
        sealer: Sealer,
        client: GuardedClient,
        rule: BreakerRule,
        metrics: Metrics,
    ) -> Self {
        Self {
            store,
            sealer,
            client,
            breakers: Arc::new(DashMap::new()),
            rule,
            metrics,
        }
    }
}

impl Models {
    /// The tenant's settings, when it saved some that open.
    async fn settings(&self, tenant: TenantId) -> Result<Option<AiSettings>, StoreError> {
        let Some(sealed) = self.store.ai_settings(tenant).await? else {
            return Ok(None);
        };
        match AiSettings::open(&self.sealer, tenant, &sealed) {
            Ok(settings) => Ok(Some(settings)),
            Err(err) => {
                // The rules go on alone; an admin saving the settings again mends it.
                tracing::error!(%tenant, error = %err, "cannot open the tenant's AI settings");
                Ok(None)
            }
        }
    }

    fn failover(&self, tenant: TenantId, providers: Vec<Provider>) -> Arc<Failover> {
        Arc::new(Failover {
            tenant,
            store: self.store.clone(),
            providers,
            client: self.client.clone(),
            breakers: self.breakers.clone(),
            rule: self.rule,
            metrics: self.metrics.clone(),
        })
    }
}

#[async_trait]
impl TenantModels for Models {
    async fn understanding(
        &self,
        tenant: TenantId,
    ) -> Result<Option<UnderstandingModel>, StoreError> {
        let Some(settings) = self.settings(tenant).await? else {
            return Ok(None);
        };
        if !settings.understanding.enabled || settings.providers.is_empty() {
            return Ok(None);
        }
        Ok(Some(UnderstandingModel {
            below_confidence: settings.understanding.below_confidence,
            provider: self.failover(tenant, settings.providers),
        }))
    }

    async fn replies(&self, tenant: TenantId) -> Result<Option<Arc<dyn LlmProvider>>, StoreError> {
        let providers = self
            .settings(tenant)
            .await?
            .map(|s| s.providers)
            .unwrap_or_default();
        if providers.is_empty() {
            return Ok(None);
        }
        Ok(Some(self.failover(tenant, providers)))
    }
}

/// A tenant's providers in order: the first to answer wins.
struct Failover {
    tenant: TenantId,
    store: Arc<dyn Store>,
    providers: Vec<Provider>,
    client: GuardedClient,
    breakers: Arc<Breakers>,
    rule: BreakerRule,
    metrics: Metrics,
}

impl Failover {
    fn circuit(&self, provider: &Provider) -> Circuit {
        self.breakers
            .entry((self.tenant, provider.name.clone()))
            .or_insert_with(|| Breaker::new(self.rule.failures, self.rule.open_for))
            .circuit(Instant::now())
    }

    fn settle(&self, provider: &Provider, outcome: Result<(), &CallFailure>) {
        let Some(mut breaker) = self.breakers.get_mut(&(self.tenant, provider.name.clone())) else {
            return;
        };
        match outcome {
            Ok(()) => breaker.succeeded(),
            Err(CallFailure::RateLimited(Some(wait))) => {
                breaker.told_to_wait(Instant::now(), *wait);
            }
            // Only an unwell provider counts towards its circuit; a wrong key or an
            // odd answer says nothing about its health.
            Err(failure) if failure.is_outage() => breaker.failed(Instant::now()),
            Err(_) => {}
        }
    }

    /// Adds the answer to the tenant's monthly usage. A failure to count loses the
    /// count, not the answer.
    async fn count(&self, reply: &ChatReply) {
        let at = Millis::now();
        if let Err(err) = self
            .store
            .add_ai_usage(
                self.tenant,
                &at.month(),
                &reply.provider,
                &reply.model,
                reply.usage,
                at,
            )
            .await
        {
            tracing::warn!(tenant = %self.tenant, error = %err, "cannot count a model call's tokens");
        }
    }

    async fn call(
        &self,
        provider: &Provider,
        request: &ChatRequest,
    ) -> Result<ChatReply, CallFailure> {
        match provider.kind {
            ProviderKind::Openai => openai::chat(&self.client, provider, request).await,
            ProviderKind::Anthropic => anthropic::chat(&self.client, provider, request).await,
        }
    }
}

#[async_trait]
impl LlmProvider for Failover {
    async fn chat(&self, request: ChatRequest) -> Result<ChatReply, LlmFailure> {
        let mut tried = Vec::new();
        for provider in &self.providers {
            let kind = provider.kind.as_str();
            if let Circuit::Open(_) = self.circuit(provider) {
                self.metrics.record_llm_call(kind, "circuit_open");
                tried.push(format!("{}: circuit open", provider.name));
                continue;
            }
            match self.call(provider, &request).await {
                Ok(reply) => {
                    self.settle(provider, Ok(()));
                    self.metrics.record_llm_call(kind, "ok");
                    self.metrics.record_llm_tokens(kind, reply.usage);
                    self.count(&reply).await;
                    return Ok(reply);
                }
                Err(failure) => {
                    self.settle(provider, Err(&failure));
                    self.metrics.record_llm_call(kind, failure.outcome());
                    tried.push(format!("{}: {failure}", provider.name));
                }
            }
        }
        Err(LlmFailure(tried.join("; ")))
    }
}
