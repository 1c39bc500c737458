//! `TenantActor`: one per tenant with live activity. It owns the tenant's live side:
//! the connected agents and their presence, the conversation registry, and the
//! delivery of stream events in offset order.
//!
//! Writers publish events right after their transaction commits, but two writers
//! can publish in the other order than they committed. The tenant therefore delivers
//! strictly by offset: an event that arrives ahead of a missing one waits in
//! `pending` for a moment, then the gap is read from the store (where it must be,
//! since offsets commit in order). The same store read picks up events whose
//! publish was dropped because this mailbox was full.

use super::access::{AccessChange, Verdict};
use super::bus::{Bus, NodeId, Signal};
use super::conversation::ConversationActor;
use super::frames::{self, PresenceStatus, ResetReason};
use super::session::{Member, SessionId, Subscription};
use super::settings::InboxSettings;
use super::store::InboxStore;
use super::stream::{EventKind, StreamEvent, StreamPosition};
use crate::{ConversationId, Millis, Role, TenantId, UserId};
use actix::prelude::*;
use bytestring::ByteString;
use dashmap::DashMap;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

/// The live conversation actors of one tenant. It sits beside the tenant actor
/// rather than inside it so that finding a conversation does not queue behind the
/// tenant's fan-out.
pub type ConversationRegistry = Arc<DashMap<ConversationId, LiveConversation>>;

/// A conversation actor and the flag that tells it its cache is out of date.
#[derive(Clone)]
pub struct LiveConversation {
    pub addr: Addr<ConversationActor>,
    /// Set by whoever changed the conversation without going through the actor (a
    /// tag deletion, a merge, a requeued reply, another node, an ingest whose
    /// `Observed` found the mailbox full). A flag, not a message: it cannot be
    /// dropped, and the actor reads it before it next uses its cache.
    pub stale: Arc<AtomicBool>,
}

/// Committed events to deliver. Sent with `try_send` right after a commit.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Publish {
    pub events: Vec<StreamEvent>,
}

/// A connection authenticated: it is registered, so that access changes and the
/// connection caps apply to it, before it may act or subscribe.
#[derive(Message)]
#[rtype(result = "Result<(), AttachRefused>")]
pub struct Attach {
    pub member: Member,
}

/// Why a connection may not attach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachRefused {
    /// The user has `max_sockets_per_user` open connections on this node.
    UserLimit,
    /// The tenant has `max_sockets_per_tenant` open connections on this node.
    TenantLimit,
}

/// A user's access changed (on this node or, through the bus, on another).
#[derive(Message)]
#[rtype(result = "()")]
pub struct AccessChanged {
    pub user: UserId,
    pub change: AccessChange,
}

/// A connection joins the tenant. With `resume` the events after that position are
/// replayed first; without it (or when it cannot be honoured) it gets `reset`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Join {
    pub member: Member,
    pub subscription: Subscription,
    pub resume: Option<StreamPosition>,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Leave {
    pub session: SessionId,
}

/// Replaces what a joined connection receives from now on.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Resubscribe {
    pub session: SessionId,
    pub subscription: Subscription,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct SetPresence {
    pub session: SessionId,
    pub status: PresenceStatus,
}

/// A frame that is not stored (typing, viewing): sent to the connections that follow the
/// conversation, except those of `except`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Ephemeral {
    pub conversation: ConversationId,
    pub except: UserId,
    pub frame: ByteString,
}

/// A live signal from another node (through the bus).
#[derive(Message)]
#[rtype(result = "()")]
pub struct RemoteSignal {
    pub node: NodeId,
    pub signal: Signal,
}

/// Sent by a connection's replay task when its replay is on the socket.
#[derive(Message)]
#[rtype(result = "()")]
struct CaughtUp {
    session: SessionId,
}

enum Phase {
    Live,
    /// Replaying from the store; live events wait here, in order.
    CatchingUp(Vec<StreamEvent>),
}

struct Connection {
    member: Member,
    subscription: Subscription,
    phase: Phase,
}

struct Presence {
    status: PresenceStatus,
    connections: usize,
}

/// Sign-ins ended this long before the last access check are read again by the next:
/// the node that ended one stamped it with its own clock.
const ENDED_SIGN_IN_MARGIN_MS: i64 = 60_000;

