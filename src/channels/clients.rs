//! The provider clients replies leave through: the Graph API for Meta's channels
//! (WhatsApp Cloud API, Messenger, Instagram) and the WhatsApp Web sessions. The
//! delivery worker (`gateway.rs`) decides when and how often to call; these say what
//! a reply, or a read receipt, is on each provider and make the call.

use super::credentials::Credentials;
use super::meta::graph::{Graph, GraphError};
use super::meta::outgoing;
use crate::http::guarded::GuardedClient;
use crate::whatsapp_web::outgoing::with_file;
use std::sync::OnceLock;
use switchboard_actors::channel::{Channel, ChannelKind};
use switchboard_actors::inbox::records::Message;
use switchboard_actors::session::driver::{DriverError, WaOutgoing};
use switchboard_actors::session::relay::{SessionAnswer, SessionCommand};
use switchboard_actors::session::{SessionError, Sessions};
use switchboard_actors::{ChannelId, TenantId};

/// How replies reach WhatsApp Web sessions.
pub struct SessionRoute {
    pub sessions: Sessions,
    /// Replies per second per session.
    pub send_rate_per_second: u32,
    /// Fetches media replies' links: a session uploads the file itself.
    pub files: GuardedClient,
}

/// A reply ready to go: a Graph API call, or a message for a WhatsApp Web session.
pub enum Prepared {
    Graph {
        record: Box<Channel>,
        credentials: Credentials,
        body: serde_json::Value,
    },
    Session {
        tenant: TenantId,
        message: WaOutgoing,
    },
}

impl Prepared {
    pub fn kind(&self) -> ChannelKind {
        match self {
            Prepared::Graph { record, .. } => record.kind,
            Prepared::Session { .. } => ChannelKind::WhatsAppWeb,
        }
    }
}

/// Every provider a reply can leave through, as the delivery worker calls them.
pub struct Providers {
    graph: Graph,
    /// WhatsApp Web channels send through their sessions (set once at start: the
    /// sessions need the inbox, which needs the gateway).
    sessions: OnceLock<SessionRoute>,
}

impl Providers {
    pub fn new(graph: Graph) -> Self {
        Self {
            graph,
            sessions: OnceLock::new(),
        }
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Where WhatsApp Web replies go.
    pub fn attach_sessions(&self, route: SessionRoute) {
        let _ = self.sessions.set(route);
    }

    /// Replies per second a channel of `kind` takes, when its provider sets it.
    pub fn send_rate(&self, kind: ChannelKind) -> Option<u32> {
        match (kind, self.sessions.get()) {
            (ChannelKind::WhatsAppWeb, Some(route)) => Some(route.send_rate_per_second),
            _ => None,
        }
    }

    /// A reply to `to` as the channel's provider takes it; a failure is final.
    pub fn prepare(
        &self,
        tenant: TenantId,
        record: Channel,
        credentials: Credentials,
        to: &str,
        message: &Message,
    ) -> Result<Prepared, String> {
        if record.kind == ChannelKind::WhatsAppWeb {
            return crate::whatsapp_web::outgoing::message(to, message)
                .map(|message| Prepared::Session { tenant, message });
        }
        let body = outgoing::request_body(record.kind, to, message)?;
        Ok(Prepared::Graph {
            record: Box::new(record),
            credentials,
            body,
        })
    }

    /// One try at sending a prepared reply.
    pub async fn send(
        &self,
        channel: ChannelId,
        prepared: &Prepared,
    ) -> Result<String, GraphError> {
        match prepared {
            Prepared::Graph {
                record,
                credentials,
                body,
            } => {
                self.graph
                    .send(
                        record.kind,
                        &record.account_id,
                        &credentials.access_token,
                        body,
                    )
                    .await
            }
            Prepared::Session { tenant, message } => {
                let Some(route) = self.sessions.get() else {
                    return Err(GraphError::Permanent(
                        "WhatsApp Web sessions are not running on this server".into(),
                    ));
                };
                // The node that sends a media reply fetches its file; another node
                // gets the reply without it.
                let message = if route.sessions.runs_here(channel) {
                    with_file(&route.files, message.clone()).await?
                } else {
                    message.clone()
                };
                route
                    .sessions
                    .send(*tenant, channel, message)
                    .await
                    .map_err(graph_error)
            }
        }
    }

    /// Runs a command another node relayed for a session this node runs; a media
    /// reply's file is fetched here first.
    pub async fn run_session_command(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        command: SessionCommand,
    ) -> Result<SessionAnswer, SessionError> {
        let route = self.sessions.get().ok_or(SessionError::Gone)?;
        let command = match command {
            SessionCommand::Send { message } => SessionCommand::Send {
                message: with_file(&route.files, message)
                    .await
                    .map_err(|err| match err {
                        GraphError::Permanent(reason) => DriverError::Permanent(reason),
                        GraphError::Retryable { reason, .. } => DriverError::Transient(reason),
                    })?,
            },
            other => other,
        };
        route.sessions.run_here(tenant, channel, command).await
    }

    /// Tells the provider that `customer` read up to `newest` (of `recent`, the
    /// conversation's latest messages, oldest first).
    pub async fn mark_read(
        &self,
        tenant: TenantId,
        record: &Channel,
        credentials: &Credentials,
        customer: &str,
        recent: &[Message],
        newest: &str,
    ) -> Result<(), String> {
        if record.kind == ChannelKind::WhatsAppWeb {
            let route = self
                .sessions
                .get()
                .ok_or("WhatsApp Web sessions are not running on this server")?;
            for read in crate::whatsapp_web::outgoing::reads(customer, recent) {
                route
                    .sessions
                    .mark_read(tenant, record.id, read)
                    .await
                    .map_err(|err| err.to_string())?;
            }
            return Ok(());
        }
        let Some(body) = outgoing::mark_read_body(record.kind, customer, newest) else {
            return Ok(());
        };
        self.graph
            .send(
                record.kind,
                &record.account_id,
                &credentials.access_token,
                &body,
            )
            .await
            .map(|_| ())
            .map_err(|err| err.to_string())
    }
}

/// A session's failure as the delivery worker takes it: final, or worth another try.
fn graph_error(error: SessionError) -> GraphError {
    match error {
        SessionError::Driver(DriverError::Permanent(reason)) | SessionError::NotNow(reason) => {
            GraphError::Permanent(reason)
        }
        other => GraphError::Retryable {
            reason: other.to_string(),
            retry_after: None,
        },
    }
}
