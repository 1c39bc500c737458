//! Identifier newtypes so a tenant id can never be passed where a user id is expected.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($($(#[$doc:meta])* $name:ident),+ $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new time-ordered (v7) id, so rows sort by creation in indexes.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    )+};
}

uuid_id!(
    /// A tenant: one business, the unit of isolation.
    TenantId,
    /// A person who signs in to a tenant.
    UserId,
    /// An integration credential of a tenant.
    ApiKeyId,
    /// One refresh token; each use replaces it by a new one.
    RefreshTokenId,
    /// The chain of refresh tokens that descend from one login.
    RefreshFamilyId,
    /// One audit log row.
    AuditId,
    /// A customer, across all the channels they write from.
    ContactId,
    /// One thread between a contact and the team on one channel.
    ConversationId,
    /// One message (or internal note) in a conversation.
    MessageId,
    /// A provider account connected by a tenant: a WhatsApp number, a page.
    ChannelId,
    /// A reply that exhausted its delivery attempts.
    DeadLetterId,
    /// A verified webhook delivery that could not be used, kept for admins.
    WebhookLogId,
    /// A document of a tenant's knowledge base.
    DocumentId,
    /// One passage of a knowledge-base document: what search finds and replies cite.
    PassageId,
    /// A durable job: work due at a time, done by one node at a time.
    JobId,
    /// A tenant's automation rule.
    RuleId,
    /// One run of an automation rule, started by one event.
    RunId,
    /// A URL a tenant's events are posted to.
    EndpointId,
    /// One event posted to one endpoint, over all its attempts.
    DeliveryId,
    /// A tenant's saved contact filter.
    SegmentId,
    /// One CSV file's import of contacts.
    ImportId,
    /// A tenant's canned response.
    QuickReplyId,
    /// One message sent to many contacts.
    BroadcastId,
    /// One contact (or listed phone) of a broadcast.
    RecipientId,
);
