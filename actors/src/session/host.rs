//! What every session actor of a node shares: the store, the inbox, the driver,
//! the settings, the connect queue and the counters; and the work an actor hands
//! off (recording a transition, ingesting a message, applying receipts).

use super::actor::ChannelSessionActor;
use super::driver::{SessionDriver, WaInbound};
use super::keys::SessionKeys;
use super::relay::SessionRelay;
use super::settings::SessionSettings;
use super::state::{SessionState, Transition};
use super::stats::SessionStats;
use crate::channel::records::{ChannelKind, channel_key};
use crate::domain::backoff::backoff;
use crate::inbox::Inbox;
use crate::inbox::bus::NodeId;
use crate::inbox::records::{Identity, Inbound, StatusReport};
use crate::store::{Store, StoreError};
use crate::{ChannelId, DeliveryStatus, Direction, PhoneE164, TenantId};
use actix::Addr;
use dashmap::DashMap;
use serde_json::{Value, json};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Builds the sealed key store of one session (the server owns the sealing key).
pub type KeysFactory = Arc<dyn Fn(TenantId, ChannelId) -> Arc<dyn SessionKeys> + Send + Sync>;

/// How often an ingest that failed on the store is tried before the message is
/// logged as lost; the actor's mailbox (and so the client) waits meanwhile.
const INGEST_TRIES: u32 = 6;
const INGEST_RETRY_BASE: Duration = Duration::from_millis(200);
const INGEST_RETRY_MAX: Duration = Duration::from_secs(5);

pub(super) struct Host {
    pub(super) store: Arc<dyn Store>,
    pub(super) inbox: Inbox,
    pub(super) driver: Arc<dyn SessionDriver>,
    keys: KeysFactory,
    pub(super) node: NodeId,
    pub(super) settings: SessionSettings,
    pub(super) stats: Arc<SessionStats>,
    pub(super) connect_permits: Arc<Semaphore>,
    pub(super) actors: DashMap<ChannelId, Addr<ChannelSessionActor>>,
    /// Where session actors run: the arbiter that built the registry, not the HTTP
    /// worker that happened to handle a request (its arbiter stops with the server).
    pub(super) arbiter: actix::ArbiterHandle,
    /// Carries commands to the node that runs a session (set once, in a cluster).
    pub(super) relay: OnceLock<Arc<dyn SessionRelay>>,
}

impl Host {
    pub(super) fn new(
        store: Arc<dyn Store>,
        inbox: Inbox,
        driver: Arc<dyn SessionDriver>,
        keys: KeysFactory,
        node: NodeId,
        settings: SessionSettings,
    ) -> Self {
        Self {
            connect_permits: Arc::new(Semaphore::new(settings.connect_concurrency.max(1))),
            store,
            inbox,
            driver,
            keys,
            node,
            settings,
            stats: Arc::default(),
            actors: DashMap::new(),
            arbiter: actix::Arbiter::current(),
            relay: OnceLock::new(),
        }
    }

    pub(super) fn keys_for(&self, tenant: TenantId, channel: ChannelId) -> Arc<dyn SessionKeys> {
        (self.keys)(tenant, channel)
    }

    pub(super) fn note_state(&self, channel: ChannelId, state: SessionState) {
        self.stats.note_state(channel, state);
    }

    /// Stores and publishes a transition; false when this node no longer holds the
    /// session's lease (nothing was written).
    pub(super) async fn record(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        transition: &Transition,
    ) -> Result<bool, StoreError> {
        let Some(event) = self
            .store
            .record_session(tenant, channel, self.node, transition)
            .await?
        else {
            return Ok(false);
        };
        self.stats.note_transition(transition.state);
        self.inbox.publish(tenant, vec![event]);
        Ok(true)
    }

