//! A fake WhatsApp Cloud API (Graph API) that answers outbound sends the way Meta does
//! and measures how long each agent reply took to reach it.
//!
//! Point the server at it with `SWITCHBOARD_CHANNELS__GRAPH_BASE_URL=http://<addr>`
//! (the Node peer reads `GRAPH_BASE_URL`). A reply's text carries the key of the message
//! it answers and the time the agent sent it (`frames::reply_text`).

use crate::frames;
use crate::latency::Latencies;
use crate::serve;
use hyper::{Method, StatusCode};
use serde_json::json;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What reached the provider since the last `take`.
pub struct Replies {
    pub latencies: Latencies,
    pub keys: HashSet<u64>,
    pub duplicates: u64,
}

pub struct Provider {
    pub addr: SocketAddr,
    replies: Arc<Mutex<Replies>>,
    task: tokio::task::JoinHandle<()>,
}

impl Provider {
    pub async fn start(bind: &str) -> crate::Result<Self> {
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|e| format!("the fake provider cannot listen on {bind}: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let replies = Arc::new(Mutex::new(fresh()?));
        let ids = Arc::new(AtomicU64::new(0));
        let state = replies.clone();
        let task = tokio::spawn(serve::run(listener, move |req| {
            let state = state.clone();
            let ids = ids.clone();
            async move {
                if req.method() != Method::POST || !req.uri().path().ends_with("/messages") {
                    return serve::json(
                        StatusCode::NOT_FOUND,
                        &json!({"error": {"message": "Unknown path", "type": "OAuthException", "code": 803}}),
                    );
                }
                let Some(body) = serve::body(req, 1 << 20).await else {
                    return serve::json(StatusCode::PAYLOAD_TOO_LARGE, &json!({}));
                };
                let Ok(send) = serde_json::from_slice::<serde_json::Value>(&body) else {
                    return serve::json(
                        StatusCode::BAD_REQUEST,
                        &json!({"error": {"message": "Invalid JSON", "type": "OAuthException", "code": 100}}),
                    );
                };
                if let Some((key, sent)) =
                    send["text"]["body"].as_str().and_then(frames::parse_reply)
                    && let Ok(mut replies) = state.lock()
                {
                    replies
                        .latencies
                        .record_us(crate::clock::now_us().saturating_sub(sent));
                    if !replies.keys.insert(key) {
                        replies.duplicates += 1;
                    }
                }
                if send["status"] == "read" {
                    return serve::json(StatusCode::OK, &json!({"success": true}));
                }
                let to = send["to"].as_str().unwrap_or_default();
                let id = ids.fetch_add(1, Ordering::Relaxed);
                serve::json(
                    StatusCode::OK,
                    &json!({
                        "messaging_product": "whatsapp",
                        "contacts": [{"input": to, "wa_id": to}],
                        "messages": [{"id": format!("wamid.loadtest.{id}")}]
                    }),
                )
            }
        }));
        Ok(Self {
            addr,
            replies,
            task,
        })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What arrived since the last call.
    pub fn take(&self) -> crate::Result<Replies> {
        let mut replies = self.replies.lock().map_err(|e| e.to_string())?;
        Ok(std::mem::replace(&mut *replies, fresh()?))
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn fresh() -> crate::Result<Replies> {
    Ok(Replies {
        latencies: Latencies::new()?,
        keys: HashSet::new(),
        duplicates: 0,
    })
}
