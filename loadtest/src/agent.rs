//! One agent socket: connects, subscribes to the inbox, and logs every customer message
//! it receives with its arrival time. It can also reply to some messages and, for the
//! resume scenario, drop its connection now and then and resume from its last position.
//!
//! Switchboard and the bare peer speak our protocol on `/ws`; the Node peer speaks it
//! inside Socket.IO events (`42["frame",{…}]` over Engine.IO v4 on a WebSocket).

use crate::Peer;
use crate::frames::{self, Marker};
use crate::latency::Latencies;
use futures_util::{SinkExt, StreamExt};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long connecting and subscribing may take before the agent gives up.
const OPEN_TIMEOUT: Duration = Duration::from_secs(20);

/// What one agent is and does.
#[derive(Clone)]
pub struct Spec {
    pub tenant: u32,
    /// Which server (of several, in the cluster scenario) it is connected to.
    pub node: usize,
    /// `ws://host:port` of that server.
    pub ws_base: String,
    pub token: String,
    pub peer: Peer,
    /// Reply to every message whose sequence number is a multiple of this (0: never).
    pub reply_every: u32,
    pub churn: Option<Churn>,
}

/// Drop the connection every `every` (first after `phase`), stay away for `gap`, then
/// resume from the last position processed.
#[derive(Clone, Copy, Debug)]
pub struct Churn {
    pub every: Duration,
    pub gap: Duration,
    pub phase: Duration,
}

/// What an agent saw since its log was last taken.
pub struct Log {
    /// (message key, arrival µs) in arrival order.
    pub arrivals: Vec<(u64, u64)>,
    pub received: HashSet<u64>,
    /// Intended send time to arrival.
    pub latencies: Latencies,
    pub duplicates: u64,
    pub wrong_tenant: u64,
    /// Stream offsets that did not follow the previous one (Switchboard only: the peers
    /// promise no gapless offsets).
    pub offset_breaks: u64,
    pub reconnects: u64,
    /// Resumes the server answered with `reset` instead of a replay.
    pub resets: u64,
    pub replies_sent: u64,
    /// `error` frames the server answered with, and the first of them.
    pub refused: u64,
    pub first_refusal: Option<String>,
    /// Why the socket stopped early, if it did.
    pub failure: Option<String>,
}

impl Log {
    fn new() -> crate::Result<Self> {
        Ok(Self {
            arrivals: Vec::new(),
            received: HashSet::new(),
            latencies: Latencies::new()?,
            duplicates: 0,
            wrong_tenant: 0,
            offset_breaks: 0,
            reconnects: 0,
            resets: 0,
            replies_sent: 0,
            refused: 0,
            first_refusal: None,
            failure: None,
        })
    }
}

/// What the inbound pipeline's `message.insights` frames told an agent (Switchboard
/// only): how long after a customer message reached the agent its insight followed,
/// and the messages still waiting for theirs. Kept apart from `Log`, which is taken at
/// the end of the measured window while insights still arrive.
pub struct Insights {
    /// Message id to the arrival of its `message.new`, µs.
    waiting: HashMap<String, u64>,
    pub lags: Latencies,
}

pub struct Agent {
    pub tenant: u32,
    pub node: usize,
    log: Arc<Mutex<Log>>,
    insights: Arc<Mutex<Insights>>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// The last stream position processed, as `subscribe.after` takes it.
#[derive(Clone, Debug)]
struct Position {
    epoch: String,
    offset: i64,
}

struct State {
    spec: Spec,
    log: Arc<Mutex<Log>>,
    insights: Arc<Mutex<Insights>>,
    position: Option<Position>,
    refs: u64,
}

impl Agent {
    /// Connects and subscribes; returns once the subscription is live, with the time the
    /// whole handshake took.
    pub async fn connect(spec: Spec) -> crate::Result<(Self, Duration)> {
        let log = Arc::new(Mutex::new(Log::new()?));
        let insights = Arc::new(Mutex::new(Insights {
            waiting: HashMap::new(),
            lags: Latencies::new()?,
        }));
        let mut state = State {
            spec: spec.clone(),
            log: log.clone(),
            insights: insights.clone(),
            position: None,
            refs: 0,
        };
        let started = Instant::now();
        let ws = state.open().await?;
        let took = started.elapsed();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(state.run(ws, stopped));
        Ok((
            Self {
                tenant: spec.tenant,
                node: spec.node,
                log,
                insights,
                stop,
                task,
            },
            took,
        ))
    }

    /// Distinct customer messages received since the log was last taken.
    pub fn received(&self) -> usize {
        self.log.lock().map(|log| log.received.len()).unwrap_or(0)
    }

    /// Customer messages received whose insight has not come yet.
    pub fn insights_waiting(&self) -> usize {
        self.insights.lock().map(|i| i.waiting.len()).unwrap_or(0)
    }

