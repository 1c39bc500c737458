//! Things in a message with a shape: card numbers (Luhn-checked), IBANs (mod-97
//! checked), phone numbers, email addresses, links and amounts of money. The
//! guardrail flags the personal ones; understanding lists the rest as entities.

use regex::Regex;
use std::sync::LazyLock;

#[allow(clippy::expect_used)] // the patterns are constants; a typo fails every test
fn pattern(source: &str) -> Regex {
    Regex::new(source).expect("a valid built-in pattern")
}

static CARD: LazyLock<Regex> = LazyLock::new(|| pattern(r"\b\d(?:[ -]?\d){12,18}\b"));
static IBAN: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"(?i)\b[a-z]{2}\d{2}(?:[ ]?[a-z0-9]){11,30}\b"));
static PHONE: LazyLock<Regex> = LazyLock::new(|| pattern(r"(?:\+|\()?\d[\d ().-]{6,18}\d\b"));
static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"(?i)\b[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}\b"));
static URL: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"(?i)\b(?:https?://|www\.)[^\s<>]+[^\s<>.,;:!?)\]]"));
static MONEY: LazyLock<Regex> = LazyLock::new(|| {
    pattern(
        r"(?i)(?:[$€£¥₹]\s?\d[\d.,]*|\b\d[\d.,]*\s?(?:[$€£¥₹]|(?:usd|eur|gbp|dollars?|euros?|pounds?|reais|pesos)\b))",
    )
});

/// Whether the digits at `start` follow a "+": an international phone number, which
/// no card number is even when its digits happen to pass the Luhn check.
fn international(text: &str, start: usize) -> bool {
    text[..start].trim_end().ends_with('+')
}

/// Where IBAN-shaped text is: its digits are neither a card nor a phone number.
fn iban_ranges(text: &str) -> Vec<std::ops::Range<usize>> {
    IBAN.find_iter(text).map(|m| m.range()).collect()
}

fn digits(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

/// The last four digits of each number that passes the Luhn check.
pub fn cards(text: &str) -> Vec<String> {
    let in_iban = iban_ranges(text);
    CARD.find_iter(text)
        .filter(|m| !in_iban.iter().any(|r| r.contains(&m.start())))
        .filter(|m| !international(text, m.start()))
        .map(|m| digits(m.as_str()))
        .filter(|d| luhn(d))
        .map(|d| d[d.len() - 4..].to_owned())
        .collect()
}

fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let twice = d * 2;
                if twice > 9 { twice - 9 } else { twice }
            } else {
                d
            }
        })
        .sum();
    digits.len() >= 13 && sum.is_multiple_of(10)
}

/// The country code of each IBAN whose check digits hold (ISO 13616 mod 97).
pub fn ibans(text: &str) -> Vec<String> {
    IBAN.find_iter(text)
        .map(|m| m.as_str().replace(' ', "").to_ascii_uppercase())
        .filter(|iban| (15..=34).contains(&iban.len()) && mod_97(iban))
        .map(|iban| iban[..2].to_owned())
        .collect()
}

fn mod_97(iban: &str) -> bool {
    let (head, tail) = iban.split_at(4);
    let mut remainder: u32 = 0;
    for c in tail.chars().chain(head.chars()) {
        let value = match c.to_digit(36) {
            Some(v) => v,
            None => return false,
        };
        remainder = if value >= 10 {
            (remainder * 100 + value) % 97
        } else {
            (remainder * 10 + value) % 97
        };
    }
    remainder == 1
}

/// Phone numbers: 8 to 15 digits, not a card number or part of an IBAN.
pub fn phones(text: &str) -> Vec<String> {
    let in_iban = iban_ranges(text);
    PHONE
        .find_iter(text)
        .filter(|m| !in_iban.iter().any(|r| r.contains(&m.start())))
        .map(|m| m.as_str().trim().to_owned())
        .filter(|p| {
            let d = digits(p);
            (8..=15).contains(&d.len()) && (p.starts_with('+') || !luhn(&d))
        })
        .collect()
}

pub fn emails(text: &str) -> Vec<String> {
    EMAIL
        .find_iter(text)
        .map(|m| m.as_str().to_owned())
        .collect()
}

pub fn urls(text: &str) -> Vec<String> {
    URL.find_iter(text).map(|m| m.as_str().to_owned()).collect()
}

pub fn amounts(text: &str) -> Vec<String> {
    MONEY
        .find_iter(text)
        .map(|m| m.as_str().trim().to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_numbers_count_only_when_their_luhn_check_holds() {
        assert_eq!(cards("my card is 4111 1111 1111 1111 thanks"), ["1111"]);
        assert_eq!(cards("5500-0000-0000-0004"), ["0004"]);
        assert!(cards("order 4111 1111 1111 1112").is_empty());
        assert!(
            cards("call 0151 2345 6789").is_empty(),
            "too short for a card"
        );
        assert!(
            cards("call +49 151 12345678").is_empty(),
            "an international number is a phone"
        );
    }

    #[test]
    fn ibans_count_only_when_their_check_digits_hold() {
        assert_eq!(ibans("IBAN: DE89 3704 0044 0532 0130 00, thanks"), ["DE"]);
        assert_eq!(ibans("gb82west12345698765432"), ["GB"]);
        assert!(ibans("DE88 3704 0044 0532 0130 00").is_empty());
    }

    #[test]
    fn phones_emails_links_and_amounts_are_found() {
        assert_eq!(
            phones("call me on +49 151 12345678 please"),
            ["+49 151 12345678"]
        );
        assert_eq!(phones("or (555) 123-4567"), ["(555) 123-4567"]);
        assert!(phones("IBAN DE89 3704 0044 0532 0130 00").is_empty());
        assert!(phones("my card 4111111111111111").is_empty());
        assert!(phones("order 1234").is_empty());
        assert_eq!(
            emails("write to Ana.Lopez@example.com."),
            ["Ana.Lopez@example.com"]
        );
        assert_eq!(
            urls("see https://bit.ly/3xYz, or www.example.com."),
            ["https://bit.ly/3xYz", "www.example.com"]
        );
        assert_eq!(
            amounts("is it $49 or 45,90 € or 100 dollars?"),
            ["$49", "45,90 €", "100 dollars"]
        );
    }
}
