//! Custom contact fields: the tenant's definitions (key, label, kind, options,
//! required) and the check every value written under a defined key goes through.
//! Keys nobody defined stay free-form (lead form answers, older data), checked only
//! for size by `check_contact_lists`.

use crate::domain::text_enum::text_enum;
use crate::{Email, InvalidValue, Millis, PhoneE164, TenantId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

text_enum!(
    /// What a custom field holds, and so how its values are checked and compared.
    FieldKind, "a field kind" {
        Text => "text",
        Number => "number",
        /// A calendar day, `YYYY-MM-DD`.
        Date => "date",
        Boolean => "boolean",
        /// One of the field's options.
        Choice => "choice",
        /// Any of the field's options, as a list.
        MultiChoice => "multi_choice",
        Email => "email",
        /// E.164, like a contact's phones.
        Phone => "phone",
        /// An `http` or `https` link.
        Url => "url",
    }
);

impl FieldKind {
    pub fn has_options(self) -> bool {
        matches!(self, FieldKind::Choice | FieldKind::MultiChoice)
    }
}

/// Most definitions per tenant, options per field, and the length of a label, an
/// option and a text value.
pub const MAX_FIELD_DEFINITIONS: usize = 100;
pub const MAX_FIELD_OPTIONS: usize = 100;
pub const MAX_FIELD_LABEL_CHARS: usize = 100;
pub const MAX_FIELD_OPTION_CHARS: usize = 100;
pub const MAX_FIELD_TEXT_CHARS: usize = 1000;
pub const MAX_FIELD_URL_CHARS: usize = 2048;

/// Keys a filter and a template already read as the contact's own name, first phone
/// and first email: a custom field under one of them could never be reached.
const RESERVED_KEYS: &[&str] = &["name", "phone", "email"];

/// A custom field's key: what its value is stored under in `custom_fields` (1-64
/// characters: a lower-case letter, then lower-case letters, digits or `_`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FieldKey(String);

impl FieldKey {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let key = raw.trim();
        let mut chars = key.chars();
        let well_formed = chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && key.len() <= 64;
        if !well_formed {
            return Err(InvalidValue(format!(
                "'{key}' is not a field key: use 1 to 64 characters, a lower-case letter first, then lower-case letters, digits or '_'"
            )));
        }
        if RESERVED_KEYS.contains(&key) {
            return Err(InvalidValue(format!(
                "'{key}' is the contact's own field and cannot be a custom field's key"
            )));
        }
        Ok(Self(key.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for FieldKey {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<FieldKey> for String {
    fn from(value: FieldKey) -> Self {
        value.0
    }
}

impl std::fmt::Display for FieldKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl utoipa::PartialSchema for FieldKey {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(1))
            .max_length(Some(64))
            .pattern(Some("^[a-z][a-z0-9_]*$"))
            .into()
    }
}

impl utoipa::ToSchema for FieldKey {}

/// One custom field of a tenant's contacts.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDefinition {
    pub tenant_id: TenantId,
    pub key: FieldKey,
    pub label: String,
    pub kind: FieldKind,
    /// The allowed values of a `choice` or `multi_choice` field, in display order.
    pub options: Vec<String>,
    /// Whether a contact written through the API must have a value.
    pub required: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl FieldDefinition {
    /// Refuses a label or options a definition cannot have: options only on choice
    /// kinds (and at least one there), each 1-100 characters and distinct regardless
    /// of case. Trims what it keeps.
    pub fn tidy(mut self) -> Result<Self, InvalidValue> {
        self.label = self.label.trim().to_owned();
        if self.label.is_empty() || self.label.chars().count() > MAX_FIELD_LABEL_CHARS {
            return Err(InvalidValue(format!(
                "label must be 1 to {MAX_FIELD_LABEL_CHARS} characters"
            )));
        }
        self.options = self.options.iter().map(|o| o.trim().to_owned()).collect();
        if !self.kind.has_options() {
            if !self.options.is_empty() {
                return Err(InvalidValue(format!(
                    "a {} field has no options; only choice and multi_choice fields do",
                    self.kind.as_str()
                )));
            }
            return Ok(self);
        }
        if self.options.is_empty() || self.options.len() > MAX_FIELD_OPTIONS {
            return Err(InvalidValue(format!(
                "a {} field needs 1 to {MAX_FIELD_OPTIONS} options",
                self.kind.as_str()
            )));
        }
        for (i, option) in self.options.iter().enumerate() {
            if option.is_empty() || option.chars().count() > MAX_FIELD_OPTION_CHARS {
                return Err(InvalidValue(format!(
                    "options must be 1 to {MAX_FIELD_OPTION_CHARS} characters"
                )));
            }
            if self.options[..i]
                .iter()
                .any(|o| o.eq_ignore_ascii_case(option))
            {
                return Err(InvalidValue(format!("option '{option}' is listed twice")));
            }
        }
        Ok(self)
    }

    /// The value as stored: checked against the kind and written one way (a number
    /// as a JSON number, a day as `YYYY-MM-DD`, a choice as its option's spelling, a
    /// phone in E.164). Text forms are read too, as a CSV file or a form gives them.
    pub fn value(&self, raw: &Value) -> Result<Value, InvalidValue> {
        let refuse = |what: &str| {
            InvalidValue(format!(
                "custom field '{}' takes {what}; got {}",
                self.key,
                shown(raw)
            ))
        };
        match self.kind {
            FieldKind::Text => match raw {
                Value::String(s) if s.chars().count() <= MAX_FIELD_TEXT_CHARS => {
                    Ok(Value::String(s.clone()))
                }
                _ => Err(refuse(&format!(
                    "text of at most {MAX_FIELD_TEXT_CHARS} characters"
                ))),
            },
            FieldKind::Number => number(raw).ok_or_else(|| refuse("a number")),
            FieldKind::Date => text(raw)
                .and_then(|s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
                .map(|d| Value::String(d.format("%Y-%m-%d").to_string()))
                .ok_or_else(|| refuse("a date as YYYY-MM-DD")),
            FieldKind::Boolean => boolean(raw)
                .map(Value::Bool)
                .ok_or_else(|| refuse("true or false")),
            FieldKind::Choice => text(raw)
                .and_then(|s| self.option(s))
                .map(Value::String)
                .ok_or_else(|| refuse(&format!("one of: {}", self.options.join(", ")))),
            FieldKind::MultiChoice => self
                .options_of(raw)
                .ok_or_else(|| refuse(&format!("a list of: {}", self.options.join(", ")))),
            FieldKind::Email => text(raw)
                .and_then(|s| Email::parse(s).ok())
                .map(|e| Value::String(e.as_str().to_owned()))
                .ok_or_else(|| refuse("an email address")),
            FieldKind::Phone => text(raw)
                .and_then(|s| PhoneE164::parse(s).ok())
                .map(|p| Value::String(p.as_str().to_owned()))
                .ok_or_else(|| refuse("an international phone number")),
            FieldKind::Url => text(raw)
                .filter(|s| s.len() <= MAX_FIELD_URL_CHARS)
                .and_then(|s| url::Url::parse(s).ok())
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                .map(|u| Value::String(u.to_string()))
                .ok_or_else(|| refuse("an http or https link")),
        }
    }

    fn option(&self, raw: &str) -> Option<String> {
        let raw = raw.trim();
        self.options
            .iter()
            .find(|o| o.eq_ignore_ascii_case(raw))
            .cloned()
    }

    /// A list of options (or one text of them separated by `;`), each once, in the
    /// definition's order.
    fn options_of(&self, raw: &Value) -> Option<Value> {
        let picked: Vec<String> = match raw {
            Value::Array(items) => items
                .iter()
                .map(|v| v.as_str().and_then(|s| self.option(s)))
                .collect::<Option<_>>()?,
            Value::String(s) => s
                .split(';')
                .filter(|part| !part.trim().is_empty())
                .map(|part| self.option(part))
                .collect::<Option<_>>()?,
            _ => return None,
        };
        Some(Value::Array(
            self.options
                .iter()
                .filter(|o| picked.contains(o))
                .map(|o| Value::String(o.clone()))
                .collect(),
        ))
    }
}

fn text(raw: &Value) -> Option<&str> {
    raw.as_str().map(str::trim)
}

fn number(raw: &Value) -> Option<Value> {
    match raw {
        Value::Number(n) => Some(Value::Number(n.clone())),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(whole) = s.parse::<i64>() {
                return Some(Value::from(whole));
            }
            s.parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .map(Value::Number)
        }
        _ => None,
    }
}

fn boolean(raw: &Value) -> Option<bool> {
    match raw {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Some(true),
            "false" | "no" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A refused value as an error message shows it: short, whatever its size.
fn shown(raw: &Value) -> String {
    let text = raw.to_string();
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// What a write must have: on a contact the API creates, or whose fields it
/// replaces, every required field; elsewhere (a channel, an automation setting one
/// field) only what it sets is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    AllRequired,
    AsGiven,
}

/// Checks and normalises `fields` against the tenant's definitions. A null removes
/// its field; a value equal to what `stored` already holds passes as it is, so a
/// definition made stricter later does not block unrelated writes; keys with no
/// definition pass unchanged.
pub fn apply(
    definitions: &[FieldDefinition],
    fields: Map<String, Value>,
    stored: &Map<String, Value>,
    presence: Presence,
) -> Result<Map<String, Value>, InvalidValue> {
    let mut checked = Map::with_capacity(fields.len());
    for (key, raw) in fields {
        if raw.is_null() {
            continue;
        }
        let value = match definitions.iter().find(|d| d.key.as_str() == key) {
            Some(_) if stored.get(&key) == Some(&raw) => raw,
            Some(definition) => definition.value(&raw)?,
            None => raw,
        };
        checked.insert(key, value);
    }
    if presence == Presence::AllRequired {
        let missing: Vec<&str> = definitions
            .iter()
            .filter(|d| d.required && !checked.contains_key(d.key.as_str()))
            .map(|d| d.key.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(InvalidValue(format!(
                "required custom fields are missing: {}",
                missing.join(", ")
            )));
        }
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(key: &str, kind: FieldKind, options: &[&str]) -> FieldDefinition {
        FieldDefinition {
            tenant_id: TenantId::new(),
            key: FieldKey::parse(key).unwrap(),
            label: key.to_owned(),
            kind,
            options: options.iter().map(|o| (*o).to_owned()).collect(),
            required: false,
            created_at: Millis(0),
            updated_at: Millis(0),
        }
    }

    #[test]
    fn each_kind_stores_its_values_one_way_and_reads_their_text_forms() {
        let cases = [
            (FieldKind::Text, json!(" Gold "), json!(" Gold ")),
            (FieldKind::Number, json!(12), json!(12)),
            (FieldKind::Number, json!("12"), json!(12)),
            (FieldKind::Number, json!("2.5"), json!(2.5)),
            (FieldKind::Date, json!("2026-02-28"), json!("2026-02-28")),
            (FieldKind::Boolean, json!("Yes"), json!(true)),
            (FieldKind::Boolean, json!(false), json!(false)),
            (
                FieldKind::Email,
                json!("Ana@Example.COM"),
                json!("ana@example.com"),
            ),
            (
                FieldKind::Phone,
                json!("+1 415 555 0132"),
                json!("+14155550132"),
            ),
            (
                FieldKind::Url,
                json!("https://example.com/a"),
                json!("https://example.com/a"),
            ),
        ];
        for (kind, raw, stored) in cases {
            let definition = field("f", kind, &[]);
            assert_eq!(definition.value(&raw), Ok(stored), "{kind:?} {raw}");
        }
    }

    #[test]
    fn values_that_do_not_fit_the_kind_are_refused_with_what_it_takes() {
        let cases = [
            (FieldKind::Text, json!(5), "text of at most 1000 characters"),
            (FieldKind::Number, json!("twelve"), "a number"),
            (FieldKind::Date, json!("2026-02-30"), "a date as YYYY-MM-DD"),
            (FieldKind::Date, json!("28/02/2026"), "a date as YYYY-MM-DD"),
            (FieldKind::Boolean, json!("maybe"), "true or false"),
            (FieldKind::Email, json!("not-an-email"), "an email address"),
            (
                FieldKind::Phone,
                json!("12"),
                "an international phone number",
            ),
            (
                FieldKind::Url,
                json!("javascript:alert(1)"),
                "an http or https link",
            ),
            (
                FieldKind::Url,
                json!("ftp://example.com"),
                "an http or https link",
            ),
        ];
        for (kind, raw, takes) in cases {
            let refused = field("f", kind, &[]).value(&raw).unwrap_err();
            assert_eq!(
                refused.0,
                format!("custom field 'f' takes {takes}; got {raw}"),
                "{kind:?}"
            );
        }
        let long = json!("x".repeat(1001));
        assert!(field("f", FieldKind::Text, &[]).value(&long).is_err());
    }

    #[test]
    fn choices_take_the_options_spelling_and_multi_choices_keep_the_option_order() {
        let plan = field("plan", FieldKind::Choice, &["Gold", "Silver"]);
        assert_eq!(plan.value(&json!("gold")), Ok(json!("Gold")));
        assert_eq!(
            plan.value(&json!("Bronze")).unwrap_err().0,
            "custom field 'plan' takes one of: Gold, Silver; got \"Bronze\""
        );
        let topics = field(
            "topics",
            FieldKind::MultiChoice,
            &["Sales", "Support", "Billing"],
        );
        assert_eq!(
            topics.value(&json!(["billing", "Sales", "sales"])),
            Ok(json!(["Sales", "Billing"]))
        );
        assert_eq!(
            topics.value(&json!("Support; billing")),
            Ok(json!(["Support", "Billing"]))
        );
        assert!(topics.value(&json!(["Sales", "Other"])).is_err());
    }

    #[test]
    fn a_definition_is_tidied_and_refused_when_its_options_do_not_fit_its_kind() {
        let mut choice = field("plan", FieldKind::Choice, &[" Gold ", "Silver"]);
        choice.label = "  Plan ".to_owned();
        let tidied = choice.tidy().unwrap();
        assert_eq!(tidied.label, "Plan");
        assert_eq!(tidied.options, ["Gold", "Silver"]);
        let refusals = [
            (
                field("a", FieldKind::Choice, &[]),
                "a choice field needs 1 to 100 options",
            ),
            (
                field("a", FieldKind::Choice, &["Gold", "gold"]),
                "option 'gold' is listed twice",
            ),
            (
                field("a", FieldKind::Text, &["x"]),
                "a text field has no options; only choice and multi_choice fields do",
            ),
        ];
        for (definition, why) in refusals {
            assert_eq!(definition.tidy().unwrap_err().0, why);
        }
    }

    #[test]
    fn keys_are_lower_case_words_and_never_a_contacts_own_field() {
        assert_eq!(FieldKey::parse("plan_2").unwrap().as_str(), "plan_2");
        for bad in [
            "",
            "2plan",
            "Plan",
            "plan-type",
            "name",
            "email",
            &"a".repeat(65),
        ] {
            assert!(FieldKey::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn applying_definitions_checks_defined_keys_drops_nulls_and_names_missing_required_fields() {
        let mut seats = field("seats", FieldKind::Number, &[]);
        seats.required = true;
        let plan = field("plan", FieldKind::Choice, &["Gold"]);
        let definitions = [seats, plan];
        let given = json!({"seats": "12", "plan": null, "source": "fair"});
        let Value::Object(given) = given else {
            unreachable!()
        };
        let applied = apply(&definitions, given, &Map::new(), Presence::AllRequired).unwrap();
        assert_eq!(
            Value::Object(applied),
            json!({"seats": 12, "source": "fair"})
        );

        let Value::Object(without) = json!({"plan": "gold"}) else {
            unreachable!()
        };
        let refused = apply(
            &definitions,
            without.clone(),
            &Map::new(),
            Presence::AllRequired,
        );
        assert_eq!(
            refused.unwrap_err().0,
            "required custom fields are missing: seats"
        );
        let applied = apply(&definitions, without, &Map::new(), Presence::AsGiven).unwrap();
        assert_eq!(Value::Object(applied), json!({"plan": "Gold"}));
    }

    #[test]
    fn a_stored_value_passes_unchanged_after_its_definition_became_stricter() {
        let plan = field("plan", FieldKind::Choice, &["Gold"]);
        let Value::Object(stored) = json!({"plan": "Bronze"}) else {
            unreachable!()
        };
        let applied = apply(
            std::slice::from_ref(&plan),
            stored.clone(),
            &stored,
            Presence::AsGiven,
        );
        assert_eq!(applied, Ok(stored));
        let Value::Object(changed) = json!({"plan": "Silver"}) else {
            unreachable!()
        };
        assert!(apply(&[plan], changed, &Map::new(), Presence::AsGiven).is_err());
    }
}
