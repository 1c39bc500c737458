//! Meta's products: WhatsApp Cloud API, Messenger, Instagram and Lead Ads share one
//! Graph API and one webhook format.

pub mod graph;
pub mod leads;
pub mod outgoing;
pub mod signature;
pub mod webhook;
