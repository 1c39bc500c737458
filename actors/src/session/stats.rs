//! Counters of a node's sessions, read by `/metrics`.

use super::state::SessionState;
use crate::ChannelId;
use dashmap::DashMap;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct SessionStats {
    states: DashMap<ChannelId, SessionState>,
    transitions: [AtomicU64; STATES],
    reconnects: AtomicU64,
    messages_in: AtomicU64,
    messages_out: AtomicU64,
}

const STATES: usize = 10;

/// What `/metrics` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCounts {
    /// Sessions running on this node by state (every state listed, zeros too).
    pub by_state: Vec<(SessionState, u64)>,
    /// Transitions recorded by this node, by the state entered.
    pub transitions: Vec<(SessionState, u64)>,
    pub reconnects: u64,
    pub messages_in: u64,
    pub messages_out: u64,
}

fn index(state: SessionState) -> usize {
    SessionState::ALL
        .iter()
        .position(|s| *s == state)
        .unwrap_or(0)
        .min(STATES - 1)
}

impl SessionStats {
    pub(super) fn note_state(&self, channel: ChannelId, state: SessionState) {
        self.states.insert(channel, state);
    }

    pub(super) fn forget(&self, channel: ChannelId) {
        self.states.remove(&channel);
    }

    pub(super) fn note_transition(&self, state: SessionState) {
        self.transitions[index(state)].fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn note_reconnect(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn note_message_in(&self) {
        self.messages_in.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn note_message_out(&self) {
        self.messages_out.fetch_add(1, Ordering::Relaxed);
    }

    pub fn counts(&self) -> SessionCounts {
        let mut by_state = [0u64; STATES];
        for entry in &self.states {
            by_state[index(*entry.value())] += 1;
        }
        SessionCounts {
            by_state: SessionState::ALL
                .iter()
                .map(|s| (*s, by_state[index(*s)]))
                .collect(),
            transitions: SessionState::ALL
                .iter()
                .map(|s| (*s, self.transitions[index(*s)].load(Ordering::Relaxed)))
                .collect(),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            messages_in: self.messages_in.load(Ordering::Relaxed),
            messages_out: self.messages_out.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_has_its_own_counter() {
        assert_eq!(SessionState::ALL.len(), STATES);
        let stats = SessionStats::default();
        for state in SessionState::ALL {
            stats.note_transition(*state);
        }
        assert!(stats.counts().transitions.iter().all(|(_, n)| *n == 1));
    }
}
