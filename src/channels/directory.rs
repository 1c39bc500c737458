//! The channel directory: which channel a webhook URL names, with its credentials
//! open, cached briefly (and a name that is no channel remembered, so a flood of
//! made-up ids costs no store read); the channels' credentials for whoever sends with
//! them; and the time of each channel's last webhook, noted on the request path and
//! written in the background.

use super::credentials::{Credentials, Sealer};
use crate::telemetry::Metrics;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchboard_actors::channel::Channel;
use switchboard_actors::store::Store;
use switchboard_actors::{ChannelId, Millis};

/// A channel as webhooks need it, kept for `CHANNEL_CACHE_TTL` so a delivery costs
/// neither a store read nor a decryption. Changes made on this node take effect at
/// once (`forget`); on other nodes within the TTL.
pub struct KnownChannel {
    pub channel: Channel,
    pub credentials: Credentials,
    fetched: Instant,
}

/// How often the webhooks' last inbound times are written to the store.
pub const INBOUND_NOTES_EVERY: Duration = Duration::from_secs(1);

const CHANNEL_CACHE_TTL: Duration = Duration::from_secs(2);
/// Cached channels beyond which expired entries are swept on the next insert.
const KNOWN_CHANNELS_SWEEP_AT: usize = 1_024;
/// How long a webhook URL's channel id that names no channel answers 404 without a
/// store read. Ids are random UUIDs, so only a deleted channel or a guess lands here;
/// a channel created on this node clears its entry at once.
const UNKNOWN_CHANNEL_TTL: Duration = Duration::from_secs(300);
/// Unknown ids remembered at most; when full, expired ones go, then the oldest half.
const UNKNOWN_CHANNELS_MAX: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum KnownError {
    #[error(transparent)]
    Store(switchboard_actors::store::StoreError),
    #[error("{0}")]
    Credentials(String),
}

pub struct ChannelDirectory {
    store: Arc<dyn Store>,
    metrics: Metrics,
    sealer: Sealer,
    known: Mutex<HashMap<ChannelId, Arc<KnownChannel>>>,
    /// Webhook ids that named no channel, and when that was learnt (the negative cache).
    unknown: Mutex<HashMap<ChannelId, Instant>>,
    /// The newest webhook time per channel not yet written to the store. A webhook
    /// only notes it here: a write on the request path would wait for the store's
    /// write lock (on SQLite, the one writer) beside the group commit.
    inbound_notes: Mutex<HashMap<ChannelId, Millis>>,
}

impl ChannelDirectory {
    pub fn new(store: Arc<dyn Store>, metrics: Metrics, sealer: Sealer) -> Arc<Self> {
        Arc::new(Self {
            store,
            metrics,
            sealer,
            known: Mutex::new(HashMap::new()),
            unknown: Mutex::new(HashMap::new()),
            inbound_notes: Mutex::new(HashMap::new()),
        })
    }

    /// A webhook for `channel` arrived at `at`. No I/O: `flush_inbound_notes` writes it.
    pub fn note_inbound(&self, channel: ChannelId, at: Millis) {
        let mut notes = self.inbound_notes.lock().unwrap_or_else(|p| p.into_inner());
        let noted = notes.entry(channel).or_insert(at);
        *noted = (*noted).max(at);
    }

    /// Writes the noted inbound times; called every `INBOUND_NOTES_EVERY`. A failed
    /// write is logged and the note dropped: the next webhook notes it again.
    pub async fn flush_inbound_notes(&self) {
        let notes =
            std::mem::take(&mut *self.inbound_notes.lock().unwrap_or_else(|p| p.into_inner()));
        for (channel, at) in notes {
            if let Err(err) = self.store.note_channel_inbound(channel, at).await {
                tracing::warn!(%channel, error = %err, "cannot record the channel's last inbound time");
            }
        }
    }

    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// The channel's credentials, or why they cannot be used.
    pub fn credentials(&self, channel: &Channel) -> Result<Credentials, String> {
        self.sealer
            .open(channel.id, &channel.sealed_credentials)
            .map_err(|err| err.to_string())
    }

    /// The channel a webhook URL names, with its credentials open (cached briefly).
    /// `Ok(None)` when there is no such channel.
    pub async fn known_channel(
        &self,
        id: ChannelId,
    ) -> Result<Option<Arc<KnownChannel>>, KnownError> {
        let cached = self
            .known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .filter(|k| k.fetched.elapsed() < CHANNEL_CACHE_TTL)
            .cloned();
        if let Some(known) = cached {
            self.metrics.record_channel_lookup("cache");
            return Ok(Some(known));
        }
        let known_unknown = self
            .unknown
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .is_some_and(|at| at.elapsed() < UNKNOWN_CHANNEL_TTL);
        if known_unknown {
            // A flood of made-up ids costs no database read.
            self.metrics.record_channel_lookup("unknown_cache");
            return Ok(None);
        }
        self.metrics.record_channel_lookup("store");
        let Some(channel) = self
            .store
            .channel_by_id(id)
            .await
            .map_err(KnownError::Store)?
        else {
            self.forget(id);
            self.remember_unknown(id);
            return Ok(None);
        };
        let credentials = self
            .credentials(&channel)
            .map_err(KnownError::Credentials)?;
        let known = Arc::new(KnownChannel {
            channel,
            credentials,
            fetched: Instant::now(),
        });
        let mut cache = self.known.lock().unwrap_or_else(|p| p.into_inner());
        // Bounded by the channels that exist; expired entries go when the map grows.
        if cache.len() >= KNOWN_CHANNELS_SWEEP_AT {
            cache.retain(|_, k| k.fetched.elapsed() < CHANNEL_CACHE_TTL);
        }
        cache.insert(id, known.clone());
        Ok(Some(known))
    }

    /// Drops a cached channel (or its absence) after it changed on this node.
    pub fn forget(&self, id: ChannelId) {
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        self.unknown
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    fn remember_unknown(&self, id: ChannelId) {
        let mut unknown = self.unknown.lock().unwrap_or_else(|p| p.into_inner());
        if unknown.len() >= UNKNOWN_CHANNELS_MAX {
            unknown.retain(|_, at| at.elapsed() < UNKNOWN_CHANNEL_TTL);
        }
        if unknown.len() >= UNKNOWN_CHANNELS_MAX {
            let mut ages: Vec<Instant> = unknown.values().copied().collect();
            ages.sort_unstable();
            let cut = ages[ages.len() / 2];
            unknown.retain(|_, at| *at > cut);
        }
        unknown.insert(id, Instant::now());
    }
}
