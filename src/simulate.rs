//! `switchboard simulate`: plays a customer message on a sandbox channel from the
//! command line. It writes to the database the server uses (configured the same
//! way); a running server picks the new event up from the store within its stream
//! poll (about a second) and pushes it to the connected agents, as it would for a
//! message written by another node.

use crate::channels::sandbox::CustomerMessage;
use crate::config::Config;
use crate::startup::{StartError, open_store};
use serde_json::{Value, json};
use switchboard_actors::inbox::views::{ConversationView, MessageView};

#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("no tenant with slug '{0}'")]
    UnknownTenant(String),
    #[error("{0}")]
    Invalid(String),
    #[error("store failure: {0}")]
    Store(#[from] switchboard_actors::store::StoreError),
}

/// Records the message and returns what was stored, as the API would answer.
pub async fn play(
    config: &Config,
    tenant_slug: &str,
    channel: &str,
    message: CustomerMessage,
) -> Result<Value, SimulateError> {
    let inbound = message
        .into_inbound(channel)
        .map_err(|err| SimulateError::Invalid(err.0))?;
    let store = open_store(config).await?;
    let tenant = store
        .tenant_by_slug(tenant_slug)
        .await?
        .ok_or_else(|| SimulateError::UnknownTenant(tenant_slug.to_owned()))?;
    let recorded = store.ingest(tenant.id, &inbound).await?;
    Ok(json!({
        "message": MessageView::from(&recorded.message),
        "conversation": ConversationView::from(&recorded.conversation),
        "duplicate": recorded.duplicate,
    }))
}
