//! What a stream event means to rules: each event a trigger can start from becomes one
//! or more `Happening`s (a customer's first message is a message received, a new
//! conversation and perhaps a new contact). Changes made by a rule carry its
//! `Origin`, so what they cause is one level deeper (the loop guard).

use super::rules::TriggerKind;
use crate::inbox::stream::{EventKind, StreamEvent};
use crate::pipeline::scoring::Temperature;
use crate::{ConversationId, MessageId, Millis, RuleId, RunId};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Which rule's run made a change; stored in the change's event as `automation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub rule_id: RuleId,
    pub run_id: RunId,
    /// The run's depth: 0 for a run a person's or customer's event started.
    pub depth: u32,
}

/// A customer message as rules read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageFacts {
    pub id: MessageId,
    #[serde(rename = "type")]
    pub kind: String,
    pub text: Option<String>,
    /// What the pipeline found, on the message's `message.insights` event only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// One thing a trigger may start from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Happening {
    #[serde(rename = "trigger", serialize_with = "kind_text")]
    pub kind: TriggerKind,
    /// The stream offset of the event, or 0 for a timer.
    pub offset: i64,
    #[serde(serialize_with = "rfc3339")]
    pub at: Millis,
    pub conversation_id: Option<ConversationId>,
    pub channel: Option<String>,
    pub message: Option<MessageFacts>,
    /// Set for a received message seen on its `message.insights` event, where the
    /// language is known: rules that test the language start from it there.
    #[serde(skip)]
    pub analysed: bool,
    /// What changed: the status before and after, the tag, the temperatures.
    pub detail: Value,
    /// How deep in a chain of rules this is (0: nobody's rule caused it).
    pub depth: u32,
    /// The rule whose run made the change, if one did.
    pub caused_by: Option<RuleId>,
}

fn kind_text<S: serde::Serializer>(kind: &TriggerKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.as_str())
}

fn rfc3339<S: serde::Serializer>(at: &Millis, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&at.to_rfc3339())
}

#[derive(Deserialize)]
struct ConversationPart {
    id: ConversationId,
    channel: String,
}

#[derive(Deserialize)]
struct MessagePart {
    id: MessageId,
    seq: i64,
    direction: String,
    #[serde(rename = "type")]
    kind: String,
    body: Option<String>,
    attachment: Option<Value>,
}

#[derive(Deserialize)]
struct MessageNew {
    message: MessagePart,
    conversation: ConversationPart,
}

#[derive(Deserialize)]
struct Updated {
    conversation: ConversationPart,
    #[serde(default)]
    change: Option<Value>,
    #[serde(default)]
    automation: Option<Origin>,
}

#[derive(Deserialize)]
struct InsightsEvent {
    message_id: MessageId,
    conversation_id: ConversationId,
    insights: InsightsPart,
    lead: LeadPart,
}

#[derive(Deserialize)]
struct InsightsPart {
    understanding: UnderstandingPart,
    sentiment: SentimentPart,
}

#[derive(Deserialize)]
struct UnderstandingPart {
    language: Option<LanguagePart>,
}

#[derive(Deserialize)]
struct LanguagePart {
    code: String,
}

#[derive(Deserialize)]
struct SentimentPart {
    label: String,
}

#[derive(Deserialize)]
struct LeadPart {
    temperature: Temperature,
}

/// The depth of a change a rule's run made: one more than the run's.
fn depth_after(origin: Option<Origin>) -> u32 {
    origin.map_or(0, |o| o.depth.saturating_add(1))
}

/// A lead's temperature before a message was judged, for `lead_temperature_changed`;
/// the engine reads it from the lead's history.
#[derive(Debug, Clone, Copy)]
pub struct Insights {
    pub message_id: MessageId,
    pub conversation_id: ConversationId,
    pub temperature: Temperature,
}

/// What `event` means to rules. `message.insights` needs the temperature before (from
/// the lead's history), so it also answers what to look up.
pub fn happenings(event: &StreamEvent) -> (Vec<Happening>, Option<Insights>) {
    let base = |kind, conversation: Option<ConversationId>, channel: Option<String>| Happening {
        kind,
        offset: event.offset,
        at: event.at,
        conversation_id: conversation,
        channel,
        message: None,
        analysed: false,
        detail: Value::Null,
        depth: 0,
        caused_by: None,
    };
    let mut found = Vec::new();
    match event.kind {
        EventKind::MessageNew => {
            let Ok(new) = serde_json::from_str::<MessageNew>(&event.data) else {
                return (found, None);
            };
            let origin = new
                .message
                .attachment
                .as_ref()
                .and_then(|a| a.get("automation"))
                .and_then(|o| serde_json::from_value::<Origin>(o.clone()).ok());
            let (conversation, channel) =
                (Some(new.conversation.id), Some(new.conversation.channel));
            let facts = MessageFacts {
                id: new.message.id,
                kind: new.message.kind.clone(),
                text: new.message.body.clone(),
                language: None,
            };
            let mut add = |kind| {
                let mut h = base(kind, conversation, channel.clone());
                h.message = Some(facts.clone());
                h.depth = depth_after(origin);
                h.caused_by = origin.map(|o| o.rule_id);
                h.detail = json!({ "direction": new.message.direction, "seq": new.message.seq });
                found.push(h);
            };
            match new.message.direction.as_str() {
                "inbound" => {
                    add(TriggerKind::MessageReceived);
                    add(TriggerKind::NoAgentReply);
                    if new.message.kind == "lead" {
                        add(TriggerKind::LeadCaptured);
                    }
                    if new.message.seq == 1 {
                        add(TriggerKind::ConversationCreated);
                        // Confirmed against the contact's creation time by the engine.
                        add(TriggerKind::ContactCreated);
                    }
                }
                "outbound" => add(TriggerKind::NoCustomerReply),
                _ => {}
            }
            (found, None)
        }
        EventKind::ConversationUpdated => {
            let Ok(updated) = serde_json::from_str::<Updated>(&event.data) else {
                return (found, None);
            };
            let Some(change) = updated.change else {
                return (found, None);
            };
            let kind = if change.get("status").is_some() {
                TriggerKind::StatusChanged
            } else if change.get("tag_added").is_some() {
                TriggerKind::TagAdded
            } else if change.get("tag_removed").is_some() {
                TriggerKind::TagRemoved
            } else {
                return (found, None);
            };
            let mut h = base(
                kind,
                Some(updated.conversation.id),
                Some(updated.conversation.channel),
            );
            h.detail = change;
            h.depth = depth_after(updated.automation);
            h.caused_by = updated.automation.map(|o| o.rule_id);
            found.push(h);
            (found, None)
        }
        EventKind::ConversationAssigned => {
            let Ok(updated) = serde_json::from_str::<Updated>(&event.data) else {
                return (found, None);
            };
            let data: Value = serde_json::from_str(&event.data).unwrap_or_default();
            let mut h = base(
                TriggerKind::AssignmentChanged,
                Some(updated.conversation.id),
                Some(updated.conversation.channel),
            );
            h.detail =
                json!({ "assignee_id": data["assignee_id"], "assigned_by": data["assigned_by"] });
            h.depth = depth_after(updated.automation);
            h.caused_by = updated.automation.map(|o| o.rule_id);
            found.push(h);
            (found, None)
        }
        EventKind::MessageInsights => {
            let Ok(insights) = serde_json::from_str::<InsightsEvent>(&event.data) else {
                return (found, None);
            };
            let conversation = Some(insights.conversation_id);
            let language = insights.insights.understanding.language.map(|l| l.code);
            let facts = MessageFacts {
                id: insights.message_id,
                kind: "text".to_owned(),
                text: None,
                language: language.clone(),
            };
            let mut analysed = base(TriggerKind::MessageReceived, conversation, None);
            analysed.analysed = true;
            analysed.message = Some(facts.clone());
            found.push(analysed);
            if insights.insights.sentiment.label == "negative" {
                let mut h = base(TriggerKind::NegativeSentiment, conversation, None);
                h.message = Some(facts);
                found.push(h);
            }
            let lookup = Insights {
                message_id: insights.message_id,
                conversation_id: insights.conversation_id,
                temperature: insights.lead.temperature,
            };
            (found, Some(lookup))
        }
        _ => (found, None),
    }
}

/// `lead_temperature_changed`, when the message's score moved the lead from `before`.
pub fn temperature_change(
    event: &StreamEvent,
    insights: Insights,
    before: Option<Temperature>,
) -> Option<Happening> {
    let before = before.unwrap_or(Temperature::Cold);
    (before != insights.temperature).then(|| Happening {
        kind: TriggerKind::LeadTemperatureChanged,
        offset: event.offset,
        at: event.at,
        conversation_id: Some(insights.conversation_id),
        channel: None,
        message: None,
        analysed: false,
        detail: json!({ "from": before, "to": insights.temperature }),
        depth: 0,
        caused_by: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbox::stream::Epoch;

    fn event(kind: EventKind, data: &str) -> StreamEvent {
        StreamEvent {
            epoch: Epoch(uuid::Uuid::nil()),
            offset: 7,
            kind,
            conversation_id: ConversationId(uuid::Uuid::nil()),
            assignee_id: None,
            data: data.to_owned(),
            at: Millis(1_000),
        }
    }

    #[test]
    fn a_negative_message_s_insights_are_its_analysed_message_and_negative_sentiment() {
        let data = r#"{"conversation_id":"01a22609-fd0c-775a-82ed-453483f168fa","insights":{"guard":{"flags":[],"passed":true,"risk_score":0.0},"sentiment":{"label":"negative","lexicon":"vader","score":-0.8689},"understanding":{"confidence":0.3,"entities":[],"intent":"other","is_question":false,"language":{"code":"en","confidence":0.67,"reliable":false},"signals":[],"urgency":"low","urgent_words":null}},"lead":{"conversation_id":"01a22609-fd0c-775a-82ed-453483f168fa","handoff":"bot","handoff_at":null,"reasons":[],"score":0,"sentiment":"negative","temperature":"cold","trigger":null,"updated_at":"2026-11-29T06:41:58.552Z","urgency":"low"},"message_id":"01a22609-fd0c-775a-82ed-453545c75f44"}"#;
        let (found, insights) = happenings(&event(EventKind::MessageInsights, data));
        let kinds: Vec<TriggerKind> = found.iter().map(|h| h.kind).collect();
        assert_eq!(
            kinds,
            [TriggerKind::MessageReceived, TriggerKind::NegativeSentiment]
        );
        assert!(found[0].analysed);
        assert_eq!(
            found[0].message.as_ref().unwrap().language.as_deref(),
            Some("en")
        );
        assert_eq!(insights.unwrap().temperature, Temperature::Cold);
    }
}
