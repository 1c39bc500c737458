//! Pipeline rows as both dialects return them.

use super::inbox_rows::from_json;
use super::rows::corrupt;
use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use switchboard_actors::inbox::records::LeadBrief;
use switchboard_actors::pipeline::handoff::{HandoffState, HandoffTrigger};
use switchboard_actors::pipeline::scoring::{LeadScore, Reason, Temperature};
use switchboard_actors::pipeline::sentiment::SentimentLabel;
use switchboard_actors::pipeline::store::{Counts, Lead, LeadPoint, StoredHandoff};
use switchboard_actors::pipeline::understanding::Urgency;
use switchboard_actors::store::StoreError;
use switchboard_actors::{ConversationId, MessageId, Millis};
use uuid::Uuid;

/// What a lead keeps beside its columns.
#[derive(Serialize, Deserialize)]
pub struct LeadData {
    pub reasons: Vec<Reason>,
    pub counts: Counts,
}

impl LeadData {
    pub fn of(lead: &Lead) -> Self {
        Self {
            reasons: lead.score.reasons.clone(),
            counts: lead.counts.clone(),
        }
    }
}

#[derive(FromRow)]
pub struct LeadRow {
    conversation_id: Uuid,
    score: i64,
    temperature: String,
    sentiment: Option<String>,
    urgency: String,
    handoff_state: String,
    handoff_trigger: Option<String>,
    handoff_at: Option<i64>,
    scored_offset: i64,
    data: String,
    updated_at: i64,
}

impl TryFrom<LeadRow> for Lead {
    type Error = StoreError;
    fn try_from(row: LeadRow) -> Result<Self, Self::Error> {
        let data: LeadData = from_json("lead", &row.data)?;
        let brief = lead_brief(
            row.score,
            &row.temperature,
            row.sentiment.as_deref(),
            &row.handoff_state,
        )?;
        Ok(Lead {
            conversation_id: ConversationId(row.conversation_id),
            score: LeadScore {
                score: brief.score,
                temperature: brief.temperature,
                reasons: data.reasons,
            },
            sentiment: brief.sentiment,
            urgency: Urgency::parse(&row.urgency).map_err(corrupt("lead"))?,
            handoff: brief.handoff,
            trigger: trigger_of(row.handoff_trigger.as_deref())?,
            handoff_at: row.handoff_at.map(Millis),
            counts: data.counts,
            scored_offset: row.scored_offset,
            updated_at: Millis(row.updated_at),
        })
    }
}

/// A stored handoff trigger, read as both lead reads read it.
fn trigger_of(stored: Option<&str>) -> Result<Option<HandoffTrigger>, StoreError> {
    stored
        .map(HandoffTrigger::parse)
        .transpose()
        .map_err(corrupt("lead"))
}

/// The columns a `LeadRow` is read from; sqlx takes only static SQL text, so the
/// shared part is a macro.
macro_rules! lead_columns {
    () => {
        "conversation_id, score, temperature, sentiment, urgency, handoff_state, handoff_trigger, handoff_at, scored_offset, data, updated_at"
    };
}
pub(crate) use lead_columns;

/// The insert of a whole lead row, its columns bound as $1 to $12 by `bind_lead!`.
macro_rules! lead_insert {
    () => {
        "INSERT INTO conversation_leads
             (tenant_id, conversation_id, score, temperature, sentiment, urgency, handoff_state,
              handoff_trigger, handoff_at, scored_offset, data, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
    };
}
pub(crate) use lead_insert;

/// The update of a lead row saved over: every column, unless the stored lead was
/// scored at a later message (a replay of an older one changes nothing).
macro_rules! lead_upsert {
    () => {
        "ON CONFLICT (conversation_id) DO UPDATE SET
             score = excluded.score, temperature = excluded.temperature, sentiment = excluded.sentiment,
             urgency = excluded.urgency, handoff_state = excluded.handoff_state,
             handoff_trigger = excluded.handoff_trigger, handoff_at = excluded.handoff_at,
             scored_offset = excluded.scored_offset, data = excluded.data, updated_at = excluded.updated_at
         WHERE conversation_leads.scored_offset < excluded.scored_offset"
    };
}
pub(crate) use lead_upsert;

/// Who answers a conversation, as `record_insights` reads it back.
#[derive(FromRow)]
pub struct HandoffRow {
    conversation_id: Uuid,
    handoff_state: String,
    handoff_trigger: Option<String>,
    handoff_at: Option<i64>,
    scored_offset: i64,
}

impl TryFrom<HandoffRow> for (ConversationId, StoredHandoff) {
    type Error = StoreError;
    fn try_from(row: HandoffRow) -> Result<Self, Self::Error> {
        Ok((
            ConversationId(row.conversation_id),
            StoredHandoff {
                handoff: HandoffState::parse(&row.handoff_state).map_err(corrupt("lead"))?,
                trigger: trigger_of(row.handoff_trigger.as_deref())?,
                handoff_at: row.handoff_at.map(Millis),
                scored_offset: row.scored_offset,
            },
        ))
    }
}

/// Binds a tenant's `Lead` to the columns of `lead_insert!`.
macro_rules! bind_lead {
    ($query:expr, $tenant:expr, $lead:expr) => {
        $query
            .bind($tenant.0)
            .bind($lead.conversation_id.0)
            .bind(i64::from($lead.score.score))
            .bind($lead.score.temperature.as_str())
            .bind($lead.sentiment.map(|s| s.as_str()))
            .bind($lead.urgency.as_str())
            .bind($lead.handoff.as_str())
            .bind($lead.trigger.map(|t| t.as_str()))
            .bind($lead.handoff_at.map(|at| at.0))
            .bind($lead.scored_offset)
            .bind($crate::store::inbox_rows::to_json(&LeadData::of(&$lead)))
            .bind($lead.updated_at.0)
    };
}
pub(crate) use bind_lead;

/// A stored lead score, which is 0 to 100.
fn lead_score(score: i64) -> Result<u8, StoreError> {
    u8::try_from(score).map_err(|_| StoreError::Backend(format!("lead score {score} out of range")))
}

/// A `lead_history` row (message id, score, temperature, at).
pub fn lead_point(
    (message, score, temperature, at): (Uuid, i64, String, i64),
) -> Result<LeadPoint, StoreError> {
    Ok(LeadPoint {
        message_id: MessageId(message),
        score: lead_score(score)?,
        temperature: Temperature::parse(&temperature).map_err(corrupt("lead history"))?,
        at: Millis(at),
    })
}

/// The columns of a `conversation_leads` row that lists show, read as both the
/// lead and the list row read them.
pub fn lead_brief(
    score: i64,
    temperature: &str,
    sentiment: Option<&str>,
    handoff: &str,
) -> Result<LeadBrief, StoreError> {
    Ok(LeadBrief {
        score: lead_score(score)?,
        temperature: Temperature::parse(temperature).map_err(corrupt("lead"))?,
        sentiment: sentiment
            .map(SentimentLabel::parse)
            .transpose()
            .map_err(corrupt("lead"))?,
        handoff: HandoffState::parse(handoff).map_err(corrupt("lead"))?,
    })
}
