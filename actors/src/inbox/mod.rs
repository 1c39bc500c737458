//! The live inbox: records and their storage port, the tenant stream, and the
//! actors that keep conversations and agent connections live.
//!
//! `Inbox` is the entry point for the HTTP layer: it finds (or starts) the actor for
//! a tenant or conversation and turns closed mailboxes into fresh actors.

pub mod access;
pub mod bus;
pub mod conversation;
pub mod frames;
pub mod group_commit;
pub mod outbound;
pub mod records;
pub mod session;
pub mod settings;
pub mod snapshot;
pub mod store;
pub mod stream;
pub mod tenant;
pub mod views;

use crate::automation::happening::Origin;
use crate::contacts::consent::{self, Consent, ConsentSource};
use crate::store::StoreError;
use crate::{ConversationId, Direction, MessageId, TenantId, UserId};
use access::AccessChange;
use actix::prelude::*;
use bus::{ActivityKind, Bus, NodeId, Signal};
use conversation::{
    Activity, Append, Change, ConversationActor, ConversationEnv, GetSnapshot, Observed, Report,
};
use dashmap::DashMap;
use group_commit::GroupCommit;
use outbound::Outbound;
use records::{ConversationChange, Inbound, Outgoing, StatusReport};
use session::{Member, SessionId, Subscription};
use settings::InboxSettings;
use snapshot::Snapshot;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use store::{Changed, InboxStore, Recorded, StatusUpdate};
use stream::{StreamEvent, StreamPosition};
use tenant::{
    AccessChanged, Attach, ConversationRegistry, Join, Leave, LiveConversation, Publish,
    RemoteSignal, Resubscribe, SetPresence, TenantActor,
};

