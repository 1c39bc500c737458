//! What a broadcast sends, and its message for one contact: the template's
//! parameters (or the text) with the contact's placeholders filled, as the
//! automations fill them (`{{contact.first_name}}`, `{{contact.<custom field>}}`).

use crate::automation::conditions::contact_placeholder;
use crate::automation::steps::fill_placeholders;
use crate::inbox::records::{Contact, Outgoing, RichContent};
use crate::{Direction, InvalidValue};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Content {
    /// An approved WhatsApp template: the one message allowed outside the 24-hour
    /// window. Each parameter may hold placeholders.
    Template {
        name: String,
        language: String,
        parameters: Vec<String>,
    },
    /// Free text: sent only to those who wrote to the channel in the last 24 hours.
    Text { body: String },
}

impl Content {
    /// Refuses content no contact's message could be made from (checked with
    /// placeholders left in, so each part's shape is the reply's).
    pub fn check(&self) -> Result<(), InvalidValue> {
        self.message(|_| Some("x".to_owned())).map(|_| ())
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The message for `contact`, or why none can be made (a parameter that fills to
    /// nothing: WhatsApp refuses an empty one).
    pub fn for_contact(&self, contact: Option<&Contact>) -> Result<Outgoing, InvalidValue> {
        let value = |name: &str| contact_placeholder(contact, name);
        if let Content::Template { parameters, .. } = self
            && let Some((n, raw)) = parameters
                .iter()
                .enumerate()
                .find(|(_, p)| fill_placeholders(p, value).trim().is_empty())
        {
            return Err(InvalidValue(format!(
                "template parameter {} ({raw}) is empty for this contact",
                n + 1
            )));
        }
        self.message(value)
    }

    fn message(&self, value: impl Fn(&str) -> Option<String>) -> Result<Outgoing, InvalidValue> {
        match self {
            Content::Template {
                name,
                language,
                parameters,
            } => Outgoing::rich(
                RichContent::Template {
                    name: name.clone(),
                    language: language.clone(),
                    parameters: parameters
                        .iter()
                        .map(|p| fill_placeholders(p, &value))
                        .collect(),
                },
                None,
                None,
            ),
            Content::Text { body } => Outgoing::text(
                Direction::Outbound,
                &fill_placeholders(body, &value),
                None,
                None,
            ),
        }
    }

    /// Whether it may reach a customer outside their 24-hour window.
    pub fn outside_window(&self) -> bool {
        matches!(self, Content::Template { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MessageKind;
    use serde_json::json;

    fn template(parameters: &[&str]) -> Content {
        Content::Template {
            name: "order_update".into(),
            language: "en_US".into(),
            parameters: parameters.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    #[test]
    fn a_template_is_filled_with_the_contacts_first_name_and_custom_field() {
        let ana = Contact::sample("Ana Lima", json!({"plan": "gold"}));
        let message = template(&["{{contact.first_name}}", "{{ contact.plan }} plan"])
            .for_contact(Some(&ana))
            .unwrap();
        assert_eq!(message.kind, MessageKind::Template);
        assert_eq!(
            message.body.as_deref(),
            Some("order_update: Ana, gold plan")
        );
        assert_eq!(
            message.attachment.unwrap()["template"],
            json!({"name": "order_update", "language": "en_US", "parameters": ["Ana", "gold plan"]})
        );
    }

    #[test]
    fn a_parameter_that_fills_to_nothing_refuses_the_contact() {
        let nameless = Contact::sample("", json!({}));
        let refused = template(&["{{contact.plan}}"]).for_contact(Some(&nameless));
        assert_eq!(
            refused.unwrap_err().0,
            "template parameter 1 ({{contact.plan}}) is empty for this contact"
        );
    }

    #[test]
    fn content_is_checked_with_its_placeholders_in_place() {
        assert!(template(&["{{contact.first_name}}"]).check().is_ok());
        let bad_name = Content::Template {
            name: "Spring Sale".into(),
            language: "en".into(),
            parameters: Vec::new(),
        };
        assert!(bad_name.check().unwrap_err().0.contains("lower-case"));
        assert!(Content::Text { body: "  ".into() }.check().is_err());
        assert!(template(&[]).outside_window());
        assert!(!Content::Text { body: "hi".into() }.outside_window());
    }

    #[test]
    fn content_is_stored_as_tagged_json() {
        let text = Content::Text {
            body: "Hi {{contact.first_name}}".into(),
        };
        assert_eq!(
            text.to_json(),
            json!({"text": {"body": "Hi {{contact.first_name}}"}})
        );
        let back: Content = serde_json::from_value(template(&["a"]).to_json()).unwrap();
        assert_eq!(back, template(&["a"]));
    }
}
