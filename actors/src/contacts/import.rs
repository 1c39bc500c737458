//! Contacts from a CSV file: each column mapped to a contact field (or left out),
//! each row read into what it sets, or the reason it cannot be used. Rows are
//! matched to existing contacts by phone, then email, as channels match senders.

use super::fields::{self, FieldDefinition, FieldKey, Presence};
use crate::domain::text_enum::text_enum;
use crate::inbox::records::MAX_SENDER_NAME_CHARS;
use crate::{Email, ImportId, InvalidValue, Millis, PhoneE164, TagName, TenantId, UserId};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Most rows and columns one file holds (its size is held to the server's body
/// limit), and the most error rows a report keeps.
pub const MAX_IMPORT_ROWS: usize = 50_000;
pub const MAX_IMPORT_COLUMNS: usize = 100;

text_enum!(
    ImportStatus, "an import status" {
        /// Waiting for the job runner.
        Queued => "queued",
        Running => "running",
        /// Every row was read: created, updated, or in the error report.
        Done => "done",
    }
);

/// Where a column's cells go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Name,
    /// A phone, read in the import's default country when it has no `+`.
    Phone,
    Email,
    /// Tags separated by `,` or `;`.
    Tags,
    /// A custom field's key (checked against its definition when there is one).
    Field(String),
    Skip,
}

impl Target {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        Ok(match raw.trim() {
            "name" => Target::Name,
            "phone" => Target::Phone,
            "email" => Target::Email,
            "tags" => Target::Tags,
            "skip" => Target::Skip,
            other => match other.strip_prefix("field:") {
                Some(key) => Target::Field(FieldKey::parse(key)?.as_str().to_owned()),
                None => {
                    return Err(InvalidValue(format!(
                        "'{other}' is not a column target (name, phone, email, tags, field:<key>, skip)"
                    )));
                }
            },
        })
    }
}

/// One import: the file, how its columns map, and how far the runner got.
#[derive(Debug, Clone, PartialEq)]
pub struct Import {
    pub tenant_id: TenantId,
    pub id: ImportId,
    pub status: ImportStatus,
    pub csv: String,
    /// Column header → target, as the client sent it.
    pub mapping: BTreeMap<String, String>,
    pub default_country: Option<String>,
    pub created_by: Option<UserId>,
    pub total: u64,
    /// Rows read so far, in file order; the runner goes on from here.
    pub processed: u64,
    pub created: u64,
    pub updated: u64,
    pub failed: u64,
    /// The rows that could not be used, as CSV: their line, the reason, then the
    /// row as it was.
    pub errors: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// An import as the API and its `contacts.import` events show it (not its file).
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ImportView {
    pub id: ImportId,
    pub status: ImportStatus,
    pub total: u64,
    pub processed: u64,
    pub created: u64,
    pub updated: u64,
    pub failed: u64,
    pub created_at: String,
    pub updated_at: String,
}

impl Import {
    pub fn view(&self) -> ImportView {
        ImportView {
            id: self.id,
            status: self.status,
            total: self.total,
            processed: self.processed,
            created: self.created,
            updated: self.updated,
            failed: self.failed,
            created_at: self.created_at.to_rfc3339(),
            updated_at: self.updated_at.to_rfc3339(),
        }
    }
}

/// What one row sets on a contact.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The line in the file (the header is line 1).
    pub line: u64,
    pub name: Option<String>,
    pub phones: Vec<PhoneE164>,
    pub emails: Vec<Email>,
    pub tags: Vec<TagName>,
    pub fields: Map<String, Value>,
}

/// A row that cannot be used, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub line: u64,
    pub reason: String,
    pub cells: Vec<String>,
}

/// A file read against a mapping: its header and every row's outcome, in order.
#[derive(Debug)]
pub struct Sheet {
    pub headers: Vec<String>,
    pub rows: Vec<Result<Row, Refused>>,
}

