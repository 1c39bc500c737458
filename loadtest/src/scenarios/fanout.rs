//! `fanout`: one tenant, M agents, every customer message delivered to all of them, at
//! rising rates until the p99 latency to the *last* recipient of a message exceeds the
//! bound (50 ms). The figure is the highest delivery rate that stayed within it, with
//! the CPU each process spent per delivery at that step.

use super::{Context, DRAIN, Fleet, Parts, close_all, cpu_figures, cpu_micros_per, warm_up};
use crate::procstat::Usage;
use crate::report::{Figure, Run, Series, Target};
use crate::traffic::{Correctness, Load, Outcome, analyze, settle};
use std::fmt::Write as _;

#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// Agent sockets, all in one tenant.
    #[arg(long, default_value_t = 1000)]
    pub agents: usize,
    /// Distinct agent users the sockets are spread over.
    #[arg(long, default_value_t = 10)]
    pub users: u32,
    /// First rate, messages per second: low enough that the first step passes.
    #[arg(long, default_value_t = 5)]
    pub start_rate: u64,
    /// Each step multiplies the rate by this.
    #[arg(long, default_value_t = 1.5)]
    pub factor: f64,
    /// No step beyond this rate.
    #[arg(long, default_value_t = 5_000)]
    pub max_rate: u64,
    /// Seconds per step.
    #[arg(long, default_value_t = 5)]
    pub step: u64,
    /// p99 to the last recipient that ends the climb, in ms.
    #[arg(long, default_value_t = 50.0)]
    pub bound_ms: f64,
    #[arg(long, default_value_t = 20)]
    pub customers: u32,
    /// Seconds of traffic at the first rate before the climb, not measured: a fresh
    /// server's first messages (caches, actors, connections) say nothing about fan-out.
    #[arg(long, default_value_t = 2)]
    pub warmup: u64,
}

pub async fn run(ctx: &Context, args: &Args) -> crate::Result<Run> {
    let tenants = ctx.tenants(1, args.users).await?;
    let (agents, _, _) = Fleet {
        concurrency: 50,
        ..Fleet::on(ctx, &tenants, args.agents)
    }
    .connect()
    .await?;
    let session = ctx.session(tenants, args.customers);
    let (driver, probes) = (&session.driver, &session.probes);
    if args.warmup > 0 {
        let load = Load::open_loop(args.start_rate.max(1), args.warmup);
        warm_up(driver, &agents, load).await?;
    }
    let mut steps: Vec<(u64, Outcome, Vec<Usage>)> = Vec::new();
    let mut correctness = Correctness::default();
    let mut rate = args.start_rate.max(1);
    loop {
        let step_probes = ctx.probes();
        let ledger = driver.drive(Load::open_loop(rate, args.step)).await?;
        settle(&agents, &ledger, DRAIN).await;
        let usage = step_probes.finish();
        let outcome = analyze(&ledger, &agents, 1)?;
        correctness.add(&outcome.correctness);
        let over = outcome.last_recipient.p99_ms > args.bound_ms
            || outcome.correctness.errors() > 0
            || outcome.acked < outcome.offered;
        if ctx.progress {
            eprintln!(
                "  {rate} msg/s: last recipient p99 {:.2} ms, {:.0} deliveries/s",
                outcome.last_recipient.p99_ms,
                outcome.deliveries_per_second()
            );
        }
        steps.push((rate, outcome, usage));
        let next = ((rate as f64) * args.factor).ceil() as u64;
        if over || next > args.max_rate || next == rate {
            break;
        }
        rate = next;
    }
    let mut parts = Parts {
        processes: probes.finish(),
        correctness,
        ..Parts::default()
    };
    close_all(agents).await;

    let within = |o: &Outcome| {
        o.last_recipient.p99_ms <= args.bound_ms
            && o.correctness.errors() == 0
            && o.acked == o.offered
    };
    let best = steps
        .iter()
        .filter(|(_, o, _)| within(o))
        .max_by_key(|(r, _, _)| *r);
    let mut table = String::from(
        "| Rate msg/s | Deliveries/s | Last recipient p50 / p99 ms | Every delivery p99 ms | Ack p99 ms | Server CPU µs per delivery | Errors |\n|---|---|---|---|---|---|---|\n",
    );
    for (rate, o, usage) in &steps {
        let server = usage
            .iter()
            .find(|u| u.role == "server")
            .and_then(|u| cpu_micros_per(u, o.correctness.delivered));
        let _ = writeln!(
            table,
            "| {rate} | {:.0} | {:.2} / {:.2} | {:.2} | {:.2} | {} | {} |",
            o.deliveries_per_second(),
            o.last_recipient.p50_ms,
            o.last_recipient.p99_ms,
            o.e2e.p99_ms,
            o.ack.p99_ms,
            server.map_or("–".to_owned(), |micros| format!("{micros:.2}")),
            o.correctness.errors() + (o.offered - o.acked)
        );
    }
    let deliveries = best.map_or(0.0, |(_, o, _)| o.deliveries_per_second());
    parts.figures = vec![
        Figure::more(
            &format!("deliveries with last-recipient p99 ≤ {} ms", args.bound_ms),
            deliveries,
            "/s",
        ),
        Figure::more(
            "highest rate within the bound",
            best.map_or(0.0, |(r, _, _)| *r as f64),
            "msg/s",
        ),
        Figure::more("agents", args.agents as f64, ""),
    ];
    if let Some((_, o, usage)) = best {
        parts
            .figures
            .extend(cpu_figures(usage, o.correctness.delivered, "delivery"));
    }
    if let Some((rate, o, _)) = best {
        parts.latencies.push(Series::new(
            &format!("last recipient at {rate} msg/s"),
            o.last_recipient.clone(),
        ));
        parts.latencies.push(Series::new(
            &format!("every delivery at {rate} msg/s"),
            o.e2e.clone(),
        ));
    }
    parts.targets.push(Target::at_least(
        &format!(
            "fan-out deliveries/s to {} agents (bar set at 1k agents)",
            args.agents
        ),
        200_000.0,
        deliveries,
        "/s",
    ));
    parts.notes.push(format!(
        "Steps of {} s from {} msg/s, ×{} each, until the p99 to the last recipient passed {} ms, a delivery went wrong or a send failed:\n\n{table}",
        args.step, args.start_rate, args.factor, args.bound_ms
    ));
    Ok(ctx.run("fanout", parts))
}
