//! Text from outside, normalised once where it enters (REST bodies and query strings,
//! socket frames, provider webhooks and the provider's own answers).
//!
//! The rule: U+0000 and the other C0 control characters except tab, line feed and
//! carriage return, and U+007F, are removed. Postgres refuses NUL in text outright
//! (a provider would then redeliver the same webhook for ever), and the others have
//! no place in a name, a message or a search; nothing else is changed. Removal rather
//! than refusal, because a webhook cannot be sent back for editing.

use serde_json::Value;
use std::borrow::Cow;

fn disallowed(c: char) -> bool {
    (c.is_ascii_control() && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{7f}'
}

/// `text` without disallowed control characters (borrowed when it had none).
pub fn clean(text: &str) -> Cow<'_, str> {
    if text.chars().any(disallowed) {
        Cow::Owned(text.chars().filter(|c| !disallowed(*c)).collect())
    } else {
        Cow::Borrowed(text)
    }
}

/// Cleans every string in a JSON tree, object keys included.
pub fn clean_json(value: &mut Value) {
    match value {
        Value::String(text) => {
            if let Cow::Owned(cleaned) = clean(text) {
                *text = cleaned;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(clean_json),
        Value::Object(map) => {
            if map.keys().any(|k| k.chars().any(disallowed)) {
                let entries = std::mem::take(map);
                for (key, value) in entries {
                    map.insert(clean(&key).into_owned(), value);
                }
            }
            map.values_mut().for_each(clean_json);
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// `text` cut to `max` characters, with a marker saying how much was left out, so a
/// reader knows it is not the whole text.
pub fn cut_with_marker(text: &str, max: usize) -> Cow<'_, str> {
    let total = text.chars().count();
    if total <= max {
        return Cow::Borrowed(text);
    }
    let kept: String = text.chars().take(max).collect();
    Cow::Owned(format!("{kept} […cut: {} more characters]", total - max))
}

/// `text` cut to `max` characters, no marker (names, ids).
pub fn cut(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        Some((end, _)) => Cow::Owned(text[..end].to_owned()),
        None => Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nul_and_other_control_characters_go_and_everything_else_stays() {
        assert_eq!(clean("Ad\u{0}a"), "Ada");
        assert_eq!(clean("a\u{1}b\u{1b}[31mc\u{7f}d"), "ab[31mcd");
        assert_eq!(clean("line\nnext\tcol\r\n"), "line\nnext\tcol\r\n");
        assert_eq!(clean("Zoë 👋 \u{200b}ok"), "Zoë 👋 \u{200b}ok");
        assert!(matches!(clean("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn every_string_and_key_of_a_json_tree_is_cleaned() {
        let mut value =
            json!({"na\u{0}me": "Bo\u{0}b", "list": ["x\u{0}", 1, null, {"deep": "\u{0}"}]});
        clean_json(&mut value);
        assert_eq!(
            value,
            json!({"name": "Bob", "list": ["x", 1, null, {"deep": ""}]})
        );
    }

    #[test]
    fn long_text_is_cut_with_a_marker_and_names_without() {
        assert_eq!(
            cut_with_marker("abcdef", 4),
            "abcd […cut: 2 more characters]"
        );
        assert_eq!(cut_with_marker("abc", 4), "abc");
        assert_eq!(cut("Zoë Ünal", 3), "Zoë");
        assert_eq!(cut("Zo", 3), "Zo");
    }
}
