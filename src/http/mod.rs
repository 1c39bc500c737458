//! HTTP plumbing: for every route, request ids, observation (logs, metrics, the error
//! envelope), rate limits, client addresses, the connection cap, the body deadline and
//! extractor error handling; for calls out, the guarded client that fetches URLs from
//! outside.

pub mod body_deadline;
pub mod client;
pub mod connections;
pub mod extract_errors;
pub mod guarded;
pub mod json;
pub mod listeners;
pub mod observe;
pub mod rate_limit;
pub mod request_id;
