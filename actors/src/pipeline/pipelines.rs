//! `Pipelines`: the node's share of the inbound pipeline. It looks for tenants whose
//! stream has customer messages past their pipeline cursor, takes the tenant's lease
//! (one node per tenant at a time), and lets that tenant's `TenantPipeline` actor work
//! through the backlog in stream order. Delivery to agents never waits for any of
//! this: messages were published at commit, and insights follow as their own events.

use super::handoff::{HandoffRules, HandoffState};
use super::observe::PipelineObserver;
use super::queue::HandoffQueue;
use super::settings::TenantRules;
use super::stages::{Incoming, Judging, StageSettings, Stages};
use super::store::{Insight, Lead};
use crate::inbox::Inbox;
use crate::inbox::bus::NodeId;
use crate::inbox::stream::{EventKind, StreamEvent};
use crate::llm::TenantModels;
use crate::store::{Store, StoreError};
use crate::tenant_workers::{TenantWork, TenantWorkers};
use crate::{ConversationId, MessageId, Millis, TenantId};
use actix::prelude::*;
use async_trait::async_trait;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often a node hands idle conversations back to the bot.
const IDLE_SWEEP_EVERY: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct PipelineSettings {
    /// A node holds a tenant's pipeline this long without renewing it.
    pub lease_ttl: Duration,
    /// How often the node looks for tenants with work.
    pub poll_every: Duration,
    /// Events read from the stream at a time; a batch's insights are written in one
    /// transaction.
    pub batch: u32,
    /// Tenants looked at per round.
    pub tenants_per_round: u32,
    /// The analysis (stages) thread's nice value; 0 leaves it as it is.
    pub nice: i32,
    pub stages: StageSettings,
}

struct Shared {
    store: Arc<dyn Store>,
    inbox: Inbox,
    node: NodeId,
    settings: PipelineSettings,
    models: Arc<dyn TenantModels>,
    observer: Arc<dyn PipelineObserver>,
    queue: HandoffQueue,
    /// Judges batches on the stages' arbiter.
    analyst: Addr<Analyst>,
}

#[async_trait]
impl TenantWork for Shared {
    const NAME: &'static str = "the pipeline";

    async fn candidates(&self, now: Millis) -> Result<Vec<TenantId>, StoreError> {
        self.store
            .pipeline_candidates(self.node, now, self.settings.tenants_per_round)
            .await
    }

    async fn drain(&self, tenant: TenantId) -> Result<(), StoreError> {
        drain(self, tenant).await
    }

    async fn release(&self, tenant: TenantId) -> Result<(), StoreError> {
        self.store.release_pipeline(tenant, self.node).await
    }
}

#[derive(Clone)]
pub struct Pipelines(Arc<TenantWorkers<Shared>>);

impl Pipelines {
    /// The stages and the tenant workers run on two arbiters (threads) of their own,
    /// so the pipeline never competes with sockets and webhooks for theirs.
    pub fn new(
        store: Arc<dyn Store>,
        inbox: Inbox,
        node: NodeId,
        settings: PipelineSettings,
        models: Arc<dyn TenantModels>,
        observer: Arc<dyn PipelineObserver>,
    ) -> Self {
        let analysis = Arbiter::new().handle();
        let nice = settings.nice;
        // Analysis is background work: on a busy machine the threads that take
        // webhooks and serve sockets come first.
        analysis.spawn_fn(move || super::priority::lower_this_thread(nice));
        let stages = Stages::start(&analysis, settings.stages, observer.clone());
        let analyst = Analyst::start_in_arbiter(&analysis, |_| Analyst { stages });
        // The workers keep the normal priority: a worker holds the store's write
        // transaction, and ingest waits for it, while it writes a batch. At a lower
        // priority it would wait for the CPU between statements with the writer held.
        let shared = Shared {
            queue: HandoffQueue::new(store.clone(), inbox.clone()),
            store,
            inbox,
            node,
            settings,
            models,
            observer,
            analyst,
        };
        Self(Arc::new(TenantWorkers::new(
            Arc::new(shared),
            Arbiter::new().handle(),
        )))
    }

    pub fn queue(&self) -> &HandoffQueue {
        &self.0.work().queue
    }

    /// Looks for work every `poll_every`, and for idle handoffs every
    /// `IDLE_SWEEP_EVERY`, until dropped.
    pub async fn run(self) {
        let shared = self.0.work().clone();
        let mut swept_at: Option<Instant> = None;
        loop {
            self.0.round().await;
            if swept_at.is_none_or(|at| at.elapsed() >= IDLE_SWEEP_EVERY) {
                swept_at = Some(Instant::now());
                let default_idle = HandoffRules::default().idle_return_minutes;
                if let Err(err) = shared.queue.sweep_idle(default_idle).await {
                    tracing::warn!(error = %err, "cannot hand idle conversations back to the bot");
                }
            }
            tokio::time::sleep(shared.settings.poll_every).await;
        }
    }

