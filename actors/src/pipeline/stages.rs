//! The stages of one node, each a supervised actor (`stage.rs`) on the pipeline's
//! own arbiter, and what a customer message goes through: guardrail, understanding,
//! sentiment, lead scoring, handoff evaluation, in that order. A stage that fails
//! gives its fallback (seed 002's failure handling) and is recorded as skipped.

use super::guardrail::{self, Guard};
use super::handoff::{self, Facts, HandoffRules, HandoffState, HandoffTrigger};
use super::model;
use super::observe::PipelineObserver;
use super::scoring::{self, LeadScore, Scored, Temperature};
use super::sentiment::{self, Sentiment, SentimentLabel};
use super::settings::TenantRules;
use super::stage::{Stage, Work};
use super::store::{Analysis, Counts, Lead, Skipped};
use super::understanding::{self, IntentRule, Understanding, Urgency};
use crate::llm::{ChatReply, ChatRequest, LlmFailure, LlmProvider, UnderstandingModel};
use crate::{ConversationId, Millis};
use actix::ArbiterHandle;
use futures_util::FutureExt;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct StageSettings {
    pub deadline: Duration,
    /// The model stage's deadline: a model answers in seconds, rules in microseconds.
    pub model_deadline: Duration,
    pub mailbox: usize,
}

/// What a tenant's messages are judged with, read once per drain.
pub struct Judging {
    pub rules: TenantRules,
    pub model: Option<ModelJudging>,
}

pub struct ModelJudging {
    pub model: UnderstandingModel,
    /// The intents the model may answer with (`model::intents`).
    pub intents: Vec<String>,
}

impl Judging {
    pub fn new(rules: TenantRules, model: Option<UnderstandingModel>) -> Self {
        let model = model.map(|model| ModelJudging {
            intents: model::intents(&rules.intents),
            model,
        });
        Self { rules, model }
    }
}

/// A message as the stages read it.
#[derive(Clone)]
pub struct Incoming {
    pub conversation_id: ConversationId,
    pub text: String,
    /// The conversation's tags (a "vip" tag marks a VIP contact).
    pub vip: bool,
    pub offset: i64,
    pub at: Millis,
}

struct ToScore {
    before: LeadScore,
    analysis: Analysis,
    inbound: u32,
}

struct ToJudge {
    text: String,
    analysis: Analysis,
    temperature: (Temperature, Temperature),
    negative_streak: u32,
    same_text_streak: u32,
    vip: bool,
    state: HandoffState,
    rules: HandoffRules,
}

#[derive(Clone)]
pub struct Stages {
    guardrail: Stage<(String, Option<String>), Guard>,
    understanding: Stage<(String, Arc<Vec<IntentRule>>), Understanding>,
    model: Stage<(Arc<dyn LlmProvider>, ChatRequest), Result<ChatReply, LlmFailure>>,
    sentiment: Stage<(String, Option<String>), Sentiment>,
    scoring: Stage<ToScore, LeadScore>,
    handoff: Stage<ToJudge, Option<HandoffTrigger>>,
}

