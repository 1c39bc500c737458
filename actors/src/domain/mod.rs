//! Value types that are parsed once at the edge and trusted everywhere after.

pub mod backoff;
pub mod conversation;
mod email;
pub mod ids;
mod label;
pub mod message;
mod phone;
mod role;
mod scope;
pub mod text;
pub(crate) mod text_enum;
pub mod time;

pub use conversation::{ConversationStatus, Priority};
pub use email::Email;
pub use label::{ChannelKey, SandboxName, TagName};
pub use message::{ClientMessageId, DeliveryStatus, Direction, MessageKind};
pub use phone::{PhoneE164, country_code};
pub use role::{Role, UserStatus};
pub use scope::Scope;

/// Why a value from outside was refused; the message is safe to show to a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);
