//! The sandbox channel: a local stand-in for a messaging provider, so a new user sees
//! the whole loop with no provider account. Customer messages come in through
//! `POST /api/v1/sandbox/{channel}/inbound`; replies "reach" the customer and come back
//! as sent, delivered and read, each after `status_delay`, through the same status
//! path a real provider's webhooks take.

use std::time::Duration;
use switchboard_actors::DeliveryStatus;
use switchboard_actors::inbox::WeakInbox;
use switchboard_actors::inbox::outbound::Delivery;

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
                        status,
                        Some(provider_id.clone()),
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
