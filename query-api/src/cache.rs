//! A short-lived in-process cache of analytics answers, keyed by endpoint and query string:
//! dashboards polling the same question every few seconds hit ClickHouse once per TTL.
//! Entries are checked after authorisation (the handlers call it), so the cache never
//! serves a caller who may not see the data. Concurrent misses of one key are computed once:
//! the first caller computes while the others wait for its answer (no thundering herd on
//! ClickHouse when an entry expires under many polling dashboards).
//!
//! Kept rather than `moka`'s future cache (`try_get_with`, also single-flight): `cargo bench -p
//! rtcx-query-api --bench answer_cache` measured no clear winner — per lookup of a 2 KB answer
//! 14.4 against 15.6 µs on one hot key and 19.9 against 22.1 µs over 1 000 keys from one task,
//! equal from two tasks on one key, 14.9 against 10.8 µs over 1 000 keys from two tasks
//! (docs/benchmarks.md) — the lookup is dominated by cloning the answer either way, and this
//! one lets a failed computation's waiters retry instead of sharing its error.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Most entries kept; beyond it, expired entries are dropped, then everything.
const MAX_ENTRIES: usize = 10_000;

/// The cache.
#[derive(Debug)]
pub struct AnswerCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, serde_json::Value)>>,
    /// One lock per key being computed.
    computing: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl AnswerCache {
    /// A cache whose entries live `ttl` (zero disables it).
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Mutex::default(), computing: Mutex::default() }
    }

    /// The cached answer for `key`, or the one `compute` produces (stored on success).
    pub async fn get_or<E, F>(&self, key: String, compute: F) -> Result<serde_json::Value, E>
    where
        F: Future<Output = Result<serde_json::Value, E>>,
    {
        if self.ttl.is_zero() {
            return compute.await;
        }
        if let Some(v) = self.fresh(&key) {
            metrics::counter!("rtcx_query_api_cache_total", "result" => "hit").increment(1);
            return Ok(v);
        }
        let lock =
            Arc::clone(self.computing.lock().unwrap_or_else(PoisonError::into_inner).entry(key.clone()).or_default());
        let result = async {
            let _turn = lock.lock().await;
            // Whoever held the lock before may have stored the answer meanwhile.
            if let Some(v) = self.fresh(&key) {
                metrics::counter!("rtcx_query_api_cache_total", "result" => "shared").increment(1);
                return Ok(v);
            }
            metrics::counter!("rtcx_query_api_cache_total", "result" => "miss").increment(1);
            let value = compute.await?;
            self.store(key.clone(), value.clone());
            Ok(value)
        }
        .await;
        drop(lock);
        // The last caller through removes the key's lock (clones are made under this mutex).
        let mut computing = self.computing.lock().unwrap_or_else(PoisonError::into_inner);
        if computing.get(&key).is_some_and(|l| Arc::strong_count(l) == 1) {
            computing.remove(&key);
        }
        result
    }

    fn store(&self, key: String, value: serde_json::Value) {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| now.duration_since(*at) < ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            // Locks left by callers that were cancelled mid-computation.
            self.computing.lock().unwrap_or_else(PoisonError::into_inner).retain(|_, l| Arc::strong_count(l) > 1);
        }
        entries.insert(key, (now, value));
    }

    /// The stored answer for `key` if it is younger than the TTL.
    fn fresh(&self, key: &str) -> Option<serde_json::Value> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.get(key).filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, v)| v.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn answers_are_reused_within_the_ttl_only() {
        let calls = AtomicUsize::new(0);
        let compute = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(serde_json::json!(calls.load(Ordering::SeqCst)))
        };
        let cache = AnswerCache::new(Duration::from_millis(200));
        assert_eq!(cache.get_or("a".into(), compute()).await, Ok(serde_json::json!(1)));
        assert_eq!(cache.get_or("a".into(), compute()).await, Ok(serde_json::json!(1)), "cached");
        assert_eq!(cache.get_or("b".into(), compute()).await, Ok(serde_json::json!(2)), "other key");
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(cache.get_or("a".into(), compute()).await, Ok(serde_json::json!(3)), "expired");
        let off = AnswerCache::new(Duration::ZERO);
        off.get_or("a".into(), compute()).await.ok();
        off.get_or("a".into(), compute()).await.ok();
        assert_eq!(calls.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn concurrent_misses_of_one_key_compute_once() {
        let calls = Arc::new(AtomicUsize::new(0));
        let cache = Arc::new(AnswerCache::new(Duration::from_secs(5)));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (cache, calls) = (Arc::clone(&cache), Arc::clone(&calls));
                tokio::spawn(async move {
                    cache
                        .get_or("k".into(), async {
                            calls.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            Ok::<_, ()>(serde_json::json!("answer"))
                        })
                        .await
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.expect("task"), Ok(serde_json::json!("answer")));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1, "one computation for eight concurrent misses");
        assert!(cache.computing.lock().expect("lock").is_empty(), "no lock left behind");
    }
}
