//! `Replies`: the node's share of AI replies. Like the pipeline it follows each
//! tenant's stream from a cursor of its own, leased to one node at a time; it acts on
//! the pipeline's `message.insights` events, so a reply knows what the pipeline found
//! and who has the conversation. Per batch it answers the newest customer message of
//! each conversation, conversations side by side, then moves the cursor. A reply
//! interrupted by a crash is made again by the next holder: a sent one is not sent
//! twice (its client id is the customer message's), a draft comes again.

use super::answer::{self, Answer, ReplyAction};
use super::cache::{self, AnswerCache, Cached};
use super::guard::{self, Grounds};
use super::prompt::{self, Turn};
use super::settings::{ReplyMode, ReplySettings};
use crate::inbox::bus::NodeId;
use crate::inbox::records::{Conversation, ConversationChange, Message, Outgoing};
use crate::inbox::stream::{EventKind, StreamEvent};
use crate::inbox::{Inbox, InboxError};
use crate::knowledge::Passage;
use crate::knowledge::retrieve::retrieve;
use crate::llm::{ChatReply, Embedder, LlmProvider, TenantModels};
use crate::pipeline::handoff::{HandoffState, HandoffTrigger};
use crate::pipeline::queue::HandoffQueue;
use crate::pipeline::settings::{Assignment, TenantRules};
use crate::pipeline::store::{Analysis, Lead};
use crate::store::{Store, StoreError};
use crate::tenant_workers::{
    LeasedCursor, StreamBatches, TenantWork, TenantWorkers, follow_stream,
};
use crate::{ClientMessageId, ConversationId, Direction, MessageId, MessageKind, Millis, TenantId};
use actix::prelude::*;
use async_trait::async_trait;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct RepliesSettings {
    /// A node holds a tenant's replies this long without renewing them.
    pub lease_ttl: Duration,
    /// How often the node looks for tenants with messages to answer.
    pub poll_every: Duration,
    /// Events read from the stream at a time.
    pub batch: u32,
    /// Tenants looked at per round.
    pub tenants_per_round: u32,
    /// Conversations of one tenant answered at the same time.
    pub concurrency: usize,
}

/// What the server counts of replies.
pub trait ReplyObserver: Send + Sync + 'static {
    /// A reply was handled in `mode` with `outcome` (`sent`, `suggested`, `fallback`,
    /// `handoff`); `own_seconds` is the time it took minus the provider's.
    fn replied(&self, mode: ReplyMode, outcome: &'static str, own_seconds: f64);

    /// The answer cache was asked, and had a usable answer or not.
    fn cache_lookup(&self, hit: bool);
}

struct Shared {
    store: Arc<dyn Store>,
    inbox: Inbox,
    node: NodeId,
    settings: RepliesSettings,
    models: Arc<dyn TenantModels>,
    queue: HandoffQueue,
    observer: Arc<dyn ReplyObserver>,
    cache: AnswerCache,
}

#[async_trait]
impl TenantWork for Shared {
    const NAME: &'static str = "replies";

    async fn candidates(&self, now: Millis) -> Result<Vec<TenantId>, StoreError> {
        self.store
            .reply_candidates(self.node, now, self.settings.tenants_per_round)
            .await
    }

    async fn drain(&self, tenant: TenantId) -> Result<(), StoreError> {
        drain(self, tenant).await
    }

    async fn release(&self, tenant: TenantId) -> Result<(), StoreError> {
        self.store.release_replies(tenant, self.node).await
    }
}

#[async_trait]
impl LeasedCursor for Shared {
    async fn claim(
        &self,
        tenant: TenantId,
        now: Millis,
        lease_until: Millis,
    ) -> Result<Option<i64>, StoreError> {
        self.store
            .claim_replies(tenant, self.node, now, lease_until)
            .await
    }

    async fn advance(&self, tenant: TenantId, offset: i64) -> Result<bool, StoreError> {
        self.store.advance_replies(tenant, self.node, offset).await
    }
}

#[derive(Clone)]
pub struct Replies(Arc<TenantWorkers<Shared>>);

