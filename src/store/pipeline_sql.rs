//! The one implementation of the `PipelineStore` port for both dialects, instantiated
//! per backend by `impl_pipeline_store!` next to `impl_inbox_store!`, whose stream
//! transaction appends each insight's events.

macro_rules! impl_pipeline_store {
    ($store:ty, $dialect:ident) => {
        mod pipeline_impl {
            use super::inbox_impl::{Conn, StreamTx};
            use super::*;
            use crate::store::inbox_rows::{from_json, to_json};
            use crate::store::pipeline_rows::{HandoffRow, LeadData, LeadRow, bind_lead, lead_columns, lead_insert, lead_point, lead_upsert};
            use std::collections::{HashMap, HashSet};
            use crate::store::rows::backend;
            use async_trait::async_trait;
            use switchboard_actors::inbox::bus::NodeId;
            use switchboard_actors::inbox::stream::{EventKind, StreamEvent};
            use switchboard_actors::pipeline::settings::PipelineSettingsDoc;
            use switchboard_actors::pipeline::store::{
                Analysis, HandoffChange, IdleHandoff, Insight, Lead, LeadPoint, PipelineStore, Recorded,
                StoredHandoff, leads_to_write,
            };
            use switchboard_actors::llm::{ModelUsage, TokenUsage};
            use switchboard_actors::store::StoreError;
            use switchboard_actors::{ConversationId, MessageId, Millis, TenantId, UserId};
            use uuid::Uuid;

            crate::store::cursor_sql::leased_cursor!($store, "pipeline_cursors", "0");

            crate::store::pipeline_io::pipeline_io!($dialect);

            #[async_trait]
            impl PipelineStore for $store {
                async fn claim_pipeline(&self, tenant: TenantId, node: NodeId, now: Millis, lease_until: Millis) -> Result<Option<i64>, StoreError> {
                    claim_cursor(self.writer(), tenant, node, now, lease_until).await
                }

                async fn pipeline_candidates(&self, node: NodeId, now: Millis, limit: u32) -> Result<Vec<TenantId>, StoreError> {
                    let rows: Vec<(Uuid,)> = sqlx::query_as(
                        "SELECT s.tenant_id FROM tenant_streams s
                         LEFT JOIN pipeline_cursors c ON c.tenant_id = s.tenant_id
                         WHERE (c.tenant_id IS NULL OR c.stream_offset < s.last_offset)
                           AND (c.owner_node IS NULL OR c.owner_node = $1 OR c.lease_until IS NULL OR c.lease_until < $2)
                         ORDER BY s.tenant_id LIMIT $3",
                    )
                    .bind(node.0)
                    .bind(now.0)
                    .bind(i64::from(limit))
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    Ok(rows.into_iter().map(|(id,)| TenantId(id)).collect())
                }

                async fn release_pipeline(&self, tenant: TenantId, node: NodeId) -> Result<(), StoreError> {
                    release_cursor(self.writer(), tenant, node).await
                }

                async fn lead(&self, tenant: TenantId, conversation: ConversationId) -> Result<Option<Lead>, StoreError> {
                    sqlx::query_as::<_, LeadRow>(concat!(
                        "SELECT ", lead_columns!(), " FROM conversation_leads WHERE tenant_id = $1 AND conversation_id = $2",
                    ))
                    .bind(tenant.0)
                    .bind(conversation.0)
                    .fetch_optional(self.reader())
                    .await
                    .map_err(backend)?
                    .map(Lead::try_from)
                    .transpose()
                }

                async fn leads_in_range(&self, tenant: TenantId, after: i64, through: i64) -> Result<Vec<Lead>, StoreError> {
                    sqlx::query_as::<_, LeadRow>(concat!(
                        "SELECT ", lead_columns!(), " FROM conversation_leads
                         WHERE tenant_id = $1 AND conversation_id IN (
                             SELECT e.conversation_id FROM stream_events e
                             WHERE e.tenant_id = $1 AND e.stream_offset > $2 AND e.stream_offset <= $3
                               AND e.kind = 'message.new')",
                    ))
                    .bind(tenant.0)
                    .bind(after)
                    .bind(through)
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?
                    .into_iter()
                    .map(Lead::try_from)
                    .collect()
                }

                async fn record_insights(&self, tenant: TenantId, node: NodeId, insights: &[Insight], through: i64) -> Result<Option<Recorded>, StoreError> {
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    let mut stream = StreamTx::lock(&mut tx, tenant).await?;
                    let moved = sqlx::query(
                        ADVANCE,
                    )
                    .bind(tenant.0)
                    .bind(node.0)
                    .bind(through)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                    if moved.rows_affected() == 0 {
                        // Another node has the tenant's pipeline now: write nothing.
                        return Ok(None);
                    }
                    let fresh_ids = insert_insights(&mut tx, tenant, insights).await?;
                    let fresh: Vec<&Insight> = insights.iter().filter(|i| fresh_ids.contains(&i.message_id.0)).collect();
                    let mut conversations: Vec<ConversationId> = fresh.iter().map(|i| i.conversation_id).collect();
                    conversations.sort_by_key(|c| c.0);
                    conversations.dedup();
                    let stored = stored_handoffs(&mut tx, tenant, &conversations)
                        .await?
                        .into_iter()
                        .map(<(ConversationId, StoredHandoff)>::try_from)
                        .collect::<Result<HashMap<_, _>, _>>()?;
                    let (written, rows) = leads_to_write(stored, &fresh);
                    if !rows.is_empty() {
                        save_leads(&mut tx, tenant, &rows).await?;
                    }
                    let scored: Vec<(&Insight, &Lead)> = fresh.iter().copied().zip(&written).collect();
                    if !scored.is_empty() {
                        insert_history(&mut tx, tenant, &scored).await?;
                    }
                    for (insight, lead) in scored {
                        let subject = insight.conversation_id;
                        stream.push_subject(EventKind::MessageInsights, subject, to_json(&insight.view(lead)), insight.at);
                    }
                    // `written` follows `fresh`, which keeps the order of `insights`.
                    let mut written = written.into_iter();
                    let leads = insights
                        .iter()
                        .map(|i| if fresh_ids.contains(&i.message_id.0) { written.next() } else { None })
                        .collect();
                    let events = if stream.is_empty() {
                        tx.commit().await.map_err(backend)?;
                        Vec::new()
                    } else {
                        stream.commit(tx).await?
                    };
                    Ok(Some(Recorded { events, leads }))
                }

                async fn advance_pipeline(&self, tenant: TenantId, node: NodeId, offset: i64) -> Result<bool, StoreError> {
                    advance_cursor(self.writer(), tenant, node, offset).await
                }

                async fn pipeline_settings(&self, tenant: TenantId) -> Result<Option<PipelineSettingsDoc>, StoreError> {
                    let row: Option<(String,)> = sqlx::query_as("SELECT data FROM tenant_pipeline_settings WHERE tenant_id = $1")
                        .bind(tenant.0)
                        .fetch_optional(self.reader())
                        .await
                        .map_err(backend)?;
                    row.map(|(data,)| from_json("pipeline settings", &data)).transpose()
                }

                async fn save_pipeline_settings(&self, tenant: TenantId, settings: &PipelineSettingsDoc, at: Millis) -> Result<(), StoreError> {
                    let idle_ms = settings.handoff.idle_return_minutes.map(|m| i64::from(m) * 60_000);
                    sqlx::query(
                        "INSERT INTO tenant_pipeline_settings (tenant_id, data, idle_return_ms, updated_at) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (tenant_id) DO UPDATE SET data = excluded.data, idle_return_ms = excluded.idle_return_ms, updated_at = excluded.updated_at",
                    )
                    .bind(tenant.0)
                    .bind(to_json(settings))
                    .bind(idle_ms)
                    .bind(at.0)
                    .execute(self.writer())
                    .await
                    .map_err(backend)?;
                    Ok(())
                }

                async fn ai_settings(&self, tenant: TenantId) -> Result<Option<Vec<u8>>, StoreError> {
                    let row: Option<(Vec<u8>,)> = sqlx::query_as("SELECT sealed FROM tenant_ai_settings WHERE tenant_id = $1")
                        .bind(tenant.0)
                        .fetch_optional(self.reader())
                        .await
                        .map_err(backend)?;
                    Ok(row.map(|(sealed,)| sealed))
                }

                async fn save_ai_settings(&self, tenant: TenantId, sealed: &[u8], embedding_model: Option<&str>, at: Millis) -> Result<(), StoreError> {
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    sqlx::query(
                        "INSERT INTO tenant_ai_settings (tenant_id, sealed, updated_at) VALUES ($1, $2, $3)
                         ON CONFLICT (tenant_id) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at",
                    )
                    .bind(tenant.0)
                    .bind(sealed)
                    .bind(at.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                    let before: Option<(String,)> = sqlx::query_as("SELECT model FROM knowledge_embedding_models WHERE tenant_id = $1")
                        .bind(tenant.0)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(backend)?;
                    if before.as_ref().map(|(m,)| m.as_str()) != embedding_model {
                        match embedding_model {
                            Some(model) => sqlx::query(
                                "INSERT INTO knowledge_embedding_models (tenant_id, model) VALUES ($1, $2)
                                 ON CONFLICT (tenant_id) DO UPDATE SET model = excluded.model",
                            )
                            .bind(tenant.0)
                            .bind(model),
                            None => sqlx::query("DELETE FROM knowledge_embedding_models WHERE tenant_id = $1").bind(tenant.0),
                        }
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                        // Vectors of different models do not compare: the new model
                        // embeds every passage again.
                        sqlx::query("UPDATE knowledge_passages SET embedding = NULL, embedding_model = NULL WHERE tenant_id = $1 AND embedding IS NOT NULL")
                            .bind(tenant.0)
                            .execute(&mut *tx)
                            .await
                            .map_err(backend)?;
                    }
                    tx.commit().await.map_err(backend)?;
                    Ok(())
                }

                async fn add_ai_usage(&self, tenant: TenantId, month: &str, provider: &str, model: &str, usage: TokenUsage, at: Millis) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO ai_usage (tenant_id, month, provider, model, requests, input_tokens, output_tokens, updated_at)
                         VALUES ($1, $2, $3, $4, 1, $5, $6, $7)
                         ON CONFLICT (tenant_id, month, provider, model) DO UPDATE SET
                             requests = ai_usage.requests + 1,
                             input_tokens = ai_usage.input_tokens + excluded.input_tokens,
                             output_tokens = ai_usage.output_tokens + excluded.output_tokens,
                             updated_at = excluded.updated_at",
                    )
                    .bind(tenant.0)
                    .bind(month)
                    .bind(provider)
                    .bind(model)
                    .bind(i64::from(usage.input))
                    .bind(i64::from(usage.output))
                    .bind(at.0)
                    .execute(self.writer())
                    .await
                    .map_err(backend)?;
                    Ok(())
                }

                async fn ai_usage(&self, tenant: TenantId, month: &str) -> Result<Vec<ModelUsage>, StoreError> {
                    let rows: Vec<(String, String, i64, i64, i64)> = sqlx::query_as(
                        "SELECT provider, model, requests, input_tokens, output_tokens FROM ai_usage
                         WHERE tenant_id = $1 AND month = $2 ORDER BY provider, model",
                    )
                    .bind(tenant.0)
                    .bind(month)
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    let count = |n: i64| u64::try_from(n).unwrap_or_default();
                    Ok(rows
                        .into_iter()
                        .map(|(provider, model, requests, input, output)| ModelUsage {
                            provider,
                            model,
                            requests: count(requests),
                            input_tokens: count(input),
                            output_tokens: count(output),
                        })
                        .collect())
                }

                async fn set_handoff(&self, tenant: TenantId, conversation: ConversationId, change: &HandoffChange) -> Result<Option<(Lead, Vec<StreamEvent>)>, StoreError> {
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    // The stream lock also orders this against the pipeline's writes.
                    let mut stream = StreamTx::lock(&mut tx, tenant).await?;
                    let mut lead = sqlx::query_as::<_, LeadRow>(concat!(
                        "SELECT ", lead_columns!(), " FROM conversation_leads WHERE tenant_id = $1 AND conversation_id = $2",
                    ))
                    .bind(tenant.0)
                    .bind(conversation.0)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?
                    .map(Lead::try_from)
                    .transpose()?
                    .unwrap_or_else(|| Lead::new(conversation));
                    let refused = change
                        .only_from
                        .is_some_and(|(state, at)| lead.handoff != state || lead.handoff_at != at);
                    if lead.handoff == change.to || refused {
                        return Ok(None);
                    }
                    lead.handoff = change.to;
                    lead.trigger = change.trigger;
                    lead.handoff_at = Some(change.at);
                    lead.updated_at = change.at;
                    bind_lead!(sqlx::query(concat!(lead_insert!(),
                        "ON CONFLICT (conversation_id) DO UPDATE SET
                             handoff_state = excluded.handoff_state, handoff_trigger = excluded.handoff_trigger,
                             handoff_at = excluded.handoff_at, updated_at = excluded.updated_at",
                    )), tenant, lead)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                    stream.push_subject(EventKind::ConversationLead, conversation, to_json(&lead.view()), change.at);
                    let events = stream.commit(tx).await?;
                    Ok(Some((lead, events)))
                }

                async fn idle_handoffs(&self, now: Millis, default_idle_ms: Option<i64>, limit: u32) -> Result<Vec<IdleHandoff>, StoreError> {
                    // $2 is the default idle time; -1 when there is none.
                    let rows: Vec<(Uuid, Uuid, Option<i64>)> = sqlx::query_as(
                        "SELECT l.tenant_id, l.conversation_id, l.handoff_at FROM conversation_leads l
                         LEFT JOIN tenant_pipeline_settings s ON s.tenant_id = l.tenant_id
                         WHERE l.handoff_state = 'human'
                           AND CASE WHEN s.tenant_id IS NULL THEN $2 ELSE COALESCE(s.idle_return_ms, -1) END >= 0
                           AND COALESCE(l.handoff_at, 0) <= $1 - CASE WHEN s.tenant_id IS NULL THEN $2 ELSE s.idle_return_ms END
                           AND NOT EXISTS (
                               SELECT 1 FROM messages m
                               WHERE m.conversation_id = l.conversation_id AND m.direction = 'outbound'
                                 AND m.created_at > $1 - CASE WHEN s.tenant_id IS NULL THEN $2 ELSE s.idle_return_ms END)
                         ORDER BY l.handoff_at LIMIT $3",
                    )
                    .bind(now.0)
                    .bind(default_idle_ms.unwrap_or(-1))
                    .bind(i64::from(limit))
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    Ok(rows
                        .into_iter()
                        .map(|(tenant, conversation, at)| IdleHandoff {
                            tenant: TenantId(tenant),
                            conversation: ConversationId(conversation),
                            handoff_at: at.map(Millis),
                        })
                        .collect())
                }

                async fn next_in_rotation(&self, tenant: TenantId, candidates: &[UserId]) -> Result<Option<UserId>, StoreError> {
                    let mut sorted = candidates.to_vec();
                    sorted.sort_by_key(|u| u.0);
                    if sorted.is_empty() {
                        return Ok(None);
                    }
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    // Taking the tenant's stream lock orders concurrent rotations.
                    StreamTx::lock(&mut tx, tenant).await?;
                    let last: Option<(Uuid,)> = sqlx::query_as("SELECT last_user_id FROM handoff_rotations WHERE tenant_id = $1")
                        .bind(tenant.0)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(backend)?;
                    let next = last
                        .and_then(|(last,)| sorted.iter().find(|u| u.0 > last).copied())
                        .unwrap_or(sorted[0]);
                    sqlx::query(
                        "INSERT INTO handoff_rotations (tenant_id, last_user_id) VALUES ($1, $2)
                         ON CONFLICT (tenant_id) DO UPDATE SET last_user_id = excluded.last_user_id",
                    )
                    .bind(tenant.0)
                    .bind(next.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                    tx.commit().await.map_err(backend)?;
                    Ok(Some(next))
                }

                async fn open_assigned(&self, tenant: TenantId) -> Result<Vec<(UserId, u32)>, StoreError> {
                    let rows: Vec<(Uuid, i64)> = sqlx::query_as(
                        "SELECT assignee_id, COUNT(*) FROM conversations
                         WHERE tenant_id = $1 AND status = 'open' AND assignee_id IS NOT NULL GROUP BY assignee_id",
                    )
                    .bind(tenant.0)
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    Ok(rows
                        .into_iter()
                        .map(|(user, n)| (UserId(user), u32::try_from(n).unwrap_or(u32::MAX)))
                        .collect())
                }

                async fn lead_history(&self, tenant: TenantId, conversation: ConversationId, limit: u32) -> Result<Vec<LeadPoint>, StoreError> {
                    let rows: Vec<(Uuid, i64, String, i64)> = sqlx::query_as(
                        "SELECT message_id, score, temperature, at FROM lead_history
                         WHERE tenant_id = $1 AND conversation_id = $2
                         ORDER BY at DESC, message_id DESC LIMIT $3",
                    )
                    .bind(tenant.0)
                    .bind(conversation.0)
                    .bind(i64::from(limit))
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    rows.into_iter().map(lead_point).collect()
                }

                async fn message_insights(&self, tenant: TenantId, conversation: ConversationId, seqs: Option<(i64, i64)>) -> Result<Vec<(MessageId, Analysis)>, StoreError> {
                    let (from, to) = seqs.unzip();
                    let rows: Vec<(Uuid, String)> = sqlx::query_as(
                        "SELECT i.message_id, i.data FROM message_insights i
                         LEFT JOIN messages m ON m.id = i.message_id
                         WHERE i.tenant_id = $1 AND i.conversation_id = $2
                           AND ($3 IS NULL OR m.seq BETWEEN $3 AND $4)
                         ORDER BY i.created_at, i.message_id LIMIT 10000",
                    )
                    .bind(tenant.0)
                    .bind(conversation.0)
                    .bind(from)
                    .bind(to)
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    rows.into_iter()
                        .map(|(id, data)| Ok((MessageId(id), from_json("message insight", &data)?)))
                        .collect()
                }
            }
        }
    };
}

pub(crate) use impl_pipeline_store;
