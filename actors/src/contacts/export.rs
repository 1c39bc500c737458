//! Contacts as CSV: their own fields, then one column per custom field definition.

use super::fields::FieldDefinition;
use super::import::csv_record;
use crate::inbox::records::Contact;
use serde_json::Value;

/// The first line: `id, name, phones, emails, tags, opted_out, created_at`, then
/// each custom field's key.
pub fn header(definitions: &[FieldDefinition]) -> String {
    let mut cells: Vec<String> = [
        "id",
        "name",
        "phones",
        "emails",
        "tags",
        "opted_out",
        "created_at",
    ]
    .map(str::to_owned)
    .to_vec();
    cells.extend(definitions.iter().map(|d| d.key.to_string()));
    csv_record(&cells)
}

/// One contact's line; lists (phones, emails, tags, multi-choice values) joined by
/// `;`, as an import reads them back.
pub fn record(contact: &Contact, definitions: &[FieldDefinition]) -> String {
    let mut cells = vec![
        contact.id.to_string(),
        contact.name.clone(),
        joined(contact.phones.iter().map(|p| p.as_str())),
        joined(contact.emails.iter().map(|e| e.as_str())),
        joined(contact.tags.iter().map(|t| t.as_str())),
        contact.opted_out().to_string(),
        contact.created_at.to_rfc3339(),
    ];
    cells.extend(
        definitions
            .iter()
            .map(|d| cell(contact.custom_fields.get(d.key.as_str()))),
    );
    csv_record(&cells)
}

fn joined<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(";")
}

/// A field value as a cell: text as it is, a list joined by `;`, others as JSON.
fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => joined(items.iter().filter_map(Value::as_str)),
        Some(other) => other.to_string(),
    }
}