/// Reads the file. Refuses the whole file when it is not CSV, has no header, has too
/// many rows or columns, or its mapping names a column it does not have or a target
/// that does not exist; a bad row only refuses that row.
pub fn read(
    csv: &str,
    mapping: &BTreeMap<String, String>,
    definitions: &[FieldDefinition],
    default_country: Option<&str>,
) -> Result<Sheet, InvalidValue> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(csv.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|err| InvalidValue(format!("the file is not CSV: {err}")))?
        .iter()
        .map(str::to_owned)
        .collect();
    if headers.iter().all(String::is_empty) {
        return Err(InvalidValue("the file has no header row".to_owned()));
    }
    if headers.len() > MAX_IMPORT_COLUMNS {
        return Err(InvalidValue(format!(
            "the file has {} columns; at most {MAX_IMPORT_COLUMNS}",
            headers.len()
        )));
    }
    let mut targets = vec![Target::Skip; headers.len()];
    for (column, target) in mapping {
        let index = headers
            .iter()
            .position(|h| h == column)
            .ok_or_else(|| InvalidValue(format!("the file has no column '{column}'")))?;
        targets[index] = Target::parse(target)?;
    }
    if targets.iter().filter(|t| **t == Target::Name).count() > 1 {
        return Err(InvalidValue("map at most one column to name".to_owned()));
    }
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        if i >= MAX_IMPORT_ROWS {
            return Err(InvalidValue(format!(
                "the file has more than {MAX_IMPORT_ROWS} rows; split it"
            )));
        }
        let line = i as u64 + 2;
        let cells: Vec<String> = match record {
            Ok(record) => record.iter().map(str::to_owned).collect(),
            Err(err) => {
                rows.push(Err(Refused {
                    line,
                    reason: format!("not CSV: {err}"),
                    cells: Vec::new(),
                }));
                continue;
            }
        };
        rows.push(
            row(line, &cells, &targets, definitions, default_country).map_err(|refused| Refused {
                line,
                reason: refused.0,
                cells,
            }),
        );
    }
    Ok(Sheet { headers, rows })
}

fn row(
    line: u64,
    cells: &[String],
    targets: &[Target],
    definitions: &[FieldDefinition],
    default_country: Option<&str>,
) -> Result<Row, InvalidValue> {
    let mut row = Row {
        line,
        name: None,
        phones: Vec::new(),
        emails: Vec::new(),
        tags: Vec::new(),
        fields: Map::new(),
    };
    for (cell, target) in cells.iter().zip(targets) {
        if cell.is_empty() {
            continue;
        }
        match target {
            Target::Name if cell.chars().count() > MAX_SENDER_NAME_CHARS => {
                return Err(InvalidValue(format!(
                    "the name has more than {MAX_SENDER_NAME_CHARS} characters"
                )));
            }
            Target::Name => row.name = Some(cell.clone()),
            Target::Phone => {
                let phone = PhoneE164::parse_in(cell, default_country)?;
                if !row.phones.contains(&phone) {
                    row.phones.push(phone);
                }
            }
            Target::Email => {
                let email = Email::parse(cell)?;
                if !row.emails.contains(&email) {
                    row.emails.push(email);
                }
            }
            Target::Tags => {
                for tag in cell.split([',', ';']).filter(|t| !t.trim().is_empty()) {
                    let tag = TagName::parse(tag)?;
                    if !row.tags.contains(&tag) {
                        row.tags.push(tag);
                    }
                }
            }
            Target::Field(key) => {
                row.fields.insert(key.clone(), Value::String(cell.clone()));
            }
            Target::Skip => {}
        }
    }
    if row.phones.is_empty() && row.emails.is_empty() {
        return Err(InvalidValue(
            "needs a phone or an email, to match it to a contact".to_owned(),
        ));
    }
    crate::inbox::records::check_contact_lists(
        Some(&row.phones),
        Some(&row.emails),
        Some(&row.tags),
        Some(&row.fields),
    )?;
    row.fields = fields::apply(
        definitions,
        std::mem::take(&mut row.fields),
        &Map::new(),
        Presence::AsGiven,
    )?;
    Ok(row)
}

/// The error report's header: the line and the reason, then the file's columns.
pub fn error_report_header(headers: &[String]) -> String {
    let mut cells = vec!["line".to_owned(), "error".to_owned()];
    cells.extend(headers.iter().cloned());
    csv_record(&cells)
}

