//! The `QuickReplyStore` port for both dialects, instantiated per backend by
//! `impl_quick_reply_store!`: one row per canned response.

macro_rules! impl_quick_reply_store {
    ($store:ty) => {
        mod quick_reply_impl {
            use super::*;
            use crate::store::rows::{backend, conflict_as};
            use async_trait::async_trait;
            use switchboard_actors::quick_replies::{QuickReply, QuickReplyStore};
            use switchboard_actors::store::StoreError;
            use switchboard_actors::{Millis, QuickReplyId, TenantId};
            use uuid::Uuid;

            #[async_trait]
            impl QuickReplyStore for $store {
                async fn create_quick_reply(&self, reply: &QuickReply) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO quick_replies (id, tenant_id, shortcut, text, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(reply.id.0)
                    .bind(reply.tenant_id.0)
                    .bind(&reply.shortcut)
                    .bind(&reply.text)
                    .bind(reply.created_at.0)
                    .bind(reply.updated_at.0)
                    .execute(self.writer())
                    .await
                    .map_err(conflict_as("a quick reply with this shortcut"))?;
                    Ok(())
                }

                async fn update_quick_reply(&self, reply: &QuickReply) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "UPDATE quick_replies SET shortcut = $3, text = $4, updated_at = $5 WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(reply.tenant_id.0)
                    .bind(reply.id.0)
                    .bind(&reply.shortcut)
                    .bind(&reply.text)
                    .bind(reply.updated_at.0)
                    .execute(self.writer())
                    .await
                    .map_err(conflict_as("a quick reply with this shortcut"))?;
                    Ok(done.rows_affected() == 1)
                }

                async fn quick_replies(&self, tenant: TenantId) -> Result<Vec<QuickReply>, StoreError> {
                    let rows: Vec<(Uuid, Uuid, String, String, i64, i64)> = sqlx::query_as(
                        "SELECT id, tenant_id, shortcut, text, created_at, updated_at FROM quick_replies
                         WHERE tenant_id = $1 ORDER BY shortcut",
                    )
                    .bind(tenant.0)
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    Ok(rows
                        .into_iter()
                        .map(|(id, tenant, shortcut, text, created_at, updated_at)| QuickReply {
                            id: QuickReplyId(id),
                            tenant_id: TenantId(tenant),
                            shortcut,
                            text,
                            created_at: Millis(created_at),
                            updated_at: Millis(updated_at),
                        })
                        .collect())
                }

                async fn delete_quick_reply(&self, tenant: TenantId, id: QuickReplyId) -> Result<bool, StoreError> {
                    let done = sqlx::query("DELETE FROM quick_replies WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant.0)
                        .bind(id.0)
                        .execute(self.writer())
                        .await
                        .map_err(backend)?;
                    Ok(done.rows_affected() == 1)
                }
            }
        }
    };
}

pub(crate) use impl_quick_reply_store;
