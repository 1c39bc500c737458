//! The job that sends a broadcast: lists a segment's contacts (once, going on where
//! it stopped), then takes queued recipients in order, one provider call each, at the
//! broadcast's rate and within the channel's daily limit. Each call is bracketed by
//! the recipient's `sending` status, so a run that dies leaves at most the call in
//! flight unknown; that recipient is failed, never sent again: nobody receives a
//! broadcast twice. Each message sent is recorded in the recipient's conversation
//! (created when they had none), where the channel's reports and their replies find
//! it.

use crate::channels::gateway::Gateway;
use crate::channels::meta::graph::{GraphError, SendFailure};
use crate::channels::meta::outgoing;
use crate::config::ChannelsConfig;
use crate::telemetry::Metrics;
use futures_util::{Stream, StreamExt};
use governor::{DefaultDirectRateLimiter, Quota};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchboard_actors::broadcasts::{
    Broadcast, BroadcastStatus, Outcome, Recipient, RecipientStatus,
};
use switchboard_actors::channel::{Channel, ChannelKind, ChannelState};
use switchboard_actors::contacts::scan::{self, Selection};
use switchboard_actors::inbox::Inbox;
use switchboard_actors::inbox::records::{Contact, Identity, Inbound};
use switchboard_actors::jobs::runner::{JobFailure, JobHandler};
use switchboard_actors::jobs::{Job, NewJob};
use switchboard_actors::store::{Store, StoreError};
use switchboard_actors::{BroadcastId, Direction, Millis, PhoneE164, TenantId};

/// The job kind; its payload names the broadcast and the generation it runs.
pub const BROADCAST_JOB: &str = "broadcast.send";

/// A channel's settings for broadcasts: sends per second at most, and broadcast
/// messages per rolling 24 hours (WhatsApp's messaging limit tier).
pub const RATE_SETTING: &str = "broadcast_rate_per_second";
pub const DAILY_LIMIT_SETTING: &str = "daily_limit";

/// How long one run sends at most before it hands the job back; within a third of
/// the job timeout, so a long broadcast never times out or uses up attempts.
const LONGEST_SLICE: Duration = Duration::from_secs(20);
/// Recipients read per query.
const BATCH: u32 = 200;
/// Contacts of a segment read per query while listing.
const LIST_BATCH: usize = 500;
/// How often a run reads its broadcast again (a pause or cancel stops it within
/// this), and sends the totals to admins' sockets.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// The longest pause a run waits itself after the provider asked to slow down;
/// a longer one hands the job back for that long.
const LONGEST_WAIT_IN_RUN: Duration = Duration::from_secs(5);
const DAY_MS: i64 = 24 * 3600 * 1000;

/// Why a recipient found `sending` by a later run is failed.
const INTERRUPTED: &str = "interrupted: the server stopped during the provider call, so it may have been sent; not sent again so nobody receives it twice";

#[derive(Serialize, Deserialize)]
struct Payload {
    broadcast_id: BroadcastId,
    generation: i64,
}

/// The job that runs `broadcast` (its current generation), due at its time.
pub fn job(broadcast: &Broadcast) -> NewJob {
    NewJob {
        tenant: broadcast.tenant_id,
        kind: BROADCAST_JOB.to_owned(),
        payload: json!(Payload {
            broadcast_id: broadcast.id,
            generation: broadcast.generation,
        }),
        run_at: broadcast.send_at,
        max_attempts: 10,
        idempotency_key: Some(format!(
            "broadcast:{}:{}",
            broadcast.id, broadcast.generation
        )),
    }
}

/// A channel's broadcast rate: the broadcast's own, within the channel's setting
/// and the server's per-channel rate.
pub fn rate_for(channel: &Channel, asked: u32, config: &ChannelsConfig) -> u32 {
    let setting = channel
        .settings
        .get(RATE_SETTING)
        .and_then(Value::as_u64)
        .and_then(|r| u32::try_from(r).ok())
        .unwrap_or(config.send_rate_per_second);
    asked.min(setting).min(config.send_rate_per_second).max(1)
}

