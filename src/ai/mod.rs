//! Language models for a tenant: its providers from its sealed settings, tried in
//! order until one answers, each behind a circuit breaker of its own. The pipeline
//! asks through the `TenantModels` port; nothing here knows what it asks.

pub mod anthropic;
pub mod call;
pub mod embeddings;
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
    ChatReply, ChatRequest, Embedder, LlmFailure, LlmProvider, TenantModels, TokenUsage,
    UnderstandingModel,
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

/// A tenant's monthly token budget in force: its own, held to the server's cap
/// (`ai.max_monthly_tokens`); 0 in either means none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetLimit {
    pub tokens: u64,
    pub warn_at: u64,
}

impl BudgetLimit {
    pub fn of(budget: &settings::Budget, server_cap: u64) -> Option<Self> {
        let tokens = match (budget.monthly_tokens, server_cap) {
            (0, 0) => return None,
            (0, cap) => cap,
            (own, 0) => own,
            (own, cap) => own.min(cap),
        };
        Some(Self {
            tokens,
            warn_at: tokens.saturating_mul(u64::from(budget.warn_percent)) / 100,
        })
    }

    /// `ok`, `warning` (past `warn_at`) or `spent`.
    pub fn state(&self, used: u64) -> &'static str {
        if used >= self.tokens {
            "spent"
        } else if used >= self.warn_at {
            "warning"
        } else {
            "ok"
        }
    }
}

/// Tokens (input and output) a tenant's calls used in `month`.
pub async fn tokens_used(
    store: &dyn Store,
    tenant: TenantId,
    month: &str,
) -> Result<u64, StoreError> {
    let rows = store.ai_usage(tenant, month).await?;
    Ok(rows.iter().map(|r| r.input_tokens + r.output_tokens).sum())
}

/// The server's `TenantModels`: reads a tenant's settings when the pipeline asks.
pub struct Models {
    store: Arc<dyn Store>,
    sealer: Sealer,
    client: GuardedClient,
    breakers: Arc<Breakers>,
    rule: BreakerRule,
    metrics: Metrics,
    /// `ai.max_monthly_tokens`.
    server_cap: u64,
}

impl Models {
    pub fn new(
        store: Arc<dyn Store>,
        sealer: Sealer,
        client: GuardedClient,
        rule: BreakerRule,
        metrics: Metrics,
        server_cap: u64,
    ) -> Self {
        Self {
            store,
            sealer,
            client,
            breakers: Arc::new(DashMap::new()),
            rule,
            metrics,
            server_cap,
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

    fn failover(&self, tenant: TenantId, settings: AiSettings) -> Failover {
        Failover {
            tenant,
            store: self.store.clone(),
            budget: BudgetLimit::of(&settings.budget, self.server_cap),
            providers: settings.providers,
            client: self.client.clone(),
            breakers: self.breakers.clone(),
            rule: self.rule,
            metrics: self.metrics.clone(),
        }
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
            provider: Arc::new(self.failover(tenant, settings)),
        }))
    }

    async fn replies(&self, tenant: TenantId) -> Result<Option<Arc<dyn LlmProvider>>, StoreError> {
        match self.settings(tenant).await? {
            Some(settings) if !settings.providers.is_empty() => {
                Ok(Some(Arc::new(self.failover(tenant, settings))))
            }
            _ => Ok(None),
        }
    }

    async fn embedder(&self, tenant: TenantId) -> Result<Option<Arc<dyn Embedder>>, StoreError> {
        let Some(settings) = self.settings(tenant).await? else {
            return Ok(None);
        };
        let Some(key) = settings.embedding_model() else {
            return Ok(None);
        };
        let wanted = settings.embeddings.clone();
        let Some(provider) = settings
            .providers
            .iter()
            .find(|p| p.name == wanted.provider)
            .cloned()
        else {
            return Ok(None);
        };
        Ok(Some(Arc::new(EmbeddingModel {
            calls: self.failover(tenant, settings),
            provider,
            provider_model: wanted.model,
            model: key,
        })))
    }
}

/// A tenant's embedding model: one provider, behind its circuit and within the
/// tenant's budget like its chat calls.
struct EmbeddingModel {
    calls: Failover,
    provider: Provider,
    /// The model's name at the provider.
    provider_model: String,
    /// `provider/model`, what the vectors are marked with.
    model: String,
}

