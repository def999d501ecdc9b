//! Background work on a fixed period.

use std::future::Future;
use std::time::Duration;

/// Runs `task` every `every` (the first run at once) until the returned handle is aborted.
/// A run that overruns delays the next one instead of bunching missed runs together.
pub fn spawn_every<F, Fut>(every: Duration, mut task: F) -> tokio::task::JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            task().await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn runs_repeatedly_until_aborted() {
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&runs);
        let handle = spawn_every(Duration::from_millis(5), move || {
            let counter = Arc::clone(&counter);
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        });
        tokio::time::sleep(Duration::from_millis(60)).await;
        handle.abort();
        assert!(runs.load(Ordering::SeqCst) >= 3);
    }
}
