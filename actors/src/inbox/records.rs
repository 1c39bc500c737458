//! What the inbox stores: contacts, conversations, messages and their history.

use crate::contacts::consent::Consent;
use crate::pipeline::handoff::HandoffState;
use crate::pipeline::scoring::Temperature;
use crate::pipeline::sentiment::SentimentLabel;
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
    /// The latest change to their consent to marketing; none yet means they are in.
    pub consent: Option<Consent>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl Contact {
    /// A contact as unit tests make one: a name and custom fields (a JSON object),
    /// nothing else.
    #[cfg(test)]
    pub fn sample(name: &str, custom_fields: Value) -> Self {
        Self {
            tenant_id: TenantId::new(),
            id: ContactId::new(),
            name: name.to_owned(),
            phones: Vec::new(),
            emails: Vec::new(),
            identities: Vec::new(),
            custom_fields: custom_fields.as_object().cloned().unwrap_or_default(),
            tags: Vec::new(),
            merged_into: None,
            consent: None,
            created_at: Millis(0),
            updated_at: Millis(0),
        }
    }

    pub fn opted_out(&self) -> bool {
        self.consent.is_some_and(|c| c.opted_out)
    }
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
    /// The customer's newest message; WhatsApp's 24-hour window counts from it.
    pub last_inbound_at: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl Conversation {
    /// Takes the next `seq` for a message going `direction` at `at`, and moves what a
    /// new message moves: a customer message counts as unread, reopens the
    /// conversation and restarts the reply window; a note moves neither the latest
    /// message nor the list order. The store writes the result back, so every writer
    /// agrees on these rules.
    pub fn take_seq(&mut self, direction: Direction, at: Millis) -> i64 {
        self.last_seq += 1;
        if direction == Direction::Inbound {
            self.unread_count += 1;
            self.last_inbound_at = Some(at);
            self.status = ConversationStatus::Open;
            self.snoozed_until = None;
        }
        if direction != Direction::Note {
            self.last_message_at = Some(at);
        }
        self.updated_at = at;
        self.last_seq
    }
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
    /// Why delivery failed, as the provider or the gateway said it.
    pub error: Option<String>,
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

/// A message as a channel delivered it, before it has a conversation: usually from
/// the customer; `Outbound` for a message the business sent from another app (an
/// echo), which belongs in the thread too.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub channel: ChannelKey,
    pub direction: Direction,
    /// The customer, whichever way the message went.
    pub sender: Identity,
    pub sender_name: String,
    pub sender_phone: Option<PhoneE164>,
    pub sender_email: Option<Email>,
    pub provider_id: Option<String>,
    pub kind: MessageKind,
    pub body: Option<String>,
    pub attachment: Option<Value>,
    pub received_at: Millis,
}

/// Longest customer message body kept (Meta caps text messages at 4,096 characters
/// too); a longer one is cut, with a marker saying how much was left out.
pub const MAX_INBOUND_BODY_CHARS: usize = 4096;
/// Longest customer name kept; a longer one is cut.
pub const MAX_SENDER_NAME_CHARS: usize = 200;
/// Largest attachment (as JSON) kept on a message: it travels in every agent's frame.
/// A larger one keeps only its references (media id or link, type, file name).
pub const MAX_ATTACHMENT_BYTES: usize = 16 * 1024;
/// What a too-large attachment keeps, each when it is a short string.
const ATTACHMENT_REFERENCES: [&str; 6] = [
    "media_id",
    "media_url",
    "link_url",
    "mime_type",
    "filename",
    "reply_type",
];
const MAX_REFERENCE_CHARS: usize = 2048;

impl Inbound {
    /// The message within the inbox's limits, whatever channel it came from: body,
    /// name and attachment cut as the constants above say. `Inbox::ingest` applies it.
    pub fn within_limits(mut self) -> Self {
        use crate::domain::text::{cut, cut_with_marker};
        if let Some(body) = &self.body
            && let std::borrow::Cow::Owned(cut) = cut_with_marker(body, MAX_INBOUND_BODY_CHARS)
        {
            self.body = Some(cut);
        }
        if let std::borrow::Cow::Owned(name) = cut(&self.sender_name, MAX_SENDER_NAME_CHARS) {
            self.sender_name = name;
        }
        if let Some(attachment) = &self.attachment {
            let size = serde_json::to_string(attachment).map_or(usize::MAX, |s| s.len());
            if size > MAX_ATTACHMENT_BYTES {
                let mut kept = Map::new();
                kept.insert(
                    "omitted".into(),
                    Value::String(format!(
                        "the attachment was {size} bytes; at most {MAX_ATTACHMENT_BYTES} are kept"
                    )),
                );
                for key in ATTACHMENT_REFERENCES {
                    if let Some(Value::String(reference)) = attachment.get(key)
                        && reference.chars().count() <= MAX_REFERENCE_CHARS
                    {
                        kept.insert(key.into(), Value::String(reference.clone()));
                    }
                }
                self.attachment = Some(Value::Object(kept));
            }
        }
        self
    }
}

/// Most phones, emails and tags one contact holds, and its custom fields: how many,
/// the longest key, the largest value (as JSON).
pub const MAX_CONTACT_PHONES: usize = 20;
pub const MAX_CONTACT_EMAILS: usize = 20;
pub const MAX_CONTACT_TAGS: usize = 50;
pub const MAX_CUSTOM_FIELDS: usize = 50;
pub const MAX_CUSTOM_FIELD_KEY_CHARS: usize = 64;
pub const MAX_CUSTOM_FIELD_VALUE_BYTES: usize = 1024;

/// Refuses contact lists beyond the limits above (what a client sends; a contact
/// also gains phones and emails from its channels, up to the same counts).
pub fn check_contact_lists(
    phones: Option<&[PhoneE164]>,
    emails: Option<&[Email]>,
    tags: Option<&[TagName]>,
    custom_fields: Option<&Map<String, Value>>,
) -> Result<(), crate::InvalidValue> {
    let too_many = |what: &str, count: usize, max: usize| {
        (count > max).then(|| crate::InvalidValue(format!("at most {max} {what}; got {count}")))
    };
    if let Some(err) = too_many("phones", phones.map_or(0, <[_]>::len), MAX_CONTACT_PHONES)
        .or_else(|| too_many("emails", emails.map_or(0, <[_]>::len), MAX_CONTACT_EMAILS))
        .or_else(|| too_many("tags", tags.map_or(0, <[_]>::len), MAX_CONTACT_TAGS))
        .or_else(|| {
            too_many(
                "custom fields",
                custom_fields.map_or(0, Map::len),
                MAX_CUSTOM_FIELDS,
            )
        })
    {
        return Err(err);
    }
    for (key, value) in custom_fields.into_iter().flatten() {
        if key.is_empty() || key.chars().count() > MAX_CUSTOM_FIELD_KEY_CHARS {
            return Err(crate::InvalidValue(format!(
                "custom field names have 1 to {MAX_CUSTOM_FIELD_KEY_CHARS} characters"
            )));
        }
        let size = serde_json::to_string(value).map_or(usize::MAX, |s| s.len());
        if size > MAX_CUSTOM_FIELD_VALUE_BYTES {
            return Err(crate::InvalidValue(format!(
                "custom field '{key}' is {size} bytes as JSON; at most {MAX_CUSTOM_FIELD_VALUE_BYTES}"
            )));
        }
    }
    Ok(())
}

/// What a channel said about the delivery of one reply.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusReport {
    pub status: DeliveryStatus,
    pub provider_id: Option<String>,
    pub error: Option<String>,
    pub at: Millis,
}

