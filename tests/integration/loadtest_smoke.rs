//! A few seconds of every load-test scenario against a real server, with small numbers,
//! so the generator cannot rot: each run must finish, write its report, and count zero
//! lost, duplicated, reordered or misrouted deliveries.

use crate::common;

use common::{Backend, spawn_app, spawn_app_with, two_nodes};
use loadtest::Peer;
use loadtest::provider::Provider;
use loadtest::report::Run;
use loadtest::scenarios::{self, Context};
use std::future::Future;
use std::sync::Arc;

/// Runs the generator on its own multi-threaded runtime, as the binary does, while the
/// test's runtime keeps serving the server's actors.
async fn generate<F, Fut>(f: F) -> Run
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = loadtest::Result<Run>>,
{
    actix_rt::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(f())
    })
    .await
    .unwrap()
    .unwrap()
}

fn context(base: &str) -> Context {
    let mut ctx = Context::new(base, Peer::Switchboard, "smoke").unwrap();
    ctx.server_pids = vec![std::process::id()];
    ctx
}

fn figure(run: &Run, name: &str) -> f64 {
    run.figures
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no figure {name} in {:?}", run.figures))
        .value
}

fn assert_clean(run: &Run) {
    assert_eq!(run.correctness.errors(), 0, "{}", run.markdown());
    assert_eq!(
        run.correctness.delivered,
        run.correctness.expected,
        "{}",
        run.markdown()
    );
}

#[actix_rt::test]
async fn an_idle_run_holds_every_socket_and_reads_the_servers_memory() {
    let app = spawn_app(Backend::Sqlite).await;
    let ctx = context(&app.base);
    let args = scenarios::idle::Args {
        connections: 20,
        users: 2,
        concurrency: 10,
        hold: 1,
    };
    let run = generate(move || async move { scenarios::idle::run(&ctx, &args).await }).await;
    assert_eq!(figure(&run, "sockets held"), 20.0);
    assert_eq!(run.correctness.agent_failures, 0);
    assert_eq!(run.latencies[0].summary.count, 20);
    figure(&run, "server memory per socket");
    figure(&run, "server heap per socket");
    let roles: Vec<&str> = run.processes.iter().map(|p| p.role.as_str()).collect();
    assert_eq!(roles, ["server", "generator"]);
    assert_eq!(run.targets[0].what, "idle agent socket (heap)");
}

#[actix_rt::test]
async fn a_replies_run_answers_every_customer_message_through_a_fake_model() {
    let app = spawn_app_with(Backend::Sqlite, |c| c.ai.allow_local_models = true).await;
    let ctx = context(&app.base);
    let args = scenarios::replies::Args {
        rate: 10,
        duration: 1,
        model: "127.0.0.1:0".into(),
    };
    let run = generate(move || async move { scenarios::replies::run(&ctx, &args).await }).await;
    assert_eq!(figure(&run, "replies"), 10.0, "{}", run.markdown());
    assert_eq!(figure(&run, "messages without a reply"), 0.0);
    assert_eq!(figure(&run, "model calls"), 10.0);
    assert_eq!(run.latencies[0].summary.count, 10);
    assert!(
        figure(
            &run,
            "reply worker's own time p99 (metrics bucket, at most)"
        ) > 0.0
    );
}

async fn ingest_delivers_every_acknowledged_webhook_once_in_order(backend: Backend) {
    let app = spawn_app(backend).await;
    let ctx = context(&app.base);
    let args = scenarios::ingest::Args {
        rate: 100,
        concurrency: 1,
        duration: 2,
        warmup: 0,
        tenants: 2,
        customers: 5,
        sentences: false,
        pipeline: true,
    };
    let run = generate(move || async move { scenarios::ingest::run(&ctx, &args).await }).await;
    // In order counts every stream offset, the pipeline's events between the messages.
    assert_clean(&run);
    // 200 messages over two tenants, one observing agent each.
    assert_eq!(run.correctness.expected, 200);
    assert_eq!(run.latencies[0].name, "webhook ack");
    assert_eq!(run.latencies[0].summary.count, 200);
    assert_eq!(run.latencies[1].name, "GET /health (reference)");
    assert_eq!(run.latencies[1].summary.count, 20);
    assert_eq!(run.latencies[2].name, "pipeline lag (delivery to insight)");
    assert_eq!(run.latencies[2].summary.count, 200);
    assert_eq!(figure(&run, "messages analysed"), 200.0);

    // The run's files, and the side-by-side report built from them.
    let dir = tempfile::tempdir().unwrap();
    let json = run.write(dir.path()).unwrap();
    for ext in ["json", "md", "svg"] {
        assert!(json.with_extension(ext).exists(), "no .{ext} written");
    }
    let svg = std::fs::read_to_string(json.with_extension("svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("webhook ack"));
    let again: Run = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let summary = loadtest::report::compare(&[again], dir.path()).unwrap();
    assert!(summary.contains("### `ingest`") && summary.contains("| smoke |"));
    assert!(dir.path().join("compare-ingest.svg").exists());
}

#[actix_rt::test]
async fn an_ingest_run_on_sqlite_delivers_every_acknowledged_webhook_once_in_order() {
    ingest_delivers_every_acknowledged_webhook_once_in_order(Backend::Sqlite).await;
}

#[actix_rt::test]
#[cfg_attr(
    not(postgres_suite),
    ignore = "set TEST_DATABASE_URL to run the Postgres suite"
)]
async fn an_ingest_run_on_postgres_delivers_every_acknowledged_webhook_once_in_order() {
    ingest_delivers_every_acknowledged_webhook_once_in_order(Backend::Postgres).await;
}

