//! The channel half of the storage port.

use super::records::{Channel, DeadLetter, WebhookLogEntry};
use super::templates::MessageTemplate;
use crate::inbox::records::Message;
use crate::inbox::stream::StreamEvent;
use crate::store::StoreError;
use crate::{ChannelId, DeadLetterId, MessageId, Millis, TenantId};
use async_trait::async_trait;

/// A dead letter taken back for another delivery: its message is pending again.
#[derive(Debug, Clone)]
pub struct Requeued {
    pub dead_letter: DeadLetter,
    pub message: Message,
    pub events: Vec<StreamEvent>,
}

/// Which dead letter to send again: named by its own id (the admin's list), or by
/// the failed message (the retry action on a reply in the thread).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetterKey {
    Letter(DeadLetterId),
    Message(MessageId),
}

#[async_trait]
pub trait ChannelStore: Send + Sync + 'static {
    /// The tenant's default country (ISO 3166 alpha-2) for reading national phone
    /// numbers, such as those typed into lead forms; a channel's own setting wins.
    async fn default_country(&self, tenant: TenantId) -> Result<Option<String>, StoreError>;

    async fn set_default_country(
        &self,
        tenant: TenantId,
        country: Option<&str>,
    ) -> Result<(), StoreError>;

    /// Conflict when the tenant already connected this account on this kind.
    async fn create_channel(&self, channel: &Channel) -> Result<(), StoreError>;

    async fn channels(&self, tenant: TenantId) -> Result<Vec<Channel>, StoreError>;

    async fn channel(&self, tenant: TenantId, id: ChannelId)
    -> Result<Option<Channel>, StoreError>;

    /// By id alone: a webhook names its channel before anyone is authenticated. The
    /// caller must verify the delivery's signature before trusting the tenant.
    async fn channel_by_id(&self, id: ChannelId) -> Result<Option<Channel>, StoreError>;

    /// Writes name, state, settings and credentials; false when there is no such
    /// channel in the tenant.
    async fn update_channel(&self, channel: &Channel) -> Result<bool, StoreError>;

    /// Removes the channel; its conversations stay as history.
    async fn delete_channel(&self, tenant: TenantId, id: ChannelId) -> Result<bool, StoreError>;

    /// Health: the time of the newest verified webhook.
    async fn note_channel_inbound(&self, id: ChannelId, at: Millis) -> Result<(), StoreError>;

    /// Health: the newest failure talking to the provider.
    async fn note_channel_error(
        &self,
        id: ChannelId,
        error: &str,
        at: Millis,
    ) -> Result<(), StoreError>;

    async fn log_webhook(&self, entry: &WebhookLogEntry) -> Result<(), StoreError>;

    /// Newest first.
    async fn webhook_log(
        &self,
        tenant: TenantId,
        limit: u32,
    ) -> Result<Vec<WebhookLogEntry>, StoreError>;

    async fn insert_dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError>;

    /// Newest first; with `pending_only`, those not sent again yet.
    async fn dead_letters(
        &self,
        tenant: TenantId,
        pending_only: bool,
        limit: u32,
    ) -> Result<Vec<DeadLetter>, StoreError>;

    /// Marks the dead letter retried and puts its message back to `pending` (a
    /// person's decision, the one way a failed message moves again), in one
    /// transaction. `None` when there is no such dead letter or it was already retried.
    async fn requeue_dead_letter(
        &self,
        tenant: TenantId,
        key: DeadLetterKey,
        at: Millis,
    ) -> Result<Option<Requeued>, StoreError>;

    /// Replaces the channel's templates with those a sync just listed, in one
    /// transaction (a template gone from WhatsApp is gone here).
    async fn replace_templates(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        templates: &[MessageTemplate],
    ) -> Result<(), StoreError>;

    /// The channel's templates by name and language.
    async fn templates(
        &self,
        tenant: TenantId,
        channel: ChannelId,
    ) -> Result<Vec<MessageTemplate>, StoreError>;
}