pub struct BroadcastSender {
    store: Arc<dyn Store>,
    inbox: Inbox,
    gateway: Arc<Gateway>,
    announcer: Announcer,
    config: ChannelsConfig,
    metrics: Metrics,
    slice: Duration,
}

/// How a run ended early.
enum Stop {
    /// The job is done for now (paused, cancelled, a newer run took over).
    Finished,
    Failure(JobFailure),
}

impl From<StoreError> for Stop {
    fn from(err: StoreError) -> Self {
        Stop::Failure(JobFailure::Retry(err.to_string()))
    }
}

/// One run's state.
struct Run {
    broadcast: Broadcast,
    generation: i64,
    began: Instant,
    checked: Instant,
    /// Provider refusals in a row that asked to slow down.
    throttled: u32,
}

impl BroadcastSender {
    pub fn new(
        store: Arc<dyn Store>,
        inbox: Inbox,
        gateway: Arc<Gateway>,
        announcer: Announcer,
        config: ChannelsConfig,
        metrics: Metrics,
        job_timeout: Duration,
    ) -> Self {
        Self {
            store,
            inbox,
            gateway,
            announcer,
            config,
            metrics,
            slice: (job_timeout / 3).min(LONGEST_SLICE),
        }
    }

    /// Saves the run's broadcast and sends its `broadcast.updated` event; stops the
    /// run when the broadcast is no longer its own (paused, cancelled, resumed anew).
    async fn save(&self, broadcast: &mut Broadcast) -> Result<(), Stop> {
        broadcast.updated_at = Millis::now();
        let event = self
            .store
            .save_broadcast(broadcast)
            .await?
            .ok_or(Stop::Finished)?;
        self.inbox.publish(broadcast.tenant_id, vec![event]);
        Ok(())
    }

    /// Pauses the broadcast with the reason a person must act on.
    async fn pause(&self, run: &mut Run, note: String) -> Result<(), Stop> {
        run.broadcast.status = BroadcastStatus::Paused;
        run.broadcast.note = Some(note);
        self.save(&mut run.broadcast).await?;
        Err(Stop::Finished)
    }

    /// Every `CHECK_EVERY`: stops when the broadcast no longer runs for this
    /// generation, and has the totals sent meanwhile (by the announcer, off this
    /// run's path: counting a large broadcast's recipients takes milliseconds).
    async fn check(&self, run: &mut Run) -> Result<(), Stop> {
        if run.checked.elapsed() < CHECK_EVERY {
            return Ok(());
        }
        run.checked = Instant::now();
        let (tenant, id) = (run.broadcast.tenant_id, run.broadcast.id);
        let fresh = self.store.broadcast(tenant, id).await?;
        if !fresh.is_some_and(|fresh| fresh.sends(run.generation)) {
            return Err(Stop::Finished);
        }
        self.announcer.moved(tenant, id);
        Ok(())
    }

    /// Lists the segment's contacts as recipients, going on from the last one
    /// listed; each phone once.
    async fn list(&self, run: &mut Run) -> Result<(), Stop> {
        let tenant = run.broadcast.tenant_id;
        let Some(segment_id) = run.broadcast.segment_id else {
            run.broadcast.listed = true;
            return Ok(());
        };
        let Some(segment) = self.store.segment(tenant, segment_id).await? else {
            return self
                .pause(
                    run,
                    "the segment was deleted before every recipient was listed".into(),
                )
                .await;
        };
        let mut position = i64::try_from(
            self.store
                .recipient_totals(tenant, run.broadcast.id)
                .await?
                .total,
        )
        .unwrap_or(i64::MAX);
        loop {
            if run.began.elapsed() >= self.slice {
                self.save(&mut run.broadcast).await?;
                return Err(Stop::Failure(JobFailure::Continue));
            }
            let found = scan::page(
                self.store.as_ref(),
                tenant,
                Selection {
                    filter: Some(&segment.filter),
                    q: None,
                },
                run.broadcast.list_cursor,
                LIST_BATCH,
                LIST_BATCH,
                Millis::now(),
            )
            .await?;
            let mut recipients = Vec::with_capacity(found.contacts.len());
            for contact in &found.contacts {
                // A contact without a phone cannot be reached on WhatsApp.
                if let Some(phone) = contact.phones.first() {
                    recipients.push(Recipient::queued(
                        &run.broadcast,
                        position,
                        Some(contact.id),
                        phone.as_str().to_owned(),
                        contact.name.clone(),
                    ));
                    position += 1;
                }
            }
            self.store.add_recipients(&recipients).await?;
            match found.next {
                Some(next) => run.broadcast.list_cursor = Some(next),
                None => {
                    run.broadcast.listed = true;
                    self.save(&mut run.broadcast).await?;
                    return Ok(());
                }
            }
        }
    }

