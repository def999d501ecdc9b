//! `cargo bench -p rtcx-ingest --bench rate_limit`: ingest's rate limiter
//! (`rtcx_ingest::rate_limit`, `governor`'s keyed GCRA limiter since session 8) against the
//! token-bucket map behind one mutex it replaced (kept below as the reference), per check, on
//! one hot key and on 10 000 keys, from one and from two threads. Figures in
//! docs/benchmarks.md.

use std::time::Instant;

use rtcx_ingest::rate_limit::{Rate, RateLimiter};

/// The token buckets ingest used before `governor` (session 7), for the comparison.
mod previous {
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
    pub struct TokenBuckets {
        rate: Rate,
        buckets: Mutex<HashMap<String, Bucket>>,
    }

    /// Buckets untouched this long are dropped (they would be full again anyway).
    const IDLE_EVICTION: Duration = Duration::from_secs(600);
    const EVICT_ABOVE: usize = 100_000;

    impl TokenBuckets {
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
}

/// Checks per measurement; `cargo test` (no `--bench` argument) runs a hundredth, as a smoke
/// test.
fn checks() -> usize {
    if std::env::args().any(|a| a == "--bench") { 2_000_000 } else { 20_000 }
}

/// Nanoseconds per check when `threads` threads each make `CHECKS / threads` checks over
/// `keys` keys with `check`.
fn timed(threads: usize, keys: &[String], check: &(dyn Fn(&str) -> bool + Sync)) -> f64 {
    let started = Instant::now();
    let allowed: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || (0..checks() / threads).filter(|i| check(&keys[(i * 7 + t) % keys.len()])).count())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    assert!(allowed > 0, "some checks pass");
    started.elapsed().as_nanos() as f64 / checks() as f64
}

fn main() {
    // High enough that the buckets never run dry: the cost of a check, not of refusals.
    let (per_second, burst) = (1e9, 1e9);
    let previous = previous::TokenBuckets::new(previous::Rate { per_second, burst });
    let current = RateLimiter::new(Rate { per_second, burst });
    println!("| keys | threads | token buckets, one mutex (ns/check) | governor, keyed (ns/check) |");
    println!("|---|---|---|---|");
    for n in [1usize, 10_000] {
        let keys: Vec<String> = (0..n).map(|i| format!("rtcx_key_{i:06}")).collect();
        for threads in [1, 2] {
            let a = timed(threads, &keys, &|k| previous.check(k, 1.0).is_ok());
            let b = timed(threads, &keys, &|k| current.check(k, 1.0).is_ok());
            println!("| {n} | {threads} | {a:.0} | {b:.0} |");
        }
    }
}
