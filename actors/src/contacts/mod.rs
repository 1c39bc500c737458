//! The contact book beyond what the inbox needs: the tenant's custom field
//! definitions, and the store port that keeps them.

pub mod fields;
pub mod filter;

use crate::TenantId;
use crate::store::StoreError;
use async_trait::async_trait;
use fields::{FieldDefinition, FieldKey};

#[async_trait]
pub trait FieldStore: Send + Sync + 'static {
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
}
