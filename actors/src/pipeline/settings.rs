//! A tenant's pipeline settings: which handoff triggers fire, its own intents, and
//! how a conversation handed to a person is assigned. One JSON document per tenant,
//! checked in full when an admin saves it; the pipeline reads it for each batch, so
//! a change applies from the next message on.

use super::handoff::HandoffRules;
use super::understanding::IntentRule;
use super::words::fold;
use crate::domain::InvalidValue;
use crate::domain::text_enum::text_enum;
use regex::RegexBuilder;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Most intents a tenant defines, and most phrases and patterns in one.
pub const MAX_INTENTS: usize = 50;
pub const MAX_PHRASES: usize = 50;
pub const MAX_PATTERNS: usize = 10;
/// Longest phrase and pattern, in characters.
pub const MAX_PHRASE_CHARS: usize = 100;
pub const MAX_PATTERN_CHARS: usize = 300;
/// A compiled pattern's size bound: a pattern cannot make matching slow or big.
const PATTERN_SIZE_LIMIT: usize = 256 * 1024;

text_enum!(
    /// Who gets a conversation a trigger handed to a person.
    AssignMode, "an assignment mode" {
        /// The next online agent in turn with room for it.
        RoundRobin => "round_robin",
        /// Nobody: it waits in the queue, and agents are told.
        Unassigned => "unassigned",
    }
);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Assignment {
    pub mode: AssignMode,
    /// An agent with this many open conversations assigned gets no more.
    pub max_open_per_agent: u32,
}

impl Default for Assignment {
    fn default() -> Self {
        Self {
            mode: AssignMode::RoundRobin,
            max_open_per_agent: 20,
        }
    }
}

/// A tenant's own intent as it is saved: phrases matched word by word like the
/// built-in ones, and case-insensitive regular expressions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntentSetting {
    pub intent: String,
    #[serde(default)]
    pub phrases: Vec<String>,
    #[serde(default)]
    pub patterns: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineSettingsDoc {
    pub handoff: HandoffRules,
    pub intents: Vec<IntentSetting>,
    pub assignment: Assignment,
}

/// A tenant's settings as the pipeline uses them.
#[derive(Debug, Clone, Default)]
pub struct TenantRules {
    pub handoff: HandoffRules,
    /// Shared with the understanding stage's work, message after message.
    pub intents: Arc<Vec<IntentRule>>,
    pub assignment: Assignment,
}

impl PipelineSettingsDoc {
    /// Checks every field, and compiles the intents.
    pub fn compile(&self) -> Result<TenantRules, InvalidValue> {
        self.check_handoff()?;
        let a = &self.assignment;
        if !(1..=1000).contains(&a.max_open_per_agent) {
            return Err(invalid("assignment.max_open_per_agent must be 1 to 1000"));
        }
        if self.intents.len() > MAX_INTENTS {
            return Err(invalid(format!("at most {MAX_INTENTS} intents")));
        }
        let intents = self
            .intents
            .iter()
            .map(compile_intent)
            .collect::<Result<_, _>>()?;
        let intents = Arc::new(intents);
        Ok(TenantRules {
            handoff: self.handoff.clone(),
            intents,
            assignment: self.assignment.clone(),
        })
    }

    fn check_handoff(&self) -> Result<(), InvalidValue> {
        let h = &self.handoff;
        if h.negative_streak.is_some_and(|n| !(1..=50).contains(&n)) {
            return Err(invalid("handoff.negative_streak must be 1 to 50, or null"));
        }
        if h.repeated_question.is_some_and(|n| !(2..=50).contains(&n)) {
            return Err(invalid(
                "handoff.repeated_question must be 2 to 50, or null",
            ));
        }
        if h.low_confidence.is_some_and(|c| !(0.0..=1.0).contains(&c)) {
            return Err(invalid("handoff.low_confidence must be 0 to 1, or null"));
        }
        if h.idle_return_minutes
            .is_some_and(|m| !(1..=43_200).contains(&m))
        {
            return Err(invalid(
                "handoff.idle_return_minutes must be 1 to 43200 (30 days), or null",
            ));
        }
        Ok(())
    }
}