pub struct TenantActor {
    tenant: TenantId,
    store: Arc<dyn InboxStore>,
    settings: Arc<InboxSettings>,
    /// Every authenticated connection, subscribed or not: what access changes and
    /// the connection caps apply to.
    attached: HashMap<SessionId, Member>,
    /// When the last access check started; the next reads sign-ins ended since.
    access_checked: Millis,
    checking_access: bool,
    /// The last offset handed to connections; `None` until read from the store.
    delivered: Option<StreamPosition>,
    pending: BTreeMap<i64, StreamEvent>,
    filling: bool,
    gap_timer: Option<SpawnHandle>,
    connections: HashMap<SessionId, Connection>,
    presence: HashMap<UserId, Presence>,
    /// What other nodes said of users' presence, and until when it holds.
    remote: HashMap<UserId, HashMap<NodeId, (PresenceStatus, Instant)>>,
    /// The other nodes.
    bus: Arc<dyn Bus>,
    /// The node-wide count of joined connections, shared with `Inbox::stats`.
    connection_count: Arc<AtomicUsize>,
}

impl TenantActor {
    pub fn new(
        tenant: TenantId,
        store: Arc<dyn InboxStore>,
        settings: Arc<InboxSettings>,
        bus: Arc<dyn Bus>,
        connection_count: Arc<AtomicUsize>,
    ) -> Self {
        Self {
            tenant,
            store,
            settings,
            attached: HashMap::new(),
            access_checked: Millis::now(),
            checking_access: false,
            delivered: None,
            pending: BTreeMap::new(),
            filling: false,
            gap_timer: None,
            connections: HashMap::new(),
            presence: HashMap::new(),
            remote: HashMap::new(),
            bus,
            connection_count,
        }
    }

    /// Reads the stream head; until it is known, events wait in `pending`. Retries
    /// while the store is down rather than stopping (which would lose the members).
    fn load_head(&mut self, ctx: &mut Context<Self>) {
        let (store, tenant) = (self.store.clone(), self.tenant);
        ctx.wait(
            async move { store.stream_head(tenant).await }
                .into_actor(self)
                .map(|head, act, ctx| match head {
                    Ok(head) => {
                        act.delivered = Some(StreamPosition {
                            epoch: head.epoch,
                            offset: head.last_offset,
                        });
                        act.drain(ctx);
                    }
                    Err(err) => {
                        tracing::warn!(tenant = %act.tenant, error = %err, "cannot read the stream head; retrying");
                        ctx.run_later(act.settings.stream_poll, |act, ctx| act.load_head(ctx));
                    }
                }),
        );
    }

    /// Delivers every pending event that follows the last delivered one, then deals
    /// with what is left behind a gap.
    fn drain(&mut self, ctx: &mut Context<Self>) {
        let Some(mut position) = self.delivered else {
            return;
        };
        self.pending
            .retain(|offset, event| *offset > position.offset && event.epoch == position.epoch);
        while let Some(event) = self.pending.remove(&(position.offset + 1)) {
            position.offset = event.offset;
            self.deliver(&event);
        }
        self.delivered = Some(position);
        if let Some(timer) = self.gap_timer.take() {
            ctx.cancel_future(timer);
        }
        if !self.pending.is_empty() {
            let wait = self.settings.gap_wait;
            self.gap_timer = Some(ctx.run_later(wait, |act, ctx| {
                act.gap_timer = None;
                act.fill(ctx);
            }));
        }
    }

    /// Reads the events after the last delivered one from the store.
    fn fill(&mut self, ctx: &mut Context<Self>) {
        let Some(position) = self.delivered else {
            return;
        };
        if self.filling {
            return;
        }
        self.filling = true;
        let (store, tenant, page) = (self.store.clone(), self.tenant, self.settings.replay_page);
        ctx.spawn(
            async move { store.events_after(tenant, position.offset, page).await }
                .into_actor(self)
                .map(move |events, act, ctx| {
                    act.filling = false;
                    match events {
                        Ok(events) => {
                            let full_page = events.len() == page as usize;
                            for event in events {
                                act.pending.entry(event.offset).or_insert(event);
                            }
                            act.drain(ctx);
                            if full_page {
                                act.fill(ctx);
                            }
                        }
                        Err(err) => {
                            tracing::warn!(tenant = %act.tenant, error = %err, "cannot read missed events; the next poll retries");
                        }
                    }
                }),
        );
    }

