//! Provider webhooks: unauthenticated by session, authenticated by signature.

pub mod meta;
