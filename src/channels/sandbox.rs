//! The sandbox channel: a local stand-in for a messaging provider, so a new user sees
//! the whole loop with no provider account. Customer messages come in through
//! `POST /api/v1/sandbox/{channel}/inbound`; replies "reach" the customer and come back
//! as sent, delivered and read, each after `status_delay`, through the same status
//! path a real provider's webhooks take.

use std::time::Duration;
use switchboard_actors::inbox::WeakInbox;
use switchboard_actors::inbox::outbound::Delivery;
use switchboard_actors::inbox::records::{Identity, Inbound, StatusReport};
use switchboard_actors::{
    ChannelKey, DeliveryStatus, Direction, InvalidValue, MessageKind, Millis, PhoneE164,
};

pub(crate) const MAX_TEXT_CHARS: usize = 4096;
pub(crate) const MAX_HANDLE_LEN: usize = 128;

/// A customer message played on a sandbox channel, as the API and
/// `switchboard simulate` take it.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerMessage {
    /// Who the customer is on this channel; the same handle is the same contact.
    #[schema(min_length = 1, max_length = 128)]
    pub from: String,
    #[schema(max_length = 200)]
    pub name: Option<String>,
    pub phone: Option<PhoneE164>,
    #[schema(min_length = 1, max_length = 4096)]
    pub text: String,
    /// Like a provider's message id: sending it again stores nothing new.
    pub message_id: Option<String>,
}

impl CustomerMessage {
    /// The message as the channel would deliver it on sandbox channel `channel`.
    pub fn into_inbound(self, channel: &str) -> Result<Inbound, InvalidValue> {
        let channel = ChannelKey::sandbox(channel)?;
        let from = self.from.trim();
        if from.is_empty() || from.len() > MAX_HANDLE_LEN {
            return Err(InvalidValue(format!(
                "from must be 1 to {MAX_HANDLE_LEN} characters"
            )));
        }
        let text = self.text.trim();
        if text.is_empty() || text.chars().count() > MAX_TEXT_CHARS {
            return Err(InvalidValue(format!(
                "text must be 1 to {MAX_TEXT_CHARS} characters"
            )));
        }
        let name = self
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or(from);
        Ok(Inbound {
            channel: channel.clone(),
            direction: Direction::Inbound,
            sender: Identity {
                channel,
                external_id: from.to_owned(),
            },
            sender_name: name.to_owned(),
            sender_phone: self.phone,
            sender_email: None,
            provider_id: self.message_id,
            kind: MessageKind::Text,
            body: Some(text.to_owned()),
            attachment: None,
            received_at: Millis::now(),
        })
    }
}

#[derive(Debug, Clone)]
pub struct Sandbox {
    status_delay: Duration,
}

impl Sandbox {
    pub fn new(status_delay: Duration) -> Self {
        Self { status_delay }
    }

    pub fn deliver(&self, inbox: WeakInbox, delivery: Delivery) {
        let delay = self.status_delay;
        actix_rt::spawn(async move {
            let provider_id = format!("sandbox-{}", delivery.message.id);
            for status in [
                DeliveryStatus::Sent,
                DeliveryStatus::Delivered,
                DeliveryStatus::Read,
            ] {
                actix_rt::time::sleep(delay).await;
                let Some(inbox) = inbox.upgrade() else {
                    return;
                };
                let reported = inbox
                    .report_status(
                        delivery.tenant,
                        delivery.conversation,
                        delivery.message.id,
                        StatusReport {
                            provider_id: Some(provider_id.clone()),
                            ..StatusReport::new(status)
                        },
                    )
                    .await;
                if let Err(err) = reported {
                    tracing::warn!(message = %delivery.message.id, error = %err, "sandbox status report failed");
                    return;
                }
            }
        });
    }
}
