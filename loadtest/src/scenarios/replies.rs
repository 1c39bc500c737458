//! `replies`: automatic AI replies, with a fake language model that answers at once,
//! so every millisecond measured is Switchboard's own: from the acknowledgement of a
//! customer message (sandbox channel, each from a new customer) to the AI's reply on an
//! agent's socket. That span holds the pipeline (it must judge the message first),
//! both workers' polls, the knowledge search, the prompt, the checks and the send. The
//! server also reports `ai_reply_own_seconds`, the reply worker's part alone; its p99
//! bucket is read from `/metrics`.
//!
//! The server must let tenants use a model on loopback: start it with
//! `SWITCHBOARD_AI__ALLOW_LOCAL_MODELS=true`.

use super::{Context, Parts, ws_base};
use crate::latency::Latencies;
use crate::report::{Figure, Run, Series, Target};
use crate::serve;
use futures_util::{SinkExt, StreamExt};
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// Customer messages per second, open loop.
    #[arg(long, default_value_t = 20)]
    pub rate: u64,
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Where the fake language model listens.
    #[arg(long, default_value = "127.0.0.1:9901")]
    pub model: String,
}

/// How long replies owed after the last message may take to arrive.
const DRAIN: Duration = Duration::from_secs(15);

const FAQ: &str = "# Shipping\nDelivery to Lisboa takes 2 working days.\n\n# Returns\nRefunds are paid within 14 days.";

pub async fn run(ctx: &Context, args: &Args) -> crate::Result<Run> {
    let model = fake_model(&args.model).await?;
    let tenant = ctx.tenants(1, 1).await?.remove(0);
    let token = tenant
        .agent_tokens
        .first()
        .ok_or("the tenant has no agent token")?
        .clone();
    let call = |method: reqwest::Method, path: &str, body: Value| {
        let request = ctx
            .http
            .request(method, format!("{}/api/v1{path}", ctx.base))
            .bearer_auth(&token)
            .json(&body);
        async move { ok(request.send().await).await }
    };
    call(
        reqwest::Method::PUT,
        "/settings/ai",
        json!({
            "providers": [{ "name": "fake", "kind": "openai", "base_url": format!("http://{}/v1", model.addr), "model": "fake-model", "api_key": "" }],
            "understanding": { "enabled": false, "below_confidence": 0.6 },
        }),
    )
    .await?;
    call(
        reqwest::Method::POST,
        "/ai/knowledge",
        json!({ "title": "FAQ", "format": "markdown", "content": FAQ }),
    )
    .await?;
    // Every reply is asked of the model: the cache would answer the same question.
    call(
        reqwest::Method::PUT,
        "/settings/replies",
        json!({ "mode": "auto", "cache_ttl_secs": 0 }),
    )
    .await?;

    let acked: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let latencies = Arc::new(Mutex::new(Latencies::new()?));
    let url = format!("{}/ws?access_token={token}", ws_base(&ctx.base));
    let (mut ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .map_err(|e| format!("cannot open the agent socket: {e}"))?;
    ws.send(Message::text(json!({"type": "subscribe"}).to_string()))
        .await
        .map_err(|e| e.to_string())?;
    let reader = {
        let (acked, latencies) = (acked.clone(), latencies.clone());
        tokio::spawn(async move {
            while let Some(Ok(frame)) = ws.next().await {
                let Message::Text(text) = frame else { continue };
                let Ok(frame) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                let answered = &frame["data"]["message"]["attachment"]["ai"]["in_reply_to"];
                let (Some("message.new"), Some(id)) = (frame["type"].as_str(), answered.as_str())
                else {
                    continue;
                };
                let sent = acked.lock().ok().and_then(|mut a| a.remove(id));
                if let (Some(sent), Ok(mut latencies)) = (sent, latencies.lock()) {
                    latencies.record_us(sent.elapsed().as_micros() as u64);
                }
            }
        })
    };

    let total = args.rate * args.duration;
    let every = Duration::from_secs_f64(1.0 / args.rate.max(1) as f64);
    let start = tokio::time::Instant::now();
    let mut sends = Vec::with_capacity(total as usize);
    for i in 0..total {
        tokio::time::sleep_until(start + every * i as u32).await;
        let request = ctx
            .http
            .post(format!("{}/api/v1/sandbox/demo/inbound", ctx.base))
            .bearer_auth(&token)
            .json(&json!({ "from": format!("{}-c{i}", ctx.run_id), "text": "How long does delivery to Lisboa take?" }));
        let acked = acked.clone();
        sends.push(tokio::spawn(async move {
            let answer = ok(request.send().await).await?;
            let id = answer["message"]["id"]
                .as_str()
                .ok_or("no message id")?
                .to_owned();
            if let Ok(mut acked) = acked.lock() {
                acked.insert(id, Instant::now());
            }
            Ok::<(), String>(())
        }));
    }
    let mut failed_sends = 0u64;
    for send in sends {
        if !matches!(send.await, Ok(Ok(()))) {
            failed_sends += 1;
        }
    }
    let deadline = Instant::now() + DRAIN;
    while Instant::now() < deadline && acked.lock().map(|a| !a.is_empty()).unwrap_or(false) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    reader.abort();
    let unanswered = acked.lock().map(|a| a.len() as u64).unwrap_or_default();
    let summary = latencies.lock().map_err(|e| e.to_string())?.summary();
    let own_p99 = own_p99_ms(ctx).await?;
    let answered = summary.count;
    let figures = vec![
        Figure::less(
            "reply p99 (message ack → AI reply on the socket)",
            summary.p99_ms,
            "ms",
        ),
        Figure::less(
            "reply worker's own time p99 (metrics bucket, at most)",
            own_p99,
            "ms",
        ),
        Figure::more("replies", answered as f64, ""),
        Figure::less("messages without a reply", unanswered as f64, ""),
        Figure::less("failed sends", failed_sends as f64, ""),
        Figure::more("model calls", model.calls() as f64, ""),
    ];
    let parts = Parts {
        figures,
        latencies: vec![Series::new(
            "customer message ack → AI reply on an agent socket (model answers at once)",
            summary,
        )],
        targets: vec![Target::at_most(
            "messages without a reply",
            0.0,
            unanswered as f64,
            "",
        )],
        notes: vec![format!(
            "{} messages at {}/s, each from a new customer; mode auto, cache off; the fake model answers without delay",
            total, args.rate
        )],
        ..Parts::default()
    };
    Ok(ctx.run("replies", parts))
}

async fn ok(sent: Result<reqwest::Response, reqwest::Error>) -> crate::Result<Value> {
    let response = sent.map_err(|e| e.to_string())?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(format!("the server answered {status}: {body}"));
    }
    Ok(body)
}

