//! Writing the audit log: who did what, to what, when, from where.
//!
//! The row is written after the action commits. If writing it fails the action still
//! stands (it already happened) and the failure is logged at error level, so the gap
//! is visible to operators rather than turned into a misleading error for the client.

use crate::http::client::ClientInfo;
use serde_json::Value;
use switchboard_actors::store::{AuditActor, AuditEntry, Store};
use switchboard_actors::{AuditId, Millis, TenantId};

pub struct Event<'a> {
    pub tenant: TenantId,
    pub actor: AuditActor,
    pub action: &'a str,
    /// (type, id) of what was acted on.
    pub target: Option<(&'a str, String)>,
    pub details: Value,
}

pub async fn record(store: &dyn Store, client: &ClientInfo, event: Event<'_>) {
    let (target_type, target_id) = match event.target {
        Some((kind, id)) => (Some(kind.to_owned()), Some(id)),
        None => (None, None),
    };
    let entry = AuditEntry {
        tenant_id: event.tenant,
        id: AuditId::new(),
        at: Millis::now(),
        actor: event.actor,
        action: event.action.to_owned(),
        target_type,
        target_id,
        ip: client.ip.map(|ip| ip.to_string()),
        request_id: client.request_id.clone(),
        details: event.details,
    };
    if let Err(err) = store.append_audit(&entry).await {
        tracing::error!(error = %err, action = event.action, "audit row was not written");
    }
}
