//! Meta webhook payloads (WhatsApp Cloud API, Messenger, Instagram, Lead Ads) and
//! their reading into provider-neutral events.
//!
//! Meta adds fields over time, so unknown fields are ignored; a part we cannot read
//! becomes a problem that is kept (with the body) in the webhook log while the rest
//! of the delivery is still used.

use crate::channels::adapter::{Account, Draft, Event, Parsed};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use switchboard_actors::channel::ChannelKind;
use switchboard_actors::{DeliveryStatus, Direction, MessageKind, Millis, PhoneE164};

#[derive(Debug, Deserialize)]
pub struct Envelope {
    pub object: String,
    #[serde(default)]
    pub entry: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
pub struct Entry {
    /// The WABA id for WhatsApp, the page or Instagram account id otherwise.
    #[serde(default)]
    pub id: Value,
    #[serde(default)]
    pub changes: Vec<Change>,
    #[serde(default)]
    pub messaging: Vec<Value>,
}

#[derive(Debug, Deserialize)]
pub struct Change {
    pub field: String,
    #[serde(default)]
    pub value: Value,
}

/// Reads a delivery's body, its text normalised (`domain::text`). `Err` when it is not
/// a Meta webhook at all.
pub fn parse(body: &[u8]) -> Result<Parsed, String> {
    let mut value: Value =
        serde_json::from_slice(body).map_err(|err| format!("not a Meta webhook: {err}"))?;
    switchboard_actors::domain::text::clean_json(&mut value);
    let envelope: Envelope =
        serde_json::from_value(value).map_err(|err| format!("not a Meta webhook: {err}"))?;
    let mut parsed = Parsed::default();
    match envelope.object.as_str() {
        "whatsapp_business_account" => {
            for entry in &envelope.entry {
                for change in &entry.changes {
                    if change.field == "messages" {
                        whatsapp_change(&change.value, &mut parsed);
                    } else {
                        parsed
                            .problems
                            .push(format!("unsupported WhatsApp field '{}'", change.field));
                    }
                }
            }
        }
        object @ ("page" | "instagram") => {
            let kind = if object == "page" {
                ChannelKind::Messenger
            } else {
                ChannelKind::Instagram
            };
            for entry in &envelope.entry {
                let id = id_text(&entry.id).unwrap_or_default();
                let account = Account {
                    kind,
                    id: id.clone(),
                };
                for event in &entry.messaging {
                    messaging_event(&account, event, &mut parsed);
                }
                for change in &entry.changes {
                    if change.field == "leadgen" && kind == ChannelKind::Messenger {
                        leadgen_change(&id, &change.value, &mut parsed);
                    } else {
                        parsed
                            .problems
                            .push(format!("unsupported field '{}'", change.field));
                    }
                }
            }
        }
        other => return Err(format!("unsupported webhook object '{other}'")),
    }
    Ok(parsed)
}

fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn text(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// WhatsApp sends seconds as a string.
fn seconds(value: &Value, key: &str) -> Millis {
    let secs = match value.get(key) {
        Some(Value::String(s)) => s.parse::<i64>().ok(),
        Some(Value::Number(n)) => n.as_i64(),
        _ => None,
    };
    secs.map_or_else(Millis::now, |s| Millis(s.saturating_mul(1000)))
}

fn whatsapp_change(value: &Value, parsed: &mut Parsed) {
    let Some(id) = value
        .get("metadata")
        .and_then(|m| text(m, "phone_number_id"))
    else {
        parsed
            .problems
            .push("WhatsApp change without metadata.phone_number_id".into());
        return;
    };
    let account = Account {
        kind: ChannelKind::WhatsApp,
        id,
    };
    let names: Vec<(String, String)> = value
        .get("contacts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let wa_id = text(c, "wa_id")?;
            let name = c.get("profile").and_then(|p| text(p, "name"))?;
            Some((wa_id, name))
        })
        .collect();
    for message in value
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match whatsapp_message(message, &names) {
            Ok(draft) => parsed.events.push((account.clone(), Event::Message(draft))),
            Err(problem) => parsed.problems.push(problem),
        }
    }
    for status in value
        .get("statuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match whatsapp_status(status) {
            Ok((provider_id, status, error)) => parsed.events.push((
                account.clone(),
                Event::Status {
                    provider_id,
                    status,
                    error,
                },
            )),
            Err(problem) => parsed.problems.push(problem),
        }
    }
}

