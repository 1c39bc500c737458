//! Whether a rule applies to a happening: its trigger's own filters (channels,
//! keywords, pattern, the status or tag or temperature it names), then its
//! conditions over what is known when the rule is judged.

use super::Rule;
use super::happening::Happening;
use super::rules::{Condition, FieldOp, FieldTest, Trigger, pattern};
use crate::inbox::records::{Contact, Conversation};
use crate::pipeline::scoring::Temperature;
use crate::pipeline::words::Words;
use regex::Regex;
use serde_json::Value;
use std::collections::HashMap;

/// The rules' regular expressions, compiled once per drain rather than per event.
#[derive(Debug, Default)]
pub struct Patterns(HashMap<String, Regex>);

impl Patterns {
    pub fn of(rules: &[Rule]) -> Self {
        fn walk(condition: &Condition, found: &mut Vec<String>) {
            match condition {
                Condition::All(items) | Condition::Any(items) => {
                    items.iter().for_each(|c| walk(c, found))
                }
                Condition::Not(inner) => walk(inner, found),
                Condition::TextMatches(source) => found.push(source.clone()),
                _ => {}
            }
        }
        let mut sources = Vec::new();
        for rule in rules {
            if let Trigger::MessageReceived {
                pattern: Some(source),
                ..
            } = &rule.definition.trigger
            {
                sources.push(source.clone());
            }
            if let Some(conditions) = &rule.definition.conditions {
                walk(conditions, &mut sources);
            }
        }
        // Saved rules were checked: a pattern that no longer compiles matches nothing.
        Self(
            sources
                .into_iter()
                .filter_map(|s| pattern(&s).ok().map(|re| (s, re)))
                .collect(),
        )
    }

    fn matches(&self, source: &str, text: &str) -> bool {
        self.0.get(source).is_some_and(|re| re.is_match(text))
    }
}

/// What conditions are judged on, read once per happening.
#[derive(Debug, Default)]
pub struct Facts {
    pub conversation: Option<Conversation>,
    pub contact: Option<Contact>,
    pub temperature: Option<Temperature>,
    /// The customer's message, when the happening is about one.
    pub text: Option<String>,
    pub language: Option<String>,
}

/// A conversation's channel key (`whatsapp:…`, `sandbox`) is named by itself or by its
/// kind, the part before the colon.
fn channel_is(key: &str, wanted: &[String]) -> bool {
    let kind = key.split(':').next().unwrap_or(key);
    wanted.iter().any(|w| w == key || w == kind)
}

/// Whether one of the phrases appears in the text (whole words, case and accents aside).
fn holds_phrase(text: &str, phrases: &[String]) -> bool {
    let words = Words::of(text);
    phrases.iter().any(|p| words.contains(p))
}

impl Trigger {
    /// The trigger's own filters. `analysed` tells which of a received message's two
    /// happenings the rule starts from: the one after the pipeline when its conditions
    /// test the language.
    pub fn admits(
        &self,
        happening: &Happening,
        analysed: bool,
        text: Option<&str>,
        patterns: &Patterns,
    ) -> bool {
        if happening.kind != self.kind() {
            return false;
        }
        let channel = happening.channel.as_deref();
        let channels_ok =
            |list: &[String]| list.is_empty() || channel.is_some_and(|c| channel_is(c, list));
        let detail = &happening.detail;
        match self {
            Trigger::MessageReceived {
                channels,
                keywords,
                pattern: source,
            } => {
                let text = text.unwrap_or_default();
                happening.analysed == analysed
                    && (happening.analysed || channels_ok(channels))
                    && (keywords.is_empty() || holds_phrase(text, keywords))
                    && source.as_deref().is_none_or(|s| patterns.matches(s, text))
            }
            Trigger::ConversationCreated { channels } => channels_ok(channels),
            Trigger::StatusChanged { to } => {
                to.is_none_or(|to| detail["status"]["to"] == to.as_str())
            }
            Trigger::TagAdded { tag } => tag
                .as_ref()
                .is_none_or(|t| detail["tag_added"] == t.as_str()),
            Trigger::TagRemoved { tag } => tag
                .as_ref()
                .is_none_or(|t| detail["tag_removed"] == t.as_str()),
            Trigger::LeadTemperatureChanged { to } => {
                to.is_none_or(|to| detail["to"] == to.as_str())
            }
            _ => true,
        }
    }
}

