//! The gateway to connected channels: one delivery worker per channel, which sends
//! that channel's replies in order through its rate limit, retries what may succeed
//! later, rests while the channel's circuit is open, and turns what cannot be
//! delivered into a dead letter. Every outcome becomes a status on the message, so
//! agents see it live. The channels and their credentials come from the directory
//! (`directory.rs`), the calls themselves are the provider clients' (`clients.rs`).

use super::breaker::{Breaker, Circuit};
use super::clients::{Prepared, Providers, SessionRoute};
use super::credentials::Credentials;
use super::directory::ChannelDirectory;
use super::meta::graph::{Graph, GraphError};
use super::worker_loop::serve_each;
use crate::config::ChannelsConfig;
use crate::telemetry::Metrics;
use governor::{DefaultDirectRateLimiter, Quota};
use std::cell::Cell;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchboard_actors::channel::{Channel, ChannelState, DeadLetter};
use switchboard_actors::inbox::WeakInbox;
use switchboard_actors::inbox::outbound::Delivery;
use switchboard_actors::inbox::records::StatusReport;
use switchboard_actors::store::Store;
use switchboard_actors::{
    ChannelId, ConversationId, DeadLetterId, DeliveryStatus, Direction, MessageKind, Millis,
    TenantId,
};
use tokio::sync::mpsc;

/// How far back a read receipt looks for the customer's newest message.
const READ_RECEIPT_LOOKBACK: u32 = 50;

/// How a channel's worker is doing, for `GET /channels/{id}/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerHealth {
    pub circuit: &'static str,
    pub queued: usize,
}

struct Health {
    circuit: Mutex<&'static str>,
}

struct Worker {
    queue: mpsc::Sender<Delivery>,
    health: Arc<Health>,
}

pub struct Gateway {
    store: Arc<dyn Store>,
    directory: Arc<ChannelDirectory>,
    metrics: Metrics,
    config: ChannelsConfig,
    providers: Providers,
    workers: Mutex<HashMap<ChannelId, Worker>>,
}

/// What became of one reply.
enum Outcome {
    Sent(String),
    Failed { reason: String, attempts: u32 },
}

