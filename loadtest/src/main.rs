//! `loadtest <scenario> [knobs]`: drives a running Switchboard (or a peer) and writes a
//! JSON result, a Markdown report and a latency plot; `loadtest report` puts several
//! results side by side. See `docs/benchmarks.md` for the commands behind the figures.

use clap::{Parser, Subcommand};
use loadtest::Peer;
use loadtest::report::{self, Run};
use loadtest::scenarios::{self, Backend, Context};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "Drive a Switchboard deployment (or a peer) and report what it sustains")]
struct Cli {
    /// Base URL of the server under test.
    #[arg(long, global = true, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// What is under test: Switchboard or one of the peers in loadtest/peers.
    #[arg(long, global = true, value_enum, default_value_t = Peer::Switchboard)]
    peer: Peer,
    /// Names the run in reports and file names [default: the peer, plus the backend].
    #[arg(long, global = true)]
    label: Option<String>,
    /// The server's store, for the targets that depend on it.
    #[arg(long, global = true, value_enum)]
    backend: Option<Backend>,
    /// Server process to report CPU and memory for (repeat for several nodes).
    #[arg(long = "server-pid", global = true)]
    server_pids: Vec<u32>,
    /// Command name of the database's processes (`postgres`), to report their CPU
    /// together as `database`.
    #[arg(long = "database-process", global = true)]
    database_process: Option<String>,
    /// Where results go.
    #[arg(long, global = true, default_value = "loadtest/results")]
    out: PathBuf,
    /// No progress line.
    #[arg(long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// N subscribed agent sockets held open: memory per socket, handshakes per second.
    Idle(scenarios::idle::Args),
    /// Signed WhatsApp webhooks at a fixed rate, or to saturation: ack latency, throughput.
    Ingest(scenarios::ingest::Args),
    /// Tenants × agents, webhook to every agent socket, and agent replies to the provider.
    E2e(scenarios::e2e::Args),
    /// One message to M agents at rising rates until p99 to the last recipient passes 50 ms.
    Fanout(scenarios::fanout::Args),
    /// Agents on two nodes, webhooks into one: what the Redis hop adds.
    Cluster(scenarios::cluster::Args),
    /// Agents dropping and resuming while traffic flows: gaps must be 0.
    Resume(scenarios::resume::Args),
    /// Automatic AI replies with a model that answers at once: the latency our code adds.
    Replies(scenarios::replies::Args),
    /// Side-by-side report of earlier results: `<out>/summary.md` and comparison plots.
    Report {
        /// JSON results written by earlier runs.
        #[arg(required = true)]
        results: Vec<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("loadtest: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> loadtest::Result<ExitCode> {
    if let Scenario::Report { results } = &cli.scenario {
        return compare(results, &cli.out);
    }
    let label = cli.label.clone().unwrap_or_else(|| {
        let peer = match cli.peer {
            Peer::Switchboard => "switchboard",
            Peer::Socketio => "socketio",
            Peer::Bare => "bare",
        };
        match cli.backend {
            Some(Backend::Sqlite) => format!("{peer}-sqlite"),
            Some(Backend::Postgres) => format!("{peer}-postgres"),
            None => peer.to_owned(),
        }
    });
    let mut ctx = Context::new(&cli.url, cli.peer, &label)?;
    ctx.backend = cli.backend;
    ctx.server_pids = cli.server_pids.clone();
    ctx.database_process = cli.database_process.clone();
    ctx.progress = !cli.quiet;
    ctx.command = std::iter::once("loadtest".to_owned())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let run = match &cli.scenario {
        Scenario::Idle(args) => scenarios::idle::run(&ctx, args).await?,
        Scenario::Ingest(args) => scenarios::ingest::run(&ctx, args).await?,
        Scenario::E2e(args) => scenarios::e2e::run(&ctx, args).await?,
        Scenario::Fanout(args) => scenarios::fanout::run(&ctx, args).await?,
        Scenario::Cluster(args) => scenarios::cluster::run(&ctx, args).await?,
        Scenario::Resume(args) => scenarios::resume::run(&ctx, args).await?,
        Scenario::Replies(args) => scenarios::replies::run(&ctx, args).await?,
        Scenario::Report { .. } => return Err("handled above".into()),
    };
    let json = run.write(&cli.out)?;
    println!("{}", run.markdown());
    println!("written: {}", json.display());
    if run.correctness.errors() > 0 {
        eprintln!("loadtest: correctness counters are not all 0");
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}

fn compare(results: &[PathBuf], out: &std::path::Path) -> loadtest::Result<ExitCode> {
    let mut runs = Vec::with_capacity(results.len());
    for path in results {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let run: Run = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not a loadtest result: {e}", path.display()))?;
        runs.push(run);
    }
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let md = report::compare(&runs, out)?;
    let summary = out.join("summary.md");
    std::fs::write(&summary, &md)
        .map_err(|e| format!("cannot write {}: {e}", summary.display()))?;
    println!("{md}");
    println!("written: {}", summary.display());
    Ok(ExitCode::SUCCESS)
}
