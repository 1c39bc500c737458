//! The scenarios, each selectable by name with its knobs, and what they share: the run
//! context, agent fleets, process probes and the progress line.

pub mod cluster;
pub mod e2e;
pub mod fanout;
pub mod idle;
pub mod ingest;
pub mod replies;
pub mod resume;

use crate::Peer;
use crate::agent::{Agent, Churn, Spec};
use crate::latency::Latencies;
use crate::procstat::{GroupProbe, Probe, Usage};
use crate::report::{Figure, Machine, Run, Series, Target};
use crate::setup::{Setup, Tenant};
use crate::traffic::{Correctness, Driver, Load, Outcome, Progress};
use futures_util::StreamExt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The store behind the server, for the targets that depend on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// What every scenario is given.
pub struct Context {
    pub http: reqwest::Client,
    /// Base URL of the (first) server.
    pub base: String,
    pub peer: Peer,
    /// Names the system under test in reports.
    pub label: String,
    pub backend: Option<Backend>,
    /// Processes to report CPU and memory for, by role.
    pub server_pids: Vec<u32>,
    /// Command name of the database's processes, reported together as `database`.
    pub database_process: Option<String>,
    /// Makes tenant names unique across runs.
    pub run_id: String,
    pub command: String,
    /// Print a progress line every second.
    pub progress: bool,
}

impl Context {
    pub fn new(base: &str, peer: Peer, label: &str) -> crate::Result<Self> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| e.to_string())?;
        let run_id = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_millis()
            .to_string();
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            peer,
            label: label.to_owned(),
            backend: None,
            server_pids: Vec::new(),
            database_process: None,
            run_id,
            command: String::new(),
            progress: false,
        })
    }

    pub async fn tenants(&self, count: u32, users: u32) -> crate::Result<Vec<Tenant>> {
        Setup {
            http: &self.http,
            base: &self.base,
            peer: self.peer,
            run_id: &self.run_id,
        }
        .tenants(count, users)
        .await
    }

    /// Starts measuring the servers and the generator.
    pub fn probes(&self) -> Probes {
        let mut probes: Vec<Probe> = self
            .server_pids
            .iter()
            .enumerate()
            .filter_map(|(i, &pid)| {
                let role = if self.server_pids.len() > 1 {
                    format!("server {}", i + 1)
                } else {
                    "server".to_owned()
                };
                Probe::start(&role, pid)
            })
            .collect();
        probes.extend(Probe::start("generator", std::process::id()));
        let database = self
            .database_process
            .as_deref()
            .and_then(|name| GroupProbe::start("database", name));
        Probes(probes, database)
    }

    pub fn run(&self, scenario: &str, parts: Parts) -> Run {
        Run {
            scenario: scenario.into(),
            label: self.label.clone(),
            peer: self.peer,
            started_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default(),
            command: self.command.clone(),
            machine: Machine::read(),
            figures: parts.figures,
            latencies: parts.latencies,
            correctness: parts.correctness,
            processes: parts.processes,
            targets: parts.targets,
            notes: parts.notes,
        }
    }

    /// Prints sent/acked/in flight every second until the returned guard is dropped.
    pub fn progress_line(&self, progress: &Arc<Progress>) -> ProgressLine {
        if !self.progress {
            return ProgressLine(None);
        }
        let progress = progress.clone();
        let started = Instant::now();
        ProgressLine(Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                eprintln!(
                    "  {:>4.0}s  sent {}  acked {}  in flight {}",
                    started.elapsed().as_secs_f64(),
                    progress.sent.load(Ordering::Relaxed),
                    progress.acked.load(Ordering::Relaxed),
                    progress.in_flight.load(Ordering::Relaxed)
                );
            }
        })))
    }
}

pub struct ProgressLine(Option<tokio::task::JoinHandle<()>>);