impl StatusReport {
    pub fn new(status: DeliveryStatus) -> Self {
        Self {
            status,
            provider_id: None,
            error: None,
            at: Millis::now(),
        }
    }
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

    /// A reply of another type than text: `content` says which, and checks its parts.
    pub fn rich(
        content: RichContent,
        author_id: Option<UserId>,
        client_id: Option<ClientMessageId>,
    ) -> Result<Self, crate::InvalidValue> {
        let (kind, body, attachment) = content.into_parts()?;
        Ok(Self {
            direction: Direction::Outbound,
            kind,
            body,
            attachment: Some(attachment),
            author_id,
            client_id,
            at: Millis::now(),
        })
    }
}

/// Longest caption, template parameter or template name a reply may carry.
pub const MAX_PART_CHARS: usize = 1024;
/// Most parameters a template reply may fill.
pub const MAX_TEMPLATE_PARAMETERS: usize = 20;

/// What a reply other than plain text carries.
#[derive(Debug, Clone, PartialEq)]
pub enum RichContent {
    /// An approved WhatsApp template, the one reply allowed outside the 24-hour window.
    Template {
        name: String,
        language: String,
        parameters: Vec<String>,
    },
    /// A file the provider fetches from `link`.
    Media {
        kind: MessageKind,
        link: String,
        caption: Option<String>,
    },
    /// An emoji on one of the customer's messages, named by the provider's id.
    Reaction { provider_id: String, emoji: String },
}

fn checked(value: &str, what: &str, max: usize) -> Result<String, crate::InvalidValue> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max {
        return Err(crate::InvalidValue(format!(
            "{what} must be 1 to {max} characters"
        )));
    }
    Ok(value.to_owned())
}