/// The smallest bucket bound of `ai_reply_own_seconds` that holds 99 % of replies, in ms.
async fn own_p99_ms(ctx: &Context) -> crate::Result<f64> {
    let text = ctx
        .http
        .get(format!("{}/metrics", ctx.base))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    let mut buckets: Vec<(f64, f64)> = text
        .lines()
        .filter(|l| l.starts_with("ai_reply_own_seconds_bucket{"))
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?;
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((bound, l.rsplit(' ').next()?.parse().ok()?))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last().map_or(0.0, |b| b.1);
    Ok(buckets
        .iter()
        .find(|(_, count)| *count >= total * 0.99)
        .map_or(f64::NAN, |(bound, _)| bound * 1000.0))
}

/// The fake model: an OpenAI chat completion for every request, at once.
struct FakeModel {
    addr: std::net::SocketAddr,
    calls: Arc<std::sync::atomic::AtomicU64>,
}

impl FakeModel {
    fn calls(&self) -> u64 {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }
}

async fn fake_model(bind: &str) -> crate::Result<FakeModel> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| format!("the fake model cannot listen on {bind}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let calls = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = calls.clone();
    let answer = json!({
        "reply": "Delivery to Lisboa takes 2 working days.", "confidence": 0.9, "action": "none",
        "reason": "the FAQ", "cited": ["P1"], "tag": null,
    })
    .to_string();
    tokio::spawn(serve::run(listener, move |req| {
        let (counted, answer) = (counted.clone(), answer.clone());
        async move {
            if req.method() != Method::POST || req.uri().path() != "/v1/chat/completions" {
                return serve::json(
                    StatusCode::NOT_FOUND,
                    &json!({"error": {"message": "Unknown request URL"}}),
                );
            }
            let _ = serve::body(req, 1 << 20).await;
            counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            serve::json(
                StatusCode::OK,
                &json!({
                    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1_764_000_000, "model": "fake-model",
                    "choices": [{ "index": 0, "message": { "role": "assistant", "content": answer, "refusal": null }, "finish_reason": "stop" }],
                    "usage": { "prompt_tokens": 400, "completion_tokens": 30, "total_tokens": 430 },
                }),
            )
        }
    }));
    Ok(FakeModel { addr, calls })
}