impl Drop for ProgressLine {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

pub struct Probes(Vec<Probe>, Option<GroupProbe>);

impl Probes {
    pub fn finish(&self) -> Vec<Usage> {
        self.0
            .iter()
            .filter_map(Probe::finish)
            .chain(self.1.as_ref().and_then(GroupProbe::finish))
            .collect()
    }
}

/// The pieces of a report a scenario fills in.
#[derive(Default)]
pub struct Parts {
    pub figures: Vec<Figure>,
    pub latencies: Vec<Series>,
    pub correctness: Correctness,
    pub processes: Vec<Usage>,
    pub targets: Vec<Target>,
    pub notes: Vec<String>,
}

/// `ws://` for an `http://` base.
pub fn ws_base(http_base: &str) -> String {
    http_base.replacen("http", "ws", 1)
}

/// How a fleet of agents is laid out.
pub struct Fleet<'a> {
    pub tenants: &'a [Tenant],
    pub per_tenant: usize,
    /// Server bases the agents are spread over, round robin.
    pub nodes: &'a [String],
    pub peer: Peer,
    pub reply_every: u32,
    pub churn: Option<(Duration, Duration)>,
    /// Handshakes in flight at once.
    pub concurrency: usize,
}

impl<'a> Fleet<'a> {
    /// `per_tenant` agents per tenant on the context's server: no replies, no churn.
    pub fn on(ctx: &'a Context, tenants: &'a [Tenant], per_tenant: usize) -> Self {
        Self {
            tenants,
            per_tenant,
            nodes: std::slice::from_ref(&ctx.base),
            peer: ctx.peer,
            reply_every: 0,
            churn: None,
            concurrency: 16,
        }
    }

