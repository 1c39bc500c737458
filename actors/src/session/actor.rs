//! `ChannelSessionActor`: one WhatsApp Web session's live state on its owner node.
//!
//! It builds the session's client through the `SessionDriver` port, turns what the
//! client reports into stored and published transitions, reconnects with jittered
//! backoff after a drop, ingests the messages the session sees, and sends replies.
//! Everything that changes the session runs with the mailbox paused
//! (`ctx.wait`, `AtomicResponse`), so transitions are recorded in the order they
//! happened and an old client is always shut down before the next one is built.
//!
//! Each client gets a generation number; events from an older one (still draining
//! after it was replaced) are ignored.

use super::driver::{DriverClient, DriverError, DriverEvent, SessionSpec, WaOutgoing, WaRead};
use super::host::Host;
use super::state::{SessionDetail, SessionState, Transition};
use crate::domain::backoff::backoff;
use crate::{ChannelId, Millis, TenantId, UserId};
use actix::WeakAddr;
use actix::prelude::*;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};

/// Why a session stops running on this node, and so what it records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// An admin's decision (the channel was disabled): `stopped`, with the reason.
    Stopped(String),
    /// This node stops cleanly: `starting`, so the next node takes it over.
    Handover,
    /// The lease is gone (another node owns it, or the store cannot be reached):
    /// nothing is written, the owner's word stands.
    Silent,
}

/// Why a command could not be carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The session is not in a state that allows it (a pairing code once connected).
    #[error("{0}")]
    NotNow(String),
    #[error(transparent)]
    Driver(#[from] DriverError),
    #[error("{0}")]
    Store(String),
    /// The session's actor is gone (its node lost the lease or it was retired).
    #[error("the session is not running on this node")]
    Gone,
    /// Another node holds the session's lease.
    #[error("the session runs on another node")]
    Elsewhere,
}

pub struct ChannelSessionActor {
    host: Arc<Host>,
    tenant: TenantId,
    channel: ChannelId,
    state: SessionState,
    paired: bool,
    phone: Option<String>,
    client: Option<Arc<dyn DriverClient>>,
    generation: u64,
    /// Tries since the session was last stably connected.
    attempt: u32,
    connected_at: Option<Instant>,
    /// QR codes shown in this login; past the limit the session stops.
    qr_codes: u32,
    last_qr_at: Option<Instant>,
    /// A QR code that came sooner than `qr_min_interval` after the last one shown:
    /// the newest waits and is shown when the interval is over.
    held_qr: Option<(String, Duration)>,
    /// Held from building a client to its first event, so restarts are staggered.
    connect_permit: Option<OwnedSemaphorePermit>,
    retry: Option<SpawnHandle>,
    /// Set when the session stops for good here; the actor then ends when the last
    /// handle to it goes.
    retired: bool,
    /// Work that must happen in order (see `then`).
    steps: VecDeque<Step>,
    stepping: bool,
}

type Step = Pin<Box<dyn ActorFuture<ChannelSessionActor, Output = ()>>>;

impl ChannelSessionActor {
    pub(super) fn new(host: Arc<Host>, tenant: TenantId, channel: ChannelId) -> Self {
        Self {
            host,
            tenant,
            channel,
            state: SessionState::Starting,
            paired: false,
            phone: None,
            client: None,
            generation: 0,
            attempt: 0,
            connected_at: None,
            qr_codes: 0,
            last_qr_at: None,
            held_qr: None,
            connect_permit: None,
            retry: None,
            retired: false,
            steps: VecDeque::new(),
            stepping: false,
        }
    }

    /// Runs `step` after every step queued before it, with the mailbox paused.
    /// (`ctx.wait` alone runs the most recently added future first.)
    fn then(
        &mut self,
        step: impl ActorFuture<Self, Output = ()> + 'static,
        ctx: &mut Context<Self>,
    ) {
        self.steps.push_back(Box::pin(step));
        if !self.stepping {
            self.next_step(ctx);
        }
    }

    fn next_step(&mut self, ctx: &mut Context<Self>) {
        match self.steps.pop_front() {
            Some(step) => {
                self.stepping = true;
                ctx.wait(step.map(|(), act, ctx| act.next_step(ctx)));
            }
            None => self.stepping = false,
        }
    }

    fn transition(
        &self,
        state: SessionState,
        detail: SessionDetail,
        by: Option<UserId>,
    ) -> Transition {
        Transition {
            state,
            detail,
            paired: self.paired,
            phone: self.phone.clone(),
            by,
            at: Millis::now(),
        }
    }

