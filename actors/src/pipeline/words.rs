//! Words of a customer message as the rule stages read them: lower case, accents
//! folded (customers type "cuanto" as often as "cuánto"), split on anything that is
//! not a letter or a digit. A phrase matches where its words appear in a row.

/// A message's words, folded once and matched against many phrases.
#[derive(Debug, Clone)]
pub struct Words {
    words: Vec<String>,
}

impl Words {
    pub fn of(text: &str) -> Self {
        let folded = fold(text);
        let words = folded
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect();
        Self { words }
    }

    pub fn tokens(&self) -> &[String] {
        &self.words
    }

    /// The first phrase of `phrases` found in the message, as written in the list.
    pub fn first_of<'p>(&self, phrases: &[&'p str]) -> Option<&'p str> {
        phrases.iter().copied().find(|p| self.contains(p))
    }

    /// Whether the words of `phrase` (folded the same way) appear in a row. A phrase
    /// ending in `*` matches any word starting with its last word ("subscri*").
    pub fn contains(&self, phrase: &str) -> bool {
        // The built-in lists are folded already: only other text is folded (copied).
        let folded = if phrase
            .chars()
            .all(|c| c.is_ascii() && !c.is_ascii_uppercase())
        {
            std::borrow::Cow::Borrowed(phrase)
        } else {
            std::borrow::Cow::Owned(fold(phrase))
        };
        let mut wanted = folded
            .split(|c: char| !(c.is_alphanumeric() || c == '*'))
            .filter(|w| !w.is_empty());
        let Some(first) = wanted.next() else {
            return false;
        };
        let rest: Vec<&str> = wanted.collect();
        // Most phrases are one word: no windows to build.
        if rest.is_empty() {
            return self.words.iter().any(|word| matches(word, first));
        }
        let length = rest.len() + 1;
        length <= self.words.len()
            && self.words.windows(length).any(|window| {
                matches(&window[0], first)
                    && window[1..]
                        .iter()
                        .zip(&rest)
                        .all(|(word, want)| matches(word, want))
            })
    }
}

/// Whether a message's word is the wanted one, or starts with it when it ends in `*`.
fn matches(word: &str, want: &str) -> bool {
    match want.strip_suffix('*') {
        Some(prefix) => word.starts_with(prefix),
        None => word == want,
    }
}

/// Lower case with the accents of Latin scripts removed ("ß" becomes "ss").
pub fn fold(text: &str) -> String {
    let mut folded = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        match c {
            'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' => folded.push('a'),
            'é' | 'è' | 'ê' | 'ë' => folded.push('e'),
            'í' | 'ì' | 'î' | 'ï' => folded.push('i'),
            'ó' | 'ò' | 'ô' | 'ö' | 'õ' => folded.push('o'),
            'ú' | 'ù' | 'û' | 'ü' => folded.push('u'),
            'ñ' => folded.push('n'),
            'ç' => folded.push('c'),
            'ß' => folded.push_str("ss"),
            other => folded.push(other),
        }
    }
    folded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases_match_whole_words_in_a_row_whatever_the_case_and_accents() {
        let words = Words::of("¿Cuánto CUESTA el plan Pro? Lo necesito hoy!");
        assert!(words.contains("cuanto cuesta"));
        assert!(words.contains("necesito"));
        assert!(!words.contains("cuesta cuanto"));
        assert!(!words.contains("plan pr"), "a word is matched whole");
        assert!(
            words.contains("plan pr*"),
            "unless the phrase asks for a prefix"
        );
        assert_eq!(words.first_of(&["precio", "cuánto", "hoy"]), Some("cuánto"));
        assert_eq!(words.tokens().len(), 8);
    }
}
