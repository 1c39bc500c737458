//! Limits and timings of WhatsApp Web sessions, set from the server configuration.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// A session's lease: its owner renews it every fifth of this; another node
    /// takes the session over once it has expired. The owner stops its client when
    /// it could not renew for half of it, before anyone else may start one.
    pub lease_ttl: Duration,
    /// Reconnect pauses: `backoff_base · 2^(attempt-1)` up to `backoff_max`, jittered.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Connected this long, the next drop starts again from the first pause.
    pub stable_after: Duration,
    /// QR codes shown per login before the session stops and waits for a restart.
    pub max_qr_codes: u32,
    /// QR codes are shown (stored, published) at most once per this interval; in a
    /// storm only the newest is kept.
    pub qr_min_interval: Duration,
    /// Clients built at once on a node (a restart restores every session this many
    /// at a time).
    pub connect_concurrency: usize,
    /// Longest wait for a client to be built and for its first event.
    pub connect_timeout: Duration,
    /// Longest wait for WhatsApp to accept a message or give a pairing code.
    pub send_timeout: Duration,
    /// Events a client may queue for its actor before it waits.
    pub event_buffer: usize,
    /// Mailbox bound of each session actor.
    pub mailbox: usize,
    /// Sessions looked at per claim round.
    pub claim_batch: u32,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            lease_ttl: Duration::from_secs(30),
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(300),
            stable_after: Duration::from_secs(120),
            max_qr_codes: 6,
            qr_min_interval: Duration::from_secs(1),
            connect_concurrency: 8,
            connect_timeout: Duration::from_secs(30),
            send_timeout: Duration::from_secs(30),
            event_buffer: 256,
            mailbox: 64,
            claim_batch: 200,
        }
    }
}