#[async_trait]
impl Embedder for EmbeddingModel {
    fn model(&self) -> &str {
        &self.model
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, LlmFailure> {
        let used = self.calls.check_budget().await?;
        let call = async {
            embeddings::embed(
                &self.calls.client,
                &self.provider,
                &self.provider_model,
                texts,
            )
            .await
            .map(|(vectors, usage)| (vectors, self.provider_model.clone(), usage))
        };
        self.calls
            .attempt(&self.provider, "embeddings", used, call)
            .await
            .map_err(LlmFailure)
    }
}

/// A tenant's providers in order: the first to answer wins, while its budget lasts.
struct Failover {
    tenant: TenantId,
    store: Arc<dyn Store>,
    budget: Option<BudgetLimit>,
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
    async fn count(&self, provider: &str, model: &str, usage: TokenUsage) {
        let at = Millis::now();
        if let Err(err) = self
            .store
            .add_ai_usage(self.tenant, &at.month(), provider, model, usage, at)
            .await
        {
            tracing::warn!(tenant = %self.tenant, error = %err, "cannot count a model call's tokens");
        }
    }

    /// The tokens used this month, when there is a budget; refused once it is spent.
    async fn check_budget(&self) -> Result<Option<u64>, LlmFailure> {
        let Some(budget) = self.budget else {
            return Ok(None);
        };
        let used = match tokens_used(self.store.as_ref(), self.tenant, &Millis::now().month()).await
        {
            Ok(used) => used,
            Err(err) => {
                // An unreadable count does not stop the business's replies.
                tracing::warn!(tenant = %self.tenant, error = %err, "cannot read the month's token usage");
                return Ok(None);
            }
        };
        if used >= budget.tokens {
            self.metrics.record_llm_call("any", "budget_spent");
            return Err(LlmFailure(format!(
                "the monthly token budget ({} tokens) is spent",
                budget.tokens
            )));
        }
        Ok(Some(used))
    }

    /// Says so once, when an answer takes the month's usage past the warning share.
    fn warn_near_budget(&self, used: Option<u64>, usage: TokenUsage) {
        let (Some(budget), Some(before)) = (self.budget, used) else {
            return;
        };
        let after = before + u64::from(usage.input) + u64::from(usage.output);
        if before < budget.warn_at && after >= budget.warn_at {
            self.metrics.record_llm_budget_warning();
            tracing::warn!(tenant = %self.tenant, used = after, budget = budget.tokens, "the tenant's monthly token budget is nearly spent");
        }
    }

    /// One call to one provider behind its circuit: the answer, counted (metrics, the
    /// tenant's monthly usage, the budget's warning), or why there is none, naming the
    /// provider. `call` answers with the model that answered and the tokens it used.
    async fn attempt<T>(
        &self,
        provider: &Provider,
        kind: &'static str,
        used: Option<u64>,
        call: impl Future<Output = Result<(T, String, TokenUsage), CallFailure>>,
    ) -> Result<T, String> {
        if let Circuit::Open(_) = self.circuit(provider) {
            self.metrics.record_llm_call(kind, "circuit_open");
            return Err(format!("{}: circuit open", provider.name));
        }
        match call.await {
            Ok((answer, model, usage)) => {
                self.settle(provider, Ok(()));
                self.metrics.record_llm_call(kind, "ok");
                self.metrics.record_llm_tokens(kind, usage);
                self.count(&provider.name, &model, usage).await;
                self.warn_near_budget(used, usage);
                Ok(answer)
            }
            Err(failure) => {
                self.settle(provider, Err(&failure));
                self.metrics.record_llm_call(kind, failure.outcome());
                Err(format!("{}: {failure}", provider.name))
            }
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
        let used = self.check_budget().await?;
        let mut tried = Vec::new();
        for provider in &self.providers {
            let call = async {
                self.call(provider, &request).await.map(|reply| {
                    let (model, usage) = (reply.model.clone(), reply.usage);
                    (reply, model, usage)
                })
            };
            match self
                .attempt(provider, provider.kind.as_str(), used, call)
                .await
            {
                Ok(reply) => return Ok(reply),
                Err(why) => tried.push(why),
            }
        }
        Err(LlmFailure(tried.join("; ")))
    }
}
