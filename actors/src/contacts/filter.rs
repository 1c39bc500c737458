//! A test over a contact's own data (tags, name, phones, emails, custom fields):
//! what a contact search takes.

use crate::inbox::records::Contact;
use crate::{InvalidValue, TagName};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How deep a filter nests and how many tests it holds at most.
pub const MAX_FILTER_DEPTH: usize = 6;
pub const MAX_FILTER_TESTS: usize = 50;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
// A filter holds filters: its schema names itself rather than unfolding forever.
#[schema(no_recursion)]
pub enum ContactFilter {
    All(Vec<ContactFilter>),
    Any(Vec<ContactFilter>),
    Not(Box<ContactFilter>),
    HasTag(TagName),
    Field(FieldCondition),
}

/// One of a contact's fields against a value. `name`, `phone` and `email` are the
/// contact's own (every phone and email counts); any other name is a custom field.
/// A list (a multi-choice field's options) matches when one of its items does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldCondition {
    pub field: String,
    pub op: CompareOp,
    /// What to compare with; left out for `exists` and `missing`. Numbers compare as
    /// numbers, anything else as text regardless of case (so `YYYY-MM-DD` days
    /// compare in calendar order).
    #[serde(default)]
    pub value: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CompareOp {
    Is,
    IsNot,
    Contains,
    Exists,
    Missing,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl ContactFilter {
    /// Refuses a filter deeper or larger than the limits above, or a comparison
    /// without the value it needs.
    pub fn check(&self) -> Result<(), InvalidValue> {
        let mut tests = 0;
        self.check_within(1, &mut tests)
    }

    fn check_within(&self, depth: usize, tests: &mut usize) -> Result<(), InvalidValue> {
        *tests += 1;
        if depth > MAX_FILTER_DEPTH || *tests > MAX_FILTER_TESTS {
            return Err(InvalidValue(format!(
                "a filter nests at most {MAX_FILTER_DEPTH} deep and holds at most {MAX_FILTER_TESTS} tests"
            )));
        }
        match self {
            ContactFilter::All(list) | ContactFilter::Any(list) => list
                .iter()
                .try_for_each(|f| f.check_within(depth + 1, tests)),
            ContactFilter::Not(inner) => inner.check_within(depth + 1, tests),
            ContactFilter::HasTag(_) => Ok(()),
            ContactFilter::Field(condition) => {
                let needs_value = !matches!(condition.op, CompareOp::Exists | CompareOp::Missing);
                if condition.field.trim().is_empty() {
                    return Err(InvalidValue("a field test names its field".to_owned()));
                }
                match (&condition.value, needs_value) {
                    (None | Some(Value::Null), true) => Err(InvalidValue(format!(
                        "the test on '{}' needs a value",
                        condition.field
                    ))),
                    (Some(Value::Array(_) | Value::Object(_)), _) => Err(InvalidValue(format!(
                        "the test on '{}' compares with one text, number or true/false",
                        condition.field
                    ))),
                    _ => Ok(()),
                }
            }
        }
    }

    pub fn matches(&self, contact: &Contact) -> bool {
        match self {
            ContactFilter::All(list) => list.iter().all(|f| f.matches(contact)),
            ContactFilter::Any(list) => list.iter().any(|f| f.matches(contact)),
            ContactFilter::Not(inner) => !inner.matches(contact),
            ContactFilter::HasTag(tag) => contact.tags.contains(tag),
            ContactFilter::Field(condition) => {
                condition.holds(&values_of(contact, &condition.field))
            }
        }
    }
}

/// Every value the contact holds under `field`, as JSON.
fn values_of(contact: &Contact, field: &str) -> Vec<Value> {
    match field {
        "name" => vec![Value::String(contact.name.clone())],
        "phone" => contact
            .phones
            .iter()
            .map(|p| Value::from(p.as_str()))
            .collect(),
        "email" => contact
            .emails
            .iter()
            .map(|e| Value::from(e.as_str()))
            .collect(),
        custom => match contact.custom_fields.get(custom) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items.clone(),
            Some(one) => vec![one.clone()],
        },
    }
}

impl FieldCondition {
    fn holds(&self, values: &[Value]) -> bool {
        let wanted = self.value.as_ref().unwrap_or(&Value::Null);
        let any = |test: &dyn Fn(&Value) -> bool| values.iter().any(test);
        match self.op {
            CompareOp::Exists => !values.is_empty(),
            CompareOp::Missing => values.is_empty(),
            CompareOp::Is => any(&|v| order(v, wanted) == Some(std::cmp::Ordering::Equal)),
            CompareOp::IsNot => !any(&|v| order(v, wanted) == Some(std::cmp::Ordering::Equal)),
            CompareOp::Contains => {
                let part = text(wanted);
                any(&|v| text(v).contains(&part))
            }
            CompareOp::Gt => any(&|v| order(v, wanted).is_some_and(|o| o.is_gt())),
            CompareOp::Gte => any(&|v| order(v, wanted).is_some_and(|o| o.is_ge())),
            CompareOp::Lt => any(&|v| order(v, wanted).is_some_and(|o| o.is_lt())),
            CompareOp::Lte => any(&|v| order(v, wanted).is_some_and(|o| o.is_le())),
        }
    }
}