impl Condition {
    /// Whether the rule needs the pipeline's findings on the message (its language).
    pub fn needs_analysis(&self) -> bool {
        match self {
            Condition::All(items) | Condition::Any(items) => items.iter().any(Self::needs_analysis),
            Condition::Not(inner) => inner.needs_analysis(),
            Condition::Language(_) => true,
            _ => false,
        }
    }

    pub fn holds(&self, happening: &Happening, facts: &Facts, patterns: &Patterns) -> bool {
        let conversation = facts.conversation.as_ref();
        let text = facts.text.as_deref();
        match self {
            Condition::All(items) => items.iter().all(|c| c.holds(happening, facts, patterns)),
            Condition::Any(items) => items.iter().any(|c| c.holds(happening, facts, patterns)),
            Condition::Not(inner) => !inner.holds(happening, facts, patterns),
            Condition::Channel(list) => {
                conversation.is_some_and(|c| channel_is(c.channel.as_str(), list))
            }
            Condition::Status(list) => conversation.is_some_and(|c| list.contains(&c.status)),
            Condition::HasTag(tag) => conversation.is_some_and(|c| c.tags.contains(tag)),
            Condition::Assigned(wanted) => {
                conversation.is_some_and(|c| c.assignee_id.is_some() == *wanted)
            }
            Condition::ContactField(test) => {
                facts.contact.as_ref().is_some_and(|c| field_holds(c, test))
            }
            Condition::Temperature(list) => {
                list.contains(&facts.temperature.unwrap_or(Temperature::Cold))
            }
            Condition::Language(list) => facts
                .language
                .as_ref()
                .is_some_and(|l| list.iter().any(|w| w.eq_ignore_ascii_case(l))),
            Condition::TextContains(phrases) => text.is_some_and(|t| holds_phrase(t, phrases)),
            Condition::TextMatches(source) => text.is_some_and(|t| patterns.matches(source, t)),
            Condition::OpenHours(hours) => hours.is_open(happening.at),
        }
    }
}

/// What `{{contact.…}}` in a template stands for: `contact.first_name`, or any field
/// `contact_field` reads. `None` for a placeholder that is not the contact's.
pub fn contact_placeholder(contact: Option<&Contact>, name: &str) -> Option<String> {
    let field = name.strip_prefix("contact.")?;
    let contact = contact?;
    match field {
        "first_name" => contact.name.split_whitespace().next().map(str::to_owned),
        other => contact_field(contact, other),
    }
}

/// A contact's field as text: its name, first phone or email, or a custom field.
pub fn contact_field(contact: &Contact, field: &str) -> Option<String> {
    match field {
        "name" => Some(contact.name.clone()).filter(|n| !n.is_empty()),
        "phone" => contact.phones.first().map(|p| p.as_str().to_owned()),
        "email" => contact.emails.first().map(|e| e.as_str().to_owned()),
        custom => contact.custom_fields.get(custom).and_then(|v| match v {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }),
    }
}

