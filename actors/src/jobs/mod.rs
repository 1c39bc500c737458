//! Durable jobs: work to do at a time (now, or after a wait of up to 30 days), kept
//! in the store so that it survives restarts and is done by one node at a time.
//! Automations' steps, and later broadcasts, outbound webhooks and CRM syncs, are
//! jobs.
//!
//! A job is `queued` until it is due, then claimed by one node for a lease
//! (`running`), then `done`, or `queued` again with a later `run_at` after a failure
//! (`domain::backoff`, the rule every retry in the server follows), or `dead` once its
//! attempts are used up, kept to be read and retried over REST. A node that stops
//! cleanly hands its running jobs back; one that dies leaves them to be claimed again
//! when their lease lapses. So a job runs at least once, and handlers make their
//! effects idempotent.

pub mod runner;

use crate::domain::text_enum::text_enum;
use crate::inbox::bus::NodeId;
use crate::store::StoreError;
use crate::{JobId, Millis, TenantId};
use async_trait::async_trait;
use serde::Serialize;

text_enum!(
    /// Where a job is in its life.
    JobState, "a job state" {
        Queued => "queued",
        Running => "running",
        Done => "done",
        Dead => "dead",
    }
);

/// A job to add.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub tenant: TenantId,
    /// Which handler runs it, such as `automation.step`.
    pub kind: String,
    /// What the handler needs, as JSON.
    pub payload: serde_json::Value,
    pub run_at: Millis,
    pub max_attempts: u32,
    /// A second job with the same key for the tenant is not added (the first one's id
    /// is answered), whatever state the first is in.
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    pub id: JobId,
    pub tenant_id: TenantId,
    pub kind: String,
    pub payload: serde_json::Value,
    pub state: JobState,
    pub run_at: Millis,
    /// Runs started, this one included while it runs.
    pub attempts: u32,
    pub max_attempts: u32,
    pub idempotency_key: Option<String>,
    pub last_error: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// What adding a job did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    Added(JobId),
    /// A job with the same idempotency key was there already: this is its id.
    Exists(JobId),
}

/// How many jobs are in each state, and how late the most overdue queued one is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct JobCounts {
    pub queued: u64,
    pub running: u64,
    pub dead: u64,
    /// Milliseconds since the oldest due, unclaimed job became due (0: none is due).
    pub lag_ms: u64,
}

#[async_trait]
pub trait JobStore: Send + Sync + 'static {
    async fn add_job(&self, job: &NewJob, now: Millis) -> Result<Added, StoreError>;

    /// Claims up to `limit` jobs that are due, or running under a lease that lapsed,
    /// oldest `run_at` first, for `node` until `lease_until`; each counts an attempt.
    /// Two nodes claiming at once never get the same job.
    async fn claim_jobs(
        &self,
        node: NodeId,
        now: Millis,
        lease_until: Millis,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError>;

    /// Marks a job the node holds as done; false when it no longer holds it.
    async fn complete_job(&self, id: JobId, node: NodeId, now: Millis) -> Result<bool, StoreError>;

    /// Records a failed run of a job the node holds: queued again for `retry_at`, or
    /// dead when `retry_at` is None. False when the node no longer holds it.
    async fn fail_job(
        &self,
        id: JobId,
        node: NodeId,
        error: &str,
        retry_at: Option<Millis>,
        now: Millis,
    ) -> Result<bool, StoreError>;

    /// Queues a job the node holds again for `run_at`, its attempt not counted (it
    /// could not run yet). False when the node no longer holds it.
    async fn defer_job(
        &self,
        id: JobId,
        node: NodeId,
        run_at: Millis,
        now: Millis,
    ) -> Result<bool, StoreError>;

    /// Hands the node's running jobs back, queued as they were (their attempt not
    /// counted), for a clean stop. The number handed back.
    async fn release_jobs(&self, node: NodeId, now: Millis) -> Result<u64, StoreError>;

    async fn job(&self, tenant: TenantId, id: JobId) -> Result<Option<Job>, StoreError>;

    /// The tenant's jobs in `state`, newest first, at most `limit`.
    async fn jobs(
        &self,
        tenant: TenantId,
        state: JobState,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError>;

    /// Queues a dead job again, due now, with its attempts reset; false when there is
    /// no such dead job.
    async fn retry_job(&self, tenant: TenantId, id: JobId, now: Millis)
    -> Result<bool, StoreError>;

    /// Across all tenants, for metrics.
    async fn job_counts(&self, now: Millis) -> Result<JobCounts, StoreError>;

    /// Removes done jobs last touched before `before`; the number removed.
    async fn prune_done_jobs(&self, before: Millis) -> Result<u64, StoreError>;
}
