//! Replies as a WhatsApp Web session sends them. A stored reply carries what its
//! type needs the same way as on the Cloud API (see `channels::meta::outgoing`):
//! media `attachment.link` with the caption in `body`, a reaction
//! `attachment.message_id` with the emoji in `body`; and `attachment.reply_to`
//! quotes a message. A session uploads media itself, so a media reply's link is
//! fetched here first, through the guarded client.

use crate::channels::meta::graph::{GraphError, fetch_file};
use crate::http::guarded::GuardedClient;
use reqwest::header::HeaderMap;
use serde_json::Value;
use switchboard_actors::inbox::records::Message;
use switchboard_actors::session::driver::{WaFile, WaOutgoing, WaRead};
use switchboard_actors::{Direction, MessageKind};

/// The message to send to the chat `to`, or why it cannot be sent.
pub fn message(to: &str, message: &Message) -> Result<WaOutgoing, String> {
    let text = |key: &str| {
        message
            .attachment
            .as_ref()
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
            .is_some()
    };
    match message.kind {
        MessageKind::Text if message.body.as_deref().is_none_or(str::is_empty) => {
            return Err("a text message has no text".into());
        }
        MessageKind::Reaction if !text("message_id") => {
            return Err("a reaction names no message".into());
        }
        MessageKind::Image | MessageKind::Audio | MessageKind::Video | MessageKind::Document
            if !text("link") =>
        {
            return Err("a media message has no link".into());
        }
        MessageKind::Template
        | MessageKind::Interactive
        | MessageKind::Lead
        | MessageKind::Sticker => {
            return Err(format!(
                "a WhatsApp Web session cannot send a {} message",
                message.kind.as_str()
            ));
        }
        _ => {}
    }
    Ok(WaOutgoing {
        to: to.to_owned(),
        kind: message.kind,
        body: message.body.clone(),
        attachment: message.attachment.clone(),
        file: None,
    })
}

/// A media message with its file fetched from the link (each try fetches again: a
/// file is not kept between tries); any other message as it is.
pub async fn with_file(
    files: &GuardedClient,
    mut message: WaOutgoing,
) -> Result<WaOutgoing, GraphError> {
    let link = message
        .attachment
        .as_ref()
        .and_then(|a| a.get("link"))
        .and_then(Value::as_str);
    let Some(link) = link.filter(|_| message.kind.is_media()) else {
        return Ok(message);
    };
    let (bytes, mime_type) = fetch_file(files, link, HeaderMap::new()).await?;
    message.file = Some(WaFile { bytes, mime_type });
    Ok(message)
}

/// Read receipts for the customer's messages since the team last wrote in the chat
/// `chat` (`recent` oldest first), one per writer: a group's receipts name whose
/// messages were read.
pub fn reads(chat: &str, recent: &[Message]) -> Vec<WaRead> {
    let unanswered = recent
        .iter()
        .rposition(|m| m.direction == Direction::Outbound)
        .map_or(recent, |last| &recent[last + 1..]);
    let mut reads: Vec<WaRead> = Vec::new();
    for message in unanswered {
        let Some(id) = message
            .provider_id
            .clone()
            .filter(|_| message.direction == Direction::Inbound)
        else {
            continue;
        };
        let sender = message
            .attachment
            .as_ref()
            .and_then(|a| a.pointer("/participant/phone"))
            .and_then(Value::as_str)
            .map(|phone| format!("{}@s.whatsapp.net", phone.trim_start_matches('+')));
        match reads.iter_mut().find(|r| r.sender == sender) {
            Some(read) => read.ids.push(id),
            None => reads.push(WaRead {
                chat: chat.to_owned(),
                sender,
                ids: vec![id],
            }),
        }
    }
    reads
}
