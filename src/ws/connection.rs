//! One actor per socket: it owns the read side, authenticates, applies the
//! per-connection rate limit, turns client frames into inbox actions, and keeps the
//! heartbeat. Frames to the client go through the bounded outbox, which the upgrade
//! response's body drains onto the wire (`outgoing`).

use super::incoming::{Incoming, IncomingFrames};
use super::protocol::{self, ClientFrame};
use crate::auth::extract::{SignedIn, user_from_access_token};
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use actix::prelude::*;
use actix_http::ws::ProtocolError;
use actix_web::web;
use bytestring::ByteString;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde_json::{Value, json};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard_actors::inbox::InboxError;
use switchboard_actors::inbox::access::Grant;
use switchboard_actors::inbox::bus::ActivityKind;
use switchboard_actors::inbox::frames;
use switchboard_actors::inbox::records::{ConversationChange, Outgoing};
use switchboard_actors::inbox::session::{
    CloseCode, Member, Outbox, SessionId, SocketFrame, Subscription,
};
use switchboard_actors::inbox::views::MessageView;
use switchboard_actors::store::User;
use switchboard_actors::{ConversationId, Direction, Millis, RefreshFamilyId, Role};

pub struct Connection {
    state: web::Data<AppState>,
    id: SessionId,
    outbox: Outbox,
    agent: Option<Agent>,
    /// Registered with the tenant (see `attach`); it must leave when the socket ends.
    attached: bool,
    stream: Stream,
    last_heard: Instant,
    limiter: DefaultDirectRateLimiter,
    /// The conversation this tab said it has open.
    viewing: Option<ConversationId>,
}

struct Agent {
    user: User,
    sign_in: RefreshFamilyId,
    /// The role this connection acts with; the tenant actor changes it when the
    /// user's role changes.
    grant: Arc<Grant>,
    expires_at: Millis,
}

/// Why attaching an authenticated connection failed.
enum AttachFailed {
    Inbox(InboxError),
    /// Access changed between the token check and the attach.
    Revoked,
    Api(ApiError),
}

enum Stream {
    NotSubscribed,
    Subscribed(Subscription),
}

