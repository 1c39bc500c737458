//! Durable jobs draining: `JOBS` (default 10,000) steps all due at once, run by one
//! node's `JobRunner` with the server's default concurrency (16) and a handler that
//! does nothing, so the figures are the runner's and the store's own: drain time,
//! throughput, and each job's lag (due → settled) at p50, p99 and max.
//!
//! `cargo bench --bench jobs` (env `JOBS`, `REPS` default 3). SQLite in a temporary
//! directory, and Postgres at `BENCH_DATABASE_URL` when it is set (its migrations are
//! run; each repetition uses a tenant of its own, done jobs are pruned after). A
//! benchmark, not a test: it prints figures and asserts nothing.

use async_trait::async_trait;
use serde_json::json;
use std::error::Error;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchboard::store::{PostgresStore, SqliteStore};
use switchboard_actors::inbox::bus::NodeId;
use switchboard_actors::jobs::runner::{
    JobFailure, JobHandler, JobObserver, JobRunner, RunnerSettings,
};
use switchboard_actors::jobs::{Job, JobCounts, NewJob};
use switchboard_actors::store::{Store, Tenant, User};
use switchboard_actors::{Email, Millis, Role, TenantId, UserId, UserStatus};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

struct Nothing;

#[async_trait]
impl JobHandler for Nothing {
    async fn run(&self, _: &Job) -> std::result::Result<(), JobFailure> {
        Ok(())
    }
}

/// When each run was settled.
#[derive(Default)]
struct Settled {
    at: Mutex<Vec<Instant>>,
    /// Told after each settled run, so the drain is waited on, not polled.
    changed: tokio::sync::Notify,
}

impl JobObserver for Settled {
    fn finished(&self, _: &str, _: &'static str, _: f64) {
        if let Ok(mut at) = self.at.lock() {
            at.push(Instant::now());
        }
        self.changed.notify_one();
    }

    fn counts(&self, _: JobCounts) {}
}

struct Figures {
    drain: Duration,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

async fn tenant(store: &dyn Store) -> Result<TenantId> {
    let id = TenantId::new();
    let slug = format!("bench{}", &id.0.simple().to_string()[20..]);
    let tenant = Tenant {
        id,
        slug: slug.clone(),
        name: "Bench".into(),
        created_at: Millis::now(),
    };
    let owner = User {
        tenant_id: id,
        id: UserId::new(),
        email: Email::parse(&format!("owner@{slug}.test"))?,
        name: "Owner".into(),
        role: Role::Owner,
        status: UserStatus::Active,
        password_hash: None,
        created_at: Millis::now(),
        updated_at: Millis::now(),
    };
    store.create_tenant(&tenant, &owner).await?;
    Ok(id)
}

async fn drain(store: Arc<dyn Store>, jobs: usize) -> Result<Figures> {
    let tenant = tenant(store.as_ref()).await?;
    let due = Millis::now();
    for step in 0..jobs {
        let job = NewJob {
            tenant,
            kind: "bench.step".into(),
            payload: json!({ "step": step }),
            run_at: due,
            max_attempts: 3,
            idempotency_key: Some(format!("step-{step}")),
        };
        store.add_job(&job, due).await?;
    }
    let settled = Arc::new(Settled::default());
    let runner = Arc::new(
        JobRunner::new(
            store.clone(),
            NodeId(uuid::Uuid::now_v7()),
            RunnerSettings {
                concurrency: 16,
                poll_every: Duration::from_millis(250),
                timeout: Duration::from_secs(60),
                retry_base: Duration::from_secs(10),
                retry_max: Duration::from_secs(3_600),
            },
            settled.clone(),
        )
        .handle("bench.step", Arc::new(Nothing)),
    );
    let started = Instant::now();
    let task = actix_rt::spawn(runner.clone().run());
    while settled.at.lock().map(|s| s.len()).unwrap_or_default() < jobs {
        settled.changed.notified().await;
    }
    task.abort();
    runner.shutdown().await;
    let mut lags: Vec<Duration> = settled
        .at
        .lock()
        .map(|s| s.iter().map(|at| at.duration_since(started)).collect())
        .unwrap_or_default();
    lags.sort();
    let at = |q: f64| lags[((lags.len() as f64 * q) as usize).min(lags.len() - 1)];
    store
        .prune_done_jobs(Millis::now().plus(Duration::from_secs(1)))
        .await?;
    Ok(Figures {
        drain: started.elapsed(),
        p50: at(0.5),
        p99: at(0.99),
        max: at(1.0),
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

async fn bench(name: &str, store: Arc<dyn Store>, jobs: usize, reps: usize) -> Result<()> {
    let mut runs = Vec::new();
    for rep in 1..=reps {
        let figures = drain(store.clone(), jobs).await?;
        println!(
            "{name} run {rep}: {jobs} jobs drained in {:.2} s ({:.0} jobs/s); lag p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            figures.drain.as_secs_f64(),
            jobs as f64 / figures.drain.as_secs_f64(),
            figures.p50.as_secs_f64() * 1e3,
            figures.p99.as_secs_f64() * 1e3,
            figures.max.as_secs_f64() * 1e3,
        );
        runs.push(figures);
    }
    let of =
        |f: fn(&Figures) -> Duration| median(runs.iter().map(|r| f(r).as_secs_f64()).collect());
    println!(
        "{name} median of {reps}: drain {:.2} s, {:.0} jobs/s, lag p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        of(|r| r.drain),
        jobs as f64 / of(|r| r.drain),
        of(|r| r.p50) * 1e3,
        of(|r| r.p99) * 1e3,
        of(|r| r.max) * 1e3,
    );
    Ok(())
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[actix_rt::main]
async fn main() -> Result<()> {
    let jobs = env_number("JOBS", 10_000).max(1);
    let reps = env_number("REPS", 3).max(1);
    let dir = tempfile::tempdir()?;
    let sqlite: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("jobs.db"), 4, true).await?);
    bench("sqlite", sqlite, jobs, reps).await?;
    match std::env::var("BENCH_DATABASE_URL") {
        Ok(url) if !url.is_empty() => {
            let postgres: Arc<dyn Store> = Arc::new(PostgresStore::connect(&url, 16).await?);
            bench("postgres", postgres, jobs, reps).await?;
        }
        _ => println!("postgres: skipped (set BENCH_DATABASE_URL to run it)"),
    }
    Ok(())
}
