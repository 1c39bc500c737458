//! `ConversationActor`: the live state of one conversation (the record, its recent
//! messages, who is typing or looking) and the one path through which the team changes it.
//!
//! Messages are handled one at a time (`AtomicResponse`), so two replies sent at
//! once get their `seq` in the order they reached the actor. The store stays the
//! source of truth: `seq` is assigned in the insert transaction, and the state here
//! is a cache that is reloaded whenever it could be wrong.
//!
//! Failure: a store error leaves the cache in doubt (the transaction may or may not
//! have committed), so the handler answers with the error and stops the actor; its
//! `Supervisor` restarts it and `started` reloads the state. A panic cannot be
//! restarted that way (the mailbox just closes); `Inbox` notices the closed mailbox
//! and starts a fresh actor instead.

use super::bus::{ActivityKind, Bus, Signal};
use super::outbound::{Delivery, Outbound};
use super::records::{Conversation, ConversationChange, Message, Outgoing, StatusReport};
use super::settings::InboxSettings;
use super::snapshot::Snapshot;
use super::store::{Changed, InboxStore, Recorded, StatusUpdate};
use super::stream::StreamEvent;
use super::tenant::{ConversationRegistry, Ephemeral, Publish, TenantActor};
use super::{InboxError, frames};
use crate::automation::happening::Origin;
use crate::channel::policy;
use crate::{ConversationId, Direction, MessageId, Millis, TenantId, UserId};
use actix::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// How soon a retired actor that was restarted tries to end again.
const RETIRE_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// A reply or note from the team.
#[derive(Message)]
#[rtype(result = "Result<Recorded, InboxError>")]
pub struct Append {
    pub message: Outgoing,
}

#[derive(Message)]
#[rtype(result = "Result<Changed, InboxError>")]
pub struct Change {
    pub change: ConversationChange,
    /// The automation run making it, if one is.
    pub origin: Option<Origin>,
}

/// A delivery report for one of this conversation's messages.
#[derive(Message)]
#[rtype(result = "Result<StatusUpdate, InboxError>")]
pub struct Report {
    pub message: MessageId,
    pub report: StatusReport,
}

/// A message recorded outside the actor (customer messages are ingested before
/// their conversation is known); keeps the cache current.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Observed {
    pub recorded: Recorded,
}

/// A team member started or stopped typing in, or looking at, the conversation.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Activity {
    pub kind: ActivityKind,
    pub user: UserId,
    pub active: bool,
}

/// One team member's ongoing activity.
struct Ongoing {
    /// The last start or refresh.
    refreshed: Instant,
    /// When the others last heard of it.
    announced: Instant,
}

/// The conversation with its most recent messages, oldest first.
#[derive(Message)]
#[rtype(result = "Result<Snapshot, InboxError>")]
pub struct GetSnapshot;

/// What every conversation actor of one tenant works with.
#[derive(Clone)]
pub struct ConversationEnv {
    pub store: Arc<dyn InboxStore>,
    pub settings: Arc<InboxSettings>,
    /// The tenant's actor, which delivers the events.
    pub hub: Addr<TenantActor>,
    pub registry: ConversationRegistry,
    pub outbound: Arc<dyn Outbound>,
    /// The other nodes.
    pub bus: Arc<dyn Bus>,
}

pub struct ConversationActor {
    tenant: TenantId,
    id: ConversationId,
    env: ConversationEnv,
    /// `None` until loaded, and after a failure or a change made elsewhere until
    /// reloaded.
    state: Option<Snapshot>,
    /// Whether the conversation exists (its first load found it).
    known: bool,
    /// See `LiveConversation::stale`.
    stale: Arc<AtomicBool>,
    activity: HashMap<(ActivityKind, UserId), Ongoing>,
    last_activity: Instant,
    /// Left the registry (idle, or no such conversation) and is ending.
    retired: bool,
}

impl ConversationActor {
    pub fn new(
        tenant: TenantId,
        id: ConversationId,
        env: ConversationEnv,
        stale: Arc<AtomicBool>,
    ) -> Self {
        Self {
            tenant,
            id,
            env,
            state: None,
            known: false,
            stale,
            activity: HashMap::new(),
            last_activity: Instant::now(),
            retired: false,
        }
    }

