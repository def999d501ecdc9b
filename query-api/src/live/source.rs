//! What feeds the hub: the enriched-feedback and alert topics (read by every instance with a
//! consumer group of its own, from the latest offset: a broadcast), the dashboard figures
//! (recomputed every few seconds through the answer cache while someone watches them), and
//! the session check that ends the connections of ended sessions.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rtcx_schemas::live::{FeedbackUpdate, ServerMessage};
use rtcx_schemas::{AlertEvent, Channel, EnrichedFeedback};
use tokio::sync::watch;
use uuid::Uuid;

use super::hub::{Frame, Hub, LiveEvent};
use super::rooms::{Audience, Room, alert_audiences};
use crate::app::AppState;

/// Where the live events come from.
#[derive(Debug, Clone)]
pub struct Topics {
    pub brokers: String,
    pub enriched: String,
    pub alerts: String,
}

fn frame(audience: Audience, msg: &ServerMessage) -> Option<Frame> {
    let kind = match msg {
        ServerMessage::Feedback { .. } => "feedback",
        ServerMessage::Alert { .. } => "alert",
        ServerMessage::Dashboard { .. } => "dashboard",
        _ => "message",
    };
    let text = serde_json::to_string(msg).ok()?;
    Some(Frame { audience, kind, text: Utf8Bytes::from(text) })
}

/// The event of a newly enriched message: one frame for its channel's room and one per topic.
pub fn feedback_event(hub: &Hub, e: &EnrichedFeedback) -> LiveEvent {
    let (seq, id) = hub.next_id();
    let data = FeedbackUpdate::from(e);
    let sentiment = e.sentiment.label;
    let rooms = std::iter::once(Room::Channel(e.feedback.channel)).chain(e.topic_ids.iter().map(|t| Room::Topic(*t)));
    let frames = rooms
        .filter_map(|room| {
            let msg = ServerMessage::Feedback { id: id.clone(), room: room.name(), data: data.clone() };
            frame(Audience::Feedback { room, sentiment }, &msg)
        })
        .collect();
    LiveEvent { seq, id, frames }
}

/// The event of an alert change: frames for `alerts` and the `user` rooms it reaches.
pub fn alert_event(hub: &Hub, e: &AlertEvent) -> LiveEvent {
    let (seq, id) = hub.next_id();
    let frames = alert_audiences(e)
        .into_iter()
        .filter_map(|audience| {
            let msg = ServerMessage::Alert {
                id: id.clone(),
                room: audience.room_name(),
                event_type: e.change.event_type().to_owned(),
                data: Box::new(e.clone()),
            };
            frame(audience, &msg)
        })
        .collect();
    LiveEvent { seq, id, frames }
}

/// The `dashboard` message for a range and channel.
pub fn dashboard_event(hub: &Hub, range: &str, channel: Option<Channel>, data: serde_json::Value) -> LiveEvent {
    let (seq, id) = hub.next_id();
    let msg = ServerMessage::Dashboard { id: id.clone(), room: Room::Dashboard.name(), data };
    let frames = frame(Audience::Dashboard { range: range.to_owned(), channel }, &msg).into_iter().collect();
    LiveEvent { seq, id, frames }
}

/// Consumes both topics into the hub until shutdown. The group id is unique to this process
/// and no offset is committed: every instance sees every event from the moment it starts.
pub async fn consume(hub: Arc<Hub>, topics: Topics, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    let group = format!("rtcx-query-api-live-{}", Uuid::now_v7());
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &topics.brokers)
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "latest")
        .set("isolation.level", "read_committed")
        .set("session.timeout.ms", "10000")
        .create()?;
    consumer.subscribe(&[&topics.enriched, &topics.alerts])?;
    tracing::info!(enriched = %topics.enriched, alerts = %topics.alerts, %group, "live updates: consuming");
    loop {
        let m = tokio::select! {
            m = consumer.recv() => m,
            _ = shutdown.changed() => break,
        };
        let m = match m {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "live updates: Kafka error");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let payload = m.payload().unwrap_or_default();
        let event = if m.topic() == topics.alerts {
            serde_json::from_slice::<AlertEvent>(payload).map(|e| alert_event(&hub, &e))
        } else {
            serde_json::from_slice::<EnrichedFeedback>(payload).map(|e| feedback_event(&hub, &e))
        };
        match event {
            Ok(ev) => {
                metrics::counter!("rtcx_live_events_total", "topic" => m.topic().to_owned()).increment(1);
                hub.publish(ev);
            }
            Err(e) => {
                metrics::counter!("rtcx_live_malformed_total", "topic" => m.topic().to_owned()).increment(1);
                tracing::warn!(topic = m.topic(), partition = m.partition(), offset = m.offset(), error = %e, "live updates: skipped a malformed message");
            }
        }
    }
    Ok(())
}

