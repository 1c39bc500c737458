//! Authentication (who is calling) and authorisation (what they may do).
//!
//! Users carry short-lived JWT access tokens and rotating opaque refresh tokens;
//! integrations carry API keys with scopes. Handlers state what they need in their
//! signature with `Authorized<P>`, where `P` is a permission from `permission.rs`.

pub mod access_token;
pub mod extract;
pub mod opaque;
pub mod password;
pub mod permission;
pub mod strength;
pub mod throttle;
