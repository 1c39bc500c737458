//! The Redis pub/sub bus: each node publishes a tenant's committed events on
//! `switchboard:tenant:<id>` and delivers what other nodes publish to its own agents.
//!
//! Redis is a speed path only (G7). Publishing goes through one bounded queue per node
//! (full: the batch is dropped and counted); a lost connection is re-made with jittered
//! backoff, and subscriptions come back with it. Whatever the bus drops while Redis is
//! away, every node's tenant actors read from the store on their poll, so agents get
//! it later, in order, never not at all. Replay on reconnect comes from the store,
//! never from Redis.

use crate::telemetry::Metrics;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use switchboard_actors::inbox::WeakInbox;
use switchboard_actors::inbox::bus::{Bus, NodeId, Signal};
use switchboard_actors::inbox::frames::PresenceStatus;
use switchboard_actors::inbox::stream::{Epoch, EventKind, StreamEvent};
use switchboard_actors::{ConversationId, Millis, TenantId, UserId};
use tokio::sync::mpsc;
use uuid::Uuid;

const CHANNEL_PREFIX: &str = "switchboard:tenant:";
/// Batches waiting to be published; beyond it they are dropped (the store poll
/// delivers them).
const OUTBOX_CAPACITY: usize = 10_000;
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// One publish, with the node it comes from (so a node skips its own and presence
/// expires per node).
#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Wire {
    Events {
        node: Uuid,
        events: Vec<WireEvent>,
    },
    Presence {
        node: Uuid,
        user: Uuid,
        status: String,
    },
    Typing {
        node: Uuid,
        conversation: Uuid,
        user: Uuid,
        active: bool,
    },
}

impl Wire {
    fn node(&self) -> Uuid {
        match self {
            Wire::Events { node, .. } | Wire::Presence { node, .. } | Wire::Typing { node, .. } => {
                *node
            }
        }
    }
}

#[derive(Serialize, Deserialize)]
struct WireEvent {
    epoch: Uuid,
    offset: i64,
    kind: String,
    conversation_id: Uuid,
    assignee_id: Option<Uuid>,
    /// The payload as rendered at commit, passed on byte for byte.
    data: String,
    at: i64,
}

impl From<&StreamEvent> for WireEvent {
    fn from(e: &StreamEvent) -> Self {
        Self {
            epoch: e.epoch.0,
            offset: e.offset,
            kind: e.kind.as_str().to_owned(),
            conversation_id: e.conversation_id.0,
            assignee_id: e.assignee_id.map(|a| a.0),
            data: e.data.clone(),
            at: e.at.0,
        }
    }
}

impl WireEvent {
    fn into_event(self) -> Option<StreamEvent> {
        Some(StreamEvent {
            epoch: Epoch(self.epoch),
            offset: self.offset,
            kind: EventKind::parse(&self.kind).ok()?,
            conversation_id: ConversationId(self.conversation_id),
            assignee_id: self.assignee_id.map(UserId),
            data: self.data,
            at: Millis(self.at),
        })
    }
}

pub struct RedisBus {
    node: Uuid,
    client: redis::Client,
    outbox: mpsc::Sender<(String, String)>,
    metrics: Metrics,
}

impl RedisBus {
    /// Checks the URL and starts the publisher; connecting happens in the background,
    /// so a node starts (and serves its own agents) while Redis is away.
    pub fn start(url: &str, metrics: Metrics) -> Result<Arc<Self>, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let (outbox, batches) = mpsc::channel(OUTBOX_CAPACITY);
        actix_rt::spawn(publisher(client.clone(), batches, metrics.clone()));
        Ok(Arc::new(Self {
            node: Uuid::now_v7(),
            client,
            outbox,
            metrics,
        }))
    }

    /// Starts delivering other nodes' events to this node's agents.
    pub fn subscribe(self: &Arc<Self>, inbox: WeakInbox) {
        actix_rt::spawn(subscriber(self.clone(), inbox));
    }

    fn receive(&self, msg: &redis::Msg, inbox: &WeakInbox) {
        let Some(tenant) = msg
            .get_channel_name()
            .strip_prefix(CHANNEL_PREFIX)
            .and_then(|id| Uuid::parse_str(id).ok())
        else {
            return;
        };
        let Ok(wire) = serde_json::from_slice::<Wire>(msg.get_payload_bytes()) else {
            tracing::warn!(channel = msg.get_channel_name(), "unreadable bus message");
            return;
        };
        let node = wire.node();
        if node == self.node {
            return;
        }
        let (Some(inbox), tenant) = (inbox.upgrade(), TenantId(tenant)) else {
            return;
        };
        match wire {
            Wire::Events { events, .. } => {
                let now = Millis::now();
                let events: Vec<StreamEvent> = events
                    .into_iter()
                    .filter_map(WireEvent::into_event)
                    .collect();
                for event in &events {
                    self.metrics
                        .record_bus_lag(now.0.saturating_sub(event.at.0));
                }
                self.metrics.record_bus_events("received", events.len());
                inbox.deliver_remote(tenant, events);
            }
            Wire::Presence { user, status, .. } => {
                if let Ok(status) = PresenceStatus::parse(&status) {
                    let signal = Signal::Presence {
                        user: UserId(user),
                        status,
                    };
                    inbox.deliver_signal(tenant, NodeId(node), signal);
                }
            }
            Wire::Typing {
                conversation,
                user,
                active,
                ..
            } => {
                let signal = Signal::Typing {
                    conversation: ConversationId(conversation),
                    user: UserId(user),
                    active,
                };
                inbox.deliver_signal(tenant, NodeId(node), signal);
            }
        }
    }

    fn send(&self, tenant: TenantId, wire: &Wire, events: usize) {
        let Ok(payload) = serde_json::to_string(wire) else {
            return;
        };
        let channel = format!("{CHANNEL_PREFIX}{}", tenant.0);
        if self.outbox.try_send((channel, payload)).is_err() {
            self.metrics.record_bus_events("dropped", events);
        }
    }
}