    fn load(&mut self, ctx: &mut Context<Self>) {
        let read = read_snapshot(
            self.env.store.clone(),
            self.tenant,
            self.id,
            self.env.settings.recent_messages,
        );
        // Whatever changed before this read is in it.
        self.stale.store(false, Ordering::Release);
        ctx.wait(read.into_actor(self).map(|loaded, act, _| match loaded {
            Ok(state) => {
                act.known = state.is_some();
                act.state = state;
            }
            Err(err) => {
                // Serve without a cache; the next snapshot request loads it again.
                tracing::warn!(conversation = %act.id, error = %err, "cannot load conversation state");
                act.state = None;
            }
        }));
    }

    fn publish(&self, events: Vec<StreamEvent>) {
        if events.is_empty() {
            return;
        }
        self.env.bus.publish(self.tenant, &events);
        if self.env.hub.try_send(Publish { events }).is_err() {
            tracing::debug!(conversation = %self.id, "tenant mailbox full; the stream poll delivers instead");
        }
    }

    /// Brings the cache up to date with a message, or drops it when the message does
    /// not follow on (see `Snapshot::follow`).
    fn remember(&mut self, message: &Message, conversation: &Conversation) {
        let limit = self.env.settings.recent_messages;
        if let Some(state) = &mut self.state
            && !state.follow(message, conversation, limit)
        {
            self.state = None;
        }
    }

    /// Ends the actor after a store failure so its supervisor restarts it with state
    /// read back from the store.
    fn fail(&mut self, err: crate::store::StoreError, ctx: &mut Context<Self>) -> InboxError {
        tracing::error!(conversation = %self.id, error = %err, "store failure; restarting the conversation actor");
        ctx.stop();
        InboxError::Store(err)
    }

    /// Ends the actor for good: it leaves the registry first, so that with no address
    /// left its supervisor lets it end instead of restarting it.
    fn retire(&mut self, ctx: &mut Context<Self>) {
        self.retired = true;
        let me = ctx.address();
        self.env
            .registry
            .remove_if(&self.id, |_, live| live.addr == me);
        ctx.stop();
    }

    fn ttl(&self, kind: ActivityKind) -> std::time::Duration {
        match kind {
            ActivityKind::Typing => self.env.settings.typing_ttl,
            ActivityKind::Viewing => self.env.settings.viewing_ttl,
        }
    }

    /// Activity is not stored: a dropped frame is harmless, so `try_send`.
    fn announce(&self, kind: ActivityKind, user: UserId, active: bool) {
        self.env.bus.signal(
            self.tenant,
            Signal::Activity {
                kind,
                conversation: self.id,
                user,
                active,
            },
        );
        let frame = frames::activity(kind, self.id, user, active);
        let _ = self.env.hub.try_send(Ephemeral {
            conversation: self.id,
            except: user,
            frame,
        });
    }

    /// Records activity, and drops the cache when the conversation was changed
    /// elsewhere since it was filled: every handler that uses the cache starts here.
    fn touch(&mut self) {
        self.last_activity = Instant::now();
        if self.stale.swap(false, Ordering::AcqRel) {
            self.state = None;
        }
    }
}

impl Actor for ConversationActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.env.settings.conversation_mailbox);
        if self.retired {
            // Restarted after retiring because a caller still held the address
            // (stopping cannot wait for it): serve that caller, then end once it is
            // gone. Not back in the registry, so new callers get a fresh actor.
            ctx.run_later(RETIRE_RETRY, |act, ctx| act.retire(ctx));
        }
        self.load(ctx);
        let sweep = self
            .env
            .settings
            .typing_ttl
            .min(self.env.settings.viewing_ttl)
            / 2;
        ctx.run_interval(sweep, |act, _| {
            let expired: Vec<(ActivityKind, UserId)> = act
                .activity
                .iter()
                .filter(|((kind, _), ongoing)| ongoing.refreshed.elapsed() >= act.ttl(*kind))
                .map(|(key, _)| *key)
                .collect();
            for (kind, user) in expired {
                act.activity.remove(&(kind, user));
                act.announce(kind, user, false);
            }
        });
        let every =
            (self.env.settings.conversation_idle / 2).max(std::time::Duration::from_millis(10));
        ctx.run_interval(every, |act, ctx| {
            if act.last_activity.elapsed() >= act.env.settings.conversation_idle
                && act.activity.is_empty()
            {
                act.retire(ctx);
            }
        });
    }
}

