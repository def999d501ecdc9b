//! The loop shared by the notifier's scheduled work — account mails from the outbox,
//! reminders, digests: run a round every period until shutdown, count what it queued, wake the
//! dispatcher when it queued anything, and log a failed round without stopping (the next one
//! retries).

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

/// How one kind of scheduled work runs.
pub struct Schedule {
    /// What it does, for the logs ("digests").
    pub name: &'static str,
    /// The counter of deliveries it queued.
    pub metric: &'static str,
    pub every: Duration,
    /// Woken when a round queued something.
    pub queued: Arc<Notify>,
    pub shutdown: watch::Receiver<bool>,
}

/// Runs `round` (returning how many deliveries it queued) on `s` until shutdown.
pub async fn run<F, Fut, E>(mut s: Schedule, mut round: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<usize, E>>,
    E: Display,
{
    loop {
        match round().await {
            Ok(0) => {}
            Ok(n) => {
                metrics::counter!(s.metric).increment(n as u64);
                s.queued.notify_one();
            }
            Err(e) => tracing::warn!(task = s.name, error = %e, "scheduled round failed; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(s.every) => {}
            _ = s.shutdown.changed() => return,
        }
    }
}
