//! Broadcasts leave through the channel's Graph API from a durable job: see `sender`.

pub mod sender;
