//! The Graph API client: sends messages, fetches leads and media. The base URL is
//! configuration, so tests point it at a local fake speaking the same wire format.
//! Media links are not configuration (a webhook or a Graph answer names them), so they
//! are fetched through the guarded client, only from the provider's media hosts.

use super::webhook::graph_error_text;
use crate::http::guarded::{FetchError, GuardedClient, retry_after};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
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

/// A failed send, and whether the provider may have taken it all the same (no answer
/// came back after the request went out).
#[derive(Debug, Clone, PartialEq)]
pub struct SendFailure {
    pub error: GraphError,
    pub maybe_delivered: bool,
}

impl From<GraphError> for SendFailure {
    /// A failure with an answer (or before any call): the provider did not take it.
    fn from(error: GraphError) -> Self {
        Self {
            error,
            maybe_delivered: false,
        }
    }
}

/// Templates asked for per page.
const TEMPLATE_PAGE: usize = 100;

#[derive(Clone)]
pub struct Graph {
    http: reqwest::Client,
    /// Fetches media links: the provider's media hosts only, never private addresses.
    media: GuardedClient,
    /// `https://graph.facebook.com/v21.0`, without a trailing slash.
    base: String,
}

impl Graph {
    pub fn new(
        base_url: &str,
        version: &str,
        timeout: Duration,
        media: GuardedClient,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()?;
        Ok(Self {
            http,
            media,
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
        self.send_once(kind, account, token, body)
            .await
            .map_err(|failed| failed.error)
    }

    /// Like `send`, and says whether a failure may have reached the provider: a
    /// send that must not repeat (a broadcast's) cannot try again after one.
    pub async fn send_once(
        &self,
        kind: ChannelKind,
        account: &str,
        token: &str,
        body: &Value,
    ) -> Result<String, SendFailure> {
        let url = format!("{}/{}/messages", self.base, segment(account)?);
        let response = match self
            .http
            .post(url)
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .json(body)
            .send()
            .await
        {
            Ok(response) => response,
            Err(err) => {
                // Only a refused connection proves the request never left.
                let maybe_delivered = !err.is_connect();
                return Err(SendFailure {
                    error: transport(err),
                    maybe_delivered,
                });
            }
        };
        let response = success(response).await?;
        // From here the provider took the call: a failure may have sent it.
        let taken = |reason: String| SendFailure {
            error: GraphError::Permanent(reason),
            maybe_delivered: true,
        };
        let json: Value = response
            .json()
            .await
            .map_err(|err| taken(format!("the provider answered with unreadable JSON: {err}")))?;
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
            None => Err(taken(format!(
                "the provider accepted the call but returned no message id: {json}"
            ))),
        }
    }

    /// Every message template of a WhatsApp Business Account, page after page (by
    /// the `after` cursor: the `next` link the answer carries is not followed, so no
    /// URL from an answer is ever fetched); at most `max` of them.
    pub async fn templates(
        &self,
        token: &str,
        business_account: &str,
        max: usize,
    ) -> Result<Vec<Value>, GraphError> {
        let url = format!(
            "{}/{}/message_templates",
            self.base,
            segment(business_account)?
        );
        let mut templates = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut query = vec![
                (
                    "fields",
                    "name,language,category,status,components,rejected_reason".to_owned(),
                ),
                ("limit", TEMPLATE_PAGE.to_string()),
            ];
            if let Some(cursor) = &after {
                query.push(("after", cursor.clone()));
            }
            let query = serde_urlencoded::to_string(&query)
                .map_err(|err| GraphError::Permanent(err.to_string()))?;
            let response = self
                .http
                .get(format!("{url}?{query}"))
                .header(AUTHORIZATION, format!("Bearer {token}"))
                .send()
                .await
                .map_err(transport)?;
            let page = json_of(response).await?;
            let items = page
                .get("data")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let done = items.is_empty();
            templates.extend(items);
            if templates.len() >= max {
                return Err(GraphError::Permanent(format!(
                    "the business account has more than {max} templates"
                )));
            }
            after = page
                .pointer("/paging/cursors/after")
                .and_then(Value::as_str)
                .filter(|_| page.pointer("/paging/next").is_some())
                .map(str::to_owned);
            if done || after.is_none() {
                return Ok(templates);
            }
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

    /// Downloads a file the provider linked to (Messenger attachments carry a URL),
    /// through the guarded client.
    pub async fn download(
        &self,
        token: Option<&str>,
        url: &str,
    ) -> Result<(Vec<u8>, String), GraphError> {
        let mut headers = HeaderMap::new();
        if let Some(token) = token {
            let bearer = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                GraphError::Permanent("the access token is not a header value".into())
            })?;
            headers.insert(AUTHORIZATION, bearer);
        }
        fetch_file(&self.media, url, headers).await
    }
}

/// Fetches a file through a guarded client: its bytes and MIME type, or whether trying
/// again may help.
pub async fn fetch_file(
    client: &GuardedClient,
    url: &str,
    headers: HeaderMap,
) -> Result<(Vec<u8>, String), GraphError> {
    let fetched = match client.get(url, headers).await {
        Ok(fetched) => fetched,
        Err(FetchError::Status {
            status,
            headers,
            body,
        }) => {
            let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
            return Err(failure(status, &headers, &body));
        }
        Err(err @ (FetchError::Refused(_) | FetchError::TooLarge(_))) => {
            return Err(GraphError::Permanent(format!(
                "the media link cannot be fetched: {err}"
            )));
        }
        Err(err @ (FetchError::Timeout | FetchError::Transport(_))) => {
            return Err(GraphError::Retryable {
                reason: format!("the media host: {err}"),
                retry_after: None,
            });
        }
    };
    let mime = fetched
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    Ok((fetched.body, mime))
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
    let headers = response.headers().clone();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    Err(failure(status, &headers, &body))
}

/// Graph error codes that say "too many calls, later" whatever the HTTP status (Meta
/// answers some with 400): application and account rate limits (4, 80007), Cloud API
/// throughput (130429), too many messages to one user (131056).
const THROTTLED: [i64; 4] = [4, 80_007, 130_429, 131_056];

/// What an error answer means: worth retrying (5xx, 429; after `Retry-After`) or not.
fn failure(status: StatusCode, headers: &HeaderMap, body: &Value) -> GraphError {
    let retry_after = retry_after(headers);
    let detail = body
        .get("error")
        .map(graph_error_text)
        .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
    let reason = format!("{} ({})", detail, status.as_u16());
    let code = body
        .get("error")
        .and_then(|e| e.get("code"))
        .and_then(Value::as_i64);
    if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || code.is_some_and(|code| THROTTLED.contains(&code))
    {
        GraphError::Retryable {
            reason,
            retry_after,
        }
    } else {
        GraphError::Permanent(reason)
    }
}

async fn json_of(response: Response) -> Result<Value, GraphError> {
    let response = success(response).await?;
    response.json().await.map_err(|err| {
        GraphError::Permanent(format!("the provider answered with unreadable JSON: {err}"))
    })
}
