//! The delivery loop: claim due deliveries (of the channels this notifier can send), send them
//! concurrently, record each outcome, and count what happened
//! (`rtcx_notifier_deliveries_total{channel, outcome}`, latency from the event to an accepted
//! delivery in `rtcx_notifier_delivery_latency_seconds`). A round ends when its slowest send
//! does (at most the send timeout): one slow endpoint delays the next claim by that much.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use sqlx::PgPool;
use tokio::sync::{Notify, watch};

use crate::deliveries::{Claimed, Outcome, Recorded, claim, depth, fold_group, record};
use crate::email::render::{Content, alert_group};
use crate::email::sender::EmailSender;
use crate::retry::RetryPolicy;
use crate::webhook::sender::WebhookSender;

/// What this notifier can send: webhooks always, e-mail when SMTP is configured (it claims
/// only deliveries of channels it can send).
#[derive(Clone)]
pub struct Senders {
    pub webhook: WebhookSender,
    pub email: Option<EmailSender>,
}

impl Senders {
    fn channels(&self) -> Vec<&'static str> {
        let mut c = vec!["webhook"];
        if self.email.is_some() {
            c.push("email");
        }
        c
    }

    async fn send(&self, d: &Claimed) -> Outcome {
        match (d.channel.as_str(), &self.email, &d.recipient) {
            ("email", Some(email), Some(to)) => match serde_json::from_value::<Content>(d.payload.clone()) {
                Ok(content) => email.send(&d.message_id, to, &content).await,
                Err(e) => Outcome::Failed { status: None, error: format!("stored mail unreadable: {e}") },
            },
            ("email", _, _) => Outcome::Retry { status: None, error: "no SMTP configured".into(), retry_after: None },
            _ => self.webhook.send(d).await,
        }
    }
}

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
pub async fn round(pg: &PgPool, senders: &Senders, s: &DispatchSettings) -> Result<usize, sqlx::Error> {
    let claimed = claim(pg, &senders.channels(), s.batch, s.lease).await?;
    let n = claimed.len();
    // New-alert mails of one group to one address: the first claimed carries the others (those
    // waiting, and those claimed in this round, which it folds instead of their own sends).
    let mut groups: HashMap<(String, String), Vec<i64>> = HashMap::new();
    for d in &claimed {
        if let (true, Some(key), Some(to)) = (d.channel == "email", &d.group_key, &d.recipient) {
            groups.entry((to.to_lowercase(), key.clone())).or_default().push(d.id);
        }
    }
    let followers: HashSet<i64> = groups.values().flat_map(|ids| ids.iter().skip(1).copied()).collect();
    let claimed: Vec<Claimed> = claimed.into_iter().filter(|d| !followers.contains(&d.id)).collect();
    let groups = &groups;
    let results = futures::stream::iter(claimed)
        .map(|mut d| async move {
            // A new-alert mail takes the waiting mails of its group to the same address along.
            if let (true, Some(key), Some(to)) = (d.channel == "email", d.group_key.clone(), d.recipient.clone()) {
                let own = groups.get(&(to.to_lowercase(), key)).cloned().unwrap_or_default();
                match fold_group(pg, &d, &own, |entries| alert_group(entries).ok()).await {
                    Ok(Some((payload, folded))) => {
                        d.payload = payload;
                        metrics::counter!("rtcx_notifier_grouped_total").increment(folded as u64);
                        tracing::info!(delivery = d.id, folded, "alert mails grouped");
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(delivery = d.id, error = %e, "grouping failed; sending alone"),
                }
            }
            let outcome = senders.send(&d).await;
            let recorded = record(pg, &d, &outcome, &s.retry, rand::random::<f64>()).await;
            (d, outcome, recorded)
        })
        .buffer_unordered(s.concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    for (d, outcome, recorded) in results {
        let recorded = recorded?;
        let channel = if d.channel == "email" { "email" } else { "webhook" };
        metrics::counter!("rtcx_notifier_deliveries_total", "channel" => channel, "outcome" => outcome.label())
            .increment(1);
        match recorded {
            Recorded::Sent => {
                let latency = (chrono::Utc::now() - d.event_at).to_std().unwrap_or_default();
                metrics::histogram!("rtcx_notifier_delivery_latency_seconds", "channel" => channel)
                    .record(latency.as_secs_f64());
                tracing::info!(delivery = d.id, channel, message_id = %d.message_id, attempt = d.attempts, "delivered");
            }
            Recorded::Dead => {
                metrics::counter!("rtcx_notifier_dead_total", "channel" => channel).increment(1);
                tracing::warn!(
                    delivery = d.id,
                    channel,
                    attempt = d.attempts,
                    ?outcome,
                    "delivery dead: attempts exhausted"
                );
            }
            Recorded::Retrying | Recorded::Failed | Recorded::Skipped | Recorded::Superseded => {
                tracing::info!(delivery = d.id, channel, attempt = d.attempts, state = ?recorded, ?outcome, "delivery not accepted");
            }
        }
    }
    Ok(n)
}

/// Delivers until shutdown; `wake` starts a round at once (the consumer queued something)
/// instead of at the end of the idle pause.
pub async fn run(
    pg: PgPool,
    senders: Senders,
    s: DispatchSettings,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let wait = match round(&pg, &senders, &s).await {
            Ok(n) if n as i64 == s.batch => Duration::ZERO,
            Ok(_) => s.idle,
            Err(e) => {
                tracing::warn!(error = %e, "delivery round failed; retrying");
                s.idle.max(Duration::from_secs(1))
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = wake.notified() => {}
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