    async fn run(&self, job: &Job) -> Result<(), Stop> {
        let payload: Payload = serde_json::from_value(job.payload.clone()).map_err(|err| {
            Stop::Failure(JobFailure::Permanent(format!("not a broadcast job: {err}")))
        })?;
        let tenant = job.tenant_id;
        let Some(broadcast) = self.store.broadcast(tenant, payload.broadcast_id).await? else {
            return Err(Stop::Failure(JobFailure::Permanent(
                "the broadcast is gone".into(),
            )));
        };
        if !broadcast.sends(payload.generation) {
            return Ok(());
        }
        let mut run = Run {
            broadcast,
            generation: payload.generation,
            began: Instant::now(),
            checked: Instant::now(),
            throttled: 0,
        };
        let channel = match self.store.channel(tenant, run.broadcast.channel_id).await? {
            Some(channel) if channel.state == ChannelState::Active => channel,
            Some(_) => return self.pause(&mut run, "the channel is disabled".into()).await,
            None => return self.pause(&mut run, "the channel was deleted".into()).await,
        };
        let credentials = match self.gateway.directory().credentials(&channel) {
            Ok(credentials) => credentials,
            Err(reason) => return self.pause(&mut run, reason).await,
        };
        let now = Millis::now();
        if run.broadcast.status == BroadcastStatus::Scheduled {
            run.broadcast.status = BroadcastStatus::Running;
            run.broadcast.started_at = Some(now);
        }
        run.broadcast.note = None;
        let interrupted = self
            .store
            .settle_recipients(
                tenant,
                run.broadcast.id,
                RecipientStatus::Sending,
                RecipientStatus::Failed,
                INTERRUPTED,
                now,
            )
            .await?;
        if interrupted > 0 {
            tracing::warn!(broadcast = %run.broadcast.id, interrupted, "recipients in flight when a run stopped are failed, not sent again");
        }
        self.save(&mut run.broadcast).await?;
        if !run.broadcast.listed {
            self.list(&mut run).await?;
        }
        let rate = rate_for(&channel, run.broadcast.rate_per_second, &self.config);
        // One send every 1/rate seconds, with a burst of two: a send the timer
        // wakes late is made up by the next, so the sustained rate is the configured
        // one, and no second ever holds more than `rate` sends and two.
        let limiter = DefaultDirectRateLimiter::direct(
            Quota::per_second(NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN))
                .allow_burst(NonZeroU32::MIN.saturating_add(1)),
        );
        let daily_limit = channel
            .settings
            .get(DAILY_LIMIT_SETTING)
            .and_then(Value::as_u64);
        let mut sent_today = 0;
        if let Some(limit) = daily_limit {
            sent_today = self.wait_for_daily_limit(&mut run, &channel, limit).await?;
        }
        let sending = Sending {
            channel: &channel,
            token: &credentials.access_token,
            limiter: &limiter,
            daily_limit,
        };
        let in_flight = self.config.broadcast_in_flight.min(rate as usize).max(1);
        loop {
            // A pass over the queued recipients; the run is done when one finds none.
            let mut any = false;
            let turns = Turns::new(run.began, sent_today);
            let broadcast = run.broadcast.clone();
            let mut outcomes = std::pin::pin!(self.turns(&broadcast, &sending, &turns, in_flight));
            // Every turn started is seen to its end, whatever stops the run: one
            // dropped between its provider call and its record would be failed as
            // interrupted by the next run although it was sent.
            let mut failed = None;
            while let Some(outcome) = outcomes.next().await {
                any = true;
                match outcome {
                    Ok(Some(RecipientStatus::Sent)) => run.throttled = 0,
                    Ok(_) => {}
                    Err(err) => {
                        turns.halt(Halt::Failed);
                        failed.get_or_insert(err);
                    }
                }
                if !turns.halted()
                    && let Err(stop) = self.check(&mut run).await
                {
                    turns.halt(Halt::Stopped);
                    failed.get_or_insert(stop);
                }
            }
            sent_today = turns.started.load(Ordering::Relaxed);
            if let Some(stop) = failed {
                return Err(stop);
            }
            match turns.why() {
                None if !any => break,
                None | Some(Halt::Failed | Halt::Stopped) => {}
                Some(Halt::SliceOver) => {
                    self.save(&mut run.broadcast).await?;
                    return Err(Stop::Failure(JobFailure::Continue));
                }
                Some(Halt::DailyLimit) => {
                    if let Some(limit) = daily_limit {
                        sent_today = self.wait_for_daily_limit(&mut run, &channel, limit).await?;
                    }
                }
                Some(Halt::Throttled {
                    retry_after,
                    reason,
                }) => {
                    self.slow_down(&mut run, retry_after, reason).await?;
                }
            }
        }
        run.broadcast.status = BroadcastStatus::Done;
        run.broadcast.finished_at = Some(Millis::now());
        self.save(&mut run.broadcast).await?;
        Ok(())
    }

    /// The channel's broadcast sends in the last 24 hours, when below `limit`;
    /// otherwise the job waits until the oldest of them is 24 hours old.
    async fn wait_for_daily_limit(
        &self,
        run: &mut Run,
        channel: &Channel,
        limit: u64,
    ) -> Result<u64, Stop> {
        let now = Millis::now();
        let (sent, oldest) = self
            .store
            .broadcast_sends_since(channel.tenant_id, channel.id, Millis(now.0 - DAY_MS))
            .await?;
        if sent < limit {
            return Ok(sent);
        }
        let free_at = Millis(oldest.map_or(now.0, |at| at.0) + DAY_MS);
        run.broadcast.note = Some(format!(
            "waiting: the channel's daily limit of {limit} broadcast messages is reached; sending goes on at {}",
            free_at.to_rfc3339()
        ));
        self.save(&mut run.broadcast).await?;
        let wait = Duration::from_millis(u64::try_from(free_at.0 - now.0).unwrap_or(0));
        Err(Stop::Failure(JobFailure::Busy(wait.max(CHECK_EVERY))))
    }

    /// A pass's turns: the queued recipients are read a page at a time as they are
    /// needed (the calls of one page still under way while the next is read), taken
    /// one after another in order at the limiter's pace, and their provider calls run
    /// at once, up to `in_flight`. Reading stops when the pass halts.
    fn turns<'a>(
        &'a self,
        broadcast: &'a Broadcast,
        sending: &'a Sending<'a>,
        turns: &'a Turns,
        in_flight: usize,
    ) -> impl Stream<Item = Result<Option<RecipientStatus>, Stop>> + Send + 'a {
        // `Some(after)` while there may be more to read.
        let pages = futures_util::stream::unfold(Some(None), move |cursor| async move {
            let after = cursor?;
            if turns.halted() {
                return None;
            }
            let page = self
                .store
                .queued_recipients(broadcast.tenant_id, broadcast.id, after, BATCH)
                .await;
            match page {
                Ok(page) if page.is_empty() => None,
                Ok(page) => {
                    let last = page.last().map(|r| r.position);
                    let more = page.len() == BATCH as usize;
                    let items: Vec<Result<Recipient, Stop>> = page.into_iter().map(Ok).collect();
                    Some((items, more.then_some(last)))
                }
                Err(err) => Some((vec![Err(Stop::from(err))], None)),
            }
        });
        pages
            .flat_map(futures_util::stream::iter)
            .then(move |recipient| self.take(broadcast, sending, turns, recipient))
            .map(move |taken| self.send(broadcast, sending, turns, taken))
            .buffer_unordered(in_flight)
    }

    /// Takes the next recipient in order: decides (skipped, or a request) and waits
    /// for the rate limiter. Nothing when the run is halting (they stay queued).
    async fn take(
        &self,
        broadcast: &Broadcast,
        sending: &Sending<'_>,
        turns: &Turns,
        recipient: Result<Recipient, Stop>,
    ) -> Result<Taken, Stop> {
        let recipient = recipient?;
        if turns.halted() {
            return Ok(Taken::Left);
        }
        if turns.began.elapsed() >= self.slice {
            turns.halt(Halt::SliceOver);
            return Ok(Taken::Left);
        }
        let contact = match recipient.contact_id {
            Some(id) => self.store.contact(recipient.tenant_id, id).await?,
            None => None,
        };
        let prepared = match self
            .prepare(
                broadcast,
                sending.channel,
                &recipient,
                contact.as_ref(),
                Millis::now(),
            )
            .await?
        {
            Ok(prepared) => prepared,
            Err(reason) => {
                self.settle(&recipient, RecipientStatus::Skipped, Some(reason))
                    .await?;
                return Ok(Taken::Settled(RecipientStatus::Skipped));
            }
        };
        if !turns.take_place(sending.daily_limit) {
            return Ok(Taken::Left);
        }
        sending.limiter.until_ready().await;
        Ok(Taken::Ready(Box::new(Ready {
            recipient,
            contact,
            prepared,
        })))
    }

    /// Sends to a recipient taken, many at once within `broadcast_in_flight`: moves
    /// them `queued` → `sending` (only now: a run that stops while they wait leaves
    /// them queued, not interrupted), calls the provider and settles them. The status
    /// they ended in, or `None` when nothing was sent: sends are held, another run
    /// took them, or the provider asked to slow down (they are queued again and the
    /// run halts).
    async fn send(
        &self,
        broadcast: &Broadcast,
        sending: &Sending<'_>,
        turns: &Turns,
        taken: Result<Taken, Stop>,
    ) -> Result<Option<RecipientStatus>, Stop> {
        let (recipient, contact, prepared) = match taken? {
            Taken::Settled(status) => return Ok(Some(status)),
            Taken::Left => return Ok(None),
            Taken::Ready(ready) => {
                let Ready {
                    recipient,
                    contact,
                    prepared,
                } = *ready;
                (recipient, contact, prepared)
            }
        };
        let tenant = recipient.tenant_id;
        if turns.holding()
            || !self
                .store
                .move_recipient(
                    tenant,
                    recipient.id,
                    RecipientStatus::Queued,
                    RecipientStatus::Sending,
                    Millis::now(),
                )
                .await?
        {
            turns.give_back_place();
            return Ok(None);
        }
        let kind = sending.channel.kind.as_str();
        let sent = self
            .gateway
            .providers()
            .graph()
            .send_once(
                sending.channel.kind,
                &sending.channel.account_id,
                sending.token,
                &prepared.body,
            )
            .await;
        let failure = match sent {
            Ok(provider_id) => {
                self.metrics.record_outbound(kind, "broadcast_sent");
                let outcome = self
                    .record(
                        broadcast,
                        sending.channel,
                        &recipient,
                        contact.as_ref(),
                        prepared,
                        provider_id,
                    )
                    .await;
                self.store
                    .finish_recipient(tenant, recipient.id, &outcome)
                    .await?;
                return Ok(Some(RecipientStatus::Sent));
            }
            Err(failure) => failure,
        };
        turns.give_back_place();
        match failure {
            SendFailure {
                error:
                    GraphError::Retryable {
                        reason,
                        retry_after,
                    },
                maybe_delivered: false,
            } => {
                self.metrics.record_outbound(kind, "broadcast_throttled");
                self.store
                    .move_recipient(
                        tenant,
                        recipient.id,
                        RecipientStatus::Sending,
                        RecipientStatus::Queued,
                        Millis::now(),
                    )
                    .await?;
                turns.halt(Halt::Throttled {
                    retry_after,
                    reason,
                });
                Ok(None)
            }
            SendFailure {
                error,
                maybe_delivered,
            } => {
                self.metrics.record_outbound(kind, "broadcast_failed");
                let reason = if maybe_delivered {
                    format!(
                        "no answer from the provider ({error}); not sent again so nobody receives it twice"
                    )
                } else {
                    error.to_string()
                };
                self.settle(&recipient, RecipientStatus::Failed, Some(reason))
                    .await?;
                Ok(Some(RecipientStatus::Failed))
            }
        }
    }

    /// After the provider asked to slow down: waits here when the pause is short,
    /// otherwise hands the job back for that long with a note saying why.
    async fn slow_down(
        &self,
        run: &mut Run,
        retry_after: Option<Duration>,
        reason: String,
    ) -> Result<(), Stop> {
        run.throttled += 1;
        let pause = switchboard_actors::domain::backoff::backoff(
            Duration::from_millis(self.config.retry_base_ms),
            Duration::from_millis(self.config.retry_max_ms),
            run.throttled,
        )
        .max(retry_after.unwrap_or_default());
        tracing::info!(broadcast = %run.broadcast.id, ?pause, %reason, "the provider asked a broadcast to slow down");
        if pause > LONGEST_WAIT_IN_RUN || run.began.elapsed() + pause >= self.slice {
            run.broadcast.note = Some(format!(
                "waiting: the provider asked to slow down ({reason})"
            ));
            self.save(&mut run.broadcast).await?;
            return Err(Stop::Failure(JobFailure::Busy(pause)));
        }
        actix_rt::time::sleep(pause).await;
        Ok(())
    }

    /// The request for one recipient, or why they are skipped: opted out, outside
    /// their 24-hour window for a text, a parameter their fields leave empty.
    async fn prepare(
        &self,
        broadcast: &Broadcast,
        channel: &Channel,
        recipient: &Recipient,
        contact: Option<&Contact>,
        now: Millis,
    ) -> Result<Result<Prepared, String>, StoreError> {
        if contact.is_some_and(Contact::opted_out) {
            return Ok(Err("opted out".to_owned()));
        }
        if !broadcast.content.outside_window() {
            let last = match contact {
                Some(contact) => {
                    self.store
                        .last_inbound_on(contact.tenant_id, contact.id, &channel.key())
                        .await?
                }
                None => None,
            };
            if last.is_none_or(|at| now.0 - at.0 >= DAY_MS) {
                return Ok(Err(
                    "outside the 24-hour window: only a template may reach them".to_owned(),
                ));
            }
        }
        let message = match broadcast.content.for_contact(contact) {
            Ok(message) => message,
            Err(refused) => return Ok(Err(refused.0)),
        };
        let key = channel.key();
        let to = contact
            .and_then(|c| c.identities.iter().find(|i| i.channel == key))
            .map(|i| i.external_id.clone())
            .unwrap_or_else(|| recipient.phone.trim_start_matches('+').to_owned());
        let mut body = match outgoing::request_body(channel.kind, &to, &message) {
            Ok(body) => body,
            Err(reason) => return Ok(Err(reason)),
        };
        if channel.kind == ChannelKind::WhatsApp {
            // WhatsApp hands it back on the message's status webhooks.
            body["biz_opaque_callback_data"] = json!(format!("broadcast:{}", recipient.id));
        }
        Ok(Ok(Prepared { to, body, message }))
    }

    /// Records the sent message in the recipient's conversation (created when they
    /// had none), marked with the broadcast. A failure to record it still counts the
    /// send: the message went out.
    async fn record(
        &self,
        broadcast: &Broadcast,
        channel: &Channel,
        recipient: &Recipient,
        contact: Option<&Contact>,
        prepared: Prepared,
        provider_id: String,
    ) -> Outcome {
        let at = Millis::now();
        let mut attachment = prepared.message.attachment.unwrap_or_else(|| json!({}));
        attachment["broadcast"] = json!({"id": broadcast.id, "name": broadcast.name});
        let inbound = Inbound {
            channel: channel.key(),
            direction: Direction::Outbound,
            sender: Identity {
                channel: channel.key(),
                external_id: prepared.to,
            },
            sender_name: contact.map_or_else(|| recipient.name.clone(), |c| c.name.clone()),
            sender_phone: PhoneE164::parse(&recipient.phone).ok(),
            sender_email: None,
            provider_id: Some(provider_id.clone()),
            kind: prepared.message.kind,
            body: prepared.message.body,
            attachment: Some(attachment),
            received_at: at,
        };
        let recorded = self.inbox.ingest(broadcast.tenant_id, &inbound).await;
        if let Err(err) = &recorded {
            tracing::error!(broadcast = %broadcast.id, recipient = %recipient.id, error = %err, "a broadcast message was sent but not recorded in its conversation");
        }
        let recorded = recorded.ok();
        Outcome {
            status: RecipientStatus::Sent,
            error: None,
            provider_id: Some(provider_id),
            message_id: recorded.as_ref().map(|r| r.message.id),
            conversation_id: recorded.map(|r| r.conversation.id),
            at,
        }
    }

    async fn settle(
        &self,
        recipient: &Recipient,
        status: RecipientStatus,
        error: Option<String>,
    ) -> Result<(), StoreError> {
        let outcome = Outcome {
            status,
            error,
            provider_id: None,
            message_id: None,
            conversation_id: None,
            at: Millis::now(),
        };
        self.store
            .finish_recipient(recipient.tenant_id, recipient.id, &outcome)
            .await
    }
}

