//! The outbound port: how a reply leaves for the customer's channel. The channel
//! adapters implement it; delivery reports come back through `Inbox::report_status`.

use super::records::Message;
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
}
