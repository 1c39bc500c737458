//! Sentiment of a message, with no model to download and no key. English goes
//! through VADER (`vader-parity`: the published lexicon and rules, scores equal to
//! Python vaderSentiment 3.3.2). Spanish, German, Portuguese and French use the word
//! lists below with VADER's own arithmetic (valences, a negator within three words
//! flips and damps, the same normalisation), so their scores read on the same scale;
//! they are far smaller than VADER's 7,500 entries and say so in docs/architecture.md.
//! Anything else, and a message in those languages without a listed word, falls back
//! to VADER, which still reads emoji, emoticons and English loanwords.

use super::understanding::Urgency;
use super::words::Words;
use crate::domain::text_enum::text_enum;
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;
use vader_parity::SentimentIntensityAnalyzer;

text_enum!(
    /// The label the score falls in.
    SentimentLabel, "a sentiment" {
        Positive => "positive",
        Negative => "negative",
        Neutral => "neutral",
        /// Strong positive and strong negative parts in one message.
        Mixed => "mixed",
    }
);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sentiment {
    pub label: SentimentLabel,
    /// VADER's compound score: -1 (most negative) to 1 (most positive).
    pub score: f64,
    /// Which lexicon produced it: "vader" or the language's code.
    pub lexicon: String,
}

/// VADER's thresholds: a compound beyond ±0.05 is not neutral.
const NEUTRAL_BAND: f64 = 0.05;
/// Positive and negative proportions both at least this make a message mixed.
const MIXED_SHARE: f64 = 0.2;
/// VADER's normalisation constant and its damping of a negated word.
const ALPHA: f64 = 15.0;
const NEGATED: f64 = -0.74;

static VADER: LazyLock<SentimentIntensityAnalyzer> = LazyLock::new(SentimentIntensityAnalyzer::new);

pub fn analyse(text: &str, language: Option<&str>) -> Sentiment {
    if let Some(found) = language.and_then(|code| LEXICONS.iter().find(|l| l.code == code))
        && let Some(sentiment) = found.score(&Words::of(text))
    {
        return sentiment;
    }
    let scores = VADER.polarity_scores(text);
    let label = if scores.pos >= MIXED_SHARE && scores.neg >= MIXED_SHARE {
        SentimentLabel::Mixed
    } else {
        label_of(scores.compound)
    };
    Sentiment {
        label,
        score: scores.compound,
        lexicon: "vader".into(),
    }
}

/// The message's urgency once its tone is known: urgent words said angrily are
/// critical (seed 002's sentiment agent outputs urgency up to "critical").
pub fn urgency(understood: Urgency, sentiment: &Sentiment) -> Urgency {
    match (understood, sentiment.label) {
        (Urgency::High, SentimentLabel::Negative) => Urgency::Critical,
        (urgency, _) => urgency,
    }
}

fn label_of(compound: f64) -> SentimentLabel {
    if compound >= NEUTRAL_BAND {
        SentimentLabel::Positive
    } else if compound <= -NEUTRAL_BAND {
        SentimentLabel::Negative
    } else {
        SentimentLabel::Neutral
    }
}

/// A language's valenced words (VADER's -4..4 scale) and its negators.
struct Lexicon {
    code: &'static str,
    words: &'static [(&'static str, f64)],
    negators: &'static [&'static str],
}

impl Lexicon {
    fn score(&self, words: &Words) -> Option<Sentiment> {
        let tokens = words.tokens();
        let mut sum = 0.0;
        let mut found = false;
        let (mut positive, mut negative) = (false, false);
        for (i, token) in tokens.iter().enumerate() {
            let Some(&(_, valence)) = self.words.iter().find(|(w, _)| w == token) else {
                continue;
            };
            found = true;
            let negated = tokens[i.saturating_sub(3)..i]
                .iter()
                .any(|t| self.negators.contains(&t.as_str()));
            let valence = if negated { valence * NEGATED } else { valence };
            if valence > 0.0 {
                positive = true;
            } else {
                negative = true;
            }
            sum += valence;
        }
        if !found {
            return None;
        }
        let score = ((sum / (sum * sum + ALPHA).sqrt()) * 10_000.0).round() / 10_000.0;
        let label = if positive && negative && score.abs() < 0.5 {
            SentimentLabel::Mixed
        } else {
            label_of(score)
        };
        Some(Sentiment {
            label,
            score,
            lexicon: self.code.into(),
        })
    }
}