impl Bus for RedisBus {
    fn publish(&self, tenant: TenantId, events: &[StreamEvent]) {
        let wire = Wire::Events {
            node: self.node,
            events: events.iter().map(WireEvent::from).collect(),
        };
        self.send(tenant, &wire, events.len());
    }

    fn signal(&self, tenant: TenantId, signal: Signal) {
        let wire = match signal {
            Signal::Presence { user, status } => Wire::Presence {
                node: self.node,
                user: user.0,
                status: status.as_str().to_owned(),
            },
            Signal::Typing {
                conversation,
                user,
                active,
            } => Wire::Typing {
                node: self.node,
                conversation: conversation.0,
                user: user.0,
                active,
            },
        };
        self.send(tenant, &wire, 0);
    }
}

fn events_in(payload: &str) -> usize {
    // Counted for metrics only: the number of offsets in the batch.
    payload.matches("\"offset\":").count()
}

async fn publisher(
    client: redis::Client,
    mut batches: mpsc::Receiver<(String, String)>,
    metrics: Metrics,
) {
    let mut connection: Option<redis::aio::ConnectionManager> = None;
    while let Some((channel, payload)) = batches.recv().await {
        if connection.is_none() {
            match client.get_connection_manager().await {
                Ok(manager) => connection = Some(manager),
                Err(err) => {
                    tracing::warn!(error = %err, "cannot reach Redis; the store poll delivers meanwhile")
                }
            }
        }
        let Some(manager) = connection.as_mut() else {
            metrics.record_bus_events("dropped", events_in(&payload));
            continue;
        };
        // The manager reconnects by itself after a failure.
        let sent: redis::RedisResult<i64> = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(&payload)
            .query_async(manager)
            .await;
        match sent {
            Ok(_) => metrics.record_bus_events("published", events_in(&payload)),
            Err(err) => {
                tracing::debug!(error = %err, "bus publish failed");
                metrics.record_bus_events("dropped", events_in(&payload));
            }
        }
    }
}

async fn subscriber(bus: Arc<RedisBus>, inbox: WeakInbox) {
    let mut backoff = BACKOFF_MIN;
    let mut subscribed_before = false;
    loop {
        match bus.client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.psubscribe(format!("{CHANNEL_PREFIX}*")).await {
                Ok(()) => {
                    tracing::info!("subscribed to the Redis bus");
                    // Counted once the subscription is back, not when it was lost.
                    if subscribed_before {
                        bus.metrics.record_bus_reconnect();
                    }
                    subscribed_before = true;
                    backoff = BACKOFF_MIN;
                    let mut messages = pubsub.into_on_message();
                    while let Some(msg) = messages.next().await {
                        bus.receive(&msg, &inbox);
                    }
                    tracing::warn!("lost the Redis bus; reconnecting");
                }
                Err(err) => tracing::warn!(error = %err, "cannot subscribe on Redis"),
            },
            Err(err) => tracing::warn!(error = %err, "cannot reach Redis; retrying"),
        }
        if inbox.upgrade().is_none() {
            return;
        }
        actix_rt::time::sleep(jittered(backoff)).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Between half and all of `pause`, so nodes that lost Redis together do not
/// reconnect together.
fn jittered(pause: Duration) -> Duration {
    let mut random = [0u8; 8];
    let fraction = match getrandom::fill(&mut random) {
        Ok(()) => (u64::from_le_bytes(random) % 1_000) as f64 / 1_000.0,
        Err(_) => 1.0,
    };
    pause.mul_f64(0.5 + fraction / 2.0)
}
