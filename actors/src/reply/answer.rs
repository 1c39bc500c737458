//! The model's answer for a reply, checked before anything is sent: the strict JSON
//! asked for, a confidence from 0 to 1 and not below the tenant's floor, a known
//! action, and citations only of passages the prompt carried.

use super::prompt::passage_label;
use crate::knowledge::Passage;
use crate::llm::ChatReply;
use crate::{PassageId, TagName};
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq)]
pub enum ReplyAction {
    None,
    /// A person should take over; the reply holds the customer meanwhile.
    Handoff,
    /// Tag the conversation too.
    Tag(TagName),
    /// A person should take over and be assigned by the tenant's rules.
    Assign,
}

impl ReplyAction {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Handoff => "handoff",
            Self::Tag(_) => "tag",
            Self::Assign => "assign",
        }
    }

    pub fn hands_over(&self) -> bool {
        matches!(self, Self::Handoff | Self::Assign)
    }
}

/// An answer that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub text: String,
    pub confidence: f64,
    pub action: ReplyAction,
    pub reason: String,
    pub cited: Vec<PassageId>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnswer {
    reply: String,
    confidence: f64,
    action: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    cited: Vec<String>,
    #[serde(default)]
    tag: Option<String>,
}

/// Why an answer cannot be used, in words for the agents' note and the logs.
pub fn check(
    reply: &ChatReply,
    passages: &[Passage],
    min_confidence: f64,
) -> Result<Answer, String> {
    let raw: RawAnswer = serde_json::from_str(reply.content.trim())
        .map_err(|err| format!("the answer is not the JSON asked for: {err}"))?;
    if !(0.0..=1.0).contains(&raw.confidence) {
        return Err(format!(
            "the answer's confidence {} is not from 0 to 1",
            raw.confidence
        ));
    }
    if raw.confidence < min_confidence {
        return Err(format!(
            "the model was not sure enough ({} below {min_confidence})",
            raw.confidence
        ));
    }
    let action = match (raw.action.as_str(), raw.tag.as_deref()) {
        ("none", _) => ReplyAction::None,
        ("handoff", _) => ReplyAction::Handoff,
        ("assign", _) => ReplyAction::Assign,
        ("tag", Some(tag)) => ReplyAction::Tag(
            TagName::parse(tag).map_err(|err| format!("the answer's tag: {}", err.0))?,
        ),
        ("tag", None) => return Err("the answer's action is tag, with no tag".into()),
        (other, _) => return Err(format!("the answer names an unknown action '{other}'")),
    };
    let text = raw.reply.trim().to_owned();
    if text.is_empty() && !action.hands_over() {
        return Err("the answer's reply is empty".into());
    }
    let mut cited = Vec::new();
    for label in &raw.cited {
        let passage = (0..passages.len())
            .find(|i| passage_label(*i) == label.trim())
            .ok_or_else(|| format!("the answer cites '{label}', which it was not given"))?;
        if !cited.contains(&passages[passage].id) {
            cited.push(passages[passage].id);
        }
    }
    Ok(Answer {
        text,
        confidence: raw.confidence,
        action,
        reason: raw.reason.trim().chars().take(500).collect(),
        cited,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DocumentId;
    use crate::llm::TokenUsage;
    use serde_json::json;

    fn reply(content: serde_json::Value) -> ChatReply {
        ChatReply {
            content: content.to_string(),
            provider: "p".into(),
            model: "m".into(),
            usage: TokenUsage::default(),
        }
    }

    fn passages(n: usize) -> Vec<Passage> {
        (0..n)
            .map(|i| Passage {
                id: PassageId::new(),
                document_id: DocumentId::new(),
                title: "t".into(),
                position: i as u32,
                text: "x".into(),
            })
            .collect()
    }

    #[test]
    fn a_sure_answer_citing_given_passages_is_used() {
        let given = passages(2);
        let answer = check(
            &reply(json!({"reply": " Two days. ", "confidence": 0.9, "action": "tag", "reason": "faq", "cited": ["P2", "P2"], "tag": "shipping"})),
            &given,
            0.6,
        )
        .unwrap();
        assert_eq!(answer.text, "Two days.");
        assert_eq!(answer.cited, [given[1].id]);
        assert_eq!(
            answer.action,
            ReplyAction::Tag(TagName::parse("shipping").unwrap())
        );
    }

    #[test]
    fn each_broken_answer_is_refused_saying_why() {
        let given = passages(1);
        for (content, says) in [
            (json!({"reply": "x"}), "not the JSON asked for"),
            (
                json!({"reply": "x", "confidence": 0.9, "action": "none", "reason": "", "cited": [], "tag": null, "extra": 1}),
                "not the JSON",
            ),
            (
                json!({"reply": "x", "confidence": 1.5, "action": "none"}),
                "not from 0 to 1",
            ),
            (
                json!({"reply": "x", "confidence": 0.5, "action": "none"}),
                "not sure enough (0.5 below 0.6)",
            ),
            (
                json!({"reply": "x", "confidence": 0.9, "action": "dance"}),
                "unknown action 'dance'",
            ),
            (
                json!({"reply": "x", "confidence": 0.9, "action": "tag"}),
                "with no tag",
            ),
            (
                json!({"reply": " ", "confidence": 0.9, "action": "none"}),
                "reply is empty",
            ),
            (
                json!({"reply": "x", "confidence": 0.9, "action": "none", "cited": ["P2"]}),
                "cites 'P2'",
            ),
        ] {
            let err = check(&reply(content.clone()), &given, 0.6).unwrap_err();
            assert!(err.contains(says), "{content}: {err}");
        }
        // Handing over may come with an empty reply: the fallback holds the customer.
        let handoff = check(
            &reply(json!({"reply": "", "confidence": 0.9, "action": "handoff"})),
            &given,
            0.6,
        );
        assert_eq!(handoff.unwrap().action, ReplyAction::Handoff);
    }
}
