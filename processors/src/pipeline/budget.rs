//! Cutting batches by their estimated inference time, not only by rows.
//!
//! Under a backlog a batch would otherwise fill up to `max_rows` (10 000) and spend a minute
//! in inference: every event in it waits that long for its first dashboard appearance, a
//! revocation waits for it (rebalances stall), and its rows sit in memory. The budget keeps
//! each batch to about `budget` of inference, so a backlog of any size drains as a stream of
//! short batches at the same rate (inference of batch n+1 still overlaps the writes of n).
//!
//! The estimate is the batch's payload bytes divided by the measured inference rate in
//! payload bytes per second (an exponentially weighted mean over recent batches; the cost of
//! a text grows with its tokens, and its bytes are a cheap proxy read before decoding). Until
//! a rate is measured, a batch holds at most [`UNMEASURED_TEXTS_PER_SEC`] × budget messages.

use std::sync::Mutex;
use std::sync::PoisonError;
use std::time::Duration;

/// Texts per second assumed before the first measurement (below what one core does, so the
/// first batch stays within its budget).
pub const UNMEASURED_TEXTS_PER_SEC: f64 = 50.0;

/// Weight of the newest measurement in the mean.
const SMOOTHING: f64 = 0.3;

/// Inference shorter than this says more about fixed overheads than about the rate.
const MIN_MEASURED: Duration = Duration::from_millis(50);

/// The per-batch inference budget and the measured rate it is converted with.
#[derive(Debug)]
pub struct InferenceBudget {
    budget: Duration,
    /// Payload bytes analysed per second of inference; `None` until measured.
    rate: Mutex<Option<f64>>,
}

impl InferenceBudget {
    pub fn new(budget: Duration) -> Self {
        Self { budget, rate: Mutex::new(None) }
    }

    /// True while a batch of `messages` messages and `bytes` payload bytes fits the budget.
    pub fn fits(&self, messages: usize, bytes: usize) -> bool {
        match *self.rate.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(rate) => (bytes as f64) < rate * self.budget.as_secs_f64(),
            None => (messages as f64) < UNMEASURED_TEXTS_PER_SEC * self.budget.as_secs_f64(),
        }
    }

    /// Records that `bytes` payload bytes took `took` of inference.
    pub fn observe(&self, bytes: usize, took: Duration) {
        if bytes == 0 || took < MIN_MEASURED {
            return;
        }
        let measured = bytes as f64 / took.as_secs_f64();
        let mut rate = self.rate.lock().unwrap_or_else(PoisonError::into_inner);
        let next = match *rate {
            Some(r) => r + SMOOTHING * (measured - r),
            None => measured,
        };
        *rate = Some(next);
        metrics::gauge!("rtcx_processors_inference_bytes_per_second").set(next);
    }

    /// The measured rate (payload bytes per second of inference), if any.
    pub fn rate(&self) -> Option<f64> {
        *self.rate.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmeasured_budget_counts_messages() {
        let b = InferenceBudget::new(Duration::from_secs(2));
        assert!(b.fits(99, 1 << 30));
        assert!(!b.fits(100, 0));
    }

    #[test]
    fn measured_budget_counts_bytes() {
        let b = InferenceBudget::new(Duration::from_millis(1500));
        b.observe(40_000, Duration::from_secs(1)); // 40 kB/s → 60 kB per batch
        assert!(b.fits(1_000_000, 59_999));
        assert!(!b.fits(1, 60_000));
    }

    #[test]
    fn rate_is_smoothed_and_short_runs_ignored() {
        let b = InferenceBudget::new(Duration::from_secs(1));
        b.observe(10_000, Duration::from_millis(10)); // too short to say anything
        assert_eq!(b.rate(), None);
        b.observe(10_000, Duration::from_secs(1));
        b.observe(20_000, Duration::from_secs(1));
        let r = b.rate().expect("measured");
        assert!((r - 13_000.0).abs() < 1e-6, "{r}");
    }
}
