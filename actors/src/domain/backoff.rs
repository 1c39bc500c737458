//! How long to wait before trying again: one rule for every retry in the server
//! (channel sends, session reconnects).

use std::time::Duration;

/// `base · 2^(attempt-1)`, capped at `max`, with "equal jitter": half fixed, half
/// random, so things that failed together do not retry together.
pub fn backoff(base: Duration, max: Duration, attempt: u32) -> Duration {
    let exp = base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(30))
        .min(max);
    let half = exp / 2;
    let half_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
    let mut random = [0u8; 8];
    let jitter = match getrandom::fill(&mut random) {
        Ok(()) if half_ms > 0 => u64::from_le_bytes(random) % (half_ms + 1),
        _ => 0,
    };
    half + Duration::from_millis(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_its_jitter_and_stops_at_the_cap() {
        let (base, max) = (Duration::from_millis(100), Duration::from_millis(1_000));
        for (attempt, full) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1_000),
            (30, 1_000),
            (u32::MAX, 1_000),
        ] {
            for _ in 0..50 {
                let pause = backoff(base, max, attempt).as_millis() as u64;
                assert!(
                    (full / 2..=full).contains(&pause),
                    "attempt {attempt}: {pause}"
                );
            }
        }
    }
}