fn rules<I, O>(f: impl Fn(I) -> O + Send + Sync + 'static) -> Work<I, O>
where
    I: Send + 'static,
    O: Send + 'static,
{
    let f = Arc::new(f);
    Arc::new(move |input| {
        let f = f.clone();
        async move { f(input) }.boxed()
    })
}

impl Stages {
    pub fn start(
        arbiter: &ArbiterHandle,
        settings: StageSettings,
        observer: Arc<dyn PipelineObserver>,
    ) -> Self {
        let StageSettings {
            deadline,
            model_deadline,
            mailbox,
        } = settings;
        Self {
            guardrail: Stage::start(
                "guardrail",
                arbiter,
                mailbox,
                deadline,
                rules(|(text, earlier): (String, Option<String>)| {
                    let earlier: Vec<&str> = earlier.iter().map(String::as_str).collect();
                    guardrail::check(&text, &earlier)
                }),
                observer.clone(),
            ),
            understanding: Stage::start(
                "understanding",
                arbiter,
                mailbox,
                deadline,
                rules(|(text, own): (String, Arc<Vec<IntentRule>>)| {
                    understanding::understand(&text, &own)
                }),
                observer.clone(),
            ),
            model: Stage::start(
                "model",
                arbiter,
                mailbox,
                model_deadline,
                Arc::new(|(provider, request): (Arc<dyn LlmProvider>, ChatRequest)| {
                    async move { provider.chat(request).await }.boxed()
                }),
                observer.clone(),
            ),
            sentiment: Stage::start(
                "sentiment",
                arbiter,
                mailbox,
                deadline,
                rules(|(text, language): (String, Option<String>)| {
                    sentiment::analyse(&text, language.as_deref())
                }),
                observer.clone(),
            ),
            scoring: Stage::start(
                "lead_scoring",
                arbiter,
                mailbox,
                deadline,
                rules(|s: ToScore| {
                    scoring::score(
                        &s.before,
                        &Scored {
                            guard: &s.analysis.guard,
                            understanding: &s.analysis.understanding,
                            sentiment: &s.analysis.sentiment,
                            inbound_count: s.inbound,
                        },
                    )
                }),
                observer.clone(),
            ),
            handoff: Stage::start(
                "handoff",
                arbiter,
                mailbox,
                deadline,
                rules(|j: ToJudge| {
                    handoff::evaluate(
                        &j.rules,
                        j.state,
                        &Facts {
                            text: &j.text,
                            guard: &j.analysis.guard,
                            understanding: &j.analysis.understanding,
                            sentiment: &j.analysis.sentiment,
                            temperature: j.temperature,
                            negative_streak: j.negative_streak,
                            same_text_streak: j.same_text_streak,
                            vip: j.vip,
                        },
                    )
                }),
                observer.clone(),
            ),
        }
    }

    /// How many times each stage has been started afresh, by name.
    pub fn restarts(&self) -> [(&'static str, u64); 6] {
        [
            (self.guardrail.name(), self.guardrail.restarts()),
            (self.understanding.name(), self.understanding.restarts()),
            (self.model.name(), self.model.restarts()),
            (self.sentiment.name(), self.sentiment.restarts()),
            (self.scoring.name(), self.scoring.restarts()),
            (self.handoff.name(), self.handoff.restarts()),
        ]
    }

    /// Runs a message through every stage; `before` is its conversation's lead.
    pub async fn process(
        &self,
        message: &Incoming,
        before: &Lead,
        judging: &Judging,
    ) -> (Analysis, Lead) {
        let mut skipped = Vec::new();
        let mut fallback = |stage: &'static str, reason: String| {
            skipped.push(Skipped {
                stage: stage.into(),
                reason,
            })
        };
        let text = message.text.clone();
        let guard = match self
            .guardrail
            .run((text.clone(), before.counts.last_text.clone()))
            .await
        {
            Ok(guard) => guard,
            Err(reason) => {
                fallback("guardrail", reason.to_string());
                Guard::skipped()
            }
        };
        let understanding = match self
            .understanding
            .run((text.clone(), judging.rules.intents.clone()))
            .await
        {
            Ok(understanding) => understanding,
            Err(reason) => {
                fallback("understanding", reason.to_string());
                not_understood(&text)
            }
        };
        let understanding = match &judging.model {
            Some(m) if understanding.confidence < m.model.below_confidence => {
                let asked = self
                    .model
                    .run((m.model.provider.clone(), model::request(&text, &m.intents)))
                    .await;
                let answer = match asked {
                    Ok(Ok(reply)) => model::check(&reply, &m.intents),
                    Ok(Err(failure)) => Err(failure.to_string()),
                    Err(reason) => Err(reason.to_string()),
                };
                match answer {
                    Ok(answer) => model::merge(understanding, answer),
                    Err(reason) => {
                        // The rules' understanding stands.
                        fallback("model", reason);
                        understanding
                    }
                }
            }
            _ => understanding,
        };
        let language = understanding.language.as_ref().map(|l| l.code.clone());
        let sentiment = match self.sentiment.run((text.clone(), language)).await {
            Ok(sentiment) => sentiment,
            Err(reason) => {
                fallback("sentiment", reason.to_string());
                neutral()
            }
        };
        let mut analysis = Analysis {
            guard,
            understanding,
            sentiment,
            skipped: Vec::new(),
        };
        let counts = next_counts(&before.counts, &text, analysis.sentiment.label);
        let score = match self
            .scoring
            .run(ToScore {
                before: before.score.clone(),
                analysis: analysis.clone(),
                inbound: counts.inbound,
            })
            .await
        {
            Ok(score) => score,
            Err(reason) => {
                fallback("lead_scoring", reason.to_string());
                before.score.clone()
            }
        };
        let trigger = match self
            .handoff
            .run(ToJudge {
                text,
                analysis: analysis.clone(),
                temperature: (before.score.temperature, score.temperature),
                negative_streak: counts.negative_streak,
                same_text_streak: counts.same_text_streak,
                vip: message.vip,
                state: before.handoff,
                rules: judging.rules.handoff.clone(),
            })
            .await
        {
            Ok(trigger) => trigger,
            Err(reason) => {
                fallback("handoff", reason.to_string());
                None
            }
        };
        analysis.skipped = skipped;
        let lead = Lead {
            conversation_id: message.conversation_id,
            score,
            sentiment: Some(analysis.sentiment.label),
            urgency: sentiment::urgency(analysis.understanding.urgency, &analysis.sentiment),
            handoff: if trigger.is_some() {
                HandoffState::PendingHuman
            } else {
                before.handoff
            },
            trigger: trigger.or(before.trigger),
            handoff_at: if trigger.is_some() {
                Some(message.at)
            } else {
                before.handoff_at
            },
            counts,
            scored_offset: message.offset,
            updated_at: message.at,
        };
        (analysis, lead)
    }
}

/// The counts after one more customer message.
fn next_counts(before: &Counts, text: &str, label: SentimentLabel) -> Counts {
    let same = before
        .last_text
        .as_deref()
        .is_some_and(|last| last.trim().eq_ignore_ascii_case(text.trim()));
    Counts {
        inbound: before.inbound + 1,
        negative_streak: if label == SentimentLabel::Negative {
            before.negative_streak + 1
        } else {
            0
        },
        same_text_streak: if same { before.same_text_streak + 1 } else { 1 },
        last_text: Some(text.to_owned()),
    }
}

/// Seed 002: understanding that failed leaves the raw text and no intent.
fn not_understood(text: &str) -> Understanding {
    Understanding {
        language: None,
        intent: understanding::OTHER.into(),
        confidence: 0.0,
        signals: Vec::new(),
        entities: Vec::new(),
        is_question: text.contains('?'),
        urgency: Urgency::Medium,
        urgent_words: None,
        model: None,
    }
}

/// Seed 002: sentiment that failed is neutral.
fn neutral() -> Sentiment {
    Sentiment {
        label: SentimentLabel::Neutral,
        score: 0.0,
        lexicon: "none".into(),
    }
}