impl Connection {
    /// `agent` is the person whose token came with the upgrade (with the token), if
    /// one did; otherwise the first frame must authenticate.
    pub fn start(
        state: web::Data<AppState>,
        outbox: Outbox,
        incoming: IncomingFrames,
        agent: Option<(SignedIn, String)>,
    ) {
        let limits = &state.config.websocket;
        let per_second = NonZeroU32::new(limits.frames_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(limits.frames_burst).unwrap_or(per_second);
        let limiter = RateLimiter::direct(Quota::per_second(per_second).allow_burst(burst));
        Connection::create(|ctx| {
            ctx.add_stream(incoming);
            let mut connection = Connection {
                state,
                id: SessionId::next(),
                outbox,
                agent: None,
                attached: false,
                stream: Stream::NotSubscribed,
                last_heard: Instant::now(),
                limiter,
                viewing: None,
            };
            if let Some((signed_in, token)) = agent {
                connection.authenticated(signed_in, token, ctx);
            }
            connection
        });
    }

    /// Registers the connection with its tenant (the connection caps, and access
    /// changes from now on), then checks the token once more: a change committed
    /// before the attach reached no connection of ours, one after it reaches this one
    /// through the tenant. Only then is the client greeted; nothing it sends is
    /// handled before (`ctx.wait`).
    fn authenticated(&mut self, signed_in: SignedIn, token: String, ctx: &mut Context<Self>) {
        let grant = Grant::new(signed_in.user.role);
        let member = Member {
            session: self.id,
            user: signed_in.user.id,
            sign_in: signed_in.sign_in,
            grant: grant.clone(),
            outbox: self.outbox.clone(),
        };
        let tenant = signed_in.user.tenant_id;
        self.agent = Some(Agent {
            user: signed_in.user,
            sign_in: signed_in.sign_in,
            grant,
            expires_at: signed_in.expires_at,
        });
        let state = self.state.clone();
        ctx.wait(
            async move {
                state
                    .inbox
                    .attach(tenant, member)
                    .await
                    .map_err(AttachFailed::Inbox)?;
                match user_from_access_token(&state, &token).await {
                    Ok(fresh) => Ok(fresh),
                    Err(err) if err.code == ErrorCode::InvalidToken => Err(AttachFailed::Revoked),
                    Err(err) => Err(AttachFailed::Api(err)),
                }
            }
            .into_actor(self)
            .map(|result, act, ctx| {
                // Attached, unless the tenant refused: leave on the way out either way.
                act.attached = !matches!(result, Err(AttachFailed::Inbox(_)));
                match result {
                    Ok(fresh) => {
                        if let Some(agent) = &act.agent {
                            agent.grant.set(fresh.user.role);
                        }
                        act.welcome(ctx);
                    }
                    Err(AttachFailed::Inbox(InboxError::TooManyConnections(_))) => {
                        act.close(CloseCode::TooManyConnections)
                    }
                    Err(AttachFailed::Revoked) => act.close(CloseCode::AccessRevoked),
                    Err(AttachFailed::Inbox(err)) => {
                        tracing::warn!(error = %err, "cannot attach a socket");
                        act.close(CloseCode::Internal)
                    }
                    Err(AttachFailed::Api(err)) => {
                        tracing::warn!(error = %err.message, "cannot check a socket's access");
                        act.close(CloseCode::Internal)
                    }
                }
            }),
        );
    }

    fn send(&self, frame: ByteString) {
        self.outbox.push(frame);
    }

    fn error(&self, reference: Option<&Value>, code: ErrorCode, message: &str) {
        self.send(frames::error(reference, code.as_str(), message));
    }

    fn close(&self, code: CloseCode) {
        self.outbox.closer.close(code);
    }

    /// Greets an authenticated agent and arms the close at token expiry.
    fn welcome(&mut self, ctx: &mut Context<Self>) {
        let Some(agent) = &self.agent else {
            return;
        };
        let ws = &self.state.config.websocket;
        self.send(frames::hello(
            self.id.0,
            agent.user.id,
            agent.grant.role().as_str(),
            ws.heartbeat_interval_secs,
            ws.heartbeat_timeout_secs,
        ));
        let left = u64::try_from(agent.expires_at.0 - Millis::now().0).unwrap_or(0);
        ctx.run_later(Duration::from_millis(left), |act, _| {
            act.close(CloseCode::TokenExpired)
        });
    }

    fn handle_text(&mut self, text: &str, ctx: &mut Context<Self>) {
        let parsed = match protocol::parse(text) {
            Ok(parsed) => parsed,
            Err(refused) => {
                if self.agent.is_none() {
                    return self.close(CloseCode::Unauthenticated);
                }
                return self.error(refused.reference.as_ref(), refused.code, &refused.message);
            }
        };
        let reference = parsed.reference;
        let Some(agent) = &self.agent else {
            let ClientFrame::Auth { token } = parsed.frame else {
                return self.close(CloseCode::Unauthenticated);
            };
            let state = self.state.clone();
            ctx.wait(
                async move {
                    let checked = user_from_access_token(&state, &token).await;
                    (checked, token)
                }
                .into_actor(self)
                .map(|(result, token), act, ctx| match result {
                    Ok(signed_in) => act.authenticated(signed_in, token, ctx),
                    Err(_) => act.close(CloseCode::Unauthenticated),
                }),
            );
            return;
        };
        if self.limiter.check().is_err() {
            return self.error(
                reference.as_ref(),
                ErrorCode::RateLimited,
                "too many frames; slow down",
            );
        }
        // Read for every frame: the tenant changes it when the user's role changes.
        let (tenant, user, role) = (agent.user.tenant_id, agent.user.id, agent.grant.role());
        let inbox = self.state.inbox.clone();
        match parsed.frame {
            ClientFrame::Auth { .. } => self.error(
                reference.as_ref(),
                ErrorCode::InvalidRequest,
                "already authenticated",
            ),
            ClientFrame::Ping => self.send(frames::pong(reference.as_ref())),
            ClientFrame::Subscribe {
                conversation_id,
                after,
            } => self.subscribe(reference, conversation_id, after, ctx),
            ClientFrame::PresenceSet { status } => {
                if matches!(self.stream, Stream::NotSubscribed) {
                    return self.error(
                        reference.as_ref(),
                        ErrorCode::InvalidRequest,
                        "subscribe first",
                    );
                }
                inbox.set_presence(tenant, self.id, status);
                self.send(frames::ack(
                    reference.as_ref(),
                    json!({ "status": status.as_str() }),
                ));
            }
            // Viewers look at conversations too: the team sees them there.
            ClientFrame::ViewingStart { conversation_id } => {
                if let Some(before) = self.viewing.replace(conversation_id)
                    && before != conversation_id
                {
                    inbox.activity(tenant, before, ActivityKind::Viewing, user, false);
                }
                inbox.activity(tenant, conversation_id, ActivityKind::Viewing, user, true)
            }
            ClientFrame::ViewingStop { conversation_id } => {
                if self.viewing == Some(conversation_id) {
                    self.viewing = None;
                }
                inbox.activity(tenant, conversation_id, ActivityKind::Viewing, user, false)
            }
            frame if role < Role::Agent => {
                let _ = frame;
                self.error(
                    reference.as_ref(),
                    ErrorCode::Forbidden,
                    "viewers can follow the inbox but not act in it",
                )
            }
            ClientFrame::TypingStart { conversation_id } => {
                inbox.activity(tenant, conversation_id, ActivityKind::Typing, user, true)
            }
            ClientFrame::TypingStop { conversation_id } => {
                inbox.activity(tenant, conversation_id, ActivityKind::Typing, user, false)
            }
            ClientFrame::MessageSend {
                conversation_id,
                client_id,
                body,
                note,
            } => {
                let direction = if note {
                    Direction::Note
                } else {
                    Direction::Outbound
                };
                let message = match Outgoing::text(direction, &body, Some(user), Some(client_id)) {
                    Ok(message) => message,
                    Err(err) => {
                        return self.error(reference.as_ref(), ErrorCode::InvalidRequest, &err.0);
                    }
                };
                // `wait`: a client's sends are stored in the order it sent them.
                ctx.wait(
                    async move { inbox.append(tenant, conversation_id, message).await }
                        .into_actor(self)
                        .map(move |result, act, _| match result {
                            Ok(recorded) => act.send(frames::ack(
                                reference.as_ref(),
                                json!({ "message": MessageView::from(&recorded.message), "duplicate": recorded.duplicate }),
                            )),
                            Err(err) => act.refuse(reference.as_ref(), err.into()),
                        }),
                );
            }
            ClientFrame::ConversationRead { conversation_id } => {
                ctx.wait(
                    async move { inbox.change(tenant, conversation_id, ConversationChange::Read).await }
                        .into_actor(self)
                        .map(move |result, act, _| match result {
                            Ok(changed) => act.send(frames::ack(
                                reference.as_ref(),
                                json!({ "conversation_id": changed.conversation.id, "unread_count": changed.conversation.unread_count }),
                            )),
                            Err(err) => act.refuse(reference.as_ref(), err.into()),
                        }),
                );
            }
        }
    }

    fn refuse(&self, reference: Option<&Value>, err: ApiError) {
        if err.code == ErrorCode::Internal {
            tracing::error!(error = %err.message, "socket request failed");
            return self.error(reference, ErrorCode::Internal, "internal error");
        }
        self.error(reference, err.code, &err.message);
    }

    /// A conversation is subscribed to only when it exists in the caller's tenant;
    /// otherwise the answer is `not_found` and nothing changes.
    fn subscribe(
        &mut self,
        reference: Option<Value>,
        conversation: Option<switchboard_actors::ConversationId>,
        after: Option<switchboard_actors::inbox::stream::StreamPosition>,
        ctx: &mut Context<Self>,
    ) {
        let (Some(agent), Some(id)) = (&self.agent, conversation) else {
            return self.subscribe_checked(reference, None, after, ctx);
        };
        let (store, tenant) = (self.state.store.clone(), agent.user.tenant_id);
        // `wait`: later frames from this client see the subscription settled.
        ctx.wait(
            async move { store.conversation(tenant, id).await }
                .into_actor(self)
                .map(move |found, act, ctx| match found {
                    Ok(Some(_)) => act.subscribe_checked(reference, Some(id), after, ctx),
                    Ok(None) => act.error(
                        reference.as_ref(),
                        ErrorCode::NotFound,
                        "no such conversation in your tenant",
                    ),
                    Err(err) => act.refuse(reference.as_ref(), err.into()),
                }),
        );
    }

    fn subscribe_checked(
        &mut self,
        reference: Option<Value>,
        conversation: Option<switchboard_actors::ConversationId>,
        after: Option<switchboard_actors::inbox::stream::StreamPosition>,
        ctx: &mut Context<Self>,
    ) {
        let Some(agent) = &self.agent else {
            return;
        };
        let (tenant, inbox) = (agent.user.tenant_id, self.state.inbox.clone());
        match &mut self.stream {
            Stream::Subscribed(subscription) => {
                if after.is_some() {
                    return self.error(
                        reference.as_ref(),
                        ErrorCode::InvalidRequest,
                        "the stream already started; `after` is only read on the first subscribe",
                    );
                }
                match conversation {
                    Some(id) => subscription.add(id),
                    None => *subscription = Subscription::Inbox,
                }
                let (subscription, session) = (subscription.clone(), self.id);
                self.send(frames::ack(
                    reference.as_ref(),
                    json!({ "subscribed": true }),
                ));
                actix::spawn(async move { inbox.resubscribe(tenant, session, subscription).await });
            }
            Stream::NotSubscribed => {
                let subscription = match conversation {
                    Some(id) => Subscription::Conversations([id].into()),
                    None => Subscription::Inbox,
                };
                self.stream = Stream::Subscribed(subscription.clone());
                let member = Member {
                    session: self.id,
                    user: agent.user.id,
                    sign_in: agent.sign_in,
                    grant: agent.grant.clone(),
                    outbox: self.outbox.clone(),
                };
                // `wait`: nothing else from this client is handled until it has joined.
                ctx.wait(
                    async move { inbox.join(tenant, member, subscription, after).await }
                        .into_actor(self)
                        .map(|joined, act, _| {
                            if joined.is_err() {
                                act.close(CloseCode::Internal);
                            }
                        }),
                );
            }
        }
    }
}

impl Actor for Connection {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let ws = self.state.config.websocket.clone();
        // A connection authenticated at the upgrade is greeted once it is attached.
        if self.agent.is_none() {
            ctx.run_later(Duration::from_secs(ws.auth_timeout_secs), |act, _| {
                if act.agent.is_none() {
                    act.close(CloseCode::Unauthenticated);
                }
            });
        }
        let timeout = Duration::from_secs(ws.heartbeat_timeout_secs);
        ctx.run_interval(
            Duration::from_secs(ws.heartbeat_interval_secs),
            move |act, _| {
                if act.last_heard.elapsed() > timeout {
                    return act.close(CloseCode::HeartbeatTimeout);
                }
                act.outbox.push_frame(SocketFrame::Ping);
            },
        );
        // Whoever closes (the outbox for a slow consumer, a timer, the client), the
        // actor ends with the socket.
        let closer = self.outbox.closer.clone();
        ctx.spawn(
            async move { closer.closed().await }
                .into_actor(self)
                .map(|_, _, ctx| ctx.stop()),
        );
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.close(CloseCode::GoingAway);
        // A closed tab stops viewing now rather than when the TTL runs out.
        if let (Some(agent), Some(conversation)) = (&self.agent, self.viewing) {
            self.state.inbox.activity(
                agent.user.tenant_id,
                conversation,
                ActivityKind::Viewing,
                agent.user.id,
                false,
            );
        }
        if let (Some(agent), true) = (&self.agent, self.attached) {
            let (inbox, tenant, session) =
                (self.state.inbox.clone(), agent.user.tenant_id, self.id);
            actix::spawn(async move { inbox.leave(tenant, session).await });
        }
    }
}

impl StreamHandler<Result<Incoming, ProtocolError>> for Connection {
    fn handle(&mut self, item: Result<Incoming, ProtocolError>, ctx: &mut Self::Context) {
        self.last_heard = Instant::now();
        match item {
            Ok(Incoming::Text(text)) => self.handle_text(&text, ctx),
            // Binary frames spend the frame budget too, or they would be a free flood.
            Ok(Incoming::Binary) if self.limiter.check().is_err() => {
                self.error(None, ErrorCode::RateLimited, "too many frames; slow down")
            }
            Ok(Incoming::Binary) => self.error(
                None,
                ErrorCode::UnsupportedMediaType,
                "frames are JSON text",
            ),
            Ok(Incoming::Ping(bytes)) => {
                self.outbox.push_frame(SocketFrame::Pong(bytes.to_vec()));
            }
            Ok(Incoming::Pong) => {}
            Ok(Incoming::Close) => ctx.stop(),
            Err(ProtocolError::Overflow) => self.close(CloseCode::TooBig),
            Err(err) => {
                tracing::debug!(error = %err, "socket protocol error");
                ctx.stop();
            }
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
