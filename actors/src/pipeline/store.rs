//! The pipeline's part of the storage port: a per-tenant cursor in the stream with a
//! lease (one node works a tenant's pipeline at a time), each message's insight, and
//! each conversation's lead. A message's results, its events and the cursor move in
//! one transaction, so a crash either loses all of them (the message is processed
//! again, to the same results) or none.

use super::guardrail::Guard;
use super::handoff::{HandoffState, HandoffTrigger};
use super::scoring::{LeadScore, Temperature};
use super::sentiment::{Sentiment, SentimentLabel};
use super::settings::PipelineSettingsDoc;
use super::understanding::{Understanding, Urgency};
use crate::inbox::bus::NodeId;
use crate::inbox::stream::StreamEvent;
use crate::llm::{ModelUsage, TokenUsage};
use crate::store::StoreError;
use crate::{ConversationId, MessageId, Millis, TenantId, UserId};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;

/// A stage that did not give its result, and why (it timed out, failed, or its
/// mailbox was full); the pipeline went on with the stage's fallback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    pub stage: String,
    pub reason: String,
}

/// What the stages found in one customer message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub guard: Guard,
    pub understanding: Understanding,
    pub sentiment: Sentiment,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
}

/// The running counts the next message of a conversation is judged with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// The customer's messages so far.
    pub inbound: u32,
    /// Negative messages in a row, up to the latest.
    pub negative_streak: u32,
    /// The latest text and how many times in a row it came.
    pub same_text_streak: u32,
    pub last_text: Option<String>,
}

/// A conversation's lead and who answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lead {
    pub conversation_id: ConversationId,
    pub score: LeadScore,
    pub sentiment: Option<SentimentLabel>,
    pub urgency: Urgency,
    pub handoff: HandoffState,
    /// Why it went to a person, while it is with one.
    pub trigger: Option<HandoffTrigger>,
    /// When `handoff` last changed.
    pub handoff_at: Option<Millis>,
    pub counts: Counts,
    /// The stream offset of the message last scored.
    pub scored_offset: i64,
    pub updated_at: Millis,
}

impl Lead {
    /// A conversation the pipeline has not seen yet.
    pub fn new(conversation_id: ConversationId) -> Self {
        Self {
            conversation_id,
            score: LeadScore::none(),
            sentiment: None,
            urgency: Urgency::Low,
            handoff: HandoffState::Bot,
            trigger: None,
            handoff_at: None,
            counts: Counts::default(),
            scored_offset: 0,
            updated_at: Millis(0),
        }
    }

    /// What the API shows, the `conversation.lead` event's data and the `lead` of a
    /// `message.insights` event.
    pub fn view(&self) -> serde_json::Value {
        json!({
            "conversation_id": self.conversation_id,
            "score": self.score.score,
            "temperature": self.score.temperature,
            "reasons": self.score.reasons,
            "sentiment": self.sentiment,
            "urgency": self.urgency,
            "handoff": self.handoff,
            "trigger": self.trigger,
            "handoff_at": self.handoff_at.map(Millis::to_rfc3339),
            "updated_at": self.updated_at.to_rfc3339(),
        })
    }
}

/// The score a customer message left a conversation's lead at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadPoint {
    pub message_id: MessageId,
    pub score: u8,
    pub temperature: Temperature,
    pub at: Millis,
}

impl LeadPoint {
    /// What the API shows.
    pub fn view(&self) -> serde_json::Value {
        json!({
            "message_id": self.message_id,
            "score": self.score,
            "temperature": self.temperature,
            "at": self.at.to_rfc3339(),
        })
    }
}

/// One customer message through the pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Insight {
    pub message_id: MessageId,
    pub conversation_id: ConversationId,
    /// The stream offset of the message's `message.new` event.
    pub offset: i64,
    pub analysis: Analysis,
    /// The conversation's lead after this message.
    pub lead: Lead,
    /// Who answered the conversation when the pipeline read its lead: an agent who
    /// changed it since wins over what the pipeline judged.
    pub handoff_before: HandoffState,
    pub at: Millis,
}