/// Numbers (a stored number against a number or a numeric text) as numbers; the
/// rest as lower-case text.
fn order(stored: &Value, wanted: &Value) -> Option<std::cmp::Ordering> {
    if let Value::Number(n) = stored {
        let wanted = match wanted {
            Value::Number(w) => w.as_f64(),
            Value::String(w) => w.trim().parse::<f64>().ok(),
            _ => None,
        };
        return n.as_f64()?.partial_cmp(&wanted?);
    }
    Some(text(stored).cmp(&text(wanted)))
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.trim().to_lowercase(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ContactId, Millis, PhoneE164, TenantId};
    use serde_json::json;

    fn contact() -> Contact {
        let Value::Object(custom_fields) = json!({
            "plan": "Gold",
            "seats": 12,
            "renews_on": "2027-03-01",
            "topics": ["Sales", "Billing"],
            "trial": false,
        }) else {
            unreachable!()
        };
        Contact {
            tenant_id: TenantId::new(),
            id: ContactId::new(),
            name: "Ana Lima".to_owned(),
            phones: vec![PhoneE164::parse("+14155550132").unwrap()],
            emails: Vec::new(),
            identities: Vec::new(),
            custom_fields,
            tags: vec![TagName::parse("vip").unwrap()],
            merged_into: None,
            created_at: Millis(0),
            updated_at: Millis(0),
        }
    }

    fn filter(json: Value) -> ContactFilter {
        let filter: ContactFilter = serde_json::from_value(json).unwrap();
        filter.check().unwrap();
        filter
    }

    #[test]
    fn each_comparison_reads_numbers_as_numbers_and_the_rest_as_text_regardless_of_case() {
        let c = contact();
        let holds = |field: &str, op: &str, value: Value| {
            filter(json!({"field": {"field": field, "op": op, "value": value}})).matches(&c)
        };
        assert!(holds("plan", "is", json!("gold")));
        assert!(!holds("plan", "is_not", json!("GOLD")));
        assert!(holds("name", "contains", json!("lima")));
        assert!(holds("seats", "gt", json!(9)));
        assert!(holds("seats", "gte", json!("12")));
        assert!(!holds("seats", "lt", json!(12)));
        assert!(holds("renews_on", "lt", json!("2027-12-31")));
        assert!(!holds("renews_on", "gt", json!("2027-03-01")));
        assert!(holds("topics", "is", json!("billing")));
        assert!(!holds("topics", "is", json!("support")));
        assert!(holds("trial", "is", json!(false)));
        assert!(holds("phone", "contains", json!("415")));
        assert!(filter(json!({"field": {"field": "email", "op": "missing"}})).matches(&c));
        assert!(filter(json!({"field": {"field": "seats", "op": "exists"}})).matches(&c));
        assert!(!filter(json!({"field": {"field": "region", "op": "exists"}})).matches(&c));
    }

    #[test]
    fn all_any_and_not_combine_tests() {
        let c = contact();
        let gold_vip = json!({"all": [
            {"has_tag": "vip"},
            {"any": [{"field": {"field": "plan", "op": "is", "value": "Silver"}},
                     {"field": {"field": "seats", "op": "gte", "value": 10}}]},
            {"not": {"has_tag": "churned"}}
        ]});
        assert!(filter(gold_vip).matches(&c));
        assert!(!filter(json!({"not": {"has_tag": "vip"}})).matches(&c));
    }

    #[test]
    fn a_filter_too_deep_too_large_or_missing_a_value_is_refused() {
        let mut deep = json!({"has_tag": "vip"});
        for _ in 0..MAX_FILTER_DEPTH {
            deep = json!({"not": deep});
        }
        let deep: ContactFilter = serde_json::from_value(deep).unwrap();
        assert!(deep.check().is_err());
        let wide: ContactFilter = serde_json::from_value(json!({
            "any": vec![json!({"has_tag": "vip"}); MAX_FILTER_TESTS]
        }))
        .unwrap();
        assert!(wide.check().is_err());
        let no_value: ContactFilter =
            serde_json::from_value(json!({"field": {"field": "plan", "op": "is"}})).unwrap();
        assert_eq!(
            no_value.check().unwrap_err().0,
            "the test on 'plan' needs a value"
        );
    }
}
