//! The delivery loop: claim due deliveries, send them concurrently, record each outcome, and
//! count what happened (`rtcx_notifier_deliveries_total{channel, outcome}`, latency from the
//! event to an accepted delivery in `rtcx_notifier_delivery_latency_seconds`).

use std::time::Duration;

use futures::StreamExt;
use sqlx::PgPool;
use tokio::sync::watch;

use crate::deliveries::{Recorded, claim, depth, record};
use crate::retry::RetryPolicy;
use crate::webhook::sender::WebhookSender;

/// Settings of the delivery loop.
#[derive(Debug, Clone, Copy)]
pub struct DispatchSettings {
    /// Deliveries claimed per round.
    pub batch: i64,
    /// Deliveries in flight at once.
    pub concurrency: usize,
    /// Pause when nothing was due.
    pub idle: Duration,
    /// How long a claim holds a delivery (longer than a send can take).
    pub lease: Duration,
    pub retry: RetryPolicy,
}

/// One round: returns how many deliveries were claimed.
pub async fn round(pg: &PgPool, sender: &WebhookSender, s: &DispatchSettings) -> Result<usize, sqlx::Error> {
    let claimed = claim(pg, s.batch, s.lease).await?;
    let n = claimed.len();
    let results = futures::stream::iter(claimed)
        .map(|d| async move {
            let outcome = sender.send(&d).await;
            let recorded = record(pg, &d, &outcome, &s.retry, rand::random::<f64>()).await;
            (d, outcome, recorded)
        })
        .buffer_unordered(s.concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    for (d, outcome, recorded) in results {
        let recorded = recorded?;
        metrics::counter!("rtcx_notifier_deliveries_total", "channel" => "webhook", "outcome" => outcome.label())
            .increment(1);
        match recorded {
            Recorded::Sent => {
                let latency = (chrono::Utc::now() - d.event_at).to_std().unwrap_or_default();
                metrics::histogram!("rtcx_notifier_delivery_latency_seconds", "channel" => "webhook")
                    .record(latency.as_secs_f64());
                tracing::info!(delivery = d.id, webhook = %d.webhook_id, message_id = %d.message_id, attempt = d.attempts, "delivered");
            }
            Recorded::Dead => {
                metrics::counter!("rtcx_notifier_dead_total", "channel" => "webhook").increment(1);
                tracing::warn!(delivery = d.id, webhook = %d.webhook_id, attempt = d.attempts, ?outcome, "delivery dead: attempts exhausted");
            }
            Recorded::Retrying | Recorded::Failed | Recorded::Skipped | Recorded::Superseded => {
                tracing::info!(delivery = d.id, webhook = %d.webhook_id, attempt = d.attempts, state = ?recorded, ?outcome, "delivery not accepted");
            }
        }
    }
    Ok(n)
}

/// Delivers until shutdown.
pub async fn run(pg: PgPool, sender: WebhookSender, s: DispatchSettings, mut shutdown: watch::Receiver<bool>) {
    loop {
        let wait = match round(&pg, &sender, &s).await {
            Ok(n) if n as i64 == s.batch => Duration::ZERO,
            Ok(_) => s.idle,
            Err(e) => {
                tracing::warn!(error = %e, "delivery round failed; retrying");
                s.idle.max(Duration::from_secs(1))
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Publishes the queue's depth and the age of its oldest pending delivery, every `every`.
pub async fn watch_depth(pg: PgPool, every: Duration, mut shutdown: watch::Receiver<bool>) {
    loop {
        match depth(&pg).await {
            Ok((n, oldest)) => {
                metrics::gauge!("rtcx_notifier_queue_depth").set(n as f64);
                metrics::gauge!("rtcx_notifier_oldest_pending_seconds").set(oldest);
            }
            Err(e) => tracing::debug!(error = %e, "queue depth"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
    }
}
