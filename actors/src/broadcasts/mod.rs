//! Broadcasts: one message (an approved WhatsApp template, or text to those still
//! inside their 24-hour window) sent to a segment's contacts or an uploaded list of
//! phones, at a time, at the channel's rate and within its daily limit, with a status
//! per recipient. The sending is a durable job (see the server's `broadcasts::sender`);
//! this module holds the records, the per-recipient rules and the storage port.

pub mod content;

use crate::domain::text_enum::text_enum;
use crate::inbox::stream::StreamEvent;
use crate::store::StoreError;
use crate::{
    BroadcastId, ChannelId, ChannelKey, ContactId, ConversationId, DeliveryStatus, MessageId,
    Millis, RecipientId, SegmentId, TenantId, UserId,
};
use async_trait::async_trait;
pub use content::Content;
use serde::Serialize;

/// The longest broadcast name; most phones an uploaded list may hold.
pub const MAX_BROADCAST_NAME_CHARS: usize = 200;
pub const MAX_LISTED_PHONES: usize = 100_000;

/// How long after a send a customer's message counts as a reply to the broadcast.
pub const REPLY_WINDOW_MS: i64 = 72 * 3600 * 1000;

text_enum!(
    /// Where a broadcast is in its life: `scheduled` until its time, `running` while
    /// it sends, `paused` by a person (or by a channel that cannot send), then
    /// `done` or `cancelled`.
    BroadcastStatus, "a broadcast status" {
        Scheduled => "scheduled",
        Running => "running",
        Paused => "paused",
        Cancelled => "cancelled",
        Done => "done",
    }
);

text_enum!(
    /// What became of one recipient. `sending` is the moment of the provider call:
    /// a recipient found there after a crash is not sent again (it is `failed`, as
    /// interrupted), so nobody receives a broadcast twice.
    RecipientStatus, "a recipient status" {
        Queued => "queued",
        Sending => "sending",
        Sent => "sent",
        Delivered => "delivered",
        Read => "read",
        Failed => "failed",
        Replied => "replied",
        Skipped => "skipped",
    }
);

