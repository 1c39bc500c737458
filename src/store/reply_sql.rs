//! The `ReplyStore` port for both dialects, instantiated per backend by
//! `impl_reply_store!` next to `impl_inbox_store!`, whose stream transaction appends
//! the drafts' events. The cursor is the pipeline's kind (`cursor_sql.rs`), starting
//! at the stream's head.

macro_rules! impl_reply_store {
    ($store:ty) => {
        mod reply_impl {
            use super::inbox_impl::{conversation_in, StreamTx};
            use super::*;
            use crate::store::inbox_rows::{from_json, to_json};
            use crate::store::rows::backend;
            use async_trait::async_trait;
            use switchboard_actors::inbox::bus::NodeId;
            use switchboard_actors::inbox::stream::{EventKind, StreamEvent};
            use switchboard_actors::reply::settings::ReplySettings;
            use switchboard_actors::reply::store::ReplyStore;
            use switchboard_actors::store::StoreError;
            use switchboard_actors::{ConversationId, Millis, TenantId};
            use uuid::Uuid;

            crate::store::cursor_sql::leased_cursor!($store, "reply_cursors",
                "COALESCE((SELECT last_offset FROM tenant_streams WHERE tenant_id = $1), 0)");
            crate::store::cursor_sql::head_cursor!($store, "reply_cursors");

            #[async_trait]
            impl ReplyStore for $store {
                async fn reply_settings(&self, tenant: TenantId) -> Result<Option<ReplySettings>, StoreError> {
                    let row: Option<(String,)> = sqlx::query_as("SELECT data FROM tenant_reply_settings WHERE tenant_id = $1")
                        .bind(tenant.0)
                        .fetch_optional(self.reader())
                        .await
                        .map_err(backend)?;
                    row.map(|(data,)| from_json("reply settings", &data)).transpose()
                }

                async fn save_reply_settings(&self, tenant: TenantId, settings: &ReplySettings, at: Millis) -> Result<(), StoreError> {
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    let (was_enabled,): (bool,) = sqlx::query_as(
                        "SELECT COALESCE((SELECT enabled FROM tenant_reply_settings WHERE tenant_id = $1), FALSE)",
                    )
                    .bind(tenant.0)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(backend)?;
                    sqlx::query(
                        "INSERT INTO tenant_reply_settings (tenant_id, data, enabled, updated_at) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (tenant_id) DO UPDATE SET data = excluded.data, enabled = excluded.enabled,
                                                               updated_at = excluded.updated_at",
                    )
                    .bind(tenant.0)
                    .bind(to_json(settings))
                    .bind(settings.enabled())
                    .bind(at.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                    if settings.enabled() && !was_enabled {
                        // Replies start with the messages that come from now on.
                        cursor_to_head(&mut tx, tenant).await?;
                    }
                    tx.commit().await.map_err(backend)
                }

                async fn claim_replies(&self, tenant: TenantId, node: NodeId, now: Millis, lease_until: Millis) -> Result<Option<i64>, StoreError> {
                    claim_cursor(self.writer(), tenant, node, now, lease_until).await
                }

                async fn reply_candidates(&self, node: NodeId, now: Millis, limit: u32) -> Result<Vec<TenantId>, StoreError> {
                    let rows: Vec<(Uuid,)> = sqlx::query_as(
                        "SELECT r.tenant_id FROM tenant_reply_settings r
                         JOIN tenant_streams s ON s.tenant_id = r.tenant_id
                         LEFT JOIN reply_cursors c ON c.tenant_id = r.tenant_id
                         WHERE r.enabled
                           AND (c.tenant_id IS NULL
                                OR (s.last_offset > c.stream_offset
                                    AND (c.owner_node IS NULL OR c.owner_node = $1
                                         OR c.lease_until IS NULL OR c.lease_until < $2)))
                         ORDER BY r.tenant_id LIMIT $3",
                    )
                    .bind(node.0)
                    .bind(now.0)
                    .bind(i64::from(limit))
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    Ok(rows.into_iter().map(|(id,)| TenantId(id)).collect())
                }

                async fn advance_replies(&self, tenant: TenantId, node: NodeId, offset: i64) -> Result<bool, StoreError> {
                    advance_cursor(self.writer(), tenant, node, offset).await
                }

                async fn release_replies(&self, tenant: TenantId, node: NodeId) -> Result<(), StoreError> {
                    release_cursor(self.writer(), tenant, node).await
                }

                async fn suggest_reply(&self, tenant: TenantId, conversation: ConversationId, data: String, at: Millis) -> Result<Option<Vec<StreamEvent>>, StoreError> {
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    let mut stream = StreamTx::lock(&mut tx, tenant).await?;
                    let Some(found) = conversation_in(&mut tx, tenant, conversation).await? else {
                        return Ok(None);
                    };
                    stream.push(EventKind::ReplySuggested, &found, data, at);
                    stream.commit(tx).await.map(Some)
                }
            }
        }
    };
}

pub(crate) use impl_reply_store;
