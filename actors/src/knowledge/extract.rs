//! A document's text as people read it, out of the format it was sent in: paragraphs
//! separated by blank lines, Markdown headings kept (they head the passages below
//! them), HTML tags and scripts dropped, CSV rows spelled out with their column names.

use super::DocumentFormat;
use crate::InvalidValue;

pub fn plain_text(format: DocumentFormat, content: &str) -> Result<String, InvalidValue> {
    let content = content.replace("\r\n", "\n");
    Ok(match format {
        DocumentFormat::Text | DocumentFormat::Markdown => content,
        DocumentFormat::Html => html_text(&content),
        DocumentFormat::Csv => csv_text(&content)?,
    })
}

/// Elements whose start or end breaks a paragraph.
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "br",
    "li",
    "ul",
    "ol",
    "tr",
    "table",
    "section",
    "article",
    "header",
    "footer",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "pre",
    "dt",
    "dd",
    "hr",
];

/// Elements whose content is not text for a reader.
const HIDDEN: &[&str] = &["script", "style", "head", "template", "noscript"];

fn html_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&decode_entities(&rest[..open]));
        rest = &rest[open..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |end| &after[end + 3..]);
            continue;
        }
        let Some(close) = rest.find('>') else {
            // A `<` that opens no tag is text.
            out.push_str(&decode_entities(rest));
            rest = "";
            break;
        };
        let tag = &rest[1..close];
        rest = &rest[close + 1..];
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if !tag.starts_with('/') && HIDDEN.contains(&name.as_str()) {
            let end = format!("</{name}");
            rest = find_ascii_case_insensitive(rest, &end)
                .and_then(|at| rest[at..].find('>').map(|gt| &rest[at + gt + 1..]))
                .unwrap_or("");
        } else if BLOCKS.contains(&name.as_str()) {
            if name.starts_with('h') && name.len() == 2 && !tag.starts_with('/') {
                // A heading heads the passages after it, as in Markdown.
                out.push_str("\n\n# ");
            } else {
                out.push_str("\n\n");
            }
        } else if name == "td" || name == "th" {
            out.push(' ');
        }
    }
    out.push_str(&decode_entities(rest));
    tidy(&out)
}

fn find_ascii_case_insensitive(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|window| window.eq_ignore_ascii_case(needle.as_bytes()))
}

/// The named and numeric character references text is commonly written with.
fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let reference = rest[1..]
            .find(';')
            .filter(|end| *end <= 10)
            .map(|end| (&rest[1..=end], end + 2));
        let decoded = reference.and_then(|(name, len)| entity(name).map(|c| (c, len)));
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        return char::from_u32(code);
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        "euro" => '€',
        "pound" => '£',
        "copy" => '©',
        "reg" => '®',
        "ndash" => '–',
        "mdash" => '—',
        "hellip" => '…',
        _ => return None,
    })
}

/// Spaces within lines collapsed, lines trimmed, at most one blank line in a row.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = true;
    for line in text.lines() {
        let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.is_empty() || line == "#" {
            if !blank {
                out.push('\n');
            }
            blank = true;
            continue;
        }
        out.push_str(&line);
        out.push('\n');
        blank = false;
    }
    if out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// One line per row, `column: value` joined by `; ` (empty cells left out), so a
/// passage of rows reads as facts on its own.
fn csv_text(content: &str) -> Result<String, InvalidValue> {
    // Rows must have the header's number of cells: a row that does not is a table
    // cut or quoted wrong, and its cells would land under the wrong names.
    let mut reader = csv::ReaderBuilder::new().from_reader(content.as_bytes());
    let headers = reader
        .headers()
        .map_err(|err| InvalidValue(format!("the CSV cannot be read: {err}")))?
        .clone();
    let mut out = String::with_capacity(content.len() * 2);
    for record in reader.records() {
        let record =
            record.map_err(|err| InvalidValue(format!("the CSV cannot be read: {err}")))?;
        let cells: Vec<String> = record
            .iter()
            .enumerate()
            .filter(|(_, value)| !value.trim().is_empty())
            .map(|(i, value)| match headers.get(i).map(str::trim) {
                Some(name) if !name.is_empty() => format!("{name}: {}", value.trim()),
                _ => value.trim().to_owned(),
            })
            .collect();
        if !cells.is_empty() {
            out.push_str(&cells.join("; "));
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_keeps_the_text_with_paragraphs_and_headings_and_drops_scripts_and_tags() {
        let html = "<html><head><title>x</title><style>p{color:red}</style></head><body>\
            <h2>Shipping</h2><p>We ship in <b>2&nbsp;days</b> &amp; track it.</p>\
            <script>alert('no')</script><!-- hidden --><ul><li>Free over &#8364;50</li>\
            <li>Returns &lt;30 days</li></ul><table><tr><td>A</td><td>B</td></tr></table></body></html>";
        assert_eq!(
            plain_text(DocumentFormat::Html, html).unwrap(),
            "# Shipping\n\nWe ship in 2 days & track it.\n\nFree over €50\n\nReturns <30 days\n\nA B\n"
        );
    }

    #[test]
    fn unknown_entities_and_stray_angle_brackets_stay_as_written() {
        assert_eq!(
            plain_text(DocumentFormat::Html, "5 &foo; 3 < 4 &").unwrap(),
            "5 &foo; 3 < 4 &\n"
        );
    }

    #[test]
    fn csv_rows_become_lines_naming_their_columns() {
        let csv =
            "Plan,Price,Notes\r\nBasic,10 EUR,\r\n\"Pro, yearly\",99 EUR,\"says \"\"hi\"\"\"\r\n";
        assert_eq!(
            plain_text(DocumentFormat::Csv, csv).unwrap(),
            "Plan: Basic; Price: 10 EUR\nPlan: Pro, yearly; Price: 99 EUR; Notes: says \"hi\"\n"
        );
    }

    #[test]
    fn a_csv_that_cannot_be_read_is_refused_with_the_reason() {
        let err = plain_text(DocumentFormat::Csv, "a,b\n1,2\n3,4,5\n").unwrap_err();
        assert!(err.0.starts_with("the CSV cannot be read"), "{err:?}");
    }
}
