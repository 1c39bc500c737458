//! Switchboard core: domain types and the ports that adapters implement.
//!
//! Nothing in this crate performs I/O. The server crate plugs concrete adapters
//! (SQLite, Postgres, Redis, HTTP providers) into the traits defined here, which keeps
//! the domain testable and lets several nodes run in one process.

pub mod domain;
pub mod store;

pub use domain::{
    Email, Role, Scope, UserStatus,
    ids::{ApiKeyId, AuditId, RefreshFamilyId, RefreshTokenId, TenantId, UserId},
    time::Millis,
};