    /// Records `transition` and applies it here. A node that lost the lease stops
    /// the session at once: the new owner runs it.
    fn record(&mut self, transition: Transition, ctx: &mut Context<Self>) {
        self.state = transition.state;
        self.host.note_state(self.channel, transition.state);
        let host = self.host.clone();
        let (tenant, channel) = (self.tenant, self.channel);
        self.then(
            async move { host.record(tenant, channel, &transition).await }
                .into_actor(self)
                .map(|held, act, ctx| match held {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(channel = %act.channel, "the session's lease is held elsewhere; stopping it here");
                        act.retire(Ending::Silent, None, ctx);
                    }
                    // A retired session's last word is lost, but it must not come
                    // back: its queued steps go on and give the lease up.
                    Err(err) if act.retired => {
                        tracing::warn!(channel = %act.channel, error = %err, "cannot record how the session ended; giving its lease up anyway");
                    }
                    Err(err) => {
                        // The supervisor restarts the actor, which reconnects from
                        // what the store has.
                        tracing::error!(channel = %act.channel, error = %err, "cannot record a session transition; restarting the session");
                        ctx.stop();
                    }
                }),
        ctx);
    }

    /// Shuts the current client down (waiting for it), then builds the next one.
    fn connect(&mut self, by: Option<UserId>, ctx: &mut Context<Self>) {
        if let Some(handle) = self.retry.take() {
            ctx.cancel_future(handle);
        }
        self.shut_client(ctx);
        self.generation += 1;
        let generation = self.generation;
        self.held_qr = None;
        self.record(
            self.transition(SessionState::Starting, SessionDetail::default(), by),
            ctx,
        );
        let host = self.host.clone();
        let (tenant, channel) = (self.tenant, self.channel);
        let (events, received) = mpsc::channel(host.settings.event_buffer);
        let spec = SessionSpec {
            tenant,
            channel,
            keys: host.keys_for(tenant, channel),
            events,
        };
        let addr = ctx.address().downgrade();
        self.then(
            async move {
                // Staggered: at most `connect_concurrency` clients are being built
                // and reach their first event at a time on this node.
                let permit = host.connect_permits.clone().acquire_owned().await.ok();
                let built = match tokio::time::timeout(
                    host.settings.connect_timeout,
                    host.driver.connect(spec),
                )
                .await
                {
                    Ok(built) => built,
                    Err(_) => Err(DriverError::Transient(
                        "building the client timed out".into(),
                    )),
                };
                (built, permit)
            }
            .into_actor(self)
            .map(move |(built, permit), act, ctx| {
                if act.generation != generation {
                    return;
                }
                match built {
                    Ok(client) => {
                        act.client = Some(client);
                        act.connect_permit = permit;
                        forward(received, addr, generation);
                        // A client that never reports lets the next one go anyway.
                        ctx.run_later(act.host.settings.connect_timeout, move |act, _| {
                            if act.generation == generation {
                                act.connect_permit = None;
                            }
                        });
                    }
                    Err(DriverError::Transient(reason)) => act.reconnect_later(reason, ctx),
                    Err(DriverError::Permanent(reason)) => {
                        act.stop_trying(SessionState::Failed, reason, ctx)
                    }
                }
            }),
            ctx,
        );
    }

    /// Takes the client and shuts it down before anything else runs here.
    fn shut_client(&mut self, ctx: &mut Context<Self>) {
        self.connect_permit = None;
        if let Some(client) = self.client.take() {
            self.then(async move { client.shutdown().await }.into_actor(self), ctx);
        }
    }

    fn reconnect_later(&mut self, reason: String, ctx: &mut Context<Self>) {
        let settings = &self.host.settings;
        if self
            .connected_at
            .take()
            .is_some_and(|at| at.elapsed() >= settings.stable_after)
        {
            // It held long enough: this drop starts a fresh series of tries.
            self.attempt = 0;
        }
        self.attempt = self.attempt.saturating_add(1);
        let pause = backoff(settings.backoff_base, settings.backoff_max, self.attempt);
        self.host.stats.note_reconnect();
        self.shut_client(ctx);
        let detail = SessionDetail {
            attempt: Some(self.attempt),
            next_try_at: Some(Millis::now().plus(pause)),
            reason: Some(reason),
            ..SessionDetail::default()
        };
        self.record(
            self.transition(SessionState::Reconnecting, detail, None),
            ctx,
        );
        self.retry = Some(ctx.run_later(pause, |act, ctx| {
            act.retry = None;
            act.connect(None, ctx);
        }));
    }

    /// A final state: the client goes, nothing retries until a person acts.
    fn stop_trying(&mut self, state: SessionState, reason: String, ctx: &mut Context<Self>) {
        if let Some(handle) = self.retry.take() {
            ctx.cancel_future(handle);
        }
        self.shut_client(ctx);
        self.generation += 1;
        self.record(
            self.transition(state, SessionDetail::because(reason), None),
            ctx,
        );
    }

    /// Ends the session here for good, recording what `ending` says. It leaves the
    /// registry at once and
    /// gives its lease up once the client is shut down; `done` is told then. The
    /// actor itself ends when the last handle to it goes.
    fn retire(
        &mut self,
        ending: Ending,
        done: Option<oneshot::Sender<()>>,
        ctx: &mut Context<Self>,
    ) {
        if !self.retired {
            self.retired = true;
            self.host.forget(self.channel, &ctx.address());
            if let Some(handle) = self.retry.take() {
                ctx.cancel_future(handle);
            }
            self.shut_client(ctx);
            self.generation += 1;
            let recorded = match ending {
                Ending::Stopped(reason) => Some((SessionState::Stopped, reason)),
                Ending::Handover => Some((
                    SessionState::Starting,
                    "the node running this session stopped; another one takes it over".to_owned(),
                )),
                Ending::Silent => None,
            };
            if let Some((state, reason)) = recorded {
                self.record(
                    self.transition(state, SessionDetail::because(reason), None),
                    ctx,
                );
            }
            let (host, channel) = (self.host.clone(), self.channel);
            self.then(
                async move { host.released(channel).await }.into_actor(self),
                ctx,
            );
        }
        if let Some(done) = done {
            self.then(
                async move {
                    let _ = done.send(());
                }
                .into_actor(self),
                ctx,
            );
        }
    }

    fn show_qr(&mut self, code: String, valid_for: Duration, ctx: &mut Context<Self>) {
        let settings = &self.host.settings;
        if let Some(wait) = self
            .last_qr_at
            .map(|at| settings.qr_min_interval.saturating_sub(at.elapsed()))
            .filter(|wait| !wait.is_zero())
        {
            // A storm of codes: keep the newest and show it when the interval ends.
            if self.held_qr.replace((code, valid_for)).is_none() {
                let generation = self.generation;
                ctx.run_later(wait, move |act, ctx| {
                    if act.generation == generation
                        && let Some((code, valid_for)) = act.held_qr.take()
                    {
                        act.show_qr(code, valid_for, ctx);
                    }
                });
            }
            return;
        }
        self.qr_codes += 1;
        if self.qr_codes > settings.max_qr_codes {
            let reason = format!(
                "no one scanned the QR code ({} codes shown); restart the session to show new ones",
                settings.max_qr_codes
            );
            self.stop_trying(SessionState::Stopped, reason, ctx);
            return;
        }
        self.last_qr_at = Some(Instant::now());
        let detail = SessionDetail {
            qr: Some(code),
            expires_at: Some(Millis::now().plus(valid_for)),
            ..SessionDetail::default()
        };
        self.record(self.transition(SessionState::Qr, detail, None), ctx);
    }

    fn on_event(&mut self, event: DriverEvent, ctx: &mut Context<Self>) {
        match event {
            DriverEvent::Qr { code, valid_for } => self.show_qr(code, valid_for, ctx),
            DriverEvent::QrExhausted => self.stop_trying(
                SessionState::Stopped,
                "no one scanned the QR codes in time; restart the session to show new ones".into(),
                ctx,
            ),
            DriverEvent::PairingCode { code, valid_for } => {
                let detail = SessionDetail {
                    pairing_code: Some(code),
                    expires_at: Some(Millis::now().plus(valid_for)),
                    ..SessionDetail::default()
                };
                self.record(
                    self.transition(SessionState::PairingCode, detail, None),
                    ctx,
                );
            }
            DriverEvent::Paired { phone, name } => {
                self.paired = true;
                self.phone = Some(phone.clone());
                self.qr_codes = 0;
                let detail = SessionDetail {
                    phone: Some(phone),
                    name,
                    reason: Some("paired; connecting with the new keys".into()),
                    ..SessionDetail::default()
                };
                self.record(self.transition(SessionState::Starting, detail, None), ctx);
            }
            // After pairing WhatsApp closes the socket with 515: connect again now,
            // without counting it as a failure.
            DriverEvent::RestartRequired => self.connect(None, ctx),
            DriverEvent::Connected { phone, name } => {
                self.paired = true;
                self.phone = Some(phone.clone());
                self.qr_codes = 0;
                self.connected_at = Some(Instant::now());
                let detail = SessionDetail {
                    phone: Some(phone),
                    name,
                    ..SessionDetail::default()
                };
                self.record(self.transition(SessionState::Connected, detail, None), ctx);
            }
            DriverEvent::Disconnected { reason } => self.reconnect_later(reason, ctx),
            DriverEvent::LoggedOut { reason } => {
                self.paired = false;
                self.forget_keys(ctx);
                self.stop_trying(SessionState::LoggedOut, reason, ctx);
            }
            DriverEvent::Conflict { reason } => {
                self.stop_trying(SessionState::Conflict, reason, ctx)
            }
            DriverEvent::Banned { reason } => self.stop_trying(SessionState::Banned, reason, ctx),
            DriverEvent::Message(message) => {
                let host = self.host.clone();
                let (tenant, channel) = (self.tenant, self.channel);
                self.then(
                    async move { host.ingest(tenant, channel, message).await }.into_actor(self),
                    ctx,
                );
            }
            DriverEvent::Receipt { ids, status } => {
                let host = self.host.clone();
                let (tenant, channel) = (self.tenant, self.channel);
                self.then(
                    async move { host.receipts(tenant, channel, &ids, status).await }
                        .into_actor(self),
                    ctx,
                );
            }
        }
    }

    fn forget_keys(&mut self, ctx: &mut Context<Self>) {
        let keys = self.host.keys_for(self.tenant, self.channel);
        let channel = self.channel;
        self.then(
            async move {
                if let Err(err) = keys.clear().await {
                    tracing::error!(%channel, error = %err, "cannot delete a logged-out session's keys");
                }
            }
            .into_actor(self),
        ctx);
    }
}

