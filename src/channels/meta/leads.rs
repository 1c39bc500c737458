//! A Lead Ads lead, as the Graph API returns it, turned into a message on the lead's
//! contact: the email and phone it carries find the person's existing contact.

use crate::channels::adapter::Draft;
use serde_json::{Map, Value, json};
use switchboard_actors::{Direction, Email, MessageKind, Millis, PhoneE164};

/// Fields Meta's standard lead form questions use.
const EMAIL_FIELDS: &[&str] = &["email", "work_email"];
const PHONE_FIELDS: &[&str] = &["phone_number", "phone", "work_phone_number"];

pub struct LeadRef<'a> {
    pub leadgen_id: &'a str,
    pub form_id: Option<&'a str>,
    pub ad_id: Option<&'a str>,
}

/// `lead` is `GET /{leadgen_id}`: `{id, created_time, field_data: [{name, values}]}`.
pub fn draft(lead: &Value, reference: &LeadRef<'_>, default_country: Option<&str>) -> Draft {
    let mut fields = Map::new();
    for field in lead
        .get("field_data")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(name) = field.get("name").and_then(Value::as_str) else {
            continue;
        };
        let values: Vec<&str> = field
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        fields.insert(name.to_owned(), json!(values.join(", ")));
    }
    let field = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| fields.get(*n).and_then(Value::as_str))
            .map(str::to_owned)
    };
    let email = field(EMAIL_FIELDS).and_then(|e| Email::parse(&e).ok());
    let phone = field(PHONE_FIELDS).and_then(|p| PhoneE164::parse_in(&p, default_country).ok());
    let name = field(&["full_name"]).or_else(|| {
        let first = field(&["first_name"]).unwrap_or_default();
        let last = field(&["last_name"]).unwrap_or_default();
        Some(format!("{first} {last}").trim().to_owned()).filter(|n| !n.is_empty())
    });
    // The person's handle on the lead channel: what they gave us to reach them.
    let customer_id = email
        .as_ref()
        .map(|e| e.as_str().to_owned())
        .or_else(|| phone.as_ref().map(|p| p.as_str().to_owned()))
        .unwrap_or_else(|| format!("lead-{}", reference.leadgen_id));
    let summary: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or_default()))
        .collect();
    Draft {
        direction: Direction::Inbound,
        customer_id,
        customer_name: name,
        customer_phone: phone,
        customer_email: email,
        provider_id: reference.leadgen_id.to_owned(),
        kind: MessageKind::Lead,
        body: Some(summary.join("\n")),
        attachment: Some(json!({
            "leadgen_id": reference.leadgen_id,
            "form_id": reference.form_id,
            "ad_id": reference.ad_id,
            "created_time": lead.get("created_time"),
            "fields": fields,
        })),
        at: Millis::now(),
    }
}
