//! Anthropic's Messages API (`POST {base_url}/messages`, `x-api-key` and
//! `anthropic-version` headers). The answer is held to the request's JSON schema the
//! way the API does it for every model: one tool whose `input_schema` is the schema,
//! and `tool_choice` forcing it, so the answer is that tool call's `input`. Every call
//! goes through the guarded client.

use super::call::{CallFailure, post};
use super::settings::Provider;
use crate::http::guarded::GuardedClient;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_actors::llm::{ChatReply, ChatRequest, TokenUsage};

/// The API version this adapter speaks.
const VERSION: &str = "2023-06-01";

/// The parts of a message read here.
#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    model: Option<String>,
    content: Vec<Block>,
    #[serde(default)]
    stop_reason: Option<String>,
    /// `null` or missing where the server does not count tokens.
    #[serde(default)]
    usage: Option<TokenUsage>,
}

#[derive(Deserialize)]
struct Block {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    input: Option<Value>,
}

pub async fn chat(
    client: &GuardedClient,
    provider: &Provider,
    request: &ChatRequest,
) -> Result<ChatReply, CallFailure> {
    let url = format!("{}/messages", provider.base_url.trim_end_matches('/'));
    let mut headers = HeaderMap::new();
    headers.insert(
        HeaderName::from_static("anthropic-version"),
        HeaderValue::from_static(VERSION),
    );
    if let Some(key) = provider.api_key.as_deref().filter(|k| !k.is_empty()) {
        let value = HeaderValue::from_str(key)
            .map_err(|_| CallFailure::Rejected("the API key is not a valid header".into()))?;
        headers.insert(HeaderName::from_static("x-api-key"), value);
    }
    let body = json!({
        "model": provider.model,
        "max_tokens": request.max_tokens,
        "system": request.system,
        "messages": [{"role": "user", "content": request.user}],
        "tools": [{
            "name": request.schema_name,
            "description": "Give the answer as this tool's input.",
            "input_schema": request.schema,
        }],
        "tool_choice": {"type": "tool", "name": request.schema_name},
    });
    let answer = post(client, &url, headers, &body, provider.timeout_ms).await?;
    let message: Message = serde_json::from_slice(&answer)
        .map_err(|err| CallFailure::Invalid(format!("not a message: {err}")))?;
    if message.stop_reason.as_deref() == Some("refusal") {
        return Err(CallFailure::Refused("the model declined".into()));
    }
    let input = message
        .content
        .into_iter()
        .find(|b| b.kind == "tool_use" && b.name.as_deref() == Some(request.schema_name))
        .and_then(|b| b.input)
        .ok_or_else(|| CallFailure::Invalid(format!("no {} tool call", request.schema_name)))?;
    Ok(ChatReply {
        content: input.to_string(),
        provider: provider.name.clone(),
        model: message.model.unwrap_or_else(|| provider.model.clone()),
        usage: message.usage.unwrap_or_default(),
    })
}