impl Supervised for ConversationActor {
    fn restarting(&mut self, _: &mut Self::Context) {
        self.state = None;
        self.known = false;
        self.activity.clear();
        self.touch();
    }
}

/// What a store-backed handler answers.
type Answer<T> = AtomicResponse<ConversationActor, Result<T, InboxError>>;

impl ConversationActor {
    /// Runs one store call to completion before the next message (so a
    /// conversation's writes keep their order), then lets `done` update the cache and
    /// publish. A store error answers the caller and restarts the actor (see `fail`).
    fn store_call<T: 'static, R: 'static>(
        &mut self,
        call: impl Future<Output = Result<T, crate::store::StoreError>> + 'static,
        done: impl FnOnce(T, &mut Self) -> Result<R, InboxError> + 'static,
    ) -> Answer<R> {
        AtomicResponse::new(Box::pin(call.into_actor(self).map(
            |result, act, ctx| match result {
                Ok(value) => {
                    let answer = done(value, act);
                    // No such conversation: nothing to keep in memory.
                    if matches!(answer, Err(InboxError::NotFound(_))) {
                        act.retire(ctx);
                    }
                    answer
                }
                Err(err) => Err(act.fail(err, ctx)),
            },
        )))
    }
}

impl Handler<Append> for ConversationActor {
    type Result = Answer<Recorded>;

    fn handle(&mut self, msg: Append, _: &mut Self::Context) -> Self::Result {
        self.touch();
        let (store, tenant, id) = (self.env.store.clone(), self.tenant, self.id);
        // A channel never changes, so a cached conversation on a channel without a
        // reply rule needs no fresh read.
        let needs_rule = msg.message.direction == Direction::Outbound
            && self.state.as_ref().is_none_or(|s| {
                !policy::reply_allowed(&s.conversation, msg.message.kind, msg.message.at)
            });
        let call = async move {
            if needs_rule {
                // Read fresh: the customer may have written since the cache was filled.
                let Some(conversation) = store.conversation(tenant, id).await? else {
                    return Ok(Err(InboxError::NotFound("conversation")));
                };
                if !policy::reply_allowed(&conversation, msg.message.kind, msg.message.at) {
                    return Ok(Err(InboxError::TemplateRequired));
                }
            }
            store.append_message(tenant, id, &msg.message).await.map(Ok)
        };
        self.store_call(call, |recorded, act| {
            let recorded = recorded?.ok_or(InboxError::NotFound("conversation"))?;
            act.remember(&recorded.message, &recorded.conversation);
            act.publish(recorded.events.clone());
            if let Some(author) = recorded.message.author_id {
                // Clients clear the indicator when the message arrives.
                act.activity.remove(&(ActivityKind::Typing, author));
            }
            if recorded.message.direction == Direction::Outbound && !recorded.duplicate {
                act.env.outbound.dispatch(Delivery {
                    tenant: act.tenant,
                    channel: recorded.conversation.channel.clone(),
                    conversation: act.id,
                    message: recorded.message.clone(),
                });
            }
            Ok(recorded)
        })
    }
}

impl Handler<Change> for ConversationActor {
    type Result = Answer<Changed>;

    fn handle(&mut self, msg: Change, _: &mut Self::Context) -> Self::Result {
        self.touch();
        let (store, tenant, id) = (self.env.store.clone(), self.tenant, self.id);
        let read = matches!(msg.change, ConversationChange::Read);
        let call = async move {
            store
                .change_conversation(tenant, id, &msg.change, msg.origin.as_ref(), Millis::now())
                .await
        };
        self.store_call(call, move |changed, act| {
            let changed = changed.ok_or(InboxError::NotFound("conversation"))?;
            if read {
                act.env
                    .outbound
                    .mark_read(act.tenant, &changed.conversation);
            }
            if let Some(state) = &mut act.state
                && !state.changed(&changed.conversation)
            {
                act.state = None;
            }
            act.publish(changed.events.clone());
            Ok(changed)
        })
    }
}

