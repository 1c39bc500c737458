//! The inbox half of the storage port.
//!
//! Every write that an agent can see commits its rows and its stream events in one
//! transaction, so an event is on the stream exactly when its change is in the
//! tables. Every method takes the tenant first and every query filters on it.

use super::access::AccessSnapshot;
use super::records::{
    Assignment, Contact, ContactChange, Conversation, ConversationChange, ConversationCursor,
    ConversationFilter, Inbound, Listed, Message, Outgoing, StatusReport, Tag,
};
use super::stream::{StreamEvent, StreamHead};
use crate::automation::happening::Origin;
use crate::contacts::consent::Consent;
use crate::store::StoreError;
use crate::{ChannelKey, ContactId, ConversationId, MessageId, Millis, TagName, TenantId};
use async_trait::async_trait;

/// A message that was recorded (or found, when the same message came again).
#[derive(Debug, Clone)]
pub struct Recorded {
    pub message: Message,
    pub conversation: Conversation,
    /// Empty for a duplicate: the first delivery already published everything.
    pub events: Vec<StreamEvent>,
    pub duplicate: bool,
}

/// A conversation after a change, with the events the change produced.
#[derive(Debug, Clone)]
pub struct Changed {
    pub conversation: Conversation,
    pub events: Vec<StreamEvent>,
}

/// What a delivery status report did.
#[derive(Debug, Clone)]
pub enum StatusUpdate {
    Advanced {
        message: Message,
        events: Vec<StreamEvent>,
    },
    /// The message already had this status or a later one.
    Stale(Message),
    UnknownMessage,
}

/// A contact after a change (an edit, a merge, an unmerge), with the events for the
/// conversations that show it differently now (moved to it, or renamed).
#[derive(Debug, Clone)]
pub struct ContactChanged {
    pub contact: Contact,
    pub events: Vec<StreamEvent>,
}