fn field_holds(contact: &Contact, test: &FieldTest) -> bool {
    let value = contact_field(contact, &test.field);
    let wanted = test.value.as_deref().unwrap_or_default();
    match test.op {
        FieldOp::Exists => value.is_some(),
        FieldOp::Missing => value.is_none(),
        FieldOp::Is => value.is_some_and(|v| v.eq_ignore_ascii_case(wanted)),
        FieldOp::IsNot => value.is_none_or(|v| !v.eq_ignore_ascii_case(wanted)),
        FieldOp::Contains => {
            value.is_some_and(|v| v.to_lowercase().contains(&wanted.to_lowercase()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::automation::rules::TriggerKind;
    use crate::{
        ChannelKey, ContactId, ConversationId, ConversationStatus, Millis, Priority, TagName,
        TenantId,
    };
    use serde_json::json;

    fn facts() -> Facts {
        let contact = ContactId::new();
        Facts {
            conversation: Some(Conversation {
                tenant_id: TenantId::new(),
                id: ConversationId::new(),
                channel: ChannelKey::parse("whatsapp:0193").unwrap(),
                contact_id: contact,
                contact_name: "Ana Lima".into(),
                status: ConversationStatus::Open,
                snoozed_until: None,
                priority: Priority::Normal,
                assignee_id: None,
                tags: vec![TagName::parse("vip").unwrap()],
                unread_count: 1,
                last_seq: 1,
                last_message_at: None,
                last_inbound_at: None,
                created_at: Millis(0),
                updated_at: Millis(0),
            }),
            contact: Some(Contact {
                id: contact,
                ..Contact::sample("Ana Lima", json!({"plan": "Gold", "seats": 12}))
            }),
            temperature: Some(Temperature::Warm),
            text: Some("¿Cuánto cuesta el envío a Lisboa?".into()),
            language: Some("es".into()),
        }
    }

    /// Monday 2026-01-05 at `hour`:00 UTC.
    fn monday_at(hour: i64) -> Happening {
        Happening {
            kind: TriggerKind::MessageReceived,
            offset: 1,
            at: Millis(1_767_571_200_000 + hour * 3_600_000),
            conversation_id: None,
            channel: None,
            message: None,
            analysed: false,
            detail: Value::Null,
            depth: 0,
            caused_by: None,
        }
    }

    fn holds(condition: Value, at: &Happening) -> bool {
        let condition: Condition = serde_json::from_value(condition).unwrap();
        condition.holds(at, &facts(), &Patterns::default())
    }

    #[test]
    fn each_test_reads_the_conversation_the_contact_the_lead_and_the_message() {
        let at = monday_at(10);
        let cases = [
            (json!({"channel": ["whatsapp"]}), true),
            (json!({"channel": ["messenger", "sandbox"]}), false),
            (json!({"status": ["open", "pending"]}), true),
            (json!({"has_tag": "vip"}), true),
            (json!({"not": {"has_tag": "vip"}}), false),
            (json!({"assigned": false}), true),
            (json!({"temperature": ["hot"]}), false),
            (json!({"temperature": ["warm", "hot"]}), true),
            (json!({"language": ["ES"]}), true),
            // Accents and case aside, whole words.
            (json!({"text_contains": ["cuanto cuesta"]}), true),
            (json!({"text_contains": ["cost"]}), false),
            (
                json!({"contact_field": {"field": "plan", "op": "is", "value": "gold"}}),
                true,
            ),
            (
                json!({"contact_field": {"field": "plan", "op": "is_not", "value": "gold"}}),
                false,
            ),
            (
                json!({"contact_field": {"field": "seats", "op": "contains", "value": "1"}}),
                true,
            ),
            (
                json!({"contact_field": {"field": "email", "op": "missing"}}),
                true,
            ),
            (
                json!({"contact_field": {"field": "name", "op": "exists"}}),
                true,
            ),
            (
                json!({"any": [{"has_tag": "spam"}, {"channel": ["whatsapp"]}]}),
                true,
            ),
            (
                json!({"all": [{"has_tag": "spam"}, {"channel": ["whatsapp"]}]}),
                false,
            ),
        ];
        for (condition, expected) in cases {
            assert_eq!(holds(condition.clone(), &at), expected, "{condition}");
        }
    }

    #[test]
    fn open_hours_follow_the_offset_and_the_days() {
        let hours = json!({"open_hours": {"utc_offset_minutes": 60, "days": ["mon", "tue"], "open": "09:00", "close": "17:00"}});
        // 07:00Z is 08:00 at UTC+1: not yet open; 08:00Z is 09:00: open; 16:00Z closed.
        assert!(!holds(hours.clone(), &monday_at(7)));
        assert!(holds(hours.clone(), &monday_at(8)));
        assert!(!holds(hours.clone(), &monday_at(16)));
        // Wednesday is not a working day.
        assert!(!holds(hours, &monday_at(48 + 10)));
    }

    #[test]
    fn a_pattern_matches_once_compiled_for_the_drain() {
        let rule: super::super::rules::Definition = serde_json::from_value(json!({
            "name": "r", "trigger": {"type": "message_received", "pattern": "env[ií]o"},
            "conditions": {"text_matches": "lisboa\\?$"},
            "actions": [{"type": "unassign"}]
        }))
        .unwrap();
        let rule = Rule {
            id: crate::RuleId::new(),
            tenant_id: TenantId::new(),
            enabled: true,
            definition: rule,
            created_at: Millis(0),
            updated_at: Millis(0),
        };
        let patterns = Patterns::of(std::slice::from_ref(&rule));
        let at = monday_at(10);
        let facts = facts();
        let definition = &rule.definition;
        assert!(
            definition
                .trigger
                .admits(&at, false, facts.text.as_deref(), &patterns)
        );
        assert!(
            definition
                .conditions
                .as_ref()
                .unwrap()
                .holds(&at, &facts, &patterns)
        );
        assert!(
            !definition
                .trigger
                .admits(&at, false, Some("hola"), &patterns)
        );
    }
}
