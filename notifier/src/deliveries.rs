//! The durable delivery queue (Postgres `notification_deliveries`): what is to be sent to whom,
//! and what became of it.
//!
//! - [`enqueue`] inserts a delivery; `(message_id, destination)` is unique, so reading the same
//!   event twice queues it once.
//! - [`claim`] takes due rows with `FOR UPDATE SKIP LOCKED` (several notifiers never take the
//!   same row) and leases them: the claim counts the attempt and moves `available_at` past
//!   the send timeout, then commits, so the row is not held locked during the HTTP call. A
//!   notifier that dies mid-send leaves its rows to be claimed again when the lease ends
//!   (at-least-once; the receiver deduplicates by `webhook-id`).
//! - [`record`] writes the outcome, fenced by the attempt number: a notifier whose lease ran
//!   out and whose row was claimed again cannot overwrite the newer attempt's outcome.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::retry::RetryPolicy;

/// A delivery to queue.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    /// Idempotency key, the same for every destination of one event.
    pub message_id: String,
    pub webhook_id: Uuid,
    pub event_type: String,
    /// The body of the standard format (`{"type", "timestamp", "data"}`).
    pub payload: serde_json::Value,
    /// When the event happened.
    pub event_at: DateTime<Utc>,
}

/// Queues a delivery; `false` when it was queued before.
pub async fn enqueue<'e>(pg: impl sqlx::PgExecutor<'e>, d: &NewDelivery) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO notification_deliveries (message_id, destination, channel, webhook_id, event_type, payload, event_at)
         VALUES ($1, 'webhook:' || $2::text, 'webhook', $2, $3, $4, $5)
         ON CONFLICT (message_id, destination) DO NOTHING",
    )
    .bind(&d.message_id)
    .bind(d.webhook_id)
    .bind(&d.event_type)
    .bind(&d.payload)
    .bind(d.event_at)
    .execute(pg)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// A claimed webhook delivery with its endpoint as it stands now.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    pub id: i64,
    pub message_id: String,
    pub event_type: String,
    pub payload: serde_json::Value,
    /// This attempt's number (1-based).
    pub attempts: i32,
    pub event_at: DateTime<Utc>,
    pub webhook_id: Uuid,
    pub url: String,
    pub secret: String,
    pub format: String,
    pub active: bool,
}

/// Claims up to `limit` due deliveries for `lease`.
pub async fn claim(pg: &PgPool, limit: i64, lease: Duration) -> Result<Vec<Claimed>, sqlx::Error> {
    sqlx::query_as(
        "WITH due AS (
             SELECT id FROM notification_deliveries
             WHERE status = 'pending' AND available_at <= now()
             ORDER BY available_at, id LIMIT $1 FOR UPDATE SKIP LOCKED
         ), claimed AS (
             UPDATE notification_deliveries d
             SET attempts = d.attempts + 1, last_attempt_at = now(),
                 available_at = now() + make_interval(secs => $2)
             FROM due WHERE d.id = due.id
             RETURNING d.id, d.message_id, d.event_type, d.payload, d.attempts, d.event_at, d.webhook_id
         )
         SELECT c.id, c.message_id, c.event_type, c.payload, c.attempts, c.event_at, c.webhook_id,
                w.url, w.secret, w.format, w.active
         FROM claimed c JOIN webhooks w ON w.id = c.webhook_id
         ORDER BY c.id",
    )
    .bind(limit)
    .bind(lease.as_secs_f64())
    .fetch_all(pg)
    .await
}

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver accepted it (2xx).
    Sent { status: u16 },
    /// A failure worth retrying (timeout, connection error, 408, 429, 5xx).
    Retry { status: Option<u16>, error: String, retry_after: Option<Duration> },
    /// A permanent failure (another 4xx, a refused target): not retried.
    Failed { status: Option<u16>, error: String },
    /// 410 Gone: the endpoint is disabled.
    Gone,
    /// The endpoint was deactivated after the delivery was queued.
    Skipped,
}

impl Outcome {
    /// The metrics label.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Sent { .. } => "sent",
            Outcome::Retry { .. } => "retry",
            Outcome::Failed { .. } => "failed",
            Outcome::Gone => "gone",
            Outcome::Skipped => "skipped",
        }
    }
}

/// The state a delivery is left in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Sent,
    Retrying,
    Failed,
    Dead,
    Skipped,
    /// The lease had run out and another attempt owns the row: nothing written.
    Superseded,
}

/// Records the outcome of attempt `d.attempts`; `unit` ∈ [0, 1) draws the retry jitter.
pub async fn record(
    pg: &PgPool,
    d: &Claimed,
    outcome: &Outcome,
    policy: &RetryPolicy,
    unit: f64,
) -> Result<Recorded, sqlx::Error> {
    let attempt = u32::try_from(d.attempts).unwrap_or(u32::MAX);
    let (state, status, response, error, delay): (Recorded, &str, Option<u16>, Option<&str>, Duration) = match outcome {
        Outcome::Sent { status } => (Recorded::Sent, "sent", Some(*status), None, Duration::ZERO),
        Outcome::Retry { status, error, retry_after } => match policy.delay_after(attempt, unit, *retry_after) {
            Some(delay) => (Recorded::Retrying, "pending", *status, Some(error.as_str()), delay),
            None => (Recorded::Dead, "dead", *status, Some(error.as_str()), Duration::ZERO),
        },
        Outcome::Failed { status, error } => {
            (Recorded::Failed, "failed", *status, Some(error.as_str()), Duration::ZERO)
        }
        Outcome::Gone => (Recorded::Failed, "failed", Some(410), Some("410 Gone: webhook disabled"), Duration::ZERO),
        Outcome::Skipped => (Recorded::Skipped, "skipped", None, Some("webhook inactive"), Duration::ZERO),
    };
    let mut tx = pg.begin().await?;
    let updated = sqlx::query(
        "UPDATE notification_deliveries
         SET status = $3, last_response = $4, last_error = $5,
             available_at = now() + make_interval(secs => $6),
             sent_at = CASE WHEN $3 = 'sent' THEN now() END
         WHERE id = $1 AND attempts = $2 AND status = 'pending'",
    )
    .bind(d.id)
    .bind(d.attempts)
    .bind(status)
    .bind(response.map(i32::from))
    .bind(error)
    .bind(delay.as_secs_f64())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if updated == 0 {
        return Ok(Recorded::Superseded);
    }
    if *outcome == Outcome::Gone {
        sqlx::query(
            "UPDATE webhooks SET active = false, updated_at = now(),
                    disabled_reason = 'the endpoint answered 410 Gone at ' || to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
             WHERE id = $1 AND active",
        )
        .bind(d.webhook_id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(state)
}

/// Pending deliveries and the age of the oldest, in seconds.
pub async fn depth(pg: &PgPool) -> Result<(i64, f64), sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at))::float8, 0)
         FROM notification_deliveries WHERE status = 'pending'",
    )
    .fetch_one(pg)
    .await
}
