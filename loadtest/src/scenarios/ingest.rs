//! `ingest`: signed WhatsApp Cloud webhooks at a fixed rate (open loop), or closed loop
//! to saturation with `--rate 0`. Reports acknowledgement latency against `GET /health`
//! on the same schedule, and throughput. One observer agent per tenant checks that every
//! acknowledged message reached the inbox once, in order.

use super::{Backend, Context, Fleet, Parts, close_all, cpu_figures, measured, traffic_figures};
use crate::report::{Figure, Run, Series, Target};
use crate::traffic::Load;
use std::time::Duration;

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
}

pub async fn run(ctx: &Context, args: &Args) -> crate::Result<Run> {
    let tenants = ctx.tenants(args.tenants, 1).await?;
    let (agents, _, _) = Fleet::on(ctx, &tenants, 1).connect().await?;
    let mut session = ctx.session(tenants, args.customers);
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
    close_all(agents).await;

    let mut figures = traffic_figures(&outcome);
    figures.truncate(1);
    figures.push(Figure::less("ack p99", outcome.ack.p99_ms, "ms"));
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
