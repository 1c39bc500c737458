//! Session rows as both dialects return them.

use super::inbox_rows::from_json;
use super::rows::corrupt;
use sqlx::FromRow;
use switchboard_actors::session::{SessionRecord, SessionState};
use switchboard_actors::store::StoreError;
use switchboard_actors::{ChannelId, Millis, TenantId};
use uuid::Uuid;

#[derive(FromRow)]
pub struct SessionRow {
    tenant_id: Uuid,
    channel_id: Uuid,
    state: String,
    detail: String,
    paired: bool,
    phone: Option<String>,
    updated_at: i64,
}

impl TryFrom<SessionRow> for SessionRecord {
    type Error = StoreError;
    fn try_from(row: SessionRow) -> Result<Self, Self::Error> {
        Ok(SessionRecord {
            tenant_id: TenantId(row.tenant_id),
            channel_id: ChannelId(row.channel_id),
            state: SessionState::parse(&row.state).map_err(corrupt("session"))?,
            detail: from_json("session detail", &row.detail)?,
            paired: row.paired,
            phone: row.phone,
            updated_at: Millis(row.updated_at),
        })
    }
}