    /// The pipeline lags seen so far; the agent starts afresh.
    pub fn take_insight_lags(&self) -> crate::Result<Latencies> {
        let mut insights = self.insights.lock().map_err(|e| e.to_string())?;
        Ok(std::mem::replace(&mut insights.lags, Latencies::new()?))
    }

    /// Forgets what is waiting and measured (after a warm-up).
    pub fn forget_insights(&self) -> crate::Result<()> {
        let mut insights = self.insights.lock().map_err(|e| e.to_string())?;
        insights.waiting.clear();
        insights.lags = Latencies::new()?;
        Ok(())
    }

    /// Why the socket stopped, if it did.
    pub fn failure(&self) -> Option<String> {
        self.log.lock().ok().and_then(|log| log.failure.clone())
    }

    /// The log so far; the agent starts a fresh one.
    pub fn take_log(&self) -> crate::Result<Log> {
        let mut log = self.log.lock().map_err(|e| e.to_string())?;
        let failure = log.failure.clone();
        let mut taken = std::mem::replace(&mut *log, Log::new()?);
        // A failure is permanent: keep reporting it.
        log.failure = failure.clone();
        taken.failure = failure;
        Ok(taken)
    }

    /// Closes the socket.
    pub async fn close(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

impl State {
    async fn run(mut self, mut ws: Ws, mut stopped: tokio::sync::watch::Receiver<bool>) {
        let mut next_drop = self
            .spec
            .churn
            .map(|c| tokio::time::Instant::now() + c.phase + c.every);
        loop {
            let drop_at = next_drop;
            let churn = async move {
                match drop_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = stopped.changed() => {
                    let _ = ws.close(None).await;
                    return;
                }
                () = churn => {
                    // Drop the connection the way a lost network does: no close frame.
                    drop(ws);
                    let gap = self.spec.churn.map(|c| c.gap).unwrap_or_default();
                    tokio::time::sleep(gap).await;
                    ws = match self.open().await {
                        Ok(ws) => ws,
                        Err(err) => return self.fail(err),
                    };
                    self.note(|log| log.reconnects += 1);
                    next_drop = self.spec.churn.map(|c| tokio::time::Instant::now() + c.every);
                }
                frame = ws.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        let answer = self.handle(&text);
                        if let Some(answer) = answer
                            && let Err(err) = ws.send(Message::text(answer)).await
                        {
                            return self.fail(format!("send failed: {err}"));
                        }
                    }
                    Some(Ok(Message::Close(frame))) => {
                        return self.fail(format!("closed by the server: {frame:?}"));
                    }
                    Some(Ok(_)) => {}
                    Some(Err(err)) => return self.fail(format!("socket failed: {err}")),
                    None => return self.fail("socket ended".into()),
                }
            }
        }
    }

    fn fail(&self, why: String) {
        self.note(|log| log.failure = Some(why));
    }

    fn note(&self, f: impl FnOnce(&mut Log)) {
        if let Ok(mut log) = self.log.lock() {
            f(&mut log);
        }
    }

    /// Connects, authenticates and subscribes (resuming from the last position, if any),
    /// handling whatever the server replays before it confirms.
    async fn open(&mut self) -> crate::Result<Ws> {
        tokio::time::timeout(OPEN_TIMEOUT, self.open_inner())
            .await
            .map_err(|_| "connecting and subscribing took over 20 s".to_owned())?
    }

    async fn open_inner(&mut self) -> crate::Result<Ws> {
        let resuming = self.position.is_some();
        let mut ws = match self.spec.peer {
            Peer::Socketio => {
                let url = format!("{}/socket.io/?EIO=4&transport=websocket", self.spec.ws_base);
                let mut ws = dial(&url).await?;
                expect(&mut ws, "0").await?;
                let auth = serde_json::json!({ "token": self.spec.token });
                ws.send(Message::text(format!("40{auth}")))
                    .await
                    .map_err(|e| e.to_string())?;
                expect(&mut ws, "40").await?;
                ws
            }
            Peer::Switchboard | Peer::Bare => {
                let url = format!("{}/ws?access_token={}", self.spec.ws_base, self.spec.token);
                dial(&url).await?
            }
        };
        let subscribe = match &self.position {
            Some(p) => {
                serde_json::json!({"type": "subscribe", "after": {"epoch": p.epoch, "offset": p.offset}})
            }
            None => serde_json::json!({"type": "subscribe"}),
        };
        ws.send(Message::text(self.wrap(&subscribe.to_string())))
            .await
            .map_err(|e| e.to_string())?;
        loop {
            let text = match ws.next().await {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(_)) => continue,
                Some(Err(err)) => return Err(format!("socket failed while subscribing: {err}")),
                None => return Err("the server closed the socket while subscribing".into()),
            };
            let kind = frames::frame_type(&text).map(str::to_owned);
            if let Some(answer) = self.handle(&text) {
                ws.send(Message::text(answer))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            match kind.as_deref() {
                Some("resumed") => return Ok(ws),
                Some("reset") => {
                    if resuming {
                        self.note(|log| log.resets += 1);
                    }
                    return Ok(ws);
                }
                Some("error") => return Err(format!("subscribe refused: {text}")),
                _ => {}
            }
        }
    }

