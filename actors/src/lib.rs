//! Switchboard core: domain types, the live-inbox actors and the ports that adapters
//! implement.
//!
//! Nothing in this crate performs I/O of its own. The server crate plugs concrete
//! adapters (SQLite, Postgres, Redis, HTTP providers) into the traits defined here,
//! which keeps the domain testable and lets several nodes run in one process.

pub mod automation;
pub mod broadcasts;
pub mod channel;
pub mod contacts;
pub mod domain;
pub mod inbox;
pub mod jobs;
pub mod knowledge;
pub mod llm;
pub mod pipeline;
pub mod quick_replies;
pub mod reply;
pub mod session;
pub mod store;
pub mod tenant_workers;
pub mod webhooks;

pub use domain::{
    ChannelKey, ClientMessageId, ConversationStatus, DeliveryStatus, Direction, Email,
    InvalidValue, MessageKind, PhoneE164, Priority, Role, SandboxName, Scope, TagName, UserStatus,
    country_code,
    ids::{
        ApiKeyId, AuditId, BroadcastId, ChannelId, ContactId, ConversationId, DeadLetterId,
        DeliveryId, DocumentId, EndpointId, ImportId, JobId, MessageId, PassageId, QuickReplyId,
        RecipientId, RefreshFamilyId, RefreshTokenId, RuleId, RunId, SegmentId, TenantId, UserId,
        WebhookLogId,
    },
    time::Millis,
};
