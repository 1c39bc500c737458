//! Value types that are parsed once at the edge and trusted everywhere after.

mod email;
pub mod ids;
mod role;
mod scope;
pub mod time;

pub use email::Email;
pub use role::{Role, UserStatus};
pub use scope::Scope;

/// Why a value from outside was refused; the message is safe to show to a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);
