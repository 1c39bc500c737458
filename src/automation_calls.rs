//! The automations' `webhook` action over the guarded client: the URL a tenant typed
//! is checked (scheme, host, every address it resolves to) like any URL from input.

use crate::http::guarded::{FetchError, GuardedClient};
use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;
use switchboard_actors::automation::steps::{CallFailure, HttpCaller};

/// The most of an answer read: the status is what counts.
pub const ANSWER_MAX_BYTES: usize = 64 * 1024;

pub struct GuardedCaller(pub GuardedClient);

#[async_trait]
impl HttpCaller for GuardedCaller {
    async fn post(
        &self,
        url: &str,
        idempotency_key: &str,
        body: &Value,
    ) -> Result<u16, CallFailure> {
        let mut headers = HeaderMap::new();
        if let Ok(key) = HeaderValue::from_str(idempotency_key) {
            headers.insert("idempotency-key", key);
        }
        match self.0.post_json(url, headers, body).await {
            Ok(_) => Ok(200),
            Err(FetchError::Status { status, .. })
                if status.is_server_error() || status.as_u16() == 429 =>
            {
                Err(CallFailure::Retry(format!("HTTP {status}")))
            }
            Err(FetchError::Status { status, .. }) => {
                Err(CallFailure::Permanent(format!("HTTP {status}")))
            }
            Err(err @ FetchError::Refused(_)) => Err(CallFailure::Permanent(err.to_string())),
            // A larger answer than we read still means the call arrived.
            Err(FetchError::TooLarge(_)) => Ok(200),
            Err(err) => Err(CallFailure::Retry(err.to_string())),
        }
    }
}
