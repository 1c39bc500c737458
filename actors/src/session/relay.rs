//! Commands for a session that another node runs: what crosses to that node, and the
//! port that carries it there (the Redis bus in a cluster). Each session runs on one
//! node (its lease); a command, reply or read receipt that arrives anywhere else is
//! run there and its answer comes back.

use super::actor::SessionError;
use super::driver::{DriverError, WaOutgoing, WaRead};
use crate::inbox::bus::NodeId;
use crate::{ChannelId, TenantId, UserId};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum SessionCommand {
    Restart {
        by: Option<UserId>,
    },
    Logout {
        by: Option<UserId>,
    },
    PairingCode {
        phone: String,
        by: Option<UserId>,
    },
    /// A reply. A media reply crosses without its file: the node that sends it
    /// fetches the link.
    Send {
        message: WaOutgoing,
    },
    MarkRead {
        read: WaRead,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "answer", content = "value", rename_all = "snake_case")]
pub enum SessionAnswer {
    Done,
    PairingCode(String),
    /// WhatsApp's id for the sent message.
    Sent(String),
}

/// A `SessionError` as it crosses the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "failure", content = "reason", rename_all = "snake_case")]
pub enum RelayedFailure {
    NotNow(String),
    Transient(String),
    Permanent(String),
    Store(String),
    Gone,
    Elsewhere,
}

impl From<SessionError> for RelayedFailure {
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::NotNow(reason) => RelayedFailure::NotNow(reason),
            SessionError::Driver(DriverError::Transient(reason)) => {
                RelayedFailure::Transient(reason)
            }
            SessionError::Driver(DriverError::Permanent(reason)) => {
                RelayedFailure::Permanent(reason)
            }
            SessionError::Store(reason) => RelayedFailure::Store(reason),
            SessionError::Gone => RelayedFailure::Gone,
            SessionError::Elsewhere => RelayedFailure::Elsewhere,
        }
    }
}

impl From<RelayedFailure> for SessionError {
    fn from(failure: RelayedFailure) -> Self {
        match failure {
            RelayedFailure::NotNow(reason) => SessionError::NotNow(reason),
            RelayedFailure::Transient(reason) => DriverError::Transient(reason).into(),
            RelayedFailure::Permanent(reason) => DriverError::Permanent(reason).into(),
            RelayedFailure::Store(reason) => SessionError::Store(reason),
            RelayedFailure::Gone => SessionError::Gone,
            RelayedFailure::Elsewhere => SessionError::Elsewhere,
        }
    }
}

/// Carries a command to the node that runs the session.
#[async_trait]
pub trait SessionRelay: Send + Sync + 'static {
    /// Runs `command` on `owner` and returns its answer. A command that cannot be
    /// carried, or gets no answer in time, fails as transient.
    async fn forward(
        &self,
        owner: NodeId,
        tenant: TenantId,
        channel: ChannelId,
        command: SessionCommand,
    ) -> Result<SessionAnswer, SessionError>;
}
