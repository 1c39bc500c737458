//! Replies as the Graph API takes them, per product.
//!
//! How a stored reply carries what its type needs (set by the REST API):
//! media: `attachment.link` and the caption in `body`; template:
//! `attachment.template = {name, language, parameters}`; reaction:
//! `attachment.message_id` (the provider id of the message reacted to) and the emoji
//! in `body`.

use serde_json::{Value, json};
use switchboard_actors::MessageKind;
use switchboard_actors::channel::ChannelKind;
use switchboard_actors::inbox::records::{Message, Outgoing};

/// What a request body is made of: a stored reply's parts, or a broadcast's message
/// before it is stored.
pub struct Parts<'a> {
    kind: MessageKind,
    body: Option<&'a str>,
    attachment: Option<&'a Value>,
}

impl<'a> From<&'a Message> for Parts<'a> {
    fn from(message: &'a Message) -> Self {
        Self {
            kind: message.kind,
            body: message.body.as_deref(),
            attachment: message.attachment.as_ref(),
        }
    }
}

impl<'a> From<&'a Outgoing> for Parts<'a> {
    fn from(message: &'a Outgoing) -> Self {
        Self {
            kind: message.kind,
            body: message.body.as_deref(),
            attachment: message.attachment.as_ref(),
        }
    }
}

/// The request body that sends `message` to `to`, or why it cannot be sent.
pub fn request_body<'a>(
    kind: ChannelKind,
    to: &str,
    message: impl Into<Parts<'a>>,
) -> Result<Value, String> {
    let message = &message.into();
    match kind {
        ChannelKind::WhatsApp => whatsapp(to, message),
        ChannelKind::Messenger | ChannelKind::Instagram => messenger(to, message),
        ChannelKind::LeadAds => Err("a Lead Ads channel cannot send messages".into()),
        ChannelKind::WhatsAppWeb => Err("a WhatsApp Web channel sends through its session".into()),
    }
}

/// Marks a customer's message read (WhatsApp shows blue ticks to the customer).
pub fn mark_read_body(kind: ChannelKind, customer: &str, provider_id: &str) -> Option<Value> {
    match kind {
        ChannelKind::WhatsApp => Some(json!({
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": provider_id,
        })),
        ChannelKind::Messenger | ChannelKind::Instagram => Some(json!({
            "recipient": {"id": customer},
            "sender_action": "mark_seen",
        })),
        ChannelKind::LeadAds | ChannelKind::WhatsAppWeb => None,
    }
}

fn attachment_text(message: &Parts, key: &str) -> Option<String> {
    message
        .attachment
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn media_word(kind: MessageKind) -> Option<&'static str> {
    Some(match kind {
        MessageKind::Image => "image",
        MessageKind::Audio => "audio",
        MessageKind::Video => "video",
        MessageKind::Document => "document",
        MessageKind::Sticker => "sticker",
        _ => return None,
    })
}

fn whatsapp(to: &str, message: &Parts) -> Result<Value, String> {
    let mut body = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
    });
    let text = message.body.unwrap_or_default().to_owned();
    let (word, part) = match message.kind {
        MessageKind::Text => ("text", json!({"preview_url": false, "body": text})),
        MessageKind::Template => {
            let template = message
                .attachment
                .and_then(|a| a.get("template"))
                .ok_or("a template message has no template")?;
            let parameters: Vec<Value> = template
                .get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|p| json!({"type": "text", "text": p}))
                .collect();
            let mut part = json!({
                "name": template.get("name"),
                "language": {"code": template.get("language")},
            });
            if !parameters.is_empty() {
                part["components"] = json!([{"type": "body", "parameters": parameters}]);
            }
            ("template", part)
        }
        MessageKind::Reaction => {
            let target =
                attachment_text(message, "message_id").ok_or("a reaction names no message")?;
            ("reaction", json!({"message_id": target, "emoji": text}))
        }
        kind => {
            let word = media_word(kind)
                .ok_or_else(|| format!("WhatsApp cannot send a {} message", kind.as_str()))?;
            let link = attachment_text(message, "link").ok_or("a media message has no link")?;
            let mut part = json!({"link": link});
            // WhatsApp refuses captions on audio and stickers.
            if !text.is_empty() && !matches!(kind, MessageKind::Audio | MessageKind::Sticker) {
                part["caption"] = json!(text);
            }
            (word, part)
        }
    };
    body["type"] = json!(word);
    body[word] = part;
    Ok(body)
}

