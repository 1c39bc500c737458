//! The one implementation of the `SessionStore` port for both dialects, instantiated
//! per backend by `impl_session_store!` next to `impl_inbox_store!`, whose stream
//! transaction records each transition with its event.

macro_rules! impl_session_store {
    ($store:ty) => {
        mod session_impl {
            use super::inbox_impl::StreamTx;
            use super::*;
            use crate::store::inbox_rows::{to_json, EventRow};
            use crate::store::rows::backend;
            use crate::store::session_rows::SessionRow;
            use async_trait::async_trait;
            use switchboard_actors::inbox::bus::NodeId;
            use switchboard_actors::inbox::stream::{EventKind, StreamEvent};
            use switchboard_actors::session::keys::SessionKeyRows;
            use switchboard_actors::session::store::{Claimable, SessionStore};
            use switchboard_actors::session::{SessionDetail, SessionRecord, SessionState, Transition};
            use switchboard_actors::store::StoreError;
            use switchboard_actors::{ChannelId, ConversationId, Millis, TenantId};
            use uuid::Uuid;

            #[async_trait]
            impl SessionStore for $store {
                async fn session(&self, tenant: TenantId, channel: ChannelId) -> Result<Option<SessionRecord>, StoreError> {
                    sqlx::query_as::<_, SessionRow>(
                        "SELECT tenant_id, channel_id, state, detail, paired, phone, updated_at
                         FROM channel_sessions WHERE tenant_id = $1 AND channel_id = $2",
                    )
                    .bind(tenant.0)
                    .bind(channel.0)
                    .fetch_optional(self.reader())
                    .await
                    .map_err(backend)?
                    .map(SessionRecord::try_from)
                    .transpose()
                }

                async fn create_session(&self, tenant: TenantId, channel: ChannelId, node: NodeId, lease_until: Millis, at: Millis) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO channel_sessions (tenant_id, channel_id, state, detail, paired, phone, owner_node, lease_until, updated_at)
                         VALUES ($1, $2, $3, $4, $5, NULL, $6, $7, $8)",
                    )
                    .bind(tenant.0)
                    .bind(channel.0)
                    .bind(SessionState::Starting.as_str())
                    .bind(to_json(&SessionDetail::default()))
                    .bind(false)
                    .bind(node.0)
                    .bind(lease_until.0)
                    .bind(at.0)
                    .execute(self.writer())
                    .await
                    .map_err(backend)?;
                    Ok(())
                }

                async fn record_session(&self, tenant: TenantId, channel: ChannelId, node: NodeId, transition: &Transition) -> Result<Option<StreamEvent>, StoreError> {
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    let mut stream = StreamTx::lock(&mut tx, tenant).await?;
                    let done = sqlx::query(
                        "UPDATE channel_sessions SET state = $4, detail = $5, paired = $6, phone = $7, updated_at = $8
                         WHERE tenant_id = $1 AND channel_id = $2 AND owner_node = $3",
                    )
                    .bind(tenant.0)
                    .bind(channel.0)
                    .bind(node.0)
                    .bind(transition.state.as_str())
                    .bind(to_json(&transition.detail))
                    .bind(transition.paired)
                    .bind(transition.phone.as_deref())
                    .bind(transition.at.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                    if done.rows_affected() == 0 {
                        // Not this node's session (any more): write nothing.
                        return Ok(None);
                    }
                    stream.push_subject(EventKind::SessionUpdated, ConversationId(channel.0), transition.payload(channel), transition.at);
                    Ok(stream.commit(tx).await?.pop())
                }

                async fn claim_session(&self, tenant: TenantId, channel: ChannelId, node: NodeId, now: Millis, lease_until: Millis) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "UPDATE channel_sessions SET owner_node = $3, lease_until = $5
                         WHERE tenant_id = $1 AND channel_id = $2
                           AND (owner_node IS NULL OR owner_node = $3 OR lease_until IS NULL OR lease_until < $4)",
                    )
                    .bind(tenant.0)
                    .bind(channel.0)
                    .bind(node.0)
                    .bind(now.0)
                    .bind(lease_until.0)
                    .execute(self.writer())
                    .await
                    .map_err(backend)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn session_owner(&self, tenant: TenantId, channel: ChannelId, now: Millis) -> Result<Option<NodeId>, StoreError> {
                    let owner: Option<(Uuid,)> = sqlx::query_as(
                        "SELECT owner_node FROM channel_sessions
                         WHERE tenant_id = $1 AND channel_id = $2 AND owner_node IS NOT NULL AND lease_until >= $3",
                    )
                    .bind(tenant.0)
                    .bind(channel.0)
                    .bind(now.0)
                    .fetch_optional(self.reader())
                    .await
                    .map_err(backend)?;
                    Ok(owner.map(|(node,)| NodeId(node)))
                }

                async fn renew_session_leases(&self, node: NodeId, sessions: &[ChannelId], lease_until: Millis) -> Result<Vec<ChannelId>, StoreError> {
                    // One statement renews every lease the node holds; one it holds but
                    // no longer runs (a release that failed) is given up.
                    let held: Vec<(Uuid,)> = sqlx::query_as(
                        "UPDATE channel_sessions SET lease_until = $2 WHERE owner_node = $1 RETURNING channel_id",
                    )
                    .bind(node.0)
                    .bind(lease_until.0)
                    .fetch_all(self.writer())
                    .await
                    .map_err(backend)?;
                    let mut running = Vec::new();
                    for (id,) in held {
                        let id = ChannelId(id);
                        if sessions.contains(&id) {
                            running.push(id);
                        } else {
                            self.release_session(id, node).await?;
                        }
                    }
                    Ok(running)
                }

                async fn release_session(&self, channel: ChannelId, node: NodeId) -> Result<(), StoreError> {
                    sqlx::query("UPDATE channel_sessions SET owner_node = NULL, lease_until = NULL WHERE channel_id = $1 AND owner_node = $2")
                        .bind(channel.0)
                        .bind(node.0)
                        .execute(self.writer())
                        .await
                        .map_err(backend)?;
                    Ok(())
                }

                async fn claimable_sessions(&self, now: Millis, limit: u32) -> Result<Vec<Claimable>, StoreError> {
                    let rows: Vec<(Uuid, Uuid)> = sqlx::query_as(
                        "SELECT s.tenant_id, s.channel_id FROM channel_sessions s JOIN channels c ON c.id = s.channel_id
                         WHERE c.state = 'active'
                           AND s.state NOT IN ('logged_out', 'conflict', 'banned', 'failed', 'stopped')
                           AND (s.owner_node IS NULL OR s.lease_until IS NULL OR s.lease_until < $1)
                         ORDER BY s.lease_until, s.channel_id LIMIT $2",
                    )
                    .bind(now.0)
                    .bind(i64::from(limit))
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    Ok(rows
                        .into_iter()
                        .map(|(tenant, channel)| Claimable { tenant: TenantId(tenant), channel: ChannelId(channel) })
                        .collect())
                }

                async fn session_history(&self, tenant: TenantId, channel: ChannelId, limit: u32) -> Result<Vec<StreamEvent>, StoreError> {
                    sqlx::query_as::<_, EventRow>(concat!(
                        crate::store::inbox_rows::event_select!(),
                        "WHERE e.tenant_id = $1 AND e.kind = 'session.updated' AND e.conversation_id = $2
                         ORDER BY e.stream_offset DESC LIMIT $3",
                    ))
                    .bind(tenant.0)
                    .bind(channel.0)
                    .bind(i64::from(limit))
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?
                    .into_iter()
                    .map(StreamEvent::try_from)
                    .collect()
                }
            }

            #[async_trait]
            impl SessionKeyRows for $store {
                async fn session_key(&self, tenant: TenantId, session: ChannelId, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
                    let row: Option<(Vec<u8>,)> = sqlx::query_as(
                        "SELECT value FROM session_keys WHERE tenant_id = $1 AND session_id = $2 AND namespace = $3 AND key = $4",
                    )
                    .bind(tenant.0)
                    .bind(session.0)
                    .bind(namespace)
                    .bind(key)
                    .fetch_optional(self.reader())
                    .await
                    .map_err(backend)?;
                    Ok(row.map(|(value,)| value))
                }

                async fn put_session_keys(&self, tenant: TenantId, session: ChannelId, namespace: &str, pairs: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    for (key, value) in pairs {
                        sqlx::query(
                            "INSERT INTO session_keys (tenant_id, session_id, namespace, key, value) VALUES ($1, $2, $3, $4, $5)
                             ON CONFLICT (session_id, namespace, key) DO UPDATE SET value = excluded.value",
                        )
                        .bind(tenant.0)
                        .bind(session.0)
                        .bind(namespace)
                        .bind(key)
                        .bind(value)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    }
                    tx.commit().await.map_err(backend)
                }

                async fn delete_session_keys(&self, tenant: TenantId, session: ChannelId, namespace: &str, keys: &[String]) -> Result<(), StoreError> {
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    for key in keys {
                        sqlx::query("DELETE FROM session_keys WHERE tenant_id = $1 AND session_id = $2 AND namespace = $3 AND key = $4")
                            .bind(tenant.0)
                            .bind(session.0)
                            .bind(namespace)
                            .bind(key)
                            .execute(&mut *tx)
                            .await
                            .map_err(backend)?;
                    }
                    tx.commit().await.map_err(backend)
                }

                async fn session_keys(&self, tenant: TenantId, session: ChannelId, namespace: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
                    sqlx::query_as(
                        "SELECT key, value FROM session_keys WHERE tenant_id = $1 AND session_id = $2 AND namespace = $3 ORDER BY key",
                    )
                    .bind(tenant.0)
                    .bind(session.0)
                    .bind(namespace)
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)
                }

                async fn clear_session_keys(&self, tenant: TenantId, session: ChannelId) -> Result<(), StoreError> {
                    sqlx::query("DELETE FROM session_keys WHERE tenant_id = $1 AND session_id = $2")
                        .bind(tenant.0)
                        .bind(session.0)
                        .execute(self.writer())
                        .await
                        .map_err(backend)?;
                    Ok(())
                }
            }
        }
    };
}

pub(crate) use impl_session_store;