    /// Our protocol's frame as this peer carries it.
    fn wrap(&self, frame: &str) -> String {
        match self.spec.peer {
            Peer::Socketio => format!("42[\"frame\",{frame}]"),
            Peer::Switchboard | Peer::Bare => frame.to_owned(),
        }
    }

    /// Logs one frame; returns what to send back, if anything.
    fn handle(&mut self, text: &str) -> Option<String> {
        if self.spec.peer == Peer::Socketio && text == "2" {
            return Some("3".into());
        }
        let arrival = crate::clock::now_us();
        let kind = frames::frame_type(text)?;
        if matches!(kind, "reset" | "resumed") {
            self.position = frames::number_field(text, "offset").map(|offset| Position {
                epoch: frames::string_field(text, "epoch")
                    .unwrap_or_default()
                    .to_owned(),
                offset,
            });
            return None;
        }
        if kind == "error" {
            let mut log = self.log.lock().ok()?;
            log.refused += 1;
            log.first_refusal.get_or_insert_with(|| text.to_owned());
            return None;
        }
        let mut answer = None;
        let marker = (kind == "message.new")
            .then(|| Marker::find(text))
            .flatten();
        let event_offset = match (self.spec.peer, frames::string_field(text, "epoch")) {
            (Peer::Switchboard, Some(_)) => frames::number_field(text, "offset"),
            _ => None,
        };
        let mut log = self.log.lock().ok()?;
        if let (Some(offset), Some(position)) = (event_offset, &mut self.position) {
            if offset != position.offset + 1 {
                log.offset_breaks += 1;
            }
            position.offset = offset;
        }
        if kind == "message.insights" {
            drop(log);
            self.insight_came(text, arrival);
            return None;
        }
        let marker = marker?;
        if marker.tenant != self.spec.tenant {
            log.wrong_tenant += 1;
            return None;
        }
        let key = marker.key();
        if !log.received.insert(key) {
            log.duplicates += 1;
            return None;
        }
        log.arrivals.push((key, arrival));
        if self.spec.peer == Peer::Switchboard
            && let (Some(id), Ok(mut insights)) = (message_id(text), self.insights.lock())
        {
            insights.waiting.insert(id.to_owned(), arrival);
        }
        log.latencies
            .record_us(arrival.saturating_sub(marker.intended_us));
        if self.spec.reply_every > 0 && marker.seq % self.spec.reply_every == 0 {
            let conversation = frames::string_field(text, "conversation_id")?;
            self.refs += 1;
            let frame = serde_json::json!({
                "type": "message.send", "ref": self.refs, "conversation_id": conversation,
                "client_id": format!("lt-{key}"),
                "body": frames::reply_text(key, crate::clock::now_us()),
            });
            log.replies_sent += 1;
            answer = Some(self.wrap(&frame.to_string()));
        }
        answer
    }
}

impl State {
    /// A customer message's insight: its lag since the message reached this agent.
    fn insight_came(&self, text: &str, arrival: u64) {
        let (Some(id), Ok(mut insights)) = (
            frames::string_field(text, "message_id"),
            self.insights.lock(),
        ) else {
            return;
        };
        if let Some(delivered) = insights.waiting.remove(id) {
            insights.lags.record_us(arrival.saturating_sub(delivered));
        }
    }
}

/// The id of the message in a `message.new` frame (its `data.message.id`; the
/// conversation, which has an id too, may come first).
fn message_id(frame: &str) -> Option<&str> {
    let at = frame.find("\"message\":{")?;
    frames::string_field(&frame[at..], "id")
}

async fn dial(url: &str) -> crate::Result<Ws> {
    let (ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
        .await
        .map_err(|e| format!("cannot open a socket to {url}: {e}"))?;
    Ok(ws)
}

/// Waits for an Engine.IO/Socket.IO packet starting with `prefix`.
async fn expect(ws: &mut Ws, prefix: &str) -> crate::Result<()> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) if text.starts_with(prefix) => return Ok(()),
            Some(Ok(Message::Text(text))) if text.starts_with("44") => {
                return Err(format!("Socket.IO refused the connection: {text}"));
            }
            Some(Ok(_)) => continue,
            Some(Err(err)) => return Err(err.to_string()),
            None => return Err("the socket closed during the Socket.IO handshake".into()),
        }
    }
}
