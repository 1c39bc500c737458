//! A test over a contact: their own data (tags, name, phones, emails, custom fields,
//! consent) and what their conversations say (channels, when they last wrote, how
//! hot a lead they are). What a contact search takes and a segment saves.

use crate::inbox::records::Contact;
use crate::pipeline::scoring::Temperature;
use crate::{ChannelKey, InvalidValue, Millis, TagName};
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
    /// Whether they opted out of marketing.
    OptedOut(bool),
    /// They have a conversation on one of these channels (a kind such as
    /// `whatsapp`, or a whole channel key).
    Channel(Vec<String>),
    /// They wrote within this many hours (on any channel).
    InboundWithinHours(u32),
    /// Their hottest conversation's lead temperature is one of these (no lead
    /// counts as cold).
    Temperature(Vec<Temperature>),
}

/// What a contact's conversations say about them, for the tests that need it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Activity {
    pub channels: Vec<ChannelKey>,
    pub last_inbound_at: Option<Millis>,
    /// The hottest of their conversations' leads.
    pub temperature: Option<Temperature>,
}

impl Activity {
    /// Adds one conversation: its channel, when the customer last wrote in it, and
    /// its lead's temperature.
    pub fn add(
        &mut self,
        channel: ChannelKey,
        last_inbound_at: Option<Millis>,
        temperature: Option<Temperature>,
    ) {
        if !self.channels.contains(&channel) {
            self.channels.push(channel);
        }
        self.last_inbound_at = self.last_inbound_at.max(last_inbound_at);
        // Hot sorts first.
        self.temperature = match (self.temperature, temperature) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
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
            ContactFilter::HasTag(_)
            | ContactFilter::OptedOut(_)
            | ContactFilter::InboundWithinHours(_)
            | ContactFilter::Temperature(_) => Ok(()),
            ContactFilter::Channel(list) if list.is_empty() => Err(InvalidValue(
                "a channel test names at least one channel".to_owned(),
            )),
            ContactFilter::Channel(_) => Ok(()),
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

    /// Whether a test needs the contact's [`Activity`]: reading it costs a query.
    pub fn needs_activity(&self) -> bool {
        match self {
            ContactFilter::All(list) | ContactFilter::Any(list) => {
                list.iter().any(ContactFilter::needs_activity)
            }
            ContactFilter::Not(inner) => inner.needs_activity(),
            ContactFilter::HasTag(_) | ContactFilter::Field(_) | ContactFilter::OptedOut(_) => {
                false
            }
            ContactFilter::Channel(_)
            | ContactFilter::InboundWithinHours(_)
            | ContactFilter::Temperature(_) => true,
        }
    }

    /// Whether the contact passes, with their `activity` (empty when not read) at
    /// `now`.
    pub fn matches(&self, contact: &Contact, activity: &Activity, now: Millis) -> bool {
        match self {
            ContactFilter::All(list) => list.iter().all(|f| f.matches(contact, activity, now)),
            ContactFilter::Any(list) => list.iter().any(|f| f.matches(contact, activity, now)),
            ContactFilter::Not(inner) => !inner.matches(contact, activity, now),
            ContactFilter::HasTag(tag) => contact.tags.contains(tag),
            ContactFilter::Field(condition) => {
                condition.holds(&values_of(contact, &condition.field))
            }
            ContactFilter::OptedOut(wanted) => contact.opted_out() == *wanted,
            ContactFilter::Channel(list) => activity
                .channels
                .iter()
                .any(|channel| list.iter().any(|wanted| on_channel(channel, wanted))),
            ContactFilter::InboundWithinHours(hours) => {
                let since = Millis(now.0 - i64::from(*hours) * 3_600_000);
                activity.last_inbound_at.is_some_and(|at| at >= since)
            }
            ContactFilter::Temperature(list) => {
                list.contains(&activity.temperature.unwrap_or(Temperature::Cold))
            }
        }
    }
}

/// A channel key is `<kind>:<name>`: a test names either the kind or the whole key.
fn on_channel(channel: &ChannelKey, wanted: &str) -> bool {
    let key = channel.as_str();
    key.eq_ignore_ascii_case(wanted)
        || key
            .split_once(':')
            .is_some_and(|(kind, _)| kind.eq_ignore_ascii_case(wanted))
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
    use crate::{Millis, PhoneE164};
    use serde_json::json;

    fn contact() -> Contact {
        let custom_fields = json!({
            "plan": "Gold",
            "seats": 12,
            "renews_on": "2027-03-01",
            "topics": ["Sales", "Billing"],
            "trial": false,
        });
        Contact {
            phones: vec![PhoneE164::parse("+14155550132").unwrap()],
            tags: vec![TagName::parse("vip").unwrap()],
            ..Contact::sample("Ana Lima", custom_fields)
        }
    }

    fn filter(json: Value) -> ContactFilter {
        let filter: ContactFilter = serde_json::from_value(json).unwrap();
        filter.check().unwrap();
        filter
    }

    fn holds(json: Value, c: &Contact) -> bool {
        filter(json).matches(c, &Activity::default(), Millis(0))
    }

    #[test]
    fn each_comparison_reads_numbers_as_numbers_and_the_rest_as_text_regardless_of_case() {
        let c = contact();
        let compares = |field: &str, op: &str, value: Value| {
            filter(json!({"field": {"field": field, "op": op, "value": value}})).matches(
                &c,
                &Activity::default(),
                Millis(0),
            )
        };
        assert!(compares("plan", "is", json!("gold")));
        assert!(!compares("plan", "is_not", json!("GOLD")));
        assert!(compares("name", "contains", json!("lima")));
        assert!(compares("seats", "gt", json!(9)));
        assert!(compares("seats", "gte", json!("12")));
        assert!(!compares("seats", "lt", json!(12)));
        assert!(compares("renews_on", "lt", json!("2027-12-31")));
        assert!(!compares("renews_on", "gt", json!("2027-03-01")));
        assert!(compares("topics", "is", json!("billing")));
        assert!(!compares("topics", "is", json!("support")));
        assert!(compares("trial", "is", json!(false)));
        assert!(compares("phone", "contains", json!("415")));
        assert!(holds(
            json!({"field": {"field": "email", "op": "missing"}}),
            &c
        ));
        assert!(holds(
            json!({"field": {"field": "seats", "op": "exists"}}),
            &c
        ));
        assert!(!holds(
            json!({"field": {"field": "region", "op": "exists"}}),
            &c
        ));
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
        assert!(holds(gold_vip, &c));
        assert!(!holds(json!({"not": {"has_tag": "vip"}}), &c));
    }

    #[test]
    fn conversation_tests_read_the_contacts_activity_and_consent_its_own_record() {
        let mut c = contact();
        let mut activity = Activity::default();
        let whatsapp = ChannelKey::parse("whatsapp:5d1e2f3a-0000-4000-8000-000000000001").unwrap();
        activity.add(
            whatsapp.clone(),
            Some(Millis(1_000)),
            Some(Temperature::Cold),
        );
        activity.add(
            ChannelKey::sandbox("demo").unwrap(),
            Some(Millis(7_200_000)),
            Some(Temperature::Warm),
        );
        activity.add(whatsapp, None, None);
        assert_eq!(activity.channels.len(), 2);
        assert_eq!(activity.temperature, Some(Temperature::Warm));
        let now = Millis(7_200_000 + 3_600_000);
        let test = |json: Value, c: &Contact| filter(json).matches(c, &activity, now);
        assert!(test(json!({"channel": ["whatsapp"]}), &c));
        assert!(test(json!({"channel": ["sandbox:demo"]}), &c));
        assert!(!test(json!({"channel": ["messenger"]}), &c));
        assert!(test(json!({"inbound_within_hours": 1}), &c));
        assert!(!test(json!({"inbound_within_hours": 0}), &c));
        assert!(test(json!({"temperature": ["hot", "warm"]}), &c));
        assert!(!filter(json!({"temperature": ["cold"]})).matches(&c, &activity, now));
        assert!(filter(json!({"temperature": ["cold"]})).matches(&c, &Activity::default(), now));
        assert!(test(json!({"opted_out": false}), &c));
        c.consent = Some(crate::contacts::consent::Consent {
            opted_out: true,
            source: crate::contacts::consent::ConsentSource::Keyword,
            at: Millis(5),
        });
        assert!(test(json!({"opted_out": true}), &c));
        assert!(filter(json!({"all": [{"has_tag": "vip"}, {"channel": ["x"]}]})).needs_activity());
        assert!(!filter(json!({"not": {"opted_out": true}})).needs_activity());
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