impl Replies {
    /// The tenant workers run on an arbiter (thread) of their own.
    pub fn new(
        store: Arc<dyn Store>,
        inbox: Inbox,
        node: NodeId,
        settings: RepliesSettings,
        models: Arc<dyn TenantModels>,
        observer: Arc<dyn ReplyObserver>,
    ) -> Self {
        let shared = Shared {
            queue: HandoffQueue::new(store.clone(), inbox.clone()),
            store,
            inbox,
            node,
            settings,
            models,
            observer,
            cache: AnswerCache::new(cache::CAPACITY),
        };
        Self(Arc::new(TenantWorkers::new(
            Arc::new(shared),
            Arbiter::new().handle(),
        )))
    }

    /// Looks for messages to answer every `poll_every`, until dropped.
    pub async fn run(self) {
        self.0.run_every(self.0.work().settings.poll_every).await;
    }

    /// Gives up this node's tenants, so other nodes take them at once.
    pub async fn shutdown(&self) {
        self.0.shutdown().await;
    }

    /// An automation's `ai_reply`: answers the conversation's newest customer message
    /// now in `mode`, whatever its channel's, with the tenant's reply settings (or the
    /// defaults). What came of it; `Err(Pending)` while the pipeline has not read the
    /// message yet.
    pub async fn answer_now(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        mode: ReplyMode,
    ) -> Result<&'static str, AnswerNow> {
        let shared = self.0.work();
        let store = &shared.store;
        let settings = store.reply_settings(tenant).await?.unwrap_or_default();
        let context = tenant_context(shared, tenant, settings, Some(mode)).await?;
        let recent = store
            .messages(tenant, conversation, None, NEWEST_LOOKED_AT)
            .await?;
        let Some(newest) = recent
            .iter()
            .rev()
            .find(|m| m.direction == Direction::Inbound)
        else {
            return Ok("no customer message to answer");
        };
        let analysed = store
            .message_insights(tenant, conversation, Some((newest.seq, newest.seq)))
            .await?;
        let Some((_, insights)) = analysed.into_iter().find(|(id, _)| *id == newest.id) else {
            return Err(AnswerNow::Pending);
        };
        let lead = store
            .lead(tenant, conversation)
            .await?
            .map(|lead| lead.view())
            .unwrap_or(Value::Null);
        let job = Insights {
            message_id: newest.id,
            conversation_id: conversation,
            insights,
            lead,
        };
        Ok(reply(shared, &context, job).await?)
    }
}

/// Messages read back to find a conversation's newest customer message.
const NEWEST_LOOKED_AT: u32 = 50;

/// Why `answer_now` did not answer.
#[derive(Debug, thiserror::Error)]
pub enum AnswerNow {
    #[error("the pipeline has not read the customer's message yet")]
    Pending,
    #[error(transparent)]
    Inbox(#[from] InboxError),
}

impl From<StoreError> for AnswerNow {
    fn from(err: StoreError) -> Self {
        Self::Inbox(InboxError::Store(err))
    }
}

/// What a tenant's replies are made with, read once per drain.
struct Tenant {
    id: TenantId,
    settings: ReplySettings,
    provider: Option<Arc<dyn LlmProvider>>,
    /// Finds passages by meaning too, when the tenant has an embedding model.
    embedder: Option<Arc<dyn Embedder>>,
    business: String,
    assignment: Assignment,
    /// The mode an automation asked for, whatever the channel's.
    forced: Option<ReplyMode>,
}

/// The part of a `message.insights` event a reply reads.
#[derive(Deserialize)]
struct Insights {
    message_id: MessageId,
    conversation_id: ConversationId,
    insights: Analysis,
    lead: Value,
}

/// What the tenant's replies are made with.
async fn tenant_context(
    shared: &Shared,
    tenant: TenantId,
    settings: ReplySettings,
    forced: Option<ReplyMode>,
) -> Result<Tenant, StoreError> {
    let store = &shared.store;
    Ok(Tenant {
        id: tenant,
        provider: shared.models.replies(tenant).await?,
        embedder: shared.models.embedder(tenant).await?,
        business: store
            .tenant(tenant)
            .await?
            .map(|t| t.name)
            .unwrap_or_default(),
        assignment: TenantRules::load(store.as_ref(), tenant).await?.assignment,
        settings,
        forced,
    })
}

async fn drain(shared: &Shared, tenant: TenantId) -> Result<(), StoreError> {
    let store = &shared.store;
    let Some(settings) = store
        .reply_settings(tenant)
        .await?
        .filter(ReplySettings::enabled)
    else {
        return Ok(());
    };
    let context = tenant_context(shared, tenant, settings, None).await?;
    let answering = Answering {
        shared,
        context: &context,
    };
    follow_stream(
        store.as_ref(),
        shared,
        tenant,
        shared.settings.lease_ttl,
        shared.settings.batch,
        &answering,
    )
    .await
}

/// One drain's replies: the newest customer message of each conversation in a batch,
/// conversations side by side.
struct Answering<'a> {
    shared: &'a Shared,
    context: &'a Tenant,
}