/// What `record_insights` wrote: the events, and for each insight its lead as
/// written (an agent's handoff kept), or `None` when it was stored before.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub events: Vec<StreamEvent>,
    pub leads: Vec<Option<Lead>>,
}

/// A change of who answers a conversation, made by a person or the idle sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct HandoffChange {
    pub to: HandoffState,
    pub trigger: Option<HandoffTrigger>,
    /// Only from this state (the idle sweep: only a conversation still with a
    /// person, unchanged since `handoff_at`).
    pub only_from: Option<(HandoffState, Option<Millis>)>,
    pub at: Millis,
}

/// A conversation a person has had, silent, past the tenant's idle return.
#[derive(Debug, Clone, PartialEq)]
pub struct IdleHandoff {
    pub tenant: TenantId,
    pub conversation: ConversationId,
    pub handoff_at: Option<Millis>,
}

/// Who answers a conversation as its stored lead says, and the offset it was scored at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StoredHandoff {
    pub handoff: HandoffState,
    pub trigger: Option<HandoffTrigger>,
    pub handoff_at: Option<Millis>,
    pub scored_offset: i64,
}

impl StoredHandoff {
    fn of(lead: &Lead) -> Self {
        Self {
            handoff: lead.handoff,
            trigger: lead.trigger,
            handoff_at: lead.handoff_at,
            scored_offset: lead.scored_offset,
        }
    }
}

/// What a batch of newly stored insights (in stream order) writes, given the stored
/// leads of their conversations: each insight's lead as written, and the rows to save
/// (the last lead of each conversation). An agent who changed who answers since the
/// pipeline read the lead wins; a stored lead scored at a later message stays as it is
/// (the insight's lead is then reported as judged, and nothing is saved for it).
pub fn leads_to_write(
    mut stored: HashMap<ConversationId, StoredHandoff>,
    fresh: &[&Insight],
) -> (Vec<Lead>, Vec<Lead>) {
    let mut written = Vec::with_capacity(fresh.len());
    let mut rows: Vec<Lead> = Vec::new();
    let mut row_of: HashMap<ConversationId, usize> = HashMap::new();
    for insight in fresh {
        let mut lead = insight.lead.clone();
        let conversation = lead.conversation_id;
        match stored.get(&conversation) {
            Some(now) if now.scored_offset >= lead.scored_offset => {
                written.push(lead);
                continue;
            }
            Some(now) if now.handoff != insight.handoff_before => {
                lead.handoff = now.handoff;
                lead.trigger = now.trigger;
                lead.handoff_at = now.handoff_at;
            }
            _ => {}
        }
        stored.insert(conversation, StoredHandoff::of(&lead));
        match row_of.get(&conversation) {
            Some(&i) => rows[i] = lead.clone(),
            None => {
                row_of.insert(conversation, rows.len());
                rows.push(lead.clone());
            }
        }
        written.push(lead);
    }
    (written, rows)
}

impl Insight {
    /// The `message.insights` event's data: what the message showed, and the lead it
    /// left its conversation at (`written`, an agent's handoff kept). One event, not
    /// two: each stream row is a write that ingest queues behind, and a frame to every
    /// agent.
    pub fn view(&self, written: &Lead) -> serde_json::Value {
        json!({
            "message_id": self.message_id,
            "conversation_id": self.conversation_id,
            "insights": self.analysis,
            "lead": written.view(),
        })
    }
}