impl RecipientStatus {
    /// The statuses a recipient may move from to `self` on a report from the
    /// channel: forward only (sent, delivered, read, replied), and failed only
    /// before it was read.
    pub fn reported_from(self) -> &'static [RecipientStatus] {
        use RecipientStatus::*;
        match self {
            Delivered => &[Sent],
            Read => &[Sent, Delivered],
            Failed => &[Sent, Delivered],
            Replied => &[Sent, Delivered, Read],
            Queued | Sending | Sent | Skipped => &[],
        }
    }

    /// The recipient status a message's delivery status becomes.
    pub fn of_delivery(status: DeliveryStatus) -> Option<Self> {
        match status {
            DeliveryStatus::Delivered => Some(Self::Delivered),
            DeliveryStatus::Read => Some(Self::Read),
            DeliveryStatus::Failed => Some(Self::Failed),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Broadcast {
    pub tenant_id: TenantId,
    pub id: BroadcastId,
    pub name: String,
    pub channel_id: ChannelId,
    /// The segment whose contacts receive it, listed when it starts; `None` for an
    /// uploaded list (its recipients were listed when it was made).
    pub segment_id: Option<SegmentId>,
    pub content: Content,
    /// When it starts (UTC), and the time zone the person gave it in.
    pub send_at: Millis,
    pub time_zone: Option<String>,
    /// Sends per second at most; the channel's own limit wins when lower.
    pub rate_per_second: u32,
    pub status: BroadcastStatus,
    /// Raised by every resume: a run of an older generation stops, so one run sends
    /// at a time.
    pub generation: i64,
    /// Whether every recipient is listed; `list_cursor` is the last contact listed
    /// so far, so listing a large segment goes on where it stopped.
    pub listed: bool,
    pub list_cursor: Option<ContactId>,
    /// Why it waits or paused (the channel's daily limit, a disabled channel).
    pub note: Option<String>,
    pub created_by: Option<UserId>,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub started_at: Option<Millis>,
    pub finished_at: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Recipient {
    pub tenant_id: TenantId,
    pub broadcast_id: BroadcastId,
    pub channel_id: ChannelId,
    pub id: RecipientId,
    /// Its place in the send order.
    pub position: i64,
    pub contact_id: Option<ContactId>,
    /// The phone in E.164: one message per phone, whoever holds it.
    pub phone: String,
    pub name: String,
    pub status: RecipientStatus,
    /// The provider's reason for a failure, or why it was skipped.
    pub error: Option<String>,
    pub provider_id: Option<String>,
    pub message_id: Option<MessageId>,
    pub conversation_id: Option<ConversationId>,
    pub sent_at: Option<Millis>,
    pub replied_at: Option<Millis>,
    pub updated_at: Millis,
}

impl Recipient {
    pub fn queued(
        broadcast: &Broadcast,
        position: i64,
        contact: Option<ContactId>,
        phone: String,
        name: String,
    ) -> Self {
        Self {
            tenant_id: broadcast.tenant_id,
            broadcast_id: broadcast.id,
            channel_id: broadcast.channel_id,
            id: RecipientId::new(),
            position,
            contact_id: contact,
            phone,
            name,
            status: RecipientStatus::Queued,
            error: None,
            provider_id: None,
            message_id: None,
            conversation_id: None,
            sent_at: None,
            replied_at: None,
            updated_at: broadcast.created_at,
        }
    }
}

/// Recipients by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Totals {
    pub total: u64,
    pub queued: u64,
    pub sending: u64,
    pub sent: u64,
    pub delivered: u64,
    pub read: u64,
    pub failed: u64,
    pub replied: u64,
    pub skipped: u64,
}

impl Totals {
    pub fn add(&mut self, status: RecipientStatus, count: u64) {
        let slot = match status {
            RecipientStatus::Queued => &mut self.queued,
            RecipientStatus::Sending => &mut self.sending,
            RecipientStatus::Sent => &mut self.sent,
            RecipientStatus::Delivered => &mut self.delivered,
            RecipientStatus::Read => &mut self.read,
            RecipientStatus::Failed => &mut self.failed,
            RecipientStatus::Replied => &mut self.replied,
            RecipientStatus::Skipped => &mut self.skipped,
        };
        *slot += count;
        self.total += count;
    }
}

/// A broadcast as the API and its `broadcast.updated` events show it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct BroadcastView {
    pub id: BroadcastId,
    pub name: String,
    pub channel_id: ChannelId,
    pub segment_id: Option<SegmentId>,
    #[schema(value_type = Object)]
    pub content: serde_json::Value,
    pub send_at: String,
    pub time_zone: Option<String>,
    pub rate_per_second: u32,
    pub status: BroadcastStatus,
    pub note: Option<String>,
    pub totals: Totals,
    pub created_at: String,
    pub updated_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

impl Broadcast {
    pub fn view(&self, totals: Totals) -> BroadcastView {
        BroadcastView {
            id: self.id,
            name: self.name.clone(),
            channel_id: self.channel_id,
            segment_id: self.segment_id,
            content: self.content.to_json(),
            send_at: self.send_at.to_rfc3339(),
            time_zone: self.time_zone.clone(),
            rate_per_second: self.rate_per_second,
            status: self.status,
            note: self.note.clone(),
            totals,
            created_at: self.created_at.to_rfc3339(),
            updated_at: self.updated_at.to_rfc3339(),
            started_at: self.started_at.map(|at| at.to_rfc3339()),
            finished_at: self.finished_at.map(|at| at.to_rfc3339()),
        }
    }

    /// Whether a run may still send for it.
    pub fn sends(&self, generation: i64) -> bool {
        matches!(
            self.status,
            BroadcastStatus::Scheduled | BroadcastStatus::Running
        ) && self.generation == generation
    }
}

/// What a recipient's send ended as, written in one go.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: RecipientStatus,
    pub error: Option<String>,
    pub provider_id: Option<String>,
    pub message_id: Option<MessageId>,
    pub conversation_id: Option<ConversationId>,
    pub at: Millis,
}

#[async_trait]
pub trait BroadcastStore: Send + Sync + 'static {
    /// The broadcast with the recipients known already (an uploaded list's).
    async fn create_broadcast(
        &self,
        broadcast: &Broadcast,
        recipients: &[Recipient],
    ) -> Result<(), StoreError>;

    async fn broadcast(
        &self,
        tenant: TenantId,
        id: BroadcastId,
    ) -> Result<Option<Broadcast>, StoreError>;

    /// Newest first.
    async fn broadcasts(&self, tenant: TenantId, limit: u32) -> Result<Vec<Broadcast>, StoreError>;

    /// A run writes its broadcast (status, listing progress, note and times) and
    /// appends its `broadcast.updated` event (with the totals), in one transaction;
    /// only while the stored broadcast is still this run's (scheduled or running, the
    /// same generation). `None` when it is not: a person paused or cancelled it.
    async fn save_broadcast(
        &self,
        broadcast: &Broadcast,
    ) -> Result<Option<StreamEvent>, StoreError>;

    /// A person's change of status: from one of `from` to `to` (with a new
    /// generation when `new_generation`, and the note cleared), with its event.
    /// `None` when the broadcast is in none of `from`.
    async fn transition_broadcast(
        &self,
        tenant: TenantId,
        id: BroadcastId,
        from: &[BroadcastStatus],
        to: BroadcastStatus,
        new_generation: bool,
        at: Millis,
    ) -> Result<Option<(Broadcast, StreamEvent)>, StoreError>;

    /// A `broadcast.updated` event with the current totals, the broadcast unchanged.
    async fn broadcast_event(
        &self,
        tenant: TenantId,
        id: BroadcastId,
    ) -> Result<Option<StreamEvent>, StoreError>;

    /// Adds recipients; a phone already on the broadcast is not added again.
    async fn add_recipients(&self, recipients: &[Recipient]) -> Result<(), StoreError>;

    /// The next queued recipients in send order, after `after` (a position).
    async fn queued_recipients(
        &self,
        tenant: TenantId,
        broadcast: BroadcastId,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Recipient>, StoreError>;

    /// Moves a recipient from `from` to `to`; false when it was not in `from` (so two
    /// runs never both take one recipient).
    async fn move_recipient(
        &self,
        tenant: TenantId,
        id: RecipientId,
        from: RecipientStatus,
        to: RecipientStatus,
        at: Millis,
    ) -> Result<bool, StoreError>;

    /// Writes what a recipient's send ended as.
    async fn finish_recipient(
        &self,
        tenant: TenantId,
        id: RecipientId,
        outcome: &Outcome,
    ) -> Result<(), StoreError>;

    /// Every recipient of the broadcast in `from` becomes `to` with `error`; how many.
    async fn settle_recipients(
        &self,
        tenant: TenantId,
        broadcast: BroadcastId,
        from: RecipientStatus,
        to: RecipientStatus,
        error: &str,
        at: Millis,
    ) -> Result<u64, StoreError>;

    async fn recipient_totals(
        &self,
        tenant: TenantId,
        broadcast: BroadcastId,
    ) -> Result<Totals, StoreError>;

    /// A page of recipients in send order after `after` (a position), optionally in
    /// one status.
    async fn recipients(
        &self,
        tenant: TenantId,
        broadcast: BroadcastId,
        status: Option<RecipientStatus>,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Recipient>, StoreError>;

    /// Broadcast sends on the channel since `since`, and the oldest of them: the
    /// channel's daily limit counts them.
    async fn broadcast_sends_since(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        since: Millis,
    ) -> Result<(u64, Option<Millis>), StoreError>;

    /// The channel reported on a broadcast message: its recipient moves when the
    /// report moves it forward. The broadcast it belongs to, when it moved.
    async fn report_recipient(
        &self,
        tenant: TenantId,
        message: MessageId,
        status: RecipientStatus,
        error: Option<&str>,
        at: Millis,
    ) -> Result<Option<BroadcastId>, StoreError>;

    /// A customer wrote in `conversation` at `at`: the newest recipient sent there
    /// from `REPLY_WINDOW_MS` before on, and not replied yet, is `replied`. Its broadcast, when
    /// there was one.
    async fn note_broadcast_reply(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        at: Millis,
    ) -> Result<Option<BroadcastId>, StoreError>;

    /// The customer's newest message to the channel, over the contact's
    /// conversations on it: their 24-hour window counts from it.
    async fn last_inbound_on(
        &self,
        tenant: TenantId,
        contact: ContactId,
        channel: &ChannelKey,
    ) -> Result<Option<Millis>, StoreError>;
}

/// When a broadcast set for `local` (`2026-12-01T09:00`, seconds optional) in the
/// IANA time zone `zone` starts. A time the clocks skip (a spring-forward gap) is
/// refused; one they pass twice (autumn) is the first of the two.
pub fn send_time(local: &str, zone: &str) -> Result<Millis, crate::InvalidValue> {
    use chrono::{LocalResult, NaiveDateTime, TimeZone};
    let zone: chrono_tz::Tz = zone.parse().map_err(|_| {
        crate::InvalidValue(format!(
            "time_zone '{zone}' is not an IANA time zone such as Europe/Lisbon"
        ))
    })?;
    let naive = NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M"))
        .map_err(|_| {
            crate::InvalidValue(format!(
                "send_at '{local}' is not a local date and time such as 2026-12-01T09:00"
            ))
        })?;
    let at = match zone.from_local_datetime(&naive) {
        LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => at,
        LocalResult::None => {
            return Err(crate::InvalidValue(format!(
                "send_at '{local}' does not exist in {zone}: the clocks skip it"
            )));
        }
    };
    Ok(Millis(at.timestamp_millis()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> Millis {
        Millis::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn a_local_time_is_read_in_its_time_zone_across_daylight_saving() {
        assert_eq!(
            send_time("2026-12-01T09:00", "Europe/Lisbon").unwrap(),
            utc("2026-12-01T09:00:00Z")
        );
        assert_eq!(
            send_time("2026-07-01T09:00", "Europe/Lisbon").unwrap(),
            utc("2026-07-01T08:00:00Z")
        );
        assert_eq!(
            send_time("2026-07-01T09:00:30", "America/New_York").unwrap(),
            utc("2026-07-01T13:00:30Z")
        );
        // 2026-10-25 01:30 happens twice in Lisbon: the first (summer time) is taken.
        assert_eq!(
            send_time("2026-10-25T01:30", "Europe/Lisbon").unwrap(),
            utc("2026-10-25T00:30:00Z")
        );
    }

    #[test]
    fn a_skipped_time_an_unknown_zone_and_a_bad_time_are_refused() {
        let gap = send_time("2026-03-29T01:30", "Europe/Lisbon").unwrap_err();
        assert_eq!(
            gap.0,
            "send_at '2026-03-29T01:30' does not exist in Europe/Lisbon: the clocks skip it"
        );
        assert!(
            send_time("2026-12-01T09:00", "Mars/Olympus")
                .unwrap_err()
                .0
                .contains("IANA")
        );
        assert!(
            send_time("tomorrow", "UTC")
                .unwrap_err()
                .0
                .contains("local date and time")
        );
    }

    #[test]
    fn reports_move_a_recipient_forward_only() {
        use RecipientStatus::*;
        assert!(Read.reported_from().contains(&Delivered));
        assert!(!Delivered.reported_from().contains(&Read));
        assert!(!Failed.reported_from().contains(&Read));
        assert!(Replied.reported_from().contains(&Read));
        assert!(Sent.reported_from().is_empty());
    }
}
