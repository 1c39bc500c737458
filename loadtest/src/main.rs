//! Load generator for Switchboard deployments.
//!
//! `api` signs in through the public API and drives authenticated `GET /api/v1/auth/me`
//! (token check plus one store read: the floor under every API call) or `GET /health`
//! (HTTP stack only) from N concurrent clients, then reports throughput, latency
//! percentiles from an HdrHistogram, and every status seen.
//!
//! `inbox` opens `--agents` WebSocket agents, plays customer messages on a sandbox
//! channel from `--concurrency` senders, and measures what each agent receives: end-to-end
//! latency (POST sent to frame received), loss and ordering; see `inbox.rs`.
//!
//! `webhook` sends signed WhatsApp Cloud API deliveries at a fixed rate, open loop, and
//! reports the acknowledgement latency from each send's intended time; see `webhook.rs`.
//!
//! `api` and `inbox` are closed loops: each client sends its next request when the previous one
//! answers, so it measures capacity, not latency under a fixed arrival rate (that
//! needs open-loop arrivals, which the scenario work adds).

use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Drive a Switchboard server and report what it sustains")]
struct Args {
    /// Base URL of the server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Tenant slug, email and password to sign in with (the first-start owner works).
    #[arg(long, default_value = "default")]
    tenant: String,
    #[arg(long, default_value = "owner@switchboard.local")]
    email: String,
    #[arg(long, env = "LOADTEST_PASSWORD")]
    password: String,
    #[arg(long, value_enum, default_value_t = Target::Me)]
    target: Target,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Agent sockets (the `inbox` target).
    #[arg(long, default_value_t = 10)]
    agents: usize,
    /// Deliveries per second, open loop (the `webhook` target).
    #[arg(long, default_value_t = 600)]
    rate: u64,
    /// Distinct customers the deliveries come from (the `webhook` target).
    #[arg(long, default_value_t = 100)]
    customers: usize,
}

mod inbox;
mod webhook;

#[derive(Clone, Copy, ValueEnum)]
enum Target {
    /// Authenticated `GET /api/v1/auth/me`.
    Me,
    /// `GET /health`.
    Health,
    /// Sandbox messages in, WebSocket frames out to `--agents` agents.
    Inbox,
    /// Signed WhatsApp webhooks at `--rate` per second, open loop: ack latency.
    Webhook,
}

/// Latencies are recorded in microseconds, up to a minute, 3 significant digits.
const MAX_LATENCY_US: u64 = 60_000_000;

struct ClientResult {
    latencies: Histogram<u64>,
    statuses: BTreeMap<u16, u64>,
    transport_errors: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("loadtest: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()
        .map_err(|e| e.to_string())?;
    let token = sign_in(&http, &args).await?;
    let path = match args.target {
        Target::Me => "/api/v1/auth/me",
        Target::Health => "/health",
        Target::Inbox => return inbox::run(&http, &args, &token).await,
        Target::Webhook => return webhook::run(&http, &args, &token).await,
    };
    let url = format!("{}{}", args.url.trim_end_matches('/'), path);
    let deadline = Instant::now() + Duration::from_secs(args.duration);
    println!(
        "loadtest: {} clients, {}s, GET {}",
        args.concurrency, args.duration, url
    );

    let started = Instant::now();
    let clients: Vec<_> = (0..args.concurrency)
        .map(|_| tokio::spawn(client(http.clone(), url.clone(), token.clone(), deadline)))
        .collect();
    let mut total = ClientResult {
        latencies: histogram()?,
        statuses: BTreeMap::new(),
        transport_errors: 0,
    };
    for handle in clients {
        let result = handle.await.map_err(|e| e.to_string())??;
        total
            .latencies
            .add(&result.latencies)
            .map_err(|e| e.to_string())?;
        for (status, count) in result.statuses {
            *total.statuses.entry(status).or_default() += count;
        }
        total.transport_errors += result.transport_errors;
    }
    report(&total, started.elapsed());
    Ok(())
}

pub(crate) fn histogram() -> Result<Histogram<u64>, String> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).map_err(|e| e.to_string())
}

async fn sign_in(http: &reqwest::Client, args: &Args) -> Result<String, String> {
    let response = http
        .post(format!("{}/api/v1/auth/login", args.url.trim_end_matches('/')))
        .json(&serde_json::json!({ "tenant": args.tenant, "email": args.email, "password": args.password }))
        .send()
        .await
        .map_err(|e| format!("cannot reach {}: {e}", args.url))?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("sign-in refused ({status}): {body}"));
    }
    body["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "sign-in returned no access_token".into())
}

async fn client(
    http: reqwest::Client,
    url: String,
    token: String,
    deadline: Instant,
) -> Result<ClientResult, String> {
    let mut result = ClientResult {
        latencies: histogram()?,
        statuses: BTreeMap::new(),
        transport_errors: 0,
    };
    while Instant::now() < deadline {
        let sent = Instant::now();
        match http.get(&url).bearer_auth(&token).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                // Read the body so the connection returns to the pool.
                let _ = response.bytes().await;
                let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(MAX_LATENCY_US);
                result
                    .latencies
                    .saturating_record(micros.clamp(1, MAX_LATENCY_US));
                *result.statuses.entry(status).or_default() += 1;
            }
            Err(_) => result.transport_errors += 1,
        }
    }
    Ok(result)
}

pub(crate) fn latency_line(h: &Histogram<u64>) -> String {
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    format!(
        "p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
        ms(0.5),
        ms(0.9),
        ms(0.99),
        ms(0.999),
        h.max() as f64 / 1000.0
    )
}

fn report(total: &ClientResult, elapsed: Duration) {
    let h = &total.latencies;
    println!(
        "requests:   {} in {:.1}s = {:.0}/s",
        h.len(),
        elapsed.as_secs_f64(),
        h.len() as f64 / elapsed.as_secs_f64()
    );
    println!("latency ms: {}", latency_line(h));
    let statuses: Vec<String> = total
        .statuses
        .iter()
        .map(|(s, n)| format!("{s}: {n}"))
        .collect();
    println!("statuses:   {}", statuses.join(", "));
    println!("transport errors: {}", total.transport_errors);
}
