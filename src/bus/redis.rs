//! The Redis pub/sub bus: each node publishes a tenant's committed events on
//! `switchboard:tenant:<id>` and delivers what other nodes publish to its own agents.
//!
//! Redis is a speed path only (G7). Publishing goes through one bounded queue per node
//! (full: the batch is dropped and counted); a lost connection is re-made with jittered
//! backoff, and subscriptions come back with it. Whatever the bus drops while Redis is
//! away, every node's tenant actors read from the store on their poll, so agents get
//! it later, in order, never not at all. Replay on reconnect comes from the store,
//! never from Redis.

mod relay;

use crate::channels::gateway::Gateway;
use crate::telemetry::Metrics;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use switchboard_actors::inbox::WeakInbox;
use switchboard_actors::inbox::access::AccessChange;
use switchboard_actors::inbox::bus::{ActivityKind, Bus, NodeId, Present, Signal};
use switchboard_actors::inbox::frames::PresenceStatus;
use switchboard_actors::inbox::stream::{Epoch, EventKind, StreamEvent};
use switchboard_actors::{ConversationId, Millis, RefreshFamilyId, Role, TenantId, UserId};
use tokio::sync::mpsc;
use uuid::Uuid;

const CHANNEL_PREFIX: &str = "switchboard:tenant:";
/// `switchboard:presence:<tenant>:<user>:<node>` = status, expiring with the TTL: what
/// a starting node reads to know who is online elsewhere.
const PRESENCE_PREFIX: &str = "switchboard:presence:";
/// How long a starting tenant actor waits for that read before going on without it.
const PRESENT_TIMEOUT: Duration = Duration::from_millis(500);
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
    /// Named `typing` on the wire since before viewing existed; `kind` is absent in
    /// what such nodes send.
    Typing {
        node: Uuid,
        #[serde(default = "typing_kind")]
        kind: String,
        conversation: Uuid,
        user: Uuid,
        active: bool,
    },
    /// A user's access changed; see `WireAccess`.
    Access {
        node: Uuid,
        user: Uuid,
        #[serde(flatten)]
        change: WireAccess,
    },
}

/// `AccessChange` on the wire.
#[derive(Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
enum WireAccess {
    Role { role: String },
    Revoked,
    SignedOut { sign_ins: Vec<Uuid> },
    SignedOutExcept { sign_in: Uuid },
}

impl From<&AccessChange> for WireAccess {
    fn from(change: &AccessChange) -> Self {
        match change {
            AccessChange::Role(role) => WireAccess::Role {
                role: role.as_str().to_owned(),
            },
            AccessChange::Revoked => WireAccess::Revoked,
            AccessChange::SignedOut(ended) => WireAccess::SignedOut {
                sign_ins: ended.iter().map(|f| f.0).collect(),
            },
            AccessChange::SignedOutExcept(kept) => WireAccess::SignedOutExcept { sign_in: kept.0 },
        }
    }
}

impl WireAccess {
    fn into_change(self) -> Option<AccessChange> {
        Some(match self {
            WireAccess::Role { role } => AccessChange::Role(Role::parse(&role).ok()?),
            WireAccess::Revoked => AccessChange::Revoked,
            WireAccess::SignedOut { sign_ins } => {
                AccessChange::SignedOut(sign_ins.into_iter().map(RefreshFamilyId).collect())
            }
            WireAccess::SignedOutExcept { sign_in } => {
                AccessChange::SignedOutExcept(RefreshFamilyId(sign_in))
            }
        })
    }
}

fn typing_kind() -> String {
    ActivityKind::Typing.as_str().to_owned()
}

