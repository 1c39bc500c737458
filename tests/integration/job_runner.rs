//! The job runner over the real store on both backends, with handlers of the tests'
//! own: due jobs run once each and a later one waits; a failing job is retried after
//! a backoff, then dead with its error, and runs again once retried; a run past its
//! timeout is retried; a kind nobody runs is dead at once; a clean stop hands a running
//! job back.

use crate::common::wait::until;
use crate::common::{Backend, open_store, store_tenant};
use async_trait::async_trait;
use serde_json::json;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard_actors::inbox::bus::NodeId;
use switchboard_actors::jobs::runner::{
    JobFailure, JobHandler, JobObserver, JobRunner, RunnerSettings,
};
use switchboard_actors::jobs::{Added, Job, JobCounts, JobState, NewJob};
use switchboard_actors::store::Store;
use switchboard_actors::{JobId, Millis, TenantId};
use uuid::Uuid;

/// Outcomes as the runner reported them, in order.
#[derive(Default)]
struct Outcomes(Mutex<Vec<&'static str>>);

impl JobObserver for Outcomes {
    fn finished(&self, _: &str, outcome: &'static str, _: f64) {
        self.0.lock().unwrap().push(outcome);
    }

    fn counts(&self, _: JobCounts) {}
}

/// Records each run's step; fails the first `failures` runs, or never answers them
/// when `hang` is set; the first `slices` runs say they have more to do.
#[derive(Default)]
struct Steps {
    ran: Mutex<Vec<u64>>,
    failures: AtomicU32,
    hang: bool,
    slices: AtomicU32,
}

#[async_trait]
impl JobHandler for Steps {
    async fn run(&self, job: &Job) -> Result<(), JobFailure> {
        self.ran
            .lock()
            .unwrap()
            .push(job.payload["step"].as_u64().unwrap());
        let sliced = self
            .slices
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if sliced {
            return Err(JobFailure::Continue);
        }
        let failing = self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        match (failing, self.hang) {
            (true, true) => std::future::pending().await,
            (true, false) => Err(JobFailure::Retry("HTTP 503 from the endpoint".into())),
            (false, _) => Ok(()),
        }
    }
}

struct Running {
    store: Arc<dyn Store>,
    tenant: TenantId,
    runner: Arc<JobRunner>,
    outcomes: Arc<Outcomes>,
    task: tokio::task::JoinHandle<()>,
    _db: crate::common::TestDb,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn running(backend: Backend, steps: Arc<Steps>, timeout: Duration) -> Running {
    running_polling(backend, steps, timeout, Duration::from_millis(20)).await
}

async fn running_polling(
    backend: Backend,
    steps: Arc<Steps>,
    timeout: Duration,
    poll_every: Duration,
) -> Running {
    let (store, db) = open_store(backend).await;
    let tenant = store_tenant(store.as_ref()).await;
    let outcomes = Arc::new(Outcomes::default());
    let settings = RunnerSettings {
        concurrency: 4,
        poll_every,
        timeout,
        retry_base: Duration::from_millis(40),
        retry_max: Duration::from_millis(80),
    };
    let runner = Arc::new(
        JobRunner::new(
            store.clone(),
            NodeId(Uuid::now_v7()),
            settings,
            outcomes.clone(),
        )
        .handle("test.step", steps),
    );
    let task = actix_rt::spawn(runner.clone().run());
    Running {
        store,
        tenant,
        runner,
        outcomes,
        task,
        _db: db,
    }
}

impl Running {
    async fn add(&self, kind: &str, step: u64, run_at: Millis, max_attempts: u32) -> JobId {
        let new = NewJob {
            tenant: self.tenant,
            kind: kind.into(),
            payload: json!({ "step": step }),
            run_at,
            max_attempts,
            idempotency_key: None,
        };
        match self.store.add_job(&new, Millis::now()).await.unwrap() {
            Added::Added(id) => id,
            Added::Exists(id) => panic!("{id:?} existed"),
        }
    }

    async fn settled(&self, id: JobId, state: JobState) -> Job {
        until(&format!("job {state:?}"), || async {
            self.store
                .job(self.tenant, id)
                .await
                .unwrap()
                .filter(|j| j.state == state)
        })
        .await
    }
}

async fn due_jobs_run_once_each_and_a_later_one_waits_for_its_time(backend: Backend) {
    let steps = Arc::new(Steps::default());
    let run = running(backend, steps.clone(), Duration::from_secs(10)).await;
    let later = run
        .add(
            "test.step",
            99,
            Millis::now().plus(Duration::from_secs(3_600)),
            3,
        )
        .await;
    let mut ids = Vec::new();
    for step in 0..20 {
        ids.push(run.add("test.step", step, Millis::now(), 3).await);
    }
    for id in ids {
        let done = run.settled(id, JobState::Done).await;
        assert_eq!(done.attempts, 1);
    }
    let mut ran = steps.ran.lock().unwrap().clone();
    ran.sort_unstable();
    assert_eq!(ran, (0..20).collect::<Vec<u64>>());
    let waiting = run.store.job(run.tenant, later).await.unwrap().unwrap();
    assert_eq!((waiting.state, waiting.attempts), (JobState::Queued, 0));
}

async fn a_failing_job_is_retried_after_a_backoff_then_dead_and_runs_again_once_retried(
    backend: Backend,
) {
    let steps = Arc::new(Steps {
        failures: AtomicU32::new(3),
        ..Steps::default()
    });
    let run = running(backend, steps.clone(), Duration::from_secs(10)).await;
    let id = run.add("test.step", 7, Millis::now(), 3).await;
    let dead = run.settled(id, JobState::Dead).await;
    assert_eq!(dead.attempts, 3);
    assert_eq!(
        dead.last_error.as_deref(),
        Some("HTTP 503 from the endpoint")
    );
    // Each retry waited at least half its backoff (40 ms, then 80) after the failure.
    assert!(dead.updated_at.0 - dead.created_at.0 >= 20 + 40, "{dead:?}");
    assert_eq!(*run.outcomes.0.lock().unwrap(), ["retry", "retry", "dead"]);

    assert!(
        run.store
            .retry_job(run.tenant, id, Millis::now())
            .await
            .unwrap()
    );
    let done = run.settled(id, JobState::Done).await;
    assert_eq!(done.attempts, 1);
    assert_eq!(*steps.ran.lock().unwrap(), [7, 7, 7, 7]);
}

async fn a_job_done_in_slices_runs_again_at_once_without_using_its_attempts(backend: Backend) {
    let steps = Arc::new(Steps {
        slices: AtomicU32::new(3),
        ..Steps::default()
    });
    // The runner looks for due jobs only once an hour by itself: each next slice
    // starts because the one before handed the job back, not because a poll came.
    let hour = Duration::from_secs(3600);
    let run = running_polling(backend, steps.clone(), Duration::from_secs(10), hour).await;
    let id = run.add("test.step", 5, Millis::now(), 1).await;
    // The first slice: taken by this round, or by the runner's own first one.
    run.runner.round().await;
    let done = run.settled(id, JobState::Done).await;
    assert_eq!(done.attempts, 1);
    assert_eq!(*steps.ran.lock().unwrap(), [5, 5, 5, 5]);
    assert_eq!(
        *run.outcomes.0.lock().unwrap(),
        ["continue", "continue", "continue", "done"]
    );
}

async fn a_run_past_its_timeout_fails_and_the_next_attempt_finishes_it(backend: Backend) {
    let steps = Arc::new(Steps {
        failures: AtomicU32::new(1),
        hang: true,
        ..Steps::default()
    });
    let run = running(backend, steps.clone(), Duration::from_millis(200)).await;
    let id = run.add("test.step", 1, Millis::now(), 3).await;
    let done = run.settled(id, JobState::Done).await;
    assert_eq!(done.attempts, 2);
    assert_eq!(*run.outcomes.0.lock().unwrap(), ["retry", "done"]);
}

async fn a_job_of_a_kind_no_handler_runs_is_dead_at_once_saying_so(backend: Backend) {
    let run = running(backend, Arc::new(Steps::default()), Duration::from_secs(10)).await;
    let id = run.add("test.unknown", 1, Millis::now(), 5).await;
    let dead = run.settled(id, JobState::Dead).await;
    assert_eq!(dead.attempts, 1);
    assert_eq!(
        dead.last_error.as_deref(),
        Some("no handler runs jobs of kind 'test.unknown'")
    );
}

async fn a_clean_stop_hands_a_running_job_back_to_be_run_again(backend: Backend) {
    let steps = Arc::new(Steps {
        failures: AtomicU32::new(1),
        hang: true,
        ..Steps::default()
    });
    let run = running(backend, steps.clone(), Duration::from_secs(60)).await;
    let id = run.add("test.step", 1, Millis::now(), 3).await;
    run.settled(id, JobState::Running).await;
    run.task.abort();
    run.runner.shutdown().await;
    let back = run.store.job(run.tenant, id).await.unwrap().unwrap();
    assert_eq!((back.state, back.attempts), (JobState::Queued, 0));
    assert_eq!(
        run.store.job_counts(Millis::now()).await.unwrap().running,
        0
    );
}

on_both_backends!(
    due_jobs_run_once_each_and_a_later_one_waits_for_its_time,
    a_failing_job_is_retried_after_a_backoff_then_dead_and_runs_again_once_retried,
    a_run_past_its_timeout_fails_and_the_next_attempt_finishes_it,
    a_job_done_in_slices_runs_again_at_once_without_using_its_attempts,
    a_job_of_a_kind_no_handler_runs_is_dead_at_once_saying_so,
    a_clean_stop_hands_a_running_job_back_to_be_run_again,
);