#[async_trait]
pub trait InboxStore: Send + Sync + 'static {
    /// The tenant's stream as committed now (created on first use).
    async fn stream_head(&self, tenant: TenantId) -> Result<StreamHead, StoreError>;

    /// Every user's role and status in the tenant, and the sign-ins (refresh-token
    /// families) revoked at or after `ended_since`: what open connections are checked
    /// against (see `access`).
    async fn access_snapshot(
        &self,
        tenant: TenantId,
        ended_since: Millis,
    ) -> Result<AccessSnapshot, StoreError>;

    /// Up to `limit` events with an offset above `after`, oldest first.
    async fn events_after(
        &self,
        tenant: TenantId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<StreamEvent>, StoreError>;

    /// Drops events written before `before` (all tenants); returns how many.
    async fn prune_events(&self, before: Millis) -> Result<u64, StoreError>;

    /// Records customer messages, of one tenant or several, in one transaction, in
    /// order. For each: finds or creates the contact by its channel identity and the
    /// conversation (a resolved or snoozed one reopens, a closed one is followed by a
    /// new one), then the message with the next `seq`. A provider id seen before
    /// (earlier in the batch too) returns the stored message as a duplicate. One
    /// result per message, in order; an error means none of the batch was stored.
    async fn ingest_batch(
        &self,
        batch: &[(TenantId, Inbound)],
    ) -> Result<Vec<Recorded>, StoreError>;

    /// `ingest_batch` of one message.
    async fn ingest(&self, tenant: TenantId, inbound: &Inbound) -> Result<Recorded, StoreError> {
        self.ingest_batch(&[(tenant, inbound.clone())])
            .await?
            .pop()
            .ok_or_else(|| StoreError::Backend("ingest recorded nothing".into()))
    }

    /// Adds a reply or note. The same author and client id returns the stored message
    /// as a duplicate. `None` when the conversation does not exist.
    async fn append_message(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        message: &Outgoing,
    ) -> Result<Option<Recorded>, StoreError>;

    /// Applies a delivery report, forward only (see `DeliveryStatus::advance_to`).
    /// The message a provider knows by `provider_id` on `channel`.
    async fn message_by_provider_id(
        &self,
        tenant: TenantId,
        channel: &ChannelKey,
        provider_id: &str,
    ) -> Result<Option<Message>, StoreError>;

    /// Replies on `channel` to the customer known there as `external_id`, created at
    /// or before `until` and not read yet, oldest first: what a "read up to" report
    /// (Messenger's watermark) covers.
    async fn unread_replies(
        &self,
        tenant: TenantId,
        channel: &ChannelKey,
        external_id: &str,
        until: Millis,
    ) -> Result<Vec<Message>, StoreError>;

    /// Replies of any tenant still `pending` that were written before `before`, oldest
    /// first, with their channel: what a node that stopped had queued but not sent.
    async fn stalled_replies(
        &self,
        before: Millis,
        limit: u32,
    ) -> Result<Vec<(ChannelKey, Message)>, StoreError>;

    /// The lead form submissions of a contact, newest first.
    async fn leads(&self, tenant: TenantId, contact: ContactId)
    -> Result<Vec<Message>, StoreError>;

    /// Merges a delivery report forward (see `DeliveryStatus::advance_to`). The
    /// provider id and error are kept from the first report that carries them.
    async fn advance_message_status(
        &self,
        tenant: TenantId,
        message: MessageId,
        report: &StatusReport,
    ) -> Result<StatusUpdate, StoreError>;

    /// `None` when the conversation does not exist. `origin`: the automation run
    /// making the change, named in its event.
    async fn change_conversation(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        change: &ConversationChange,
        origin: Option<&Origin>,
        at: Millis,
    ) -> Result<Option<Changed>, StoreError>;

    async fn conversation(
        &self,
        tenant: TenantId,
        id: ConversationId,
    ) -> Result<Option<Conversation>, StoreError>;

    /// Most recent activity first, each with its latest message.
    async fn conversations(
        &self,
        tenant: TenantId,
        filter: &ConversationFilter,
        after: Option<ConversationCursor>,
        limit: u32,
    ) -> Result<Vec<Listed>, StoreError>;

    /// Up to `limit` messages with a `seq` below `before` (all when `None`), in `seq`
    /// order: the newest page of the timeline first, paging backwards.
    async fn messages(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError>;

    async fn message(&self, tenant: TenantId, id: MessageId)
    -> Result<Option<Message>, StoreError>;

    /// Newest first.
    async fn assignments(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
    ) -> Result<Vec<Assignment>, StoreError>;

    /// Fails with `Conflict` when one of its identities belongs to another contact.
    async fn create_contact(&self, contact: &Contact) -> Result<(), StoreError>;

    async fn contact(&self, tenant: TenantId, id: ContactId)
    -> Result<Option<Contact>, StoreError>;

    /// A new name republishes the contact's conversations (they show the name).
    async fn update_contact(
        &self,
        tenant: TenantId,
        id: ContactId,
        change: &ContactChange,
        at: Millis,
    ) -> Result<Option<ContactChanged>, StoreError>;

    /// Contacts (not merged away) whose name, phone or email contains `query`, newest
    /// first, after the cursor.
    /// Records a consent change that happened at `consent.at`, unless the contact's
    /// latest change is as new or newer (a keyword delivered twice cannot undo a later
    /// change). Answers the contact as it stands and whether this change was taken;
    /// `Ok(None)` when there is no such contact.
    async fn record_consent(
        &self,
        tenant: TenantId,
        id: ContactId,
        consent: Consent,
    ) -> Result<Option<(Contact, bool)>, StoreError>;

    async fn search_contacts(
        &self,
        tenant: TenantId,
        query: Option<&str>,
        after: Option<ContactId>,
        limit: u32,
    ) -> Result<Vec<Contact>, StoreError>;

    /// Moves `absorb`'s identities, conversations, phones, emails, tags and unknown
    /// custom fields to `keep`, and marks `absorb` as merged into it. What `keep`
    /// gained is recorded, so the merge can be undone. `None` when either is missing
    /// or already merged.
    async fn merge_contacts(
        &self,
        tenant: TenantId,
        keep: ContactId,
        absorb: ContactId,
        at: Millis,
    ) -> Result<Option<ContactChanged>, StoreError>;

    /// Undoes the merge that absorbed `absorbed`: its identities and conversations go
    /// back to it, the kept contact loses what the merge gave it, and `absorbed` shows
    /// again. Returns the restored contact; `None` when it was not merged.
    async fn unmerge_contact(
        &self,
        tenant: TenantId,
        absorbed: ContactId,
        at: Millis,
    ) -> Result<Option<ContactChanged>, StoreError>;

    async fn create_tag(&self, tenant: TenantId, tag: &Tag) -> Result<(), StoreError>;

    async fn tags(&self, tenant: TenantId) -> Result<Vec<Tag>, StoreError>;

    /// Removes the tag from the catalog and from every conversation, with an event
    /// for each conversation that had it. `None` when there is no such tag.
    async fn delete_tag(
        &self,
        tenant: TenantId,
        name: &TagName,
        at: Millis,
    ) -> Result<Option<Vec<StreamEvent>>, StoreError>;
}