/// The overview figures for a `dashboard` subscription, through the answer cache (the same
/// key as `GET /v1/dashboard/overview?range=…&channel=…`).
pub async fn dashboard_figures(
    app: &AppState,
    range: &str,
    channel: Option<Channel>,
) -> Result<serde_json::Value, crate::error::ApiError> {
    let mut raw = format!("range={range}");
    if let Some(c) = channel {
        raw.push_str(&format!("&channel={}", c.as_str()));
    }
    let q = crate::dashboard::DashboardQuery {
        range: crate::range::RangeQuery { range: Some(range.to_owned()), from: None, to: None },
        channel: channel.map(|c| c.as_str().to_owned()),
        interval: None,
    };
    Ok(crate::dashboard::overview_answer(app, Some(raw), Ok(q)).await?.0)
}

/// The figures without the moving window bounds (what "changed" compares).
fn substance(v: &serde_json::Value) -> serde_json::Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("from");
        o.remove("to");
    }
    v
}

/// A periodic task's clock: ticks every `interval` (a late tick delays the next ones) until
/// shutdown.
struct Ticker {
    tick: tokio::time::Interval,
    shutdown: watch::Receiver<bool>,
}

impl Ticker {
    fn new(interval: Duration, shutdown: watch::Receiver<bool>) -> Self {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self { tick, shutdown }
    }

    /// Waits for the next tick; false once shutdown is requested.
    async fn next(&mut self) -> bool {
        tokio::select! {
            _ = self.tick.tick() => true,
            _ = self.shutdown.changed() => false,
        }
    }
}

/// Every `interval`, recomputes the watched dashboard figures and publishes those that
/// changed.
pub async fn dashboards(app: Arc<AppState>, interval: Duration, shutdown: watch::Receiver<bool>) {
    let mut last: HashMap<(String, Option<Channel>), serde_json::Value> = HashMap::new();
    let mut ticker = Ticker::new(interval, shutdown);
    while ticker.next().await {
        let keys = app.live.dashboard_keys();
        last.retain(|k, _| keys.contains(k));
        for (range, channel) in keys {
            match dashboard_figures(&app, &range, channel).await {
                Ok(v) => {
                    let s = substance(&v);
                    if last.get(&(range.clone(), channel)) != Some(&s) {
                        last.insert((range.clone(), channel), s);
                        app.live.publish(dashboard_event(&app.live, &range, channel, v));
                    }
                }
                Err(e) => tracing::warn!(%range, error = %e, "live dashboard: figures unavailable"),
            }
        }
    }
}

/// Every `interval`, ends the connections whose session ended (logout, logout everywhere,
/// deactivation, expiry).
pub async fn session_check(app: Arc<AppState>, interval: Duration, shutdown: watch::Receiver<bool>) {
    let mut ticker = Ticker::new(interval, shutdown);
    while ticker.next().await {
        let sessions: Vec<Uuid> = app.live.sessions().into_iter().collect();
        if sessions.is_empty() {
            continue;
        }
        let active: Result<Vec<Uuid>, _> = sqlx::query_scalar(
            "SELECT DISTINCT family_id FROM sessions WHERE family_id = ANY($1) AND revoked_at IS NULL \
             AND rotated_at IS NULL AND expires_at > now()",
        )
        .bind(&sessions)
        .fetch_all(&app.pg)
        .await;
        match active {
            Ok(active) => {
                let active: HashSet<Uuid> = active.into_iter().collect();
                let ended: HashSet<Uuid> = sessions.into_iter().filter(|s| !active.contains(s)).collect();
                if !ended.is_empty() {
                    let n = app.live.end_sessions(&ended);
                    tracing::info!(connections = n, "live updates: closed the connections of ended sessions");
                }
            }
            Err(e) => tracing::warn!(error = %e, "live updates: session check failed"),
        }
    }
}
