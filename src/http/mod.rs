//! HTTP plumbing shared by every route: request ids, observation (logs, metrics, the
//! error envelope), rate limits, client addresses and extractor error handling.

pub mod client;
pub mod extract_errors;
pub mod observe;
pub mod rate_limit;
pub mod request_id;
