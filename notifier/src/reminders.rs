//! Reminders for alerts left open, the Alertmanager `repeat_interval`: an alert still `OPEN`
//! (nobody took it or moved it on) `--repeat-interval-secs` after it was raised is mailed
//! again ("Still open"), and again every interval after that, to the people its new-alert mail
//! went to by their current preferences (and its assignee). The message id
//! `msg_remind_<alert id>_<n>` (n: intervals elapsed) makes each reminder one delivery per
//! address however many notifiers run; a notifier that was down sends only the current one.
//! Backfilled alerts and those silenced when raised are never reminded of.

use std::sync::Arc;
use std::time::Duration;

use rtcx_schemas::{AlertChange, AlertEvent, AlertStatus, WorkflowChange};
use sqlx::PgPool;
use tokio::sync::{Notify, watch};
use uuid::Uuid;

use crate::router::{EmailRouting, route_reminder};
use crate::schedule::{self, Schedule};

/// Open alerts looked at per round (oldest first).
const BATCH: i64 = 500;

/// One round: queues the reminders due now; returns how many deliveries were queued.
pub async fn round(pg: &PgPool, routing: &EmailRouting, interval: Duration) -> Result<usize, sqlx::Error> {
    let rows: Vec<(serde_json::Value, i64)> = sqlx::query_as(
        "SELECT to_jsonb(a) || jsonb_build_object('observed', coalesce(a.observed, 0), 'baseline', coalesce(a.baseline, 0)),
                floor(extract(epoch FROM now() - a.created_at) / $1)::bigint
         FROM alerts a
         WHERE a.status = 'OPEN' AND NOT a.backfill AND NOT a.silenced
           AND a.created_at <= now() - make_interval(secs => $1)
         ORDER BY a.created_at LIMIT $2",
    )
    .bind(interval.as_secs_f64())
    .bind(BATCH)
    .fetch_all(pg)
    .await?;
    let mut queued = 0;
    for (row, n) in rows {
        let assignee = row["assignee_id"].as_str().and_then(|s| s.parse::<Uuid>().ok());
        let mut event = match serde_json::from_value::<AlertEvent>(row) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "reminders: an alert row does not read as an alert event; skipped");
                continue;
            }
        };
        // Routed like a new alert: to whoever its severity and type reach, and its assignee.
        event.change = AlertChange::Raised;
        event.workflow =
            Some(WorkflowChange { by: Uuid::nil(), status: AlertStatus::Open, assignee_id: assignee, note: None });
        let id = format!("msg_remind_{}_{n}", event.id);
        queued += route_reminder(pg, &id, &event, routing).await?.queued;
    }
    Ok(queued)
}

/// Queues due reminders every `every` until shutdown; `queued` wakes the dispatcher.
pub async fn run(
    pg: PgPool,
    routing: EmailRouting,
    interval: Duration,
    every: Duration,
    queued: Arc<Notify>,
    shutdown: watch::Receiver<bool>,
) {
    let s = Schedule { name: "reminders", metric: "rtcx_notifier_reminders_total", every, queued, shutdown };
    schedule::run(s, || round(&pg, &routing, interval)).await;
}
