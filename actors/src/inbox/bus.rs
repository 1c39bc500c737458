//! The bus port: how committed events reach the agents connected to other nodes.
//!
//! The bus is a speed path only (G7). Every node's tenant actors also poll the store,
//! so an event the bus loses, delays or repeats is still delivered once, in order:
//! the tenant actor places each event by its offset and drops what it already sent.

use super::stream::StreamEvent;
use crate::TenantId;

pub trait Bus: Send + Sync + 'static {
    /// Offers a tenant's newly committed events to the other nodes. Returns at once.
    fn publish(&self, tenant: TenantId, events: &[StreamEvent]);
}

/// A single node: there is nobody to tell.
pub struct LocalBus;

impl Bus for LocalBus {
    fn publish(&self, _: TenantId, _: &[StreamEvent]) {}
}
