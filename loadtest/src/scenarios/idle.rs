//! `idle`: N authenticated, subscribed agent sockets held open. Reports handshakes per
//! second; the heap the server holds per live socket at steady state (heap with the
//! sockets open minus heap once they closed, over N: what stays after they close, such
//! as pools that grew, is not theirs); the server's resident memory growth per socket;
//! and counts sockets the server dropped while they sat idle.

use super::{Context, Fleet, Parts, close_all};
use crate::Peer;
use crate::report::{Figure, Run, Series, Target};
use std::time::Duration;

#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// Sockets to open.
    #[arg(long, default_value_t = 1000)]
    pub connections: usize,
    /// Distinct agent users the sockets are spread over.
    #[arg(long, default_value_t = 5)]
    pub users: u32,
    /// Handshakes in flight at once.
    #[arg(long, default_value_t = 50)]
    pub concurrency: usize,
    /// Seconds to hold the sockets open after the last one subscribed.
    #[arg(long, default_value_t = 5)]
    pub hold: u64,
}

/// Time for the server to finish per-connection work before memory is read.
const SETTLE: Duration = Duration::from_secs(2);

pub async fn run(ctx: &Context, args: &Args) -> crate::Result<Run> {
    let tenants = ctx.tenants(1, args.users).await?;
    let server = ctx.server_pids.first().copied();
    let rss_before = server.and_then(crate::procstat::rss_kb);
    let generator_before = crate::procstat::rss_kb(std::process::id());
    let probes = ctx.probes();
    let fleet = Fleet {
        concurrency: args.concurrency,
        ..Fleet::on(ctx, &tenants, args.connections)
    };
    let (agents, handshakes, took) = fleet.connect().await?;
    tokio::time::sleep(SETTLE).await;
    let rss_after = server.and_then(crate::procstat::rss_kb);
    let generator_after = crate::procstat::rss_kb(std::process::id());
    tokio::time::sleep(Duration::from_secs(args.hold)).await;
    let heap_open = heap_bytes(ctx).await;
    let mut parts = Parts::default();
    for agent in &agents {
        if agent.failure().is_some() {
            parts.correctness.agent_failures += 1;
        }
    }
    let held = agents.len() as u64 - parts.correctness.agent_failures;
    parts.processes = probes.finish();
    close_all(agents).await;
    tokio::time::sleep(SETTLE).await;
    let heap_closed = heap_bytes(ctx).await;

    let n = args.connections.max(1) as f64;
    if let (Some(open), Some(closed)) = (heap_open, heap_closed) {
        let per = (open - closed).max(0.0) / n / 1000.0;
        parts
            .figures
            .push(Figure::less("server heap per socket", per, "KB"));
        parts
            .targets
            .push(Target::at_most("idle agent socket (heap)", 10.0, per, "KB"));
    } else {
        parts
            .notes
            .push("Server heap not measured: the server reports none.".into());
    }
    parts.figures.push(Figure::more(
        "handshakes",
        n / took.as_secs_f64().max(1e-3),
        "/s",
    ));
    if let (Some(before), Some(after)) = (rss_before, rss_after) {
        let per = after.saturating_sub(before) as f64 * 1024.0 / n / 1000.0;
        parts
            .figures
            .push(Figure::less("server memory per socket", per, "KB"));
    } else {
        parts
            .notes
            .push("Server memory not measured: pass --server-pid.".into());
    }
    if let (Some(before), Some(after)) = (generator_before, generator_after) {
        let per = after.saturating_sub(before) as f64 * 1024.0 / n / 1000.0;
        parts
            .figures
            .push(Figure::less("generator memory per socket", per, "KB"));
    }
    parts
        .figures
        .push(Figure::more("sockets held", held as f64, ""));
    parts.latencies.push(Series::new(
        "handshake (connect, auth, subscribe)",
        handshakes.summary(),
    ));
    parts.notes.push(format!(
        "{} sockets opened {} at a time in {:.2} s, held {} s; {} dropped by the server.",
        args.connections,
        args.concurrency,
        took.as_secs_f64(),
        args.hold,
        parts.correctness.agent_failures
    ));
    Ok(ctx.run("idle", parts))
}

/// The heap the server holds, in bytes: Switchboard's `process_heap_bytes` gauge, the
/// Node peer's V8 heap plus buffers after a full collection; `None` for a server that
/// reports neither.
async fn heap_bytes(ctx: &Context) -> Option<f64> {
    match ctx.peer {
        Peer::Switchboard => {
            let text = ctx
                .http
                .get(format!("{}/metrics", ctx.base))
                .send()
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            text.lines()
                .find_map(|line| line.strip_prefix("process_heap_bytes "))?
                .trim()
                .parse()
                .ok()
        }
        Peer::Socketio => {
            let body: serde_json::Value = ctx
                .http
                .get(format!("{}/peer/memory", ctx.base))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            body["heap_bytes"].as_f64()
        }
        Peer::Bare => None,
    }
}
