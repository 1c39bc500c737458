//! What the inbox stores: contacts, conversations, messages and their history.

use crate::{
    ChannelKey, ClientMessageId, ContactId, ConversationId, ConversationStatus, DeliveryStatus,
    Direction, Email, MessageId, MessageKind, Millis, PhoneE164, Priority, TagName, TenantId,
    UserId,
};
use serde_json::{Map, Value};

/// How a channel knows a customer: the sender id on that channel (a WhatsApp
/// number, a page-scoped id, a sandbox handle).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub channel: ChannelKey,
    pub external_id: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    pub tenant_id: TenantId,
    pub id: ContactId,
    pub name: String,
    pub phones: Vec<PhoneE164>,
    pub emails: Vec<Email>,
    pub identities: Vec<Identity>,
    pub custom_fields: Map<String, Value>,
    pub tags: Vec<TagName>,
    /// Set when this contact was merged into another; it no longer shows in searches.
    pub merged_into: Option<ContactId>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// Changes to a contact; `None` keeps a field. Lists replace the whole list.
#[derive(Debug, Clone, Default)]
pub struct ContactChange {
    pub name: Option<String>,
    pub phones: Option<Vec<PhoneE164>>,
    pub emails: Option<Vec<Email>>,
    pub custom_fields: Option<Map<String, Value>>,
    pub tags: Option<Vec<TagName>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub tenant_id: TenantId,
    pub id: ConversationId,
    pub channel: ChannelKey,
    pub contact_id: ContactId,
    pub contact_name: String,
    pub status: ConversationStatus,
    pub snoozed_until: Option<Millis>,
    pub priority: Priority,
    pub assignee_id: Option<UserId>,
    pub tags: Vec<TagName>,
    /// Customer messages since an agent last marked the conversation read.
    pub unread_count: i64,
    /// The `seq` of the newest message; the next message gets `last_seq + 1`.
    pub last_seq: i64,
    pub last_message_at: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub tenant_id: TenantId,
    pub id: MessageId,
    pub conversation_id: ConversationId,
    /// Position in the conversation: 1, 2, 3 … with no gaps, assigned by the store.
    pub seq: i64,
    pub direction: Direction,
    pub kind: MessageKind,
    pub body: Option<String>,
    /// Provider media reference, location coordinates, template parameters: whatever
    /// the type carries besides text.
    pub attachment: Option<Value>,
    /// The channel's id for this message, once the channel has one.
    pub provider_id: Option<String>,
    pub client_id: Option<ClientMessageId>,
    /// The team member who wrote it (outbound messages and notes).
    pub author_id: Option<UserId>,
    pub status: DeliveryStatus,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// One change of assignee, kept as history.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    pub conversation_id: ConversationId,
    pub assignee_id: Option<UserId>,
    pub assigned_by: Option<UserId>,
    pub at: Millis,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tag {
    pub name: TagName,
    pub color: Option<String>,
    pub created_at: Millis,
}

/// A customer message as a channel delivered it, before it has a conversation.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub channel: ChannelKey,
    pub sender: Identity,
    pub sender_name: String,
    pub sender_phone: Option<PhoneE164>,
    pub provider_id: Option<String>,
    pub kind: MessageKind,
    pub body: Option<String>,
    pub attachment: Option<Value>,
    pub received_at: Millis,
}

/// A message the team adds to a conversation: a reply or an internal note.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub direction: Direction,
    pub kind: MessageKind,
    pub body: Option<String>,
    pub attachment: Option<Value>,
    pub author_id: Option<UserId>,
    pub client_id: Option<ClientMessageId>,
    pub at: Millis,
}

/// Longest text body a team member may send.
pub const MAX_BODY_CHARS: usize = 4096;

impl Outgoing {
    /// A text reply (or, with `Direction::Note`, an internal note), trimmed; refused
    /// when empty or longer than [`MAX_BODY_CHARS`].
    pub fn text(
        direction: Direction,
        body: &str,
        author_id: Option<UserId>,
        client_id: Option<ClientMessageId>,
    ) -> Result<Self, crate::InvalidValue> {
        let body = body.trim();
        if body.is_empty() || body.chars().count() > MAX_BODY_CHARS {
            return Err(crate::InvalidValue(format!(
                "body must be 1 to {MAX_BODY_CHARS} characters"
            )));
        }
        Ok(Self {
            direction,
            kind: MessageKind::Text,
            body: Some(body.to_owned()),
            attachment: None,
            author_id,
            client_id,
            at: Millis::now(),
        })
    }
}

/// One change to a conversation; every change is recorded on the tenant stream.
#[derive(Debug, Clone)]
pub enum ConversationChange {
    Status {
        status: ConversationStatus,
        snoozed_until: Option<Millis>,
    },
    Priority(Priority),
    Assign {
        assignee: Option<UserId>,
        by: Option<UserId>,
    },
    Tag {
        tag: TagName,
        present: bool,
    },
    /// An agent has seen everything up to now.
    Read,
}

/// Which conversations a list shows; every set field must match.
#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    pub status: Option<ConversationStatus>,
    pub assignee: Option<AssigneeFilter>,
    pub tag: Option<TagName>,
    pub channel: Option<ChannelKey>,
    pub unread_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssigneeFilter {
    Nobody,
    User(UserId),
}

/// Where a conversation list continues: after this activity time and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConversationCursor {
    pub activity_at: Millis,
    pub id: ConversationId,
}
