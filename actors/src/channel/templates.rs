//! WhatsApp message templates, as the WhatsApp Business Management API lists them
//! for a Cloud API channel's business account: kept per channel, replaced whole at
//! every sync, and offered in the composer (approved ones) with their parameters.

use crate::automation::steps::fill_placeholders;
use crate::{ChannelId, Millis, TenantId};
use serde_json::Value;
use std::cell::Cell;

/// Most templates kept per channel (WhatsApp allows 250 per business account on
/// most tiers; 6,000 on the largest).
pub const MAX_TEMPLATES: usize = 6_000;

#[derive(Debug, Clone, PartialEq)]
pub struct MessageTemplate {
    pub tenant_id: TenantId,
    pub channel_id: ChannelId,
    pub name: String,
    /// `en_US`, `de`, …
    pub language: String,
    /// `marketing`, `utility`, `authentication`.
    pub category: String,
    /// `approved`, `pending`, `rejected`, `paused`, `disabled`, … (WhatsApp's, lower-cased).
    pub status: String,
    /// The components as WhatsApp describes them (header, body, footer, buttons).
    pub components: Value,
    /// How many `{{n}}` parameters the body takes.
    pub parameters: u32,
    pub rejected_reason: Option<String>,
    pub synced_at: Millis,
}

impl MessageTemplate {
    /// One item of a `message_templates` answer; `None` when it has no name or
    /// language.
    pub fn from_graph(
        tenant: TenantId,
        channel: ChannelId,
        item: &Value,
        at: Millis,
    ) -> Option<Self> {
        let text = |key: &str| item.get(key).and_then(Value::as_str);
        let components = item
            .get("components")
            .cloned()
            .unwrap_or(Value::Array(Vec::new()));
        Some(Self {
            tenant_id: tenant,
            channel_id: channel,
            name: text("name")?.to_owned(),
            language: text("language")?.to_owned(),
            category: text("category").unwrap_or_default().to_lowercase(),
            status: text("status").unwrap_or_default().to_lowercase(),
            parameters: body_parameters(&components),
            components,
            rejected_reason: text("rejected_reason")
                .filter(|r| !r.is_empty() && *r != "NONE")
                .map(str::to_owned),
            synced_at: at,
        })
    }

    /// The body's text, with its `{{n}}` placeholders.
    pub fn body(&self) -> Option<&str> {
        body_component(&self.components)
    }
}

fn body_component(components: &Value) -> Option<&str> {
    components
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("BODY"))?
        .get("text")?
        .as_str()
}

/// The highest `{{n}}` in the body: how many parameters a send must give.
fn body_parameters(components: &Value) -> u32 {
    let Some(body) = body_component(components) else {
        return 0;
    };
    let highest = Cell::new(0);
    // The automations' placeholder scanner reads the names; nothing is filled.
    fill_placeholders(body, |name| {
        if let Ok(n) = name.parse::<u32>() {
            highest.set(highest.get().max(n));
        }
        None
    });
    highest.get()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_graph_template_is_read_with_its_body_parameters() {
        let item = json!({
            "name": "order_update", "language": "en_US", "category": "UTILITY", "status": "APPROVED",
            "rejected_reason": "NONE", "id": "123",
            "components": [
                {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
                {"type": "BODY", "text": "Hi {{1}}, order {{2}} ships {{3}}. {{ 2 }}"},
                {"type": "FOOTER", "text": "Reply STOP to opt out"}
            ]
        });
        let t = MessageTemplate::from_graph(TenantId::new(), ChannelId::new(), &item, Millis(5))
            .unwrap();
        assert_eq!(
            (
                t.name.as_str(),
                t.language.as_str(),
                t.category.as_str(),
                t.status.as_str()
            ),
            ("order_update", "en_US", "utility", "approved")
        );
        assert_eq!(t.parameters, 3);
        assert_eq!(t.rejected_reason, None);
        assert_eq!(t.body(), Some("Hi {{1}}, order {{2}} ships {{3}}. {{ 2 }}"));
        let rejected = json!({"name": "promo", "language": "de", "status": "REJECTED",
            "rejected_reason": "PROMOTIONAL", "components": [{"type": "BODY", "text": "Sale!"}]});
        let t =
            MessageTemplate::from_graph(TenantId::new(), ChannelId::new(), &rejected, Millis(5))
                .unwrap();
        assert_eq!(
            (t.parameters, t.rejected_reason.as_deref()),
            (0, Some("PROMOTIONAL"))
        );
        assert!(
            MessageTemplate::from_graph(
                TenantId::new(),
                ChannelId::new(),
                &json!({"name": "x"}),
                Millis(5)
            )
            .is_none()
        );
    }
}
