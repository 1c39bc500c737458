//! `Sessions`: the node's WhatsApp Web sessions. It starts an actor for each session
//! this node holds the lease of, keeps the leases renewed, takes over sessions whose
//! owner stopped renewing (a dead node, or every paired session at start), and hands
//! the HTTP layer's commands to the right actor.

use super::actor::{
    ChannelSessionActor, Ending, Logout, MarkRead, RequestPairingCode, Restart, Retire, Send,
    SessionError,
};
use super::driver::{DriverError, SessionDriver, WaOutgoing, WaRead};
use super::host::{Host, KeysFactory};
use super::relay::{SessionAnswer, SessionCommand, SessionRelay};
use super::settings::SessionSettings;
use super::stats::SessionCounts;
use super::store::Claimable;
use crate::inbox::Inbox;
use crate::inbox::bus::NodeId;
use crate::store::{Store, StoreError};
use crate::{ChannelId, Millis, TenantId, UserId};
use actix::{Addr, Supervisor};
use std::sync::Arc;
use std::time::Instant;

/// Lease renewals per lease time; each renewal may take at most this fraction too.
const RENEWALS_PER_LEASE: u32 = 5;

#[derive(Clone)]
pub struct Sessions(Arc<Host>);

impl Sessions {
    /// Session actors will run on the current arbiter.
    pub fn new(
        store: Arc<dyn Store>,
        inbox: Inbox,
        driver: Arc<dyn SessionDriver>,
        keys: KeysFactory,
        node: NodeId,
        settings: SessionSettings,
    ) -> Self {
        Self(Arc::new(Host::new(
            store, inbox, driver, keys, node, settings,
        )))
    }

    pub fn node(&self) -> NodeId {
        self.0.node
    }

    pub fn counts(&self) -> SessionCounts {
        self.0.stats.counts()
    }

    /// Sessions whose actor runs on this node.
    pub fn running(&self) -> Vec<ChannelId> {
        self.0.actors.iter().map(|e| *e.key()).collect()
    }

    fn lease_until(&self) -> Millis {
        Millis::now().plus(self.0.settings.lease_ttl)
    }

    /// A new session (its channel was just created): stored, leased here, started.
    pub async fn create(&self, tenant: TenantId, channel: ChannelId) -> Result<(), StoreError> {
        self.0
            .store
            .create_session(
                tenant,
                channel,
                self.0.node,
                self.lease_until(),
                Millis::now(),
            )
            .await?;
        self.start(tenant, channel);
        Ok(())
    }

    fn start(&self, tenant: TenantId, channel: ChannelId) -> Addr<ChannelSessionActor> {
        let host = self.0.clone();
        self.0
            .actors
            .entry(channel)
            .or_insert_with(|| {
                let arbiter = host.arbiter.clone();
                Supervisor::start_in_arbiter(&arbiter, move |_| {
                    ChannelSessionActor::new(host, tenant, channel)
                })
            })
            .clone()
    }

    /// The session's actor on this node, taking the lease when no node holds it.
    async fn actor(
        &self,
        tenant: TenantId,
        channel: ChannelId,
    ) -> Result<Addr<ChannelSessionActor>, SessionError> {
        if let Some(addr) = self.0.actors.get(&channel).map(|a| a.clone())
            && addr.connected()
        {
            return Ok(addr);
        }
        let now = Millis::now();
        let claimed = self
            .0
            .store
            .claim_session(tenant, channel, self.0.node, now, self.lease_until())
            .await
            .map_err(|err| SessionError::Store(err.to_string()))?;
        if !claimed {
            return Err(SessionError::Elsewhere);
        }
        Ok(self.start(tenant, channel))
    }

    /// Where commands for sessions other nodes run are carried.
    pub fn attach_relay(&self, relay: Arc<dyn SessionRelay>) {
        let _ = self.0.relay.set(relay);
    }