impl Gateway {
    pub fn new(
        store: Arc<dyn Store>,
        directory: Arc<ChannelDirectory>,
        metrics: Metrics,
        graph: Graph,
        config: ChannelsConfig,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            directory,
            metrics,
            config,
            providers: Providers::new(graph),
            workers: Mutex::new(HashMap::new()),
        })
    }

    /// Where WhatsApp Web replies go.
    pub fn attach_sessions(&self, route: SessionRoute) {
        self.providers.attach_sessions(route);
    }

    /// The provider clients: the Graph API client (templates, media, broadcasts call
    /// it directly) and the sessions (a relayed command runs through them).
    pub fn providers(&self) -> &Providers {
        &self.providers
    }

    /// The channels and their credentials the gateway sends with.
    pub fn directory(&self) -> &Arc<ChannelDirectory> {
        &self.directory
    }

    /// Lets a deleted channel's worker end: it finishes its queue (each reply fails as
    /// the channel is gone) and stops. Not on other changes, where a second worker
    /// next to the draining one could reorder the channel's replies.
    pub fn retire(&self, id: ChannelId) {
        self.directory.forget(id);
        self.workers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    pub fn health(&self, channel: ChannelId) -> WorkerHealth {
        let workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        match workers.get(&channel) {
            Some(worker) => WorkerHealth {
                circuit: *worker
                    .health
                    .circuit
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()),
                // Waiting replies: the queue's bound less its free slots.
                queued: worker.queue.max_capacity() - worker.queue.capacity(),
            },
            None => WorkerHealth {
                circuit: Circuit::Closed.as_str(),
                queued: 0,
            },
        }
    }

    /// Queues a reply on its channel's worker (started on first use). Returns at once.
    pub fn deliver(self: &Arc<Self>, inbox: WeakInbox, channel: ChannelId, delivery: Delivery) {
        let rate = delivery
            .channel
            .channel()
            .and_then(|(kind, _)| self.providers.send_rate(kind))
            .unwrap_or(self.config.send_rate_per_second);
        let mut workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        let worker = workers
            .entry(channel)
            .or_insert_with(|| self.start_worker(inbox.clone(), channel, rate));
        match worker.queue.try_send(delivery) {
            Ok(()) => {}
            Err(err) => {
                let full = matches!(err, mpsc::error::TrySendError::Full(_));
                let delivery = err.into_inner();
                if !full {
                    // The worker ended (its runtime is gone); the next reply starts another.
                    workers.remove(&channel);
                }
                let gateway = self.clone();
                let reason = if full {
                    format!(
                        "the channel's outbound queue is full ({} replies waiting)",
                        self.config.queue_capacity
                    )
                } else {
                    "the channel's delivery worker stopped".to_owned()
                };
                actix_rt::spawn(async move {
                    gateway
                        .finish(
                            &inbox,
                            channel,
                            &delivery,
                            Outcome::Failed {
                                reason,
                                attempts: 0,
                            },
                        )
                        .await;
                });
            }
        }
    }

    fn start_worker(self: &Arc<Self>, inbox: WeakInbox, channel: ChannelId, rate: u32) -> Worker {
        let (queue, replies) = mpsc::channel::<Delivery>(self.config.queue_capacity);
        let health = Arc::new(Health {
            circuit: Mutex::new(Circuit::Closed.as_str()),
        });
        let gateway = self.clone();
        let shared = health.clone();
        actix_rt::spawn(async move {
            let rate = NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN);
            let limiter = Rc::new(DefaultDirectRateLimiter::direct(Quota::per_second(rate)));
            let breaker = Rc::new(Cell::new(Breaker::new(
                gateway.config.breaker_failures,
                Duration::from_millis(gateway.config.breaker_open_ms),
            )));
            let (failed_gateway, failed_inbox) = (gateway.clone(), inbox.clone());
            serve_each(
                replies,
                |delivery: Delivery| {
                    let (gateway, inbox, shared) = (gateway.clone(), inbox.clone(), shared.clone());
                    let (limiter, breaker) = (limiter.clone(), breaker.clone());
                    async move {
                        // Replies of a channel go one at a time: the circuit is read
                        // here and written back when the reply is done with it.
                        let mut circuit = breaker.get();
                        let outcome = gateway
                            .send(channel, &delivery, &limiter, &mut circuit, &shared)
                            .await;
                        breaker.set(circuit);
                        gateway.finish(&inbox, channel, &delivery, outcome).await;
                    }
                },
                |delivery: Delivery| {
                    let (gateway, inbox) = (failed_gateway.clone(), failed_inbox.clone());
                    async move {
                        tracing::error!(%channel, message = %delivery.message.id, "a reply's delivery crashed; recording it failed");
                        let outcome = Outcome::Failed {
                            reason: "an internal error stopped this reply before it was sent; send it again".into(),
                            attempts: 0,
                        };
                        gateway.finish(&inbox, channel, &delivery, outcome).await;
                    }
                },
            )
            .await;
        });
        Worker { queue, health }
    }

    /// Who a conversation's messages go to: the channel (which must exist and be
    /// active), its credentials, and the customer's id on it.
    async fn recipient(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        conversation: ConversationId,
    ) -> Result<(Channel, Credentials, String), String> {
        let store_failed = |err| format!("cannot read the store: {err}");
        let Some(record) = self
            .store
            .channel(tenant, channel)
            .await
            .map_err(store_failed)?
        else {
            return Err("the channel was deleted".into());
        };
        if record.state == ChannelState::Disabled {
            return Err("the channel is disabled".into());
        }
        let credentials = self.directory.credentials(&record)?;
        let conversation = self
            .store
            .conversation(tenant, conversation)
            .await
            .map_err(store_failed)?
            .ok_or("the conversation was deleted")?;
        let contact = self
            .store
            .contact(tenant, conversation.contact_id)
            .await
            .map_err(store_failed)?
            .ok_or("the contact was deleted")?;
        let key = record.key();
        let recipient = contact
            .identities
            .into_iter()
            .find(|i| i.channel == key)
            .ok_or("the contact has no identity on this channel")?;
        Ok((record, credentials, recipient.external_id))
    }

    /// Everything that must hold before a reply's first call: the recipient, and a
    /// request body the provider accepts. A failure here is final.
    async fn prepare(&self, channel: ChannelId, delivery: &Delivery) -> Result<Prepared, String> {
        let (record, credentials, to) = self
            .recipient(delivery.tenant, channel, delivery.conversation)
            .await?;
        self.providers
            .prepare(delivery.tenant, record, credentials, &to, &delivery.message)
    }

    /// Tells the channel the customer's newest message was read. Best effort: a
    /// failure is logged and kept as the channel's last error, never retried.
    pub fn mark_read(
        self: &Arc<Self>,
        tenant: TenantId,
        channel: ChannelId,
        conversation: ConversationId,
    ) {
        let gateway = self.clone();
        actix_rt::spawn(async move {
            if let Err(reason) = gateway.send_read(tenant, channel, conversation).await {
                tracing::info!(%channel, %reason, "read receipt not sent");
                gateway.note_error(channel, &reason).await;
            }
        });
    }

    async fn send_read(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        conversation: ConversationId,
    ) -> Result<(), String> {
        let recent = self
            .store
            .messages(tenant, conversation, None, READ_RECEIPT_LOOKBACK)
            .await
            .map_err(|err| format!("cannot read the store: {err}"))?;
        let Some(newest) = recent
            .iter()
            .rev()
            .find(|m| m.direction == Direction::Inbound && m.kind != MessageKind::Lead)
            .and_then(|m| m.provider_id.clone())
        else {
            return Ok(());
        };
        let (record, credentials, customer) = self.recipient(tenant, channel, conversation).await?;
        self.providers
            .mark_read(tenant, &record, &credentials, &customer, &recent, &newest)
            .await
    }

    async fn send(
        &self,
        channel: ChannelId,
        delivery: &Delivery,
        limiter: &DefaultDirectRateLimiter,
        breaker: &mut Breaker,
        health: &Health,
    ) -> Outcome {
        let prepared = match self.prepare(channel, delivery).await {
            Ok(ready) => ready,
            Err(reason) => {
                return Outcome::Failed {
                    reason,
                    attempts: 0,
                };
            }
        };
        let mut attempts = 0;
        loop {
            // While the circuit is open the reply waits here, its attempts untouched.
            loop {
                let circuit = breaker.circuit(Instant::now());
                *health.circuit.lock().unwrap_or_else(|p| p.into_inner()) = circuit.as_str();
                match circuit {
                    Circuit::Open(until) => actix_rt::time::sleep_until(until.into()).await,
                    Circuit::Closed | Circuit::HalfOpen => break,
                }
            }
            limiter.until_ready().await;
            attempts += 1;
            let result = self.providers.send(channel, &prepared).await;
            let kind = prepared.kind();
            match result {
                Ok(provider_id) => {
                    self.metrics.record_outbound(kind.as_str(), "sent");
                    breaker.succeeded();
                    *health.circuit.lock().unwrap_or_else(|p| p.into_inner()) =
                        Circuit::Closed.as_str();
                    return Outcome::Sent(provider_id);
                }
                Err(GraphError::Permanent(reason)) => {
                    // The provider answered: it is up, the reply is what it refused.
                    breaker.succeeded();
                    return Outcome::Failed { reason, attempts };
                }
                Err(GraphError::Retryable {
                    reason,
                    retry_after,
                }) => {
                    self.metrics.record_outbound(kind.as_str(), "retried");
                    breaker.failed(Instant::now());
                    self.note_error(channel, &reason).await;
                    if attempts >= self.config.max_attempts {
                        return Outcome::Failed {
                            reason: format!("gave up after {attempts} attempts: {reason}"),
                            attempts,
                        };
                    }
                    let pause =
                        backoff(&self.config, attempts).max(retry_after.unwrap_or_default());
                    tracing::info!(%channel, attempts, ?pause, %reason, "send failed; retrying");
                    actix_rt::time::sleep(pause).await;
                }
            }
        }
    }

    async fn note_error(&self, channel: ChannelId, reason: &str) {
        if let Err(err) = self
            .store
            .note_channel_error(channel, reason, Millis::now())
            .await
        {
            tracing::warn!(%channel, error = %err, "cannot record the channel's last error");
        }
    }

    /// Records the outcome: `sent` with the provider's id, or `failed` with the reason
    /// and a dead letter an admin can send again.
    async fn finish(
        &self,
        inbox: &WeakInbox,
        channel: ChannelId,
        delivery: &Delivery,
        outcome: Outcome,
    ) {
        let report = match outcome {
            Outcome::Sent(provider_id) => StatusReport {
                provider_id: Some(provider_id).filter(|p| !p.is_empty()),
                ..StatusReport::new(DeliveryStatus::Sent)
            },
            Outcome::Failed { reason, attempts } => {
                let kind = delivery
                    .channel
                    .channel()
                    .map_or("unknown", |(kind, _)| kind.as_str());
                self.metrics.record_outbound(kind, "failed");
                tracing::warn!(%channel, message = %delivery.message.id, %reason, "reply not delivered");
                self.note_error(channel, &reason).await;
                let letter = DeadLetter {
                    tenant_id: delivery.tenant,
                    id: DeadLetterId::new(),
                    channel_id: channel,
                    conversation_id: delivery.conversation,
                    message_id: delivery.message.id,
                    error: reason.clone(),
                    attempts,
                    created_at: Millis::now(),
                    retried_at: None,
                };
                if let Err(err) = self.store.insert_dead_letter(&letter).await {
                    tracing::error!(message = %delivery.message.id, error = %err, "cannot store the dead letter");
                }
                StatusReport {
                    error: Some(reason),
                    ..StatusReport::new(DeliveryStatus::Failed)
                }
            }
        };
        let Some(inbox) = inbox.upgrade() else { return };
        if let Err(err) = inbox
            .report_status(
                delivery.tenant,
                delivery.conversation,
                delivery.message.id,
                report,
            )
            .await
        {
            tracing::warn!(message = %delivery.message.id, error = %err, "cannot record the delivery status");
        }
    }
}

/// The channel's pause before another attempt (see `domain::backoff`).
fn backoff(config: &ChannelsConfig, attempt: u32) -> Duration {
    switchboard_actors::domain::backoff::backoff(
        Duration::from_millis(config.retry_base_ms),
        Duration::from_millis(config.retry_max_ms),
        attempt,
    )
}
