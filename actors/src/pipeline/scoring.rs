//! Lead scoring, seed 002's weighted table exactly: every line is a signal worth its
//! points, the score is their sum held to 0..=100, and the temperature is HOT from
//! 70, WARM from 40, COLD below. A conversation keeps the signals its customer has
//! shown (each counts once), while sentiment counts for the latest message only and
//! engagement for the number of messages so far. Every score carries its reasons.

use super::guardrail::{Guard, GuardFlag};
use super::sentiment::{Sentiment, SentimentLabel};
use super::understanding::{self as intents, Understanding};
use crate::domain::text_enum::text_enum;
use serde::{Deserialize, Serialize};

text_enum!(
    /// A line of the scoring table.
    LeadSignal, "a lead signal" {
        PricingOrBuying => "pricing_or_buying",
        Availability => "availability",
        DemoOrTrial => "demo_or_trial",
        RepeatEngagement => "repeat_engagement",
        PositiveSentiment => "positive_sentiment",
        UrgencyLanguage => "urgency_language",
        ProductInquiry => "product_inquiry",
        Features => "features",
        FirstEngagementWithInterest => "first_engagement_with_interest",
        FollowsSubscribes => "follows_subscribes",
        Greeting => "greeting",
        UnrelatedQuestion => "unrelated_question",
        Spam => "spam",
        NegativeSentiment => "negative_sentiment",
        NotInterested => "not_interested",
    }
);

impl LeadSignal {
    /// The table's points.
    pub fn points(self) -> i32 {
        match self {
            LeadSignal::PricingOrBuying => 30,
            LeadSignal::Availability => 20,
            LeadSignal::DemoOrTrial => 15,
            LeadSignal::RepeatEngagement => 10,
            LeadSignal::PositiveSentiment => 10,
            LeadSignal::UrgencyLanguage => 15,
            LeadSignal::ProductInquiry => 20,
            LeadSignal::Features => 15,
            LeadSignal::FirstEngagementWithInterest => 10,
            LeadSignal::FollowsSubscribes => 10,
            LeadSignal::Greeting => 10,
            LeadSignal::UnrelatedQuestion => 5,
            LeadSignal::Spam => 0,
            LeadSignal::NegativeSentiment => -10,
            LeadSignal::NotInterested => -20,
        }
    }

    /// Signals that describe the latest message only, not the conversation.
    fn of_the_moment(self) -> bool {
        matches!(
            self,
            LeadSignal::PositiveSentiment
                | LeadSignal::NegativeSentiment
                | LeadSignal::RepeatEngagement
                | LeadSignal::FirstEngagementWithInterest
        )
    }
}

text_enum!(
    Temperature, "a lead temperature" {
        Hot => "hot",
        Warm => "warm",
        Cold => "cold",
    }
);

impl Temperature {
    pub fn of(score: u8) -> Self {
        match score {
            70.. => Temperature::Hot,
            40..=69 => Temperature::Warm,
            _ => Temperature::Cold,
        }
    }
}

/// A line that counted, with what in the conversation made it count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    pub signal: LeadSignal,
    pub points: i32,
    pub evidence: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeadScore {
    pub score: u8,
    pub temperature: Temperature,
    pub reasons: Vec<Reason>,
}

impl LeadScore {
    /// A conversation nothing has been scored in yet.
    pub fn none() -> Self {
        Self {
            score: 0,
            temperature: Temperature::Cold,
            reasons: Vec::new(),
        }
    }
}

/// What one customer message adds.
pub struct Scored<'a> {
    pub guard: &'a Guard,
    pub understanding: &'a Understanding,
    pub sentiment: &'a Sentiment,
    /// The customer's messages in the conversation, this one included.
    pub inbound_count: u32,
}

/// The conversation's new score: `before`'s lasting reasons, then this message's.
pub fn score(before: &LeadScore, message: &Scored) -> LeadScore {
    let mut reasons: Vec<Reason> = before
        .reasons
        .iter()
        .filter(|r| !r.signal.of_the_moment())
        .cloned()
        .collect();
    for (signal, evidence) in signals(message) {
        if !reasons.iter().any(|r| r.signal == signal) {
            reasons.push(Reason {
                signal,
                points: signal.points(),
                evidence,
            });
        }
    }
    let total: i32 = reasons.iter().map(|r| r.points).sum();
    let score = u8::try_from(total.clamp(0, 100)).unwrap_or(0);
    LeadScore {
        score,
        temperature: Temperature::of(score),
        reasons,
    }
}

