//! Server frames that are not stream events. Every frame is a JSON object with a
//! `type` and the protocol version `v`; docs/protocol.md lists them all.

use super::bus::ActivityKind;
use super::stream::{PROTOCOL_VERSION, StreamPosition};
use crate::domain::text_enum::text_enum;
use crate::{ConversationId, Role, UserId};
use bytestring::ByteString;
use serde_json::{Value, json};

text_enum!(
    /// What an agent shows the team.
    PresenceStatus, "a presence status" {
        Online => "online",
        Away => "away",
        Busy => "busy",
        Offline => "offline",
    }
);

text_enum!(
    /// Why a client must reload its state instead of resuming.
    ResetReason, "a reset reason" {
        /// The client gave no position: it starts from the current one.
        Fresh => "fresh",
        /// The stream was renumbered; offsets of the old epoch mean nothing now.
        EpochChanged => "epoch_changed",
        /// The offset is beyond anything the server has written.
        OffsetAhead => "offset_ahead",
        /// The events after the offset were pruned.
        OffsetPruned => "offset_pruned",
        /// More events were missed than a replay sends; a reload is cheaper.
        TooFarBehind => "too_far_behind",
    }
);

fn frame(kind: &str, mut body: Value) -> ByteString {
    if let Some(map) = body.as_object_mut() {
        map.insert("type".into(), Value::from(kind));
        map.insert("v".into(), Value::from(PROTOCOL_VERSION));
    }
    ByteString::from(body.to_string())
}

pub fn resumed(from: i64, to: StreamPosition, replayed: u64) -> ByteString {
    frame(
        "resumed",
        json!({ "epoch": to.epoch, "offset": to.offset, "from": from, "replayed": replayed }),
    )
}

pub fn reset(position: StreamPosition, reason: ResetReason) -> ByteString {
    frame(
        "reset",
        json!({ "epoch": position.epoch, "offset": position.offset, "reason": reason.as_str() }),
    )
}

/// `typing` or `viewing`: one team member started or stopped, in one conversation.
pub fn activity(
    kind: ActivityKind,
    conversation: ConversationId,
    user: UserId,
    active: bool,
) -> ByteString {
    frame(
        kind.as_str(),
        json!({ "conversation_id": conversation, "user_id": user, "active": active }),
    )
}

pub fn presence(user: UserId, status: PresenceStatus) -> ByteString {
    frame(
        "presence",
        json!({ "user_id": user, "status": status.as_str() }),
    )
}

pub fn assigned_to_you(conversation: ConversationId, offset: i64) -> ByteString {
    frame(
        "notification",
        json!({ "kind": "assigned", "conversation_id": conversation, "offset": offset }),
    )
}

pub fn hello(
    session: u64,
    user: UserId,
    role: &str,
    heartbeat_secs: u64,
    timeout_secs: u64,
) -> ByteString {
    frame(
        "hello",
        json!({
            "session_id": session,
            "user_id": user,
            "role": role,
            "heartbeat_interval_secs": heartbeat_secs,
            "heartbeat_timeout_secs": timeout_secs,
        }),
    )
}

/// The connection's role changed (a demotion or promotion): it acts with `role`
/// from now on.
pub fn access(role: Role) -> ByteString {
    frame("access", json!({ "role": role.as_str() }))
}

/// The reply to a client frame that carried a `ref`.
pub fn ack(reference: Option<&Value>, result: Value) -> ByteString {
    frame("ack", json!({ "ref": reference, "result": result }))
}

pub fn error(reference: Option<&Value>, code: &str, message: &str) -> ByteString {
    frame(
        "error",
        json!({ "ref": reference, "code": code, "message": message }),
    )
}

pub fn pong(reference: Option<&Value>) -> ByteString {
    frame("pong", json!({ "ref": reference }))
}
