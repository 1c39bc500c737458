//! What a `whatsapp-rust` client reports, as the session actor takes it.

use crate::whatsapp_web::media::MediaRef;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use switchboard_actors::session::driver::{DriverEvent, WaInbound};
use switchboard_actors::{DeliveryStatus, MessageKind, Millis};
use tokio::sync::mpsc;
use whatsapp_rust::Client;
use whatsapp_rust::prelude::{Event, InboundMessage, Jid, MessageExt, wa};
use whatsapp_rust::types::presence::ReceiptType;

/// Sends what `event` means for the session, waiting for room (the client's own
/// event delivery then waits: memory stays bounded).
pub async fn forward(event: &Event, client: &Arc<Client>, events: &mpsc::Sender<DriverEvent>) {
    for translated in translate(event, client) {
        if events.send(translated).await.is_err() {
            // The actor let this client go.
            return;
        }
    }
}

fn translate(event: &Event, client: &Arc<Client>) -> Vec<DriverEvent> {
    let one = |e| vec![e];
    match event {
        Event::PairingQrCode(qr) => one(DriverEvent::Qr {
            code: qr.code.clone(),
            valid_for: qr.timeout,
        }),
        Event::PairingQrCodesExhausted(_) => one(DriverEvent::QrExhausted),
        Event::PairingCode(code) => one(DriverEvent::PairingCode {
            code: code.code.clone(),
            valid_for: code.timeout,
        }),
        // The crate restarts the connection after pairing itself (WhatsApp's 515
        // "restart required"); `Connected` follows.
        Event::PairSuccess(paired) => one(DriverEvent::Paired {
            phone: e164(&paired.id),
            name: Some(paired.business_name.clone()).filter(|n| !n.is_empty()),
        }),
        Event::PairError(failed) => one(DriverEvent::Disconnected {
            reason: format!("pairing failed: {}", failed.error),
        }),
        Event::Connected(_) => {
            // From here on the session actor owns reconnecting.
            client.enable_auto_reconnect.store(false, Ordering::Relaxed);
            let name = client.push_name();
            one(DriverEvent::Connected {
                phone: client.pn().map(|jid| e164(&jid)).unwrap_or_default(),
                name: Some(name).filter(|n| !n.is_empty()),
            })
        }
        Event::Disconnected(gone) => one(DriverEvent::Disconnected {
            reason: format!("{:?}", gone.reason),
        }),
        Event::LoggedOut(out) => one(DriverEvent::LoggedOut {
            reason: format!("WhatsApp ended the session ({:?})", out.reason),
        }),
        Event::StreamReplaced(_) => one(DriverEvent::Conflict {
            reason: "another client connected with this session".into(),
        }),
        Event::TemporaryBan(ban) => one(DriverEvent::Banned {
            reason: format!(
                "WhatsApp banned the number for {} s ({:?}){}",
                ban.expire.num_seconds(),
                ban.code,
                ban.message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ),
        }),
        Event::ConnectFailure(failure) => one(DriverEvent::Disconnected {
            reason: format!(
                "WhatsApp refused the connection ({:?}){}",
                failure.reason,
                failure
                    .message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ),
        }),
        Event::ClientOutdated(_) => one(DriverEvent::Banned {
            reason: "WhatsApp refuses this client version; update the server".into(),
        }),
        Event::Messages(batch) => batch.iter().filter_map(message).collect(),
        Event::Receipt(receipt) => {
            let status = match receipt.r#type {
                ReceiptType::Delivered => DeliveryStatus::Delivered,
                ReceiptType::Read | ReceiptType::Played => DeliveryStatus::Read,
                _ => return Vec::new(),
            };
            one(DriverEvent::Receipt {
                ids: receipt
                    .message_ids
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                status,
            })
        }
        _ => Vec::new(),
    }
}

/// `+<digits>` from a phone-number JID.
fn e164(jid: &Jid) -> String {
    format!("+{}", jid.user)
}

