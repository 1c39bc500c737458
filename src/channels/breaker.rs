//! A circuit breaker per channel: after `threshold` failures in a row the channel is
//! left alone for `open_for`, then one probe decides whether it is healthy again.
//! While it is open, replies wait in the channel's queue instead of spending their
//! attempts against a provider that is down.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Circuit {
    Closed,
    /// No calls until the instant.
    Open(Instant),
    /// The next call is a probe.
    HalfOpen,
}

impl Circuit {
    pub fn as_str(self) -> &'static str {
        match self {
            Circuit::Closed => "closed",
            Circuit::Open(_) => "open",
            Circuit::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Breaker {
    threshold: u32,
    open_for: Duration,
    failures: u32,
    circuit: Circuit,
}

impl Breaker {
    pub fn new(threshold: u32, open_for: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            open_for,
            failures: 0,
            circuit: Circuit::Closed,
        }
    }

    /// The state at `now`; an open circuit whose time is up turns half-open.
    pub fn circuit(&mut self, now: Instant) -> Circuit {
        if let Circuit::Open(until) = self.circuit
            && now >= until
        {
            self.circuit = Circuit::HalfOpen;
        }
        self.circuit
    }

    pub fn succeeded(&mut self) {
        self.failures = 0;
        self.circuit = Circuit::Closed;
    }

    pub fn failed(&mut self, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        // A failed probe opens the circuit again at once.
        if self.circuit == Circuit::HalfOpen || self.failures >= self.threshold {
            self.circuit = Circuit::Open(now + self.open_for);
        }
    }

    /// A failure where the other side said when to come back (`Retry-After`): the
    /// circuit opens at once, until then at least.
    pub fn told_to_wait(&mut self, now: Instant, wait: Duration) {
        self.failed(now);
        let until = now + wait;
        match self.circuit {
            Circuit::Open(at) if at >= until => {}
            _ => self.circuit = Circuit::Open(until),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn told_to_wait_opens_at_once_for_the_longer_of_the_wait_and_its_own() {
        let start = Instant::now();
        let mut breaker = Breaker::new(3, Duration::from_secs(10));
        breaker.told_to_wait(start, Duration::from_secs(60));
        assert_eq!(
            breaker.circuit(start),
            Circuit::Open(start + Duration::from_secs(60))
        );
        assert_eq!(
            breaker.circuit(start + Duration::from_secs(60)),
            Circuit::HalfOpen
        );
        // A shorter wait than the breaker's own: its own stands.
        let mut breaker = Breaker::new(1, Duration::from_secs(10));
        breaker.told_to_wait(start, Duration::from_secs(2));
        assert_eq!(
            breaker.circuit(start),
            Circuit::Open(start + Duration::from_secs(10))
        );
    }

    #[test]
    fn the_circuit_opens_after_the_threshold_and_a_probe_closes_it() {
        let start = Instant::now();
        let mut breaker = Breaker::new(3, Duration::from_secs(10));
        breaker.failed(start);
        breaker.failed(start);
        assert_eq!(breaker.circuit(start), Circuit::Closed);
        breaker.failed(start);
        assert_eq!(
            breaker.circuit(start),
            Circuit::Open(start + Duration::from_secs(10))
        );
        let later = start + Duration::from_secs(10);
        assert_eq!(breaker.circuit(later), Circuit::HalfOpen);
        breaker.succeeded();
        assert_eq!(breaker.circuit(later), Circuit::Closed);
    }

    #[test]
    fn a_failed_probe_reopens_the_circuit_and_a_success_resets_the_count() {
        let start = Instant::now();
        let mut breaker = Breaker::new(2, Duration::from_secs(1));
        breaker.failed(start);
        breaker.succeeded();
        breaker.failed(start);
        assert_eq!(breaker.circuit(start), Circuit::Closed);
        breaker.failed(start);
        let probe_at = start + Duration::from_secs(1);
        assert_eq!(breaker.circuit(probe_at), Circuit::HalfOpen);
        breaker.failed(probe_at);
        assert_eq!(
            breaker.circuit(probe_at),
            Circuit::Open(probe_at + Duration::from_secs(1))
        );
    }
}