impl Wire {
    fn node(&self) -> Uuid {
        match self {
            Wire::Events { node, .. }
            | Wire::Presence { node, .. }
            | Wire::Typing { node, .. }
            | Wire::Access { node, .. } => *node,
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

/// What the publisher task does with Redis.
enum Op {
    Publish {
        channel: String,
        payload: String,
        events: usize,
    },
    Set {
        key: String,
        value: String,
        ttl: Duration,
    },
    Delete {
        key: String,
    },
}

pub struct RedisBus {
    node: Uuid,
    client: redis::Client,
    outbox: mpsc::Sender<Op>,
    presence_ttl: Duration,
    metrics: Metrics,
    /// Session commands this node relayed and waits on (see `relay`).
    pending: relay::Pending,
    relay_timeout: Duration,
    /// Runs the session commands other nodes relay here.
    gateway: OnceLock<Arc<Gateway>>,
}

impl RedisBus {
    /// Checks the URL and starts the publisher; connecting happens in the background,
    /// so a node starts (and serves its own agents) while Redis is away.
    /// `node` is this node's id (its sessions' lease holder too); a relayed session
    /// command fails when its node has not answered within `relay_timeout`.
    pub fn start(
        url: &str,
        node: NodeId,
        presence_ttl: Duration,
        relay_timeout: Duration,
        metrics: Metrics,
    ) -> Result<Arc<Self>, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let (outbox, ops) = mpsc::channel(OUTBOX_CAPACITY);
        actix_rt::spawn(publisher(client.clone(), ops, metrics.clone()));
        Ok(Arc::new(Self {
            node: node.0,
            client,
            outbox,
            presence_ttl,
            metrics,
            pending: relay::Pending::default(),
            relay_timeout,
            gateway: OnceLock::new(),
        }))
    }

    /// Runs the session commands other nodes relay to this one through `gateway`.
    pub fn serve_sessions(&self, gateway: Arc<Gateway>) {
        let _ = self.gateway.set(gateway);
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
                kind,
                conversation,
                user,
                active,
                ..
            } => {
                // A kind this node does not know comes from a newer node: skip it.
                if let Some(kind) = ActivityKind::parse(&kind) {
                    let signal = Signal::Activity {
                        kind,
                        conversation: ConversationId(conversation),
                        user: UserId(user),
                        active,
                    };
                    inbox.deliver_signal(tenant, NodeId(node), signal);
                }
            }
            Wire::Access { user, change, .. } => match change.into_change() {
                Some(change) => {
                    let signal = Signal::Access {
                        user: UserId(user),
                        change,
                    };
                    inbox.deliver_signal(tenant, NodeId(node), signal);
                }
                None => tracing::warn!("unreadable access change on the bus"),
            },
        }
    }

    fn send(&self, tenant: TenantId, wire: &Wire, events: usize) {
        let Ok(payload) = serde_json::to_string(wire) else {
            return;
        };
        let channel = format!("{CHANNEL_PREFIX}{}", tenant.0);
        self.queue(Op::Publish {
            channel,
            payload,
            events,
        });
    }

    fn queue(&self, op: Op) {
        // Full (or the publisher gone): the store poll delivers events, the next
        // heartbeat presence.
        if let Err(err) = self.outbox.try_send(op)
            && let Op::Publish { events, .. } = err.into_inner()
        {
            self.metrics.record_bus_events("dropped", events);
        }
    }

    async fn read_present(&self, tenant: TenantId) -> redis::RedisResult<Present> {
        let mut conn = self.client.get_multiplexed_async_connection().await?;
        let pattern = format!("{PRESENCE_PREFIX}{}:*", tenant.0);
        let mut present = Vec::new();
        let mut cursor = 0_u64;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(500)
                .query_async(&mut conn)
                .await?;
            if !keys.is_empty() {
                let values: Vec<Option<String>> =
                    redis::cmd("MGET").arg(&keys).query_async(&mut conn).await?;
                for (key, value) in keys.iter().zip(values) {
                    let mut parts = key.rsplit(':');
                    let (Some(node), Some(user)) = (parts.next(), parts.next()) else {
                        continue;
                    };
                    let (Ok(node), Ok(user)) = (Uuid::parse_str(node), Uuid::parse_str(user))
                    else {
                        continue;
                    };
                    let status = value.as_deref().map(PresenceStatus::parse);
                    if node != self.node
                        && let Some(Ok(status)) = status
                    {
                        present.push((NodeId(node), UserId(user), status));
                    }
                }
            }
            if next == 0 {
                return Ok(present);
            }
            cursor = next;
        }
    }
}

