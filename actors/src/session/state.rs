//! The life of a WhatsApp Web session as it is stored, published and shown.

use crate::domain::text_enum::text_enum;
use crate::{ChannelId, Millis, TenantId, UserId};
use serde::{Deserialize, Serialize};

text_enum!(
    /// Where a session is. Every change is stored, published on the tenant stream
    /// (`session.updated`) and counted in `/metrics`.
    SessionState, "a session state" {
        /// Building the client and connecting.
        Starting => "starting",
        /// Waiting for the phone to scan the QR code in `detail.qr`.
        Qr => "qr",
        /// Waiting for the code in `detail.pairing_code` to be typed on the phone.
        PairingCode => "pairing_code",
        Connected => "connected",
        /// The connection dropped; the next try is at `detail.next_try_at`.
        Reconnecting => "reconnecting",
        /// The phone unlinked this device; the keys are gone. Log in again.
        LoggedOut => "logged_out",
        /// Another client took this session over. No retries.
        Conflict => "conflict",
        /// WhatsApp banned the number. No retries.
        Banned => "banned",
        /// The session cannot run here (see `detail.reason`). No retries.
        Failed => "failed",
        /// Nothing runs: no one scanned the codes in time, or an admin stopped it.
        Stopped => "stopped",
    }
);

impl SessionState {
    /// States in which nothing retries by itself: a person has to act.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            SessionState::LoggedOut
                | SessionState::Conflict
                | SessionState::Banned
                | SessionState::Failed
                | SessionState::Stopped
        )
    }
}

/// What goes with a state; each field is present only in the states that have it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct SessionDetail {
    /// `qr`: the text to render as a QR code (the server renders it as SVG too).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qr: Option<String>,
    /// `pairing_code`: the 8 characters to type on the phone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pairing_code: Option<String>,
    /// `qr` and `pairing_code`: when the code stops working.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::domain::time::rfc3339_option"
    )]
    #[schema(value_type = Option<String>)]
    pub expires_at: Option<Millis>,
    /// `connected`: the account's number (E.164) and name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `reconnecting`: the try about to be made (1 for the first) and when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::domain::time::rfc3339_option"
    )]
    #[schema(value_type = Option<String>)]
    pub next_try_at: Option<Millis>,
    /// Why the session is where it is, in words for the admin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl SessionDetail {
    pub fn because(reason: impl Into<String>) -> Self {
        Self {
            reason: Some(reason.into()),
            ..Self::default()
        }
    }
}

/// One session's stored row.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    pub tenant_id: TenantId,
    pub channel_id: ChannelId,
    pub state: SessionState,
    pub detail: SessionDetail,
    /// The keys hold a linked device: the session reconnects by itself at start.
    pub paired: bool,
    /// The account's number once it was linked (kept through disconnects).
    pub phone: Option<String>,
    pub updated_at: Millis,
}

/// A transition as the store records it: the new state, and who caused it when a
/// person did (that makes an audit row too).
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub state: SessionState,
    pub detail: SessionDetail,
    pub paired: bool,
    pub phone: Option<String>,
    pub by: Option<UserId>,
    pub at: Millis,
}

impl Transition {
    /// The `session.updated` event's data: what admins see of the session now.
    pub fn payload(&self, channel: ChannelId) -> String {
        serde_json::json!({
            "channel_id": channel,
            "state": self.state,
            "detail": self.detail,
            "paired": self.paired,
            "phone": self.phone,
            "by": self.by,
            "at": self.at.to_rfc3339(),
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_detail_keeps_its_times_through_its_stored_json() {
        let detail = SessionDetail {
            attempt: Some(3),
            next_try_at: Some(Millis(1_764_236_000_123)),
            ..SessionDetail::default()
        };
        let text = serde_json::to_string(&detail).unwrap();
        assert_eq!(
            text,
            r#"{"attempt":3,"next_try_at":"2025-11-27T09:33:20.123Z"}"#
        );
        assert_eq!(
            serde_json::from_str::<SessionDetail>(&text).unwrap(),
            detail
        );
    }
}