fn whatsapp_message(message: &Value, names: &[(String, String)]) -> Result<Draft, String> {
    let from = text(message, "from").ok_or("WhatsApp message without 'from'")?;
    let id = text(message, "id").ok_or("WhatsApp message without 'id'")?;
    let kind_word = text(message, "type").unwrap_or_default();
    let part = message.get(&kind_word).cloned().unwrap_or(Value::Null);
    let (kind, body, mut attachment) = match kind_word.as_str() {
        "text" => (MessageKind::Text, text(&part, "body"), Map::new()),
        "image" | "audio" | "video" | "document" | "sticker" => {
            let kind = MessageKind::parse(&kind_word).map_err(|e| e.0)?;
            let media_id = text(&part, "id")
                .ok_or_else(|| format!("WhatsApp {kind_word} without a media id"))?;
            let mut a = Map::new();
            a.insert("media_id".into(), json!(media_id));
            for key in ["mime_type", "sha256", "filename", "animated", "voice"] {
                if let Some(v) = part.get(key) {
                    a.insert(key.into(), v.clone());
                }
            }
            (kind, text(&part, "caption"), a)
        }
        "location" => {
            let mut a = Map::new();
            for key in ["latitude", "longitude", "name", "address", "url"] {
                if let Some(v) = part.get(key) {
                    a.insert(key.into(), v.clone());
                }
            }
            if !a.contains_key("latitude") || !a.contains_key("longitude") {
                return Err("WhatsApp location without coordinates".into());
            }
            (MessageKind::Location, text(&part, "name"), a)
        }
        "contacts" => {
            let cards = message.get("contacts").cloned().unwrap_or(Value::Null);
            let names: Vec<String> = cards
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c.get("name").and_then(|n| text(n, "formatted_name")))
                .collect();
            let mut a = Map::new();
            a.insert("contacts".into(), cards);
            (
                MessageKind::Contact,
                Some(names.join(", ")).filter(|s| !s.is_empty()),
                a,
            )
        }
        "interactive" => {
            let reply_type = text(&part, "type").unwrap_or_default();
            let reply = part.get(&reply_type).cloned().unwrap_or(Value::Null);
            let mut a = Map::new();
            a.insert("reply_type".into(), json!(reply_type));
            a.insert(
                "reply_id".into(),
                reply.get("id").cloned().unwrap_or(Value::Null),
            );
            if let Some(d) = reply.get("description") {
                a.insert("description".into(), d.clone());
            }
            (MessageKind::Interactive, text(&reply, "title"), a)
        }
        "button" => {
            let mut a = Map::new();
            a.insert("reply_type".into(), json!("button"));
            a.insert(
                "payload".into(),
                part.get("payload").cloned().unwrap_or(Value::Null),
            );
            (MessageKind::Interactive, text(&part, "text"), a)
        }
        "reaction" => {
            let mut a = Map::new();
            a.insert(
                "message_id".into(),
                part.get("message_id").cloned().unwrap_or(Value::Null),
            );
            // An empty emoji removes the reaction.
            (MessageKind::Reaction, text(&part, "emoji"), a)
        }
        other => return Err(format!("unsupported WhatsApp message type '{other}'")),
    };
    if let Some(context) = message.get("context") {
        attachment.insert("reply_to".into(), context.clone());
    }
    if let Some(referral) = message.get("referral") {
        attachment.insert("referral".into(), referral.clone());
    }
    let name = names
        .iter()
        .find(|(wa_id, _)| *wa_id == from)
        .map(|(_, n)| n.clone());
    Ok(Draft {
        direction: Direction::Inbound,
        customer_phone: PhoneE164::parse(&format!("+{from}")).ok(),
        customer_email: None,
        customer_id: from,
        customer_name: name,
        provider_id: id,
        kind,
        body,
        attachment: (!attachment.is_empty()).then_some(Value::Object(attachment)),
        at: seconds(message, "timestamp"),
    })
}