    pub async fn restart(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        by: Option<UserId>,
    ) -> Result<(), SessionError> {
        self.run(tenant, channel, SessionCommand::Restart { by })
            .await
            .map(|_| ())
    }

    pub async fn logout(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        by: Option<UserId>,
    ) -> Result<(), SessionError> {
        self.run(tenant, channel, SessionCommand::Logout { by })
            .await
            .map(|_| ())
    }

    pub async fn pairing_code(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        phone: String,
        by: Option<UserId>,
    ) -> Result<String, SessionError> {
        match self
            .run(tenant, channel, SessionCommand::PairingCode { phone, by })
            .await?
        {
            SessionAnswer::PairingCode(code) => Ok(code),
            other => Err(unexpected(&other)),
        }
    }

    /// Sends a reply through the session; `Ok` holds WhatsApp's id for it.
    pub async fn send(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        message: WaOutgoing,
    ) -> Result<String, SessionError> {
        match self
            .run(tenant, channel, SessionCommand::Send { message })
            .await?
        {
            SessionAnswer::Sent(id) => Ok(id),
            other => Err(unexpected(&other)),
        }
    }

    /// Tells a customer their messages were read, through the session.
    pub async fn mark_read(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        read: WaRead,
    ) -> Result<(), SessionError> {
        self.run(tenant, channel, SessionCommand::MarkRead { read })
            .await
            .map(|_| ())
    }

    /// Whether the session's actor runs on this node.
    pub fn runs_here(&self, channel: ChannelId) -> bool {
        self.0.actors.contains_key(&channel)
    }

    /// Runs `command` on the node that runs the session: here, or through the relay
    /// on the node that holds its lease.
    pub async fn run(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        command: SessionCommand,
    ) -> Result<SessionAnswer, SessionError> {
        match self.run_here(tenant, channel, command.clone()).await {
            Err(SessionError::Elsewhere) => {}
            done => return done,
        }
        let Some(relay) = self.0.relay.get() else {
            return Err(SessionError::Elsewhere);
        };
        let owner = self
            .0
            .store
            .session_owner(tenant, channel, Millis::now())
            .await
            .map_err(|err| SessionError::Store(err.to_string()))?;
        match owner {
            Some(owner) if owner != self.0.node => {
                relay.forward(owner, tenant, channel, command).await
            }
            // No node runs it (between owners, or stopped for good).
            _ => Err(SessionError::Gone),
        }
    }

    /// Runs `command` on this node's actor of the session, never elsewhere (what a
    /// relayed command does when it arrives). Restart, logout and pairing code take
    /// the lease when no node holds it; a reply or a read receipt needs the session
    /// running here.
    pub async fn run_here(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        command: SessionCommand,
    ) -> Result<SessionAnswer, SessionError> {
        let addr = match &command {
            SessionCommand::Send { .. } | SessionCommand::MarkRead { .. } => self
                .0
                .actors
                .get(&channel)
                .map(|a| a.clone())
                .ok_or(SessionError::Elsewhere)?,
            _ => self.actor(tenant, channel).await?,
        };
        let gone = |_| SessionError::Gone;
        match command {
            SessionCommand::Restart { by } => {
                addr.send(Restart { by }).await.map_err(gone)?;
                Ok(SessionAnswer::Done)
            }
            SessionCommand::Logout { by } => {
                addr.send(Logout { by }).await.map_err(gone)?;
                Ok(SessionAnswer::Done)
            }
            SessionCommand::PairingCode { phone, by } => addr
                .send(RequestPairingCode { phone, by })
                .await
                .map_err(gone)?
                .map(SessionAnswer::PairingCode),
            SessionCommand::Send { message } => addr
                .send(Send(message))
                .await
                .map_err(gone)?
                .map(SessionAnswer::Sent),
            SessionCommand::MarkRead { read } => addr
                .send(MarkRead(read))
                .await
                .map_err(gone)?
                .map(|()| SessionAnswer::Done),
        }
    }