#[async_trait]
impl StreamBatches for Answering<'_> {
    async fn batch(&self, events: &[StreamEvent]) -> Result<(), StoreError> {
        let jobs = newest_per_conversation(events);
        futures_util::stream::iter(jobs)
            .map(|job| answer_one(self.shared, self.context, job))
            .buffer_unordered(self.shared.settings.concurrency.max(1))
            .collect::<Vec<()>>()
            .await;
        Ok(())
    }
}

/// The batch's insights, the newest of each conversation only (one reply answers a
/// customer's burst of messages), in stream order.
fn newest_per_conversation(events: &[StreamEvent]) -> Vec<Insights> {
    let mut newest: HashMap<ConversationId, usize> = HashMap::new();
    let mut jobs: Vec<Option<Insights>> = Vec::new();
    for event in events
        .iter()
        .filter(|e| e.kind == EventKind::MessageInsights)
    {
        let Ok(insights) = serde_json::from_str::<Insights>(&event.data) else {
            continue;
        };
        if let Some(earlier) = newest.insert(insights.conversation_id, jobs.len()) {
            jobs[earlier] = None;
        }
        jobs.push(Some(insights));
    }
    jobs.into_iter().flatten().collect()
}

async fn answer_one(shared: &Shared, tenant: &Tenant, job: Insights) {
    let (conversation, message) = (job.conversation_id, job.message_id);
    if let Err(err) = reply(shared, tenant, job).await.map(|_| ()) {
        tracing::warn!(tenant = %tenant.id, %conversation, %message, error = %err, "cannot answer a customer message");
    }
}

/// Why a message gets no reply at all (logged at debug level).
enum Skip {
    WithAPerson,
    Gone,
    Off,
    TooOld,
    Newer,
    PersonReplied,
}

/// What the model's turn came to.
enum Decision {
    Reply { answer: Answer, meta: Value },
    Fallback { why: String, meta: Value },
}

/// Answers one customer message; what came of it (the outcome, or why there was no
/// reply).
async fn reply(
    shared: &Shared,
    tenant: &Tenant,
    job: Insights,
) -> Result<&'static str, InboxError> {
    let started = Instant::now();
    let ready = match ready(shared, tenant, &job).await? {
        Ok(ready) => ready,
        Err(skip) => {
            tracing::debug!(message = %job.message_id, reason = skip.as_str(), "no reply");
            return Ok(skip.as_str());
        }
    };
    let (decision, provider_time) = decide(shared, tenant, &ready, &job).await;
    let outcome = act(shared, tenant, &ready, &job, decision).await?;
    let own = started.elapsed().saturating_sub(provider_time);
    shared
        .observer
        .replied(ready.mode, outcome, own.as_secs_f64());
    Ok(outcome)
}

impl Skip {
    fn as_str(&self) -> &'static str {
        match self {
            Self::WithAPerson => "a person has the conversation",
            Self::Gone => "the conversation or message is gone",
            Self::Off => "replies are off on this channel",
            Self::TooOld => "the message is older than max_age_secs",
            Self::Newer => "a newer message will be answered",
            Self::PersonReplied => "a person replied",
        }
    }
}

/// A message that is to be answered, with what the prompt needs.
struct Ready {
    mode: ReplyMode,
    conversation: Conversation,
    message: Message,
    history: Vec<Message>,
    contact_name: String,
    contact_fields: serde_json::Map<String, Value>,
    contact_details: String,
    passages: Vec<Passage>,
}

