//! The id that ties a response to its log lines.
//!
//! It lives in a task-local for the duration of the request, so `ApiError` can put it
//! in every error body without each handler passing it along.

use actix_web::http::header::HeaderMap;
use uuid::Uuid;

pub const HEADER: &str = "x-request-id";
/// An incoming id longer than this is replaced, so clients cannot bloat our logs.
const MAX_INCOMING_LEN: usize = 64;

tokio::task_local! {
    static CURRENT: String;
}

/// Takes a well-formed id from a proxy's `X-Request-Id`, or makes a new one.
pub fn from_headers_or_new(headers: &HeaderMap) -> String {
    headers
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| {
            !id.is_empty()
                && id.len() <= MAX_INCOMING_LEN
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
        .map_or_else(|| Uuid::now_v7().to_string(), str::to_owned)
}

/// Runs `fut` with `id` as the current request id.
pub async fn scope<F: Future>(id: String, fut: F) -> F::Output {
    CURRENT.scope(id, fut).await
}

/// The id of the request being served, if any.
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}
