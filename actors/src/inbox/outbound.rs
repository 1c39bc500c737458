//! The outbound port: how a reply leaves for the customer's channel. The channel
//! adapters implement it; delivery reports come back through `Inbox::report_status`.

use super::records::{Conversation, Message};
use crate::{ChannelKey, ConversationId, TenantId};

/// One stored reply to hand to its channel.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub tenant: TenantId,
    pub channel: ChannelKey,
    pub conversation: ConversationId,
    pub message: Message,
}

pub trait Outbound: Send + Sync + 'static {
    /// Takes a reply for delivery and returns at once: the conversation actor calls
    /// it inline and must not wait on a provider.
    fn dispatch(&self, delivery: Delivery);

    /// An agent read the conversation: tell the customer's channel (WhatsApp shows
    /// blue ticks). Best effort and returns at once; channels without read receipts
    /// ignore it.
    fn mark_read(&self, tenant: TenantId, conversation: &Conversation);
}
