//! One monotonic clock for the whole generator: senders stamp intended times and agents
//! stamp arrivals on it, so an end-to-end latency is a difference of two readings of
//! the same clock.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

static ORIGIN: OnceLock<Instant> = OnceLock::new();

/// The clock's zero: the first time anything in this process asked for it.
pub fn origin() -> Instant {
    *ORIGIN.get_or_init(Instant::now)
}

/// Microseconds since the origin.
pub fn now_us() -> u64 {
    micros(origin().elapsed())
}

/// Microseconds from the origin to `at` (0 for an instant before it).
pub fn at_us(at: Instant) -> u64 {
    micros(at.saturating_duration_since(origin()))
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
