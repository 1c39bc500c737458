//! `JobRunner`: the node's share of the durable jobs. Each round it claims as many due
//! jobs as it has free slots (`concurrency`), runs each with the handler registered for
//! its kind, within `timeout`, and settles it: done; queued again after a backoff when
//! it failed and has attempts left; dead otherwise (or at once when the handler says
//! trying again cannot help, or no handler runs its kind). A lease outlives the
//! timeout, so a job is never run by two nodes at once unless one was cut off from the
//! store past its lease. On a clean stop the node hands its running jobs back.

use super::{Job, JobCounts};
use crate::domain::backoff::backoff;
use crate::inbox::bus::NodeId;
use crate::store::Store;
use crate::{JobId, Millis};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore};

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobFailure {
    /// It may work later (a timeout, an unreachable endpoint, a 5xx).
    Retry(String),
    /// Like `Retry`, after a delay the handler chose (its own schedule, or the one
    /// the far end asked for) instead of the runner's backoff.
    RetryIn(String, Duration),
    /// It did not run: what it needs is taken (another job holds the far end's
    /// share). Queued again after the delay, the attempt not counted.
    Busy(Duration),
    /// It never will (the job's rule is gone, its input is wrong): dead at once.
    Permanent(String),
    /// It made progress and has more to do (a long job done in slices, each well
    /// within the timeout): queued again at once, the attempt not counted.
    Continue,
}

impl JobFailure {
    /// Why, as a run's record says it.
    pub fn reason(&self) -> &str {
        match self {
            JobFailure::Retry(why) | JobFailure::RetryIn(why, _) | JobFailure::Permanent(why) => {
                why
            }
            JobFailure::Busy(_) => "what it needs is busy",
            JobFailure::Continue => "more to do",
        }
    }
}

#[async_trait]
pub trait JobHandler: Send + Sync + 'static {
    /// Does the job's work; at least once, so its effects must be idempotent.
    async fn run(&self, job: &Job) -> Result<(), JobFailure>;
}

/// What the server counts of jobs.
pub trait JobObserver: Send + Sync + 'static {
    /// A run of a job of `kind` ended `done`, `retry`, `dead` or `busy` (not run,
    /// queued again) after `seconds`.
    fn finished(&self, kind: &str, outcome: &'static str, seconds: f64);

    /// The jobs in each state across the cluster, and the lag, now and then.
    fn counts(&self, counts: JobCounts);
}

#[derive(Debug, Clone)]
pub struct RunnerSettings {
    /// Jobs this node runs at the same time.
    pub concurrency: usize,
    /// How often the node looks for due jobs while it has nothing to do.
    pub poll_every: Duration,
    /// The longest one run may take; it fails (to be retried) past it.
    pub timeout: Duration,
    /// The first retry's delay, doubled each failure up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
}

/// How much longer than `timeout` a claim's lease lasts (at most; never more than the
/// timeout itself): settling a run that took the whole timeout, one store write, still
/// happens under the lease, and a short timeout keeps a dead node's jobs short.
const LEASE_MARGIN: Duration = Duration::from_secs(30);

/// How often the counts for metrics are read.
const COUNTS_EVERY: Duration = Duration::from_secs(5);

pub struct JobRunner {
    store: Arc<dyn Store>,
    node: NodeId,
    settings: RunnerSettings,
    handlers: HashMap<String, Arc<dyn JobHandler>>,
    observer: Arc<dyn JobObserver>,
    slots: Arc<Semaphore>,
    /// Woken when a run hands its job back due at once (`Continue`), so the next
    /// slice starts without waiting out `poll_every`.
    due_now: Notify,
}

impl JobRunner {
    pub fn new(
        store: Arc<dyn Store>,
        node: NodeId,
        settings: RunnerSettings,
        observer: Arc<dyn JobObserver>,
    ) -> Self {
        let slots = Arc::new(Semaphore::new(settings.concurrency.max(1)));
        Self {
            store,
            node,
            settings,
            handlers: HashMap::new(),
            observer,
            slots,
            due_now: Notify::new(),
        }
    }

    /// Runs jobs of `kind` with `handler`.
    pub fn handle(mut self, kind: &str, handler: Arc<dyn JobHandler>) -> Self {
        self.handlers.insert(kind.to_owned(), handler);
        self
    }

    /// Rounds until dropped: at once again while jobs keep coming (as soon as a slot
    /// frees), every `poll_every` while there are none.
    pub async fn run(self: Arc<Self>) {
        let mut counted_at: Option<Instant> = None;
        loop {
            if counted_at.is_none_or(|at| at.elapsed() >= COUNTS_EVERY) {
                counted_at = Some(Instant::now());
                match self.store.job_counts(Millis::now()).await {
                    Ok(counts) => self.observer.counts(counts),
                    Err(err) => tracing::warn!(error = %err, "cannot count the jobs"),
                }
            }
            if self.round().await == 0 {
                tokio::select! {
                    () = tokio::time::sleep(self.settings.poll_every) => {}
                    () = self.due_now.notified() => {}
                }
            } else if let Ok(slot) = self.slots.acquire().await {
                drop(slot);
            }
        }
    }