/// Carries one client's events to the actor, waiting for room in its mailbox.
fn forward(
    mut received: mpsc::Receiver<DriverEvent>,
    addr: WeakAddr<ChannelSessionActor>,
    generation: u64,
) {
    actix::spawn(async move {
        while let Some(event) = received.recv().await {
            let Some(addr) = addr.upgrade() else { break };
            if addr.send(FromDriver { generation, event }).await.is_err() {
                break;
            }
        }
    });
}

impl Actor for ChannelSessionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.host.settings.mailbox);
        let host = self.host.clone();
        let (tenant, channel) = (self.tenant, self.channel);
        self.then(
            async move { host.store.session(tenant, channel).await }
                .into_actor(self)
                .map(|stored, act, ctx| {
                    if let Ok(Some(record)) = stored {
                        act.paired = record.paired;
                        act.phone = record.phone;
                    }
                    act.connect(None, ctx);
                }),
            ctx,
        );
    }
}

impl Supervised for ChannelSessionActor {
    fn restarting(&mut self, _: &mut Self::Context) {
        // The client (if any) is kept: `started` connects again, which shuts it
        // down first.
        self.generation += 1;
        self.retry = None;
        self.held_qr = None;
        self.connect_permit = None;
        self.steps.clear();
        self.stepping = false;
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct FromDriver {
    generation: u64,
    event: DriverEvent,
}

impl Handler<FromDriver> for ChannelSessionActor {
    type Result = ();

    fn handle(&mut self, msg: FromDriver, ctx: &mut Self::Context) {
        if msg.generation != self.generation || self.retired {
            return;
        }
        // The first word from a client ends its turn in the connect queue.
        self.connect_permit = None;
        self.on_event(msg.event, ctx);
    }
}

/// Builds a new client now (an admin's restart), from a clean slate of tries.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Restart {
    pub by: Option<UserId>,
}

impl Handler<Restart> for ChannelSessionActor {
    type Result = ();

