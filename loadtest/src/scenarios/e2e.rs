//! `e2e`: tenants × agents, webhooks in at a fixed rate, latency from the intended send
//! to the arrival on every agent socket. One agent per tenant replies to every
//! `--reply-every`th message; the reply's latency runs from the agent's send to its
//! arrival at the fake provider (which the server must be pointed at).

use super::{
    Context, DRAIN, Fleet, Parts, close_all, cpu_figures, measured, send_notes, traffic_figures,
};
use crate::provider::Provider;
use crate::report::{Figure, Run, Series, Target};
use crate::traffic::Load;
use std::time::{Duration, Instant};

#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    #[arg(long, default_value_t = 1)]
    pub tenants: u32,
    /// Agent sockets per tenant.
    #[arg(long, default_value_t = 10)]
    pub agents: usize,
    /// Distinct agent users per tenant the sockets are spread over.
    #[arg(long, default_value_t = 3)]
    pub users: u32,
    /// Customer messages per second over all tenants, open loop.
    #[arg(long, default_value_t = 170)]
    pub rate: u64,
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    #[arg(long, default_value_t = 2)]
    pub warmup: u64,
    /// Distinct customers per tenant.
    #[arg(long, default_value_t = 50)]
    pub customers: u32,
    /// One agent per tenant replies to every Nth message of each customer (0: no replies).
    #[arg(long, default_value_t = 10)]
    pub reply_every: u32,
    /// Where the fake WhatsApp provider listens; start the server with
    /// `SWITCHBOARD_CHANNELS__GRAPH_BASE_URL=http://<this>`.
    #[arg(long, default_value = "127.0.0.1:9900")]
    pub provider: String,
}

pub async fn run(ctx: &Context, args: &Args) -> crate::Result<Run> {
    let provider = if args.reply_every > 0 {
        Some(Provider::start(&args.provider).await?)
    } else {
        None
    };
    run_with(ctx, args, provider.as_ref()).await
}

/// `run` with a provider that is already listening (`args.provider` is not used).
pub async fn run_with(
    ctx: &Context,
    args: &Args,
    provider: Option<&Provider>,
) -> crate::Result<Run> {
    let tenants = ctx.tenants(args.tenants, args.users).await?;
    let (agents, _, _) = Fleet {
        reply_every: args.reply_every,
        concurrency: 32,
        ..Fleet::on(ctx, &tenants, args.agents)
    }
    .connect()
    .await?;
    let mut session = ctx.session(tenants, args.customers);
    let load = Load::open_loop(args.rate, args.duration);
    if args.warmup > 0 {
        // Warm up by hand so that replies to warm-up messages are out of the way before
        // the provider starts counting.
        let ledger = session
            .driver
            .drive(Load {
                duration: Duration::from_secs(args.warmup),
                ..load
            })
            .await?;
        crate::traffic::settle(&agents, &ledger, DRAIN).await;
        let warm = crate::traffic::analyze(&ledger, &agents, 1)?;
        if let Some(provider) = provider {
            wait_for_replies(provider, warm.replies_sent).await?;
        }
        session.probes = ctx.probes();
    }
    let outcome = measured(ctx, &mut session, &agents, load, Duration::ZERO, 1).await?;
    let mut parts = Parts {
        correctness: outcome.correctness.clone(),
        notes: send_notes(&outcome),
        ..Parts::default()
    };
    let mut figures = traffic_figures(&outcome);
    figures.insert(1, Figure::less("e2e p99", outcome.e2e.p99_ms, "ms"));
    parts
        .latencies
        .push(Series::new("webhook → agent socket", outcome.e2e.clone()));
    parts
        .latencies
        .push(Series::new("webhook ack", outcome.ack.clone()));
    if let Some(provider) = provider {
        let replies = wait_for_replies(provider, outcome.replies_sent).await?;
        let lost = outcome
            .replies_sent
            .saturating_sub(replies.keys.len() as u64);
        parts.correctness.lost += lost;
        parts.correctness.duplicated += replies.duplicates;
        figures.push(Figure::less("reply p99", replies.latencies.p99_ms(), "ms"));
        parts.latencies.push(Series::new(
            "agent reply → provider",
            replies.latencies.summary(),
        ));
        parts.notes.push(format!(
            "Replies: {} sent by agents, {} reached the provider ({lost} lost, {} twice); lost replies count in `lost`.",
            outcome.replies_sent,
            replies.keys.len(),
            replies.duplicates
        ));
    }
    parts.processes = session.probes.finish();
    figures.extend(cpu_figures(
        &parts.processes,
        outcome.correctness.delivered,
        "delivery",
    ));
    close_all(agents).await;
    if outcome.health.count > 0 {
        parts.latencies.push(Series::new(
            "GET /health (reference)",
            outcome.health.clone(),
        ));
    }
    parts.figures = figures;
    let agents_total = args.agents as u64 * u64::from(args.tenants);
    let (bar, at) = if args.rate >= 5_000 {
        (20.0, "5k/s")
    } else {
        (5.0, "170 msg/s × 10 agents")
    };
    parts.targets.push(Target::at_most(
        &format!(
            "e2e p99 at {} msg/s × {agents_total} agents (bar set at {at})",
            args.rate
        ),
        bar,
        outcome.e2e.p99_ms,
        "ms",
    ));
    parts.targets.push(Target::at_most(
        "lost + reordered deliveries",
        0.0,
        (parts.correctness.lost + parts.correctness.out_of_order) as f64,
        "",
    ));
    Ok(ctx.run("e2e", parts))
}

/// Replies leave through the channel's rate limit and queue: wait for them to arrive.
async fn wait_for_replies(
    provider: &Provider,
    sent: u64,
) -> crate::Result<crate::provider::Replies> {
    let deadline = Instant::now() + DRAIN;
    let mut replies = provider.take()?;
    while (replies.keys.len() as u64) < sent && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let more = provider.take()?;
        replies.latencies.add(&more.latencies)?;
        replies.duplicates += more.duplicates;
        for key in more.keys {
            if !replies.keys.insert(key) {
                replies.duplicates += 1;
            }
        }
    }
    Ok(replies)
}
