//! The `webhook` scenario: signed WhatsApp Cloud API webhooks at a fixed rate.
//!
//! It connects a WhatsApp channel through the public API (a fresh account id and app
//! secret each run), then sends one signed `messages` delivery per tick at `--rate` per
//! second, open loop: a slow answer does not delay the next send, and each latency is
//! measured from the send's *intended* time, so a stalled server shows up as latency
//! instead of hiding behind fewer sends (no coordinated omission). `GET /health` is sent
//! on the same schedule at a tenth of the rate as the reference measured in the same
//! run. Each delivery is a new message (a unique wamid) from one of `--customers`
//! senders; the report checks every one was acknowledged with 200.

use super::{Args, MAX_LATENCY_US, histogram, latency_line};
use hdrhistogram::Histogram;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Sends in flight beyond this are not made (and counted): the generator itself would
/// otherwise be what is measured.
const MAX_IN_FLIGHT: usize = 20_000;

#[derive(Default)]
struct Tally {
    statuses: BTreeMap<u16, u64>,
    transport_errors: u64,
}

struct Outcome {
    latencies: Histogram<u64>,
    tally: Tally,
}

impl Outcome {
    fn new() -> Result<Self, String> {
        Ok(Self {
            latencies: histogram()?,
            tally: Tally::default(),
        })
    }
}

fn sign(secret: &str, body: &[u8]) -> Result<String, String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|e| e.to_string())?;
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(format!("sha256={hex}"))
}

async fn connect_channel(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    account: &str,
    secret: &str,
) -> Result<String, String> {
    let response = http
        .post(format!("{base}/api/v1/channels"))
        .bearer_auth(token)
        .json(&serde_json::json!({
            "kind": "whatsapp", "name": format!("load {account}"), "account_id": account,
            "access_token": "loadtest-token", "app_secret": secret,
        }))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("cannot connect a channel ({status}): {body}"));
    }
    body["webhook"]["path"]
        .as_str()
        .map(|p| format!("{base}{p}"))
        .ok_or_else(|| "the channel answer has no webhook path".into())
}

fn delivery(account: &str, customer: usize, n: u64, run: u128) -> String {
    let from = format!("4915{:09}", customer);
    serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "loadtest", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": account},
            "contacts": [{"profile": {"name": format!("Load {customer}")}, "wa_id": from}],
            "messages": [{"from": from, "id": format!("wamid.load{run}.{n}"),
                          "timestamp": (run / 1000).to_string(), "type": "text",
                          "text": {"body": format!("load #{n}")}}]
        }}]}]
    })
    .to_string()
}

pub async fn run(http: &reqwest::Client, args: &Args, token: &str) -> Result<(), String> {
    let base = args.url.trim_end_matches('/').to_owned();
    let run = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_millis();
    let account = format!("load{run}");
    let secret = format!("loadtest-secret-{run}");
    let url = connect_channel(http, &base, token, &account, &secret).await?;
    let rate = args.rate.max(1);
    println!(
        "loadtest: webhook, {rate}/s for {}s open loop, {} customers, POST {url}",
        args.duration, args.customers
    );

    let hooks = Arc::new(Mutex::new(Outcome::new()?));
    let health = Arc::new(Mutex::new(Outcome::new()?));
    let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut skipped = 0_u64;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let total = rate * args.duration;
    let start = Instant::now() + Duration::from_millis(100);
    let mut tasks = Vec::with_capacity(total as usize);
    for n in 0..total {
        let intended = start + interval.mul_f64(n as f64);
        tokio::time::sleep_until(intended.into()).await;
        if in_flight.load(std::sync::atomic::Ordering::Relaxed) >= MAX_IN_FLIGHT {
            skipped += 1;
            continue;
        }
        let body = delivery(&account, (n as usize) % args.customers.max(1), n, run);
        let signature = sign(&secret, body.as_bytes())?;
        let request = http
            .post(&url)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature)
            .body(body);
        tasks.push(tokio::spawn(timed(
            request,
            intended,
            hooks.clone(),
            in_flight.clone(),
        )));
        if n % 10 == 0 {
            let request = http.get(format!("{base}/health"));
            tasks.push(tokio::spawn(timed(
                request,
                intended,
                health.clone(),
                in_flight.clone(),
            )));
        }
    }
    for task in tasks {
        task.await.map_err(|e| e.to_string())?;
    }
    let elapsed = start.elapsed();
    let hooks = hooks.lock().map_err(|e| e.to_string())?;
    let health = health.lock().map_err(|e| e.to_string())?;
    let acked = hooks.tally.statuses.get(&200).copied().unwrap_or(0);
    println!(
        "acked:      {acked} of {total} in {:.1}s = {:.0}/s ({skipped} not sent: generator at {MAX_IN_FLIGHT} in flight)",
        elapsed.as_secs_f64(),
        acked as f64 / elapsed.as_secs_f64()
    );
    let statuses: Vec<String> = hooks
        .tally
        .statuses
        .iter()
        .map(|(s, n)| format!("{s}: {n}"))
        .collect();
    println!(
        "statuses:   {} ({} transport errors)",
        statuses.join(", "),
        hooks.tally.transport_errors
    );
    println!("ack ms:     {}", latency_line(&hooks.latencies));
    println!("health ms:  {}", latency_line(&health.latencies));
    let p99 = |h: &Histogram<u64>| h.value_at_quantile(0.99).max(1) as f64;
    println!(
        "ack p99 / health p99: {:.2}",
        p99(&hooks.latencies) / p99(&health.latencies)
    );
    println!("missing:    {}", total.saturating_sub(acked));
    Ok(())
}

async fn timed(
    request: reqwest::RequestBuilder,
    intended: Instant,
    into: Arc<Mutex<Outcome>>,
    in_flight: Arc<std::sync::atomic::AtomicUsize>,
) {
    in_flight.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let result = request.send().await;
    let status = match result {
        Ok(response) => {
            let status = response.status().as_u16();
            let _ = response.bytes().await;
            Some(status)
        }
        Err(_) => None,
    };
    let micros = u64::try_from(intended.elapsed().as_micros()).unwrap_or(MAX_LATENCY_US);
    in_flight.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    if let Ok(mut outcome) = into.lock() {
        match status {
            Some(status) => {
                outcome
                    .latencies
                    .saturating_record(micros.clamp(1, MAX_LATENCY_US));
                *outcome.tally.statuses.entry(status).or_default() += 1;
            }
            None => outcome.tally.transport_errors += 1,
        }
    }
}