/// A refused row as a line of the error report: its line, the reason, then its cells.
pub fn error_line(refused: &Refused) -> String {
    let mut cells = vec![refused.line.to_string(), refused.reason.clone()];
    cells.extend(refused.cells.iter().cloned());
    csv_record(&cells)
}

/// One CSV line, quoted where a cell needs it, ending in a newline.
pub fn csv_record(cells: &[String]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    // Writing to memory cannot fail.
    let _ = writer.write_record(cells);
    String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contacts::fields::FieldKind;

    fn mapping(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(c, t)| ((*c).to_owned(), (*t).to_owned()))
            .collect()
    }

    fn seats() -> FieldDefinition {
        FieldDefinition {
            tenant_id: TenantId::new(),
            key: FieldKey::parse("seats").unwrap(),
            label: "Seats".to_owned(),
            kind: FieldKind::Number,
            options: Vec::new(),
            required: false,
            created_at: Millis(0),
            updated_at: Millis(0),
        }
    }

    #[test]
    fn rows_are_read_through_the_mapping_and_bad_rows_say_why() {
        let csv = "Full name,Mobile,E-mail,Labels,Seats,Notes\n\
                   Ana Lima,030 901820,ANA@example.com,\"vip, new\",12,likes tea\n\
                   Ben,,,,3,\n\
                   Cy,+1 415 555 0132,,,twelve,\n\
                   \"Dee \"\"D\"\"\",,dee@example.com,,,\n";
        let map = mapping(&[
            ("Full name", "name"),
            ("Mobile", "phone"),
            ("E-mail", "email"),
            ("Labels", "tags"),
            ("Seats", "field:seats"),
        ]);
        let sheet = read(csv, &map, &[seats()], Some("DE")).unwrap();
        assert_eq!(sheet.headers.len(), 6);
        let ana = sheet.rows[0].as_ref().unwrap();
        assert_eq!(ana.line, 2);
        assert_eq!(ana.name.as_deref(), Some("Ana Lima"));
        assert_eq!(ana.phones[0].as_str(), "+4930901820");
        assert_eq!(ana.emails[0].as_str(), "ana@example.com");
        assert_eq!(
            ana.tags.iter().map(TagName::as_str).collect::<Vec<_>>(),
            ["vip", "new"]
        );
        assert_eq!(
            Value::Object(ana.fields.clone()),
            serde_json::json!({"seats": 12})
        );
        let ben = sheet.rows[1].as_ref().unwrap_err();
        assert_eq!(
            (ben.line, ben.reason.as_str()),
            (3, "needs a phone or an email, to match it to a contact")
        );
        let cy = sheet.rows[2].as_ref().unwrap_err();
        assert_eq!(
            cy.reason,
            "custom field 'seats' takes a number; got \"twelve\""
        );
        assert_eq!(
            error_line(cy),
            "4,\"custom field 'seats' takes a number; got \"\"twelve\"\"\",Cy,+1 415 555 0132,,,twelve,\n"
        );
        assert_eq!(
            sheet.rows[3].as_ref().unwrap().name.as_deref(),
            Some("Dee \"D\"")
        );
    }

    #[test]
    fn a_mapping_that_does_not_fit_the_file_refuses_the_whole_file() {
        let csv = "Name,Phone\nAna,+14155550132\n";
        let refusals = [
            (
                mapping(&[("Mobile", "phone")]),
                "the file has no column 'Mobile'",
            ),
            (
                mapping(&[("Phone", "fax")]),
                "'fax' is not a column target (name, phone, email, tags, field:<key>, skip)",
            ),
            (
                mapping(&[("Name", "name"), ("Phone", "name")]),
                "map at most one column to name",
            ),
        ];
        for (map, why) in refusals {
            assert_eq!(read(csv, &map, &[], None).unwrap_err().0, why);
        }
        let wide = format!("{}\n", vec!["c"; MAX_IMPORT_COLUMNS + 1].join(","));
        assert!(read(&wide, &BTreeMap::new(), &[], None).is_err());
    }
}
