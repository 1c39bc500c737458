//! Session commands between nodes: a node that is asked for something a WhatsApp Web
//! session on another node must do (a reply, a read receipt, a restart, a logout, a
//! pairing code) publishes it on that node's channel, `switchboard:node:<id>`, and
//! waits for the answer on its own.
//!
//! Unlike events, a command is not backed by the store: one lost with Redis, or left
//! unanswered, fails after `relay_timeout` as a transient error, and the caller retries
//! it (the reply worker) or says so (the API answers 502 `provider_unavailable`).

use super::{Op, RedisBus};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use switchboard_actors::inbox::bus::NodeId;
use switchboard_actors::session::SessionError;
use switchboard_actors::session::driver::DriverError;
use switchboard_actors::session::relay::{
    RelayedFailure, SessionAnswer, SessionCommand, SessionRelay,
};
use switchboard_actors::{ChannelId, TenantId};
use tokio::sync::oneshot;
use uuid::Uuid;

const NODE_PREFIX: &str = "switchboard:node:";

type Outcome = Result<SessionAnswer, RelayedFailure>;

/// What crosses a node's channel.
#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum RelayWire {
    Command {
        /// Where the answer goes.
        node: Uuid,
        request: Uuid,
        tenant: TenantId,
        channel: ChannelId,
        command: SessionCommand,
    },
    Answer {
        request: Uuid,
        result: Outcome,
    },
}

/// Commands this node is waiting on, by request id.
#[derive(Default)]
pub(super) struct Pending(Mutex<HashMap<Uuid, oneshot::Sender<Outcome>>>);

impl Pending {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, oneshot::Sender<Outcome>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The channel a node takes commands and answers on.
pub(super) fn node_channel(node: Uuid) -> String {
    format!("{NODE_PREFIX}{node}")
}

/// Something arrived on this node's channel: a command to run, or an answer to hand
/// to whoever waits for it.
pub(super) fn arrived(bus: &Arc<RedisBus>, payload: &[u8]) {
    let Ok(wire) = serde_json::from_slice::<RelayWire>(payload) else {
        tracing::warn!("unreadable session command on the bus");
        return;
    };
    match wire {
        RelayWire::Command {
            node,
            request,
            tenant,
            channel,
            command,
        } => {
            let bus = bus.clone();
            actix_rt::spawn(async move {
                let result = match bus.gateway.get() {
                    Some(gateway) => gateway
                        .providers()
                        .run_session_command(tenant, channel, command)
                        .await
                        .map_err(RelayedFailure::from),
                    None => Err(RelayedFailure::Gone),
                };
                bus.relay_publish(node, &RelayWire::Answer { request, result });
            });
        }
        RelayWire::Answer { request, result } => {
            if let Some(waiting) = bus.pending.lock().remove(&request) {
                let _ = waiting.send(result);
            }
        }
    }
}

impl RedisBus {
    fn relay_publish(&self, node: Uuid, wire: &RelayWire) -> bool {
        let Ok(payload) = serde_json::to_string(wire) else {
            return false;
        };
        self.outbox
            .try_send(Op::Publish {
                channel: node_channel(node),
                payload,
                events: 0,
            })
            .is_ok()
    }
}

#[async_trait]
impl SessionRelay for RedisBus {
    async fn forward(
        &self,
        owner: NodeId,
        tenant: TenantId,
        channel: ChannelId,
        command: SessionCommand,
    ) -> Result<SessionAnswer, SessionError> {
        let request = Uuid::now_v7();
        let (answer, answered) = oneshot::channel();
        self.pending.lock().insert(request, answer);
        let wire = RelayWire::Command {
            node: self.node,
            request,
            tenant,
            channel,
            command,
        };
        let unanswered = |reason: &str| -> SessionError {
            DriverError::Transient(format!("the node that runs the session {reason}")).into()
        };
        if !self.relay_publish(owner.0, &wire) {
            self.pending.lock().remove(&request);
            return Err(unanswered("cannot be reached now (the bus is full)"));
        }
        let outcome = tokio::time::timeout(self.relay_timeout, answered).await;
        self.pending.lock().remove(&request);
        match outcome {
            Ok(Ok(result)) => result.map_err(SessionError::from),
            Ok(Err(_)) | Err(_) => Err(unanswered("did not answer in time")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_actors::MessageKind;
    use switchboard_actors::session::driver::WaOutgoing;

    #[test]
    fn a_command_and_its_answer_cross_the_wire_unchanged() {
        let command = RelayWire::Command {
            node: Uuid::now_v7(),
            request: Uuid::now_v7(),
            tenant: TenantId(Uuid::now_v7()),
            channel: ChannelId(Uuid::now_v7()),
            command: SessionCommand::Send {
                message: WaOutgoing {
                    to: "4917612345678@s.whatsapp.net".into(),
                    kind: MessageKind::Text,
                    body: Some("Yes, in 3 days.".into()),
                    attachment: None,
                    file: None,
                },
            },
        };
        let text = serde_json::to_string(&command).unwrap();
        let RelayWire::Command { command: back, .. } = serde_json::from_str(&text).unwrap() else {
            panic!("not a command: {text}");
        };
        let RelayWire::Command { command: sent, .. } = command else {
            unreachable!()
        };
        assert_eq!(back, sent, "{text}");
        for result in [
            Ok(SessionAnswer::Sent("3EB0C0FFEE".into())),
            Err(RelayedFailure::NotNow("not while connected".into())),
        ] {
            let text = serde_json::to_string(&RelayWire::Answer {
                request: Uuid::now_v7(),
                result: result.clone(),
            })
            .unwrap();
            let RelayWire::Answer { result: back, .. } = serde_json::from_str(&text).unwrap()
            else {
                panic!("not an answer: {text}");
            };
            assert_eq!(back, result, "{text}");
        }
    }
}
