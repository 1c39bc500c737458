//! Cuts a document's text into passages: whole paragraphs together up to a size, a
//! new passage at each Markdown heading, and the heading repeated at the top of every
//! passage of its section, so a passage found on its own still says what it is about.

/// Passages of at most `max_chars` characters (heading included); a paragraph longer
/// than that is cut between lines, and a line between words.
pub fn cut(text: &str, max_chars: usize) -> Vec<String> {
    let mut cutter = Cutter {
        max_chars: max_chars.max(MIN_CHARS),
        heading: None,
        body: Vec::new(),
        body_chars: 0,
        passages: Vec::new(),
    };
    for block in text.split("\n\n").map(str::trim).filter(|b| !b.is_empty()) {
        let (first, rest) = block.split_once('\n').unwrap_or((block, ""));
        if first.starts_with('#') {
            cutter.flush();
            let heading = first.trim_start_matches('#').trim();
            cutter.heading = (!heading.is_empty()).then(|| heading.to_owned());
            cutter.add(rest.trim());
        } else {
            cutter.add(block);
        }
    }
    cutter.flush();
    cutter.passages
}

/// Below this a heading could leave no room for text.
const MIN_CHARS: usize = 200;

struct Cutter {
    max_chars: usize,
    heading: Option<String>,
    body: Vec<String>,
    body_chars: usize,
    passages: Vec<String>,
}

impl Cutter {
    fn room(&self) -> usize {
        // A heading longer than half a passage is cut to fit (see `flush`).
        let heading = self
            .heading
            .as_ref()
            .map_or(0, |h| h.chars().count().min(self.max_chars / 2) + 1);
        self.max_chars - heading
    }

    fn add(&mut self, block: &str) {
        if block.is_empty() {
            return;
        }
        let chars = block.chars().count();
        if chars > self.room() {
            for piece in split(block, self.room()) {
                self.push(piece, false);
            }
        } else {
            self.push(block.to_owned(), true);
        }
    }

    /// Adds a paragraph (`paragraph`, joined by a blank line) or a piece of one
    /// (joined by a line break), starting a new passage when it would not fit.
    fn push(&mut self, text: String, paragraph: bool) {
        let chars = text.chars().count();
        let joint = if self.body.is_empty() {
            0
        } else if paragraph {
            2
        } else {
            1
        };
        if self.body_chars + joint + chars > self.room() {
            self.flush();
        }
        if !self.body.is_empty() {
            self.body_chars += if paragraph { 2 } else { 1 };
            self.body
                .push(if paragraph { "\n\n" } else { "\n" }.to_owned());
        }
        self.body_chars += chars;
        self.body.push(text);
    }

    fn flush(&mut self) {
        if self.body.is_empty() {
            return;
        }
        let body = self.body.concat();
        self.body.clear();
        self.body_chars = 0;
        self.passages.push(match &self.heading {
            Some(heading) => {
                let heading: String = heading.chars().take(self.max_chars / 2).collect();
                format!("{heading}\n{body}")
            }
            None => body,
        });
    }
}

/// A block cut into pieces of at most `room` characters: at line breaks where it can,
/// between words where a line is too long, and inside a word only where one is.
fn split(block: &str, room: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    for line in block.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let mut piece = String::new();
        let mut piece_chars = 0;
        for word in line.split_whitespace() {
            let word_chars = word.chars().count();
            if piece_chars > 0 && piece_chars + 1 + word_chars > room {
                pieces.push(std::mem::take(&mut piece));
                piece_chars = 0;
            }
            if word_chars > room {
                let chars: Vec<char> = word.chars().collect();
                for chunk in chars.chunks(room) {
                    pieces.push(chunk.iter().collect());
                }
                continue;
            }
            if piece_chars > 0 {
                piece.push(' ');
                piece_chars += 1;
            }
            piece.push_str(word);
            piece_chars += word_chars;
        }
        if piece_chars > 0 {
            pieces.push(piece);
        }
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_stay_together_up_to_the_size_and_headings_start_and_head_passages() {
        let text = "Welcome to Acme.\n\n# Shipping\nWe ship in two days.\n\nTracking comes by email.\n\n\
                    ## Returns\n\nReturns are free for 30 days.";
        assert_eq!(
            cut(text, 1000),
            vec![
                "Welcome to Acme.".to_owned(),
                "Shipping\nWe ship in two days.\n\nTracking comes by email.".to_owned(),
                "Returns\nReturns are free for 30 days.".to_owned(),
            ]
        );
    }

    #[test]
    fn a_section_longer_than_a_passage_repeats_its_heading_in_each() {
        let paragraph = "word ".repeat(30).trim().to_owned(); // 149 characters
        let text = format!("# Prices\n{paragraph}\n\n{paragraph}\n\n{paragraph}");
        let passages = cut(&text, 320);
        assert_eq!(passages.len(), 2);
        assert_eq!(passages[0], format!("Prices\n{paragraph}\n\n{paragraph}"));
        assert_eq!(passages[1], format!("Prices\n{paragraph}"));
        assert!(passages.iter().all(|p| p.chars().count() <= 320));
    }

    #[test]
    fn rows_without_blank_lines_are_grouped_by_lines_and_long_lines_by_words() {
        let rows: Vec<String> = (0..10)
            .map(|i| format!("Plan: p{i}; Price: {i}0 EUR"))
            .collect();
        let passages = cut(&rows.join("\n"), 200);
        assert!(passages.len() > 1);
        assert_eq!(
            passages.join("\n"),
            rows.join("\n"),
            "no row is lost or cut"
        );
        assert!(passages.iter().all(|p| p.chars().count() <= 200));

        let long = format!("{} {}", "a".repeat(150), "b".repeat(150));
        assert_eq!(cut(&long, 200), vec!["a".repeat(150), "b".repeat(150)]);
        let word = "é".repeat(450);
        let pieces = cut(&word, 200);
        assert_eq!(
            pieces.iter().map(|p| p.chars().count()).collect::<Vec<_>>(),
            [200, 200, 50]
        );
    }

    #[test]
    fn blank_text_has_no_passages() {
        assert!(cut("  \n\n \n", 500).is_empty());
        assert!(cut("#\n\n##", 500).is_empty());
    }
}
