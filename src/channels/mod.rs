//! Channel adapters: where replies leave for the customer's channel.

pub mod adapter;
pub mod breaker;
pub mod clients;
pub mod credentials;
pub mod directory;
pub mod gateway;
pub mod meta;
pub mod sandbox;
pub mod templates;
pub mod worker_loop;

use gateway::Gateway;
use std::sync::Arc;
use switchboard_actors::DeliveryStatus;
use switchboard_actors::TenantId;
use switchboard_actors::inbox::WeakInbox;
use switchboard_actors::inbox::outbound::{Delivery, Outbound};
use switchboard_actors::inbox::records::{Conversation, StatusReport};

/// Hands each reply to the adapter of its channel.
pub struct Router {
    inbox: WeakInbox,
    sandbox: sandbox::Sandbox,
    gateway: Arc<Gateway>,
}

impl Router {
    pub fn new(inbox: WeakInbox, sandbox: sandbox::Sandbox, gateway: Arc<Gateway>) -> Arc<Self> {
        Arc::new(Self {
            inbox,
            sandbox,
            gateway,
        })
    }
}

impl Outbound for Router {
    fn dispatch(&self, delivery: Delivery) {
        if delivery.channel.is_sandbox() {
            self.sandbox.deliver(self.inbox.clone(), delivery);
            return;
        }
        if let Some((_, channel)) = delivery.channel.channel() {
            self.gateway.deliver(self.inbox.clone(), channel, delivery);
            return;
        }
        // No adapter serves this channel: say so on the message rather than leave it
        // pending for ever.
        tracing::warn!(channel = %delivery.channel, "no adapter for this channel; marking the reply failed");
        let inbox = self.inbox.clone();
        actix_rt::spawn(async move {
            if let Some(inbox) = inbox.upgrade() {
                let report = StatusReport {
                    error: Some(format!("no adapter serves channel {}", delivery.channel)),
                    ..StatusReport::new(DeliveryStatus::Failed)
                };
                let _ = inbox
                    .report_status(
                        delivery.tenant,
                        delivery.conversation,
                        delivery.message.id,
                        report,
                    )
                    .await;
            }
        });
    }

    fn mark_read(&self, tenant: TenantId, conversation: &Conversation) {
        if let Some((_, channel)) = conversation.channel.channel() {
            self.gateway.mark_read(tenant, channel, conversation.id);
        }
    }
}