impl RichContent {
    fn into_parts(self) -> Result<(MessageKind, Option<String>, Value), crate::InvalidValue> {
        use serde_json::json;
        match self {
            RichContent::Template {
                name,
                language,
                parameters,
            } => {
                let name = checked(&name, "template.name", MAX_PART_CHARS)?;
                if !name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                {
                    return Err(crate::InvalidValue(
                        "template.name is lower-case letters, digits and '_', as in Meta's template list".into(),
                    ));
                }
                let language = checked(&language, "template.language", 15)?;
                if parameters.len() > MAX_TEMPLATE_PARAMETERS {
                    return Err(crate::InvalidValue(format!(
                        "a template takes at most {MAX_TEMPLATE_PARAMETERS} parameters"
                    )));
                }
                let parameters = parameters
                    .iter()
                    .map(|p| checked(p, "a template parameter", MAX_PART_CHARS))
                    .collect::<Result<Vec<_>, _>>()?;
                let body = if parameters.is_empty() {
                    name.clone()
                } else {
                    format!("{name}: {}", parameters.join(", "))
                };
                let attachment = json!({"template": {"name": name, "language": language, "parameters": parameters}});
                Ok((MessageKind::Template, Some(body), attachment))
            }
            RichContent::Media {
                kind,
                link,
                caption,
            } => {
                if !kind.is_media() {
                    return Err(crate::InvalidValue(
                        "media.type is image, audio, video, document or sticker".into(),
                    ));
                }
                let link = checked(&link, "media.link", 2048)?;
                if !(link.starts_with("https://") || link.starts_with("http://")) {
                    return Err(crate::InvalidValue(
                        "media.link must be an http(s) URL the provider can fetch".into(),
                    ));
                }
                let caption = caption
                    .as_deref()
                    .map(|c| checked(c, "media.caption", MAX_PART_CHARS))
                    .transpose()?;
                Ok((kind, caption, json!({"link": link})))
            }
            RichContent::Reaction { provider_id, emoji } => {
                let emoji = checked(&emoji, "reaction.emoji", 16)?;
                Ok((
                    MessageKind::Reaction,
                    Some(emoji),
                    json!({"message_id": provider_id}),
                ))
            }
        }
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
    /// Part of the contact's name, phone or email (case-insensitive).
    pub contact_matches: Option<String>,
    /// The lead's temperature, the latest message's sentiment, who answers: as the
    /// pipeline last judged the conversation.
    pub temperature: Option<Temperature>,
    pub sentiment: Option<SentimentLabel>,
    pub handoff: Option<HandoffState>,
}

/// A conversation as the inbox list shows it: with the latest entry of its timeline
/// and, once the pipeline has scored it, its lead.
#[derive(Debug, Clone)]
pub struct Listed {
    pub conversation: Conversation,
    pub last_message: Option<Preview>,
    pub lead: Option<LeadBrief>,
}

/// What a list row shows of a conversation's lead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadBrief {
    pub score: u8,
    pub temperature: Temperature,
    pub sentiment: Option<SentimentLabel>,
    pub handoff: HandoffState,
}

/// Enough of a message to show one line of it in a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    pub direction: Direction,
    pub kind: MessageKind,
    pub body: Option<String>,
    pub author_id: Option<UserId>,
    pub status: DeliveryStatus,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn snoozed() -> Conversation {
        Conversation {
            tenant_id: TenantId::new(),
            id: ConversationId::new(),
            channel: ChannelKey::parse("whatsapp:1").unwrap(),
            contact_id: ContactId::new(),
            contact_name: "Ada".into(),
            status: ConversationStatus::Snoozed,
            snoozed_until: Some(Millis(9_000)),
            priority: Priority::Normal,
            assignee_id: None,
            tags: Vec::new(),
            unread_count: 2,
            last_seq: 7,
            last_message_at: Some(Millis(1_000)),
            last_inbound_at: Some(Millis(900)),
            created_at: Millis(100),
            updated_at: Millis(1_000),
        }
    }

    #[test]
    fn a_customer_message_counts_as_unread_and_reopens_the_conversation() {
        let mut conversation = snoozed();
        assert_eq!(conversation.take_seq(Direction::Inbound, Millis(2_000)), 8);
        assert_eq!(conversation.unread_count, 3);
        assert_eq!(conversation.status, ConversationStatus::Open);
        assert_eq!(conversation.snoozed_until, None);
        assert_eq!(conversation.last_inbound_at, Some(Millis(2_000)));
        assert_eq!(conversation.last_message_at, Some(Millis(2_000)));
        assert_eq!(conversation.updated_at, Millis(2_000));
    }

    #[test]
    fn a_reply_moves_the_latest_message_and_a_note_moves_only_the_seq() {
        let mut conversation = snoozed();
        assert_eq!(conversation.take_seq(Direction::Outbound, Millis(2_000)), 8);
        assert_eq!(conversation.take_seq(Direction::Note, Millis(3_000)), 9);
        assert_eq!(conversation.unread_count, 2);
        assert_eq!(conversation.status, ConversationStatus::Snoozed);
        assert_eq!(conversation.snoozed_until, Some(Millis(9_000)));
        assert_eq!(conversation.last_inbound_at, Some(Millis(900)));
        assert_eq!(conversation.last_message_at, Some(Millis(2_000)));
        assert_eq!(conversation.updated_at, Millis(3_000));
    }
}