#[async_trait::async_trait]
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
            Signal::Presence { user, status } => {
                let key = format!("{PRESENCE_PREFIX}{}:{}:{}", tenant.0, user.0, self.node);
                self.queue(if status == PresenceStatus::Offline {
                    Op::Delete { key }
                } else {
                    Op::Set {
                        key,
                        value: status.as_str().to_owned(),
                        ttl: self.presence_ttl,
                    }
                });
                Wire::Presence {
                    node: self.node,
                    user: user.0,
                    status: status.as_str().to_owned(),
                }
            }
            Signal::Activity {
                kind,
                conversation,
                user,
                active,
            } => Wire::Typing {
                node: self.node,
                kind: kind.as_str().to_owned(),
                conversation: conversation.0,
                user: user.0,
                active,
            },
            Signal::Access { user, change } => Wire::Access {
                node: self.node,
                user: user.0,
                change: WireAccess::from(&change),
            },
        };
        self.send(tenant, &wire, 0);
    }

    async fn present(&self, tenant: TenantId) -> Present {
        match tokio::time::timeout(PRESENT_TIMEOUT, self.read_present(tenant)).await {
            Ok(Ok(present)) => present,
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "cannot read presence from Redis; heartbeats will tell");
                Vec::new()
            }
            Err(_) => Vec::new(),
        }
    }
}

async fn publisher(client: redis::Client, mut ops: mpsc::Receiver<Op>, metrics: Metrics) {
    let mut connection: Option<redis::aio::ConnectionManager> = None;
    while let Some(op) = ops.recv().await {
        if connection.is_none() {
            match client.get_connection_manager().await {
                Ok(manager) => connection = Some(manager),
                Err(err) => {
                    tracing::warn!(error = %err, "cannot reach Redis; the store poll delivers meanwhile")
                }
            }
        }
        let events = match &op {
            Op::Publish { events, .. } => *events,
            Op::Set { .. } | Op::Delete { .. } => 0,
        };
        let Some(manager) = connection.as_mut() else {
            metrics.record_bus_events("dropped", events);
            continue;
        };
        let command = match op {
            Op::Publish {
                channel, payload, ..
            } => {
                let mut cmd = redis::cmd("PUBLISH");
                cmd.arg(channel).arg(payload);
                cmd
            }
            Op::Set { key, value, ttl } => {
                let mut cmd = redis::cmd("SET");
                cmd.arg(key)
                    .arg(value)
                    .arg("PX")
                    .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
                cmd
            }
            Op::Delete { key } => {
                let mut cmd = redis::cmd("DEL");
                cmd.arg(key);
                cmd
            }
        };
        // The manager reconnects by itself after a failure.
        match command.query_async::<redis::Value>(manager).await {
            Ok(_) if events > 0 => metrics.record_bus_events("published", events),
            Ok(_) => {}
            Err(err) => {
                tracing::debug!(error = %err, "bus command failed");
                metrics.record_bus_events("dropped", events);
            }
        }
    }
}

async fn subscriber(bus: Arc<RedisBus>, inbox: WeakInbox) {
    let mut backoff = BACKOFF_MIN;
    let mut subscribed_before = false;
    loop {
        match bus.client.get_async_pubsub().await {
            Ok(mut pubsub) => match subscribe(&mut pubsub, bus.node).await {
                Ok(()) => {
                    tracing::info!("subscribed to the Redis bus");
                    // Counted once the subscription is back, not when it was lost.
                    if subscribed_before {
                        bus.metrics.record_bus_reconnect();
                    }
                    subscribed_before = true;
                    backoff = BACKOFF_MIN;
                    let own = relay::node_channel(bus.node);
                    let mut messages = pubsub.into_on_message();
                    while let Some(msg) = messages.next().await {
                        if msg.get_channel_name() == own {
                            relay::arrived(&bus, msg.get_payload_bytes());
                        } else {
                            bus.receive(&msg, &inbox);
                        }
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

/// Every tenant's events, and this node's own channel (session commands).
async fn subscribe(pubsub: &mut redis::aio::PubSub, node: Uuid) -> redis::RedisResult<()> {
    pubsub.psubscribe(format!("{CHANNEL_PREFIX}*")).await?;
    pubsub.subscribe(relay::node_channel(node)).await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_access_change_crosses_the_wire_unchanged() {
        let node = Uuid::now_v7();
        let user = Uuid::now_v7();
        for change in [
            AccessChange::Role(Role::Viewer),
            AccessChange::Revoked,
            AccessChange::SignedOut(vec![RefreshFamilyId::new(), RefreshFamilyId::new()]),
            AccessChange::SignedOutExcept(RefreshFamilyId::new()),
        ] {
            let wire = Wire::Access {
                node,
                user,
                change: WireAccess::from(&change),
            };
            let text = serde_json::to_string(&wire).unwrap();
            let Wire::Access { change: back, .. } = serde_json::from_str(&text).unwrap() else {
                panic!("not an access change: {text}");
            };
            assert_eq!(back.into_change(), Some(change), "{text}");
        }
    }
}