    /// Claims due jobs for the free slots and starts each; how many it started.
    pub async fn round(self: &Arc<Self>) -> usize {
        let free = self.slots.available_permits();
        if free == 0 {
            return 0;
        }
        let now = Millis::now();
        let lease_until = now.plus(self.settings.timeout + self.settings.timeout.min(LEASE_MARGIN));
        let limit = u32::try_from(free).unwrap_or(u32::MAX);
        let jobs = match self
            .store
            .claim_jobs(self.node, now, lease_until, limit)
            .await
        {
            Ok(jobs) => jobs,
            Err(err) => {
                tracing::warn!(error = %err, "cannot claim jobs");
                return 0;
            }
        };
        let started = jobs.len();
        for job in jobs {
            let Ok(slot) = self.slots.clone().try_acquire_owned() else {
                // Never: a claim takes at most the free slots. Handed back by its lease.
                tracing::error!(job = %job.id, "no free slot for a claimed job");
                continue;
            };
            let runner = self.clone();
            // On the runner's arbiter, not a bare tokio task: handlers start actors
            // (a conversation's, to act on it), which needs an arbiter to run on.
            actix::spawn(async move {
                runner.execute(job).await;
                drop(slot);
            });
        }
        started
    }

    async fn execute(&self, job: Job) {
        let started = Instant::now();
        let outcome = match self.handlers.get(&job.kind) {
            None => Err(JobFailure::Permanent(format!(
                "no handler runs jobs of kind '{}'",
                job.kind
            ))),
            Some(handler) => tokio::time::timeout(self.settings.timeout, handler.run(&job))
                .await
                .unwrap_or_else(|_| {
                    Err(JobFailure::Retry(format!(
                        "no result within {} ms",
                        self.settings.timeout.as_millis()
                    )))
                }),
        };
        let now = Millis::now();
        let attempts_left = job.attempts < job.max_attempts;
        let settle = match outcome {
            Ok(()) => Settle::Done,
            Err(JobFailure::Busy(wait)) => Settle::Later(now.plus(wait)),
            Err(JobFailure::Continue) => Settle::Continue(now),
            Err(JobFailure::Retry(why)) if attempts_left => {
                let (base, max) = (self.settings.retry_base, self.settings.retry_max);
                Settle::Again(why, now.plus(backoff(base, max, job.attempts)))
            }
            Err(JobFailure::RetryIn(why, wait)) if attempts_left => {
                Settle::Again(why, now.plus(wait))
            }
            Err(
                JobFailure::Retry(why) | JobFailure::RetryIn(why, _) | JobFailure::Permanent(why),
            ) => Settle::Dead(why),
        };
        let continued = matches!(settle, Settle::Continue(_));
        let store = &self.store;
        let (settled, label) = match settle {
            Settle::Done => (store.complete_job(job.id, self.node, now).await, "done"),
            Settle::Later(at) => (store.defer_job(job.id, self.node, at, now).await, "busy"),
            Settle::Continue(at) => (
                store.defer_job(job.id, self.node, at, now).await,
                "continue",
            ),
            Settle::Again(why, at) => (
                store.fail_job(job.id, self.node, &why, Some(at), now).await,
                "retry",
            ),
            Settle::Dead(why) => {
                tracing::warn!(job = %job.id, kind = %job.kind, error = %why, "a job is dead");
                (
                    store.fail_job(job.id, self.node, &why, None, now).await,
                    "dead",
                )
            }
        };
        self.observer
            .finished(&job.kind, label, started.elapsed().as_secs_f64());
        report(job.id, settled);
        if continued {
            self.due_now.notify_one();
        }
    }

    /// Hands this node's running jobs back, so other nodes (or this one, started
    /// again) take them at once.
    pub async fn shutdown(&self) {
        match self.store.release_jobs(self.node, Millis::now()).await {
            Ok(0) => {}
            Ok(released) => tracing::info!(released, "handed running jobs back"),
            Err(err) => tracing::warn!(error = %err, "cannot hand running jobs back"),
        }
    }
}

/// What becomes of a job after a run.
enum Settle {
    Done,
    /// Failed; tried again at the time.
    Again(String, Millis),
    Dead(String),
    /// Did not run; queued again for the time, the attempt not counted.
    Later(Millis),
    /// Ran a slice; queued again for the time, the attempt not counted.
    Continue(Millis),
}

fn report(id: JobId, settled: Result<bool, crate::store::StoreError>) {
    match settled {
        Ok(true) => {}
        // Its lease lapsed and another node has it: that node's run settles it.
        Ok(false) => tracing::warn!(job = %id, "a job's lease lapsed before its run ended"),
        Err(err) => {
            tracing::warn!(job = %id, error = %err, "cannot settle a job; its lease hands it back")
        }
    }
}
