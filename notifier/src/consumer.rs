//! Reads `rtcx.alerts.v1` (consumer group `rtcx-notifier`: notifiers share the partitions)
//! and routes every event into the delivery queue. An offset is stored only after its
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
use rtcx_schemas::AlertEvent;
use rtcx_schemas::topics::OUTBOX_ID_HEADER;
use sqlx::PgPool;
use tokio::sync::{Notify, watch};

use crate::router::{EmailRouting, route_alert};

/// Settings of the alert consumer.
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    pub brokers: String,
    pub group_id: String,
    pub topic: String,
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
        .create()?;
    consumer.subscribe(&[&settings.topic])?;
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
                match route_until_done(&pg, &id, &event, published, settings.email.as_ref(), &mut shutdown).await {
                    None => break,
                    Some(0) => {}
                    Some(_) => queued.notify_one(),
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

/// Routes one event, retrying while Postgres fails: the deliveries queued, `None` when shut
/// down first.
async fn route_until_done(
    pg: &PgPool,
    id: &str,
    event: &AlertEvent,
    published: DateTime<Utc>,
    email: Option<&EmailRouting>,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<usize> {
    let mut wait = Duration::from_millis(200);
    loop {
        match route_alert(pg, id, event, published, email).await {
            Ok(r) => {
                let outcome = if r.muted { "muted" } else { "routed" };
                metrics::counter!("rtcx_notifier_events_total", "outcome" => outcome).increment(1);
                tracing::debug!(message_id = id, alert = %event.id, queued = r.queued, duplicates = r.duplicates, muted = r.muted, "alert event routed");
                return Some(r.queued);
            }
            Err(e) => {
                tracing::warn!(error = %e, message_id = id, "routing an alert event failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => return None,
                }
                wait = (wait * 2).min(Duration::from_secs(10));
            }
        }
    }
}
