use super::InvalidValue;
use super::text_enum::text_enum;
use serde::{Deserialize, Serialize};

text_enum!(
    Direction, "a message direction" {
        /// From the customer.
        Inbound => "inbound",
        /// From the team to the customer.
        Outbound => "outbound",
        /// An internal note: part of the timeline, never sent to the customer.
        Note => "note",
    }
);

text_enum!(
    MessageKind, "a message type" {
        Text => "text",
        Image => "image",
        Audio => "audio",
        Video => "video",
        Document => "document",
        Sticker => "sticker",
        Location => "location",
        Contact => "contact",
        Reaction => "reaction",
        Template => "template",
        /// A tap on a button, list row or postback the business offered.
        Interactive => "interactive",
        /// A lead form submission.
        Lead => "lead",
    }
);

impl MessageKind {
    /// A photo, voice note, video, file or sticker: a message whose content is a file.
    pub fn is_media(self) -> bool {
        matches!(
            self,
            MessageKind::Image
                | MessageKind::Audio
                | MessageKind::Video
                | MessageKind::Document
                | MessageKind::Sticker
        )
    }
}

text_enum!(
    /// Delivery progress of a message. Providers report these out of order, so a
    /// status only ever moves forward; see [`DeliveryStatus::advance_to`].
    DeliveryStatus, "a delivery status" {
        Pending => "pending",
        Sent => "sent",
        Delivered => "delivered",
        Read => "read",
        Failed => "failed",
    }
);

impl DeliveryStatus {
    /// The status after a report of `next`, or `None` when the report changes
    /// nothing: `read` after `delivered` moves forward, `delivered` after `read` is
    /// stale. `failed` is final, and a message that was delivered cannot fail anymore.
    pub fn advance_to(self, next: DeliveryStatus) -> Option<DeliveryStatus> {
        use DeliveryStatus::*;
        match (self, next) {
            (Failed, _) | (Delivered | Read, Failed) => None,
            (_, Failed) => Some(Failed),
            (current, next) if next > current => Some(next),
            _ => None,
        }
    }
}

/// The id a client gives a message it sends, so a retried send (after a timeout or
/// a reconnect) is recognised and stored once.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct ClientMessageId(String);

impl ClientMessageId {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidValue(
                "client_id must be 1 to 64 characters of letters, digits, '-', '_', '.' or ':'"
                    .into(),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ClientMessageId {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ClientMessageId> for String {
    fn from(value: ClientMessageId) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::DeliveryStatus::*;

    #[test]
    fn statuses_only_move_forward_whatever_order_they_arrive_in() {
        assert_eq!(Pending.advance_to(Sent), Some(Sent));
        assert_eq!(Sent.advance_to(Read), Some(Read));
        assert_eq!(Read.advance_to(Delivered), None);
        assert_eq!(Delivered.advance_to(Delivered), None);
        assert_eq!(Sent.advance_to(Failed), Some(Failed));
        assert_eq!(Delivered.advance_to(Failed), None);
        assert_eq!(Failed.advance_to(Read), None);
    }
}
