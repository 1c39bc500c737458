//! Channel adapters: where replies leave for the customer's channel.

pub mod sandbox;

use std::sync::Arc;
use switchboard_actors::DeliveryStatus;
use switchboard_actors::inbox::WeakInbox;
use switchboard_actors::inbox::outbound::{Delivery, Outbound};

/// Hands each reply to the adapter of its channel kind.
pub struct Router {
    inbox: WeakInbox,
    sandbox: sandbox::Sandbox,
}

impl Router {
    pub fn new(inbox: WeakInbox, sandbox: sandbox::Sandbox) -> Arc<Self> {
        Arc::new(Self { inbox, sandbox })
    }
}

impl Outbound for Router {
    fn dispatch(&self, delivery: Delivery) {
        if delivery.channel.is_sandbox() {
            self.sandbox.deliver(self.inbox.clone(), delivery);
            return;
        }
        // No adapter serves this channel kind: say so on the message rather than
        // leave it pending for ever.
        tracing::warn!(channel = %delivery.channel, "no adapter for this channel; marking the reply failed");
        let inbox = self.inbox.clone();
        actix_rt::spawn(async move {
            if let Some(inbox) = inbox.upgrade() {
                let message = delivery.message.id;
                let _ = inbox
                    .report_status(
                        delivery.tenant,
                        delivery.conversation,
                        message,
                        DeliveryStatus::Failed,
                        None,
                    )
                    .await;
            }
        });
    }
}
