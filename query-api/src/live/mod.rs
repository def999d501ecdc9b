//! Live updates: `GET /v1/ws` (WebSocket) and `GET /v1/events` (Server-Sent Events) deliver
//! newly enriched feedback, alert changes and dashboard figures to the rooms a client joins
//! (docs/live.md).
//!
//! - [`rooms`]: room names, permissions, filters, and which rooms an event reaches;
//! - [`hub`]: this instance's connections and the fan-out, with bounded per-connection queues;
//! - [`source`]: the Kafka broadcast consumer, the dashboard ticker and the session check;
//! - [`ws`] and [`sse`]: the two transports.
//!
//! Instances do not talk to each other: each reads both topics with a consumer group of its
//! own, so a change made through any instance's REST API (written to the outbox, relayed to
//! `rtcx.alerts.v1`) reaches the clients of all of them.

pub mod hub;
pub mod rooms;
pub mod source;
pub mod sse;
pub mod ws;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use hub::{Hub, HubLimits};

use crate::app::AppState;

/// Live-update settings.
#[derive(Debug, Clone, clap::Args)]
pub struct LiveArgs {
    /// Kafka bootstrap servers the live updates read from.
    #[arg(long = "kafka-brokers", env = "RTCX_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub brokers: String,
    /// Topic of the enriched feedback.
    #[arg(long, env = "RTCX_ENRICHED_TOPIC", default_value = rtcx_schemas::topics::FEEDBACK_ENRICHED)]
    pub enriched_topic: String,
    /// Topic of the alert events.
    #[arg(long, env = "RTCX_ALERTS_TOPIC", default_value = rtcx_schemas::topics::ALERTS)]
    pub alerts_topic: String,
    /// Live connections (WebSocket and SSE) this instance accepts.
    #[arg(long, env = "RTCX_LIVE_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub live_max_connections: usize,
    /// Live connections one user may hold on this instance.
    #[arg(long, env = "RTCX_LIVE_MAX_CONNECTIONS_PER_USER", default_value_t = 20)]
    pub live_max_connections_per_user: usize,
    /// Messages queued for a connection; a connection that falls this far behind is dropped
    /// (close code 4008).
    #[arg(long, env = "RTCX_LIVE_SEND_BUFFER", default_value_t = 256)]
    pub live_send_buffer: usize,
    /// Rooms one connection may join.
    #[arg(long, env = "RTCX_LIVE_MAX_SUBSCRIPTIONS", default_value_t = 32)]
    pub live_max_subscriptions: usize,
    /// Events remembered for `Last-Event-ID` resumption of Server-Sent Events.
    #[arg(long, env = "RTCX_LIVE_REPLAY", default_value_t = 4096)]
    pub live_replay: usize,
    /// Seconds between pings (WebSocket ping frames, SSE comments).
    #[arg(long, env = "RTCX_LIVE_PING_SECS", default_value_t = 20)]
    pub live_ping_secs: u64,
    /// Seconds without any frame from a WebSocket client (pongs count) before it is closed
    /// (4009).
    #[arg(long, env = "RTCX_LIVE_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    pub live_idle_timeout_secs: u64,
    /// Seconds a WebSocket client without an `Authorization` header has to send its `auth`
    /// message (else 4001).
    #[arg(long, env = "RTCX_LIVE_AUTH_TIMEOUT_SECS", default_value_t = 10)]
    pub live_auth_timeout_secs: u64,
    /// Seconds one write to a WebSocket client may take before it is dropped as too slow.
    #[arg(long, env = "RTCX_LIVE_WRITE_TIMEOUT_SECS", default_value_t = 10)]
    pub live_write_timeout_secs: u64,
    /// Seconds between recomputations of the watched dashboard figures.
    #[arg(long, env = "RTCX_LIVE_DASHBOARD_INTERVAL_SECS", default_value_t = 5)]
    pub live_dashboard_interval_secs: u64,
    /// Seconds between checks that the connected sessions are still alive (logout,
    /// deactivation close the connections within this time).
    #[arg(long, env = "RTCX_LIVE_SESSION_CHECK_SECS", default_value_t = 5)]
    pub live_session_check_secs: u64,
}