fn compile_intent(setting: &IntentSetting) -> Result<IntentRule, InvalidValue> {
    let name = &setting.intent;
    let well_formed = (1..=40).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !well_formed {
        return Err(invalid(format!(
            "intent '{name}': a name is 1 to 40 of a-z, 0-9 and _"
        )));
    }
    if setting.phrases.is_empty() && setting.patterns.is_empty() {
        return Err(invalid(format!(
            "intent '{name}' needs a phrase or a pattern"
        )));
    }
    if setting.phrases.len() > MAX_PHRASES || setting.patterns.len() > MAX_PATTERNS {
        return Err(invalid(format!(
            "intent '{name}': at most {MAX_PHRASES} phrases and {MAX_PATTERNS} patterns"
        )));
    }
    let phrases = setting
        .phrases
        .iter()
        .map(|p| {
            let folded = fold(p.trim());
            if !folded.chars().any(char::is_alphanumeric) || p.chars().count() > MAX_PHRASE_CHARS {
                Err(invalid(format!(
                    "intent '{name}': a phrase is 1 to {MAX_PHRASE_CHARS} characters with a letter or digit"
                )))
            } else {
                Ok(folded)
            }
        })
        .collect::<Result<_, _>>()?;
    let patterns = setting
        .patterns
        .iter()
        .map(|p| {
            if p.is_empty() || p.chars().count() > MAX_PATTERN_CHARS {
                return Err(invalid(format!(
                    "intent '{name}': a pattern is 1 to {MAX_PATTERN_CHARS} characters"
                )));
            }
            RegexBuilder::new(p)
                .case_insensitive(true)
                .size_limit(PATTERN_SIZE_LIMIT)
                .build()
                .map_err(|err| invalid(format!("intent '{name}': pattern '{p}': {err}")))
        })
        .collect::<Result<_, _>>()?;
    Ok(IntentRule {
        intent: name.clone(),
        phrases,
        patterns,
    })
}

fn invalid(message: impl Into<String>) -> InvalidValue {
    InvalidValue(message.into())
}

impl TenantRules {
    /// The tenant's saved settings, or the defaults when it has none or they no longer
    /// compile (saved by an older version).
    pub async fn load(
        store: &dyn crate::store::Store,
        tenant: crate::TenantId,
    ) -> Result<Self, crate::store::StoreError> {
        let Some(saved) = store.pipeline_settings(tenant).await? else {
            return Ok(Self::default());
        };
        Ok(saved.compile().unwrap_or_else(|err| {
            tracing::error!(%tenant, error = %err.0, "the tenant's pipeline settings do not compile; using the defaults");
            Self::default()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::understanding::understand;
    use serde_json::json;

    fn doc(value: serde_json::Value) -> PipelineSettingsDoc {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_tenants_intents_compile_and_are_understood() {
        let rules = doc(json!({
            "intents": [{ "intent": "booking", "phrases": ["Book a TABLE"], "patterns": [r"table for \d+"] }]
        }))
        .compile()
        .unwrap();
        assert_eq!(rules.intents[0].phrases, ["book a table"]);
        let u = understand("Can I book a table?", &rules.intents);
        assert_eq!(u.intent, "booking");
        let u = understand("A TABLE FOR 6 please", &rules.intents);
        assert_eq!(u.signals[0].evidence, "TABLE FOR 6");
        // Unset fields keep their defaults.
        assert_eq!(rules.handoff, HandoffRules::default());
        assert_eq!(rules.assignment, Assignment::default());
    }

    #[test]
    fn every_bad_field_is_refused_saying_which() {
        let cases = [
            (
                json!({ "handoff": { "negative_streak": 0 } }),
                "negative_streak",
            ),
            (
                json!({ "handoff": { "repeated_question": 1 } }),
                "repeated_question",
            ),
            (
                json!({ "handoff": { "low_confidence": 1.5 } }),
                "low_confidence",
            ),
            (
                json!({ "handoff": { "idle_return_minutes": 0 } }),
                "idle_return_minutes",
            ),
            (
                json!({ "assignment": { "max_open_per_agent": 0 } }),
                "max_open_per_agent",
            ),
            (
                json!({ "intents": [{ "intent": "Booking!", "phrases": ["x"] }] }),
                "a name is",
            ),
            (
                json!({ "intents": [{ "intent": "empty" }] }),
                "needs a phrase",
            ),
            (
                json!({ "intents": [{ "intent": "b", "phrases": ["!!!"] }] }),
                "a phrase is",
            ),
            (
                json!({ "intents": [{ "intent": "b", "patterns": ["(unclosed"] }] }),
                "pattern '(unclosed'",
            ),
            (
                json!({ "intents": [{ "intent": "b", "patterns": ["x{1000}{1000}"] }] }),
                "pattern",
            ),
        ];
        for (value, says) in cases {
            let refused = doc(value.clone()).compile().unwrap_err();
            assert!(refused.0.contains(says), "{value}: {}", refused.0);
        }
        let many = (0..=MAX_INTENTS)
            .map(|i| json!({ "intent": format!("i{i}"), "phrases": ["x"] }))
            .collect::<Vec<_>>();
        assert!(doc(json!({ "intents": many })).compile().is_err());
        let unknown = serde_json::from_value::<PipelineSettingsDoc>(json!({ "handof": {} }));
        assert!(unknown.is_err());
    }
}
