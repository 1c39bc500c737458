//! The JSON shapes of inbox records, shared by the REST API and the event stream so
//! a message looks the same whichever way it reaches a client. Records never go out
//! directly, so a new column cannot leak by accident.

use super::records::{Assignment, Contact, Conversation, Listed, Message, Preview, Tag};
use crate::contacts::consent::ConsentSource;
use serde::Serialize;
use serde_json::{Map, Value};

fn rfc3339(at: crate::Millis) -> String {
    at.to_rfc3339()
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ContactView {
    pub id: String,
    pub name: String,
    pub phones: Vec<String>,
    pub emails: Vec<String>,
    pub identities: Vec<IdentityView>,
    pub custom_fields: Map<String, Value>,
    pub tags: Vec<String>,
    pub merged_into: Option<String>,
    /// Whether they opted out of marketing: broadcasts skip them.
    pub opted_out: bool,
    /// The latest change to that, if any.
    pub consent: Option<ConsentView>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConsentView {
    pub opted_out: bool,
    pub source: ConsentSource,
    pub at: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IdentityView {
    pub channel: String,
    pub external_id: String,
}

impl From<&Contact> for ContactView {
    fn from(c: &Contact) -> Self {
        Self {
            id: c.id.to_string(),
            name: c.name.clone(),
            phones: c.phones.iter().map(|p| p.as_str().to_owned()).collect(),
            emails: c.emails.iter().map(|e| e.as_str().to_owned()).collect(),
            identities: c
                .identities
                .iter()
                .map(|i| IdentityView {
                    channel: i.channel.to_string(),
                    external_id: i.external_id.clone(),
                })
                .collect(),
            custom_fields: c.custom_fields.clone(),
            tags: c.tags.iter().map(ToString::to_string).collect(),
            merged_into: c.merged_into.map(|id| id.to_string()),
            opted_out: c.opted_out(),
            consent: c.consent.map(|consent| ConsentView {
                opted_out: consent.opted_out,
                source: consent.source,
                at: rfc3339(consent.at),
            }),
            created_at: rfc3339(c.created_at),
            updated_at: rfc3339(c.updated_at),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConversationView {
    pub id: String,
    pub channel: String,
    pub contact: ContactRef,
    pub status: &'static str,
    pub snoozed_until: Option<String>,
    pub priority: &'static str,
    pub assignee_id: Option<String>,
    pub tags: Vec<String>,
    pub unread_count: i64,
    pub last_seq: i64,
    pub last_message_at: Option<String>,
    pub last_inbound_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ContactRef {
    pub id: String,
    pub name: String,
}

impl From<&Conversation> for ConversationView {
    fn from(c: &Conversation) -> Self {
        Self {
            id: c.id.to_string(),
            channel: c.channel.to_string(),
            contact: ContactRef {
                id: c.contact_id.to_string(),
                name: c.contact_name.clone(),
            },
            status: c.status.as_str(),
            snoozed_until: c.snoozed_until.map(rfc3339),
            priority: c.priority.as_str(),
            assignee_id: c.assignee_id.map(|id| id.to_string()),
            tags: c.tags.iter().map(ToString::to_string).collect(),
            unread_count: c.unread_count,
            last_seq: c.last_seq,
            last_message_at: c.last_message_at.map(rfc3339),
            last_inbound_at: c.last_inbound_at.map(rfc3339),
            created_at: rfc3339(c.created_at),
            updated_at: rfc3339(c.updated_at),
        }
    }
}

/// A conversation in the inbox list: the conversation's fields plus `last_message`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ListedView {
    #[serde(flatten)]
    pub conversation: ConversationView,
    pub last_message: Option<PreviewView>,
    /// `null` until the pipeline has scored a customer message.
    pub lead: Option<LeadBriefView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LeadBriefView {
    pub score: u8,
    pub temperature: &'static str,
    pub sentiment: Option<&'static str>,
    pub handoff: &'static str,
}

/// The list's one line of a message; `body` is cut to [`PREVIEW_CHARS`] characters.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PreviewView {
    pub direction: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub body: Option<String>,
    pub author_id: Option<String>,
    pub status: &'static str,
}

/// Long enough for any list row; the thread has the whole text.
pub const PREVIEW_CHARS: usize = 160;

impl From<&Listed> for ListedView {
    fn from(l: &Listed) -> Self {
        Self {
            conversation: ConversationView::from(&l.conversation),
            last_message: l.last_message.as_ref().map(PreviewView::from),
            lead: l.lead.as_ref().map(|lead| LeadBriefView {
                score: lead.score,
                temperature: lead.temperature.as_str(),
                sentiment: lead.sentiment.map(|s| s.as_str()),
                handoff: lead.handoff.as_str(),
            }),
        }
    }
}

impl From<&Preview> for PreviewView {
    fn from(p: &Preview) -> Self {
        Self {
            direction: p.direction.as_str(),
            kind: p.kind.as_str(),
            body: p
                .body
                .as_deref()
                .map(|b| b.chars().take(PREVIEW_CHARS).collect()),
            author_id: p.author_id.map(|id| id.to_string()),
            status: p.status.as_str(),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MessageView {
    pub id: String,
    pub conversation_id: String,
    pub seq: i64,
    pub direction: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub body: Option<String>,
    pub attachment: Option<Value>,
    pub provider_id: Option<String>,
    pub client_id: Option<String>,
    pub author_id: Option<String>,
    pub status: &'static str,
    pub error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Message> for MessageView {
    fn from(m: &Message) -> Self {
        Self {
            id: m.id.to_string(),
            conversation_id: m.conversation_id.to_string(),
            seq: m.seq,
            direction: m.direction.as_str(),
            kind: m.kind.as_str(),
            body: m.body.clone(),
            attachment: m.attachment.clone(),
            provider_id: m.provider_id.clone(),
            client_id: m.client_id.as_ref().map(|c| c.as_str().to_owned()),
            author_id: m.author_id.map(|id| id.to_string()),
            status: m.status.as_str(),
            error: m.error.clone(),
            created_at: rfc3339(m.created_at),
            updated_at: rfc3339(m.updated_at),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AssignmentView {
    pub assignee_id: Option<String>,
    pub assigned_by: Option<String>,
    pub at: String,
}

impl From<&Assignment> for AssignmentView {
    fn from(a: &Assignment) -> Self {
        Self {
            assignee_id: a.assignee_id.map(|id| id.to_string()),
            assigned_by: a.assigned_by.map(|id| id.to_string()),
            at: rfc3339(a.at),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TagView {
    pub name: String,
    pub color: Option<String>,
    pub created_at: String,
}

impl From<&Tag> for TagView {
    fn from(t: &Tag) -> Self {
        Self {
            name: t.name.to_string(),
            color: t.color.clone(),
            created_at: rfc3339(t.created_at),
        }
    }
}

/// Payloads of the stream events, rendered inside the writing transaction.
pub mod payload {
    use super::*;
    use crate::automation::happening::Origin;
    use crate::inbox::records::ConversationChange;
    use serde_json::json;

    pub fn message_new(message: &Message, conversation: &Conversation) -> String {
        json!({
            "message": MessageView::from(message),
            "conversation": ConversationView::from(conversation),
        })
        .to_string()
    }

    pub fn message_status(message: &Message) -> String {
        json!({
            "message_id": message.id.to_string(),
            "seq": message.seq,
            "status": message.status.as_str(),
            "provider_id": message.provider_id,
            "error": message.error,
        })
        .to_string()
    }

    pub fn conversation(conversation: &Conversation) -> String {
        json!({ "conversation": ConversationView::from(conversation) }).to_string()
    }

    /// A conversation after a change: `change` says what moved (`status` and
    /// `priority` from/to, `tag_added`, `tag_removed`), `automation` which rule's run
    /// made it.
    pub fn changed(
        conversation: &Conversation,
        change: Option<Value>,
        origin: Option<&Origin>,
    ) -> String {
        let mut data = json!({ "conversation": ConversationView::from(conversation) });
        if let Some(change) = change {
            data["change"] = change;
        }
        if let Some(origin) = origin {
            data["automation"] = json!(origin);
        }
        data.to_string()
    }

    /// What a change moved, for `changed`: nothing when it moved nothing (a tag the
    /// conversation had already, the status it was in), so rules on changes do not
    /// start from a change that changed nothing.
    pub fn what_changed(
        before: &Conversation,
        after: &Conversation,
        change: &ConversationChange,
    ) -> Option<Value> {
        match change {
            ConversationChange::Status { .. } if before.status != after.status => Some(json!({
                "status": { "from": before.status.as_str(), "to": after.status.as_str() }
            })),
            ConversationChange::Priority(_) if before.priority != after.priority => Some(json!({
                "priority": { "from": before.priority.as_str(), "to": after.priority.as_str() }
            })),
            ConversationChange::Tag { tag, present: true } if !before.tags.contains(tag) => {
                Some(json!({ "tag_added": tag.as_str() }))
            }
            ConversationChange::Tag {
                tag,
                present: false,
            } if before.tags.contains(tag) => Some(json!({ "tag_removed": tag.as_str() })),
            _ => None,
        }
    }

    pub fn assigned(
        conversation: &Conversation,
        by: Option<crate::UserId>,
        origin: Option<&Origin>,
    ) -> String {
        let mut data = json!({
            "conversation": ConversationView::from(conversation),
            "assignee_id": conversation.assignee_id.map(|id| id.to_string()),
            "assigned_by": by.map(|id| id.to_string()),
        });
        if let Some(origin) = origin {
            data["automation"] = json!(origin);
        }
        data.to_string()
    }
}
