//! What the reply worker keeps in the store: each tenant's reply settings, and its
//! cursor in the tenant's stream (leased to one node at a time, like the pipeline's),
//! so a reply owed when a node stops is made by the next one.

use super::settings::ReplySettings;
use crate::inbox::bus::NodeId;
use crate::inbox::stream::StreamEvent;
use crate::store::StoreError;
use crate::{ConversationId, Millis, TenantId};
use async_trait::async_trait;

#[async_trait]
pub trait ReplyStore: Send + Sync + 'static {
    /// The tenant's saved settings; `None` until an admin saves them (replies off).
    async fn reply_settings(&self, tenant: TenantId) -> Result<Option<ReplySettings>, StoreError>;

    /// Saves the settings. When they switch replies on, the tenant's reply cursor moves
    /// to the stream's head: only messages from now on are answered.
    async fn save_reply_settings(
        &self,
        tenant: TenantId,
        settings: &ReplySettings,
        at: Millis,
    ) -> Result<(), StoreError>;

    /// Takes the tenant's replies for `node` until `lease_until`, or renews them; the
    /// offset to go on after, or `None` while another node's lease runs.
    async fn claim_replies(
        &self,
        tenant: TenantId,
        node: NodeId,
        now: Millis,
        lease_until: Millis,
    ) -> Result<Option<i64>, StoreError>;

    /// Tenants with replies on and stream events past their reply cursor that no other
    /// node holds, up to `limit`.
    async fn reply_candidates(
        &self,
        node: NodeId,
        now: Millis,
        limit: u32,
    ) -> Result<Vec<TenantId>, StoreError>;

    /// Moves the cursor forward (never back) while `node` holds it; false when not.
    async fn advance_replies(
        &self,
        tenant: TenantId,
        node: NodeId,
        offset: i64,
    ) -> Result<bool, StoreError>;

    async fn release_replies(&self, tenant: TenantId, node: NodeId) -> Result<(), StoreError>;

    /// Appends a `reply.suggested` event (a draft for the conversation's agents) with
    /// `data` as its payload; `None` when the conversation is not there.
    async fn suggest_reply(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        data: String,
        at: Millis,
    ) -> Result<Option<Vec<StreamEvent>>, StoreError>;
}
