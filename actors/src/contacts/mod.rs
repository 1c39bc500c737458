//! The contact book beyond what the inbox needs: consent to marketing, the tenant's
//! custom field definitions, filters and saved segments, and the store port that
//! keeps them.

pub mod consent;
pub mod export;
pub mod fields;
pub mod filter;
pub mod import;
pub mod import_job;
pub mod scan;
pub mod segments;

use crate::inbox::records::Contact;
use crate::inbox::stream::StreamEvent;
use crate::store::StoreError;
use crate::{ContactId, Email, ImportId, PhoneE164, SegmentId, TenantId};
use async_trait::async_trait;
use fields::{FieldDefinition, FieldKey};
use filter::Activity;
use import::Import;
use segments::Segment;
use std::collections::HashMap;

#[async_trait]
pub trait ContactsStore: Send + Sync + 'static {
    /// Adds a definition; `StoreError::Conflict` when the key is taken.
    async fn create_field(&self, field: &FieldDefinition) -> Result<(), StoreError>;

    /// Rewrites a definition's label, options and required flag (its key and kind
    /// never change); false when there is none under its key.
    async fn update_field(&self, field: &FieldDefinition) -> Result<bool, StoreError>;

    /// The tenant's definitions, oldest first.
    async fn fields(&self, tenant: TenantId) -> Result<Vec<FieldDefinition>, StoreError>;

    /// Removes a definition; the values contacts hold under its key stay, as
    /// free-form fields. False when there was none.
    async fn delete_field(&self, tenant: TenantId, key: &FieldKey) -> Result<bool, StoreError>;

    /// Adds a segment; `StoreError::Conflict` when its name is taken.
    async fn create_segment(&self, segment: &Segment) -> Result<(), StoreError>;

    /// Rewrites a segment's name and filter; false when there is none.
    async fn update_segment(&self, segment: &Segment) -> Result<bool, StoreError>;

    async fn segment(&self, tenant: TenantId, id: SegmentId)
    -> Result<Option<Segment>, StoreError>;

    /// The tenant's segments by name.
    async fn segments(&self, tenant: TenantId) -> Result<Vec<Segment>, StoreError>;

    async fn delete_segment(&self, tenant: TenantId, id: SegmentId) -> Result<bool, StoreError>;

    /// What the conversations of the contacts with ids from `low` to `high` say
    /// about them (contacts without conversations are left out).
    async fn contact_activity(
        &self,
        tenant: TenantId,
        low: ContactId,
        high: ContactId,
    ) -> Result<HashMap<ContactId, Activity>, StoreError>;

    async fn create_import(&self, import: &Import) -> Result<(), StoreError>;

    async fn import(&self, tenant: TenantId, id: ImportId) -> Result<Option<Import>, StoreError>;

    /// Writes an import's progress and appends its `contacts.import` event in the
    /// same transaction; answers the event, to be published.
    async fn save_import(&self, import: &Import) -> Result<StreamEvent, StoreError>;

    /// The contact a person with these phones or emails already is: the first with
    /// one of the phones, or else with one of the emails (as channels match senders).
    async fn contact_by_handles(
        &self,
        tenant: TenantId,
        phones: &[PhoneE164],
        emails: &[Email],
    ) -> Result<Option<Contact>, StoreError>;
}
