//! The language-model port: a chat request with a strict JSON answer, and a tenant's
//! models behind it. The server's adapter speaks the OpenAI-compatible chat
//! completions API through the guarded client, tries the tenant's providers in order
//! and keeps each behind a circuit breaker; the pipeline only sees an answer or why
//! there is none, and its rules stand when there is none.

use crate::TenantId;
use crate::store::StoreError;
use async_trait::async_trait;
use std::sync::Arc;

/// One request: instructions, the customer's text, and the JSON schema the answer
/// must follow.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    pub system: String,
    pub user: String,
    /// The schema's name as the provider wants one (letters, digits, `_`).
    pub schema_name: &'static str,
    pub schema: serde_json::Value,
    pub max_tokens: u32,
}

/// The model's answer: its text (JSON, not yet checked against the schema), which
/// provider and model gave it, and the tokens it said the call used.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatReply {
    pub content: String,
    pub provider: String,
    pub model: String,
    pub usage: TokenUsage,
}

/// What one provider's model used in a month: calls answered and their tokens.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ModelUsage {
    pub provider: String,
    pub model: String,
    pub requests: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// Tokens a call used, as the provider counted them (zero where it did not say). Read
/// straight from an answer's `usage`: OpenAI's `prompt_tokens`/`completion_tokens` or
/// Anthropic's `input_tokens`/`output_tokens`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
pub struct TokenUsage {
    #[serde(default, alias = "prompt_tokens", alias = "input_tokens")]
    pub input: u32,
    #[serde(default, alias = "completion_tokens", alias = "output_tokens")]
    pub output: u32,
}

/// Why no provider answered. The text names each provider tried and what it did.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LlmFailure(pub String);

#[async_trait]
pub trait LlmProvider: Send + Sync {
    async fn chat(&self, request: ChatRequest) -> Result<ChatReply, LlmFailure>;
}

/// What a tenant set up for the pipeline's understanding.
#[derive(Clone)]
pub struct UnderstandingModel {
    pub provider: Arc<dyn LlmProvider>,
    /// Messages the rules understood with less confidence than this go to the model.
    pub below_confidence: f64,
}

/// A tenant's embedding model: texts in, one vector each out, in order.
#[async_trait]
pub trait Embedder: Send + Sync {
    /// Names the provider and model, so vectors from different models never meet.
    fn model(&self) -> &str;

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, LlmFailure>;
}

#[async_trait]
pub trait TenantModels: Send + Sync {
    /// The tenant's model for understanding, if it configured one.
    async fn understanding(
        &self,
        tenant: TenantId,
    ) -> Result<Option<UnderstandingModel>, StoreError>;

    /// The tenant's providers for replies, if it configured any.
    async fn replies(&self, tenant: TenantId) -> Result<Option<Arc<dyn LlmProvider>>, StoreError>;

    /// The tenant's embedding model for its knowledge base, if it configured one.
    async fn embedder(&self, tenant: TenantId) -> Result<Option<Arc<dyn Embedder>>, StoreError>;
}

/// For a server or a test without any model.
pub struct NoModels;

#[async_trait]
impl TenantModels for NoModels {
    async fn understanding(&self, _: TenantId) -> Result<Option<UnderstandingModel>, StoreError> {
        Ok(None)
    }

    async fn replies(&self, _: TenantId) -> Result<Option<Arc<dyn LlmProvider>>, StoreError> {
        Ok(None)
    }

    async fn embedder(&self, _: TenantId) -> Result<Option<Arc<dyn Embedder>>, StoreError> {
        Ok(None)
    }
}
