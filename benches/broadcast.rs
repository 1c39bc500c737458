//! A broadcast to `RECIPIENTS` (default 100,000) phones against a local fake of the
//! Graph API, at a configured rate (`RATE`, default 500 sends a second): the sustained
//! send rate, the server's memory over the run, and, with the node killed part-way
//! (`KILL_AT`, default 0.4 of the recipients sent) and a new one started on the same
//! database, how many phones got the broadcast twice (it must be none) and how many
//! sends the kill left interrupted.
//!
//! `cargo bench --bench broadcast` (env `RECIPIENTS`, `RATE`, `KILL_AT`; `KILL_AT=0`
//! for no kill; `GRAPH_LATENCY_MS` for a fake that takes that long to answer each
//! send; `SKIP_SQLITE` for Postgres alone). A line a minute shows the rate
//! over that minute and the memory. SQLite in a temporary directory, then Postgres at
//! `BENCH_DATABASE_URL` when it is set (a fresh database: its tables are used as they
//! are). The server runs in this process on a thread and actix system of its own (a
//! kill stops that system at once, nothing released), so the memory figure (this
//! process's resident set) includes the fake and the driver: a few MiB, flat. A
//! benchmark, not a test: it prints figures and asserts nothing.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use std::error::Error;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchboard::config::{Config, Secret};
use switchboard::startup::Application;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

const FIRST_PHONE: u64 = 4_915_000_000_000;
const ACCOUNT: &str = "106540352242922";
const OWNER_PASSWORD: &str = "bench-owner-password-1";
/// Seconds between progress lines (the rate over them and the memory).
const PROGRESS_EVERY: usize = 60;

/// The fake Graph API: each accepted send counted per phone.
struct Graph {
    base: String,
    sends: Arc<Mutex<Vec<u8>>>,
    accepted: Arc<AtomicU64>,
}

fn fake_graph(recipients: usize, latency: Duration) -> Result<Graph> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let base = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
    let sends = Arc::new(Mutex::new(vec![0u8; recipients]));
    let accepted = Arc::new(AtomicU64::new(0));
    let (counts, total) = (sends.clone(), accepted.clone());
    std::thread::spawn(move || {
        let system = actix_rt::System::new();
        system.block_on(async move {
            let server = HttpServer::new(move || {
                let (counts, total) = (counts.clone(), total.clone());
                App::new().default_service(web::to(
                    move |_: HttpRequest, body: web::Json<Value>| {
                        let (counts, total) = (counts.clone(), total.clone());
                        async move {
                            // The real API answers in tens to hundreds of ms.
                            tokio::time::sleep(latency).await;
                            let to: u64 = body["to"]
                                .as_str()
                                .and_then(|t| t.parse().ok())
                                .unwrap_or(0);
                            if let Some(slot) = to
                                .checked_sub(FIRST_PHONE)
                                .and_then(|i| usize::try_from(i).ok())
                                && let Ok(mut counts) = counts.lock()
                                && let Some(count) = counts.get_mut(slot)
                            {
                                *count = count.saturating_add(1);
                            }
                            let n = total.fetch_add(1, Ordering::Relaxed);
                            HttpResponse::Ok().json(json!({
                                "messaging_product": "whatsapp",
                                "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                                "messages": [{"id": format!("wamid.bench{n}")}],
                            }))
                        }
                    },
                ))
            })
            .workers(1)
            .listen(listener)
            .map(|server| server.run());
            if let Ok(server) = server {
                let _ = server.await;
            }
        });
    });
    Ok(Graph {
        base,
        sends,
        accepted,
    })
}