#[async_trait]
pub trait PipelineStore: Send + Sync + 'static {
    /// Takes the tenant's pipeline for `node` until `lease_until`, or renews it when
    /// `node` holds it already; refused while another node's lease runs. The offset
    /// to go on after, when taken.
    async fn claim_pipeline(
        &self,
        tenant: TenantId,
        node: NodeId,
        now: Millis,
        lease_until: Millis,
    ) -> Result<Option<i64>, StoreError>;

    /// Tenants with stream events past their pipeline cursor that no other node
    /// holds (this node's own included), up to `limit`.
    async fn pipeline_candidates(
        &self,
        node: NodeId,
        now: Millis,
        limit: u32,
    ) -> Result<Vec<TenantId>, StoreError>;

    /// Gives the tenant's pipeline up (a node that stops), so another may take it at once.
    async fn release_pipeline(&self, tenant: TenantId, node: NodeId) -> Result<(), StoreError>;

    async fn lead(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
    ) -> Result<Option<Lead>, StoreError>;

    /// The leads of the conversations with a `message.new` event in the tenant's
    /// stream after `after` up to `through`: one read for a batch of the pipeline.
    async fn leads_in_range(
        &self,
        tenant: TenantId,
        after: i64,
        through: i64,
    ) -> Result<Vec<Lead>, StoreError>;

    /// Stores insights (in stream order) with their conversations' leads, appends a
    /// `message.insights` event for each (with the lead it left) and moves the cursor to
    /// `through`, in one transaction, while `node` holds the tenant's pipeline; `None`
    /// when it does not (nothing is written). An insight stored before writes and
    /// publishes nothing again, and a lead never goes back to an older message's score.
    async fn record_insights(
        &self,
        tenant: TenantId,
        node: NodeId,
        insights: &[Insight],
        through: i64,
    ) -> Result<Option<Recorded>, StoreError>;

    /// Moves the cursor past events the pipeline has nothing to do for; false when
    /// `node` does not hold the tenant's pipeline.
    async fn advance_pipeline(
        &self,
        tenant: TenantId,
        node: NodeId,
        offset: i64,
    ) -> Result<bool, StoreError>;

    /// The tenant's saved settings; `None` until an admin saves them (defaults).
    async fn pipeline_settings(
        &self,
        tenant: TenantId,
    ) -> Result<Option<PipelineSettingsDoc>, StoreError>;

    async fn save_pipeline_settings(
        &self,
        tenant: TenantId,
        settings: &PipelineSettingsDoc,
        at: Millis,
    ) -> Result<(), StoreError>;

    /// The tenant's AI settings as sealed by the server (they hold provider keys).
    async fn ai_settings(&self, tenant: TenantId) -> Result<Option<Vec<u8>>, StoreError>;

    /// Saves the sealed settings with the embedding model they name (provider and
    /// model), in one transaction; naming another model than before (or none) clears
    /// the tenant's passage vectors.
    async fn save_ai_settings(
        &self,
        tenant: TenantId,
        sealed: &[u8],
        embedding_model: Option<&str>,
        at: Millis,
    ) -> Result<(), StoreError>;

    /// Adds one answered call and its tokens to the tenant's count for `month`
    /// (`YYYY-MM`), provider and model.
    async fn add_ai_usage(
        &self,
        tenant: TenantId,
        month: &str,
        provider: &str,
        model: &str,
        usage: TokenUsage,
        at: Millis,
    ) -> Result<(), StoreError>;

    /// The tenant's counts for `month`, by provider and model (in that order).
    async fn ai_usage(&self, tenant: TenantId, month: &str) -> Result<Vec<ModelUsage>, StoreError>;

    /// Moves a conversation's handoff state and appends its `conversation.lead`
    /// event, in one transaction. `None` when it is in `to` already, or not in
    /// `only_from` (nothing is written).
    async fn set_handoff(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        change: &HandoffChange,
    ) -> Result<Option<(Lead, Vec<StreamEvent>)>, StoreError>;

    /// Conversations with a person whose tenant's idle return has passed since
    /// their handoff and since the last reply to the customer; tenants that never
    /// saved settings have `default_idle_ms`.
    async fn idle_handoffs(
        &self,
        now: Millis,
        default_idle_ms: Option<i64>,
        limit: u32,
    ) -> Result<Vec<IdleHandoff>, StoreError>;

    /// The next of `candidates` (in id order) after the one the tenant's round
    /// robin took last, recorded as taken; `None` when there are none.
    async fn next_in_rotation(
        &self,
        tenant: TenantId,
        candidates: &[UserId],
    ) -> Result<Option<UserId>, StoreError>;

    /// How many open conversations each user has assigned.
    async fn open_assigned(&self, tenant: TenantId) -> Result<Vec<(UserId, u32)>, StoreError>;

    /// The scores a conversation's lead has had, one per customer message, newest
    /// first, at most `limit`.
    async fn lead_history(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        limit: u32,
    ) -> Result<Vec<LeadPoint>, StoreError>;

    /// Insights of a conversation's messages (those with a `seq` in `seqs`, when
    /// given), oldest first.
    async fn message_insights(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        seqs: Option<(i64, i64)>,
    ) -> Result<Vec<(MessageId, Analysis)>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::understanding::OTHER;
    use uuid::Uuid;

    fn insight(
        conversation: ConversationId,
        offset: i64,
        before: HandoffState,
        judged: HandoffState,
    ) -> Insight {
        let mut lead = Lead::new(conversation);
        lead.scored_offset = offset;
        lead.handoff = judged;
        lead.trigger = (judged != HandoffState::Bot).then_some(HandoffTrigger::HotLead);
        Insight {
            message_id: MessageId(Uuid::new_v4()),
            conversation_id: conversation,
            offset,
            analysis: Analysis {
                guard: Guard::skipped(),
                understanding: Understanding {
                    language: None,
                    intent: OTHER.into(),
                    confidence: 0.0,
                    signals: Vec::new(),
                    entities: Vec::new(),
                    is_question: false,
                    urgency: Urgency::Low,
                    urgent_words: None,
                    model: None,
                },
                sentiment: Sentiment {
                    label: SentimentLabel::Neutral,
                    score: 0.0,
                    lexicon: "none".into(),
                },
                skipped: Vec::new(),
            },
            lead,
            handoff_before: before,
            at: Millis(offset),
        }
    }

    fn stored(handoff: HandoffState, scored_offset: i64) -> StoredHandoff {
        StoredHandoff {
            handoff,
            trigger: Some(HandoffTrigger::AgentTookOver),
            handoff_at: Some(Millis(7)),
            scored_offset,
        }
    }

    #[test]
    fn a_conversation_with_several_messages_in_a_batch_saves_its_last_lead_once() {
        let (a, b) = (
            ConversationId(Uuid::new_v4()),
            ConversationId(Uuid::new_v4()),
        );
        let batch = [
            insight(a, 1, HandoffState::Bot, HandoffState::Bot),
            insight(b, 2, HandoffState::Bot, HandoffState::Bot),
            insight(a, 3, HandoffState::Bot, HandoffState::PendingHuman),
        ];
        let fresh: Vec<&Insight> = batch.iter().collect();
        let (written, rows) = leads_to_write(HashMap::new(), &fresh);
        assert_eq!(
            written,
            vec![
                batch[0].lead.clone(),
                batch[1].lead.clone(),
                batch[2].lead.clone()
            ]
        );
        assert_eq!(rows, vec![batch[2].lead.clone(), batch[1].lead.clone()]);
    }

    #[test]
    fn an_agent_who_took_the_conversation_since_the_lead_was_read_keeps_it() {
        let a = ConversationId(Uuid::new_v4());
        let batch = [
            insight(a, 5, HandoffState::Bot, HandoffState::PendingHuman),
            insight(a, 6, HandoffState::PendingHuman, HandoffState::PendingHuman),
        ];
        let fresh: Vec<&Insight> = batch.iter().collect();
        let (written, rows) =
            leads_to_write(HashMap::from([(a, stored(HandoffState::Human, 4))]), &fresh);
        for lead in written.iter().chain(&rows) {
            assert_eq!(lead.handoff, HandoffState::Human);
            assert_eq!(lead.trigger, Some(HandoffTrigger::AgentTookOver));
            assert_eq!(lead.handoff_at, Some(Millis(7)));
        }
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].scored_offset, 6);
    }

    #[test]
    fn a_lead_scored_at_a_later_message_is_not_overwritten() {
        let a = ConversationId(Uuid::new_v4());
        let batch = [insight(a, 5, HandoffState::Bot, HandoffState::Bot)];
        let fresh: Vec<&Insight> = batch.iter().collect();
        let (written, rows) =
            leads_to_write(HashMap::from([(a, stored(HandoffState::Bot, 9))]), &fresh);
        assert_eq!(written, vec![batch[0].lead.clone()]);
        assert!(rows.is_empty());
    }
}
