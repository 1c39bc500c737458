//! The session half of the storage port: session rows, their leases, and their keys.

use super::keys::SessionKeyRows;
use super::state::{SessionRecord, Transition};
use crate::inbox::bus::NodeId;
use crate::inbox::stream::StreamEvent;
use crate::store::StoreError;
use crate::{ChannelId, Millis, TenantId};
use async_trait::async_trait;

/// A session some node should be running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claimable {
    pub tenant: TenantId,
    pub channel: ChannelId,
}

#[async_trait]
pub trait SessionStore: SessionKeyRows + Send + Sync + 'static {
    async fn session(
        &self,
        tenant: TenantId,
        channel: ChannelId,
    ) -> Result<Option<SessionRecord>, StoreError>;

    /// The row of a new session, in state `starting`, leased to `node` until
    /// `lease_until`.
    async fn create_session(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        node: NodeId,
        lease_until: Millis,
        at: Millis,
    ) -> Result<(), StoreError>;

    /// Stores a transition and appends its `session.updated` event, in one
    /// transaction, only while `node` holds the session's lease: a node that lost it
    /// writes nothing (`Ok(None)`), so a partitioned owner cannot overwrite the new
    /// owner's state.
    async fn record_session(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        node: NodeId,
        transition: &Transition,
    ) -> Result<Option<StreamEvent>, StoreError>;

    /// Takes the lease when it is free, expired at `now`, or already this node's.
    async fn claim_session(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        node: NodeId,
        now: Millis,
        lease_until: Millis,
    ) -> Result<bool, StoreError>;

    /// Extends this node's leases on `sessions`; returns those it still holds.
    async fn renew_session_leases(
        &self,
        node: NodeId,
        sessions: &[ChannelId],
        lease_until: Millis,
    ) -> Result<Vec<ChannelId>, StoreError>;

    /// The node whose lease on the session holds at `now`, if any.
    async fn session_owner(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        now: Millis,
    ) -> Result<Option<NodeId>, StoreError>;

    /// Gives the lease up (a clean stop), so another node may take it at once.
    async fn release_session(&self, channel: ChannelId, node: NodeId) -> Result<(), StoreError>;

    /// Sessions of active channels that should run (their state is not final) and
    /// that no node holds at `now`, oldest lease first.
    async fn claimable_sessions(
        &self,
        now: Millis,
        limit: u32,
    ) -> Result<Vec<Claimable>, StoreError>;

    /// The session's newest transitions (its `session.updated` events), newest first.
    async fn session_history(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        limit: u32,
    ) -> Result<Vec<StreamEvent>, StoreError>;
}