fn signals(message: &Scored) -> Vec<(LeadSignal, String)> {
    let u = message.understanding;
    let evidence = |intent: &str| {
        u.signals
            .iter()
            .find(|s| s.intent == intent)
            .map(|s| s.evidence.clone())
    };
    let mut found = Vec::new();
    for (intent, signal) in [
        (intents::PRICING, LeadSignal::PricingOrBuying),
        (intents::AVAILABILITY, LeadSignal::Availability),
        (intents::DEMO, LeadSignal::DemoOrTrial),
        (intents::PRODUCT_INQUIRY, LeadSignal::ProductInquiry),
        (intents::FEATURES, LeadSignal::Features),
        (intents::SUBSCRIBE, LeadSignal::FollowsSubscribes),
        (intents::GREETING, LeadSignal::Greeting),
        (intents::NOT_INTERESTED, LeadSignal::NotInterested),
    ] {
        if let Some(words) = evidence(intent) {
            found.push((signal, words));
        }
    }
    if let Some(words) = &u.urgent_words {
        found.push((LeadSignal::UrgencyLanguage, words.clone()));
    }
    if u.intent == intents::QUESTION {
        found.push((
            LeadSignal::UnrelatedQuestion,
            "a question about something else".into(),
        ));
    }
    let interested = found.iter().any(|(s, _)| {
        matches!(
            s,
            LeadSignal::PricingOrBuying
                | LeadSignal::Availability
                | LeadSignal::DemoOrTrial
                | LeadSignal::ProductInquiry
                | LeadSignal::Features
        )
    });
    if message.inbound_count >= 3 {
        found.push((
            LeadSignal::RepeatEngagement,
            format!("{} messages", message.inbound_count),
        ));
    } else if message.inbound_count == 1 && interested {
        found.push((
            LeadSignal::FirstEngagementWithInterest,
            "first message".into(),
        ));
    }
    let sentiment = message.sentiment;
    match sentiment.label {
        SentimentLabel::Positive => found.push((
            LeadSignal::PositiveSentiment,
            format!("sentiment {:+.2}", sentiment.score),
        )),
        SentimentLabel::Negative => found.push((
            LeadSignal::NegativeSentiment,
            format!("sentiment {:+.2}", sentiment.score),
        )),
        SentimentLabel::Neutral | SentimentLabel::Mixed => {}
    }
    if let Some(flag) = message
        .guard
        .flags
        .iter()
        .find(|f| matches!(f, GuardFlag::Spam | GuardFlag::RepeatedMessage))
    {
        found.push((LeadSignal::Spam, flag.as_str().into()));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::super::{guardrail, sentiment, understanding};
    use super::*;

    /// Scores a customer's messages in order, as a conversation would.
    fn conversation(messages: &[&str]) -> LeadScore {
        let mut score_now = LeadScore::none();
        let mut earlier: Vec<&str> = Vec::new();
        for (i, text) in messages.iter().enumerate() {
            let guard = guardrail::check(text, &earlier);
            let understanding = understanding::understand(text, &[]);
            let language = understanding.language.as_ref().map(|l| l.code.clone());
            let sentiment = sentiment::analyse(text, language.as_deref());
            score_now = score(
                &score_now,
                &Scored {
                    guard: &guard,
                    understanding: &understanding,
                    sentiment: &sentiment,
                    inbound_count: u32::try_from(i + 1).unwrap(),
                },
            );
            earlier.insert(0, text);
        }
        score_now
    }

    fn lines(score: &LeadScore) -> Vec<(LeadSignal, i32)> {
        score.reasons.iter().map(|r| (r.signal, r.points)).collect()
    }

    #[test]
    fn each_line_of_the_table_is_worth_its_points() {
        use LeadSignal::*;
        // The greeting's own line, alone.
        assert_eq!(lines(&conversation(&["Hello"])), [(Greeting, 10)]);
        // Pricing, with a first message that shows interest.
        assert_eq!(
            lines(&conversation(&["What does the Pro plan cost"])),
            [(PricingOrBuying, 30), (FirstEngagementWithInterest, 10)]
        );
        assert_eq!(
            lines(&conversation(&["Is the blue one in stock"])),
            [(Availability, 20), (FirstEngagementWithInterest, 10)]
        );
        assert_eq!(
            lines(&conversation(&["Can I get a demo"])),
            [(DemoOrTrial, 15), (FirstEngagementWithInterest, 10)]
        );
        assert_eq!(
            lines(&conversation(&["Tell me about your products"])),
            [(ProductInquiry, 20), (FirstEngagementWithInterest, 10)]
        );
        assert_eq!(
            lines(&conversation(&["Which features come with it"])),
            [(Features, 15), (FirstEngagementWithInterest, 10)]
        );
        assert_eq!(
            lines(&conversation(&["I subscribed to your newsletter"])),
            [(FollowsSubscribes, 10)]
        );
        assert_eq!(
            lines(&conversation(&["I need it"])),
            [(UrgencyLanguage, 15)]
        );
        assert_eq!(
            lines(&conversation(&["Where is the parking lot?"])),
            [(UnrelatedQuestion, 5)]
        );
        assert_eq!(
            lines(&conversation(&["Remove me from the list"])),
            [(NotInterested, -20)]
        );
        assert!(
            lines(&conversation(&["ok", "ok"])).contains(&(Spam, 0)),
            "the same text again is spam, worth nothing"
        );
        let engaged = conversation(&["hmm", "and", "so"]);
        assert_eq!(lines(&engaged), [(RepeatEngagement, 10)]);
        assert_eq!(engaged.reasons[0].evidence, "3 messages");
        let glad = conversation(&["I love it, wonderful work"]);
        assert_eq!(lines(&glad), [(PositiveSentiment, 10)]);
        assert_eq!(
            lines(&conversation(&["Your product is awful and I hate it"])),
            [
                (ProductInquiry, 20),
                (FirstEngagementWithInterest, 10),
                (NegativeSentiment, -10)
            ]
        );
    }

    #[test]
    fn a_buyer_in_a_hurry_is_hot_with_every_reason_listed() {
        let hot = conversation(&[
            "Hi, how much is the Pro plan? Is it available? I need it today, thanks!",
        ]);
        assert_eq!(hot.temperature, Temperature::Hot);
        assert_eq!(
            lines(&hot),
            [
                (LeadSignal::PricingOrBuying, 30),
                (LeadSignal::Availability, 20),
                (LeadSignal::Greeting, 10),
                (LeadSignal::UrgencyLanguage, 15),
                (LeadSignal::FirstEngagementWithInterest, 10),
                (LeadSignal::PositiveSentiment, 10),
            ]
        );
        assert_eq!(hot.score, 95);
        assert_eq!(hot.reasons[0].evidence, "how much");
        assert_eq!(hot.reasons[3].evidence, "today");
    }

    #[test]
    fn the_same_buyer_in_spanish_is_hot_too() {
        let hot = conversation(&[
            "Hola, ¿cuánto cuesta el plan Pro? ¿Está disponible? Lo necesito hoy, gracias",
        ]);
        assert_eq!(hot.temperature, Temperature::Hot);
        assert_eq!(hot.reasons[0].evidence, "cuanto cuesta");
        assert_eq!(hot.score, 95);
    }

    #[test]
    fn an_inquiry_is_warm_and_a_refusal_later_cools_it() {
        let warm = conversation(&["Hello, tell me about your products"]);
        assert_eq!((warm.score, warm.temperature), (40, Temperature::Warm));
        let cooled = conversation(&[
            "Hello, tell me about your products",
            "No thanks, not interested",
        ]);
        assert_eq!(cooled.temperature, Temperature::Cold);
        // VADER reads "not interested" as negative too: both lines count.
        assert_eq!(
            lines(&cooled),
            [
                (LeadSignal::ProductInquiry, 20),
                (LeadSignal::Greeting, 10),
                (LeadSignal::NotInterested, -20),
                (LeadSignal::NegativeSentiment, -10),
            ]
        );
        assert_eq!(cooled.score, 0);
    }

    #[test]
    fn the_score_stays_between_0_and_100() {
        let floor = conversation(&["No me interesa, es una estafa horrible"]);
        assert_eq!(floor.score, 0);
        assert_eq!(floor.temperature, Temperature::Cold);
        assert_eq!(Temperature::of(100), Temperature::Hot);
        assert_eq!(Temperature::of(70), Temperature::Hot);
        assert_eq!(Temperature::of(69), Temperature::Warm);
        assert_eq!(Temperature::of(40), Temperature::Warm);
        assert_eq!(Temperature::of(39), Temperature::Cold);
    }
}