#[actix_rt::test]
async fn an_e2e_run_reaches_every_agent_and_every_reply_reaches_the_provider() {
    let provider = Arc::new(Provider::start("127.0.0.1:0").await.unwrap());
    let graph = provider.base_url();
    let app = spawn_app_with(Backend::Sqlite, |config| {
        config.channels.graph_base_url = graph;
    })
    .await;
    let ctx = context(&app.base);
    let args = scenarios::e2e::Args {
        tenants: 2,
        agents: 3,
        users: 2,
        rate: 60,
        duration: 2,
        warmup: 1,
        customers: 4,
        reply_every: 2,
        provider: String::new(),
    };
    let run =
        generate(
            move || async move { scenarios::e2e::run_with(&ctx, &args, Some(&provider)).await },
        )
        .await;
    assert_clean(&run);
    // 120 messages, each to the 3 agents of its tenant.
    assert_eq!(run.correctness.expected, 360);
    let names: Vec<&str> = run.latencies.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "webhook → agent socket",
            "webhook ack",
            "agent reply → provider",
            "GET /health (reference)"
        ]
    );
    assert_eq!(run.latencies[0].summary.count, 360);
    // Every second message of each customer is answered (seq 0, 2, 4, ...).
    assert!(run.latencies[2].summary.count >= 56, "{}", run.markdown());
    assert!(
        run.notes.iter().any(|n| n.contains("(0 lost, 0 twice)")),
        "{:?}",
        run.notes
    );
}

#[actix_rt::test]
async fn a_fanout_run_climbs_the_rates_and_reaches_every_agent() {
    let app = spawn_app(Backend::Sqlite).await;
    let ctx = context(&app.base);
    let args = scenarios::fanout::Args {
        agents: 20,
        users: 2,
        start_rate: 20,
        factor: 2.0,
        max_rate: 40,
        step: 1,
        // A smoke run checks counts, not timing: no step may end the climb early.
        bound_ms: 60_000.0,
        customers: 5,
        warmup: 1,
    };
    let run = generate(move || async move { scenarios::fanout::run(&ctx, &args).await }).await;
    assert_clean(&run);
    // Two steps: 20 messages, then 40, each to all 20 agents.
    assert_eq!(run.correctness.expected, 1_200);
    assert_eq!(figure(&run, "highest rate within the bound"), 40.0);
    assert!(run.notes[0].contains("| 20 |") && run.notes[0].contains("| 40 |"));
    assert_eq!(run.latencies[0].name, "last recipient at 40 msg/s");
    assert_eq!(run.latencies[0].summary.count, 40);
}

#[actix_rt::test]
async fn a_resume_run_drops_and_resumes_agents_without_a_gap() {
    let app = spawn_app(Backend::Sqlite).await;
    let ctx = context(&app.base);
    let args = scenarios::resume::Args {
        agents: 4,
        users: 2,
        rate: 50,
        duration: 3,
        churn_ms: 700,
        gap_ms: 100,
        customers: 5,
    };
    let run = generate(move || async move { scenarios::resume::run(&ctx, &args).await }).await;
    assert_clean(&run);
    assert_eq!(run.correctness.expected, 600);
    assert!(run.correctness.reconnects >= 8, "{}", run.markdown());
    assert_eq!(run.correctness.resets, 0);
    assert_eq!(figure(&run, "gaps (lost + duplicated + out of order)"), 0.0);
}

#[actix_rt::test]
#[cfg_attr(
    not(cluster_suite),
    ignore = "set TEST_DATABASE_URL and TEST_REDIS_URL to run the cluster suite"
)]
async fn a_cluster_run_measures_agents_on_both_nodes() {
    let (a, b) = two_nodes().await;
    let ctx = context(&a.base);
    let args = scenarios::cluster::Args {
        url2: b,
        agents: 4,
        users: 2,
        rate: 50,
        duration: 2,
        warmup: 1,
        customers: 5,
    };
    let run = generate(move || async move { scenarios::cluster::run(&ctx, &args).await }).await;
    assert_clean(&run);
    assert_eq!(run.correctness.expected, 400);
    assert_eq!(run.latencies[0].name, "webhook → agent on the other node");
    assert_eq!(run.latencies[0].summary.count, 200);
    assert_eq!(run.latencies[1].summary.count, 200);
}
