//! The `ContactsStore` port for both dialects, instantiated per backend by
//! `impl_contacts_store!`: one row per custom field definition (its options as JSON)
//! and per segment (its filter as JSON), and contacts' activity read from their
//! conversations and leads.

macro_rules! impl_contacts_store {
    ($store:ty) => {
        mod contacts_impl {
            use super::*;
            use crate::store::inbox_rows::{from_json, to_json};
            use crate::store::rows::{backend, conflict_as, corrupt};
            use async_trait::async_trait;
            use std::collections::HashMap;
            use switchboard_actors::contacts::fields::{FieldDefinition, FieldKey, FieldKind};
            use switchboard_actors::contacts::filter::Activity;
            use switchboard_actors::contacts::segments::Segment;
            use switchboard_actors::contacts::ContactsStore;
            use switchboard_actors::pipeline::scoring::Temperature;
            use switchboard_actors::store::StoreError;
            use switchboard_actors::{ChannelKey, ContactId, Millis, SegmentId, TenantId};
            use uuid::Uuid;

            /// id, tenant_id, name, filter, created_at, updated_at
            type SegmentRow = (Uuid, Uuid, String, String, i64, i64);

            fn segment(row: SegmentRow) -> Result<Segment, StoreError> {
                let (id, tenant, name, filter, created_at, updated_at) = row;
                Ok(Segment {
                    id: SegmentId(id),
                    tenant_id: TenantId(tenant),
                    name,
                    filter: from_json("segment", &filter)?,
                    created_at: Millis(created_at),
                    updated_at: Millis(updated_at),
                })
            }

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
            impl ContactsStore for $store {
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

                async fn create_segment(&self, segment: &Segment) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO segments (id, tenant_id, name, filter, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(segment.id.0)
                    .bind(segment.tenant_id.0)
                    .bind(&segment.name)
                    .bind(to_json(&segment.filter))
                    .bind(segment.created_at.0)
                    .bind(segment.updated_at.0)
                    .execute(self.writer())
                    .await
                    .map_err(conflict_as("a segment with this name"))?;
                    Ok(())
                }

                async fn update_segment(&self, segment: &Segment) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "UPDATE segments SET name = $3, filter = $4, updated_at = $5 WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(segment.tenant_id.0)
                    .bind(segment.id.0)
                    .bind(&segment.name)
                    .bind(to_json(&segment.filter))
                    .bind(segment.updated_at.0)
                    .execute(self.writer())
                    .await
                    .map_err(conflict_as("a segment with this name"))?;
                    Ok(done.rows_affected() == 1)
                }

                async fn segment(&self, tenant: TenantId, id: SegmentId) -> Result<Option<Segment>, StoreError> {
                    let row: Option<SegmentRow> = sqlx::query_as(
                        "SELECT id, tenant_id, name, filter, created_at, updated_at FROM segments WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(tenant.0)
                    .bind(id.0)
                    .fetch_optional(self.reader())
                    .await
                    .map_err(backend)?;
                    row.map(segment).transpose()
                }

                async fn segments(&self, tenant: TenantId) -> Result<Vec<Segment>, StoreError> {
                    let rows: Vec<SegmentRow> = sqlx::query_as(
                        "SELECT id, tenant_id, name, filter, created_at, updated_at FROM segments WHERE tenant_id = $1 ORDER BY name, id",
                    )
                    .bind(tenant.0)
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    rows.into_iter().map(segment).collect()
                }

                async fn delete_segment(&self, tenant: TenantId, id: SegmentId) -> Result<bool, StoreError> {
                    let done = sqlx::query("DELETE FROM segments WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant.0)
                        .bind(id.0)
                        .execute(self.writer())
                        .await
                        .map_err(backend)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn contact_activity(&self, tenant: TenantId, low: ContactId, high: ContactId) -> Result<HashMap<ContactId, Activity>, StoreError> {
                    let rows: Vec<(Uuid, String, Option<i64>, Option<String>)> = sqlx::query_as(
                        "SELECT c.contact_id, c.channel, c.last_inbound_at, l.temperature
                         FROM conversations c
                         LEFT JOIN conversation_leads l ON l.conversation_id = c.id AND l.tenant_id = c.tenant_id
                         WHERE c.tenant_id = $1 AND c.contact_id >= $2 AND c.contact_id <= $3",
                    )
                    .bind(tenant.0)
                    .bind(low.0)
                    .bind(high.0)
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    let mut activity: HashMap<ContactId, Activity> = HashMap::new();
                    for (contact, channel, last_inbound_at, temperature) in rows {
                        let channel = ChannelKey::parse(&channel).map_err(corrupt("conversation"))?;
                        let temperature = temperature
                            .map(|t| Temperature::parse(&t))
                            .transpose()
                            .map_err(corrupt("conversation lead"))?;
                        activity
                            .entry(ContactId(contact))
                            .or_default()
                            .add(channel, last_inbound_at.map(Millis), temperature);
                    }
                    Ok(activity)
                }
            }
        }
    };
}

pub(crate) use impl_contacts_store;