    /// Stops the session here, recording what `ending` says. Waits until its
    /// client is shut down.
    pub async fn retire(&self, channel: ChannelId, ending: Ending) {
        let Some(addr) = self.0.actors.get(&channel).map(|a| a.clone()) else {
            return;
        };
        let _ = addr.send(Retire { ending }).await;
    }

    /// Stops every session of this node and gives their leases up, so another node
    /// takes them over at once (a clean shutdown).
    pub async fn shutdown(&self) {
        let running = self.running();
        futures_util::future::join_all(
            running
                .into_iter()
                .map(|c| self.retire(c, Ending::Handover)),
        )
        .await;
    }

    /// Keeps this node's leases and takes over sessions no one holds; runs until
    /// the registry is dropped. The first round runs at once: that is the restore
    /// after a restart.
    pub async fn keep_leases(self) {
        let every = self.0.settings.lease_ttl / RENEWALS_PER_LEASE;
        let mut renewed_at = Instant::now();
        loop {
            self.renew(&mut renewed_at).await;
            // A full batch started means more may be waiting (a restart restores
            // them all): go on claiming rather than wait a round per batch.
            while self.claim().await >= self.0.settings.claim_batch as usize {}
            tokio::time::sleep(every).await;
        }
    }

    /// Renews this node's leases. Cut off from the store, the node stops every
    /// session once half the lease has passed without a renewal: with a renewal
    /// round (and its time-out) of a fifth each, that is before the lease can expire
    /// and another node may start the session.
    async fn renew(&self, renewed_at: &mut Instant) {
        let running = self.running();
        let ttl = self.0.settings.lease_ttl;
        let renewal = self
            .0
            .store
            .renew_session_leases(self.0.node, &running, self.lease_until());
        match tokio::time::timeout(ttl / RENEWALS_PER_LEASE, renewal).await {
            Ok(Ok(held)) => {
                *renewed_at = Instant::now();
                for channel in running.into_iter().filter(|c| !held.contains(c)) {
                    tracing::warn!(%channel, "another node took this session's lease; stopping it here");
                    self.retire(channel, Ending::Silent).await;
                }
            }
            failed => {
                let error = match failed {
                    Ok(Err(err)) => err.to_string(),
                    _ => "timed out".to_owned(),
                };
                tracing::warn!(%error, "cannot renew the session leases");
                if renewed_at.elapsed() >= ttl / 2 {
                    tracing::error!(
                        "session leases not renewed for half their time; stopping this node's sessions"
                    );
                    for channel in running {
                        self.retire(channel, Ending::Silent).await;
                    }
                }
            }
        }
    }

    /// Claims and starts sessions no node holds; returns how many it started.
    async fn claim(&self) -> usize {
        let now = Millis::now();
        let batch = self.0.settings.claim_batch;
        let claimable = match self.0.store.claimable_sessions(now, batch).await {
            Ok(claimable) => claimable,
            Err(err) => {
                tracing::warn!(error = %err, "cannot look for sessions to take over");
                return 0;
            }
        };
        let mut started = 0;
        for Claimable { tenant, channel } in claimable {
            if self.0.actors.contains_key(&channel) {
                continue;
            }
            match self
                .0
                .store
                .claim_session(tenant, channel, self.0.node, now, self.lease_until())
                .await
            {
                Ok(true) => {
                    tracing::info!(%channel, "taking over a WhatsApp session");
                    self.start(tenant, channel);
                    started += 1;
                }
                Ok(false) => {}
                Err(err) => tracing::warn!(%channel, error = %err, "cannot claim a session"),
            }
        }
        started
    }
}

/// An answer of the wrong kind from another node: a version mismatch between nodes.
fn unexpected(answer: &SessionAnswer) -> SessionError {
    DriverError::Permanent(format!("the session's node answered {answer:?}")).into()
}
