//! A short-lived in-process cache of analytics answers, keyed by endpoint and query string:
//! dashboards polling the same question every few seconds hit ClickHouse once per TTL.
//! Entries are checked after authorisation (the handlers call it), so the cache never
//! serves a caller who may not see the data.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Most entries kept; beyond it, expired entries are dropped, then everything.
const MAX_ENTRIES: usize = 10_000;

/// The cache.
#[derive(Debug)]
pub struct AnswerCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, serde_json::Value)>>,
}

impl AnswerCache {
    /// A cache whose entries live `ttl` (zero disables it).
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Mutex::default() }
    }

    /// The cached answer for `key`, or the one `compute` produces (stored on success).
    pub async fn get_or<E, F>(&self, key: String, compute: F) -> Result<serde_json::Value, E>
    where
        F: Future<Output = Result<serde_json::Value, E>>,
    {
        if self.ttl.is_zero() {
            return compute.await;
        }
        let now = Instant::now();
        if let Some((at, v)) = self.entries.lock().unwrap_or_else(PoisonError::into_inner).get(&key)
            && now.duration_since(*at) < self.ttl
        {
            metrics::counter!("rtcx_query_api_cache_total", "result" => "hit").increment(1);
            return Ok(v.clone());
        }
        metrics::counter!("rtcx_query_api_cache_total", "result" => "miss").increment(1);
        let value = compute.await?;
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| now.duration_since(*at) < ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (Instant::now(), value.clone()));
        Ok(value)
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
}