async fn ready(
    shared: &Shared,
    tenant: &Tenant,
    job: &Insights,
) -> Result<Result<Ready, Skip>, InboxError> {
    let store = &shared.store;
    let lead = store
        .lead(tenant.id, job.conversation_id)
        .await?
        .unwrap_or_else(|| Lead::new(job.conversation_id));
    if lead.handoff != HandoffState::Bot {
        return Ok(Err(Skip::WithAPerson));
    }
    let (Some(conversation), Some(message)) = (
        store.conversation(tenant.id, job.conversation_id).await?,
        store.message(tenant.id, job.message_id).await?,
    ) else {
        return Ok(Err(Skip::Gone));
    };
    let mode = tenant.forced.unwrap_or_else(|| {
        tenant
            .settings
            .mode_for(conversation.channel.as_str(), message.created_at)
    });
    if mode == ReplyMode::Off {
        return Ok(Err(Skip::Off));
    }
    let age_ms = Millis::now().0 - message.created_at.0;
    // An automation asks on purpose, perhaps after a wait: its message is not stale.
    if tenant.forced.is_none()
        && age_ms
            > i64::try_from(tenant.settings.max_age_secs)
                .unwrap_or(i64::MAX)
                .saturating_mul(1000)
    {
        return Ok(Err(Skip::TooOld));
    }
    if conversation
        .last_inbound_at
        .is_some_and(|at| at > message.created_at)
    {
        return Ok(Err(Skip::Newer));
    }
    let history = store
        .messages(
            tenant.id,
            conversation.id,
            Some(message.seq),
            tenant.settings.history,
        )
        .await?;
    // A person's reply since the bot last had the conversation stops the bot there,
    // until someone hands it back.
    let since = lead.handoff_at.unwrap_or(Millis(0));
    if history.iter().any(|m| {
        m.direction == Direction::Outbound && m.author_id.is_some() && m.created_at >= since
    }) {
        shared
            .queue
            .person_replied(tenant.id, conversation.id, lead.handoff_at)
            .await?;
        return Ok(Err(Skip::PersonReplied));
    }
    let contact = store.contact(tenant.id, conversation.contact_id).await?;
    let (contact_fields, contact_details) = contact.as_ref().map_or_else(Default::default, |c| {
        let details: Vec<String> = c
            .phones
            .iter()
            .map(|p| p.as_str().to_owned())
            .chain(c.emails.iter().map(|e| e.as_str().to_owned()))
            .collect();
        (c.custom_fields.clone(), details.join(" "))
    });
    let passages = retrieve(
        store.as_ref(),
        tenant.embedder.as_deref(),
        tenant.id,
        message.body.as_deref().unwrap_or_default(),
        tenant.settings.passages,
    )
    .await?;
    Ok(Ok(Ready {
        mode,
        contact_name: conversation.contact_name.clone(),
        conversation,
        message,
        history,
        contact_fields,
        contact_details,
        passages,
    }))
}

/// The longest reply each channel takes.
fn max_reply_chars(channel: &str) -> usize {
    match channel.split(':').next().unwrap_or_default() {
        "instagram" => 1000,
        "messenger" => 2000,
        _ => crate::inbox::records::MAX_BODY_CHARS,
    }
}

fn turn(message: &Message) -> Option<Turn> {
    let who = match (message.direction, message.author_id) {
        (Direction::Inbound, _) => "customer",
        (Direction::Outbound, Some(_)) => "agent",
        (Direction::Outbound, None) => "assistant",
        (Direction::Note, _) => return None,
    };
    Some(Turn {
        who,
        text: message.body.clone()?,
    })
}