    fn handle(&mut self, msg: Restart, ctx: &mut Self::Context) {
        if self.retired {
            return;
        }
        self.attempt = 0;
        self.qr_codes = 0;
        self.last_qr_at = None;
        self.connect(msg.by, ctx);
    }
}

/// Unlinks the device, deletes its keys and records `logged_out`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Logout {
    pub by: Option<UserId>,
}

impl Handler<Logout> for ChannelSessionActor {
    type Result = ();

    fn handle(&mut self, msg: Logout, ctx: &mut Self::Context) {
        if self.retired {
            return;
        }
        if let Some(handle) = self.retry.take() {
            ctx.cancel_future(handle);
        }
        if let Some(client) = self.client.clone() {
            let channel = self.channel;
            self.then(
                async move {
                    if let Err(err) = client.logout().await {
                        tracing::info!(%channel, error = %err, "the phone was not told of the logout");
                    }
                }
                .into_actor(self),
            ctx);
        }
        self.shut_client(ctx);
        self.generation += 1;
        self.paired = false;
        self.phone = None;
        self.forget_keys(ctx);
        self.record(
            self.transition(
                SessionState::LoggedOut,
                SessionDetail::because("logged out by an admin"),
                msg.by,
            ),
            ctx,
        );
    }
}

/// Asks for a pairing code for `phone` instead of the QR code.
#[derive(Message)]
#[rtype(result = "Result<String, SessionError>")]
pub struct RequestPairingCode {
    pub phone: String,
    pub by: Option<UserId>,
}

