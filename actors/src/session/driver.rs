//! The `SessionDriver` port: what a WhatsApp Web client must do for a session
//! actor. The production adapter wraps the `whatsapp-rust` crate; tests plug in a
//! fake that plays WhatsApp's behaviour.

use super::keys::SessionKeys;
use crate::{ChannelId, DeliveryStatus, MessageKind, Millis, TenantId};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// What a driver needs to build one session's client.
#[derive(Clone)]
pub struct SessionSpec {
    pub tenant: TenantId,
    pub channel: ChannelId,
    /// The session's keys, sealed in the shared store: any node can take it over.
    pub keys: Arc<dyn SessionKeys>,
    /// Where the client reports; bounded, so a flood of events waits for the actor.
    pub events: mpsc::Sender<DriverEvent>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    /// Worth another try later: the network, a timeout, a socket that is not up.
    #[error("{0}")]
    Transient(String),
    /// Will not work by trying again: a refused request, a build without the driver.
    #[error("{0}")]
    Permanent(String),
}

/// One live client. Dropping it without `shutdown` leaks nothing but skips the
/// flush of pending state, so the actor always shuts a client down first.
#[async_trait]
pub trait DriverClient: Send + Sync {
    /// Asks WhatsApp for an 8-character code to type on the phone `phone` (digits,
    /// with the country code), instead of scanning the QR code.
    async fn pairing_code(&self, phone: &str) -> Result<String, DriverError>;

    /// Sends a message; `Ok` holds WhatsApp's id for it.
    async fn send(&self, message: &WaOutgoing) -> Result<String, DriverError>;

    /// Tells the chat's customer (in a group, `sender`) these messages were read.
    async fn mark_read(&self, read: &WaRead) -> Result<(), DriverError>;

    /// Unlinks this device from the phone.
    async fn logout(&self) -> Result<(), DriverError>;

    /// Disconnects and flushes pending state; no event follows it.
    async fn shutdown(&self);
}

#[async_trait]
pub trait SessionDriver: Send + Sync + 'static {
    /// Builds a client from the session's keys and starts connecting. What happens
    /// next (a QR code, connected, a drop) arrives as events on `spec.events`.
    async fn connect(&self, spec: SessionSpec) -> Result<Arc<dyn DriverClient>, DriverError>;
}

/// What a client reports.
#[derive(Debug, Clone, PartialEq)]
pub enum DriverEvent {
    /// A QR code to scan, valid for this long.
    Qr {
        code: String,
        valid_for: Duration,
    },
    /// WhatsApp stopped issuing QR codes: no one scanned them.
    QrExhausted,
    /// A pairing code to type, valid for this long.
    PairingCode {
        code: String,
        valid_for: Duration,
    },
    /// The phone linked this device. WhatsApp then closes the connection with
    /// "restart required" ([`DriverEvent::RestartRequired`]): a normal step.
    Paired {
        phone: String,
        name: Option<String>,
    },
    /// Connect again at once; not a failure.
    RestartRequired,
    Connected {
        phone: String,
        name: Option<String>,
    },
    /// The connection dropped; the actor reconnects with backoff.
    Disconnected {
        reason: String,
    },
    /// The phone unlinked this device (or the keys are no longer accepted).
    LoggedOut {
        reason: String,
    },
    /// Another client connected with the same keys.
    Conflict {
        reason: String,
    },
    Banned {
        reason: String,
    },
    Message(WaInbound),
    /// Delivery progress of messages this session sent, by WhatsApp id.
    Receipt {
        ids: Vec<String>,
        status: DeliveryStatus,
    },
}

/// A message seen by the session: from a customer, or sent from the phone itself
/// (`from_me`), in a 1:1 chat or a group.
#[derive(Debug, Clone, PartialEq)]
pub struct WaInbound {
    /// WhatsApp's message id: ingest is idempotent on it.
    pub id: String,
    /// The chat's JID: `<number>@s.whatsapp.net` or `<id>@g.us`.
    pub chat: String,
    /// The chat's name when known (a group's subject, the contact's push name).
    pub chat_name: Option<String>,
    /// In a 1:1 chat: the customer's number in E.164 (`+4915…`).
    pub phone: Option<String>,
    /// In a group: who wrote it (number and name).
    pub participant: Option<(String, Option<String>)>,
    pub from_me: bool,
    pub kind: MessageKind,
    pub body: Option<String>,
    /// Media (MIME type, file name, size, and `wa_media`: where its encrypted file is),
    /// location, contacts, the reaction's target, the quoted message.
    pub attachment: Option<Value>,
    pub at: Millis,
}

impl WaInbound {
    pub fn is_group(&self) -> bool {
        self.chat.ends_with("@g.us")
    }
}

/// A message to send through a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaOutgoing {
    /// The chat's JID.
    pub to: String,
    pub kind: MessageKind,
    pub body: Option<String>,
    /// Media (`link`, `filename`), a reaction (`message_id`), or the quoted message
    /// (`reply_to`).
    pub attachment: Option<Value>,
    /// A media message's file, fetched from its `link` by the node that sends it: a
    /// session uploads the bytes themselves. Never crosses to another node.
    #[serde(skip)]
    pub file: Option<WaFile>,
}

/// A file to send.
#[derive(Clone, PartialEq)]
pub struct WaFile {
    pub bytes: Vec<u8>,
    pub mime_type: String,
}

/// Bytes are not worth a log line; their count is.
impl std::fmt::Debug for WaFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaFile")
            .field("bytes", &self.bytes.len())
            .field("mime_type", &self.mime_type)
            .finish()
    }
}

/// Messages of one chat to mark read, all from one writer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaRead {
    /// The chat's JID.
    pub chat: String,
    /// In a group: the JID of who wrote them.
    pub sender: Option<String>,
    /// WhatsApp's ids of the messages.
    pub ids: Vec<String>,
}