    /// Connects every agent; returns them, the handshake latencies and how long it took.
    pub async fn connect(&self) -> crate::Result<(Vec<Agent>, Latencies, Duration)> {
        let total = self.tenants.len() * self.per_tenant;
        let mut specs = Vec::with_capacity(total);
        for tenant in self.tenants {
            for i in 0..self.per_tenant {
                let n = specs.len();
                let node = n % self.nodes.len().max(1);
                let token = &tenant.agent_tokens[i % tenant.agent_tokens.len().max(1)];
                specs.push(Spec {
                    tenant: tenant.index,
                    node,
                    ws_base: ws_base(self.nodes.get(node).ok_or("no server to connect to")?),
                    token: token.clone(),
                    peer: self.peer,
                    // One agent per tenant answers customers.
                    reply_every: if i == 0 { self.reply_every } else { 0 },
                    churn: self.churn.map(|(every, gap)| Churn {
                        every,
                        gap,
                        // Spread the drops so some agent is always away.
                        phase: every.mul_f64(n as f64 / total.max(1) as f64),
                    }),
                });
            }
        }
        let started = Instant::now();
        let results: Vec<crate::Result<(Agent, Duration)>> = futures_util::stream::iter(specs)
            .map(Agent::connect)
            .buffer_unordered(self.concurrency.max(1))
            .collect()
            .await;
        let elapsed = started.elapsed();
        let mut handshakes = Latencies::new()?;
        let mut agents = Vec::with_capacity(results.len());
        for result in results {
            let (agent, took) = result?;
            handshakes.record_us(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
            agents.push(agent);
        }
        // `buffer_unordered` finishes in any order; keep tenants together for reports.
        agents.sort_by_key(|a| a.tenant);
        Ok((agents, handshakes, elapsed))
    }
}

/// A traffic run under way: the driver, the progress line and the process probes.
pub struct Session {
    pub driver: Driver,
    pub probes: Probes,
    _progress: ProgressLine,
}

impl Context {
    /// Starts sending to `tenants` from `customers` customers each, and measuring.
    pub fn session(&self, tenants: Vec<Tenant>, customers: u32) -> Session {
        let driver = Driver::new(self.http.clone(), &self.base, tenants, customers);
        Session {
            _progress: self.progress_line(&driver.progress),
            probes: self.probes(),
            driver,
        }
    }
}

impl Parts {
    /// What a traffic outcome says in any scenario: correctness, sends that failed,
    /// and the processes' usage.
    pub fn traffic(outcome: &Outcome, probes: &Probes) -> Self {
        Self {
            processes: probes.finish(),
            correctness: outcome.correctness.clone(),
            notes: send_notes(outcome),
            ..Self::default()
        }
    }
}

/// How long agents may take to receive what was acknowledged before the rest counts as
/// lost.
pub const DRAIN: Duration = Duration::from_secs(10);

/// A warm-up stretch (discarded) and then the measured one.
/// Warms up (when `warmup` is not zero), then runs `load` and analyses it. The
/// session's probes start again after the warm-up, so CPU figures cover the measured
/// traffic only.
pub async fn measured(
    ctx: &Context,
    session: &mut Session,
    agents: &[Agent],
    load: Load,
    warmup: Duration,
    nodes: usize,
) -> crate::Result<Outcome> {
    if !warmup.is_zero() {
        warm_up(
            &session.driver,
            agents,
            Load {
                duration: warmup,
                ..load
            },
        )
        .await?;
        session.probes = ctx.probes();
    }
    let ledger = session.driver.drive(load).await?;
    crate::traffic::settle(agents, &ledger, DRAIN).await;
    crate::traffic::analyze(&ledger, agents, nodes)
}

/// Sends `load` and waits for it to arrive, then forgets it: agents' logs start empty.
pub async fn warm_up(driver: &Driver, agents: &[Agent], load: Load) -> crate::Result<()> {
    let ledger = driver.drive(load).await?;
    crate::traffic::settle(agents, &ledger, DRAIN).await;
    for agent in agents {
        agent.take_log()?;
    }
    Ok(())
}

pub async fn close_all(agents: Vec<Agent>) {
    futures_util::future::join_all(agents.into_iter().map(Agent::close)).await;
}

/// A process's CPU time per unit of work (a message, a delivery), in µs; `None` when
/// there was no work.
pub fn cpu_micros_per(usage: &Usage, count: u64) -> Option<f64> {
    (count > 0).then(|| usage.cpu_seconds * 1e6 / count as f64)
}

/// Each measured process's CPU time per unit of work, as figures.
pub fn cpu_figures(processes: &[Usage], count: u64, per: &str) -> Vec<Figure> {
    processes
        .iter()
        .filter_map(|usage| {
            let micros = cpu_micros_per(usage, count)?;
            Some(Figure::less(
                &format!("{} CPU per {per}", usage.role),
                micros,
                "µs",
            ))
        })
        .collect()
}

/// The figures every traffic scenario reports.
pub fn traffic_figures(outcome: &Outcome) -> Vec<Figure> {
    vec![
        Figure::more("acknowledged", outcome.acked_per_second(), "msg/s"),
        Figure::more("deliveries", outcome.deliveries_per_second(), "/s"),
        Figure::less(
            "failed or skipped sends",
            (outcome.offered - outcome.acked) as f64,
            "msgs",
        ),
    ]
}

/// Statuses other than 200, and sends the generator could not make, as notes.
pub fn send_notes(outcome: &Outcome) -> Vec<String> {
    let mut notes = Vec::new();
    let others: Vec<String> = outcome
        .statuses
        .iter()
        .filter(|(s, _)| **s != 200)
        .map(|(s, n)| format!("{n}× {s}"))
        .collect();
    if !others.is_empty() || outcome.transport_errors > 0 {
        notes.push(format!(
            "Not acknowledged: {} ({} transport errors).",
            if others.is_empty() {
                "none".into()
            } else {
                others.join(", ")
            },
            outcome.transport_errors
        ));
    }
    if outcome.skipped > 0 {
        notes.push(format!(
            "{} sends were not made: the generator had 20,000 in flight (the server stopped keeping up).",
            outcome.skipped
        ));
    }
    notes
}