    /// The actor of `channel` stopped for good: it leaves the registry (unless a
    /// newer one took its place) and its lease is given up.
    pub(super) async fn released(&self, channel: ChannelId) {
        let release = self.store.release_session(channel, self.node);
        match tokio::time::timeout(self.settings.lease_ttl, release).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                tracing::warn!(%channel, error = %err, "cannot release a session's lease; it expires by itself");
            }
            Err(_) => {
                tracing::warn!(%channel, "releasing a session's lease timed out; it expires by itself")
            }
        }
    }

    pub(super) fn forget(&self, channel: ChannelId, addr: &Addr<ChannelSessionActor>) {
        self.actors.remove_if(&channel, |_, held| held == addr);
        self.stats.forget(channel);
    }

    /// Ingests one message the session saw, through the same path as every channel.
    /// A store failure is retried with backoff while the session waits.
    pub(super) async fn ingest(&self, tenant: TenantId, channel: ChannelId, message: WaInbound) {
        let inbound = inbound(channel, message);
        let outbound = inbound.direction == Direction::Outbound;
        for attempt in 1..=INGEST_TRIES {
            match self.inbox.ingest(tenant, &inbound).await {
                Ok(recorded) => {
                    if !recorded.duplicate && !outbound {
                        self.stats.note_message_in();
                    }
                    return;
                }
                Err(err) if attempt < INGEST_TRIES => {
                    let pause = backoff(INGEST_RETRY_BASE, INGEST_RETRY_MAX, attempt);
                    tracing::warn!(%channel, error = %err, ?pause, "cannot store a WhatsApp message; trying again");
                    tokio::time::sleep(pause).await;
                }
                Err(err) => {
                    tracing::error!(%channel, id = ?inbound.provider_id, error = %err, "a WhatsApp message could not be stored");
                }
            }
        }
    }

    /// Moves the status of each message this session sent forward.
    pub(super) async fn receipts(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        ids: &[String],
        status: DeliveryStatus,
    ) {
        let key = channel_key(ChannelKind::WhatsAppWeb, channel);
        for id in ids {
            let message = match self.store.message_by_provider_id(tenant, &key, id).await {
                Ok(Some(message)) => message,
                Ok(None) => continue,
                Err(err) => {
                    tracing::warn!(%channel, error = %err, "cannot look up a receipt's message");
                    continue;
                }
            };
            let report = StatusReport::new(status);
            if let Err(err) = self
                .inbox
                .report_status(tenant, message.conversation_id, message.id, report)
                .await
            {
                tracing::warn!(%channel, error = %err, "cannot record a receipt");
            }
        }
    }
}

/// A WhatsApp message as the ingest path takes it. The chat is the customer's
/// identity on the channel (`<number>@s.whatsapp.net`, or the group's JID), so a
/// group is one conversation; a 1:1 chat carries the number, which joins the
/// contact the same number has on any other channel (the Cloud API's, say).
fn inbound(channel: ChannelId, message: WaInbound) -> Inbound {
    let key = channel_key(ChannelKind::WhatsAppWeb, channel);
    let group = message.is_group();
    let phone = if group {
        None
    } else {
        message
            .phone
            .as_deref()
            .and_then(|p| PhoneE164::parse(p).ok())
    };
    let attachment = match (message.attachment, &message.participant) {
        (attachment, Some((number, name))) if group => {
            let mut object = match attachment {
                Some(Value::Object(object)) => object,
                Some(other) => [("content".to_owned(), other)].into_iter().collect(),
                None => serde_json::Map::new(),
            };
            object.insert(
                "participant".into(),
                json!({ "phone": number, "name": name }),
            );
            Some(Value::Object(object))
        }
        (attachment, _) => attachment,
    };
    Inbound {
        sender: Identity {
            channel: key.clone(),
            external_id: message.chat.clone(),
        },
        channel: key,
        direction: if message.from_me {
            Direction::Outbound
        } else {
            Direction::Inbound
        },
        sender_name: message
            .chat_name
            .or_else(|| message.phone.clone())
            .unwrap_or(message.chat),
        sender_phone: phone,
        sender_email: None,
        provider_id: Some(message.id),
        kind: message.kind,
        body: message.body,
        attachment,
        received_at: message.at,
    }
}
