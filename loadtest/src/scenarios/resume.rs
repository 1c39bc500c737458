//! `resume`: agents drop their connections (no close frame, as a lost network does) and
//! come back while traffic flows, resuming from the last position they processed. Every
//! acknowledged message must still reach every agent once and in order: gaps must be 0.

use super::{Context, Fleet, Parts, close_all, measured, traffic_figures};
use crate::report::{Figure, Run, Series, Target};
use crate::traffic::Load;
use std::time::Duration;

#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    #[arg(long, default_value_t = 10)]
    pub agents: usize,
    #[arg(long, default_value_t = 2)]
    pub users: u32,
    #[arg(long, default_value_t = 200)]
    pub rate: u64,
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Each agent drops its connection this often (ms).
    #[arg(long, default_value_t = 1000)]
    pub churn_ms: u64,
    /// And stays away this long (ms).
    #[arg(long, default_value_t = 200)]
    pub gap_ms: u64,
    #[arg(long, default_value_t = 50)]
    pub customers: u32,
}

pub async fn run(ctx: &Context, args: &Args) -> crate::Result<Run> {
    let tenants = ctx.tenants(1, args.users).await?;
    let (agents, _, _) = Fleet {
        churn: Some((
            Duration::from_millis(args.churn_ms.max(1)),
            Duration::from_millis(args.gap_ms),
        )),
        ..Fleet::on(ctx, &tenants, args.agents)
    }
    .connect()
    .await?;
    let mut session = ctx.session(tenants, args.customers);
    let load = Load::open_loop(args.rate, args.duration);
    let outcome = measured(ctx, &mut session, &agents, load, Duration::ZERO, 1).await?;
    let mut parts = Parts::traffic(&outcome, &session.probes);
    close_all(agents).await;
    let c = &outcome.correctness;
    let gaps = c.lost + c.duplicated + c.out_of_order;
    let mut figures = vec![
        Figure::less("gaps (lost + duplicated + out of order)", gaps as f64, ""),
        Figure::more("reconnects", c.reconnects as f64, ""),
    ];
    figures.extend(traffic_figures(&outcome));
    parts.figures = figures;
    parts.latencies.push(Series::new(
        "webhook → agent socket (live and replayed)",
        outcome.e2e.clone(),
    ));
    parts.targets.push(Target::at_most(
        "gaps after reconnects",
        0.0,
        gaps as f64,
        "",
    ));
    parts.notes.push(format!(
        "Each agent dropped its connection every {} ms and came back after {} ms; {} resumes were answered with `reset` instead of a replay.",
        args.churn_ms, args.gap_ms, c.resets
    ));
    Ok(ctx.run("resume", parts))
}
