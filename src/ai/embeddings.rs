//! The OpenAI-compatible embeddings API (`POST {base_url}/embeddings`), as OpenAI,
//! Azure OpenAI, OpenRouter, Ollama, vLLM and LM Studio serve it: a list of texts in,
//! `data[].embedding` out (matched back by `data[].index`), `usage.prompt_tokens`
//! counted. Every call goes through the guarded client.

use super::call::{CallFailure, post};
use super::settings::Provider;
use crate::http::guarded::GuardedClient;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::json;
use switchboard_actors::llm::TokenUsage;

#[derive(Deserialize)]
struct EmbeddingList {
    data: Vec<Embedding>,
    #[serde(default)]
    usage: Option<TokenUsage>,
}

#[derive(Deserialize)]
struct Embedding {
    index: usize,
    embedding: Vec<f32>,
}

/// The texts' vectors in the order of the texts, and the tokens the call used.
pub async fn embed(
    client: &GuardedClient,
    provider: &Provider,
    model: &str,
    texts: &[String],
) -> Result<(Vec<Vec<f32>>, TokenUsage), CallFailure> {
    let url = format!("{}/embeddings", provider.base_url.trim_end_matches('/'));
    let mut headers = HeaderMap::new();
    if let Some(key) = provider.api_key.as_deref().filter(|k| !k.is_empty()) {
        let value = HeaderValue::from_str(&format!("Bearer {key}"))
            .map_err(|_| CallFailure::Rejected("the API key is not a valid header".into()))?;
        headers.insert(AUTHORIZATION, value);
    }
    let body = json!({"model": model, "input": texts, "encoding_format": "float"});
    let answer = post(client, &url, headers, &body, provider.timeout_ms).await?;
    let list: EmbeddingList = serde_json::from_slice(&answer)
        .map_err(|err| CallFailure::Invalid(format!("not an embedding list: {err}")))?;
    let mut vectors: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
    for item in list.data {
        let slot = vectors
            .get_mut(item.index)
            .ok_or_else(|| CallFailure::Invalid(format!("no text has index {}", item.index)))?;
        *slot = Some(item.embedding);
    }
    let vectors = vectors
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| CallFailure::Invalid("a text has no embedding".into()))?;
    Ok((vectors, list.usage.unwrap_or_default()))
}