/// Asks the model (or the cache) and checks its answer; the time the provider took.
async fn decide(
    shared: &Shared,
    tenant: &Tenant,
    ready: &Ready,
    job: &Insights,
) -> (Decision, Duration) {
    let settings = &tenant.settings;
    let history: Vec<Turn> = ready.history.iter().filter_map(turn).collect();
    let analysis = format!(
        "intent {}, sentiment {}, urgency {}, lead {}",
        job.insights.understanding.intent,
        job.insights.sentiment.label.as_str(),
        job.insights.understanding.urgency.as_str(),
        job.lead["temperature"].as_str().unwrap_or("unknown"),
    );
    let max_chars = max_reply_chars(ready.conversation.channel.as_str());
    let text = ready.message.body.clone().unwrap_or_default();
    let request = prompt::request(&prompt::Context {
        business: &tenant.business,
        brand_voice: &settings.brand_voice,
        rules: &settings.rules,
        max_chars,
        passages: &ready.passages,
        contact_name: &ready.contact_name,
        contact_fields: &ready.contact_fields,
        history: &history,
        analysis: &analysis,
        message: &text,
    });
    let customer: Vec<&str> = ready
        .history
        .iter()
        .filter(|m| m.direction == Direction::Inbound)
        .filter_map(|m| m.body.as_deref())
        .chain([text.as_str()])
        .collect();
    let mut knowledge: Vec<&str> = ready.passages.iter().map(|p| p.text.as_str()).collect();
    knowledge.push(&ready.contact_details);
    let grounds = Grounds {
        customer: &customer,
        knowledge: &knowledge,
        instructions: &request.system,
        link_hosts: &settings.link_hosts,
        max_chars,
    };
    // What the guardrail says of a reply; a handover may come without one.
    let review = |answer: &Answer| {
        if answer.text.is_empty() {
            Ok(())
        } else {
            guard::review(&answer.text, &grounds)
        }
    };
    let ttl = Duration::from_secs(settings.cache_ttl_secs);
    if !ttl.is_zero() {
        let hit = shared
            .cache
            .get(tenant.id, &text, ttl)
            .filter(|cached| review(&cached.answer).is_ok());
        shared.observer.cache_lookup(hit.is_some());
        if let Some(Cached { answer, mut meta }) = hit {
            meta["cached"] = json!(true);
            return (Decision::Reply { answer, meta }, Duration::ZERO);
        }
    }
    let Some(provider) = &tenant.provider else {
        let why = "no language model is set up".to_owned();
        return (
            Decision::Fallback {
                why,
                meta: Value::Null,
            },
            Duration::ZERO,
        );
    };
    let asked = Instant::now();
    let answered = provider.chat(request.clone()).await;
    let provider_time = asked.elapsed();
    let reply = match answered {
        Ok(reply) => reply,
        Err(failure) => {
            return (
                Decision::Fallback {
                    why: failure.0,
                    meta: Value::Null,
                },
                provider_time,
            );
        }
    };
    let meta = meta(&reply, provider_time);
    let answer = match answer::check(&reply, &ready.passages, settings.min_confidence) {
        Ok(answer) => answer,
        Err(why) => return (Decision::Fallback { why, meta }, provider_time),
    };
    if let Err(why) = review(&answer) {
        return (Decision::Fallback { why, meta }, provider_time);
    }
    // Only a plain answer serves another customer: a handover is about this one.
    if !ttl.is_zero() && !answer.action.hands_over() {
        let cached = Cached {
            answer: answer.clone(),
            meta: meta.clone(),
        };
        shared.cache.put(tenant.id, &text, cached);
    }
    (Decision::Reply { answer, meta }, provider_time)
}

/// What an answer's message records of the call that made it.
fn meta(reply: &ChatReply, took: Duration) -> Value {
    json!({
        "provider": reply.provider,
        "model": reply.model,
        "input_tokens": reply.usage.input,
        "output_tokens": reply.usage.output,
        "latency_ms": took.as_millis() as u64,
    })
}

