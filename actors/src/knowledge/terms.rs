//! The words of a question that are worth looking up: folded like the indexed text,
//! without the small words every passage has (in the languages the pipeline reads:
//! English, Spanish, Portuguese), a plural's `s` dropped and matched as a prefix, so
//! "refunds" finds "refund" and "refunded".
//!
//! Terms are letters and digits only, so they can be written into FTS5 and tsquery
//! syntax without escaping anything.

use crate::pipeline::words::Words;

/// At most this many terms are looked up: a long message's first words say enough.
const MAX_TERMS: usize = 16;

/// Terms of at least this many characters also match longer words that start with them.
const PREFIX_FROM: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchTerms {
    terms: Vec<Term>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub word: String,
    pub prefix: bool,
}

impl SearchTerms {
    /// `None` when the text has nothing to look up.
    pub fn of(text: &str) -> Option<Self> {
        let mut terms: Vec<Term> = Vec::new();
        for word in Words::of(text).tokens() {
            if word.chars().count() < 2 && !word.chars().all(|c| c.is_ascii_digit()) {
                continue;
            }
            if STOP_WORDS.binary_search(&word.as_str()).is_ok() {
                continue;
            }
            let stem = match word.strip_suffix('s') {
                Some(stem) if stem.chars().count() >= PREFIX_FROM && !stem.ends_with('s') => stem,
                _ => word.as_str(),
            };
            let term = Term {
                word: stem.to_owned(),
                prefix: stem.chars().count() >= PREFIX_FROM,
            };
            if !terms.contains(&term) {
                terms.push(term);
            }
            if terms.len() == MAX_TERMS {
                break;
            }
        }
        (!terms.is_empty()).then_some(Self { terms })
    }

    pub fn terms(&self) -> &[Term] {
        &self.terms
    }
}

/// Folded, sorted (for the binary search): the words that carry no subject.
const STOP_WORDS: &[&str] = &[
    "a", "about", "ao", "aos", "are", "as", "at", "be", "by", "can", "como", "could", "da", "das",
    "de", "del", "do", "does", "dos", "e", "el", "em", "en", "es", "esta", "este", "eu", "for",
    "from", "have", "how", "i", "if", "in", "is", "isso", "it", "la", "las", "lo", "los", "me",
    "mi", "my", "na", "nas", "no", "nos", "o", "of", "on", "or", "os", "para", "please", "por",
    "pra", "que", "se", "so", "su", "tem", "tengo", "that", "the", "there", "this", "to", "um",
    "uma", "un", "una", "uno", "us", "was", "we", "what", "when", "where", "which", "who", "why",
    "will", "with", "would", "y", "yo", "you", "your",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<(String, bool)> {
        SearchTerms::of(text)
            .map(|t| {
                t.terms()
                    .iter()
                    .map(|t| (t.word.clone(), t.prefix))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn the_stop_word_list_is_sorted_and_folded() {
        let mut sorted = STOP_WORDS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, STOP_WORDS);
        assert!(
            STOP_WORDS
                .iter()
                .all(|w| crate::pipeline::words::fold(w) == *w)
        );
    }

    #[test]
    fn a_question_keeps_its_subject_words_folded_with_plurals_as_prefixes() {
        assert_eq!(
            words("What is the price of the Pro plan? Do you ship to Lisboa in 2 days?"),
            [
                ("price", true),
                ("pro", false),
                ("plan", true),
                ("ship", true),
                ("lisboa", true),
                ("2", false),
                ("days", true),
            ]
            .map(|(w, p)| (w.to_owned(), p))
        );
        assert_eq!(
            words("¿Cuánto cuestan los envíos?"),
            [("cuanto", true), ("cuestan", true), ("envio", true)].map(|(w, p)| (w.to_owned(), p))
        );
        assert_eq!(words("refunds refund"), [("refund".to_owned(), true)]);
        assert_eq!(
            words("address class"),
            [("address".to_owned(), true), ("class".to_owned(), true)]
        );
    }

    #[test]
    fn small_talk_has_nothing_to_look_up_and_long_text_is_capped() {
        assert_eq!(SearchTerms::of("is it? to you, a ..."), None);
        let long: String = (0..40).map(|i| format!("word{i} ")).collect();
        assert_eq!(
            SearchTerms::of(&long).map(|t| t.terms().len()),
            Some(MAX_TERMS)
        );
    }
}