    fn deliver(&mut self, event: &StreamEvent) {
        let frame = event.frame();
        let mut gone = Vec::new();
        let catch_up_limit = self.settings.catch_up_buffer;
        for (id, connection) in &mut self.connections {
            if !connection.subscription.includes(event.conversation_id)
                || !may_see(event, &connection.member)
            {
                continue;
            }
            match &mut connection.phase {
                Phase::Live => {
                    if !connection.member.outbox.push(frame.clone()) {
                        gone.push(*id);
                        continue;
                    }
                }
                Phase::CatchingUp(held) if held.len() < catch_up_limit => held.push(event.clone()),
                Phase::CatchingUp(_) => {
                    connection
                        .member
                        .outbox
                        .closer
                        .close(super::session::CloseCode::SlowConsumer);
                    gone.push(*id);
                    continue;
                }
            }
            if event.kind == EventKind::ConversationAssigned
                && event.assignee_id == Some(connection.member.user)
            {
                connection
                    .member
                    .outbox
                    .push(frames::assigned_to_you(event.conversation_id, event.offset));
            }
        }
        for id in gone {
            self.remove(id);
        }
    }

    fn remove(&mut self, session: SessionId) {
        let Some(connection) = self.connections.remove(&session) else {
            return;
        };
        self.connection_count.fetch_sub(1, Ordering::Relaxed);
        let user = connection.member.user;
        let offline = match self.presence.get_mut(&user) {
            Some(presence) => {
                presence.connections = presence.connections.saturating_sub(1);
                presence.connections == 0
            }
            None => false,
        };
        if offline {
            let before = self.seen(user);
            self.presence.remove(&user);
            self.bus.signal(
                self.tenant,
                Signal::Presence {
                    user,
                    status: PresenceStatus::Offline,
                },
            );
            self.announce_if_changed(user, before, None);
        }
    }

    /// A user's presence as agents see it: from this node's connections, else what
    /// another node last said (the most present of them), else offline.
    fn seen(&self, user: UserId) -> PresenceStatus {
        if let Some(presence) = self.presence.get(&user) {
            return presence.status;
        }
        self.remote
            .get(&user)
            .and_then(|nodes| nodes.values().map(|(status, _)| *status).min())
            .unwrap_or(PresenceStatus::Offline)
    }

    fn announce_if_changed(&self, user: UserId, before: PresenceStatus, except: Option<UserId>) {
        let after = self.seen(user);
        if after != before {
            self.broadcast(&frames::presence(user, after), except);
        }
    }

    /// Tells the other nodes again who is here (their word on it expires), and lets
    /// expire what they stopped repeating (a node that died).
    fn presence_heartbeat(&mut self) {
        for (user, presence) in &self.presence {
            self.bus.signal(
                self.tenant,
                Signal::Presence {
                    user: *user,
                    status: presence.status,
                },
            );
        }
        let now = Instant::now();
        let users: Vec<UserId> = self.remote.keys().copied().collect();
        for user in users {
            let before = self.seen(user);
            if let Some(nodes) = self.remote.get_mut(&user) {
                nodes.retain(|_, (_, until)| *until > now);
                if nodes.is_empty() {
                    self.remote.remove(&user);
                }
            }
            self.announce_if_changed(user, before, None);
        }
    }

    /// Applies one user's access change to each of their connections here.
    fn change_access(&mut self, user: UserId, change: &AccessChange) {
        let verdicts = self
            .attached
            .values()
            .filter(|member| member.user == user)
            .map(|member| (member.session, change.verdict(member.sign_in)))
            .collect();
        self.enforce(verdicts);
    }

    /// Closes the connections that lost access and re-grants the others.
    fn enforce(&mut self, verdicts: Vec<(SessionId, Verdict)>) {
        for (session, verdict) in verdicts {
            match verdict {
                Verdict::Keep => {}
                Verdict::SetRole(role) => {
                    if let Some(member) = self.attached.get(&session)
                        && member.grant.role() != role
                    {
                        member.grant.set(role);
                        member.outbox.push(frames::access(role));
                    }
                }
                Verdict::Close => {
                    if let Some(member) = self.attached.remove(&session) {
                        member
                            .outbox
                            .closer
                            .close(super::session::CloseCode::AccessRevoked);
                    }
                    self.remove(session);
                }
            }
        }
    }