#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The actor did not answer in time (its mailbox stayed full).
    #[error("the conversation is busy; try again")]
    Busy,
    /// WhatsApp's 24-hour window since the customer's last message has closed.
    #[error(
        "the customer last wrote more than 24 hours ago; WhatsApp accepts only a template message now"
    )]
    TemplateRequired,
    /// The user or tenant has as many open connections as allowed on this node.
    #[error("too many open connections for this {0}")]
    TooManyConnections(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboxStats {
    /// Conversation actors in memory (each stops after its idle period).
    pub live_conversations: usize,
    pub agent_connections: usize,
    /// Customer messages queued for the ingest writer.
    pub ingest_waiting: usize,
    /// Customer messages in a batch being written right now.
    pub ingest_writing: usize,
}

/// How long a caller waits for a conversation actor before giving up with `Busy`.
const ACTOR_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
struct TenantEntry {
    addr: Addr<TenantActor>,
    conversations: ConversationRegistry,
}

struct Shared {
    /// Agent connections joined to any tenant of this node.
    connections: Arc<std::sync::atomic::AtomicUsize>,
    store: Arc<dyn InboxStore>,
    ingest: GroupCommit,
    settings: Arc<InboxSettings>,
    outbound: Arc<dyn Outbound>,
    bus: Arc<dyn Bus>,
    tenants: DashMap<TenantId, TenantEntry>,
}

/// Cheap to clone; all clones share the actors.
#[derive(Clone)]
pub struct Inbox(Arc<Shared>);

/// An `Inbox` reference that does not keep it alive: channel adapters hold one to
/// report delivery statuses without a reference cycle.
#[derive(Clone)]
pub struct WeakInbox(std::sync::Weak<Shared>);

impl WeakInbox {
    pub fn upgrade(&self) -> Option<Inbox> {
        self.0.upgrade().map(Inbox)
    }
}

impl Inbox {
    /// `outbound` builds the channel adapters, which get a weak handle back.
    pub fn new(
        store: Arc<dyn InboxStore>,
        settings: InboxSettings,
        bus: Arc<dyn Bus>,
        outbound: impl FnOnce(WeakInbox) -> Arc<dyn Outbound>,
    ) -> Self {
        Self(Arc::new_cyclic(|weak| Shared {
            connections: Arc::default(),
            ingest: GroupCommit::new(store.clone(), settings.ingest_queue, settings.ingest_batch),
            store,
            settings: Arc::new(settings),
            outbound: outbound(WeakInbox(weak.clone())),
            bus,
            tenants: DashMap::new(),
        }))
    }

    /// A handle that does not keep the inbox alive (for the bus's subscriber).
    pub fn downgrade(&self) -> WeakInbox {
        WeakInbox(Arc::downgrade(&self.0))
    }

    pub fn store(&self) -> &Arc<dyn InboxStore> {
        &self.0.store
    }

    /// The channel adapters, for sending a stored reply again (a retried dead letter).
    pub fn outbound(&self) -> &Arc<dyn Outbound> {
        &self.0.outbound
    }

    pub fn settings(&self) -> &InboxSettings {
        &self.0.settings
    }

    /// What this node holds live right now, for `/metrics`.
    pub fn stats(&self) -> InboxStats {
        InboxStats {
            live_conversations: self.0.tenants.iter().map(|t| t.conversations.len()).sum(),
            agent_connections: self
                .0
                .connections
                .load(std::sync::atomic::Ordering::Relaxed),
            ingest_waiting: self.0.ingest.load().waiting(),
            ingest_writing: self.0.ingest.load().writing(),
        }
    }

    fn tenant(&self, tenant: TenantId) -> TenantEntry {
        // The common case takes only a shard read lock.
        if let Some(entry) = self.0.tenants.get(&tenant).filter(|e| e.addr.connected()) {
            return entry.clone();
        }
        let mut entry = self
            .0
            .tenants
            .entry(tenant)
            .or_insert_with(|| self.start_tenant(tenant));
        if !entry.addr.connected() {
            tracing::error!(%tenant, "tenant actor died; starting a new one");
            *entry = self.start_tenant(tenant);
        }
        entry.clone()
    }

    fn start_tenant(&self, tenant: TenantId) -> TenantEntry {
        let conversations: ConversationRegistry = Arc::default();
        let actor = TenantActor::new(
            tenant,
            self.0.store.clone(),
            self.0.settings.clone(),
            self.0.bus.clone(),
            self.0.connections.clone(),
        );
        TenantEntry {
            addr: actor.start(),
            conversations,
        }
    }

    /// The live actor of a conversation, started (and loading from the store) when
    /// there is none or the last one died.
    pub fn conversation(&self, tenant: TenantId, id: ConversationId) -> Addr<ConversationActor> {
        let entry = self.tenant(tenant);
        let start = || {
            let env = ConversationEnv {
                store: self.0.store.clone(),
                settings: self.0.settings.clone(),
                hub: entry.addr.clone(),
                registry: entry.conversations.clone(),
                outbound: self.0.outbound.clone(),
                bus: self.0.bus.clone(),
            };
            let stale = Arc::new(AtomicBool::new(false));
            let flag = stale.clone();
            let addr =
                actix::Supervisor::start(move |_| ConversationActor::new(tenant, id, env, flag));
            LiveConversation { addr, stale }
        };
        if let Some(live) = entry.conversations.get(&id).filter(|l| l.addr.connected()) {
            return live.addr.clone();
        }
        let mut slot = entry.conversations.entry(id).or_insert_with(start);
        if !slot.addr.connected() {
            tracing::error!(conversation = %id, "conversation actor died; starting a new one");
            *slot = start();
        }
        slot.addr.clone()
    }

    /// Tells this node's actors of the conversations `events` change that their caches
    /// are out of date (see `LiveConversation::stale`). Cheap: no message, no store read.
    fn invalidate(&self, tenant: TenantId, events: &[StreamEvent]) {
        let Some(entry) = self.0.tenants.get(&tenant).map(|e| e.conversations.clone()) else {
            return;
        };
        for event in events.iter().filter(|e| e.kind.changes_conversation()) {
            if let Some(live) = entry.get(&event.conversation_id) {
                live.stale.store(true, Ordering::Release);
            }
        }
    }

    /// Sends to a conversation actor, once more to a fresh actor if the first one's
    /// mailbox turned out closed (it panicked).
    async fn ask<M>(
        &self,
        tenant: TenantId,
        id: ConversationId,
        make: impl Fn() -> M,
    ) -> Result<M::Result, InboxError>
    where
        M: actix::Message + Send + 'static,
        M::Result: Send,
        ConversationActor: Handler<M>,
    {
        for _ in 0..2 {
            let addr = self.conversation(tenant, id);
            match addr.send(make()).timeout(ACTOR_TIMEOUT).await {
                Ok(result) => return Ok(result),
                Err(MailboxError::Timeout) => return Err(InboxError::Busy),
                Err(MailboxError::Closed) => continue,
            }
        }
        Err(InboxError::Busy)
    }

    /// Records a customer message (in a transaction shared with the tenant's other
    /// messages arriving meanwhile, see `group_commit`) and publishes it. The caller may
    /// acknowledge the provider once this returns: the message has committed.
    pub async fn ingest(
        &self,
        tenant: TenantId,
        inbound: &Inbound,
    ) -> Result<Recorded, InboxError> {
        let inbound = inbound.clone().within_limits();
        let recorded = self.0.ingest.ingest(tenant, inbound).await?;
        // Before the caller acknowledges, so a failure here has the provider deliver
        // the message again; as a duplicate it is looked at again, and the store
        // takes the change only if nothing newer came since.
        self.take_consent_keyword(tenant, &recorded).await?;
        if !recorded.duplicate {
            self.deliver(tenant, recorded.events.clone());
            let conversation = recorded.conversation.id;
            if let Some(live) = self
                .tenant(tenant)
                .conversations
                .get(&conversation)
                .map(|l| l.clone())
            {
                let observed = Observed {
                    recorded: recorded.clone(),
                };
                // A full mailbox must not leave the cache without this message.
                if live.addr.try_send(observed).is_err() {
                    live.stale.store(true, Ordering::Release);
                }
            }
        }
        Ok(recorded)
    }

    /// A customer message that is only `STOP` (or `START`, in any language we know)
    /// changes their consent to marketing.
    async fn take_consent_keyword(
        &self,
        tenant: TenantId,
        recorded: &Recorded,
    ) -> Result<(), InboxError> {
        let message = &recorded.message;
        if message.direction != Direction::Inbound {
            return Ok(());
        }
        let Some(opted_out) = message.body.as_deref().and_then(consent::keyword) else {
            return Ok(());
        };
        let change = Consent {
            opted_out,
            source: ConsentSource::Keyword,
            at: message.created_at,
        };
        self.0
            .store
            .record_consent(tenant, recorded.conversation.contact_id, change)
            .await?;
        Ok(())
    }

    pub async fn append(
        &self,
        tenant: TenantId,
        id: ConversationId,
        message: Outgoing,
    ) -> Result<Recorded, InboxError> {
        self.ask(tenant, id, || Append {
            message: message.clone(),
        })
        .await?
    }

    pub async fn change(
        &self,
        tenant: TenantId,
        id: ConversationId,
        change: ConversationChange,
    ) -> Result<Changed, InboxError> {
        self.ask(tenant, id, || Change {
            change: change.clone(),
            origin: None,
        })
        .await?
    }

    /// A change an automation run makes: its events name the run.
    pub async fn change_by_rule(
        &self,
        tenant: TenantId,
        id: ConversationId,
        change: ConversationChange,
        origin: Origin,
    ) -> Result<Changed, InboxError> {
        self.ask(tenant, id, || Change {
            change: change.clone(),
            origin: Some(origin),
        })
        .await?
    }

    pub async fn report_status(
        &self,
        tenant: TenantId,
        id: ConversationId,
        message: MessageId,
        report: StatusReport,
    ) -> Result<StatusUpdate, InboxError> {
        self.ask(tenant, id, || Report {
            message,
            report: report.clone(),
        })
        .await?
    }

    pub async fn snapshot(
        &self,
        tenant: TenantId,
        id: ConversationId,
    ) -> Result<Snapshot, InboxError> {
        self.ask(tenant, id, || GetSnapshot).await?
    }

    /// Typing and viewing are best effort: dropped when the actor is busy (the
    /// client's next repeat restores them).
    pub fn activity(
        &self,
        tenant: TenantId,
        id: ConversationId,
        kind: ActivityKind,
        user: UserId,
        active: bool,
    ) {
        let _ = self
            .conversation(tenant, id)
            .try_send(Activity { kind, user, active });
    }

    /// Publishes events written outside a conversation actor (contact merges, tag
    /// deletions, requeued replies, the pipeline's findings): the conversations they
    /// change get their caches invalidated here (and, through the bus, on the other nodes), then the events
    /// go out like any others.
    pub fn publish(&self, tenant: TenantId, events: Vec<StreamEvent>) {
        self.invalidate(tenant, &events);
        self.deliver(tenant, events);
    }

    /// Delivers committed events to this node's agents and offers them to the others.
    /// `try_send`: a full mailbox is caught up by the stream poll.
    fn deliver(&self, tenant: TenantId, events: Vec<StreamEvent>) {
        if !events.is_empty() {
            self.0.bus.publish(tenant, &events);
            let _ = self.tenant(tenant).addr.try_send(Publish { events });
        }
    }

    /// A live signal from another node (presence, typing, viewing), for this node's agents of
    /// the tenant; ignored when none is connected here.
    pub fn deliver_signal(&self, tenant: TenantId, node: NodeId, signal: Signal) {
        if let Some(entry) = self.0.tenants.get(&tenant).filter(|e| e.addr.connected()) {
            let _ = entry.addr.try_send(RemoteSignal { node, signal });
        }
    }

    /// Events another node committed, from the bus: delivered when this node has the
    /// tenant's actor (agents connected), ignored otherwise. A full mailbox drops
    /// them; the store poll delivers them instead.
    pub fn deliver_remote(&self, tenant: TenantId, events: Vec<StreamEvent>) {
        let Some(entry) = self
            .0
            .tenants
            .get(&tenant)
            .filter(|e| e.addr.connected())
            .map(|e| e.clone())
        else {
            return;
        };
        // Conversation actors here hold caches, not truth: each one another node
        // changed reads itself again when next used (one read, however many events).
        self.invalidate(tenant, &events);
        let _ = entry.addr.try_send(Publish { events });
    }

    /// Registers an authenticated connection with its tenant (before it acts or
    /// subscribes), within the per-user and per-tenant caps.
    pub async fn attach(&self, tenant: TenantId, member: Member) -> Result<(), InboxError> {
        match self
            .tenant(tenant)
            .addr
            .send(Attach { member })
            .timeout(ACTOR_TIMEOUT)
            .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(tenant::AttachRefused::UserLimit)) => {
                Err(InboxError::TooManyConnections("user"))
            }
            Ok(Err(tenant::AttachRefused::TenantLimit)) => {
                Err(InboxError::TooManyConnections("tenant"))
            }
            Err(_) => Err(InboxError::Busy),
        }
    }

    /// A user's access changed: their open connections on this node are re-granted
    /// or closed before this returns, and the other nodes are told over the bus.
    pub async fn access_changed(&self, tenant: TenantId, user: UserId, change: AccessChange) {
        self.0.bus.signal(
            tenant,
            Signal::Access {
                user,
                change: change.clone(),
            },
        );
        let Some(addr) = self
            .0
            .tenants
            .get(&tenant)
            .filter(|e| e.addr.connected())
            .map(|e| e.addr.clone())
        else {
            return;
        };
        // A busy tenant's next access check applies it within `access_recheck`.
        if addr
            .send(AccessChanged { user, change })
            .timeout(ACTOR_TIMEOUT)
            .await
            .is_err()
        {
            tracing::warn!(%tenant, "tenant actor did not take an access change; its next check will");
        }
    }

    /// Registers a connection. Joining must not be dropped, so this waits for room
    /// in the tenant's mailbox.
    pub async fn join(
        &self,
        tenant: TenantId,
        member: Member,
        subscription: Subscription,
        resume: Option<StreamPosition>,
    ) -> Result<(), InboxError> {
        self.tenant(tenant)
            .addr
            .send(Join {
                member,
                subscription,
                resume,
            })
            .timeout(ACTOR_TIMEOUT)
            .await
            .map_err(|_| InboxError::Busy)
    }

    pub async fn resubscribe(
        &self,
        tenant: TenantId,
        session: SessionId,
        subscription: Subscription,
    ) {
        let _ = self
            .tenant(tenant)
            .addr
            .send(Resubscribe {
                session,
                subscription,
            })
            .await;
    }

    pub fn set_presence(
        &self,
        tenant: TenantId,
        session: SessionId,
        status: frames::PresenceStatus,
    ) {
        let _ = self
            .tenant(tenant)
            .addr
            .try_send(SetPresence { session, status });
    }

    /// Users online on any node (none when the tenant actor does not answer).
    pub async fn online_users(&self, tenant: TenantId) -> Vec<UserId> {
        self.tenant(tenant)
            .addr
            .send(tenant::OnlineUsers)
            .timeout(ACTOR_TIMEOUT)
            .await
            .unwrap_or_default()
    }

    pub async fn leave(&self, tenant: TenantId, session: SessionId) {
        let _ = self.tenant(tenant).addr.send(Leave { session }).await;
    }
}