/// What every send of one run shares.
struct Sending<'a> {
    channel: &'a Channel,
    token: &'a str,
    limiter: &'a DefaultDirectRateLimiter,
    daily_limit: Option<u64>,
}

/// What taking a recipient came to.
enum Taken {
    /// Decided without a call (skipped).
    Settled(RecipientStatus),
    /// Left queued: the run is halting.
    Left,
    /// Past the rate limiter, to be sent (boxed: a recipient, contact and request
    /// are large beside the other outcomes).
    Ready(Box<Ready>),
}

struct Ready {
    recipient: Recipient,
    contact: Option<Contact>,
    prepared: Prepared,
}

/// Why the turns of a batch stopped starting sends.
enum Halt {
    /// The run has sent for its slice; the job goes on in a new run.
    SliceOver,
    /// The channel's daily limit is reached.
    DailyLimit,
    /// The provider asked to slow down.
    Throttled {
        retry_after: Option<Duration>,
        reason: String,
    },
    /// The broadcast is no longer this run's (paused, cancelled, resumed anew).
    Stopped,
    /// A write failed; the job is retried.
    Failed,
}

/// What the turns of one batch share while they run at once.
struct Turns {
    began: Instant,
    /// Broadcast sends on the channel in the last 24 hours with this batch's sends
    /// so far, those in flight included.
    started: AtomicU64,
    halted: AtomicBool,
    /// Set with `halted` when the recipients past the limiter must not be sent
    /// either (the run was stopped, a write failed, the provider asked to slow
    /// down); a run's slice or the daily limit ending only stops new ones.
    holding: AtomicBool,
    /// The first reason to halt.
    why: Mutex<Option<Halt>>,
}

