//! The OpenAI-compatible chat completions API (`POST {base_url}/chat/completions`), as
//! OpenAI, Azure OpenAI, OpenRouter, Ollama, vLLM and LM Studio serve it: a system and
//! a user message, the answer held to a strict JSON schema (`response_format` of type
//! `json_schema`), the first choice's content read back. Every call goes through the
//! guarded client.

use super::settings::Provider;
use crate::http::guarded::{FetchError, GuardedClient};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;
use switchboard_actors::llm::{ChatReply, ChatRequest};

/// Why one provider gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallFailure {
    #[error("no answer within {0} ms")]
    Timeout(u64),
    /// A 5xx, or the host could not be reached.
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("rate limited (429)")]
    RateLimited,
    /// The model declined to answer.
    #[error("refused: {0}")]
    Refused(String),
    /// Another 4xx: a wrong key, model or request.
    #[error("rejected: {0}")]
    Rejected(String),
    /// Not the API's wire format.
    #[error("invalid answer: {0}")]
    Invalid(String),
    /// The guarded client refused the URL or its address.
    #[error("not allowed: {0}")]
    NotAllowed(String),
}

impl CallFailure {
    pub fn outcome(&self) -> &'static str {
        match self {
            CallFailure::Timeout(_) => "timeout",
            CallFailure::Unavailable(_) => "unavailable",
            CallFailure::RateLimited => "rate_limited",
            CallFailure::Refused(_) => "refused",
            CallFailure::Rejected(_) => "rejected",
            CallFailure::Invalid(_) => "invalid",
            CallFailure::NotAllowed(_) => "not_allowed",
        }
    }

    /// Whether it says the provider is unwell (and counts towards opening its
    /// circuit), rather than something about this request or our settings.
    pub fn is_outage(&self) -> bool {
        matches!(
            self,
            CallFailure::Timeout(_) | CallFailure::Unavailable(_) | CallFailure::RateLimited
        )
    }
}

/// The parts of a chat completion read here.
#[derive(Deserialize)]
struct Completion {
    #[serde(default)]
    model: Option<String>,
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: AssistantMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct AssistantMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
}

/// The longest part of a provider's error text kept in a failure.
const MAX_ERROR_CHARS: usize = 200;

pub async fn chat(
    client: &GuardedClient,
    provider: &Provider,
    request: &ChatRequest,
) -> Result<ChatReply, CallFailure> {
    let url = format!(
        "{}/chat/completions",
        provider.base_url.trim_end_matches('/')
    );
    let mut headers = HeaderMap::new();
    if let Some(key) = provider.api_key.as_deref().filter(|k| !k.is_empty()) {
        let value = HeaderValue::from_str(&format!("Bearer {key}"))
            .map_err(|_| CallFailure::Rejected("the API key is not a valid header".into()))?;
        headers.insert(AUTHORIZATION, value);
    }
    let body = json!({
        "model": provider.model,
        "messages": [
            {"role": "system", "content": request.system},
            {"role": "user", "content": request.user},
        ],
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": request.schema_name,
                "strict": true,
                "schema": request.schema,
            },
        },
        "max_tokens": request.max_tokens,
        "stream": false,
    });
    let limit = Duration::from_millis(provider.timeout_ms);
    let answer = tokio::time::timeout(limit, client.post_json(&url, headers, &body))
        .await
        .map_err(|_| CallFailure::Timeout(provider.timeout_ms))?
        .map_err(|err| failure(err, provider.timeout_ms))?;
    let completion: Completion = serde_json::from_slice(&answer.body)
        .map_err(|err| CallFailure::Invalid(format!("not a chat completion: {err}")))?;
    let choice = completion
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| CallFailure::Invalid("no choices".into()))?;
    if let Some(refusal) = choice.message.refusal.filter(|r| !r.is_empty()) {
        return Err(CallFailure::Refused(cut(&refusal)));
    }
    if choice.finish_reason.as_deref() == Some("content_filter") {
        return Err(CallFailure::Refused("stopped by the content filter".into()));
    }
    let content = choice
        .message
        .content
        .ok_or_else(|| CallFailure::Invalid("no content".into()))?;
    Ok(ChatReply {
        content,
        provider: provider.name.clone(),
        model: completion.model.unwrap_or_else(|| provider.model.clone()),
    })
}

fn failure(err: FetchError, timeout_ms: u64) -> CallFailure {
    match err {
        FetchError::Timeout => CallFailure::Timeout(timeout_ms),
        FetchError::Refused(why) => CallFailure::NotAllowed(why),
        FetchError::TooLarge(max) => CallFailure::Invalid(format!("larger than {max} bytes")),
        FetchError::Transport(why) => CallFailure::Unavailable(why),
        FetchError::Status { status, body, .. } => {
            let said = error_message(&body);
            match status.as_u16() {
                429 => CallFailure::RateLimited,
                500.. => CallFailure::Unavailable(format!("HTTP {status}{said}")),
                _ => CallFailure::Rejected(format!("HTTP {status}{said}")),
            }
        }
    }
}

/// `: message` from the API's `{"error": {"message": …}}`, if it has one.
fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(cut))
        .map(|m| format!(": {m}"))
        .unwrap_or_default()
}

fn cut(text: &str) -> String {
    text.chars().take(MAX_ERROR_CHARS).collect()
}
