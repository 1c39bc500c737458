//! The `AutomationStore` port for both dialects, instantiated per backend by
//! `impl_automation_store!`: rules and runs as JSON documents with the columns that
//! are filtered on, and the trigger cursor (`cursor_sql.rs`), starting at the
//! stream's head.

macro_rules! impl_automation_store {
    ($store:ty) => {
        mod automation_impl {
            use super::inbox_impl::StreamTx;
            use super::*;
            use crate::store::inbox_rows::{from_json, to_json};
            use crate::store::rows::{backend, corrupt};
            use async_trait::async_trait;
            use switchboard_actors::automation::{AutomationStore, Rule, Run, RunStatus};
            use switchboard_actors::inbox::bus::NodeId;
            use switchboard_actors::inbox::stream::{EventKind, StreamEvent};
            use switchboard_actors::store::StoreError;
            use switchboard_actors::{ConversationId, Millis, RuleId, RunId, TenantId};
            use uuid::Uuid;

            crate::store::cursor_sql::leased_cursor!($store, "automation_cursors",
                "COALESCE((SELECT last_offset FROM tenant_streams WHERE tenant_id = $1), 0)");
            crate::store::cursor_sql::head_cursor!($store, "automation_cursors");

            /// id, tenant_id, enabled, definition, created_at, updated_at
            type RuleRow = (Uuid, Uuid, bool, String, i64, i64);
            macro_rules! rule_columns {
                () => {
                    "id, tenant_id, enabled, definition, created_at, updated_at"
                };
            }

            fn rule(row: RuleRow) -> Result<Rule, StoreError> {
                let (id, tenant, enabled, definition, created_at, updated_at) = row;
                Ok(Rule {
                    id: RuleId(id),
                    tenant_id: TenantId(tenant),
                    enabled,
                    definition: from_json("automation rule", &definition)?,
                    created_at: Millis(created_at),
                    updated_at: Millis(updated_at),
                })
            }

            /// id, tenant_id, rule_id, trigger_key, conversation_id, depth, status, data,
            /// created_at, updated_at
            type RunRow = (Uuid, Uuid, Uuid, String, Option<Uuid>, i64, String, String, i64, i64);
            macro_rules! run_columns {
                () => {
                    "id, tenant_id, rule_id, trigger_key, conversation_id, depth, status, data, created_at, updated_at"
                };
            }

            fn run(row: RunRow) -> Result<Run, StoreError> {
                let (id, tenant, rule, trigger_key, conversation, depth, status, data, created_at, updated_at) = row;
                Ok(Run {
                    id: RunId(id),
                    tenant_id: TenantId(tenant),
                    rule_id: RuleId(rule),
                    trigger_key,
                    conversation_id: conversation.map(ConversationId),
                    depth: u32::try_from(depth).unwrap_or_default(),
                    status: RunStatus::parse(&status).map_err(corrupt("automation run"))?,
                    data: from_json("automation run", &data)?,
                    created_at: Millis(created_at),
                    updated_at: Millis(updated_at),
                })
            }

            #[async_trait]
            impl AutomationStore for $store {
                async fn save_rule(&self, rule: &Rule, replace: bool) -> Result<bool, StoreError> {
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    let tenant = rule.tenant_id;
                    let (enabled_before,): (i64,) =
                        sqlx::query_as("SELECT COUNT(*) FROM automation_rules WHERE tenant_id = $1 AND enabled")
                            .bind(tenant.0)
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(backend)?;
                    let kind = rule.definition.trigger.kind().as_str();
                    let definition = to_json(&rule.definition);
                    let saved = if replace {
                        sqlx::query(
                            "UPDATE automation_rules SET name = $3, enabled = $4, trigger_kind = $5, definition = $6, updated_at = $7
                             WHERE tenant_id = $1 AND id = $2",
                        )
                        .bind(tenant.0)
                        .bind(rule.id.0)
                        .bind(&rule.definition.name)
                        .bind(rule.enabled)
                        .bind(kind)
                        .bind(&definition)
                        .bind(rule.updated_at.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?
                        .rows_affected()
                            == 1
                    } else {
                        sqlx::query(
                            "INSERT INTO automation_rules (id, tenant_id, name, enabled, trigger_kind, definition, created_at, updated_at)
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                        )
                        .bind(rule.id.0)
                        .bind(tenant.0)
                        .bind(&rule.definition.name)
                        .bind(rule.enabled)
                        .bind(kind)
                        .bind(&definition)
                        .bind(rule.created_at.0)
                        .bind(rule.updated_at.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                        true
                    };
                    if saved && rule.enabled && enabled_before == 0 {
                        // Rules act on what happens from now on.
                        cursor_to_head(&mut tx, tenant).await?;
                    }
                    tx.commit().await.map_err(backend)?;
                    Ok(saved)
                }

                async fn rule(&self, tenant: TenantId, id: RuleId) -> Result<Option<Rule>, StoreError> {
                    let row: Option<RuleRow> = sqlx::query_as(concat!(
                        "SELECT ", rule_columns!(), " FROM automation_rules WHERE tenant_id = $1 AND id = $2"
                    ))
                    .bind(tenant.0)
                    .bind(id.0)
                    .fetch_optional(self.reader())
                    .await
                    .map_err(backend)?;
                    row.map(rule).transpose()
                }

                async fn rules(&self, tenant: TenantId) -> Result<Vec<Rule>, StoreError> {
                    let rows: Vec<RuleRow> = sqlx::query_as(concat!(
                        "SELECT ", rule_columns!(), " FROM automation_rules WHERE tenant_id = $1 ORDER BY created_at, id"
                    ))
                    .bind(tenant.0)
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    rows.into_iter().map(rule).collect()
                }

                async fn enabled_rules_of_kind(&self, kind: &str) -> Result<Vec<Rule>, StoreError> {
                    let rows: Vec<RuleRow> = sqlx::query_as(concat!(
                        "SELECT ", rule_columns!(), " FROM automation_rules WHERE enabled AND trigger_kind = $1 ORDER BY id"
                    ))
                    .bind(kind)
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    rows.into_iter().map(rule).collect()
                }

                async fn delete_rule(&self, tenant: TenantId, id: RuleId) -> Result<bool, StoreError> {
                    let deleted = sqlx::query("DELETE FROM automation_rules WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant.0)
                        .bind(id.0)
                        .execute(self.writer())
                        .await
                        .map_err(backend)?;
                    Ok(deleted.rows_affected() == 1)
                }

                async fn start_run(&self, new: &Run) -> Result<(RunId, bool), StoreError> {
                    let added: Option<(Uuid,)> = sqlx::query_as(
                        "INSERT INTO automation_runs (id, tenant_id, rule_id, trigger_key, conversation_id, depth, status, data, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
                         ON CONFLICT (tenant_id, rule_id, trigger_key) DO NOTHING
                         RETURNING id",
                    )
                    .bind(new.id.0)
                    .bind(new.tenant_id.0)
                    .bind(new.rule_id.0)
                    .bind(&new.trigger_key)
                    .bind(new.conversation_id.map(|c| c.0))
                    .bind(i64::from(new.depth))
                    .bind(new.status.as_str())
                    .bind(to_json(&new.data))
                    .bind(new.created_at.0)
                    .fetch_optional(self.writer())
                    .await
                    .map_err(backend)?;
                    if let Some((id,)) = added {
                        return Ok((RunId(id), true));
                    }
                    let (first,): (Uuid,) = sqlx::query_as(
                        "SELECT id FROM automation_runs WHERE tenant_id = $1 AND rule_id = $2 AND trigger_key = $3",
                    )
                    .bind(new.tenant_id.0)
                    .bind(new.rule_id.0)
                    .bind(&new.trigger_key)
                    .fetch_one(self.writer())
                    .await
                    .map_err(backend)?;
                    Ok((RunId(first), false))
                }

                async fn run(&self, tenant: TenantId, id: RunId) -> Result<Option<Run>, StoreError> {
                    let row: Option<RunRow> = sqlx::query_as(concat!(
                        "SELECT ", run_columns!(), " FROM automation_runs WHERE tenant_id = $1 AND id = $2"
                    ))
                    .bind(tenant.0)
                    .bind(id.0)
                    .fetch_optional(self.reader())
                    .await
                    .map_err(backend)?;
                    row.map(run).transpose()
                }

                async fn runs(&self, tenant: TenantId, rule: RuleId, before: Option<RunId>, limit: u32) -> Result<Vec<Run>, StoreError> {
                    let rows: Vec<RunRow> = sqlx::query_as(concat!(
                        "SELECT ", run_columns!(), " FROM automation_runs
                         WHERE tenant_id = $1 AND rule_id = $2 AND ($3 IS NULL OR id < $3)
                         ORDER BY id DESC LIMIT $4"
                    ))
                    .bind(tenant.0)
                    .bind(rule.0)
                    .bind(before.map(|b| b.0))
                    .bind(i64::from(limit))
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    rows.into_iter().map(run).collect()
                }

                async fn save_run(&self, saved: &Run) -> Result<Option<StreamEvent>, StoreError> {
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    // Locked first, as every writer of the stream does.
                    let mut stream = if saved.ended() {
                        Some(StreamTx::lock(&mut tx, saved.tenant_id).await?)
                    } else {
                        None
                    };
                    sqlx::query("UPDATE automation_runs SET status = $3, data = $4, updated_at = $5 WHERE tenant_id = $1 AND id = $2")
                        .bind(saved.tenant_id.0)
                        .bind(saved.id.0)
                        .bind(saved.status.as_str())
                        .bind(to_json(&saved.data))
                        .bind(saved.updated_at.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    let Some(mut stream) = stream.take() else {
                        tx.commit().await.map_err(backend)?;
                        return Ok(None);
                    };
                    stream.push_subject(EventKind::AutomationRun, ConversationId(saved.rule_id.0), saved.view().to_string(), saved.updated_at);
                    Ok(stream.commit(tx).await?.pop())
                }

                async fn runs_since(&self, tenant: TenantId, rule: RuleId, conversation: ConversationId, since: Millis) -> Result<u64, StoreError> {
                    let (count,): (i64,) = sqlx::query_as(
                        "SELECT COUNT(*) FROM automation_runs
                         WHERE tenant_id = $1 AND rule_id = $2 AND conversation_id = $3 AND created_at >= $4 AND status <> 'skipped'",
                    )
                    .bind(tenant.0)
                    .bind(rule.0)
                    .bind(conversation.0)
                    .bind(since.0)
                    .fetch_one(self.reader())
                    .await
                    .map_err(backend)?;
                    Ok(u64::try_from(count).unwrap_or_default())
                }

                async fn claim_automations(&self, tenant: TenantId, node: NodeId, now: Millis, lease_until: Millis) -> Result<Option<i64>, StoreError> {
                    claim_cursor(self.writer(), tenant, node, now, lease_until).await
                }

                async fn automation_candidates(&self, node: NodeId, now: Millis, limit: u32) -> Result<Vec<TenantId>, StoreError> {
                    let rows: Vec<(Uuid,)> = sqlx::query_as(
                        "SELECT c.tenant_id FROM automation_cursors c
                         JOIN tenant_streams s ON s.tenant_id = c.tenant_id
                         WHERE s.last_offset > c.stream_offset
                           AND (c.owner_node IS NULL OR c.owner_node = $1 OR c.lease_until IS NULL OR c.lease_until < $2)
                           AND EXISTS (SELECT 1 FROM automation_rules r WHERE r.tenant_id = c.tenant_id AND r.enabled)
                         ORDER BY c.tenant_id LIMIT $3",
                    )
                    .bind(node.0)
                    .bind(now.0)
                    .bind(i64::from(limit))
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    Ok(rows.into_iter().map(|(id,)| TenantId(id)).collect())
                }

                async fn advance_automations(&self, tenant: TenantId, node: NodeId, offset: i64) -> Result<bool, StoreError> {
                    advance_cursor(self.writer(), tenant, node, offset).await
                }

                async fn release_automations(&self, tenant: TenantId, node: NodeId) -> Result<(), StoreError> {
                    release_cursor(self.writer(), tenant, node).await
                }
            }
        }
    };
}

pub(crate) use impl_automation_store;