fn messenger(to: &str, message: &Parts) -> Result<Value, String> {
    let content = match message.kind {
        MessageKind::Text => json!({"text": message.body.unwrap_or_default()}),
        kind @ (MessageKind::Image
        | MessageKind::Audio
        | MessageKind::Video
        | MessageKind::Document) => {
            let link = attachment_text(message, "link").ok_or("a media message has no link")?;
            let word = if kind == MessageKind::Document {
                "file"
            } else {
                kind.as_str()
            };
            json!({"attachment": {"type": word, "payload": {"url": link, "is_reusable": true}}})
        }
        kind => {
            return Err(format!(
                "Messenger and Instagram cannot send a {} message here",
                kind.as_str()
            ));
        }
    };
    Ok(json!({
        "recipient": {"id": to},
        "messaging_type": "RESPONSE",
        "message": content,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_actors::inbox::records::Message;
    use switchboard_actors::{
        ConversationId, DeliveryStatus, Direction, MessageId, Millis, TenantId,
    };

    fn message(kind: MessageKind, body: Option<&str>, attachment: Option<Value>) -> Message {
        Message {
            tenant_id: TenantId::new(),
            id: MessageId::new(),
            conversation_id: ConversationId::new(),
            seq: 1,
            direction: Direction::Outbound,
            kind,
            body: body.map(str::to_owned),
            attachment,
            provider_id: None,
            client_id: None,
            author_id: None,
            status: DeliveryStatus::Pending,
            error: None,
            created_at: Millis(0),
            updated_at: Millis(0),
        }
    }

    #[test]
    fn a_whatsapp_text_is_sent_as_the_cloud_api_documents_it() {
        let body = request_body(
            ChannelKind::WhatsApp,
            "4915112345678",
            &message(MessageKind::Text, Some("Hi"), None),
        )
        .unwrap();
        assert_eq!(
            body,
            json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "4915112345678",
                   "type": "text", "text": {"preview_url": false, "body": "Hi"}})
        );
    }

    #[test]
    fn a_whatsapp_template_carries_its_language_and_body_parameters() {
        let m = message(
            MessageKind::Template,
            Some("order_update"),
            Some(
                json!({"template": {"name": "order_update", "language": "en_US", "parameters": ["Ada", "#42"]}}),
            ),
        );
        let body = request_body(ChannelKind::WhatsApp, "1", &m).unwrap();
        assert_eq!(
            body["template"],
            json!({"name": "order_update", "language": {"code": "en_US"},
                   "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ada"}, {"type": "text", "text": "#42"}]}]})
        );
    }

    #[test]
    fn media_goes_by_link_with_its_caption_and_reactions_name_their_message() {
        let m = message(
            MessageKind::Image,
            Some("the invoice"),
            Some(json!({"link": "https://example.com/i.png"})),
        );
        let body = request_body(ChannelKind::WhatsApp, "1", &m).unwrap();
        assert_eq!(
            body["image"],
            json!({"link": "https://example.com/i.png", "caption": "the invoice"})
        );
        let m = message(
            MessageKind::Reaction,
            Some("👍"),
            Some(json!({"message_id": "wamid.X"})),
        );
        let body = request_body(ChannelKind::WhatsApp, "1", &m).unwrap();
        assert_eq!(
            body["reaction"],
            json!({"message_id": "wamid.X", "emoji": "👍"})
        );
        let m = message(
            MessageKind::Document,
            None,
            Some(json!({"link": "https://example.com/a.pdf"})),
        );
        let body = request_body(ChannelKind::Messenger, "psid", &m).unwrap();
        assert_eq!(body["message"]["attachment"]["type"], "file");
    }

    #[test]
    fn what_a_product_cannot_send_is_refused_with_a_reason() {
        let m = message(
            MessageKind::Template,
            Some("t"),
            Some(json!({"template": {"name": "t", "language": "en"}})),
        );
        assert!(request_body(ChannelKind::Messenger, "psid", &m).is_err());
        assert!(
            request_body(
                ChannelKind::LeadAds,
                "x",
                &message(MessageKind::Text, Some("hi"), None)
            )
            .is_err()
        );
    }
}
