//! When a failed delivery is tried again: exponential back-off with "equal jitter" (half the
//! delay fixed, half random), so that a receiver coming back from an outage is not hit by
//! every notifier's retries in the same second, and dead after a number of attempts.

use std::time::Duration;

/// Retry settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay after the first failed attempt (before jitter).
    pub base: Duration,
    /// Longest delay.
    pub max: Duration,
    /// Attempts after which a delivery is dead.
    pub max_attempts: u32,
}

impl RetryPolicy {
    /// The delay after failed attempt number `attempt` (1-based), or `None` when that was the
    /// last attempt. `unit` ∈ [0, 1) draws the jitter.
    pub fn delay(&self, attempt: u32, unit: f64) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        let exp = self.base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20)).min(self.max);
        let half = exp / 2;
        Some(half + half.mul_f64(unit.clamp(0.0, 1.0)))
    }

    /// As [`Self::delay`], honouring a receiver's `Retry-After` (seconds) when it asks for
    /// longer, up to the longest delay.
    pub fn delay_after(&self, attempt: u32, unit: f64, retry_after: Option<Duration>) -> Option<Duration> {
        let d = self.delay(attempt, unit)?;
        Some(match retry_after {
            Some(r) if r > d => r.min(self.max),
            _ => d,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RetryPolicy =
        RetryPolicy { base: Duration::from_secs(5), max: Duration::from_secs(3600), max_attempts: 8 };

    #[test]
    fn doubles_with_jitter_up_to_the_cap_then_gives_up() {
        assert_eq!(POLICY.delay(1, 0.0), Some(Duration::from_millis(2500)));
        assert_eq!(POLICY.delay(1, 0.999_999).map(|d| d.as_secs()), Some(4));
        assert_eq!(POLICY.delay(3, 0.5), Some(Duration::from_secs(15)));
        let long = RetryPolicy { max_attempts: 40, ..POLICY };
        assert_eq!(long.delay(30, 1.0), Some(Duration::from_secs(3600)));
        assert_eq!(POLICY.delay(8, 0.5), None);
        assert_eq!(POLICY.delay(9, 0.5), None);
    }

    #[test]
    fn honours_a_longer_retry_after() {
        let asked = Some(Duration::from_secs(120));
        assert_eq!(POLICY.delay_after(1, 0.0, asked), Some(Duration::from_secs(120)));
        assert_eq!(POLICY.delay_after(1, 0.0, Some(Duration::from_secs(1))), Some(Duration::from_millis(2500)));
        assert_eq!(POLICY.delay_after(1, 0.0, Some(Duration::from_secs(86_400))), Some(Duration::from_secs(3600)));
        assert_eq!(POLICY.delay_after(8, 0.0, asked), None);
    }
}
