//! Channels a tenant connects (a WhatsApp number, a Facebook page, an Instagram
//! account, a Lead Ads page) and what the gateway keeps about their traffic: failed
//! webhook deliveries and replies that could not be delivered.

pub mod policy;
pub mod records;
pub mod store;
pub mod templates;

pub use records::{Channel, ChannelKind, ChannelState, DeadLetter, WebhookLogEntry};
