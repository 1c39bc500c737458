//! `cluster`: agents split over two nodes, webhooks into the first. The extra latency of
//! the Redis hop is the p99 on the second node's agents minus the p99 on the first's,
//! measured in the same run from the same messages.

use super::{Context, Fleet, Parts, close_all, measured, traffic_figures};
use crate::report::{Figure, Run, Series, Target};
use crate::traffic::Load;
use std::time::Duration;

#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// Base URL of the second node (same database, same bus).
    #[arg(long)]
    pub url2: String,
    /// Agent sockets, alternating between the nodes.
    #[arg(long, default_value_t = 10)]
    pub agents: usize,
    #[arg(long, default_value_t = 2)]
    pub users: u32,
    #[arg(long, default_value_t = 170)]
    pub rate: u64,
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    #[arg(long, default_value_t = 2)]
    pub warmup: u64,
    #[arg(long, default_value_t = 50)]
    pub customers: u32,
}

pub async fn run(ctx: &Context, args: &Args) -> crate::Result<Run> {
    let tenants = ctx.tenants(1, args.users).await?;
    let nodes = [ctx.base.clone(), args.url2.trim_end_matches('/').to_owned()];
    let (agents, _, _) = Fleet {
        nodes: &nodes,
        ..Fleet::on(ctx, &tenants, args.agents.max(2))
    }
    .connect()
    .await?;
    let mut session = ctx.session(tenants, args.customers);
    let load = Load::open_loop(args.rate, args.duration);
    let outcome = measured(
        ctx,
        &mut session,
        &agents,
        load,
        Duration::from_secs(args.warmup),
        2,
    )
    .await?;
    let mut parts = Parts::traffic(&outcome, &session.probes);
    close_all(agents).await;
    let (local, remote) = match outcome.per_node.as_slice() {
        [a, b] => (a.clone(), b.clone()),
        _ => return Err("expected agents on two nodes".into()),
    };
    let hop = remote.p99_ms - local.p99_ms;
    let mut figures = vec![Figure::less("Redis hop, p99 remote − p99 local", hop, "ms")];
    figures.extend(traffic_figures(&outcome));
    parts.figures = figures;
    parts
        .latencies
        .push(Series::new("webhook → agent on the other node", remote));
    parts
        .latencies
        .push(Series::new("webhook → agent on the receiving node", local));
    parts
        .latencies
        .push(Series::new("webhook ack", outcome.ack.clone()));
    parts.targets.push(Target::at_most(
        "two nodes via Redis: added p99",
        1.0,
        hop,
        "ms",
    ));
    Ok(ctx.run("cluster", parts))
}
