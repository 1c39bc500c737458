//! The live side of one agent connection as the tenant sees it: who it is, what it
//! subscribed to, and the bounded outbox its frames go into.
//!
//! The connection's writer task drains the outbox into the socket. When the outbox is
//! full the agent is not keeping up; it is closed with [`CloseCode::SlowConsumer`]
//! rather than buffered without bound, and it resumes from its last offset later.

use super::access::Grant;
use crate::{ConversationId, RefreshFamilyId, UserId};
use bytestring::ByteString;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, mpsc};

/// Process-unique id of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

impl SessionId {
    pub fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// WebSocket close codes of the protocol (see docs/protocol.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseCode {
    /// The server is shutting down.
    GoingAway,
    /// A frame was larger than the limit.
    TooBig,
    /// No valid token in time, or the token was refused.
    Unauthenticated,
    /// The access token expired while connected; reconnect with a fresh one.
    TokenExpired,
    /// The outbox filled up: the client was not reading fast enough.
    SlowConsumer,
    /// Nothing came from the client within the heartbeat timeout.
    HeartbeatTimeout,
    /// An unexpected server error.
    Internal,
    /// The user was deactivated, signed out, or changed their password elsewhere.
    AccessRevoked,
    /// The user (or tenant) already has as many open connections as allowed.
    TooManyConnections,
    /// The server part that served this connection restarted; reconnect and resume.
    Restarting,
}

impl CloseCode {
    pub fn code(self) -> u16 {
        match self {
            CloseCode::GoingAway => 1001,
            CloseCode::TooBig => 1009,
            CloseCode::Internal => 1011,
            CloseCode::Restarting => 1012,
            CloseCode::Unauthenticated => 4001,
            CloseCode::TokenExpired => 4002,
            CloseCode::AccessRevoked => 4003,
            CloseCode::SlowConsumer => 4008,
            CloseCode::HeartbeatTimeout => 4009,
            CloseCode::TooManyConnections => 4029,
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            CloseCode::GoingAway => "server shutting down",
            CloseCode::TooBig => "frame too large",
            CloseCode::Internal => "internal error",
            CloseCode::Unauthenticated => "unauthenticated",
            CloseCode::TokenExpired => "token expired",
            CloseCode::SlowConsumer => "slow consumer",
            CloseCode::HeartbeatTimeout => "heartbeat timeout",
            CloseCode::AccessRevoked => "access revoked",
            CloseCode::TooManyConnections => "too many connections",
            CloseCode::Restarting => "service restarting",
        }
    }
}

/// Asks the writer to close the socket. Works when the outbox is full, which is
/// exactly when a slow consumer must be closed; the first close wins.
#[derive(Debug, Default)]
pub struct Closer {
    code: Mutex<Option<CloseCode>>,
    notify: Notify,
}

impl Closer {
    pub fn close(&self, code: CloseCode) {
        if let Ok(mut slot) = self.code.lock()
            && slot.is_none()
        {
            *slot = Some(code);
        }
        self.notify.notify_one();
    }

    /// Resolves with the close code once `close` was called.
    pub async fn closed(&self) -> CloseCode {
        loop {
            if let Some(code) = self.code.lock().ok().and_then(|slot| *slot) {
                return code;
            }
            self.notify.notified().await;
        }
    }
}

/// What the connection's writer puts on the wire, in queue order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketFrame {
    /// A protocol frame (docs/protocol.md).
    Text(ByteString),
    /// The heartbeat's WebSocket ping.
    Ping,
    /// The answer to a client's WebSocket ping, with its payload.
    Pong(Vec<u8>),
}

/// Creates a connection's outbox: the sending half for the tenant and the
/// connection, the receiving half for the writer.
pub fn outbox(capacity: usize) -> (Outbox, mpsc::Receiver<SocketFrame>) {
    let (frames, receiver) = mpsc::channel(capacity.max(1));
    (
        Outbox {
            frames,
            closer: Arc::new(Closer::default()),
        },
        receiver,
    )
}

#[derive(Debug, Clone)]
pub struct Outbox {
    frames: mpsc::Sender<SocketFrame>,
    pub closer: Arc<Closer>,
}

impl Outbox {
    /// Queues a protocol frame without waiting; a full outbox closes the connection as
    /// a slow consumer. Returns whether the frame was queued.
    pub fn push(&self, frame: ByteString) -> bool {
        self.push_frame(SocketFrame::Text(frame))
    }

    /// [`Outbox::push`] for any frame: a ping or pong waits its turn behind the frames
    /// queued before it, and a client too slow for it is a slow consumer like any other.
    pub fn push_frame(&self, frame: SocketFrame) -> bool {
        match self.frames.try_send(frame) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.closer.close(CloseCode::SlowConsumer);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Queues a protocol frame, waiting for room (a replay paces itself to the socket).
    /// Returns false when the connection went away.
    pub async fn send(&self, frame: ByteString) -> bool {
        self.frames.send(SocketFrame::Text(frame)).await.is_ok()
    }
}

/// What a connection wants to receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscription {
    /// Every conversation of the tenant.
    Inbox,
    /// Only these conversations.
    Conversations(HashSet<ConversationId>),
}

impl Subscription {
    pub fn includes(&self, conversation: ConversationId) -> bool {
        match self {
            Subscription::Inbox => true,
            Subscription::Conversations(ids) => ids.contains(&conversation),
        }
    }

    /// Widens the subscription by one conversation (the inbox already has it).
    pub fn add(&mut self, conversation: ConversationId) {
        if let Subscription::Conversations(ids) = self {
            ids.insert(conversation);
        }
    }
}

/// An agent connection as registered with its tenant.
#[derive(Debug, Clone)]
pub struct Member {
    pub session: SessionId,
    pub user: UserId,
    /// The sign-in (refresh-token family) whose access token opened the connection.
    pub sign_in: RefreshFamilyId,
    /// The role it acts with, changed by the tenant when the user's role changes.
    pub grant: Arc<Grant>,
    pub outbox: Outbox,
}