/// A server node on its own thread and actix system, killed by stopping the system.
struct Node {
    base: String,
    system: actix_rt::System,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Node {
    fn start(config: Config) -> Result<Node> {
        let (started, port) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let system = actix_rt::System::new();
            let Ok(app) = system.block_on(Application::build(config)) else {
                return;
            };
            let _ = started.send((app.port(), actix_rt::System::current()));
            system.block_on(async move {
                actix_rt::spawn(app.run_until_stopped());
            });
            let _ = system.run();
        });
        let (port, system) = port.recv()?;
        Ok(Node {
            base: format!("http://127.0.0.1:{port}"),
            system,
            thread: Some(thread),
        })
    }

    fn kill(mut self) {
        self.system.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn config(database_url: &str, data_dir: &std::path::Path, graph: &str, rate: u32) -> Config {
    let mut config = Config::default();
    config.server.port = 0;
    config.server.data_dir = data_dir.to_path_buf();
    config.server.body_limit_bytes = 8 * 1024 * 1024;
    config.database.url = Secret::new(database_url.to_owned());
    config.bootstrap.owner_password = Secret::new(OWNER_PASSWORD);
    config.channels.graph_base_url = graph.to_owned();
    config.channels.send_rate_per_second = rate;
    // A dead node's job lease is twice this: the restart waits that long.
    config.jobs.timeout_secs = 10;
    config.rate_limit.per_ip_per_second = 10_000;
    config.rate_limit.per_ip_burst = 10_000;
    config
}

fn resident_mib() -> f64 {
    loadtest::procstat::rss_kb(std::process::id()).map_or(0.0, |kb| kb as f64 / 1024.0)
}

async fn api(
    http: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Result<Value> {
    let mut request = http.request(method, format!("{base}/api/v1{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await?;
    let status = response.status();
    let body: Value = response.json().await?;
    if !status.is_success() {
        return Err(format!("{path}: {status} {body}").into());
    }
    Ok(body)
}

async fn run(
    name: &str,
    database_url: &str,
    recipients: usize,
    rate: u32,
    kill_at: f64,
    latency: Duration,
) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let graph = fake_graph(recipients, latency)?;
    let config = config(database_url, dir.path(), &graph.base, rate);
    let http = reqwest::Client::new();
    let mut node = Node::start(config.clone())?;
    let session = api(&http, &node.base, reqwest::Method::POST, "/auth/login", None,
        Some(json!({"tenant": "default", "email": config.bootstrap.owner_email, "password": OWNER_PASSWORD}))).await?;
    let token = session["access_token"]
        .as_str()
        .ok_or("no token")?
        .to_owned();
    let channel = api(&http, &node.base, reqwest::Method::POST, "/channels", Some(&token), Some(json!({
        "kind": "whatsapp", "name": "Bench", "account_id": ACCOUNT, "access_token": "EAAG-bench",
        "app_secret": "5f2b9c1e8d7a46f3b0e2c9d4a1f6b7e8", "verify_token": "c41d8b7e2f9a0635e1b4d7c2a9f8e3b6",
        "settings": {"broadcast_rate_per_second": rate},
    }))).await?;
    let phones: Vec<String> = (0..recipients as u64)
        .map(|i| format!("+{}", FIRST_PHONE + i))
        .collect();
    let made = Instant::now();
    let broadcast = api(
        &http,
        &node.base,
        reqwest::Method::POST,
        "/broadcasts",
        Some(&token),
        Some(json!({
            "name": "Bench", "channel_id": channel["id"], "phones": phones,
            "template": {"name": "bench_notice", "language": "en"},
        })),
    )
    .await?;
    let id = broadcast["id"].as_str().ok_or("no id")?.to_owned();
    println!(
        "{name}: broadcast of {recipients} made in {:.1} s",
        made.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let mut second = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_secs(1),
        Duration::from_secs(1),
    );
    let mut per_second: Vec<u64> = Vec::new();
    let mut memory: Vec<f64> = Vec::new();
    let mut last = 0;
    let mut killed_at: Option<(f64, u64)> = None;
    let mut resumed = None;
    loop {
        // Seconds of the clock, whatever the read below costs (a tick missed while
        // the node restarts comes at once after, so there is one entry a second).
        second.tick().await;
        let sent = graph.accepted.load(Ordering::Relaxed);
        per_second.push(sent - last);
        last = sent;
        memory.push(resident_mib());
        if per_second.len().is_multiple_of(PROGRESS_EVERY) {
            let recent: u64 = per_second[per_second.len() - PROGRESS_EVERY..].iter().sum();
            println!(
                "{name}: {:>5.0} s  {sent:>7} sent  {:>6.1}/s over the last {PROGRESS_EVERY} s  {:.0} MiB",
                started.elapsed().as_secs_f64(),
                recent as f64 / PROGRESS_EVERY as f64,
                resident_mib()
            );
        }
        if killed_at.is_none() && kill_at > 0.0 && sent as f64 >= kill_at * recipients as f64 {
            node.kill();
            killed_at = Some((started.elapsed().as_secs_f64(), sent));
            node = Node::start(config.clone())?;
        }
        if killed_at.is_some() && resumed.is_none() && sent > killed_at.map_or(0, |(_, s)| s) {
            resumed = Some(started.elapsed().as_secs_f64());
        }
        let read = api(
            &http,
            &node.base,
            reqwest::Method::GET,
            &format!("/broadcasts/{id}"),
            Some(&token),
            None,
        )
        .await;
        if let Ok(read) = read
            && (read["status"] == "done" || read["status"] == "paused")
        {
            let elapsed = started.elapsed().as_secs_f64();
            let counts = graph.sends.lock().map_err(|_| "poisoned")?.clone();
            let twice = counts.iter().filter(|c| **c > 1).count();
            let never = counts.iter().filter(|c| **c == 0).count();
            // Steady state: whole seconds with sending, not the first or last.
            let mut busy: Vec<u64> = per_second.iter().copied().filter(|n| *n > 0).collect();
            if busy.len() > 2 {
                busy = busy[1..busy.len() - 1].to_vec();
            }
            busy.sort_unstable();
            let median = busy.get(busy.len() / 2).copied().unwrap_or(0);
            let mut sorted = memory.clone();
            sorted.sort_by(f64::total_cmp);
            println!(
                "{name}: status {}, totals {}",
                read["status"], read["totals"]
            );
            println!(
                "{name}: {} accepted sends in {elapsed:.1} s; configured {rate}/s; median per second (steady) {median}, lowest {}, highest {}",
                graph.accepted.load(Ordering::Relaxed),
                busy.first().unwrap_or(&0),
                busy.last().unwrap_or(&0)
            );
            println!("{name}: phones sent twice {twice}, never sent {never}");
            if let Some((at, sent)) = killed_at {
                println!(
                    "{name}: killed at {at:.1} s after {sent} sends; sending again at {:.1} s",
                    resumed.unwrap_or(f64::NAN)
                );
            }
            println!(
                "{name}: resident MiB min {:.1}, median {:.1}, max {:.1}; first 5 s {:?}, last 5 s {:?}",
                sorted.first().unwrap_or(&0.0),
                sorted[sorted.len() / 2],
                sorted.last().unwrap_or(&0.0),
                &memory[..memory.len().min(5)]
                    .iter()
                    .map(|m| m.round())
                    .collect::<Vec<_>>(),
                &memory[memory.len().saturating_sub(5)..]
                    .iter()
                    .map(|m| m.round())
                    .collect::<Vec<_>>()
            );
            break;
        }
    }
    node.kill();
    Ok(())
}

fn main() -> Result<()> {
    let env = |key: &str, default: &str| std::env::var(key).unwrap_or_else(|_| default.to_owned());
    let recipients: usize = env("RECIPIENTS", "100000").parse()?;
    let rate: u32 = env("RATE", "500").parse()?;
    let kill_at: f64 = env("KILL_AT", "0.4").parse()?;
    let latency = Duration::from_millis(env("GRAPH_LATENCY_MS", "0").parse()?);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // Empty: SQLite in the run's data directory.
        if std::env::var("SKIP_SQLITE").is_err() {
            run("sqlite", "", recipients, rate, kill_at, latency).await?;
        }
        if let Ok(url) = std::env::var("BENCH_DATABASE_URL") {
            run("postgres", &url, recipients, rate, kill_at, latency).await?;
        }
        Ok(())
    })
}
