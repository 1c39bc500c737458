//! Limits and timings of the live inbox, set from the server configuration.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct InboxSettings {
    /// A conversation actor with no activity for this long stops; the next message
    /// starts a fresh one from the store.
    pub conversation_idle: Duration,
    /// How many recent messages a conversation actor keeps.
    pub recent_messages: usize,
    /// Mailbox bound of each conversation actor; senders wait when it is full.
    pub conversation_mailbox: usize,
    /// Mailbox bound of each tenant actor. Publishing uses `try_send`: when full, the
    /// event is not lost but picked up from the store by the next stream poll.
    pub tenant_mailbox: usize,
    /// How often a tenant with connected agents checks the store for events it was
    /// not told about (a full mailbox, another node).
    pub stream_poll: Duration,
    /// How long an out-of-order event waits for the ones before it before the tenant
    /// reads them from the store.
    pub gap_wait: Duration,
    /// At most this many missed events are replayed on resume; beyond it the client
    /// gets `reset` and reloads.
    pub max_replay: i64,
    /// Events read from the store per query while replaying.
    pub replay_page: u32,
    /// Live events held for a connection while it replays; overflowing it closes the
    /// connection as a slow consumer.
    pub catch_up_buffer: usize,
    /// A typing indicator with no refresh for this long counts as stopped.
    pub typing_ttl: Duration,
    /// A viewer with no refresh for this long has left the conversation. Clients
    /// repeat `viewing.start` well within it.
    pub viewing_ttl: Duration,
    /// Another node's word that a user is present holds this long unless repeated;
    /// each node repeats it every third of this while the user stays.
    pub presence_ttl: Duration,
    /// Customer messages of one tenant waiting for its ingest writer; when full, ingest
    /// answers `Busy` at once (see `group_commit`).
    pub ingest_queue: usize,
    /// At most this many of them share one transaction.
    pub ingest_batch: usize,
    /// How often a tenant with open connections reads its users' access (role,
    /// status, ended sign-ins) from the store, to apply changes the bus did not bring.
    pub access_recheck: Duration,
    /// Open connections allowed per user and per tenant on this node; one more is
    /// closed with 4029.
    pub max_sockets_per_user: usize,
    pub max_sockets_per_tenant: usize,
}

impl Default for InboxSettings {
    fn default() -> Self {
        Self {
            conversation_idle: Duration::from_secs(300),
            recent_messages: 50,
            conversation_mailbox: 256,
            tenant_mailbox: 4096,
            stream_poll: Duration::from_secs(1),
            gap_wait: Duration::from_millis(25),
            max_replay: 10_000,
            replay_page: 500,
            catch_up_buffer: 4096,
            presence_ttl: Duration::from_secs(30),
            typing_ttl: Duration::from_secs(8),
            viewing_ttl: Duration::from_secs(30),
            ingest_queue: 4096,
            ingest_batch: 256,
            access_recheck: Duration::from_secs(10),
            max_sockets_per_user: 20,
            max_sockets_per_tenant: 5_000,
        }
    }
}