    /// Gives up this node's tenants, so other nodes take them at once.
    pub async fn shutdown(&self) {
        self.0.shutdown().await;
    }
}

/// The part of a `message.new` event the pipeline reads.
#[derive(Deserialize)]
struct MessageNew {
    message: MessagePart,
    conversation: ConversationPart,
}

#[derive(Deserialize)]
struct MessagePart {
    id: MessageId,
    direction: String,
    body: Option<String>,
}

#[derive(Deserialize)]
struct ConversationPart {
    id: ConversationId,
    #[serde(default)]
    tags: Vec<String>,
}

/// A batch judged and not yet written: its insights, their messages' commit times,
/// and the offset the cursor moves to once they are written.
struct Judged {
    insights: Vec<Insight>,
    committed: Vec<Millis>,
    through: i64,
}

/// Works through the tenant's backlog a batch at a time. Writing one batch overlaps
/// judging the next: the judging waits on the stages, the writing on the store, and
/// neither waits for the other. The leads of the batch being written are carried in
/// memory, so a conversation's next message is judged after its previous one, written
/// or not yet.
async fn drain(shared: &Shared, tenant: TenantId) -> Result<(), StoreError> {
    let settings = &shared.settings;
    let judging = Arc::new(Judging::new(
        TenantRules::load(shared.store.as_ref(), tenant).await?,
        shared.models.understanding(tenant).await?,
    ));
    let lease = |now: Millis| now.plus(settings.lease_ttl);
    let now = Millis::now();
    let Some(mut cursor) = shared
        .store
        .claim_pipeline(tenant, shared.node, now, lease(now))
        .await?
    else {
        return Ok(());
    };
    let mut claimed_at = Instant::now();
    let mut leads: HashMap<ConversationId, Lead> = HashMap::new();
    let mut unwritten: Option<Judged> = None;
    loop {
        let events = shared
            .store
            .events_after(tenant, cursor, settings.batch)
            .await?;
        let Some(last) = events.last().map(|e| e.offset) else {
            break;
        };
        let full = events.len() >= settings.batch as usize;
        // The stored leads of this batch's conversations, read once; a lead judged
        // earlier in this drain is newer than the stored one.
        for lead in shared.store.leads_in_range(tenant, cursor, last).await? {
            leads.entry(lead.conversation_id).or_insert(lead);
        }
        let writing = async {
            match unwritten.take() {
                Some(judged) => commit(shared, tenant, &judging.rules, judged).await,
                None => Ok(true),
            }
        };
        let judging_apart = judge_apart(shared, &judging, std::mem::take(&mut leads), events, last);
        let (judged, written) = futures_util::future::join(judging_apart, writing).await;
        if !written? {
            return Ok(());
        }
        let Some((judged, judged_leads)) = judged else {
            // Only when the node is shutting down; the batch is judged again later.
            return Ok(());
        };
        leads = judged_leads;
        // Only leads not yet written need carrying: the others are read back from the
        // store, with any change an agent made since (and memory stays one batch).
        let pending: HashSet<ConversationId> =
            judged.insights.iter().map(|i| i.conversation_id).collect();
        leads.retain(|conversation, _| pending.contains(conversation));
        unwritten = Some(judged);
        cursor = last;
        if !full {
            break;
        }
        // Renew the lease every fifth of it (each renewal is a write that ingest
        // would queue behind); stop when another node has it now. A node that lost
        // it meanwhile writes nothing: its commit finds the cursor taken.
        if claimed_at.elapsed() >= settings.lease_ttl / 5 {
            let now = Millis::now();
            if shared
                .store
                .claim_pipeline(tenant, shared.node, now, lease(now))
                .await?
                .is_none()
            {
                return Ok(());
            }
            claimed_at = Instant::now();
        }
    }
    if let Some(judged) = unwritten {
        commit(shared, tenant, &judging.rules, judged).await?;
    }
    Ok(())
}

/// Judges batches on the analysis arbiter, where the stages are: a stage call stays on
/// one thread (no wake-up of another per stage and message), and the workers' thread
/// stays free to drive the store. Batches of several tenants are judged concurrently.
struct Analyst {
    stages: Stages,
}

impl Actor for Analyst {
    type Context = Context<Self>;
}

/// A batch to judge, with the leads its conversations start from.
#[derive(Message)]
#[rtype(result = "(Judged, HashMap<ConversationId, Lead>)")]
struct JudgeBatch {
    judging: Arc<Judging>,
    leads: HashMap<ConversationId, Lead>,
    events: Vec<StreamEvent>,
    through: i64,
}

impl Handler<JudgeBatch> for Analyst {
    type Result = ResponseFuture<(Judged, HashMap<ConversationId, Lead>)>;