    /// Reads the tenant's access from the store and applies it: what the bus may not
    /// have brought (Redis down, a change made by another process).
    fn check_access(&mut self, ctx: &mut Context<Self>) {
        if self.checking_access {
            return;
        }
        self.checking_access = true;
        let started = Millis::now();
        let since = Millis(
            self.access_checked
                .0
                .saturating_sub(ENDED_SIGN_IN_MARGIN_MS),
        );
        let (store, tenant) = (self.store.clone(), self.tenant);
        ctx.spawn(
            async move { store.access_snapshot(tenant, since).await }
                .into_actor(self)
                .map(move |snapshot, act, _| {
                    act.checking_access = false;
                    match snapshot {
                        Ok(snapshot) => {
                            act.access_checked = started;
                            let verdicts = act
                                .attached
                                .values()
                                .map(|m| {
                                    (m.session, snapshot.verdict(m.user, m.sign_in, m.grant.role()))
                                })
                                .collect();
                            act.enforce(verdicts);
                        }
                        Err(err) => {
                            tracing::warn!(tenant = %act.tenant, error = %err, "cannot check access; the next check retries");
                        }
                    }
                }),
        );
    }

    /// A frame that is not stored, to the connections following `conversation`.
    fn ephemeral(&self, conversation: ConversationId, except: UserId, frame: &ByteString) {
        for connection in self.connections.values() {
            if connection.member.user != except && connection.subscription.includes(conversation) {
                connection.member.outbox.push(frame.clone());
            }
        }
    }

    /// Sends a frame to every connection (except one user's), whatever its phase.
    fn broadcast(&self, frame: &ByteString, except: Option<UserId>) {
        for connection in self.connections.values() {
            if Some(connection.member.user) != except {
                connection.member.outbox.push(frame.clone());
            }
        }
    }
}

impl Actor for TenantActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.settings.tenant_mailbox);
        self.load_head(ctx);
        // Before the first join: a joining agent's presence list includes who is
        // online on the other nodes.
        let (bus, tenant) = (self.bus.clone(), self.tenant);
        ctx.wait(
            async move { bus.present(tenant).await }
                .into_actor(self)
                .map(|present, act, _| {
                    let until = Instant::now() + act.settings.presence_ttl;
                    for (node, user, status) in present {
                        act.remote
                            .entry(user)
                            .or_default()
                            .insert(node, (status, until));
                    }
                }),
        );
        ctx.run_interval(self.settings.stream_poll, |act, ctx| {
            if !act.connections.is_empty() {
                act.fill(ctx);
            }
        });
        ctx.run_interval(self.settings.presence_ttl / 3, |act, _| {
            act.presence_heartbeat()
        });
        ctx.run_interval(self.settings.access_recheck, |act, ctx| {
            if !act.attached.is_empty() {
                act.check_access(ctx);
            }
        });
    }
}

impl Drop for TenantActor {
    /// A tenant actor ends with its node, or by crashing: a panic in a handler drops
    /// the actor without `stopping`. Either way the sockets it served must not stay
    /// open and silent: they close with 1012, their clients reconnect and resume from
    /// their last offset, and that reconnect starts a fresh tenant actor (`Inbox`
    /// replaces one whose mailbox is closed). Nothing is lost: resume reads the store.
    fn drop(&mut self) {
        for member in self.attached.values() {
            member
                .outbox
                .closer
                .close(super::session::CloseCode::Restarting);
        }
        self.connection_count
            .fetch_sub(self.connections.len(), Ordering::Relaxed);
    }
}

impl Handler<Attach> for TenantActor {
    type Result = Result<(), AttachRefused>;

    fn handle(&mut self, msg: Attach, _: &mut Self::Context) -> Self::Result {
        let user = msg.member.user;
        let of_user = self.attached.values().filter(|m| m.user == user).count();
        if of_user >= self.settings.max_sockets_per_user {
            return Err(AttachRefused::UserLimit);
        }
        if self.attached.len() >= self.settings.max_sockets_per_tenant {
            return Err(AttachRefused::TenantLimit);
        }
        self.attached.insert(msg.member.session, msg.member);
        Ok(())
    }
}

impl Handler<AccessChanged> for TenantActor {
    type Result = ();

    fn handle(&mut self, msg: AccessChanged, _: &mut Self::Context) {
        self.change_access(msg.user, &msg.change);
    }
}

impl Handler<Publish> for TenantActor {
    type Result = ();

    fn handle(&mut self, msg: Publish, ctx: &mut Self::Context) {
        for event in msg.events {
            self.pending.entry(event.offset).or_insert(event);
        }
        self.drain(ctx);
    }
}

