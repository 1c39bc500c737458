//! The one implementation of the `PipelineStore` port for both dialects, instantiated
//! per backend by `impl_pipeline_store!` next to `impl_inbox_store!`, whose stream
//! transaction appends each insight's events.

macro_rules! impl_pipeline_store {
    ($store:ty) => {
        mod pipeline_impl {
            use super::inbox_impl::{StreamTx, Tx};
            use super::*;
            use crate::store::inbox_rows::{from_json, to_json};
            use crate::store::pipeline_rows::{LeadData, LeadRow, bind_lead, lead_columns, lead_insert};
            use crate::store::rows::corrupt;
            use crate::store::rows::backend;
            use async_trait::async_trait;
            use switchboard_actors::inbox::bus::NodeId;
            use switchboard_actors::inbox::stream::{EventKind, StreamEvent};
            use switchboard_actors::pipeline::handoff::{HandoffState, HandoffTrigger};
            use switchboard_actors::pipeline::settings::PipelineSettingsDoc;
            use switchboard_actors::pipeline::store::{
                Analysis, HandoffChange, IdleHandoff, Insight, Lead, PipelineStore, Recorded,
            };
            use switchboard_actors::store::StoreError;
            use switchboard_actors::{ConversationId, MessageId, Millis, TenantId, UserId};
            use uuid::Uuid;

            /// Moves a tenant's cursor forward (never back) while the node holds it.
            const ADVANCE: &str = "UPDATE pipeline_cursors
                SET stream_offset = CASE WHEN stream_offset < $3 THEN $3 ELSE stream_offset END
                WHERE tenant_id = $1 AND owner_node = $2";

            /// One insight of `record_insights`: the insight, its lead and history row,
            /// and its two events; the lead as written, `None` when it was stored before.
            async fn record_one(
                tx: &mut Tx,
                stream: &mut StreamTx,
                tenant: TenantId,
                insight: &Insight,
            ) -> Result<Option<Lead>, StoreError> {
                    let fresh = sqlx::query(
                    "INSERT INTO message_insights (tenant_id, message_id, conversation_id, data, created_at)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (message_id) DO NOTHING",
                )
                .bind(tenant.0)
                .bind(insight.message_id.0)
                .bind(insight.conversation_id.0)
                .bind(to_json(&insight.analysis))
                .bind(insight.at.0)
                .execute(&mut **tx)
                .await
                .map_err(backend)?
                .rows_affected()
                    == 1;
                if !fresh {
                    return Ok(None);
            }
                // Who answers stays as an agent (or the idle sweep) left it when
                // it changed since the pipeline read the lead ($13).
                let mut lead = insight.lead.clone();
                let kept: Option<(String, Option<String>, Option<i64>)> = bind_lead!(sqlx::query_as(concat!(lead_insert!(),
                    "ON CONFLICT (conversation_id) DO UPDATE SET
                         score = excluded.score, temperature = excluded.temperature, sentiment = excluded.sentiment,
                         urgency = excluded.urgency,
                         handoff_state = CASE WHEN conversation_leads.handoff_state = $13
                             THEN excluded.handoff_state ELSE conversation_leads.handoff_state END,
                         handoff_trigger = CASE WHEN conversation_leads.handoff_state = $13
                             THEN excluded.handoff_trigger ELSE conversation_leads.handoff_trigger END,
                         handoff_at = CASE WHEN conversation_leads.handoff_state = $13
                             THEN excluded.handoff_at ELSE conversation_leads.handoff_at END,
                         scored_offset = excluded.scored_offset, data = excluded.data, updated_at = excluded.updated_at
                     WHERE conversation_leads.scored_offset < excluded.scored_offset
                     RETURNING handoff_state, handoff_trigger, handoff_at",
                )), tenant, lead)
                .bind(insight.handoff_before.as_str())
                .fetch_optional(&mut **tx)
                .await
                .map_err(backend)?;
                if let Some((state, trigger, at)) = kept {
                    lead.handoff = HandoffState::parse(&state).map_err(corrupt("lead"))?;
                    lead.trigger = trigger.as_deref().map(HandoffTrigger::parse).transpose().map_err(corrupt("lead"))?;
                    lead.handoff_at = at.map(Millis);
            }
                sqlx::query(
                    "INSERT INTO lead_history (tenant_id, conversation_id, message_id, score, temperature, at)
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (conversation_id, message_id) DO NOTHING",
                )
                .bind(tenant.0)
                .bind(insight.conversation_id.0)
                .bind(insight.message_id.0)
                .bind(i64::from(lead.score.score))
                .bind(lead.score.temperature.as_str())
                .bind(insight.at.0)
                .execute(&mut **tx)
                .await
                .map_err(backend)?;
                let subject = insight.conversation_id;
                stream.push_subject(EventKind::MessageInsights, subject, to_json(&insight.view()), insight.at);
                stream.push_subject(EventKind::ConversationLead, subject, to_json(&lead.view()), insight.at);
                Ok(Some(lead))
            }


            #[async_trait]
            impl PipelineStore for $store {
                async fn claim_pipeline(&self, tenant: TenantId, node: NodeId, now: Millis, lease_until: Millis) -> Result<Option<i64>, StoreError> {
                    sqlx::query(
                        "INSERT INTO pipeline_cursors (tenant_id, stream_offset, owner_node, lease_until)
                         VALUES ($1, 0, NULL, NULL) ON CONFLICT (tenant_id) DO NOTHING",
                    )
                    .bind(tenant.0)
                    .execute(self.writer())
                    .await
                    .map_err(backend)?;
                    let claimed: Option<(i64,)> = sqlx::query_as(
                        "UPDATE pipeline_cursors SET owner_node = $2, lease_until = $4
                         WHERE tenant_id = $1
                           AND (owner_node IS NULL OR owner_node = $2 OR lease_until IS NULL OR lease_until < $3)
                         RETURNING stream_offset",
                    )
                    .bind(tenant.0)
                    .bind(node.0)
                    .bind(now.0)
                    .bind(lease_until.0)
                    .fetch_optional(self.writer())
                    .await
                    .map_err(backend)?;
                    Ok(claimed.map(|(offset,)| offset))
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
                    sqlx::query("UPDATE pipeline_cursors SET owner_node = NULL, lease_until = NULL WHERE tenant_id = $1 AND owner_node = $2")
                        .bind(tenant.0)
                        .bind(node.0)
                        .execute(self.writer())
                        .await
                        .map_err(backend)?;
                    Ok(())
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
                    let mut leads = Vec::with_capacity(insights.len());
                    for insight in insights {
                        leads.push(record_one(&mut tx, &mut stream, tenant, insight).await?);
                    }
                    let events = if stream.is_empty() {
                        tx.commit().await.map_err(backend)?;
                        Vec::new()
                    } else {
                        stream.commit(tx).await?
                    };
                    Ok(Some(Recorded { events, leads }))
                }

                async fn advance_pipeline(&self, tenant: TenantId, node: NodeId, offset: i64) -> Result<bool, StoreError> {
                    let moved = sqlx::query(
                        ADVANCE,
                    )
                    .bind(tenant.0)
                    .bind(node.0)
                    .bind(offset)
                    .execute(self.writer())
                    .await
                    .map_err(backend)?;
                    Ok(moved.rows_affected() == 1)
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

                async fn save_ai_settings(&self, tenant: TenantId, sealed: &[u8], at: Millis) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO tenant_ai_settings (tenant_id, sealed, updated_at) VALUES ($1, $2, $3)
                         ON CONFLICT (tenant_id) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at",
                    )
                    .bind(tenant.0)
                    .bind(sealed)
                    .bind(at.0)
                    .execute(self.writer())
                    .await
                    .map_err(backend)?;
                    Ok(())
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
