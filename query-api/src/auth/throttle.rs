//! Brute-force protection for logins: failed attempts are counted per account and per client
//! IP in a sliding window; past the limit, further attempts are refused (429 with
//! Retry-After) until the window moves on. A successful login clears the account's count.
//! The refusal is the same whether or not the account exists, so it reveals nothing.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Limits of the login throttle.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleLimits {
    /// Failed attempts allowed per account within `window`.
    pub per_account: usize,
    /// Failed attempts allowed per IP within `window`.
    pub per_ip: usize,
    pub window: Duration,
}

impl Default for ThrottleLimits {
    fn default() -> Self {
        Self { per_account: 5, per_ip: 20, window: Duration::from_secs(15 * 60) }
    }
}

/// Failed-login bookkeeping (in memory: per query-api instance).
#[derive(Debug, Default)]
pub struct LoginThrottle {
    limits: ThrottleLimits,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginThrottle {
    pub fn new(limits: ThrottleLimits) -> Self {
        Self { limits, failures: Mutex::default() }
    }

    fn keys(email: &str, ip: &str) -> [(String, usize); 2] {
        [(format!("account:{}", email.to_lowercase()), 0), (format!("ip:{ip}"), 1)]
    }

    /// `Some(retry_after)` when this email or IP has too many recent failures.
    pub fn check(&self, email: &str, ip: &str, now: Instant) -> Option<Duration> {
        let mut map = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let mut wait = None;
        for (key, which) in Self::keys(email, ip) {
            let limit = if which == 0 { self.limits.per_account } else { self.limits.per_ip };
            if let Some(q) = map.get_mut(&key) {
                while q.front().is_some_and(|t| now.duration_since(*t) >= self.limits.window) {
                    q.pop_front();
                }
                if q.len() >= limit {
                    let oldest = q.front().copied().unwrap_or(now);
                    let w = self.limits.window.saturating_sub(now.duration_since(oldest)).max(Duration::from_secs(1));
                    wait = Some(wait.map_or(w, |x: Duration| x.max(w)));
                }
            }
        }
        wait
    }

    /// Records a failed attempt.
    pub fn failed(&self, email: &str, ip: &str, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        for (key, _) in Self::keys(email, ip) {
            map.entry(key).or_default().push_back(now);
        }
        // Bound memory: forget keys whose failures all left the window.
        if map.len() > 100_000 {
            let window = self.limits.window;
            map.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < window));
        }
    }

    /// Clears the account's failures after a successful login.
    pub fn succeeded(&self, email: &str) {
        let mut map = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        map.remove(&format!("account:{}", email.to_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_locked_after_its_limit_and_freed_by_time_or_success() {
        let t = LoginThrottle::new(ThrottleLimits { per_account: 3, per_ip: 100, window: Duration::from_secs(60) });
        let now = Instant::now();
        for _ in 0..3 {
            assert!(t.check("Ann@x.io", "1.1.1.1", now).is_none());
            t.failed("Ann@x.io", "1.1.1.1", now);
        }
        let wait = t.check("ann@x.io", "2.2.2.2", now).expect("locked, whatever the IP");
        assert!(wait <= Duration::from_secs(60) && wait >= Duration::from_secs(59));
        assert!(t.check("ann@x.io", "1.1.1.1", now + Duration::from_secs(61)).is_none(), "window passed");
        t.succeeded("ann@x.io");
        assert!(t.check("ann@x.io", "1.1.1.1", now).is_none(), "success clears");
    }

    #[test]
    fn an_ip_is_limited_across_accounts() {
        let t = LoginThrottle::new(ThrottleLimits { per_account: 100, per_ip: 4, window: Duration::from_secs(60) });
        let now = Instant::now();
        for i in 0..4 {
            t.failed(&format!("user{i}@x.io"), "9.9.9.9", now);
        }
        assert!(t.check("someone-else@x.io", "9.9.9.9", now).is_some());
        assert!(t.check("someone-else@x.io", "8.8.8.8", now).is_none());
    }
}