/// Sends, drafts or hands over; the outcome's name.
async fn act(
    shared: &Shared,
    tenant: &Tenant,
    ready: &Ready,
    job: &Insights,
    decision: Decision,
) -> Result<&'static str, InboxError> {
    let conversation = ready.conversation.id;
    if ready.mode == ReplyMode::Suggest {
        let draft = draft(tenant, ready, job, &decision);
        let events = shared
            .store
            .suggest_reply(tenant.id, conversation, draft.to_string(), Millis::now())
            .await?
            .ok_or(InboxError::NotFound("conversation"))?;
        shared.inbox.publish(tenant.id, events);
        return Ok("suggested");
    }
    match decision {
        Decision::Reply { answer, mut meta } => {
            meta["confidence"] = json!(answer.confidence);
            meta["action"] = json!(answer.action.as_str());
            meta["reason"] = json!(answer.reason);
            meta["cited"] = json!(answer.cited);
            if !answer.text.is_empty() {
                send(shared, tenant.id, ready, job.message_id, &answer.text, meta).await?;
            }
            match &answer.action {
                ReplyAction::None => Ok("sent"),
                ReplyAction::Tag(tag) => {
                    let change = ConversationChange::Tag {
                        tag: tag.clone(),
                        present: true,
                    };
                    shared.inbox.change(tenant.id, conversation, change).await?;
                    Ok("sent")
                }
                ReplyAction::Handoff | ReplyAction::Assign => {
                    let detail = format!("the AI assistant asked for a person ({})", answer.reason);
                    hand_over(
                        shared,
                        tenant,
                        conversation,
                        HandoffTrigger::AiHandoff,
                        &detail,
                    )
                    .await?;
                    Ok("handoff")
                }
            }
        }
        Decision::Fallback { why, mut meta } => {
            if !tenant.settings.fallback.is_empty() {
                meta["fallback"] = json!(why);
                send(
                    shared,
                    tenant.id,
                    ready,
                    job.message_id,
                    &tenant.settings.fallback,
                    meta,
                )
                .await?;
            }
            let detail = format!("the AI assistant could not answer: {why}");
            hand_over(
                shared,
                tenant,
                conversation,
                HandoffTrigger::AiCouldNotAnswer,
                &detail,
            )
            .await?;
            Ok("fallback")
        }
    }
}

/// The `reply.suggested` event's data: the draft, or why there is none and the
/// tenant's fallback in its place.
fn draft(tenant: &Tenant, ready: &Ready, job: &Insights, decision: &Decision) -> Value {
    let mut draft = json!({
        "message_id": job.message_id,
        "conversation_id": ready.conversation.id,
    });
    match decision {
        Decision::Reply { answer, meta } => {
            let cited: Vec<Value> = answer
                .cited
                .iter()
                .filter_map(|id| ready.passages.iter().find(|p| p.id == *id))
                .map(|p| json!({ "id": p.id, "document_id": p.document_id, "title": p.title }))
                .collect();
            draft["reply"] = json!(answer.text);
            draft["confidence"] = json!(answer.confidence);
            draft["action"] = json!(answer.action.as_str());
            draft["reason"] = json!(answer.reason);
            draft["cited"] = Value::Array(cited);
            draft["ai"] = meta.clone();
        }
        Decision::Fallback { why, meta } => {
            draft["reply"] = json!(tenant.settings.fallback);
            draft["refused"] = json!(why);
            draft["ai"] = meta.clone();
        }
    }
    draft
}

/// Sends the text as the bot: a normal outbound message (the same path, retries and
/// dead letters as an agent's), marked as AI by its attachment.
async fn send(
    shared: &Shared,
    tenant: TenantId,
    ready: &Ready,
    answering: MessageId,
    text: &str,
    mut meta: Value,
) -> Result<(), InboxError> {
    meta["in_reply_to"] = json!(answering);
    let client_id = ClientMessageId::parse(&format!("ai-{answering}"))
        .map_err(|err| InboxError::Store(StoreError::Backend(err.0)))?;
    let body: String = text
        .chars()
        .take(crate::inbox::records::MAX_BODY_CHARS)
        .collect();
    let message = Outgoing {
        direction: Direction::Outbound,
        kind: MessageKind::Text,
        body: Some(body),
        attachment: Some(json!({ "ai": meta })),
        author_id: None,
        client_id: Some(client_id),
        at: Millis::now(),
    };
    shared
        .inbox
        .append(tenant, ready.conversation.id, message)
        .await?;
    Ok(())
}

async fn hand_over(
    shared: &Shared,
    tenant: &Tenant,
    conversation: ConversationId,
    trigger: HandoffTrigger,
    detail: &str,
) -> Result<(), InboxError> {
    shared
        .queue
        .bot_hands_over(tenant.id, conversation, trigger, detail, &tenant.assignment)
        .await
}
