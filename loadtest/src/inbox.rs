//! The `inbox` scenario: agents on WebSockets, customers on the sandbox channel.
//!
//! Each sender posts `POST /api/v1/sandbox/load/inbound` in a closed loop with its send
//! time (microseconds since the run started, same process clock) in the text. Each agent
//! subscribes to the whole inbox and, for every `message.new`, records now minus that
//! time, and checks that offsets arrive consecutively (a gap or a step back is counted).
//! The reference measured in the same run is the ingest acknowledgement latency (the POST
//! round trip), so `e2e p99 / ack p99` says what the fan-out hop adds.

use super::{Args, MAX_LATENCY_US, histogram, latency_line};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// How long agents may keep receiving after the senders stop.
const DRAIN: Duration = Duration::from_secs(10);

struct AgentResult {
    latencies: Histogram<u64>,
    received: u64,
    out_of_order: u64,
}

pub async fn run(http: &reqwest::Client, args: &Args, token: &str) -> Result<(), String> {
    let base = args.url.trim_end_matches('/');
    let ws_url = format!("{}/ws?access_token={token}", base.replacen("http", "ws", 1));
    let origin = Instant::now();
    let stop = Instant::now() + Duration::from_secs(args.duration);
    let (sent_tx, sent_rx) = tokio::sync::watch::channel(None::<u64>);

    let mut agents = Vec::new();
    for _ in 0..args.agents {
        let (mut ws, _) = tokio_tungstenite::connect_async(&ws_url)
            .await
            .map_err(|e| format!("cannot open an agent socket: {e}"))?;
        ws.send(Message::text(r#"{"type":"subscribe"}"#))
            .await
            .map_err(|e| e.to_string())?;
        let mut start = None;
        while start.is_none() {
            let frame = next_json(&mut ws).await?;
            if frame["type"] == "reset" {
                start = frame["offset"].as_i64();
            }
        }
        let sent_rx = sent_rx.clone();
        agents.push(tokio::spawn(agent(ws, start.unwrap_or(0), origin, sent_rx)));
    }
    println!(
        "loadtest: {} agents, {} senders, {}s, POST {base}/api/v1/sandbox/load/inbound",
        args.agents, args.concurrency, args.duration
    );

    let url = format!("{base}/api/v1/sandbox/load/inbound");
    let senders: Vec<_> = (0..args.concurrency)
        .map(|n| {
            tokio::spawn(sender(
                http.clone(),
                url.clone(),
                token.to_owned(),
                n,
                origin,
                stop,
            ))
        })
        .collect();
    let mut acks = histogram()?;
    let (mut sent, mut failed) = (0_u64, 0_u64);
    for handle in senders {
        let (latencies, errors) = handle.await.map_err(|e| e.to_string())??;
        sent += latencies.len();
        failed += errors;
        acks.add(&latencies).map_err(|e| e.to_string())?;
    }
    let elapsed = origin.elapsed();
    let _ = sent_tx.send(Some(sent));

    let mut e2e = histogram()?;
    let (mut received, mut out_of_order) = (0_u64, 0_u64);
    for handle in agents {
        let result = handle.await.map_err(|e| e.to_string())??;
        received += result.received;
        out_of_order += result.out_of_order;
        e2e.add(&result.latencies).map_err(|e| e.to_string())?;
    }
    let expected = sent * args.agents as u64;
    println!(
        "ingested:   {sent} in {:.1}s = {:.0}/s ({failed} refused or failed)",
        elapsed.as_secs_f64(),
        sent as f64 / elapsed.as_secs_f64()
    );
    println!(
        "delivered:  {received} of {expected} ({} missing, {out_of_order} out of order) = {:.0} deliveries/s",
        expected.saturating_sub(received),
        received as f64 / elapsed.as_secs_f64()
    );
    println!("ack ms:     {}", latency_line(&acks));
    println!("e2e ms:     {}", latency_line(&e2e));
    let p99 = |h: &Histogram<u64>| h.value_at_quantile(0.99).max(1) as f64;
    println!("e2e p99 / ack p99: {:.2}", p99(&e2e) / p99(&acks));
    Ok(())
}

async fn sender(
    http: reqwest::Client,
    url: String,
    token: String,
    n: usize,
    origin: Instant,
    stop: Instant,
) -> Result<(Histogram<u64>, u64), String> {
    let mut latencies = histogram()?;
    let mut errors = 0;
    let mut i = 0_u64;
    while Instant::now() < stop {
        let sent = Instant::now();
        let at = origin.elapsed().as_micros();
        let body =
            serde_json::json!({ "from": format!("customer-{n}"), "text": format!("t={at} #{i}") });
        match http.post(&url).bearer_auth(&token).json(&body).send().await {
            Ok(response) if response.status().is_success() => {
                let _ = response.bytes().await;
                let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(MAX_LATENCY_US);
                latencies.saturating_record(micros.clamp(1, MAX_LATENCY_US));
            }
            _ => errors += 1,
        }
        i += 1;
    }
    Ok((latencies, errors))
}

async fn agent(
    mut ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    start: i64,
    origin: Instant,
    mut sent: tokio::sync::watch::Receiver<Option<u64>>,
) -> Result<AgentResult, String> {
    let mut result = AgentResult {
        latencies: histogram()?,
        received: 0,
        out_of_order: 0,
    };
    let mut last = start;
    let mut drain_until = None;
    loop {
        if let Some(total) = *sent.borrow() {
            if result.received >= total {
                return Ok(result);
            }
            let until = *drain_until.get_or_insert_with(|| Instant::now() + DRAIN);
            if Instant::now() > until {
                return Ok(result);
            }
        }
        let frame = tokio::select! {
            frame = next_json(&mut ws) => frame?,
            _ = sent.changed() => continue,
            () = tokio::time::sleep(Duration::from_millis(200)) => continue,
        };
        if frame["type"] != "message.new" {
            continue;
        }
        let offset = frame["offset"].as_i64().unwrap_or_default();
        if offset != last + 1 {
            result.out_of_order += 1;
        }
        last = offset;
        result.received += 1;
        let text = frame["data"]["message"]["body"]
            .as_str()
            .unwrap_or_default();
        if let Some(at) = text
            .strip_prefix("t=")
            .and_then(|t| t.split(' ').next())
            .and_then(|t| t.parse::<u128>().ok())
        {
            let micros = origin.elapsed().as_micros().saturating_sub(at);
            result.latencies.saturating_record(
                u64::try_from(micros)
                    .unwrap_or(MAX_LATENCY_US)
                    .clamp(1, MAX_LATENCY_US),
            );
        }
    }
}

async fn next_json(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Result<serde_json::Value, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                return serde_json::from_str(&text).map_err(|e| e.to_string());
            }
            Some(Ok(_)) => continue,
            Some(Err(err)) => return Err(format!("agent socket failed: {err}")),
            None => return Err("agent socket closed".into()),
        }
    }
}
