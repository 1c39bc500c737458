//! The Graph API client: sends messages, fetches leads and media. The base URL is
//! configuration, so tests point it at a local fake speaking the same wire format.

use super::webhook::graph_error_text;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Response, StatusCode};
use serde_json::Value;
use std::time::Duration;
use switchboard_actors::channel::ChannelKind;

/// Why a call failed, and whether trying again may help.
#[derive(Debug, Clone, PartialEq)]
pub enum GraphError {
    /// A timeout, a connection failure, a 5xx or a 429: the provider may accept the
    /// same call later (after `retry_after` when it said so).
    Retryable {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// The provider refused the call itself (bad recipient, expired token, policy).
    Permanent(String),
}

impl std::fmt::Display for GraphError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GraphError::Retryable { reason, .. } | GraphError::Permanent(reason) => {
                f.write_str(reason)
            }
        }
    }
}

#[derive(Clone)]
pub struct Graph {
    http: reqwest::Client,
    /// `https://graph.facebook.com/v21.0`, without a trailing slash.
    base: String,
}

/// Largest media file fetched from the provider.
pub const MAX_MEDIA_BYTES: usize = 100 * 1024 * 1024;

impl Graph {
    pub fn new(base_url: &str, version: &str, timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()?;
        Ok(Self {
            http,
            base: format!(
                "{}/{}",
                base_url.trim_end_matches('/'),
                version.trim_matches('/')
            ),
        })
    }

    /// Sends one message from `account`; returns the provider's message id.
    pub async fn send(
        &self,
        kind: ChannelKind,
        account: &str,
        token: &str,
        body: &Value,
    ) -> Result<String, GraphError> {
        let url = format!("{}/{}/messages", self.base, segment(account)?);
        let response = self
            .http
            .post(url)
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .json(body)
            .send()
            .await
            .map_err(transport)?;
        let json = json_of(response).await?;
        let id = match kind {
            ChannelKind::WhatsApp => json
                .get("messages")
                .and_then(|m| m.get(0))
                .and_then(|m| m.get("id"))
                .and_then(Value::as_str),
            _ => json.get("message_id").and_then(Value::as_str),
        };
        match id {
            Some(id) => Ok(id.to_owned()),
            // Marking as read answers {"success": true} and has no id.
            None if json.get("success").and_then(Value::as_bool) == Some(true) => Ok(String::new()),
            None => Err(GraphError::Permanent(format!(
                "the provider accepted the call but returned no message id: {json}"
            ))),
        }
    }

    /// A lead by its `leadgen_id`: `{id, created_time, field_data: [{name, values}], …}`.
    pub async fn lead(&self, token: &str, leadgen_id: &str) -> Result<Value, GraphError> {
        self.object(token, leadgen_id).await
    }

    /// `GET /{id}` of any Graph object.
    async fn object(&self, token: &str, id: &str) -> Result<Value, GraphError> {
        let url = format!("{}/{}", self.base, segment(id)?);
        let response = self
            .http
            .get(url)
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .send()
            .await
            .map_err(transport)?;
        json_of(response).await
    }

    /// Downloads WhatsApp media by id: the id resolves to a short-lived URL, which is
    /// fetched with the same token. Returns the bytes and their MIME type.
    pub async fn media(
        &self,
        token: &str,
        media_id: &str,
    ) -> Result<(Vec<u8>, String), GraphError> {
        let meta = self.object(token, media_id).await?;
        let Some(url) = meta.get("url").and_then(Value::as_str) else {
            return Err(GraphError::Permanent(
                "the media has no download URL".into(),
            ));
        };
        self.download(Some(token), url).await
    }

    /// Downloads a file the provider linked to (Messenger attachments carry a URL).
    pub async fn download(
        &self,
        token: Option<&str>,
        url: &str,
    ) -> Result<(Vec<u8>, String), GraphError> {
        let mut request = self.http.get(url);
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let response = request.send().await.map_err(transport)?;
        let response = success(response).await?;
        let mime = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_owned();
        if response
            .content_length()
            .is_some_and(|n| n > MAX_MEDIA_BYTES as u64)
        {
            return Err(GraphError::Permanent("the media is too large".into()));
        }
        let bytes = response.bytes().await.map_err(transport)?;
        if bytes.len() > MAX_MEDIA_BYTES {
            return Err(GraphError::Permanent("the media is too large".into()));
        }
        Ok((bytes.to_vec(), mime))
    }
}

/// An id placed in a URL path: provider ids are digits, letters, '.', '_', '-', '='.
fn segment(id: &str) -> Result<&str, GraphError> {
    let ok = !id.is_empty()
        && id.len() <= 256
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-=".contains(c));
    if ok {
        Ok(id)
    } else {
        Err(GraphError::Permanent(format!(
            "'{id}' is not a provider id"
        )))
    }
}

fn transport(err: reqwest::Error) -> GraphError {
    let reason = if err.is_timeout() {
        "the provider did not answer in time".to_owned()
    } else {
        format!("cannot reach the provider: {err}")
    };
    GraphError::Retryable {
        reason,
        retry_after: None,
    }
}

/// The response when it is a success; otherwise the error it means.
async fn success(response: Response) -> Result<Response, GraphError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let detail = body
        .get("error")
        .map(graph_error_text)
        .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
    let reason = format!("{} ({})", detail, status.as_u16());
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        Err(GraphError::Retryable {
            reason,
            retry_after,
        })
    } else {
        Err(GraphError::Permanent(reason))
    }
}

async fn json_of(response: Response) -> Result<Value, GraphError> {
    let response = success(response).await?;
    response.json().await.map_err(|err| {
        GraphError::Permanent(format!("the provider answered with unreadable JSON: {err}"))
    })
}
