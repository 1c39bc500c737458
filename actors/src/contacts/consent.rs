//! Whether a contact may be sent marketing (broadcasts): opted out by a keyword the
//! customer writes (`STOP` in any language we know), by an agent, or through the API;
//! back in by `START`. The latest change wins, by when it happened.

use crate::Millis;
use crate::domain::text_enum::text_enum;

text_enum!(
    /// Who changed a contact's consent.
    ConsentSource, "a consent source" {
        /// The customer wrote an opt-out or opt-in keyword.
        Keyword => "keyword",
        /// A person of the team, in the inbox.
        Agent => "agent",
        /// An integration, with an API key.
        Api => "api",
    }
);

/// A contact's latest consent change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Consent {
    pub opted_out: bool,
    pub source: ConsentSource,
    pub at: Millis,
}

/// Whole-message keywords that opt a customer out, in the languages the pipeline's
/// lexicons cover (English after the CTIA list that carriers and WhatsApp BSPs use,
/// Spanish, Portuguese, German, French, Italian).
const OPT_OUT_WORDS: &[&str] = &[
    "stop",
    "stopall",
    "unsubscribe",
    "cancel",
    "end",
    "quit",
    "optout",
    "opt out",
    "baja",
    "darme de baja",
    "cancelar",
    "detener",
    "parar",
    "sair",
    "stopp",
    "abmelden",
    "abbestellen",
    "arret",
    "arrêt",
    "desabonner",
    "désabonner",
    "desinscrire",
    "désinscrire",
    "basta",
    "annulla",
    "disiscrivi",
    "cancellami",
];

/// Longer than any keyword with room for spaces and punctuation around it.
const MAX_KEYWORD_BYTES: usize = 32;

/// Whole-message keywords that opt a customer back in.
const OPT_IN_WORDS: &[&str] = &["start", "unstop", "subscribe", "alta", "anmelden"];

/// What a customer's message says about their consent: `Some(true)` opts out,
/// `Some(false)` back in, `None` is any other message. Only a message that is the
/// keyword alone counts (case, spaces and closing punctuation aside), so "please
/// don't stop the delivery" is no opt-out.
pub fn keyword(text: &str) -> Option<bool> {
    // Every inbound message passes here before its ack: anything longer than the
    // longest keyword is decided without allocating.
    if text.trim().len() > MAX_KEYWORD_BYTES {
        return None;
    }
    let word = text
        .trim()
        .trim_end_matches(['.', '!', '?', '¡', '¿'])
        .trim()
        .to_lowercase();
    let word = word.split_whitespace().collect::<Vec<_>>().join(" ");
    if OPT_OUT_WORDS.contains(&word.as_str()) {
        Some(true)
    } else if OPT_IN_WORDS.contains(&word.as_str()) {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_that_is_only_an_opt_out_or_opt_in_keyword_changes_consent() {
        for text in [
            "STOP",
            " stop! ",
            "Stopp",
            "Baja.",
            "darme  de baja",
            "arrêt",
            "Unsubscribe",
        ] {
            assert_eq!(keyword(text), Some(true), "{text}");
        }
        for text in ["START", "unstop", "Subscribe!"] {
            assert_eq!(keyword(text), Some(false), "{text}");
        }
        for text in [
            "please don't stop the delivery",
            "stop it now",
            "",
            "yes",
            "stopped",
        ] {
            assert_eq!(keyword(text), None, "{text}");
        }
    }
}