impl Handler<Report> for ConversationActor {
    type Result = Answer<StatusUpdate>;

    fn handle(&mut self, msg: Report, _: &mut Self::Context) -> Self::Result {
        self.touch();
        let (store, tenant) = (self.env.store.clone(), self.tenant);
        let call = async move {
            store
                .advance_message_status(tenant, msg.message, &msg.report)
                .await
        };
        self.store_call(call, |update, act| {
            if let StatusUpdate::Advanced { message, events } = &update {
                if let Some(cached) = act
                    .state
                    .as_mut()
                    .and_then(|s| s.recent.iter_mut().find(|m| m.id == message.id))
                {
                    *cached = message.clone();
                }
                act.publish(events.clone());
            }
            Ok(update)
        })
    }
}

impl Handler<Observed> for ConversationActor {
    type Result = ();

    fn handle(&mut self, msg: Observed, _: &mut Self::Context) {
        self.touch();
        self.remember(&msg.recorded.message, &msg.recorded.conversation);
    }
}

impl Handler<Activity> for ConversationActor {
    type Result = ();

    fn handle(&mut self, msg: Activity, ctx: &mut Self::Context) {
        // The state loads before any message is handled; not found means no such
        // conversation in this tenant (or a store failure: activity is best effort).
        if !self.known {
            return self.retire(ctx);
        }
        self.touch();
        let (kind, user) = (msg.kind, msg.user);
        if !msg.active {
            if self.activity.remove(&(kind, user)).is_some() {
                self.announce(kind, user, false);
            }
            return;
        }
        let now = Instant::now();
        let ttl = self.ttl(kind);
        let newcomer = match self.activity.get_mut(&(kind, user)) {
            Some(ongoing) => {
                ongoing.refreshed = now;
                // Repeats only refresh the timer, but once per TTL the others hear it
                // again, so someone who opened the conversation since (on any node)
                // learns of it.
                if ongoing.announced.elapsed() >= ttl {
                    ongoing.announced = now;
                    self.announce(kind, user, true);
                }
                false
            }
            None => {
                let ongoing = Ongoing {
                    refreshed: now,
                    announced: now,
                };
                self.activity.insert((kind, user), ongoing);
                self.announce(kind, user, true);
                true
            }
        };
        // Someone who just opened the conversation learns at once who else is here
        // (and who is typing) from this node.
        if newcomer && kind == ActivityKind::Viewing {
            let others: Vec<(ActivityKind, UserId)> = self
                .activity
                .keys()
                .filter(|(_, other)| *other != user)
                .copied()
                .collect();
            for (kind, other) in others {
                self.announce(kind, other, true);
            }
        }
    }
}

impl Handler<GetSnapshot> for ConversationActor {
    type Result = Answer<Snapshot>;

    fn handle(&mut self, _: GetSnapshot, _: &mut Self::Context) -> Self::Result {
        self.touch();
        let cached = self.state.clone();
        let (store, tenant, id, recent) = (
            self.env.store.clone(),
            self.tenant,
            self.id,
            self.env.settings.recent_messages,
        );
        let call = async move {
            match cached {
                Some(snapshot) => Ok(Some(snapshot)),
                None => read_snapshot(store, tenant, id, recent).await,
            }
        };
        self.store_call(call, |snapshot, act| {
            let snapshot = snapshot.ok_or(InboxError::NotFound("conversation"))?;
            act.state = Some(snapshot.clone());
            Ok(snapshot)
        })
    }
}

async fn read_snapshot(
    store: Arc<dyn InboxStore>,
    tenant: TenantId,
    id: ConversationId,
    recent: usize,
) -> Result<Option<Snapshot>, crate::store::StoreError> {
    let Some(conversation) = store.conversation(tenant, id).await? else {
        return Ok(None);
    };
    let limit = u32::try_from(recent).unwrap_or(u32::MAX);
    let recent = store.messages(tenant, id, None, limit).await?;
    Ok(Some(Snapshot::read(conversation, recent)))
}
