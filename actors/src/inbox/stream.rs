//! The per-tenant event stream: every change an agent can see, numbered so a client
//! that reconnects can ask for exactly what it missed.
//!
//! Offsets are assigned inside the writing transaction from a per-tenant counter row,
//! which that transaction holds locked until it commits. So offsets commit in order
//! and without gaps: once offset N is visible, every offset below it is too, and a
//! client resuming "after N" can never skip an event that committed late.

use crate::ConversationId;
use crate::Millis;
use crate::UserId;
use crate::domain::text_enum::text_enum;
use bytestring::ByteString;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Names one numbering of a tenant's stream. Offsets are only comparable within an
/// epoch; a client holding another epoch's offset must reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Epoch(pub Uuid);

impl std::fmt::Display for Epoch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A place in a tenant's stream: everything up to and including `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamPosition {
    pub epoch: Epoch,
    pub offset: i64,
}

/// What the store holds of a tenant's stream right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamHead {
    pub epoch: Epoch,
    /// The newest committed offset (0 before the first event).
    pub last_offset: i64,
    /// The oldest offset still kept; older ones were pruned and cannot be replayed.
    pub first_kept: i64,
}

text_enum!(
    EventKind, "an event type" {
        MessageNew => "message.new",
        MessageStatus => "message.status",
        ConversationUpdated => "conversation.updated",
        ConversationAssigned => "conversation.assigned",
        /// A WhatsApp Web session changed state; its `conversation_id` column holds
        /// the channel id, and only admins receive it.
        SessionUpdated => "session.updated",
        /// What the pipeline found in a customer message.
        MessageInsights => "message.insights",
        /// A conversation's lead score, temperature or handoff state changed.
        ConversationLead => "conversation.lead",
        /// A reply the model drafted for the agents; only the conversation's assignee
        /// receives it, or every agent while it has none.
        ReplySuggested => "reply.suggested",
        /// The server switched a tenant's webhook endpoint off (it answered 410 Gone,
        /// or failed for days); its `conversation_id` column holds the endpoint id,
        /// and only admins receive it.
        WebhookDisabled => "webhook.disabled",
        /// An automation rule's run ended (`done` or `failed`); its `conversation_id`
        /// column holds the rule id, and only admins receive it.
        AutomationRun => "automation.run",
        /// A contacts import moved on (rows read, created, updated, refused) or
        /// ended; its `conversation_id` column holds the import id, and only admins
        /// receive it.
        ContactsImport => "contacts.import",
        /// A broadcast moved on (its status or its recipients' totals); its
        /// `conversation_id` column holds the broadcast id, and only admins receive it.
        BroadcastUpdated => "broadcast.updated",
    }
);

impl EventKind {
    /// Events only admins (and owners) receive: session states carry login codes,
    /// and all are about settings only admins manage.
    pub fn admins_only(self) -> bool {
        matches!(
            self,
            EventKind::SessionUpdated
                | EventKind::WebhookDisabled
                | EventKind::AutomationRun
                | EventKind::ContactsImport
                | EventKind::BroadcastUpdated
        )
    }

    /// The field that names what the event is about.
    pub fn subject(self) -> &'static str {
        match self {
            EventKind::SessionUpdated => "channel_id",
            EventKind::WebhookDisabled => "endpoint_id",
            EventKind::AutomationRun => "rule_id",
            EventKind::ContactsImport => "import_id",
            EventKind::BroadcastUpdated => "broadcast_id",
            _ => "conversation_id",
        }
    }

    /// Whether the event changes what a conversation actor caches (its messages,
    /// status, assignment, contact). The pipeline's findings and session states do
    /// not: publishing them leaves the caches as they are.
    pub fn changes_conversation(self) -> bool {
        !matches!(
            self,
            EventKind::SessionUpdated
                | EventKind::WebhookDisabled
                | EventKind::AutomationRun
                | EventKind::ContactsImport
                | EventKind::BroadcastUpdated
                | EventKind::MessageInsights
                | EventKind::ConversationLead
                | EventKind::ReplySuggested
        )
    }
}

/// One committed event. `data` is the JSON payload, rendered once when the event was
/// written and sent byte for byte to every agent and every replay.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvent {
    pub epoch: Epoch,
    pub offset: i64,
    pub kind: EventKind,
    pub conversation_id: ConversationId,
    /// The conversation's assignee after the event, for notifications.
    pub assignee_id: Option<UserId>,
    pub data: String,
    pub at: Millis,
}

/// The protocol version carried in every frame.
pub const PROTOCOL_VERSION: u32 = 1;

impl StreamEvent {
    /// The WebSocket frame for this event. Built once per event and shared by every
    /// recipient (a `ByteString` clone is a reference count).
    pub fn frame(&self) -> ByteString {
        ByteString::from(self.render(self.kind.as_str(), ""))
    }

    /// The frame's JSON under `type_name`, with `extra` (`"key":value,` pairs) after
    /// the type: what outbound webhooks post. `data` goes in as written, unparsed.
    pub fn render(&self, type_name: &str, extra: &str) -> String {
        // A session event names its channel where other events name a conversation.
        let subject = self.kind.subject();
        format!(
            r#"{{"type":"{type_name}",{extra}"v":{PROTOCOL_VERSION},"epoch":"{}","offset":{},"{subject}":"{}","at":"{}","data":{}}}"#,
            self.epoch,
            self.offset,
            self.conversation_id,
            self.at.to_rfc3339(),
            self.data
        )
    }
}
