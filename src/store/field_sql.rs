//! The `FieldStore` port for both dialects, instantiated per backend by
//! `impl_field_store!`: one row per custom field definition, its options as JSON.

macro_rules! impl_field_store {
    ($store:ty) => {
        mod field_impl {
            use super::*;
            use crate::store::inbox_rows::{from_json, to_json};
            use crate::store::rows::{backend, conflict_as, corrupt};
            use async_trait::async_trait;
            use switchboard_actors::contacts::fields::{FieldDefinition, FieldKey, FieldKind};
            use switchboard_actors::contacts::FieldStore;
            use switchboard_actors::store::StoreError;
            use switchboard_actors::{Millis, TenantId};
            use uuid::Uuid;

            /// tenant_id, key, label, kind, options, required, created_at, updated_at
            type FieldRow = (Uuid, String, String, String, String, bool, i64, i64);

            fn field(row: FieldRow) -> Result<FieldDefinition, StoreError> {
                let (tenant, key, label, kind, options, required, created_at, updated_at) = row;
                Ok(FieldDefinition {
                    tenant_id: TenantId(tenant),
                    key: FieldKey::parse(&key).map_err(corrupt("contact field"))?,
                    label,
                    kind: FieldKind::parse(&kind).map_err(corrupt("contact field"))?,
                    options: from_json("contact field", &options)?,
                    required,
                    created_at: Millis(created_at),
                    updated_at: Millis(updated_at),
                })
            }

            #[async_trait]
            impl FieldStore for $store {
                async fn create_field(&self, field: &FieldDefinition) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO contact_fields (tenant_id, field_key, label, kind, options, required, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(field.tenant_id.0)
                    .bind(field.key.as_str())
                    .bind(&field.label)
                    .bind(field.kind.as_str())
                    .bind(to_json(&field.options))
                    .bind(field.required)
                    .bind(field.created_at.0)
                    .bind(field.updated_at.0)
                    .execute(self.writer())
                    .await
                    .map_err(conflict_as("a custom field with this key"))?;
                    Ok(())
                }

                async fn update_field(&self, field: &FieldDefinition) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "UPDATE contact_fields SET label = $3, options = $4, required = $5, updated_at = $6
                         WHERE tenant_id = $1 AND field_key = $2",
                    )
                    .bind(field.tenant_id.0)
                    .bind(field.key.as_str())
                    .bind(&field.label)
                    .bind(to_json(&field.options))
                    .bind(field.required)
                    .bind(field.updated_at.0)
                    .execute(self.writer())
                    .await
                    .map_err(backend)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn fields(&self, tenant: TenantId) -> Result<Vec<FieldDefinition>, StoreError> {
                    let rows: Vec<FieldRow> = sqlx::query_as(
                        "SELECT tenant_id, field_key, label, kind, options, required, created_at, updated_at
                         FROM contact_fields WHERE tenant_id = $1 ORDER BY created_at, field_key",
                    )
                    .bind(tenant.0)
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    rows.into_iter().map(field).collect()
                }

                async fn delete_field(&self, tenant: TenantId, key: &FieldKey) -> Result<bool, StoreError> {
                    let done = sqlx::query("DELETE FROM contact_fields WHERE tenant_id = $1 AND field_key = $2")
                        .bind(tenant.0)
                        .bind(key.as_str())
                        .execute(self.writer())
                        .await
                        .map_err(backend)?;
                    Ok(done.rows_affected() == 1)
                }
            }
        }
    };
}

pub(crate) use impl_field_store;
