//! Token-bucket rate limiting keyed by API key, user or client IP.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A rate: `per_second` tokens refill each second, up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Many token buckets, one per key.
#[derive(Debug)]
pub struct RateLimiter {
    rate: Rate,
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// Buckets untouched this long are dropped (they would be full again anyway).
const IDLE_EVICTION: Duration = Duration::from_secs(600);
const EVICT_ABOVE: usize = 100_000;

impl RateLimiter {
    /// A limiter granting `rate` per key.
    pub fn new(rate: Rate) -> Self {
        Self { rate, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes `cost` tokens from `key`'s bucket, or says how long until they are there.
    /// A cost above the burst is capped at the burst (a large batch empties a full bucket).
    pub fn check(&self, key: &str, cost: f64) -> Result<(), Duration> {
        self.check_at(key, cost, Instant::now())
    }

    fn check_at(&self, key: &str, cost: f64, now: Instant) -> Result<(), Duration> {
        let cost = cost.min(self.rate.burst);
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() > EVICT_ABOVE {
            buckets.retain(|_, b| now.duration_since(b.updated) < IDLE_EVICTION);
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket { tokens: self.rate.burst, updated: now });
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate.per_second).min(self.rate.burst);
        bucket.updated = now;
        if bucket.tokens >= cost {
            bucket.tokens -= cost;
            Ok(())
        } else {
            let missing = cost - bucket.tokens;
            Err(Duration::from_secs_f64(missing / self.rate.per_second.max(f64::MIN_POSITIVE)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_the_burst_then_refills() {
        let rl = RateLimiter::new(Rate { per_second: 2.0, burst: 3.0 });
        let t0 = Instant::now();
        for _ in 0..3 {
            rl.check_at("k", 1.0, t0).expect("within burst");
        }
        let wait = rl.check_at("k", 1.0, t0).expect_err("burst used up");
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-6, "{wait:?}");
        rl.check_at("k", 1.0, t0 + Duration::from_millis(500)).expect("refilled one token");
        rl.check_at("other", 3.0, t0).expect("buckets are per key");
    }

    #[test]
    fn costs_above_the_burst_are_capped() {
        let rl = RateLimiter::new(Rate { per_second: 10.0, burst: 100.0 });
        let t0 = Instant::now();
        rl.check_at("k", 1000.0, t0).expect("a full bucket takes a huge batch");
        assert!(rl.check_at("k", 1.0, t0).is_err());
    }
}
