//! Rate limiting keyed by API key, user or client IP: `governor`'s keyed GCRA limiter (what
//! PostHog capture uses), behind the small interface the handlers need. It replaced a
//! token-bucket map behind one mutex: `cargo bench -p rtcx-ingest --bench rate_limit`
//! measured 66 against 84 ns per check on one thread and 65 against 175 ns from two
//! (docs/benchmarks.md).

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter as Gcra};

/// A rate: `per_second` events refill each second, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

impl Rate {
    /// The quota: one event every `1 / per_second` s, `burst` (at least 1) at once.
    fn quota(self) -> Quota {
        let period = Duration::from_secs_f64(1.0 / self.per_second.max(1e-9)).max(Duration::from_nanos(1));
        let burst =
            NonZeroU32::new(self.burst.round().clamp(1.0, f64::from(u32::MAX)) as u32).unwrap_or(NonZeroU32::MIN);
        Quota::with_period(period).unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX)).allow_burst(burst)
    }
}

/// Checks between looks at the number of keys held.
const EVICT_EVERY: u64 = 4096;
/// Keys held beyond which those whose state has fully refilled are dropped.
const EVICT_ABOVE: usize = 100_000;

/// One limiter per key.
pub struct RateLimiter<C: Clock = DefaultClock> {
    gcra: Gcra<String, DashMapStateStore<String>, C, NoOpMiddleware<C::Instant>>,
    clock: C,
    burst: NonZeroU32,
    checks: AtomicU64,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter").field("burst", &self.burst).finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// A limiter granting `rate` per key.
    pub fn new(rate: Rate) -> Self {
        Self::with_clock(rate, DefaultClock::default())
    }
}

impl<C: Clock + Clone> RateLimiter<C> {
    fn with_clock(rate: Rate, clock: C) -> Self {
        let quota = rate.quota();
        Self {
            gcra: Gcra::dashmap_with_clock(quota, clock.clone()),
            clock,
            burst: quota.burst_size(),
            checks: AtomicU64::new(0),
        }
    }

    /// Takes `cost` events from `key`'s allowance, or says how long until they are there.
    /// A cost above the burst is capped at the burst (a large batch takes a full allowance).
    pub fn check(&self, key: &str, cost: f64) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed).is_multiple_of(EVICT_EVERY) && self.gcra.len() > EVICT_ABOVE {
            self.gcra.retain_recent();
            self.gcra.shrink_to_fit();
        }
        let n = NonZeroU32::new(cost.ceil().clamp(1.0, f64::from(self.burst.get())) as u32).unwrap_or(NonZeroU32::MIN);
        match self.gcra.check_key_n(&key.to_owned(), n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(not_until.wait_time_from(self.clock.now())),
            // Unreachable: the cost is capped at the burst.
            Err(_) => Err(Duration::from_secs(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    #[test]
    fn the_burst_then_the_refill() {
        let clock = FakeRelativeClock::default();
        let rl = RateLimiter::with_clock(Rate { per_second: 2.0, burst: 3.0 }, clock.clone());
        for _ in 0..3 {
            rl.check("k", 1.0).expect("within burst");
        }
        let wait = rl.check("k", 1.0).expect_err("burst used up");
        assert_eq!(wait, Duration::from_millis(500));
        clock.advance(Duration::from_millis(500));
        rl.check("k", 1.0).expect("refilled one");
        rl.check("other", 3.0).expect("per key");
    }

    #[test]
    fn costs_above_the_burst_are_capped_and_fractions_round_up() {
        let clock = FakeRelativeClock::default();
        let rl = RateLimiter::with_clock(Rate { per_second: 10.0, burst: 100.0 }, clock.clone());
        rl.check("k", 1000.0).expect("a full allowance takes a huge batch");
        assert!(rl.check("k", 1.0).is_err());
        let slow = RateLimiter::with_clock(Rate { per_second: 0.2, burst: 5.0 }, clock);
        for _ in 0..5 {
            slow.check("ip", 0.5).expect("within burst");
        }
        assert_eq!(slow.check("ip", 1.0).expect_err("used up"), Duration::from_secs(5), "one every 5 s");
    }
}
