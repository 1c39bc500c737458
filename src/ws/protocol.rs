//! Client frames: JSON objects with a `type`, an optional protocol version `v` and an
//! optional `ref` that the server's `ack` or `error` echoes.

use crate::error::ErrorCode;
use serde::Deserialize;
use serde_json::Value;
use switchboard_actors::inbox::frames::PresenceStatus;
use switchboard_actors::inbox::stream::{PROTOCOL_VERSION, StreamPosition};
use switchboard_actors::{ClientMessageId, ConversationId};

#[derive(Debug, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum ClientFrame {
    #[serde(rename = "auth")]
    Auth { token: String },
    /// The whole inbox, or one more conversation. The first subscribe starts the
    /// stream, replaying after `after` when given.
    #[serde(rename = "subscribe")]
    Subscribe {
        conversation_id: Option<ConversationId>,
        after: Option<StreamPosition>,
    },
    #[serde(rename = "typing.start")]
    TypingStart { conversation_id: ConversationId },
    #[serde(rename = "typing.stop")]
    TypingStop { conversation_id: ConversationId },
    /// Has the conversation open; repeated while it stays open.
    #[serde(rename = "viewing.start")]
    ViewingStart { conversation_id: ConversationId },
    #[serde(rename = "viewing.stop")]
    ViewingStop { conversation_id: ConversationId },
    #[serde(rename = "message.send")]
    MessageSend {
        conversation_id: ConversationId,
        client_id: ClientMessageId,
        body: String,
        /// An internal note instead of a reply to the customer.
        #[serde(default)]
        note: bool,
    },
    #[serde(rename = "conversation.read")]
    ConversationRead { conversation_id: ConversationId },
    #[serde(rename = "presence.set")]
    PresenceSet { status: PresenceStatus },
    #[serde(rename = "ping")]
    Ping,
}

/// A parsed frame with its `ref`, or the reason it was refused (with the `ref`
/// when one could be read, so the error reaches the right request).
pub struct Parsed {
    pub reference: Option<Value>,
    pub frame: ClientFrame,
}

pub struct Refused {
    pub reference: Option<Value>,
    pub code: ErrorCode,
    pub message: String,
}

pub fn parse(text: &str) -> Result<Parsed, Refused> {
    let mut value: Value = serde_json::from_str(text).map_err(|err| Refused {
        reference: None,
        code: ErrorCode::InvalidJson,
        message: format!("the frame is not JSON: {err}"),
    })?;
    switchboard_actors::domain::text::clean_json(&mut value);
    let object = value.as_object_mut().ok_or_else(|| Refused {
        reference: None,
        code: ErrorCode::InvalidRequest,
        message: "a frame must be a JSON object".into(),
    })?;
    let reference = object.remove("ref");
    if let Some(version) = object.remove("v")
        && version.as_u64() != Some(u64::from(PROTOCOL_VERSION))
    {
        return Err(Refused {
            reference,
            code: ErrorCode::InvalidRequest,
            message: format!("protocol version {version} is not supported; use {PROTOCOL_VERSION}"),
        });
    }
    match serde_json::from_value(value) {
        Ok(frame) => Ok(Parsed { reference, frame }),
        Err(err) => Err(Refused {
            reference,
            code: ErrorCode::InvalidRequest,
            message: err.to_string(),
        }),
    }
}
