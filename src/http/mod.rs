//! HTTP plumbing: for every route, request ids, observation (logs, metrics, the error
//! envelope), rate limits, client addresses and extractor error handling; for calls
//! out, the guarded client that fetches URLs from outside.

pub mod client;
pub mod extract_errors;
pub mod guarded;
pub mod observe;
pub mod rate_limit;
pub mod request_id;