impl Handler<Join> for TenantActor {
    type Result = ();

    fn handle(&mut self, msg: Join, ctx: &mut Self::Context) {
        let Join {
            member,
            subscription,
            resume,
        } = msg;
        let Some(position) = self.delivered else {
            // `load_head` runs in `ctx.wait`, so no message is handled before it
            // succeeds; this is unreachable in practice but must not panic.
            member
                .outbox
                .closer
                .close(super::session::CloseCode::Internal);
            return;
        };
        self.attached
            .entry(member.session)
            .or_insert_with(|| member.clone());
        let user = member.user;
        let before = self.seen(user);
        let presence = self.presence.entry(user).or_insert(Presence {
            status: PresenceStatus::Online,
            connections: 0,
        });
        presence.connections += 1;
        let came_online = presence.connections == 1;
        let others: Vec<UserId> = self
            .presence
            .keys()
            .chain(self.remote.keys())
            .filter(|other| **other != user)
            .copied()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        for other in others {
            member
                .outbox
                .push(frames::presence(other, self.seen(other)));
        }
        if came_online {
            self.bus.signal(
                self.tenant,
                Signal::Presence {
                    user,
                    status: PresenceStatus::Online,
                },
            );
            self.announce_if_changed(user, before, Some(user));
        }
        let replay = Replay {
            store: self.store.clone(),
            tenant: self.tenant,
            settings: self.settings.clone(),
            member: member.clone(),
            subscription: subscription.clone(),
            resume,
            until: position,
        };
        self.connection_count.fetch_add(1, Ordering::Relaxed);
        self.connections.insert(
            member.session,
            Connection {
                member,
                subscription,
                phase: Phase::CatchingUp(Vec::new()),
            },
        );
        let tenant = ctx.address();
        actix::spawn(async move {
            let session = replay.member.session;
            if replay.run().await {
                // `send` waits for mailbox room: this message must not be dropped.
                if tenant.send(CaughtUp { session }).await.is_err() {
                    tracing::warn!("tenant actor stopped during a replay");
                }
            }
        });
    }
}

impl Handler<CaughtUp> for TenantActor {
    type Result = ();

    fn handle(&mut self, msg: CaughtUp, _: &mut Self::Context) {
        let Some(connection) = self.connections.get_mut(&msg.session) else {
            return;
        };
        let Phase::CatchingUp(held) = std::mem::replace(&mut connection.phase, Phase::Live) else {
            return;
        };
        for event in held {
            if !connection.member.outbox.push(event.frame()) {
                self.remove(msg.session);
                return;
            }
        }
    }
}

impl Handler<Leave> for TenantActor {
    type Result = ();

    fn handle(&mut self, msg: Leave, _: &mut Self::Context) {
        self.attached.remove(&msg.session);
        self.remove(msg.session);
    }
}

impl Handler<Resubscribe> for TenantActor {
    type Result = ();

    fn handle(&mut self, msg: Resubscribe, _: &mut Self::Context) {
        if let Some(connection) = self.connections.get_mut(&msg.session) {
            connection.subscription = msg.subscription;
        }
    }
}

/// The users whose presence is online, on this node or another: who a handoff may
/// be assigned to.
#[derive(Message)]
#[rtype(result = "Vec<UserId>")]
pub struct OnlineUsers;

impl Handler<OnlineUsers> for TenantActor {
    type Result = Vec<UserId>;

    fn handle(&mut self, _: OnlineUsers, _: &mut Self::Context) -> Vec<UserId> {
        let mut users: Vec<UserId> = self
            .presence
            .keys()
            .chain(self.remote.keys())
            .copied()
            .collect();
        users.sort_by_key(|u| u.0);
        users.dedup();
        users.retain(|u| self.seen(*u) == PresenceStatus::Online);
        users
    }
}

impl Handler<SetPresence> for TenantActor {
    type Result = ();

    fn handle(&mut self, msg: SetPresence, _: &mut Self::Context) {
        let Some(user) = self.connections.get(&msg.session).map(|c| c.member.user) else {
            return;
        };
        let before = self.seen(user);
        if let Some(presence) = self.presence.get_mut(&user)
            && presence.status != msg.status
        {
            presence.status = msg.status;
            self.bus.signal(
                self.tenant,
                Signal::Presence {
                    user,
                    status: msg.status,
                },
            );
            self.announce_if_changed(user, before, None);
        }
    }
}

