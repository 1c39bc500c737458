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
            use super::inbox_impl::{contact_in, contact_with_handle, StreamTx};
            use std::collections::HashMap;
            use switchboard_actors::contacts::import::{Import, ImportStatus};
            use switchboard_actors::inbox::records::Contact;
            use switchboard_actors::inbox::stream::{EventKind, StreamEvent};
            use switchboard_actors::{ConversationId, Email, ImportId, PhoneE164, UserId};
            use switchboard_actors::contacts::fields::{FieldDefinition, FieldKey, FieldKind};
            use switchboard_actors::contacts::filter::Activity;
            use switchboard_actors::contacts::segments::Segment;
            use switchboard_actors::contacts::ContactsStore;
            use switchboard_actors::pipeline::scoring::Temperature;
            use switchboard_actors::store::StoreError;
            use switchboard_actors::{ChannelKey, ContactId, Millis, SegmentId, TenantId};
            use uuid::Uuid;

            /// id, tenant_id, status, csv, mapping, default_country, created_by, total,
            /// processed, created, updated, failed, errors, created_at, updated_at
            type ImportRow = (Uuid, Uuid, String, String, String, Option<String>, Option<Uuid>, i64, i64, i64, i64, i64, String, i64, i64);

            fn import(row: ImportRow) -> Result<Import, StoreError> {
                let (id, tenant, status, csv, mapping, default_country, created_by, total, processed, created, updated, failed, errors, created_at, updated_at) = row;
                let count = |n: i64| u64::try_from(n).unwrap_or_default();
                Ok(Import {
                    id: ImportId(id),
                    tenant_id: TenantId(tenant),
                    status: ImportStatus::parse(&status).map_err(corrupt("contact import"))?,
                    csv,
                    mapping: from_json("contact import", &mapping)?,
                    default_country,
                    created_by: created_by.map(UserId),
                    total: count(total),
                    processed: count(processed),
                    created: count(created),
                    updated: count(updated),
                    failed: count(failed),
                    errors,
                    created_at: Millis(created_at),
                    updated_at: Millis(updated_at),
                })
            }

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

                async fn create_import(&self, import: &Import) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO contact_imports (id, tenant_id, status, csv, mapping, default_country, created_by, total,
                                                      processed, created, updated, failed, errors, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                    )
                    .bind(import.id.0)
                    .bind(import.tenant_id.0)
                    .bind(import.status.as_str())
                    .bind(&import.csv)
                    .bind(to_json(&import.mapping))
                    .bind(import.default_country.as_deref())
                    .bind(import.created_by.map(|u| u.0))
                    .bind(import.total as i64)
                    .bind(import.processed as i64)
                    .bind(import.created as i64)
                    .bind(import.updated as i64)
                    .bind(import.failed as i64)
                    .bind(&import.errors)
                    .bind(import.created_at.0)
                    .bind(import.updated_at.0)
                    .execute(self.writer())
                    .await
                    .map_err(backend)?;
                    Ok(())
                }

                async fn import(&self, tenant: TenantId, id: ImportId) -> Result<Option<Import>, StoreError> {
                    let row: Option<ImportRow> = sqlx::query_as(
                        "SELECT id, tenant_id, status, csv, mapping, default_country, created_by, total, processed, created,
                                updated, failed, errors, created_at, updated_at
                         FROM contact_imports WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(tenant.0)
                    .bind(id.0)
                    .fetch_optional(self.reader())
                    .await
                    .map_err(backend)?;
                    row.map(import).transpose()
                }

                async fn save_import(&self, saved: &Import) -> Result<StreamEvent, StoreError> {
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    // Locked first, as every writer of the stream does.
                    let mut stream = StreamTx::lock(&mut tx, saved.tenant_id).await?;
                    sqlx::query(
                        "UPDATE contact_imports SET status = $3, processed = $4, created = $5, updated = $6, failed = $7,
                                errors = $8, updated_at = $9
                         WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(saved.tenant_id.0)
                    .bind(saved.id.0)
                    .bind(saved.status.as_str())
                    .bind(saved.processed as i64)
                    .bind(saved.created as i64)
                    .bind(saved.updated as i64)
                    .bind(saved.failed as i64)
                    .bind(&saved.errors)
                    .bind(saved.updated_at.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                    stream.push_subject(EventKind::ContactsImport, ConversationId(saved.id.0), to_json(&saved.view()), saved.updated_at);
                    stream.commit(tx).await?.pop().ok_or_else(|| StoreError::Backend("an import event vanished".to_owned()))
                }

                async fn contact_by_handles(&self, tenant: TenantId, phones: &[PhoneE164], emails: &[Email]) -> Result<Option<Contact>, StoreError> {
                    let mut conn = self.reader().acquire().await.map_err(backend)?;
                    let handles = phones.iter().map(|p| (p.as_str(), true)).chain(emails.iter().map(|e| (e.as_str(), false)));
                    for (value, is_phone) in handles {
                        if let Some(id) = contact_with_handle(&mut conn, tenant, value, is_phone).await? {
                            return contact_in(&mut conn, tenant, id).await;
                        }
                    }
                    Ok(None)
                }
            }
        }
    };
}

pub(crate) use impl_contacts_store;
