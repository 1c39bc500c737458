//! The OpenAI-compatible chat completions API (`POST {base_url}/chat/completions`), as
//! OpenAI, Azure OpenAI, OpenRouter, Ollama, vLLM and LM Studio serve it: a system and
//! a user message, the answer held to a strict JSON schema (`response_format` of type
//! `json_schema`), the first choice's content read back. Every call goes through the
//! guarded client.

use super::call::{CallFailure, cut, post};
use super::settings::Provider;
use crate::http::guarded::GuardedClient;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::json;
use switchboard_actors::llm::{ChatReply, ChatRequest, TokenUsage};

/// The parts of a chat completion read here.
#[derive(Deserialize)]
struct Completion {
    #[serde(default)]
    model: Option<String>,
    choices: Vec<Choice>,
    /// `null` or missing where the server does not count tokens.
    #[serde(default)]
    usage: Option<TokenUsage>,
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
    let answer = post(client, &url, headers, &body, provider.timeout_ms).await?;
    let completion: Completion = serde_json::from_slice(&answer)
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
        usage: completion.usage.unwrap_or_default(),
    })
}
