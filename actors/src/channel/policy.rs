//! Provider rules that decide whether a reply may be sent at all.

use super::records::ChannelKind;
use crate::inbox::records::Conversation;
use crate::{MessageKind, Millis};

/// WhatsApp accepts free-form messages only within 24 hours of the customer's last
/// message; after that only approved templates.
pub const WHATSAPP_SERVICE_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

/// Whether a reply of `kind` may go to the customer of `conversation` now.
pub fn reply_allowed(conversation: &Conversation, kind: MessageKind, now: Millis) -> bool {
    let whatsapp = matches!(
        conversation.channel.channel(),
        Some((ChannelKind::WhatsApp, _))
    );
    if !whatsapp || kind == MessageKind::Template {
        return true;
    }
    conversation
        .last_inbound_at
        .is_some_and(|at| now.0.saturating_sub(at.0) < WHATSAPP_SERVICE_WINDOW_MS)
}
