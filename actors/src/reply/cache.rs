//! Answers to questions asked before: per tenant, by the question's folded words, for
//! the tenant's `cache_ttl_secs`. A customer asking what many ask ("opening hours?")
//! costs no model call. A cached answer is checked by the output guardrail again
//! against the asking conversation before it is used, so nothing one customer gave
//! reaches another. Per node, in memory, bounded: the oldest entry goes first.

use super::answer::Answer;
use crate::TenantId;
use crate::pipeline::words::Words;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries a node keeps across all tenants.
pub const CAPACITY: usize = 10_000;

/// Questions longer than this are not cached: long messages are rarely asked twice.
const MAX_QUESTION_CHARS: usize = 300;

#[derive(Debug, Clone)]
pub struct Cached {
    pub answer: Answer,
    /// The call that made it (provider, model, tokens).
    pub meta: Value,
}

type Key = (TenantId, String);

pub struct AnswerCache {
    inner: Mutex<Inner>,
    capacity: usize,
}

#[derive(Default)]
struct Inner {
    /// When each was put, and its place in `order`.
    entries: HashMap<Key, (Instant, u64, Cached)>,
    /// Keys by their place, oldest first (a key put again appears twice; only its
    /// newest place counts).
    order: VecDeque<(Key, u64)>,
    next_place: u64,
}

impl AnswerCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.max(1),
        }
    }

    /// The question as the cache knows it: its folded words; `None` when it is too
    /// long or has none.
    fn key(tenant: TenantId, question: &str) -> Option<Key> {
        if question.chars().count() > MAX_QUESTION_CHARS {
            return None;
        }
        let words = Words::of(question).tokens().join(" ");
        (!words.is_empty()).then_some((tenant, words))
    }

    pub fn get(&self, tenant: TenantId, question: &str, ttl: Duration) -> Option<Cached> {
        let key = Self::key(tenant, question)?;
        let inner = self.inner.lock().ok()?;
        let (at, _, cached) = inner.entries.get(&key)?;
        (at.elapsed() < ttl).then(|| cached.clone())
    }

    pub fn put(&self, tenant: TenantId, question: &str, cached: Cached) {
        let Some(key) = Self::key(tenant, question) else {
            return;
        };
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let place = inner.next_place;
        inner.next_place += 1;
        inner
            .entries
            .insert(key.clone(), (Instant::now(), place, cached));
        inner.order.push_back((key, place));
        while inner.entries.len() > self.capacity {
            let Some((oldest, at)) = inner.order.pop_front() else {
                break;
            };
            // Only the key's newest place evicts it.
            if inner
                .entries
                .get(&oldest)
                .is_some_and(|(_, newest, _)| *newest == at)
            {
                inner.entries.remove(&oldest);
            }
        }
        // Dropping the stale places of keys put again keeps the queue bounded.
        if inner.order.len() > self.capacity * 2 {
            let Inner { entries, order, .. } = &mut *inner;
            order.retain(|(key, at)| entries.get(key).is_some_and(|(_, newest, _)| newest == at));
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner
            .lock()
            .map(|i| i.entries.len())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::answer::ReplyAction;

    fn cached(text: &str) -> Cached {
        Cached {
            answer: Answer {
                text: text.into(),
                confidence: 0.9,
                action: ReplyAction::None,
                reason: String::new(),
                cited: Vec::new(),
            },
            meta: Value::Null,
        }
    }

    #[test]
    fn the_same_question_however_written_hits_within_the_ttl_for_its_tenant_only() {
        let cache = AnswerCache::new(10);
        let (acme, other) = (TenantId::new(), TenantId::new());
        cache.put(acme, "What are your opening hours?", cached("9 to 5"));
        let ttl = Duration::from_secs(60);
        let hit = cache.get(acme, "  what are your OPENING hours ", ttl);
        assert_eq!(hit.map(|c| c.answer.text), Some("9 to 5".to_owned()));
        assert!(
            cache
                .get(other, "What are your opening hours?", ttl)
                .is_none()
        );
        assert!(
            cache
                .get(acme, "What are your closing hours?", ttl)
                .is_none()
        );
        assert!(
            cache
                .get(acme, "What are your opening hours?", Duration::ZERO)
                .is_none()
        );
        cache.put(acme, &"long ".repeat(100), cached("x"));
        assert!(cache.get(acme, &"long ".repeat(100), ttl).is_none());
    }

    #[test]
    fn a_full_cache_forgets_the_oldest_question_first() {
        let cache = AnswerCache::new(2);
        let tenant = TenantId::new();
        let ttl = Duration::from_secs(60);
        cache.put(tenant, "one", cached("1"));
        cache.put(tenant, "two", cached("2"));
        cache.put(tenant, "one", cached("1 again"));
        cache.put(tenant, "three", cached("3"));
        assert_eq!(cache.len(), 2);
        assert!(
            cache.get(tenant, "two", ttl).is_none(),
            "two was the oldest"
        );
        assert_eq!(
            cache.get(tenant, "one", ttl).map(|c| c.answer.text),
            Some("1 again".into())
        );
        for i in 0..50 {
            cache.put(tenant, "one", cached(&i.to_string()));
        }
        assert!(cache.inner.lock().unwrap().order.len() <= 4);
    }
}
