//! The fan-out floor: a bare tokio WebSocket broadcaster with no persistence.
//!
//! It takes the same webhooks and speaks the same frames as Switchboard, so `loadtest`
//! drives it unchanged (`--peer bare`), and does the least a broadcaster can: no
//! signature check, no store, no auth beyond naming the tenant. Per tenant one
//! `tokio::sync::broadcast` channel (bounded: a socket that falls 65,536 frames behind
//! is closed with 4008, as Switchboard closes a slow consumer); each socket drains what
//! is queued for it and flushes once.
//!
//! `cargo run --release -p loadtest --bin bare-peer -- --listen 127.0.0.1:9100`

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use loadtest::serve::{self, Reply};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::broadcast;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// Frames queued per tenant before the slowest socket is dropped.
const CHANNEL_CAPACITY: usize = 65_536;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:9100")]
    listen: String,
}

struct Tenant {
    /// The last offset, held while broadcasting so the stream order is the offset order.
    offset: Mutex<i64>,
    frames: broadcast::Sender<Utf8Bytes>,
}

type Tenants = Arc<RwLock<HashMap<String, Arc<Tenant>>>>;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let listener = match tokio::net::TcpListener::bind(&args.listen).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("bare-peer: cannot listen on {}: {err}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!("bare-peer: listening on {addr}"),
        Err(err) => {
            eprintln!("bare-peer: {err}");
            return ExitCode::FAILURE;
        }
    }
    let tenants: Tenants = Arc::default();
    serve::run(listener, move |req| handle(tenants.clone(), req)).await;
    ExitCode::SUCCESS
}

async fn handle(tenants: Tenants, req: Request<Incoming>) -> Reply {
    let path = req.uri().path().to_owned();
    match (req.method().clone(), path.as_str()) {
        (Method::GET, "/health") => serve::json(StatusCode::OK, &json!({"status": "ok"})),
        (Method::POST, "/peer/tenants") => create_tenant(&tenants, req).await,
        (Method::POST, p) if p.starts_with("/webhooks/meta/") => {
            let slug = p.trim_start_matches("/webhooks/meta/").to_owned();
            receive(&tenants, &slug, req).await
        }
        (Method::GET, "/ws") => upgrade(&tenants, req),
        _ => serve::json(
            StatusCode::NOT_FOUND,
            &json!({"error": {"code": "not_found"}}),
        ),
    }
}

fn tenant(tenants: &Tenants, slug: &str) -> Option<Arc<Tenant>> {
    tenants.read().ok()?.get(slug).cloned()
}

async fn create_tenant(tenants: &Tenants, req: Request<Incoming>) -> Reply {
    let body: Value = match serve::body(req, 64 * 1024).await {
        Some(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        None => Value::Null,
    };
    let Some(slug) = body["slug"].as_str().map(str::to_owned) else {
        return serve::json(
            StatusCode::BAD_REQUEST,
            &json!({"error": {"code": "invalid_request"}}),
        );
    };
    let (frames, _) = broadcast::channel(CHANNEL_CAPACITY);
    if let Ok(mut map) = tenants.write() {
        map.insert(
            slug.clone(),
            Arc::new(Tenant {
                offset: Mutex::new(0),
                frames,
            }),
        );
    }
    serve::json(
        StatusCode::CREATED,
        &json!({"token": slug, "webhook_path": format!("/webhooks/meta/{slug}")}),
    )
}

/// A WhatsApp Cloud API delivery: every text message becomes one `message.new` frame.
async fn receive(tenants: &Tenants, slug: &str, req: Request<Incoming>) -> Reply {
    let Some(tenant) = tenant(tenants, slug) else {
        return serve::json(
            StatusCode::NOT_FOUND,
            &json!({"error": {"code": "not_found"}}),
        );
    };
    let Some(body) = serve::body(req, 1 << 20).await else {
        return serve::json(StatusCode::PAYLOAD_TOO_LARGE, &json!({}));
    };
    let Ok(delivery) = serde_json::from_slice::<Value>(&body) else {
        return serve::json(
            StatusCode::BAD_REQUEST,
            &json!({"error": {"code": "invalid_json"}}),
        );
    };
    let messages = delivery["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| e["changes"].as_array().into_iter().flatten())
        .flat_map(|c| c["value"]["messages"].as_array().into_iter().flatten());
    for message in messages {
        let from = message["from"].as_str().unwrap_or_default();
        let text = message["text"]["body"].as_str().unwrap_or_default();
        let Ok(mut offset) = tenant.offset.lock() else {
            continue;
        };
        *offset += 1;
        // Written out by hand: `json!` sorts keys, and frames lead with their `type`
        // as Switchboard's do.
        let frame = format!(
            r#"{{"type":"message.new","v":1,"offset":{},"conversation_id":{},"data":{{"message":{{"direction":"inbound","type":"text","body":{}}}}}}}"#,
            *offset,
            Value::from(format!("c-{from}")),
            Value::from(text)
        );
        // No subscribers is not an error: nobody is listening yet.
        let _ = tenant.frames.send(Utf8Bytes::from(frame));
    }
    serve::json(StatusCode::OK, &json!({"ok": true}))
}

fn upgrade(tenants: &Tenants, req: Request<Incoming>) -> Reply {
    let slug = req
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .find_map(|kv| kv.strip_prefix("access_token="))
        .unwrap_or_default()
        .to_owned();
    let (Some(tenant), Some(key)) = (
        tenant(tenants, &slug),
        req.headers().get("sec-websocket-key"),
    ) else {
        return serve::json(
            StatusCode::UNAUTHORIZED,
            &json!({"error": {"code": "unauthorized"}}),
        );
    };
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    // Subscribe now so nothing sent after the handshake is missed.
    let frames = tenant.frames.subscribe();
    tokio::spawn(async move {
        if let Ok(upgraded) = hyper::upgrade::on(req).await {
            let ws =
                WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
            agent(ws, tenant, frames).await;
        }
    });
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::UPGRADE,
        hyper::header::HeaderValue::from_static("websocket"),
    );
    headers.insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("Upgrade"),
    );
    if let Ok(accept) = hyper::header::HeaderValue::from_str(&accept) {
        headers.insert(hyper::header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}

async fn agent(
    mut ws: WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>,
    tenant: Arc<Tenant>,
    mut frames: broadcast::Receiver<Utf8Bytes>,
) {
    // The first client frame is the subscription; answer where the stream stands.
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(_))) => break,
            Some(Ok(_)) => continue,
            _ => return,
        }
    }
    let offset = tenant.offset.lock().map(|o| *o).unwrap_or_default();
    let reset = format!(r#"{{"type":"reset","v":1,"offset":{offset},"reason":"fresh"}}"#);
    if ws.send(Message::text(reset)).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            frame = frames.recv() => {
                let first = match frame {
                    Ok(frame) => frame,
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let close = CloseFrame { code: CloseCode::Library(4008), reason: "slow consumer".into() };
                        let _ = ws.close(Some(close)).await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                if ws.feed(Message::Text(first)).await.is_err() {
                    return;
                }
                while let Ok(frame) = frames.try_recv() {
                    if ws.feed(Message::Text(frame)).await.is_err() {
                        return;
                    }
                }
                if ws.flush().await.is_err() {
                    return;
                }
            }
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            }
        }
    }
}
