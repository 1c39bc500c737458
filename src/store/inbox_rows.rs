//! Inbox rows as both dialects return them, and their conversion into records.
//! List columns are JSON text; a value the domain cannot read is a store failure.

use super::pipeline_rows::lead_brief;
use super::rows::corrupt;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use sqlx::FromRow;
use switchboard_actors::contacts::consent::{Consent, ConsentSource};
use switchboard_actors::inbox::records::{
    Assignment, Contact, Conversation, Identity, Listed, Message, Preview, Tag,
};
use switchboard_actors::inbox::stream::{Epoch, EventKind, StreamEvent};
use switchboard_actors::store::StoreError;
use switchboard_actors::{
    ChannelKey, ClientMessageId, ContactId, ConversationId, ConversationStatus, DeliveryStatus,
    Direction, InvalidValue, MessageId, MessageKind, Millis, Priority, TagName, TenantId, UserId,
};
use uuid::Uuid;

pub fn from_json<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|err| corrupt(what)(InvalidValue(err.to_string())))
}

pub fn to_json<T: Serialize + ?Sized>(value: &T) -> String {
    // Serialising plain data (strings, maps of JSON values) cannot fail.
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

/// What a merge gave the kept contact, so that an unmerge takes exactly that away.
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub struct MergeRecord {
    pub identities: Vec<IdentityJson>,
    pub conversations: Vec<Uuid>,
    pub phones: Vec<String>,
    pub emails: Vec<String>,
    pub tags: Vec<String>,
    pub fields: Vec<String>,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct IdentityJson {
    pub channel: String,
    pub external_id: String,
}

pub fn identities_json(identities: &[Identity]) -> String {
    let list: Vec<IdentityJson> = identities
        .iter()
        .map(|i| IdentityJson {
            channel: i.channel.to_string(),
            external_id: i.external_id.clone(),
        })
        .collect();
    to_json(&list)
}

/// What contact search matches against: name, phones and emails, lower-cased.
pub fn search_text(contact: &Contact) -> String {
    let mut text = contact.name.to_lowercase();
    for phone in &contact.phones {
        text.push(' ');
        text.push_str(phone.as_str());
    }
    for email in &contact.emails {
        text.push(' ');
        text.push_str(email.as_str());
    }
    // Custom field values are found too ("gold" finds the Gold plan's contacts).
    for value in contact.custom_fields.values() {
        let words = match value {
            Value::Array(items) => items.iter().map(searchable).collect::<Vec<_>>().join(" "),
            other => searchable(other),
        };
        if !words.is_empty() {
            text.push(' ');
            text.push_str(&words.to_lowercase());
        }
    }
    text
}

fn searchable(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

#[derive(FromRow)]
pub struct ContactRow {
    tenant_id: Uuid,
    id: Uuid,
    name: String,
    phones: String,
    emails: String,
    identities: String,
    custom_fields: String,
    tags: String,
    merged_into: Option<Uuid>,
    opted_out: bool,
    consent_source: Option<String>,
    consent_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<ContactRow> for Contact {
    type Error = StoreError;
    fn try_from(row: ContactRow) -> Result<Self, Self::Error> {
        let identities: Vec<IdentityJson> = from_json("contact", &row.identities)?;
        Ok(Contact {
            tenant_id: TenantId(row.tenant_id),
            id: ContactId(row.id),
            name: row.name,
            phones: from_json("contact", &row.phones)?,
            emails: from_json("contact", &row.emails)?,
            identities: identities
                .into_iter()
                .map(|i| {
                    Ok(Identity {
                        channel: ChannelKey::parse(&i.channel).map_err(corrupt("contact"))?,
                        external_id: i.external_id,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            custom_fields: from_json("contact", &row.custom_fields)?,
            tags: from_json("contact", &row.tags)?,
            merged_into: row.merged_into.map(ContactId),
            consent: match (row.consent_source, row.consent_at) {
                (Some(source), Some(at)) => Some(Consent {
                    opted_out: row.opted_out,
                    source: ConsentSource::parse(&source).map_err(corrupt("contact"))?,
                    at: Millis(at),
                }),
                _ => None,
            },
            created_at: Millis(row.created_at),
            updated_at: Millis(row.updated_at),
        })
    }
}

#[derive(FromRow)]
pub struct ConversationRow {
    tenant_id: Uuid,
    id: Uuid,
    channel: String,
    contact_id: Uuid,
    contact_name: String,
    status: String,
    snoozed_until: Option<i64>,
    priority: String,
    assignee_id: Option<Uuid>,
    tags: String,
    unread_count: i64,
    last_seq: i64,
    last_message_at: Option<i64>,
    last_inbound_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<ConversationRow> for Conversation {
    type Error = StoreError;
    fn try_from(row: ConversationRow) -> Result<Self, Self::Error> {
        let tags: Vec<TagName> = from_json("conversation", &row.tags)?;
        Ok(Conversation {
            tenant_id: TenantId(row.tenant_id),
            id: ConversationId(row.id),
            channel: ChannelKey::parse(&row.channel).map_err(corrupt("conversation"))?,
            contact_id: ContactId(row.contact_id),
            contact_name: row.contact_name,
            status: ConversationStatus::parse(&row.status).map_err(corrupt("conversation"))?,
            snoozed_until: row.snoozed_until.map(Millis),
            priority: Priority::parse(&row.priority).map_err(corrupt("conversation"))?,
            assignee_id: row.assignee_id.map(UserId),
            tags,
            unread_count: row.unread_count,
            last_seq: row.last_seq,
            last_message_at: row.last_message_at.map(Millis),
            last_inbound_at: row.last_inbound_at.map(Millis),
            created_at: Millis(row.created_at),
            updated_at: Millis(row.updated_at),
        })
    }
}

/// A conversation row with the columns of its latest message (absent for none).
#[derive(FromRow)]
pub struct ListedRow {
    #[sqlx(flatten)]
    conversation: ConversationRow,
    last_direction: Option<String>,
    last_kind: Option<String>,
    last_body: Option<String>,
    last_author_id: Option<Uuid>,
    last_status: Option<String>,
    lead_score: Option<i64>,
    lead_temperature: Option<String>,
    lead_sentiment: Option<String>,
    lead_handoff: Option<String>,
}

impl TryFrom<ListedRow> for Listed {
    type Error = StoreError;
    fn try_from(row: ListedRow) -> Result<Self, Self::Error> {
        let last_message = match (row.last_direction, row.last_kind, row.last_status) {
            (Some(direction), Some(kind), Some(status)) => Some(Preview {
                direction: Direction::parse(&direction).map_err(corrupt("message"))?,
                kind: MessageKind::parse(&kind).map_err(corrupt("message"))?,
                body: row.last_body,
                author_id: row.last_author_id.map(UserId),
                status: DeliveryStatus::parse(&status).map_err(corrupt("message"))?,
            }),
            _ => None,
        };
        let lead = match (row.lead_score, row.lead_temperature, row.lead_handoff) {
            (Some(score), Some(temperature), Some(handoff)) => Some(lead_brief(
                score,
                &temperature,
                row.lead_sentiment.as_deref(),
                &handoff,
            )?),
            _ => None,
        };
        Ok(Listed {
            conversation: Conversation::try_from(row.conversation)?,
            last_message,
            lead,
        })
    }
}

#[derive(FromRow)]
pub struct MessageRow {
    tenant_id: Uuid,
    id: Uuid,
    conversation_id: Uuid,
    seq: i64,
    direction: String,
    kind: String,
    body: Option<String>,
    attachment: Option<String>,
    provider_id: Option<String>,
    client_id: Option<String>,
    author_id: Option<Uuid>,
    status: String,
    error: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<MessageRow> for Message {
    type Error = StoreError;
    fn try_from(row: MessageRow) -> Result<Self, Self::Error> {
        Ok(Message {
            tenant_id: TenantId(row.tenant_id),
            id: MessageId(row.id),
            conversation_id: ConversationId(row.conversation_id),
            seq: row.seq,
            direction: Direction::parse(&row.direction).map_err(corrupt("message"))?,
            kind: MessageKind::parse(&row.kind).map_err(corrupt("message"))?,
            body: row.body,
            attachment: row
                .attachment
                .as_deref()
                .map(|a| from_json("message", a))
                .transpose()?,
            provider_id: row.provider_id,
            client_id: row
                .client_id
                .as_deref()
                .map(ClientMessageId::parse)
                .transpose()
                .map_err(corrupt("message"))?,
            author_id: row.author_id.map(UserId),
            status: DeliveryStatus::parse(&row.status).map_err(corrupt("message"))?,
            error: row.error,
            created_at: Millis(row.created_at),
            updated_at: Millis(row.updated_at),
        })
    }
}

#[derive(FromRow)]
pub struct AssignmentRow {
    conversation_id: Uuid,
    assignee_id: Option<Uuid>,
    assigned_by: Option<Uuid>,
    created_at: i64,
}

impl From<AssignmentRow> for Assignment {
    fn from(row: AssignmentRow) -> Self {
        Assignment {
            conversation_id: ConversationId(row.conversation_id),
            assignee_id: row.assignee_id.map(UserId),
            assigned_by: row.assigned_by.map(UserId),
            at: Millis(row.created_at),
        }
    }
}

#[derive(FromRow)]
pub struct TagRow {
    name: String,
    color: Option<String>,
    created_at: i64,
}

impl TryFrom<TagRow> for Tag {
    type Error = StoreError;
    fn try_from(row: TagRow) -> Result<Self, Self::Error> {
        Ok(Tag {
            name: TagName::parse(&row.name).map_err(corrupt("tag"))?,
            color: row.color,
            created_at: Millis(row.created_at),
        })
    }
}

/// The columns of an `EventRow` and the join that brings the stream's epoch; sqlx
/// takes only static SQL text, so the shared part is a macro.
macro_rules! event_select {
    () => {
        "SELECT s.epoch, e.stream_offset, e.kind, e.conversation_id, e.assignee_id, e.data, e.created_at
         FROM stream_events e JOIN tenant_streams s ON s.tenant_id = e.tenant_id "
    };
}
pub(crate) use event_select;

#[derive(FromRow)]
pub struct EventRow {
    epoch: Uuid,
    stream_offset: i64,
    kind: String,
    conversation_id: Uuid,
    assignee_id: Option<Uuid>,
    data: String,
    created_at: i64,
}

impl TryFrom<EventRow> for StreamEvent {
    type Error = StoreError;
    fn try_from(row: EventRow) -> Result<Self, Self::Error> {
        Ok(StreamEvent {
            epoch: Epoch(row.epoch),
            offset: row.stream_offset,
            kind: EventKind::parse(&row.kind).map_err(corrupt("stream event"))?,
            conversation_id: ConversationId(row.conversation_id),
            assignee_id: row.assignee_id.map(UserId),
            data: row.data,
            at: Millis(row.created_at),
        })
    }
}
