//! Reads `rtcx.alerts.v1` and `rtcx.feedback.enriched.v1` (consumer group `rtcx-notifier`:
//! notifiers share the partitions) and routes every alert event, and every negative message
//! while some webhook takes `feedback.negative`, into the delivery queue. An offset is stored only after its
//! event's deliveries are committed in Postgres, so a crash re-reads, and the queue's unique
//! key makes the re-read queue nothing twice. The event's identity is the outbox row it was
//! relayed from (header `rtcx-outbox-id`, so that an event relayed twice is still one
//! message), else its topic, partition and offset.
//!
//! A message that is not an alert event is counted and skipped (it never blocks the
//! partition); while Postgres is down the consumer waits on the same message. A new group
//! starts from the earliest offset and ignores events older than `--max-event-age`, so
//! alerts raised while the notifier was being deployed are still sent and a first start does
//! not replay history.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rtcx_schemas::topics::OUTBOX_ID_HEADER;
use rtcx_schemas::{AlertEvent, EnrichedFeedback, SentimentLabel};
use sqlx::PgPool;
use tokio::sync::{Notify, watch};

use crate::router::{EmailRouting, route_alert, route_negative_feedback};

/// Settings of the alert consumer.
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    pub brokers: String,
    pub group_id: String,
    pub topic: String,
    /// The enriched-feedback topic (`feedback.negative` webhooks).
    pub enriched_topic: String,
    pub max_event_age: Duration,
    /// E-mail routing (absent: webhooks only).
    pub email: Option<EmailRouting>,
}

/// The idempotency key of a message.
pub fn message_id(m: &BorrowedMessage<'_>) -> String {
    let outbox = m.headers().and_then(|h| {
        h.iter()
            .find(|x| x.key == OUTBOX_ID_HEADER)
            .and_then(|x| x.value)
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.parse::<i64>().ok())
    });
    match outbox {
        Some(id) => format!("msg_alert_{id}"),
        None => format!("msg_{}_{}_{}", m.topic(), m.partition(), m.offset()),
    }
}

/// Consumes until shutdown; `queued` is notified when deliveries were queued.
pub async fn run(
    settings: ConsumerSettings,
    pg: PgPool,
    queued: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &settings.brokers)
        .set("group.id", &settings.group_id)
        .set("enable.auto.commit", "true")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        // The processors publish enriched feedback in transactions.
        .set("isolation.level", "read_committed")
        .create()?;
    consumer.subscribe(&[&settings.topic, &settings.enriched_topic])?;
    let mut feedback_hooks = FeedbackHooks::default();
    tracing::info!(topic = %settings.topic, group = %settings.group_id, "consuming alert events");
    loop {
        let m = tokio::select! {
            m = consumer.recv() => m,
            _ = shutdown.changed() => break,
        };
        let m = match m {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "alert consumer: Kafka error");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let published =
            m.timestamp().to_millis().and_then(DateTime::<Utc>::from_timestamp_millis).unwrap_or_else(Utc::now);
        if m.topic() == settings.enriched_topic {
            if !too_old(published, settings.max_event_age)
                && feedback_hooks.any(&pg).await
                && let Some(e) = m.payload().and_then(|p| serde_json::from_slice::<EnrichedFeedback>(p).ok())
                && e.sentiment.label == SentimentLabel::Negative
            {
                let id = format!("msg_feedback_{}", e.feedback.id);
                match retry_until_done(&mut shutdown, &id, || route_negative_feedback(&pg, &id, &e)).await {
                    None => break,
                    Some(r) if r.queued > 0 => queued.notify_one(),
                    Some(_) => {}
                }
            }
            consumer.store_offset_from_message(&m)?;
            continue;
        }
        let event: Option<AlertEvent> = m.payload().and_then(|p| serde_json::from_slice(p).ok());
        match event {
            None => {
                metrics::counter!("rtcx_notifier_events_total", "outcome" => "malformed").increment(1);
                tracing::warn!(partition = m.partition(), offset = m.offset(), "not an alert event: skipped");
            }
            Some(_) if too_old(published, settings.max_event_age) => {
                metrics::counter!("rtcx_notifier_events_total", "outcome" => "too_old").increment(1);
            }
            Some(event) => {
                let id = message_id(&m);
                let email = settings.email.as_ref();
                match retry_until_done(&mut shutdown, &id, || route_alert(&pg, &id, &event, published, email)).await {
                    None => break,
                    Some(r) if r.queued > 0 => queued.notify_one(),
                    Some(_) => {}
                }
            }
        }
        consumer.store_offset_from_message(&m)?;
    }
    // Commit what is stored before leaving the group.
    if let Err(e) = consumer.commit_consumer_state(rdkafka::consumer::CommitMode::Sync) {
        tracing::debug!(error = %e, "alert consumer: final commit");
    }
    Ok(())
}

fn too_old(published: DateTime<Utc>, max_age: Duration) -> bool {
    chrono::Duration::from_std(max_age).is_ok_and(|max| Utc::now() - published > max)
}

/// Whether any active webhook takes `feedback.negative`, asked of Postgres at most every
/// few seconds (the enriched topic carries every message; most deployments subscribe none).
#[derive(Default)]
struct FeedbackHooks {
    checked: Option<(std::time::Instant, bool)>,
}

impl FeedbackHooks {
    const TTL: Duration = Duration::from_secs(5);

    async fn any(&mut self, pg: &PgPool) -> bool {
        if let Some((at, any)) = self.checked
            && at.elapsed() < Self::TTL
        {
            return any;
        }
        let any = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM webhooks WHERE active AND 'feedback.negative' = ANY(event_types))",
        )
        .fetch_one(pg)
        .await
        // Postgres down: assume there are (routing then waits for it) rather than drop events.
        .unwrap_or(true);
        self.checked = Some((std::time::Instant::now(), any));
        any
    }
}

/// Runs `route` until it succeeds, retrying with back-off while Postgres fails; `None` when
/// shut down first.
async fn retry_until_done<F, Fut>(
    shutdown: &mut watch::Receiver<bool>,
    id: &str,
    mut route: F,
) -> Option<crate::router::Routed>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<crate::router::Routed, sqlx::Error>>,
{
    let mut wait = Duration::from_millis(200);
    loop {
        match route().await {
            Ok(r) => {
                let outcome = if r.muted { "muted" } else { "routed" };
                metrics::counter!("rtcx_notifier_events_total", "outcome" => outcome).increment(1);
                tracing::debug!(
                    message_id = id,
                    queued = r.queued,
                    duplicates = r.duplicates,
                    muted = r.muted,
                    "event routed"
                );
                return Some(r);
            }
            Err(e) => {
                tracing::warn!(error = %e, message_id = id, "routing an event failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => return None,
                }
                wait = (wait * 2).min(Duration::from_secs(10));
            }
        }
    }
}
