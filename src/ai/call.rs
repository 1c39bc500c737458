//! What the provider adapters share: one bounded call through the guarded client, and
//! what its failure means for failover and the provider's circuit.

use crate::http::guarded::{FetchError, GuardedClient, retry_after};
use reqwest::header::HeaderMap;
use std::time::Duration;

/// Why one provider gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallFailure {
    #[error("no answer within {0} ms")]
    Timeout(u64),
    /// A 5xx (Anthropic's 529 "overloaded" included), or the host could not be reached.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A 429, with how long the provider asked us to wait when it said (`Retry-After`
    /// in seconds).
    #[error("rate limited (429)")]
    RateLimited(Option<Duration>),
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
            CallFailure::RateLimited(_) => "rate_limited",
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
            CallFailure::Timeout(_) | CallFailure::Unavailable(_) | CallFailure::RateLimited(_)
        )
    }
}

/// The longest part of a provider's error text kept in a failure.
const MAX_ERROR_CHARS: usize = 200;

/// The longest wait a `Retry-After` can ask for: a provider that says more is skipped
/// for this long, then tried again.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3_600);

/// POSTs `body` as JSON and returns the answer's body, within `timeout_ms` all told.
pub async fn post(
    client: &GuardedClient,
    url: &str,
    headers: HeaderMap,
    body: &serde_json::Value,
    timeout_ms: u64,
) -> Result<Vec<u8>, CallFailure> {
    let limit = Duration::from_millis(timeout_ms);
    let answer = tokio::time::timeout(limit, client.post_json(url, headers, body))
        .await
        .map_err(|_| CallFailure::Timeout(timeout_ms))?
        .map_err(|err| failure(err, timeout_ms))?;
    Ok(answer.body)
}

fn failure(err: FetchError, timeout_ms: u64) -> CallFailure {
    match err {
        FetchError::Timeout => CallFailure::Timeout(timeout_ms),
        FetchError::Refused(why) => CallFailure::NotAllowed(why),
        FetchError::TooLarge(max) => CallFailure::Invalid(format!("larger than {max} bytes")),
        FetchError::Transport(why) => CallFailure::Unavailable(why),
        FetchError::Status {
            status,
            headers,
            body,
        } => {
            let said = error_message(&body);
            match status.as_u16() {
                429 => CallFailure::RateLimited(
                    retry_after(&headers).map(|wait| wait.min(MAX_RETRY_AFTER)),
                ),
                500.. => CallFailure::Unavailable(format!("HTTP {status}{said}")),
                _ => CallFailure::Rejected(format!("HTTP {status}{said}")),
            }
        }
    }
}

/// `: message` from an error body, if it has one: both OpenAI's `{"error": {"message":
/// …}}` and Anthropic's `{"type": "error", "error": {"type": …, "message": …}}`.
fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(cut))
        .map(|m| format!(": {m}"))
        .unwrap_or_default()
}

pub fn cut(text: &str) -> String {
    text.chars().take(MAX_ERROR_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;
    use reqwest::header::{HeaderValue, RETRY_AFTER};

    fn status(code: u16, retry_after: Option<&str>, body: &str) -> CallFailure {
        let mut headers = HeaderMap::new();
        if let Some(value) = retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        }
        failure(
            FetchError::Status {
                status: StatusCode::from_u16(code).unwrap(),
                headers,
                body: body.as_bytes().to_vec(),
            },
            1_000,
        )
    }

    #[test]
    fn a_429_keeps_how_long_to_wait_capped_at_an_hour_and_ignores_a_date() {
        assert_eq!(
            status(429, Some("30"), "{}"),
            CallFailure::RateLimited(Some(Duration::from_secs(30)))
        );
        assert_eq!(
            status(429, Some("86400"), "{}"),
            CallFailure::RateLimited(Some(MAX_RETRY_AFTER))
        );
        assert_eq!(
            status(429, Some("Wed, 21 Oct 2026 07:28:00 GMT"), "{}"),
            CallFailure::RateLimited(None)
        );
        assert_eq!(status(429, None, "{}"), CallFailure::RateLimited(None));
    }

    #[test]
    fn error_statuses_name_what_the_provider_said_in_either_wire_format() {
        assert_eq!(
            status(
                529,
                None,
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
            ),
            CallFailure::Unavailable("HTTP 529 <unknown status code>: Overloaded".into())
        );
        assert_eq!(
            status(
                401,
                None,
                r#"{"error":{"message":"Incorrect API key provided"}}"#
            ),
            CallFailure::Rejected("HTTP 401 Unauthorized: Incorrect API key provided".into())
        );
    }
}
