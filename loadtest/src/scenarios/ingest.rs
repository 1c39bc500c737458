//! `ingest`: signed WhatsApp Cloud webhooks at a fixed rate (open loop), or closed loop
//! to saturation with `--rate 0`. Reports acknowledgement latency against `GET /health`
//! on the same schedule, and throughput. One observer agent per tenant checks that every
//! acknowledged message reached the inbox once, in order. With `--pipeline`, customers
//! write sentences people write, and the agents time each message's `message.insights`
//! after its delivery: the pipeline's lag, and how long after the last delivery it
//! caught up.

use super::{Backend, Context, Fleet, Parts, close_all, cpu_figures, measured, traffic_figures};
use crate::agent::Agent;
use crate::latency::Latencies;
use crate::report::{Figure, Run, Series, Target};
use crate::traffic::Load;
use std::time::{Duration, Instant};

#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// Deliveries per second, open loop; 0 for closed loop at `--concurrency`.
    #[arg(long, default_value_t = 600)]
    pub rate: u64,
    /// Clients sending back to back when `--rate 0`.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Seconds measured.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Seconds of the same load first, not measured (creates contacts and conversations).
    #[arg(long, default_value_t = 2)]
    pub warmup: u64,
    #[arg(long, default_value_t = 1)]
    pub tenants: u32,
    /// Distinct customers per tenant.
    #[arg(long, default_value_t = 100)]
    pub customers: u32,
    /// Customers write sentences people write (not the bare marker).
    #[arg(long)]
    pub sentences: bool,
    /// Measure the inbound pipeline (Switchboard only): lag and catch-up. Implies
    /// `--sentences`.
    #[arg(long)]
    pub pipeline: bool,
}

/// What customers say with `--pipeline`, in turn: buying, complaining, greeting, asking
/// for a person, support, in the pipeline's five languages.
const CUSTOMERS_SAY: &[&str] = &[
    "Hi, how much is the Pro plan? Is it available today?",
    "My order arrived broken and nobody answers, this is terrible",
    "Hello! Do you ship to Lisbon?",
    "Can I talk to a human please?",
    "Quiero saber el precio del plan anual",
    "Ist die Jacke in Größe M lieferbar?",
    "Obrigado, foi muito útil",
    "Where is my package? I ordered last week",
];

/// Longest the pipeline is waited for after the last delivery.
const CATCH_UP: Duration = Duration::from_secs(300);

pub async fn run(ctx: &Context, args: &Args) -> crate::Result<Run> {
    let tenants = ctx.tenants(args.tenants, 1).await?;
    let (agents, _, _) = Fleet::on(ctx, &tenants, 1).connect().await?;
    let mut session = ctx.session(tenants, args.customers);
    if args.sentences || args.pipeline {
        session.driver.say(CUSTOMERS_SAY);
    }
    let load = Load {
        rate: args.rate,
        concurrency: args.concurrency,
        duration: Duration::from_secs(args.duration),
    };
    let outcome = measured(
        ctx,
        &mut session,
        &agents,
        load,
        Duration::from_secs(args.warmup),
        1,
    )
    .await?;
    let mut parts = Parts::traffic(&outcome, &session.probes);
    let pipeline = if args.pipeline {
        Some(pipeline_caught_up(&agents).await?)
    } else {
        None
    };
    close_all(agents).await;

    let mut figures = traffic_figures(&outcome);
    figures.truncate(1);
    figures.push(Figure::less("ack p99", outcome.ack.p99_ms, "ms"));
    figures.push(Figure::less("delivery p99", outcome.e2e.p99_ms, "ms"));
    if args.rate > 0 && outcome.health.count > 0 {
        figures.push(Figure::less(
            "ack p99 / health p99",
            outcome.ack.p99_ms / outcome.health.p99_ms.max(0.001),
            "",
        ));
    }
    figures.extend(cpu_figures(&parts.processes, outcome.acked, "message"));
    parts.figures = figures;
    parts
        .latencies
        .push(Series::new("webhook ack", outcome.ack.clone()));
    if outcome.health.count > 0 {
        parts.latencies.push(Series::new(
            "GET /health (reference)",
            outcome.health.clone(),
        ));
    }
    if let Some(pipeline) = pipeline {
        pipeline.report(&mut parts);
    }
    if args.rate == 0 {
        let bar = match ctx.backend {
            Some(Backend::Postgres) => Some(("webhook ingest on Postgres", 8_000.0)),
            Some(Backend::Sqlite) => Some(("webhook ingest on SQLite", 15_000.0)),
            None => None,
        };
        if let Some((what, bar)) = bar {
            parts.targets.push(Target::at_least(
                what,
                bar,
                outcome.acked_per_second(),
                "msg/s",
            ));
        }
        parts.notes.push(format!(
            "Closed loop: {} clients each sending the next delivery when the last one is answered.",
            args.concurrency
        ));
    } else {
        parts.targets.push(Target::at_most(
            &format!("p99 ack at {}/s (the bar is set at 600/s)", args.rate),
            5.0,
            outcome.ack.p99_ms,
            "ms",
        ));
    }
    Ok(ctx.run("ingest", parts))
}

/// How the pipeline kept up: each message's lag from delivery to insight, and how long
/// after the last delivery the last insight came.
struct PipelineLag {
    lags: Latencies,
    caught_up: Duration,
    left: usize,
}

async fn pipeline_caught_up(agents: &[Agent]) -> crate::Result<PipelineLag> {
    let started = Instant::now();
    let waiting = || {
        agents
            .iter()
            .filter(|a| a.failure().is_none())
            .map(Agent::insights_waiting)
            .sum::<usize>()
    };
    while waiting() > 0 && started.elapsed() < CATCH_UP {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut lags = Latencies::new()?;
    for agent in agents {
        lags.add(&agent.take_insight_lags()?)?;
    }
    Ok(PipelineLag {
        lags,
        caught_up: started.elapsed(),
        left: waiting(),
    })
}

impl PipelineLag {
    fn report(self, parts: &mut Parts) {
        let summary = self.lags.summary();
        parts
            .figures
            .push(Figure::less("pipeline lag p99", summary.p99_ms, "ms"));
        parts.figures.push(Figure::less(
            "pipeline caught up after the last delivery",
            self.caught_up.as_secs_f64() * 1000.0,
            "ms",
        ));
        parts.figures.push(Figure::more(
            "messages analysed",
            self.lags.len() as f64,
            "msgs",
        ));
        parts.notes.push(format!(
            "Pipeline lag: from a customer message reaching the agent to its `message.insights`, over every message of the run (warm-up included); {} still waiting after {} s.",
            self.left,
            CATCH_UP.as_secs()
        ));
        parts
            .latencies
            .push(Series::new("pipeline lag (delivery to insight)", summary));
    }
}