const LEXICONS: &[Lexicon] = &[
    Lexicon {
        code: "es",
        negators: &["no", "nunca", "jamas", "ni", "nada", "tampoco"],
        words: &[
            ("bueno", 1.9),
            ("buena", 1.9),
            ("bien", 1.6),
            ("genial", 3.0),
            ("excelente", 3.2),
            ("perfecto", 2.8),
            ("encanta", 3.0),
            ("gusta", 2.0),
            ("gracias", 1.9),
            ("feliz", 2.7),
            ("contento", 2.4),
            ("contenta", 2.4),
            ("rapido", 1.2),
            ("maravilloso", 3.1),
            ("increible", 2.8),
            ("recomiendo", 2.0),
            ("malo", -2.5),
            ("mala", -2.5),
            ("mal", -2.1),
            ("terrible", -3.1),
            ("horrible", -3.1),
            ("pesimo", -3.2),
            ("peor", -2.6),
            ("odio", -3.2),
            ("enfadado", -2.4),
            ("enojado", -2.4),
            ("molesto", -2.0),
            ("decepcionado", -2.4),
            ("decepcion", -2.4),
            ("estafa", -3.0),
            ("queja", -1.8),
            ("roto", -1.9),
            ("tarde", -0.9),
            ("inaceptable", -2.8),
            ("problema", -1.7),
        ],
    },
    Lexicon {
        code: "de",
        negators: &[
            "nicht", "kein", "keine", "keinen", "keiner", "nie", "niemals",
        ],
        words: &[
            ("gut", 1.9),
            ("super", 2.9),
            ("toll", 2.8),
            ("prima", 2.5),
            ("klasse", 2.5),
            ("perfekt", 2.8),
            ("danke", 1.9),
            ("zufrieden", 2.2),
            ("freue", 2.4),
            ("liebe", 3.0),
            ("schnell", 1.2),
            ("wunderbar", 3.1),
            ("hervorragend", 3.2),
            ("empfehle", 2.0),
            ("schlecht", -2.5),
            ("schrecklich", -3.1),
            ("furchtbar", -3.1),
            ("mies", -2.6),
            ("hasse", -3.2),
            ("wutend", -2.8),
            ("verargert", -2.4),
            ("enttauscht", -2.4),
            ("enttauschung", -2.4),
            ("betrug", -3.0),
            ("beschwerde", -1.8),
            ("kaputt", -2.0),
            ("defekt", -2.0),
            ("unverschamt", -2.8),
            ("inakzeptabel", -2.8),
            ("problem", -1.7),
            ("argerlich", -2.2),
        ],
    },
    Lexicon {
        code: "pt",
        negators: &["nao", "nunca", "jamais", "nem", "nada"],
        words: &[
            ("bom", 1.9),
            ("boa", 1.9),
            ("otimo", 3.0),
            ("otima", 3.0),
            ("excelente", 3.2),
            ("perfeito", 2.8),
            ("adoro", 3.0),
            ("gosto", 2.0),
            ("obrigado", 1.9),
            ("obrigada", 1.9),
            ("feliz", 2.7),
            ("satisfeito", 2.2),
            ("rapido", 1.2),
            ("maravilhoso", 3.1),
            ("recomendo", 2.0),
            ("ruim", -2.5),
            ("pessimo", -3.2),
            ("horrivel", -3.1),
            ("terrivel", -3.1),
            ("pior", -2.6),
            ("odeio", -3.2),
            ("irritado", -2.4),
            ("chateado", -2.2),
            ("decepcionado", -2.4),
            ("golpe", -3.0),
            ("reclamacao", -1.8),
            ("quebrado", -1.9),
            ("atrasado", -1.5),
            ("inaceitavel", -2.8),
            ("problema", -1.7),
        ],
    },
    Lexicon {
        code: "fr",
        negators: &["pas", "jamais", "plus", "aucun", "aucune", "ni", "rien"],
        words: &[
            ("bon", 1.9),
            ("bonne", 1.9),
            ("bien", 1.6),
            ("super", 2.9),
            ("genial", 3.0),
            ("excellent", 3.2),
            ("parfait", 2.8),
            ("adore", 3.0),
            ("aime", 2.2),
            ("merci", 1.9),
            ("content", 2.4),
            ("contente", 2.4),
            ("heureux", 2.7),
            ("rapide", 1.2),
            ("formidable", 3.1),
            ("recommande", 2.0),
            ("mauvais", -2.5),
            ("mauvaise", -2.5),
            ("nul", -2.6),
            ("horrible", -3.1),
            ("terrible", -3.1),
            ("pire", -2.6),
            ("deteste", -3.2),
            ("furieux", -2.9),
            ("fache", -2.4),
            ("decu", -2.4),
            ("decue", -2.4),
            ("arnaque", -3.0),
            ("plainte", -1.8),
            ("casse", -1.9),
            ("inacceptable", -2.8),
            ("probleme", -1.7),
        ],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    fn of(text: &str, language: &str) -> Sentiment {
        analyse(text, Some(language))
    }

    #[test]
    fn english_is_scored_by_vader() {
        let happy = of(
            "Thanks so much, the delivery was fast and the shoes are great!",
            "en",
        );
        assert_eq!(happy.label, SentimentLabel::Positive);
        assert!(happy.score > 0.8, "{happy:?}");
        assert_eq!(happy.lexicon, "vader");
        let angry = of(
            "This is terrible. The order arrived broken and nobody answers.",
            "en",
        );
        assert_eq!(angry.label, SentimentLabel::Negative);
        assert!(angry.score < -0.5, "{angry:?}");
        let flat = of("What time do you open on Saturday?", "en");
        assert_eq!(flat.label, SentimentLabel::Neutral);
        assert_eq!(flat.score, 0.0);
        assert_eq!(
            of("The product is not good", "en").label,
            SentimentLabel::Negative
        );
    }

    #[test]
    fn spanish_german_portuguese_and_french_use_their_own_words_and_negators() {
        let cases = [
            (
                "Muchas gracias, el servicio fue excelente",
                "es",
                SentimentLabel::Positive,
            ),
            (
                "El pedido llegó roto, es una estafa",
                "es",
                SentimentLabel::Negative,
            ),
            ("El producto no es bueno", "es", SentimentLabel::Negative),
            (
                "Danke, das war wirklich super",
                "de",
                SentimentLabel::Positive,
            ),
            (
                "Ich bin sehr enttäuscht, das Gerät ist kaputt",
                "de",
                SentimentLabel::Negative,
            ),
            ("Das ist nicht gut", "de", SentimentLabel::Negative),
            (
                "Obrigada, o atendimento foi ótimo",
                "pt",
                SentimentLabel::Positive,
            ),
            (
                "Péssimo serviço, estou muito chateado",
                "pt",
                SentimentLabel::Negative,
            ),
            ("Merci, c'est parfait", "fr", SentimentLabel::Positive),
            (
                "Ce n'est pas bon du tout, je suis déçu",
                "fr",
                SentimentLabel::Negative,
            ),
        ];
        for (text, language, label) in cases {
            let found = of(text, language);
            assert_eq!(found.label, label, "{text}: {found:?}");
            assert_eq!(found.lexicon, language);
        }
    }

    #[test]
    fn urgent_words_said_angrily_are_critical() {
        let angry = of("This is terrible, I need it fixed today", "en");
        assert_eq!(urgency(Urgency::High, &angry), Urgency::Critical);
        let calm = of("I need it today, thanks", "en");
        assert_eq!(urgency(Urgency::High, &calm), Urgency::High);
        assert_eq!(urgency(Urgency::Low, &angry), Urgency::Low);
    }

    #[test]
    fn without_a_listed_word_the_emoji_still_count() {
        let found = of("Hola 😠😠", "es");
        assert_eq!(found.lexicon, "vader");
        assert_eq!(found.label, SentimentLabel::Negative);
    }
}
