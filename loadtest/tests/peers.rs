//! The bare peer runs and the generator drives it: a short fan-out and ingest against
//! the real `bare-peer` binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use loadtest::Peer;
use loadtest::scenarios::{self, Context};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct BarePeer {
    child: Child,
    base: String,
}

impl BarePeer {
    fn start() -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bare-peer"))
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("bare-peer: listening on ")
            .unwrap();
        Self {
            base: format!("http://{addr}"),
            child,
        }
    }
}

impl Drop for BarePeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bare_peer_delivers_every_message_to_every_agent_in_a_fanout_run() {
    let peer = BarePeer::start();
    let mut ctx = Context::new(&peer.base, Peer::Bare, "bare").unwrap();
    ctx.server_pids = vec![peer.child.id()];
    let args = scenarios::fanout::Args {
        agents: 10,
        users: 1,
        start_rate: 50,
        factor: 2.0,
        max_rate: 100,
        step: 1,
        // A smoke run checks counts, not timing: no step may end the climb early.
        bound_ms: 60_000.0,
        customers: 5,
        warmup: 1,
    };
    let run = scenarios::fanout::run(&ctx, &args).await.unwrap();
    assert_eq!(run.correctness.errors(), 0, "{}", run.markdown());
    // 50 then 100 messages, each to all 10 agents.
    assert_eq!(run.correctness.expected, 1_500);
    assert_eq!(run.correctness.delivered, 1_500);
    assert_eq!(run.processes[0].role, "server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bare_peer_keeps_no_history_so_resuming_agents_lose_messages() {
    let peer = BarePeer::start();
    let ctx = Context::new(&peer.base, Peer::Bare, "bare").unwrap();
    let args = scenarios::resume::Args {
        agents: 3,
        users: 1,
        rate: 100,
        duration: 2,
        churn_ms: 500,
        gap_ms: 200,
        customers: 5,
    };
    let run = scenarios::resume::run(&ctx, &args).await.unwrap();
    // The generator counts what a broadcaster without history drops while agents are away.
    assert!(run.correctness.reconnects >= 6, "{}", run.markdown());
    assert!(run.correctness.lost > 0, "{}", run.markdown());
}
