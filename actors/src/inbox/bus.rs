//! The bus port: how committed events reach the agents connected to other nodes.
//!
//! The bus is a speed path only (G7). Every node's tenant actors also poll the store,
//! so an event the bus loses, delays or repeats is still delivered once, in order:
//! the tenant actor places each event by its offset and drops what it already sent.

use super::access::AccessChange;
use super::frames::PresenceStatus;
use super::stream::StreamEvent;
use crate::{ConversationId, TenantId, UserId};

/// Which node a signal comes from, so presence can expire per node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeId(pub uuid::Uuid);

/// Live state that is never stored: who is online, who is typing or looking.
#[derive(Debug, Clone, PartialEq)]
pub enum Signal {
    /// A user's presence on the sending node: `Offline` when their last connection
    /// there closed. Repeated as a heartbeat while it holds, so it expires on the
    /// other nodes when the sending node dies.
    Presence {
        user: UserId,
        status: PresenceStatus,
    },
    Activity {
        kind: ActivityKind,
        conversation: ConversationId,
        user: UserId,
        active: bool,
    },
    /// A user's access changed: their connections on every node re-grant or close.
    Access { user: UserId, change: AccessChange },
}

/// What a team member is doing in one conversation, shown live to the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActivityKind {
    Typing,
    /// Has the conversation open: "who else is viewing".
    Viewing,
}

impl ActivityKind {
    /// The frame type agents receive, and the name on the bus.
    pub fn as_str(self) -> &'static str {
        match self {
            ActivityKind::Typing => "typing",
            ActivityKind::Viewing => "viewing",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "typing" => Some(ActivityKind::Typing),
            "viewing" => Some(ActivityKind::Viewing),
            _ => None,
        }
    }
}

/// What other nodes say of a tenant's users right now: (node, user, status).
pub type Present = Vec<(NodeId, UserId, PresenceStatus)>;

#[async_trait::async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Offers a tenant's newly committed events to the other nodes. Returns at once.
    fn publish(&self, tenant: TenantId, events: &[StreamEvent]);

    /// Offers a live signal to the other nodes. Returns at once; a lost one is
    /// corrected by the next heartbeat (presence) or repeat (typing, viewing).
    fn signal(&self, tenant: TenantId, signal: Signal);

    /// Who the other nodes have online in `tenant` now, so a tenant actor that
    /// starts shows them at once instead of after the next heartbeat. Empty when
    /// the bus cannot say (quickly).
    async fn present(&self, tenant: TenantId) -> Present;
}

/// A single node: there is nobody to tell.
pub struct LocalBus;

#[async_trait::async_trait]
impl Bus for LocalBus {
    fn publish(&self, _: TenantId, _: &[StreamEvent]) {}
    fn signal(&self, _: TenantId, _: Signal) {}
    async fn present(&self, _: TenantId) -> Present {
        Vec::new()
    }
}
