//! The per-account sign-in throttle: password guessing spread over many addresses
//! (which the per-address limit cannot see) still meets a wall per account.
//!
//! Accounts are keyed by what the caller typed (tenant slug and email, lower-cased),
//! never by whether they exist, so a throttled unknown account answers exactly like a
//! throttled real one. After `free` failures in a row each further attempt must wait
//! 1 s, then 2 s, 4 s … up to `max`; a success clears the count. The state lives in
//! this node's memory (a cluster of N nodes allows up to N times the attempts), holds
//! at most `CAPACITY` accounts, and forgets an account an hour after its last failure.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Accounts tracked at most; when full, the stalest entry makes room.
const CAPACITY: usize = 100_000;
/// An account with no failure for this long starts afresh.
const FORGET_AFTER: Duration = Duration::from_secs(3600);
const FIRST_WAIT: Duration = Duration::from_secs(1);

struct Failures {
    count: u32,
    last: Instant,
    /// No attempt is taken before this.
    blocked_until: Option<Instant>,
}

pub struct SignInThrottle {
    free: u32,
    max: Duration,
    accounts: Mutex<HashMap<String, Failures>>,
}

impl SignInThrottle {
    pub fn new(free: u32, max: Duration) -> Self {
        Self {
            free,
            max,
            accounts: Mutex::new(HashMap::new()),
        }
    }

    pub fn key(tenant: &str, email: &str) -> String {
        format!(
            "{}\n{}",
            tenant.trim().to_lowercase(),
            email.trim().to_lowercase()
        )
    }

    /// `Err(wait)` while the account must wait before the next attempt.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        match accounts.get(key).and_then(|f| f.blocked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    pub fn failed(&self, key: &str, now: Instant) {
        let mut accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        if !accounts.contains_key(key) && accounts.len() >= CAPACITY {
            make_room(&mut accounts, now);
        }
        let failures = accounts.entry(key.to_owned()).or_insert(Failures {
            count: 0,
            last: now,
            blocked_until: None,
        });
        if now.duration_since(failures.last) > FORGET_AFTER {
            failures.count = 0;
        }
        failures.count = failures.count.saturating_add(1);
        failures.last = now;
        if let Some(over) = failures.count.checked_sub(self.free) {
            let wait = FIRST_WAIT
                .saturating_mul(1u32 << over.min(20))
                .min(self.max);
            failures.blocked_until = Some(now + wait);
        }
    }

    pub fn succeeded(&self, key: &str) {
        self.accounts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    /// Forgets accounts whose last failure is older than `FORGET_AFTER`.
    pub fn prune(&self, now: Instant) {
        let mut accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        accounts.retain(|_, f| now.duration_since(f.last) <= FORGET_AFTER);
        accounts.shrink_to_fit();
    }
}

fn make_room(accounts: &mut HashMap<String, Failures>, now: Instant) {
    accounts.retain(|_, f| now.duration_since(f.last) <= FORGET_AFTER);
    if accounts.len() >= CAPACITY
        && let Some(stalest) = accounts
            .iter()
            .min_by_key(|(_, f)| f.last)
            .map(|(k, _)| k.clone())
    {
        accounts.remove(&stalest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_the_free_failures_each_attempt_waits_twice_as_long_up_to_the_cap() {
        let throttle = SignInThrottle::new(3, Duration::from_secs(5));
        let key = SignInThrottle::key("Acme", "Ada@Example.com");
        assert_eq!(key, SignInThrottle::key("acme", "ada@example.com"));
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(throttle.check(&key, start), Ok(()));
            throttle.failed(&key, start);
        }
        // The third failure was the last free one.
        assert_eq!(throttle.check(&key, start), Err(Duration::from_secs(1)));
        let mut now = start + Duration::from_secs(1);
        for wait in [2, 4, 5, 5] {
            assert_eq!(throttle.check(&key, now), Ok(()));
            throttle.failed(&key, now);
            assert_eq!(throttle.check(&key, now), Err(Duration::from_secs(wait)));
            now += Duration::from_secs(wait);
        }
        throttle.succeeded(&key);
        assert_eq!(throttle.check(&key, now), Ok(()));
    }

    #[test]
    fn accounts_are_throttled_apart_and_forgotten_after_an_hour() {
        let throttle = SignInThrottle::new(2, Duration::from_secs(60));
        let start = Instant::now();
        throttle.failed("a\nx@y.z", start);
        throttle.failed("a\nx@y.z", start);
        assert!(throttle.check("a\nx@y.z", start).is_err());
        assert_eq!(throttle.check("a\nother@y.z", start), Ok(()));
        let later = start + FORGET_AFTER + Duration::from_secs(1);
        throttle.prune(later);
        assert_eq!(throttle.check("a\nx@y.z", later), Ok(()));
        throttle.failed("a\nx@y.z", later);
        assert_eq!(
            throttle.check("a\nx@y.z", later),
            Ok(()),
            "the count started afresh"
        );
    }
}