impl Handler<RequestPairingCode> for ChannelSessionActor {
    type Result = AtomicResponse<Self, Result<String, SessionError>>;

    fn handle(&mut self, msg: RequestPairingCode, _: &mut Self::Context) -> Self::Result {
        let ready = matches!(self.state, SessionState::Qr | SessionState::PairingCode);
        let client = self.client.clone().filter(|_| ready);
        let timeout = self.host.settings.send_timeout;
        AtomicResponse::new(Box::pin(
            async move {
                let client = client.ok_or_else(|| {
                    SessionError::NotNow(
                        "a pairing code can be asked for while the session shows a QR code".into(),
                    )
                })?;
                answer_within(timeout, client.pairing_code(&msg.phone)).await
            }
            .into_actor(self)
            .map(move |result, act, ctx| {
                if let Ok(code) = &result {
                    let detail = SessionDetail {
                        pairing_code: Some(code.clone()),
                        expires_at: Some(Millis::now().plus(PAIRING_CODE_VALID_FOR)),
                        ..SessionDetail::default()
                    };
                    act.record(
                        act.transition(SessionState::PairingCode, detail, msg.by),
                        ctx,
                    );
                }
                result
            }),
        ))
    }
}

/// How long WhatsApp accepts a pairing code.
pub const PAIRING_CODE_VALID_FOR: Duration = Duration::from_secs(180);

/// Sends a message through the connected client.
#[derive(Message)]
#[rtype(result = "Result<String, SessionError>")]
pub struct Send(pub WaOutgoing);

impl Handler<Send> for ChannelSessionActor {
    type Result = ResponseFuture<Result<String, SessionError>>;

    fn handle(&mut self, msg: Send, _: &mut Self::Context) -> Self::Result {
        // Sends run beside the mailbox (not in it), so a slow send does not hold up
        // the session's events; replies of one channel are already one at a time.
        let client = self.connected_client();
        let (timeout, stats) = (self.host.settings.send_timeout, self.host.stats.clone());
        Box::pin(async move {
            let sent = answer_within(timeout, client?.send(&msg.0)).await?;
            stats.note_message_out();
            Ok(sent)
        })
    }
}

/// Tells a customer their messages were read, through the connected client.
#[derive(Message)]
#[rtype(result = "Result<(), SessionError>")]
pub struct MarkRead(pub WaRead);

impl Handler<MarkRead> for ChannelSessionActor {
    type Result = ResponseFuture<Result<(), SessionError>>;

    fn handle(&mut self, msg: MarkRead, _: &mut Self::Context) -> Self::Result {
        let client = self.connected_client();
        let timeout = self.host.settings.send_timeout;
        Box::pin(async move { answer_within(timeout, client?.mark_read(&msg.0)).await })
    }
}

impl ChannelSessionActor {
    /// The client, while the session is connected.
    fn connected_client(&self) -> Result<Arc<dyn DriverClient>, SessionError> {
        self.client
            .clone()
            .filter(|_| self.state == SessionState::Connected)
            .ok_or_else(|| {
                SessionError::Driver(DriverError::Transient(
                    "the WhatsApp session is not connected".into(),
                ))
            })
    }
}

/// What a client call came back with, or a transient error once `timeout` passed.
async fn answer_within<T>(
    timeout: Duration,
    call: impl Future<Output = Result<T, DriverError>>,
) -> Result<T, SessionError> {
    match tokio::time::timeout(timeout, call).await {
        Ok(answer) => Ok(answer?),
        Err(_) => Err(DriverError::Transient("WhatsApp did not answer in time".into()).into()),
    }
}

/// Stops the session for good on this node.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Retire {
    pub ending: Ending,
}

impl Handler<Retire> for ChannelSessionActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: Retire, ctx: &mut Self::Context) -> Self::Result {
        let (done, finished) = oneshot::channel();
        self.retire(msg.ending, Some(done), ctx);
        Box::pin(async move {
            let _ = finished.await;
        })
    }
}
