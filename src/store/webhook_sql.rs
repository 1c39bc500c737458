//! The `WebhookStore` port for both dialects, instantiated per backend by
//! `impl_webhook_store!` next to `impl_inbox_store!` (a disabled endpoint's event is
//! written in the stream's transaction): endpoints with their sealed secrets,
//! deliveries and their attempts, and the fan-out cursor (`cursor_sql.rs`), starting
//! at the stream's head.

macro_rules! impl_webhook_store {
    ($store:ty) => {
        mod webhook_impl {
            use super::inbox_impl::StreamTx;
            use super::*;
            use crate::store::inbox_rows::{from_json, to_json};
            use crate::store::rows::{backend, corrupt};
            use async_trait::async_trait;
            use serde_json::json;
            use switchboard_actors::inbox::bus::NodeId;
            use switchboard_actors::inbox::stream::{EventKind, StreamEvent};
            use switchboard_actors::store::StoreError;
            use switchboard_actors::webhooks::{
                Added, Attempt, AttemptOutcome, Delivery, DeliveryState, Endpoint, NewDelivery,
                SealedSecrets, WebhookStore,
            };
            use switchboard_actors::{ConversationId, DeliveryId, EndpointId, Millis, TenantId};
            use uuid::Uuid;

            crate::store::cursor_sql::leased_cursor!($store, "webhook_cursors",
                "COALESCE((SELECT last_offset FROM tenant_streams WHERE tenant_id = $1), 0)");
            crate::store::cursor_sql::head_cursor!($store, "webhook_cursors");

            type Db = <$store as SqlBackend>::Db;
            type Conn = <Db as sqlx::Database>::Connection;

            /// id, tenant_id, url, description, event_types, enabled, disabled_reason,
            /// failing_since, created_at, updated_at
            type EndpointRow = (Uuid, Uuid, String, String, String, bool, Option<String>, Option<i64>, i64, i64);
            macro_rules! endpoint_columns {
                () => {
                    "id, tenant_id, url, description, event_types, enabled, disabled_reason, failing_since, created_at, updated_at"
                };
            }

            fn endpoint(row: EndpointRow) -> Result<Endpoint, StoreError> {
                let (id, tenant, url, description, types, enabled, disabled_reason, failing_since, created_at, updated_at) = row;
                Ok(Endpoint {
                    id: EndpointId(id),
                    tenant_id: TenantId(tenant),
                    url,
                    description,
                    event_types: from_json("webhook endpoint", &types)?,
                    enabled,
                    disabled_reason,
                    failing_since: failing_since.map(Millis),
                    created_at: Millis(created_at),
                    updated_at: Millis(updated_at),
                })
            }

            /// id, tenant_id, endpoint_id, event_type, event_key, payload, status,
            /// attempts, next_attempt_at, response_status, latency_ms, response_body,
            /// error, created_at, updated_at, delivered_at
            type DeliveryRow = (
                Uuid, Uuid, Uuid, String, Option<String>, String, String, i64, Option<i64>,
                Option<i64>, Option<i64>, Option<String>, Option<String>, i64, i64, Option<i64>,
            );
            macro_rules! delivery_columns {
                () => {
                    "id, tenant_id, endpoint_id, event_type, event_key, payload, status, attempts, next_attempt_at,
                     response_status, latency_ms, response_body, error, created_at, updated_at, delivered_at"
                };
            }

            fn delivery(row: DeliveryRow) -> Result<Delivery, StoreError> {
                let (id, tenant, endpoint, event_type, event_key, payload, status, attempts, next_attempt_at,
                     response_status, latency_ms, response_body, error, created_at, updated_at, delivered_at) = row;
                Ok(Delivery {
                    id: DeliveryId(id),
                    tenant_id: TenantId(tenant),
                    endpoint_id: EndpointId(endpoint),
                    event_type,
                    event_key,
                    payload,
                    status: DeliveryState::parse(&status).map_err(corrupt("webhook delivery"))?,
                    attempts: u32::try_from(attempts).unwrap_or_default(),
                    next_attempt_at: next_attempt_at.map(Millis),
                    response_status: response_status.and_then(|s| u16::try_from(s).ok()),
                    latency_ms: latency_ms.and_then(|l| u64::try_from(l).ok()),
                    response_body,
                    error,
                    created_at: Millis(created_at),
                    updated_at: Millis(updated_at),
                    delivered_at: delivered_at.map(Millis),
                })
            }

            /// attempt, at, response_status, latency_ms, response_body, error
            type AttemptRow = (i64, i64, Option<i64>, i64, Option<String>, Option<String>);

            fn attempt(row: AttemptRow) -> Attempt {
                let (n, at, response_status, latency_ms, response_body, error) = row;
                Attempt {
                    attempt: u32::try_from(n).unwrap_or_default(),
                    at: Millis(at),
                    response_status: response_status.and_then(|s| u16::try_from(s).ok()),
                    latency_ms: u64::try_from(latency_ms).unwrap_or_default(),
                    response_body,
                    error,
                }
            }

            async fn enabled_endpoints(conn: &mut Conn, tenant: TenantId) -> Result<i64, StoreError> {
                let (count,): (i64,) =
                    sqlx::query_as("SELECT COUNT(*) FROM webhook_endpoints WHERE tenant_id = $1 AND enabled")
                        .bind(tenant.0)
                        .fetch_one(&mut *conn)
                        .await
                        .map_err(backend)?;
                Ok(count)
            }

            #[async_trait]
            impl WebhookStore for $store {
                async fn add_endpoint(&self, e: &Endpoint, secrets: &SealedSecrets) -> Result<(), StoreError> {
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    let enabled_before = enabled_endpoints(&mut tx, e.tenant_id).await?;
                    sqlx::query(
                        "INSERT INTO webhook_endpoints (id, tenant_id, url, description, event_types, enabled, disabled_reason,
                             secret, previous_secret, previous_until, failing_since, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $8, $9, NULL, $10, $10)",
                    )
                    .bind(e.id.0)
                    .bind(e.tenant_id.0)
                    .bind(&e.url)
                    .bind(&e.description)
                    .bind(to_json(&e.event_types))
                    .bind(e.enabled)
                    .bind(&secrets.current)
                    .bind(secrets.previous.as_ref().map(|(s, _)| s.clone()))
                    .bind(secrets.previous.as_ref().map(|(_, until)| until.0))
                    .bind(e.created_at.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                    if e.enabled && enabled_before == 0 {
                        // Endpoints receive what happens from now on.
                        cursor_to_head(&mut tx, e.tenant_id).await?;
                    }
                    tx.commit().await.map_err(backend)
                }

                async fn save_endpoint(&self, e: &Endpoint) -> Result<bool, StoreError> {
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    let enabled_before = enabled_endpoints(&mut tx, e.tenant_id).await?;
                    let saved = sqlx::query(
                        "UPDATE webhook_endpoints SET url = $3, description = $4, event_types = $5, enabled = $6,
                             disabled_reason = $7, failing_since = $8, updated_at = $9
                         WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(e.tenant_id.0)
                    .bind(e.id.0)
                    .bind(&e.url)
                    .bind(&e.description)
                    .bind(to_json(&e.event_types))
                    .bind(e.enabled)
                    .bind(e.disabled_reason.as_deref())
                    .bind(e.failing_since.map(|m| m.0))
                    .bind(e.updated_at.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?
                    .rows_affected()
                        == 1;
                    if saved && e.enabled && enabled_before == 0 {
                        // Endpoints receive what happens from now on.
                        cursor_to_head(&mut tx, e.tenant_id).await?;
                    }
                    tx.commit().await.map_err(backend)?;
                    Ok(saved)
                }

                async fn endpoint(&self, tenant: TenantId, id: EndpointId) -> Result<Option<Endpoint>, StoreError> {
                    let row: Option<EndpointRow> = sqlx::query_as(concat!(
                        "SELECT ", endpoint_columns!(), " FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2"
                    ))
                    .bind(tenant.0)
                    .bind(id.0)
                    .fetch_optional(self.reader())
                    .await
                    .map_err(backend)?;
                    row.map(endpoint).transpose()
                }

                async fn endpoints(&self, tenant: TenantId) -> Result<Vec<Endpoint>, StoreError> {
                    let rows: Vec<EndpointRow> = sqlx::query_as(concat!(
                        "SELECT ", endpoint_columns!(), " FROM webhook_endpoints WHERE tenant_id = $1 ORDER BY created_at, id"
                    ))
                    .bind(tenant.0)
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    rows.into_iter().map(endpoint).collect()
                }

                async fn endpoint_secrets(&self, tenant: TenantId, id: EndpointId) -> Result<Option<SealedSecrets>, StoreError> {
                    let row: Option<(Vec<u8>, Option<Vec<u8>>, Option<i64>)> = sqlx::query_as(
                        "SELECT secret, previous_secret, previous_until FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(tenant.0)
                    .bind(id.0)
                    .fetch_optional(self.reader())
                    .await
                    .map_err(backend)?;
                    Ok(row.map(|(current, previous, until)| SealedSecrets {
                        current,
                        previous: previous.zip(until.map(Millis)),
                    }))
                }

                async fn set_endpoint_secrets(&self, tenant: TenantId, id: EndpointId, secrets: &SealedSecrets, at: Millis) -> Result<bool, StoreError> {
                    let set = sqlx::query(
                        "UPDATE webhook_endpoints SET secret = $3, previous_secret = $4, previous_until = $5, updated_at = $6
                         WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(tenant.0)
                    .bind(id.0)
                    .bind(&secrets.current)
                    .bind(secrets.previous.as_ref().map(|(s, _)| s.clone()))
                    .bind(secrets.previous.as_ref().map(|(_, until)| until.0))
                    .bind(at.0)
                    .execute(self.writer())
                    .await
                    .map_err(backend)?;
                    Ok(set.rows_affected() == 1)
                }

                async fn delete_endpoint(&self, tenant: TenantId, id: EndpointId) -> Result<bool, StoreError> {
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    sqlx::query(
                        "DELETE FROM webhook_attempts WHERE delivery_id IN
                             (SELECT id FROM webhook_deliveries WHERE tenant_id = $1 AND endpoint_id = $2)",
                    )
                    .bind(tenant.0)
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                    sqlx::query("DELETE FROM webhook_deliveries WHERE tenant_id = $1 AND endpoint_id = $2")
                        .bind(tenant.0)
                        .bind(id.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    let deleted = sqlx::query("DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant.0)
                        .bind(id.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    tx.commit().await.map_err(backend)?;
                    Ok(deleted.rows_affected() == 1)
                }

                async fn disable_endpoint(&self, tenant: TenantId, id: EndpointId, reason: &str, at: Millis) -> Result<Option<StreamEvent>, StoreError> {
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    let mut stream = StreamTx::lock(&mut tx, tenant).await?;
                    let url: Option<(String,)> = sqlx::query_as(
                        "UPDATE webhook_endpoints SET enabled = FALSE, disabled_reason = $3, updated_at = $4
                         WHERE tenant_id = $1 AND id = $2 AND enabled
                         RETURNING url",
                    )
                    .bind(tenant.0)
                    .bind(id.0)
                    .bind(reason)
                    .bind(at.0)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?;
                    let Some((url,)) = url else {
                        return Ok(None);
                    };
                    let data = json!({ "endpoint_id": id, "url": url, "reason": reason, "at": at.to_rfc3339() });
                    stream.push_subject(EventKind::WebhookDisabled, ConversationId(id.0), data.to_string(), at);
                    Ok(stream.commit(tx).await?.pop())
                }

                async fn mark_failing(&self, tenant: TenantId, id: EndpointId, since: Option<Millis>) -> Result<Option<Millis>, StoreError> {
                    let row: Option<(Option<i64>,)> = sqlx::query_as(
                        "UPDATE webhook_endpoints
                         SET failing_since = CASE WHEN $3 IS NULL THEN NULL ELSE COALESCE(failing_since, $3) END
                         WHERE tenant_id = $1 AND id = $2
                         RETURNING failing_since",
                    )
                    .bind(tenant.0)
                    .bind(id.0)
                    .bind(since.map(|m| m.0))
                    .fetch_optional(self.writer())
                    .await
                    .map_err(backend)?;
                    Ok(row.and_then(|(since,)| since.map(Millis)))
                }

                async fn add_deliveries(&self, deliveries: &[NewDelivery]) -> Result<Vec<Added>, StoreError> {
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    let mut added = Vec::with_capacity(deliveries.len());
                    for d in deliveries {
                        let created: Option<(Uuid,)> = sqlx::query_as(
                            "INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_type, event_key, payload, status,
                                 attempts, created_at, updated_at)
                             VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7)
                             ON CONFLICT (endpoint_id, event_type, event_key) DO NOTHING
                             RETURNING id",
                        )
                        .bind(d.id.0)
                        .bind(d.tenant_id.0)
                        .bind(d.endpoint_id.0)
                        .bind(&d.event_type)
                        .bind(d.event_key.as_deref())
                        .bind(&d.payload)
                        .bind(d.created_at.0)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(backend)?;
                        if created.is_some() {
                            added.push(Added { id: d.id, status: DeliveryState::Pending, attempts: 0 });
                            continue;
                        }
                        let (id, status, attempts): (Uuid, String, i64) = sqlx::query_as(
                            "SELECT id, status, attempts FROM webhook_deliveries
                             WHERE endpoint_id = $1 AND event_type = $2 AND event_key = $3 AND tenant_id = $4",
                        )
                        .bind(d.endpoint_id.0)
                        .bind(&d.event_type)
                        .bind(d.event_key.as_deref())
                        .bind(d.tenant_id.0)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(backend)?;
                        added.push(Added {
                            id: DeliveryId(id),
                            status: DeliveryState::parse(&status).map_err(corrupt("webhook delivery"))?,
                            attempts: u32::try_from(attempts).unwrap_or_default(),
                        });
                    }
                    tx.commit().await.map_err(backend)?;
                    Ok(added)
                }

                async fn delivery(&self, tenant: TenantId, id: DeliveryId) -> Result<Option<Delivery>, StoreError> {
                    let row: Option<DeliveryRow> = sqlx::query_as(concat!(
                        "SELECT ", delivery_columns!(), " FROM webhook_deliveries WHERE tenant_id = $1 AND id = $2"
                    ))
                    .bind(tenant.0)
                    .bind(id.0)
                    .fetch_optional(self.reader())
                    .await
                    .map_err(backend)?;
                    row.map(delivery).transpose()
                }

                async fn deliveries(&self, tenant: TenantId, endpoint: EndpointId, status: Option<DeliveryState>, before: Option<DeliveryId>, limit: u32) -> Result<Vec<Delivery>, StoreError> {
                    let rows: Vec<DeliveryRow> = sqlx::query_as(concat!(
                        "SELECT ", delivery_columns!(), " FROM webhook_deliveries
                         WHERE tenant_id = $1 AND endpoint_id = $2 AND ($3 IS NULL OR status = $3) AND ($4 IS NULL OR id < $4)
                         ORDER BY id DESC LIMIT $5"
                    ))
                    .bind(tenant.0)
                    .bind(endpoint.0)
                    .bind(status.map(|s| s.as_str()))
                    .bind(before.map(|b| b.0))
                    .bind(i64::from(limit))
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    rows.into_iter().map(delivery).collect()
                }

                async fn attempts(&self, tenant: TenantId, id: DeliveryId) -> Result<Vec<Attempt>, StoreError> {
                    let rows: Vec<AttemptRow> = sqlx::query_as(
                        "SELECT attempt, at, response_status, latency_ms, response_body, error FROM webhook_attempts
                         WHERE tenant_id = $1 AND delivery_id = $2 ORDER BY attempt",
                    )
                    .bind(tenant.0)
                    .bind(id.0)
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    Ok(rows.into_iter().map(attempt).collect())
                }

                async fn begin_attempt(&self, tenant: TenantId, id: DeliveryId, at: Millis) -> Result<u32, StoreError> {
                    let (attempts,): (i64,) = sqlx::query_as(
                        "UPDATE webhook_deliveries SET attempts = attempts + 1, updated_at = $3
                         WHERE tenant_id = $1 AND id = $2 RETURNING attempts",
                    )
                    .bind(tenant.0)
                    .bind(id.0)
                    .bind(at.0)
                    .fetch_one(self.writer())
                    .await
                    .map_err(backend)?;
                    Ok(u32::try_from(attempts).unwrap_or_default())
                }

                async fn record_attempt(&self, tenant: TenantId, id: DeliveryId, outcome: &AttemptOutcome) -> Result<(), StoreError> {
                    let a = &outcome.attempt;
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    sqlx::query(
                        "INSERT INTO webhook_attempts (delivery_id, attempt, tenant_id, at, response_status, latency_ms, response_body, error)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                         ON CONFLICT (delivery_id, attempt) DO NOTHING",
                    )
                    .bind(id.0)
                    .bind(i64::from(a.attempt))
                    .bind(tenant.0)
                    .bind(a.at.0)
                    .bind(a.response_status.map(i64::from))
                    .bind(i64::try_from(a.latency_ms).unwrap_or(i64::MAX))
                    .bind(a.response_body.as_deref())
                    .bind(a.error.as_deref())
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                    let succeeded = outcome.status == DeliveryState::Succeeded;
                    sqlx::query(
                        "UPDATE webhook_deliveries SET status = $3, next_attempt_at = $4, response_status = $5, latency_ms = $6,
                             response_body = $7, error = $8, updated_at = $9,
                             delivered_at = CASE WHEN $10 THEN $9 ELSE delivered_at END
                         WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(tenant.0)
                    .bind(id.0)
                    .bind(outcome.status.as_str())
                    .bind(outcome.next_attempt_at.map(|m| m.0))
                    .bind(a.response_status.map(i64::from))
                    .bind(i64::try_from(a.latency_ms).unwrap_or(i64::MAX))
                    .bind(a.response_body.as_deref())
                    .bind(a.error.as_deref())
                    .bind(a.at.0)
                    .bind(succeeded)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                    tx.commit().await.map_err(backend)
                }

                async fn fail_delivery(&self, tenant: TenantId, id: DeliveryId, error: &str, at: Millis) -> Result<(), StoreError> {
                    sqlx::query(
                        "UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, error = $3, updated_at = $4
                         WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(tenant.0)
                    .bind(id.0)
                    .bind(error)
                    .bind(at.0)
                    .execute(self.writer())
                    .await
                    .map_err(backend)?;
                    Ok(())
                }

                async fn requeue_delivery(&self, tenant: TenantId, id: DeliveryId, at: Millis) -> Result<Option<u32>, StoreError> {
                    let row: Option<(i64,)> = sqlx::query_as(
                        "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $3, updated_at = $3
                         WHERE tenant_id = $1 AND id = $2 RETURNING attempts",
                    )
                    .bind(tenant.0)
                    .bind(id.0)
                    .bind(at.0)
                    .fetch_optional(self.writer())
                    .await
                    .map_err(backend)?;
                    Ok(row.map(|(attempts,)| u32::try_from(attempts).unwrap_or_default()))
                }

                async fn offset_before(&self, tenant: TenantId, at: Millis) -> Result<i64, StoreError> {
                    let (offset,): (Option<i64>,) = sqlx::query_as(
                        "SELECT MAX(stream_offset) FROM stream_events WHERE tenant_id = $1 AND created_at < $2",
                    )
                    .bind(tenant.0)
                    .bind(at.0)
                    .fetch_one(self.reader())
                    .await
                    .map_err(backend)?;
                    Ok(offset.unwrap_or(0))
                }

                async fn prune_deliveries(&self, before: Millis) -> Result<u64, StoreError> {
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    sqlx::query(
                        "DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE created_at < $1)",
                    )
                    .bind(before.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                    let pruned = sqlx::query("DELETE FROM webhook_deliveries WHERE created_at < $1")
                        .bind(before.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    tx.commit().await.map_err(backend)?;
                    Ok(pruned.rows_affected())
                }

                async fn webhook_candidates(&self, node: NodeId, now: Millis, limit: u32) -> Result<Vec<TenantId>, StoreError> {
                    let rows: Vec<(Uuid,)> = sqlx::query_as(
                        "SELECT c.tenant_id FROM webhook_cursors c
                         JOIN tenant_streams s ON s.tenant_id = c.tenant_id
                         WHERE s.last_offset > c.stream_offset
                           AND (c.owner_node IS NULL OR c.owner_node = $1 OR c.lease_until IS NULL OR c.lease_until < $2)
                           AND EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.tenant_id = c.tenant_id AND e.enabled)
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

                async fn claim_webhooks(&self, tenant: TenantId, node: NodeId, now: Millis, lease_until: Millis) -> Result<Option<i64>, StoreError> {
                    claim_cursor(self.writer(), tenant, node, now, lease_until).await
                }

                async fn advance_webhooks(&self, tenant: TenantId, node: NodeId, offset: i64) -> Result<bool, StoreError> {
                    advance_cursor(self.writer(), tenant, node, offset).await
                }

                async fn release_webhooks(&self, tenant: TenantId, node: NodeId) -> Result<(), StoreError> {
                    release_cursor(self.writer(), tenant, node).await
                }
            }
        }
    };
}

pub(crate) use impl_webhook_store;