    fn handle(&mut self, batch: JudgeBatch, _: &mut Self::Context) -> Self::Result {
        let stages = self.stages.clone();
        Box::pin(async move {
            let JudgeBatch {
                judging,
                mut leads,
                events,
                through,
            } = batch;
            let judged = judge(&stages, &judging, &mut leads, &events, through).await;
            (judged, leads)
        })
    }
}

/// The batch judged, and `leads` moved on; `None` when the analyst has stopped (the
/// node is shutting down).
async fn judge_apart(
    shared: &Shared,
    judging: &Arc<Judging>,
    leads: HashMap<ConversationId, Lead>,
    events: Vec<StreamEvent>,
    through: i64,
) -> Option<(Judged, HashMap<ConversationId, Lead>)> {
    let batch = JudgeBatch {
        judging: judging.clone(),
        leads,
        events,
        through,
    };
    shared.analyst.send(batch).await.ok()
}

/// Runs the batch's customer messages through the stages, in stream order, moving
/// `leads` on as it goes.
async fn judge(
    stages: &Stages,
    judging: &Judging,
    leads: &mut HashMap<ConversationId, Lead>,
    events: &[StreamEvent],
    through: i64,
) -> Judged {
    let mut judged = Judged {
        insights: Vec::new(),
        committed: Vec::new(),
        through,
    };
    for event in events {
        let Some(message) = customer_text(event) else {
            continue;
        };
        let conversation = message.conversation.id;
        let before = leads
            .remove(&conversation)
            .unwrap_or_else(|| Lead::new(conversation));
        let Some(insight) = analyse(stages, judging, &before, event, message).await else {
            leads.insert(conversation, before);
            continue;
        };
        leads.insert(conversation, insight.lead.clone());
        judged.insights.push(insight);
        judged.committed.push(event.at);
    }
    judged
}

/// A customer's text message in `event`, if it is one.
fn customer_text(event: &StreamEvent) -> Option<MessageNew> {
    if event.kind != EventKind::MessageNew {
        return None;
    }
    let parsed: MessageNew = serde_json::from_str(&event.data).ok()?;
    let has_text = parsed
        .message
        .body
        .as_deref()
        .is_some_and(|b| !b.trim().is_empty());
    (parsed.message.direction == "inbound" && has_text).then_some(parsed)
}

/// Runs one message through the stages; `None` when it was scored already (by a node
/// that stopped before moving the cursor).
async fn analyse(
    stages: &Stages,
    judging: &Judging,
    before: &Lead,
    event: &StreamEvent,
    message: MessageNew,
) -> Option<Insight> {
    if before.scored_offset >= event.offset {
        return None;
    }
    let conversation = message.conversation.id;
    let incoming = Incoming {
        conversation_id: conversation,
        text: message.message.body.unwrap_or_default(),
        vip: message
            .conversation
            .tags
            .iter()
            .any(|t| t.eq_ignore_ascii_case("vip")),
        offset: event.offset,
        at: Millis::now(),
    };
    let (analysis, lead) = stages.process(&incoming, before, judging).await;
    Some(Insight {
        message_id: message.message.id,
        conversation_id: conversation,
        offset: event.offset,
        analysis,
        lead,
        handoff_before: before.handoff,
        at: incoming.at,
    })
}

/// Writes the judged insights (with their messages' commit times) and moves the cursor
/// to `through` in one transaction, publishes what was written, then assigns the
/// conversations a trigger handed to a person. False when this node lost the tenant's
/// pipeline meanwhile.
async fn commit(
    shared: &Shared,
    tenant: TenantId,
    rules: &TenantRules,
    Judged {
        insights,
        committed,
        through,
    }: Judged,
) -> Result<bool, StoreError> {
    if insights.is_empty() {
        return shared
            .store
            .advance_pipeline(tenant, shared.node, through)
            .await;
    }
    let Some(recorded) = shared
        .store
        .record_insights(tenant, shared.node, &insights, through)
        .await?
    else {
        return Ok(false);
    };
    // Events first, so agents see a lead before its note and assignment.
    shared.inbox.publish(tenant, recorded.events);
    for ((insight, committed), written) in insights.iter().zip(committed).zip(recorded.leads) {
        // What was written, not what the stages judged: an agent's change since wins.
        let Some(lead) = written else { continue };
        let lag = (insight.at.0 - committed.0).max(0) as f64 / 1000.0;
        shared.observer.scored(lead.score.temperature, lag);
        if let (HandoffState::Bot, HandoffState::PendingHuman, Some(trigger)) =
            (insight.handoff_before, lead.handoff, lead.trigger)
        {
            shared.observer.handoff(trigger);
            let conversation = insight.conversation_id;
            if let Err(err) = shared
                .queue
                .handed_over(tenant, conversation, trigger, &rules.assignment)
                .await
            {
                tracing::warn!(%tenant, %conversation, error = %err, "cannot assign a handed-over conversation");
            }
        }
    }
    Ok(true)
}