impl Handler<Ephemeral> for TenantActor {
    type Result = ();

    fn handle(&mut self, msg: Ephemeral, _: &mut Self::Context) {
        self.ephemeral(msg.conversation, msg.except, &msg.frame);
    }
}

impl Handler<RemoteSignal> for TenantActor {
    type Result = ();

    fn handle(&mut self, msg: RemoteSignal, _: &mut Self::Context) {
        match msg.signal {
            Signal::Presence { user, status } => {
                let before = self.seen(user);
                let nodes = self.remote.entry(user).or_default();
                if status == PresenceStatus::Offline {
                    nodes.remove(&msg.node);
                } else {
                    nodes.insert(
                        msg.node,
                        (status, Instant::now() + self.settings.presence_ttl),
                    );
                }
                if nodes.is_empty() {
                    self.remote.remove(&user);
                }
                self.announce_if_changed(user, before, None);
            }
            Signal::Activity {
                kind,
                conversation,
                user,
                active,
            } => self.ephemeral(
                conversation,
                user,
                &frames::activity(kind, conversation, user, active),
            ),
            Signal::Access { user, change } => self.change_access(user, &change),
        }
    }
}

/// The catch-up of one joining connection: decides between replay and reset, and
/// writes the replay to the outbox, waiting for room (a replay is as fast as the
/// client reads; the heartbeat timeout bounds a client that does not).
struct Replay {
    store: Arc<dyn InboxStore>,
    tenant: TenantId,
    settings: Arc<InboxSettings>,
    member: Member,
    subscription: Subscription,
    resume: Option<StreamPosition>,
    /// The tenant's delivered position at join: live delivery continues after it.
    until: StreamPosition,
}

impl Replay {
    /// Returns false when the connection went away.
    async fn run(self) -> bool {
        let outbox = &self.member.outbox;
        let from = match self.check().await {
            Ok(from) => from,
            Err(reason) => return outbox.send(frames::reset(self.until, reason)).await,
        };
        let mut after = from;
        let mut replayed = 0;
        while after < self.until.offset {
            let page = match self
                .store
                .events_after(self.tenant, after, self.settings.replay_page)
                .await
            {
                Ok(page) if !page.is_empty() => page,
                Ok(_) => break,
                Err(err) => {
                    tracing::warn!(tenant = %self.tenant, error = %err, "replay failed");
                    self.member
                        .outbox
                        .closer
                        .close(super::session::CloseCode::Internal);
                    return false;
                }
            };
            for event in page
                .into_iter()
                .take_while(|e| e.offset <= self.until.offset)
            {
                after = event.offset;
                if self.subscription.includes(event.conversation_id)
                    && may_see(&event, &self.member)
                {
                    if !outbox.send(event.frame()).await {
                        return false;
                    }
                    replayed += 1;
                }
            }
        }
        outbox
            .send(frames::resumed(from, self.until, replayed))
            .await
    }

    /// The offset to replay from, or why the client must reload instead.
    async fn check(&self) -> Result<i64, ResetReason> {
        let resume = self.resume.ok_or(ResetReason::Fresh)?;
        if resume.epoch != self.until.epoch {
            return Err(ResetReason::EpochChanged);
        }
        if resume.offset > self.until.offset || resume.offset < 0 {
            return Err(ResetReason::OffsetAhead);
        }
        if self.until.offset - resume.offset > self.settings.max_replay {
            return Err(ResetReason::TooFarBehind);
        }
        match self.store.stream_head(self.tenant).await {
            Ok(head) if resume.offset + 1 < head.first_kept => Err(ResetReason::OffsetPruned),
            Ok(_) => Ok(resume.offset),
            Err(err) => {
                tracing::warn!(tenant = %self.tenant, error = %err, "cannot check a resume position");
                Err(ResetReason::OffsetPruned)
            }
        }
    }
}

/// Whether the connection's role may receive `event` (session events carry login
/// codes: admins only). Read per event, so a demotion holds for the next one.
fn may_see(event: &StreamEvent, member: &Member) -> bool {
    match event.kind {
        // A draft is for whoever answers the conversation: its assignee, or while it
        // has none, anyone who may reply.
        EventKind::ReplySuggested => match event.assignee_id {
            Some(assignee) => assignee == member.user,
            None => member.grant.role() >= Role::Agent,
        },
        kind => !kind.admins_only() || member.grant.role() >= Role::Admin,
    }
}