impl Default for LiveArgs {
    fn default() -> Self {
        let limits = HubLimits::default();
        Self {
            brokers: "127.0.0.1:9092".into(),
            enriched_topic: rtcx_schemas::topics::FEEDBACK_ENRICHED.into(),
            alerts_topic: rtcx_schemas::topics::ALERTS.into(),
            live_max_connections: limits.max_connections,
            live_max_connections_per_user: limits.max_connections_per_user,
            live_send_buffer: limits.send_buffer,
            live_max_subscriptions: limits.max_subscriptions,
            live_replay: limits.replay,
            live_ping_secs: 20,
            live_idle_timeout_secs: 60,
            live_auth_timeout_secs: 10,
            live_write_timeout_secs: 10,
            live_dashboard_interval_secs: 5,
            live_session_check_secs: 5,
        }
    }
}

impl LiveArgs {
    /// Refuses settings that cannot work.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("RTCX_LIVE_SEND_BUFFER", self.live_send_buffer as u64),
            ("RTCX_LIVE_MAX_SUBSCRIPTIONS", self.live_max_subscriptions as u64),
            ("RTCX_LIVE_MAX_CONNECTIONS_PER_USER", self.live_max_connections_per_user as u64),
            ("RTCX_LIVE_PING_SECS", self.live_ping_secs),
            ("RTCX_LIVE_AUTH_TIMEOUT_SECS", self.live_auth_timeout_secs),
            ("RTCX_LIVE_WRITE_TIMEOUT_SECS", self.live_write_timeout_secs),
            ("RTCX_LIVE_DASHBOARD_INTERVAL_SECS", self.live_dashboard_interval_secs),
            ("RTCX_LIVE_SESSION_CHECK_SECS", self.live_session_check_secs),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{name} must be at least 1"));
        }
        if self.live_idle_timeout_secs <= self.live_ping_secs {
            return Err("RTCX_LIVE_IDLE_TIMEOUT_SECS must be longer than RTCX_LIVE_PING_SECS".into());
        }
        if self.brokers.trim().is_empty() {
            return Err("RTCX_KAFKA_BROKERS must name at least one broker".into());
        }
        Ok(())
    }

    pub fn limits(&self) -> HubLimits {
        HubLimits {
            max_connections: self.live_max_connections,
            max_connections_per_user: self.live_max_connections_per_user,
            send_buffer: self.live_send_buffer,
            max_subscriptions: self.live_max_subscriptions,
            replay: self.live_replay,
        }
    }

    pub fn timings(&self) -> Timings {
        Timings {
            ping: Duration::from_secs(self.live_ping_secs),
            idle: Duration::from_secs(self.live_idle_timeout_secs),
            auth: Duration::from_secs(self.live_auth_timeout_secs),
            write: Duration::from_secs(self.live_write_timeout_secs),
        }
    }
}

/// The connection timings the transports use.
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    pub ping: Duration,
    pub idle: Duration,
    pub auth: Duration,
    pub write: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        LiveArgs::default().timings()
    }
}

/// Starts the Kafka consumer, the dashboard ticker and the session check; they stop when
/// `shutdown` turns true.
pub fn spawn(app: &Arc<AppState>, args: &LiveArgs, shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let topics = source::Topics {
        brokers: args.brokers.clone(),
        enriched: args.enriched_topic.clone(),
        alerts: args.alerts_topic.clone(),
    };
    let hub = Arc::clone(&app.live);
    let rx = shutdown.clone();
    let consumer = tokio::spawn(async move {
        if let Err(e) = source::consume(hub, topics, rx).await {
            tracing::error!(error = %e, "live updates: the Kafka consumer stopped");
        }
    });
    let dashboards = tokio::spawn(source::dashboards(
        Arc::clone(app),
        Duration::from_secs(args.live_dashboard_interval_secs),
        shutdown.clone(),
    ));
    let sessions = tokio::spawn(source::session_check(
        Arc::clone(app),
        Duration::from_secs(args.live_session_check_secs),
        shutdown,
    ));
    vec![consumer, dashboards, sessions]
}