impl Turns {
    fn new(began: Instant, sent_today: u64) -> Self {
        Self {
            began,
            started: AtomicU64::new(sent_today),
            halted: AtomicBool::new(false),
            holding: AtomicBool::new(false),
            why: Mutex::new(None),
        }
    }

    fn halted(&self) -> bool {
        self.halted.load(Ordering::Acquire)
    }

    fn holding(&self) -> bool {
        self.holding.load(Ordering::Acquire)
    }

    fn halt(&self, why: Halt) {
        if !matches!(why, Halt::SliceOver | Halt::DailyLimit) {
            self.holding.store(true, Ordering::Release);
        }
        self.why
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert(why);
        self.halted.store(true, Ordering::Release);
    }

    fn why(&self) -> Option<Halt> {
        self.why.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Takes a place under the daily limit for one send; halts when there is none.
    fn take_place(&self, limit: Option<u64>) -> bool {
        let taken = self.started.fetch_add(1, Ordering::AcqRel);
        if limit.is_some_and(|limit| taken >= limit) {
            self.give_back_place();
            self.halt(Halt::DailyLimit);
            return false;
        }
        true
    }

    /// A send taken a place for that did not go out.
    fn give_back_place(&self) {
        self.started.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One recipient's request, ready to go.
struct Prepared {
    /// The customer's id on the channel (a WhatsApp id is the phone's digits).
    to: String,
    body: Value,
    message: switchboard_actors::inbox::records::Outgoing,
}

#[async_trait::async_trait]
impl JobHandler for BroadcastSender {
    async fn run(&self, job: &Job) -> Result<(), JobFailure> {
        match BroadcastSender::run(self, job).await {
            Ok(()) | Err(Stop::Finished) => Ok(()),
            Err(Stop::Failure(failure)) => Err(failure),
        }
    }
}

/// Sends a broadcast's totals to admins' sockets after the channel's reports and the
/// customers' replies move its recipients: at most once a second per broadcast on
/// each node, however many reports arrive. Best effort: the next change sends them.
#[derive(Clone)]
pub struct Announcer {
    store: Arc<dyn Store>,
    inbox: Inbox,
    waiting: Arc<Mutex<HashSet<BroadcastId>>>,
}

impl Announcer {
    pub fn new(store: Arc<dyn Store>, inbox: Inbox) -> Self {
        Self {
            store,
            inbox,
            waiting: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    pub fn moved(&self, tenant: TenantId, id: BroadcastId) {
        let first = self
            .waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id);
        if !first {
            return;
        }
        let this = self.clone();
        actix_rt::spawn(async move {
            actix_rt::time::sleep(CHECK_EVERY).await;
            this.waiting
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
            match this.store.broadcast_event(tenant, id).await {
                Ok(Some(event)) => this.inbox.publish(tenant, vec![event]),
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(broadcast = %id, error = %err, "cannot announce a broadcast's totals");
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_in_flight_never_take_more_places_than_the_daily_limit_and_give_back_unsent_ones() {
        let turns = Turns::new(Instant::now(), 1);
        assert!(turns.take_place(Some(3)));
        assert!(turns.take_place(Some(3)));
        assert!(
            !turns.take_place(Some(3)),
            "the third of the day is the last"
        );
        assert_eq!(turns.started.load(Ordering::Relaxed), 3);
        assert!(turns.halted());
        assert!(
            !turns.holding(),
            "the two already past the limiter still go"
        );
        turns.give_back_place();
        assert_eq!(turns.started.load(Ordering::Relaxed), 2);
        assert!(matches!(turns.why(), Some(Halt::DailyLimit)));
    }

    #[test]
    fn a_stop_holds_the_sends_past_the_limiter_and_the_first_reason_is_kept() {
        let sliced = Turns::new(Instant::now(), 0);
        sliced.halt(Halt::SliceOver);
        assert!(sliced.halted() && !sliced.holding());
        let stopped = Turns::new(Instant::now(), 0);
        stopped.halt(Halt::Stopped);
        stopped.halt(Halt::SliceOver);
        assert!(stopped.halted() && stopped.holding());
        assert!(matches!(stopped.why(), Some(Halt::Stopped)));
        let unlimited = Turns::new(Instant::now(), 5);
        assert!(unlimited.take_place(None));
        assert!(!unlimited.halted());
    }
}