type StatusParts = (String, DeliveryStatus, Option<String>);

fn whatsapp_status(status: &Value) -> Result<StatusParts, String> {
    let id = text(status, "id").ok_or("WhatsApp status without 'id'")?;
    let word = text(status, "status").unwrap_or_default();
    let parsed = match word.as_str() {
        "sent" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        "read" | "played" => DeliveryStatus::Read,
        "failed" => DeliveryStatus::Failed,
        other => return Err(format!("unsupported WhatsApp status '{other}'")),
    };
    let error = status
        .get("errors")
        .and_then(Value::as_array)
        .and_then(|errors| errors.first())
        .map(graph_error_text);
    Ok((id, parsed, error))
}

/// "131047 Re-engagement message: More than 24 hours have passed …"
pub fn graph_error_text(error: &Value) -> String {
    let code = error.get("code").map(|c| c.to_string()).unwrap_or_default();
    let title = text(error, "title")
        .or_else(|| text(error, "message"))
        .unwrap_or_default();
    let details = error
        .get("error_data")
        .and_then(|d| text(d, "details"))
        .or_else(|| text(error, "message").filter(|m| *m != title));
    match details {
        Some(details) => format!("{code} {title}: {details}").trim().to_owned(),
        None => format!("{code} {title}").trim().to_owned(),
    }
}

fn messaging_event(account: &Account, event: &Value, parsed: &mut Parsed) {
    let sender = event.get("sender").and_then(|s| id_text(s.get("id")?));
    let recipient = event.get("recipient").and_then(|s| id_text(s.get("id")?));
    let at = event
        .get("timestamp")
        .and_then(Value::as_i64)
        .map_or_else(Millis::now, Millis);
    if let Some(message) = event.get("message") {
        let echo = message
            .get("is_echo")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        // An echo is the page's own message: the customer is the recipient.
        let customer = if echo { recipient } else { sender };
        let (Some(customer), Some(mid)) = (customer, text(message, "mid")) else {
            parsed.problems.push("message without sender or mid".into());
            return;
        };
        match messenger_message(message) {
            Ok((kind, body, attachment)) => parsed.events.push((
                account.clone(),
                Event::Message(Draft {
                    direction: if echo {
                        Direction::Outbound
                    } else {
                        Direction::Inbound
                    },
                    customer_id: customer,
                    customer_name: None,
                    customer_phone: None,
                    customer_email: None,
                    provider_id: mid,
                    kind,
                    body,
                    attachment,
                    at,
                }),
            )),
            Err(problem) => parsed.problems.push(problem),
        }
    } else if let Some(postback) = event.get("postback") {
        let Some(customer) = sender else {
            parsed.problems.push("postback without sender".into());
            return;
        };
        // Older postbacks carry no mid; the timestamp makes a stable id for replays.
        let mid = text(postback, "mid").unwrap_or_else(|| format!("postback-{customer}-{}", at.0));
        parsed.events.push((
            account.clone(),
            Event::Message(Draft {
                direction: Direction::Inbound,
                customer_id: customer,
                customer_name: None,
                customer_phone: None,
                customer_email: None,
                provider_id: mid,
                kind: MessageKind::Interactive,
                body: text(postback, "title"),
                attachment: Some(
                    json!({"reply_type": "postback", "payload": postback.get("payload")}),
                ),
                at,
            }),
        ));
    } else if let Some(delivery) = event.get("delivery") {
        for mid in delivery
            .get("mids")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(mid) = mid.as_str() {
                parsed.events.push((
                    account.clone(),
                    Event::Status {
                        provider_id: mid.to_owned(),
                        status: DeliveryStatus::Delivered,
                        error: None,
                    },
                ));
            }
        }
    } else if let Some(read) = event.get("read") {
        let Some(customer) = sender else {
            parsed.problems.push("read without sender".into());
            return;
        };
        if let Some(mid) = text(read, "mid") {
            // Instagram names the message read.
            parsed.events.push((
                account.clone(),
                Event::Status {
                    provider_id: mid,
                    status: DeliveryStatus::Read,
                    error: None,
                },
            ));
        } else if let Some(watermark) = read.get("watermark").and_then(Value::as_i64) {
            parsed.events.push((
                account.clone(),
                Event::ReadUpTo {
                    customer_id: customer,
                    watermark: Millis(watermark),
                },
            ));
        } else {
            parsed.problems.push("read without watermark or mid".into());
        }
    } else {
        parsed.problems.push("unsupported messaging event".into());
    }
}