/// A message as the session actor takes it; `None` for what the inbox does not
/// show (protocol messages, edits of unknown ones).
fn message(inbound: &InboundMessage) -> Option<DriverEvent> {
    let info = &inbound.info;
    let source = &info.source;
    let base = inbound.message.get_base_message();
    let (kind, body, mut attachment) = content(base)?;
    // A 1:1 chat may be addressed by LID; the number is then in the alternate JID.
    let number = if source.is_group {
        None
    } else {
        [
            Some(&source.chat),
            source.sender_alt.as_ref(),
            source.recipient_alt.as_ref(),
        ]
        .into_iter()
        .flatten()
        .find(|jid| jid.is_pn())
        .cloned()
    };
    let chat = match &number {
        Some(number) => number.to_non_ad().to_string(),
        None => source.chat.to_non_ad().to_string(),
    };
    if let Some(quoted) = quoted_id(base) {
        attachment.insert("reply_to".into(), json!(quoted));
    }
    let participant = source.is_group.then(|| {
        let sender = source.sender_alt.as_ref().unwrap_or(&source.sender);
        (
            e164(sender),
            Some(info.push_name.clone()).filter(|n| !n.is_empty()),
        )
    });
    let chat_name = if source.is_group {
        None
    } else {
        Some(info.push_name.clone()).filter(|n| !n.is_empty() && !source.is_from_me)
    };
    Some(DriverEvent::Message(WaInbound {
        id: info.id.to_string(),
        chat,
        chat_name,
        phone: number.map(|jid| e164(&jid)),
        participant,
        from_me: source.is_from_me,
        kind,
        body,
        attachment: (!attachment.is_empty()).then_some(Value::Object(attachment)),
        at: Millis(info.timestamp.timestamp_millis()),
    }))
}

/// The message's type, text and what else it carries.
fn content(base: &wa::Message) -> Option<(MessageKind, Option<String>, Map<String, Value>)> {
    let mut attachment = Map::new();
    if let Some(text) = base.text_content() {
        return Some((MessageKind::Text, Some(text.to_owned()), attachment));
    }
    let caption = base.get_caption().map(str::to_owned);
    macro_rules! media {
        ($field:ident, $kind:expr) => {
            if let Some(media) = base.$field.as_option() {
                attachment.insert("mime_type".into(), json!(media.mimetype));
                attachment.insert("size".into(), json!(media.file_length));
                attachment.insert("wa_media".into(), json!(MediaRef::of(media)));
                return Some(($kind, caption, attachment));
            }
        };
    }
    media!(image_message, MessageKind::Image);
    media!(video_message, MessageKind::Video);
    media!(audio_message, MessageKind::Audio);
    media!(sticker_message, MessageKind::Sticker);
    if let Some(document) = base.document_message.as_option() {
        attachment.insert("mime_type".into(), json!(document.mimetype));
        attachment.insert("size".into(), json!(document.file_length));
        attachment.insert("filename".into(), json!(document.file_name));
        attachment.insert("wa_media".into(), json!(MediaRef::of(document)));
        return Some((MessageKind::Document, caption, attachment));
    }
    if let Some(location) = base.location_message.as_option() {
        attachment.insert("latitude".into(), json!(location.degrees_latitude));
        attachment.insert("longitude".into(), json!(location.degrees_longitude));
        attachment.insert("name".into(), json!(location.name));
        attachment.insert("address".into(), json!(location.address));
        return Some((MessageKind::Location, None, attachment));
    }
    if let Some(contact) = base.contact_message.as_option() {
        attachment.insert("name".into(), json!(contact.display_name));
        attachment.insert("vcard".into(), json!(contact.vcard));
        return Some((
            MessageKind::Contact,
            contact.display_name.clone(),
            attachment,
        ));
    }
    if let Some(reaction) = base.reaction_message.as_option() {
        let target = reaction.key.as_option().and_then(|key| key.id.clone());
        attachment.insert("message_id".into(), json!(target));
        return Some((MessageKind::Reaction, reaction.text.clone(), attachment));
    }
    None
}

/// The id of the message this one quotes, when it quotes one.
fn quoted_id(base: &wa::Message) -> Option<String> {
    base.extended_text_message
        .as_option()
        .and_then(|m| m.context_info.as_option())
        .and_then(|c| c.stanza_id.clone())
}
