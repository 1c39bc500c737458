//! The channel adapter interface: what every provider's webhook goes through before
//! anything of it is used. An adapter checks a delivery on its raw bytes and headers
//! (in constant time, and within the provider's time window on both sides where it
//! signs a timestamp), then reads it into the provider-neutral events below, which the
//! webhook handlers place on the tenant's channels through the one ingest path.
//! Replies leave through the provider clients (`clients.rs`).

use super::credentials::Credentials;
use actix_web::http::header::HeaderMap;
use serde_json::Value;
use switchboard_actors::channel::ChannelKind;
use switchboard_actors::inbox::records::{Identity, Inbound};
use switchboard_actors::{
    ChannelKey, DeliveryStatus, Direction, Email, MessageKind, Millis, PhoneE164,
};

/// Why a delivery was refused; the caller gets it with `invalid_signature`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused(pub &'static str);

/// A provider's webhooks.
pub trait WebhookAdapter {
    /// The provider in metrics (`webhooks_total{provider}`) and logs.
    const PROVIDER: &'static str;

    /// Whether the delivery is the provider's, signed with the channel's secret, at
    /// `now` (for providers that sign a timestamp).
    fn verify(
        credentials: &Credentials,
        headers: &HeaderMap,
        body: &[u8],
        now: Millis,
    ) -> Result<(), Refused>;

    /// The delivery's events, and the parts that could not be read; `Err` when it is
    /// not this provider's webhook at all.
    fn parse(body: &[u8]) -> Result<Parsed, String>;
}

/// A message before it is placed on a channel: who the customer is and what was
/// sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub direction: Direction,
    pub customer_id: String,
    pub customer_name: Option<String>,
    pub customer_phone: Option<PhoneE164>,
    pub customer_email: Option<Email>,
    pub provider_id: String,
    pub kind: MessageKind,
    pub body: Option<String>,
    pub attachment: Option<Value>,
    pub at: Millis,
}

impl Draft {
    pub fn into_inbound(self, channel: ChannelKey) -> Inbound {
        Inbound {
            sender: Identity {
                channel: channel.clone(),
                external_id: self.customer_id.clone(),
            },
            channel,
            direction: self.direction,
            sender_name: self.customer_name.unwrap_or(self.customer_id),
            sender_phone: self.customer_phone,
            sender_email: self.customer_email,
            provider_id: Some(self.provider_id),
            kind: self.kind,
            body: self.body,
            attachment: self.attachment,
            received_at: self.at,
        }
    }
}

/// The provider account an event concerns; it names the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub kind: ChannelKind,
    pub id: String,
}

/// Something a webhook told us.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Message(Draft),
    /// A delivery report for a message we sent, by the provider's message id.
    Status {
        provider_id: String,
        status: DeliveryStatus,
        error: Option<String>,
    },
    /// Messenger and Instagram report reads as "everything up to here".
    ReadUpTo {
        customer_id: String,
        watermark: Millis,
    },
    /// A Lead Ads submission; the lead itself is fetched from the Graph API.
    Lead {
        leadgen_id: String,
        form_id: Option<String>,
        ad_id: Option<String>,
    },
}

/// What one delivery held.
#[derive(Debug, Default)]
pub struct Parsed {
    pub events: Vec<(Account, Event)>,
    /// Parts that could not be read, each with the reason.
    pub problems: Vec<String>,
}
