//! The one implementation of the `PipelineStore` port for both dialects, instantiated
//! per backend by `impl_pipeline_store!` next to `impl_inbox_store!`, whose stream
//! transaction appends each insight's events.

macro_rules! impl_pipeline_store {
    ($store:ty) => {
        mod pipeline_impl {
            use super::inbox_impl::StreamTx;
            use super::*;
            use crate::store::inbox_rows::{from_json, to_json};
            use crate::store::pipeline_rows::{LeadData, LeadRow};
            use crate::store::rows::backend;
            use async_trait::async_trait;
            use switchboard_actors::inbox::bus::NodeId;
            use switchboard_actors::inbox::stream::{EventKind, StreamEvent};
            use switchboard_actors::pipeline::store::{Analysis, Insight, Lead, PipelineStore};
            use switchboard_actors::store::StoreError;
            use switchboard_actors::{ConversationId, MessageId, Millis, TenantId};
            use uuid::Uuid;

            /// Moves a tenant's cursor forward (never back) while the node holds it.
            const ADVANCE: &str = "UPDATE pipeline_cursors
                SET stream_offset = CASE WHEN stream_offset < $3 THEN $3 ELSE stream_offset END
                WHERE tenant_id = $1 AND owner_node = $2";

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
                    sqlx::query_as::<_, LeadRow>(
                        "SELECT conversation_id, score, temperature, sentiment, urgency, handoff_state, scored_offset, data, updated_at
                         FROM conversation_leads WHERE tenant_id = $1 AND conversation_id = $2",
                    )
                    .bind(tenant.0)
                    .bind(conversation.0)
                    .fetch_optional(self.reader())
                    .await
                    .map_err(backend)?
                    .map(Lead::try_from)
                    .transpose()
                }

                async fn record_insight(&self, tenant: TenantId, node: NodeId, insight: &Insight) -> Result<Option<Vec<StreamEvent>>, StoreError> {
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    let mut stream = StreamTx::lock(&mut tx, tenant).await?;
                    let moved = sqlx::query(
                        ADVANCE,
                    )
                    .bind(tenant.0)
                    .bind(node.0)
                    .bind(insight.offset)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                    if moved.rows_affected() == 0 {
                        // Another node has the tenant's pipeline now: write nothing.
                        return Ok(None);
                    }
                    let fresh = sqlx::query(
                        "INSERT INTO message_insights (tenant_id, message_id, conversation_id, data, created_at)
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (message_id) DO NOTHING",
                    )
                    .bind(tenant.0)
                    .bind(insight.message_id.0)
                    .bind(insight.conversation_id.0)
                    .bind(to_json(&insight.analysis))
                    .bind(insight.at.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?
                    .rows_affected()
                        == 1;
                    if !fresh {
                        tx.commit().await.map_err(backend)?;
                        return Ok(Some(Vec::new()));
                    }
                    let lead = &insight.lead;
                    sqlx::query(
                        "INSERT INTO conversation_leads
                             (tenant_id, conversation_id, score, temperature, sentiment, urgency, handoff_state, scored_offset, data, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                         ON CONFLICT (conversation_id) DO UPDATE SET
                             score = excluded.score, temperature = excluded.temperature, sentiment = excluded.sentiment,
                             urgency = excluded.urgency, handoff_state = excluded.handoff_state,
                             scored_offset = excluded.scored_offset, data = excluded.data, updated_at = excluded.updated_at
                         WHERE conversation_leads.scored_offset < excluded.scored_offset",
                    )
                    .bind(tenant.0)
                    .bind(lead.conversation_id.0)
                    .bind(i64::from(lead.score.score))
                    .bind(lead.score.temperature.as_str())
                    .bind(lead.sentiment.map(|s| s.as_str()))
                    .bind(lead.urgency.as_str())
                    .bind(lead.handoff.as_str())
                    .bind(lead.scored_offset)
                    .bind(to_json(&LeadData::of(lead)))
                    .bind(lead.updated_at.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
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
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                    let subject = insight.conversation_id;
                    stream.push_subject(EventKind::MessageInsights, subject, to_json(&insight.view()), insight.at);
                    stream.push_subject(EventKind::ConversationLead, subject, to_json(&lead.view()), insight.at);
                    Ok(Some(stream.commit(tx).await?))
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

                async fn message_insights(&self, tenant: TenantId, conversation: ConversationId) -> Result<Vec<(MessageId, Analysis)>, StoreError> {
                    let rows: Vec<(Uuid, String)> = sqlx::query_as(
                        "SELECT message_id, data FROM message_insights
                         WHERE tenant_id = $1 AND conversation_id = $2 ORDER BY created_at, message_id LIMIT 10000",
                    )
                    .bind(tenant.0)
                    .bind(conversation.0)
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