type MessageParts = (MessageKind, Option<String>, Option<Value>);

fn messenger_message(message: &Value) -> Result<MessageParts, String> {
    let body = text(message, "text");
    if let Some(reaction) = message.get("reaction") {
        return Ok((
            MessageKind::Reaction,
            text(reaction, "emoji"),
            Some(reaction.clone()),
        ));
    }
    let attachments = message.get("attachments").and_then(Value::as_array);
    if let Some(first) = attachments.and_then(|a| a.first()) {
        // Media types carry a file on Meta's CDN, fetched on request (`media_url`).
        // The others carry a link to anything at all (a shared page, a template's
        // button): kept as `link_url` for agents to open, never fetched by us.
        let (kind, media) = match text(first, "type").as_deref() {
            Some("image") => (MessageKind::Image, true),
            Some("audio") => (MessageKind::Audio, true),
            Some("video") => (MessageKind::Video, true),
            Some("file") => (MessageKind::Document, true),
            Some("sticker") => (MessageKind::Sticker, true),
            Some("location") => (MessageKind::Location, false),
            Some("fallback" | "share" | "story_mention" | "ig_reel" | "reel" | "template") => {
                (MessageKind::Text, false)
            }
            other => return Err(format!("unsupported attachment type {other:?}")),
        };
        let url = first.get("payload").and_then(|p| text(p, "url"));
        let link = if media { "media_url" } else { "link_url" };
        return Ok((
            kind,
            body,
            Some(json!({"attachments": attachments, link: url})),
        ));
    }
    if let Some(quick) = message.get("quick_reply") {
        return Ok((
            MessageKind::Interactive,
            body,
            Some(json!({"reply_type": "quick_reply", "payload": quick.get("payload")})),
        ));
    }
    if body.is_none() {
        return Err("message with neither text nor attachments".into());
    }
    let reply_to = message.get("reply_to").map(|r| json!({"reply_to": r}));
    Ok((MessageKind::Text, body, reply_to))
}

fn leadgen_change(page: &str, value: &Value, parsed: &mut Parsed) {
    let Some(leadgen_id) = id_text(value.get("leadgen_id").unwrap_or(&Value::Null)) else {
        parsed
            .problems
            .push("leadgen change without leadgen_id".into());
        return;
    };
    let id = value
        .get("page_id")
        .and_then(id_text)
        .unwrap_or_else(|| page.to_owned());
    parsed.events.push((
        Account {
            kind: ChannelKind::LeadAds,
            id,
        },
        Event::Lead {
            leadgen_id,
            form_id: value.get("form_id").and_then(id_text),
            ad_id: value.get("ad_id").and_then(id_text),
        },
    ));
}
