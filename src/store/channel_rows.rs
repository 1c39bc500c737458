//! Channel rows as both dialects return them, and their conversion into records.

use super::inbox_rows::from_json;
use super::rows::corrupt;
use sqlx::FromRow;
use switchboard_actors::channel::{
    Channel, ChannelKind, ChannelState, DeadLetter, WebhookLogEntry,
};
use switchboard_actors::store::StoreError;
use switchboard_actors::{
    ChannelId, ConversationId, DeadLetterId, MessageId, Millis, TenantId, WebhookLogId,
};
use uuid::Uuid;

#[derive(FromRow)]
pub struct ChannelRow {
    tenant_id: Uuid,
    id: Uuid,
    kind: String,
    name: String,
    account_id: String,
    state: String,
    settings: String,
    sealed_credentials: Vec<u8>,
    last_inbound_at: Option<i64>,
    last_error: Option<String>,
    last_error_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<ChannelRow> for Channel {
    type Error = StoreError;
    fn try_from(row: ChannelRow) -> Result<Self, Self::Error> {
        Ok(Channel {
            tenant_id: TenantId(row.tenant_id),
            id: ChannelId(row.id),
            kind: ChannelKind::parse(&row.kind).map_err(corrupt("channel"))?,
            name: row.name,
            account_id: row.account_id,
            state: ChannelState::parse(&row.state).map_err(corrupt("channel"))?,
            settings: from_json("channel", &row.settings)?,
            sealed_credentials: row.sealed_credentials,
            last_inbound_at: row.last_inbound_at.map(Millis),
            last_error: row.last_error,
            last_error_at: row.last_error_at.map(Millis),
            created_at: Millis(row.created_at),
            updated_at: Millis(row.updated_at),
        })
    }
}

#[derive(FromRow)]
pub struct DeadLetterRow {
    tenant_id: Uuid,
    id: Uuid,
    channel_id: Uuid,
    conversation_id: Uuid,
    message_id: Uuid,
    error: String,
    attempts: i64,
    created_at: i64,
    retried_at: Option<i64>,
}

impl From<DeadLetterRow> for DeadLetter {
    fn from(row: DeadLetterRow) -> Self {
        DeadLetter {
            tenant_id: TenantId(row.tenant_id),
            id: DeadLetterId(row.id),
            channel_id: ChannelId(row.channel_id),
            conversation_id: ConversationId(row.conversation_id),
            message_id: MessageId(row.message_id),
            error: row.error,
            attempts: u32::try_from(row.attempts).unwrap_or(u32::MAX),
            created_at: Millis(row.created_at),
            retried_at: row.retried_at.map(Millis),
        }
    }
}

#[derive(FromRow)]
pub struct WebhookLogRow {
    tenant_id: Uuid,
    id: Uuid,
    channel_id: Uuid,
    error: String,
    body: String,
    received_at: i64,
}

impl From<WebhookLogRow> for WebhookLogEntry {
    fn from(row: WebhookLogRow) -> Self {
        WebhookLogEntry {
            tenant_id: TenantId(row.tenant_id),
            id: WebhookLogId(row.id),
            channel_id: ChannelId(row.channel_id),
            error: row.error,
            body: row.body,
            received_at: Millis(row.received_at),
        }
    }
}
