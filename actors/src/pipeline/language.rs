//! The language of a message, by `whatlang`'s trigram model (69 languages, built into
//! the crate). Short messages are often unreliable; the confidence says how much to
//! trust it, and the other stages match their phrase lists in every language anyway.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Language {
    /// ISO 639-1 where the language has one ("en", "es"), else ISO 639-3.
    pub code: String,
    /// 0 to 1, as the model rates its guess.
    pub confidence: f64,
    /// Whether the model considers the guess reliable.
    pub reliable: bool,
}

pub fn detect(text: &str) -> Option<Language> {
    let info = whatlang::detect(text)?;
    Some(Language {
        code: iso_639_1(info.lang().code()).to_owned(),
        confidence: (info.confidence() * 100.0).round() / 100.0,
        reliable: info.is_reliable(),
    })
}

/// ISO 639-3 to 639-1 for the languages that have a two-letter code.
fn iso_639_1(code: &'static str) -> &'static str {
    match code {
        "afr" => "af",
        "aka" => "ak",
        "amh" => "am",
        "ara" => "ar",
        "aze" => "az",
        "bel" => "be",
        "ben" => "bn",
        "bul" => "bg",
        "cat" => "ca",
        "ces" => "cs",
        "cmn" => "zh",
        "dan" => "da",
        "deu" => "de",
        "ell" => "el",
        "eng" => "en",
        "epo" => "eo",
        "est" => "et",
        "fin" => "fi",
        "fra" => "fr",
        "guj" => "gu",
        "heb" => "he",
        "hin" => "hi",
        "hrv" => "hr",
        "hun" => "hu",
        "hye" => "hy",
        "ind" => "id",
        "ita" => "it",
        "jav" => "jv",
        "jpn" => "ja",
        "kan" => "kn",
        "kat" => "ka",
        "khm" => "km",
        "kor" => "ko",
        "lat" => "la",
        "lav" => "lv",
        "lit" => "lt",
        "mal" => "ml",
        "mar" => "mr",
        "mkd" => "mk",
        "mya" => "my",
        "nep" => "ne",
        "nld" => "nl",
        "nob" => "nb",
        "ori" => "or",
        "pan" => "pa",
        "pes" => "fa",
        "pol" => "pl",
        "por" => "pt",
        "ron" => "ro",
        "rus" => "ru",
        "sin" => "si",
        "slk" => "sk",
        "slv" => "sl",
        "sna" => "sn",
        "spa" => "es",
        "srp" => "sr",
        "swe" => "sv",
        "tam" => "ta",
        "tel" => "te",
        "tgl" => "tl",
        "tha" => "th",
        "tuk" => "tk",
        "tur" => "tr",
        "ukr" => "uk",
        "urd" => "ur",
        "uzb" => "uz",
        "vie" => "vi",
        "yid" => "yi",
        "zul" => "zu",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_sentences_are_recognised_in_their_language() {
        for (text, code) in [
            (
                "Hello, how much does the premium plan cost per month?",
                "en",
            ),
            (
                "Hola, ¿cuánto cuesta el plan premium al mes? Lo necesito hoy.",
                "es",
            ),
            (
                "Guten Tag, ich möchte wissen, was das Premium-Paket im Monat kostet.",
                "de",
            ),
            ("Bom dia, quanto custa o plano premium por mês?", "pt"),
            (
                "Bonjour, combien coûte l'abonnement premium par mois ?",
                "fr",
            ),
        ] {
            let found = detect(text).unwrap();
            assert_eq!(found.code, code, "{text}");
            assert!(found.confidence > 0.0 && found.confidence <= 1.0);
        }
    }

    #[test]
    fn a_short_message_is_marked_unreliable() {
        assert!(!detect("ok thanks").unwrap().reliable);
    }

    #[test]
    fn text_without_letters_has_no_language() {
        assert_eq!(detect("123 456 !!!"), None);
    }
}
