//! The `JobStore` port for both dialects, instantiated per backend by
//! `impl_job_store!`. The statements are the same on both but for the claim: Postgres
//! locks the jobs it picks with `FOR UPDATE SKIP LOCKED`, so nodes claiming at once
//! take different jobs without waiting on each other; SQLite's single writer makes
//! each claim whole on its own.

macro_rules! impl_job_store {
    ($store:ty, $lock:literal) => {
        mod job_impl {
            use super::*;
            use crate::store::rows::{backend, corrupt};
            use async_trait::async_trait;
            use switchboard_actors::inbox::bus::NodeId;
            use switchboard_actors::jobs::{Added, Job, JobCounts, JobState, JobStore, NewJob};
            use switchboard_actors::store::StoreError;
            use switchboard_actors::{JobId, Millis, TenantId};
            use uuid::Uuid;

            /// id, tenant_id, kind, payload, state, run_at, attempts, max_attempts,
            /// idempotency_key, last_error, created_at, updated_at
            type JobRow = (Uuid, Uuid, String, String, String, i64, i64, i64, Option<String>, Option<String>, i64, i64);
            macro_rules! job_columns {
                () => {
                    "id, tenant_id, kind, payload, state, run_at, attempts, max_attempts, idempotency_key, last_error, created_at, updated_at"
                };
            }

            fn job(row: JobRow) -> Result<Job, StoreError> {
                let (id, tenant, kind, payload, state, run_at, attempts, max_attempts, idempotency_key, last_error, created_at, updated_at) = row;
                Ok(Job {
                    id: JobId(id),
                    tenant_id: TenantId(tenant),
                    kind,
                    payload: serde_json::from_str(&payload)
                        .map_err(|err| StoreError::Backend(format!("unreadable job row: {err}")))?,
                    state: JobState::parse(&state).map_err(corrupt("job"))?,
                    run_at: Millis(run_at),
                    attempts: u32::try_from(attempts).unwrap_or_default(),
                    max_attempts: u32::try_from(max_attempts).unwrap_or_default(),
                    idempotency_key,
                    last_error,
                    created_at: Millis(created_at),
                    updated_at: Millis(updated_at),
                })
            }

            #[async_trait]
            impl JobStore for $store {
                async fn add_job(&self, new: &NewJob, now: Millis) -> Result<Added, StoreError> {
                    let id = JobId::new();
                    let added: Option<(Uuid,)> = sqlx::query_as(
                        "INSERT INTO jobs (id, tenant_id, kind, payload, state, run_at, attempts, max_attempts, idempotency_key, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, 'queued', $5, 0, $6, $7, $8, $8)
                         ON CONFLICT (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
                         RETURNING id",
                    )
                    .bind(id.0)
                    .bind(new.tenant.0)
                    .bind(&new.kind)
                    .bind(new.payload.to_string())
                    .bind(new.run_at.0)
                    .bind(i64::from(new.max_attempts))
                    .bind(new.idempotency_key.as_deref())
                    .bind(now.0)
                    .fetch_optional(self.writer())
                    .await
                    .map_err(backend)?;
                    if added.is_some() {
                        return Ok(Added::Added(id));
                    }
                    let (first,): (Uuid,) = sqlx::query_as("SELECT id FROM jobs WHERE tenant_id = $1 AND idempotency_key = $2")
                        .bind(new.tenant.0)
                        .bind(new.idempotency_key.as_deref())
                        .fetch_one(self.writer())
                        .await
                        .map_err(backend)?;
                    Ok(Added::Exists(JobId(first)))
                }

                async fn claim_jobs(&self, node: NodeId, now: Millis, lease_until: Millis, limit: u32) -> Result<Vec<Job>, StoreError> {
                    let rows: Vec<JobRow> = sqlx::query_as(concat!(
                        "UPDATE jobs SET state = 'running', owner_node = $1, lease_until = $3, attempts = attempts + 1, updated_at = $2
                         WHERE id IN (
                             SELECT id FROM jobs
                             WHERE (state = 'queued' AND run_at <= $2) OR (state = 'running' AND lease_until < $2)
                             ORDER BY run_at, id
                             LIMIT $4", $lock, "
                         )
                         RETURNING ", job_columns!()
                    ))
                    .bind(node.0)
                    .bind(now.0)
                    .bind(lease_until.0)
                    .bind(i64::from(limit))
                    .fetch_all(self.writer())
                    .await
                    .map_err(backend)?;
                    let mut jobs = rows.into_iter().map(job).collect::<Result<Vec<_>, _>>()?;
                    jobs.sort_by_key(|j| (j.run_at, j.id.0));
                    Ok(jobs)
                }

                async fn complete_job(&self, id: JobId, node: NodeId, now: Millis) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "UPDATE jobs SET state = 'done', owner_node = NULL, lease_until = NULL, last_error = NULL, updated_at = $3
                         WHERE id = $1 AND owner_node = $2 AND state = 'running'",
                    )
                    .bind(id.0)
                    .bind(node.0)
                    .bind(now.0)
                    .execute(self.writer())
                    .await
                    .map_err(backend)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn fail_job(&self, id: JobId, node: NodeId, error: &str, retry_at: Option<Millis>, now: Millis) -> Result<bool, StoreError> {
                    let (state, run_at) = match retry_at {
                        Some(at) => (JobState::Queued, Some(at.0)),
                        None => (JobState::Dead, None),
                    };
                    let failed = sqlx::query(
                        "UPDATE jobs SET state = $3, run_at = COALESCE($4, run_at), last_error = $5,
                             owner_node = NULL, lease_until = NULL, updated_at = $6
                         WHERE id = $1 AND owner_node = $2 AND state = 'running'",
                    )
                    .bind(id.0)
                    .bind(node.0)
                    .bind(state.as_str())
                    .bind(run_at)
                    .bind(error)
                    .bind(now.0)
                    .execute(self.writer())
                    .await
                    .map_err(backend)?;
                    Ok(failed.rows_affected() == 1)
                }

                async fn defer_job(&self, id: JobId, node: NodeId, run_at: Millis, now: Millis) -> Result<bool, StoreError> {
                    let deferred = sqlx::query(
                        "UPDATE jobs SET state = 'queued', run_at = $3, owner_node = NULL, lease_until = NULL,
                             attempts = attempts - 1, updated_at = $4
                         WHERE id = $1 AND owner_node = $2 AND state = 'running'",
                    )
                    .bind(id.0)
                    .bind(node.0)
                    .bind(run_at.0)
                    .bind(now.0)
                    .execute(self.writer())
                    .await
                    .map_err(backend)?;
                    Ok(deferred.rows_affected() == 1)
                }

                async fn release_jobs(&self, node: NodeId, now: Millis) -> Result<u64, StoreError> {
                    let released = sqlx::query(
                        "UPDATE jobs SET state = 'queued', owner_node = NULL, lease_until = NULL,
                             attempts = attempts - 1, updated_at = $2
                         WHERE owner_node = $1 AND state = 'running'",
                    )
                    .bind(node.0)
                    .bind(now.0)
                    .execute(self.writer())
                    .await
                    .map_err(backend)?;
                    Ok(released.rows_affected())
                }

                async fn job(&self, tenant: TenantId, id: JobId) -> Result<Option<Job>, StoreError> {
                    let row: Option<JobRow> = sqlx::query_as(concat!("SELECT ", job_columns!(), " FROM jobs WHERE tenant_id = $1 AND id = $2"))
                        .bind(tenant.0)
                        .bind(id.0)
                        .fetch_optional(self.reader())
                        .await
                        .map_err(backend)?;
                    row.map(job).transpose()
                }

                async fn jobs(&self, tenant: TenantId, state: JobState, limit: u32) -> Result<Vec<Job>, StoreError> {
                    let rows: Vec<JobRow> = sqlx::query_as(concat!(
                        "SELECT ", job_columns!(), " FROM jobs WHERE tenant_id = $1 AND state = $2
                         ORDER BY created_at DESC, id DESC LIMIT $3"
                    ))
                    .bind(tenant.0)
                    .bind(state.as_str())
                    .bind(i64::from(limit))
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    rows.into_iter().map(job).collect()
                }

                async fn retry_job(&self, tenant: TenantId, id: JobId, now: Millis) -> Result<bool, StoreError> {
                    let queued = sqlx::query(
                        "UPDATE jobs SET state = 'queued', run_at = $3, attempts = 0, updated_at = $3
                         WHERE tenant_id = $1 AND id = $2 AND state = 'dead'",
                    )
                    .bind(tenant.0)
                    .bind(id.0)
                    .bind(now.0)
                    .execute(self.writer())
                    .await
                    .map_err(backend)?;
                    Ok(queued.rows_affected() == 1)
                }

                async fn job_counts(&self, now: Millis) -> Result<JobCounts, StoreError> {
                    let (queued, running, dead, oldest_due): (i64, i64, i64, Option<i64>) = sqlx::query_as(
                        "SELECT (SELECT COUNT(*) FROM jobs WHERE state = 'queued'),
                                (SELECT COUNT(*) FROM jobs WHERE state = 'running'),
                                (SELECT COUNT(*) FROM jobs WHERE state = 'dead'),
                                (SELECT MIN(run_at) FROM jobs WHERE state = 'queued' AND run_at <= $1)",
                    )
                    .bind(now.0)
                    .fetch_one(self.reader())
                    .await
                    .map_err(backend)?;
                    let count = |n: i64| u64::try_from(n).unwrap_or_default();
                    Ok(JobCounts {
                        queued: count(queued),
                        running: count(running),
                        dead: count(dead),
                        lag_ms: oldest_due.map_or(0, |at| count(now.0 - at)),
                    })
                }

                async fn prune_done_jobs(&self, before: Millis) -> Result<u64, StoreError> {
                    let pruned = sqlx::query("DELETE FROM jobs WHERE state = 'done' AND updated_at < $1")
                        .bind(before.0)
                        .execute(self.writer())
                        .await
                        .map_err(backend)?;
                    Ok(pruned.rows_affected())
                }
            }
        }
    };
}

pub(crate) use impl_job_store;
