//! Channel records.

use crate::domain::text_enum::text_enum;
use crate::{
    ChannelId, ChannelKey, ConversationId, DeadLetterId, MessageId, Millis, TenantId, WebhookLogId,
};
use serde_json::{Map, Value};

text_enum!(
    /// The provider product a channel speaks.
    ChannelKind, "a channel type" {
        WhatsApp => "whatsapp",
        Messenger => "messenger",
        Instagram => "instagram",
        LeadAds => "lead_ads",
        /// A number linked as a WhatsApp Web device (a session, not the Cloud API).
        WhatsAppWeb => "whatsapp_web",
    }
);

text_enum!(
    /// A disabled channel sends nothing; what its webhooks bring is kept in the
    /// webhook log instead of the inbox.
    ChannelState, "a channel state" {
        Active => "active",
        Disabled => "disabled",
    }
);

#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    pub tenant_id: TenantId,
    pub id: ChannelId,
    pub kind: ChannelKind,
    pub name: String,
    /// The provider's id of the account: `phone_number_id` for WhatsApp, the page id
    /// for Messenger and Lead Ads, the Instagram account id. Webhooks name it.
    pub account_id: String,
    pub state: ChannelState,
    pub settings: Map<String, Value>,
    /// Access token, app secret and verify token, sealed with AES-256-GCM by the
    /// server; this crate never sees them in the clear.
    pub sealed_credentials: Vec<u8>,
    pub last_inbound_at: Option<Millis>,
    pub last_error: Option<String>,
    pub last_error_at: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl Channel {
    /// How conversations and identities on this channel name it: `<kind>:<id>`.
    pub fn key(&self) -> ChannelKey {
        channel_key(self.kind, self.id)
    }
}

pub fn channel_key(kind: ChannelKind, id: ChannelId) -> ChannelKey {
    ChannelKey::connected(kind.as_str(), id.0)
}

impl ChannelKey {
    /// The connected channel this key names, when it names one (sandbox keys do not).
    pub fn channel(&self) -> Option<(ChannelKind, ChannelId)> {
        let (kind, id) = self.as_str().split_once(':')?;
        let kind = ChannelKind::parse(kind).ok()?;
        let id = uuid::Uuid::parse_str(id).ok()?;
        Some((kind, ChannelId(id)))
    }
}

/// A reply that could not be delivered: the provider refused it or every attempt
/// failed. Admins list these and send them again.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub tenant_id: TenantId,
    pub id: DeadLetterId,
    pub channel_id: ChannelId,
    pub conversation_id: ConversationId,
    pub message_id: MessageId,
    pub error: String,
    pub attempts: u32,
    pub created_at: Millis,
    /// Set when an admin sent it again.
    pub retried_at: Option<Millis>,
}

/// A webhook delivery that passed its signature check but could not be used (a
/// shape we cannot parse, a disabled channel). It was acknowledged so the provider
/// keeps the hook enabled; the body is kept here so nothing is lost.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookLogEntry {
    pub tenant_id: TenantId,
    pub id: WebhookLogId,
    pub channel_id: ChannelId,
    pub error: String,
    pub body: String,
    pub received_at: Millis,
}
