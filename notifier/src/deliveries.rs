//! The durable delivery queue (Postgres `notification_deliveries`): what is to be sent to whom
//! (a webhook endpoint or an e-mail address), and what became of it.
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
//! - [`fold_group`] merges the waiting new-alert mails of one rule to one address into the
//!   first of them when it is sent (grouping, the Alertmanager way).

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::retry::RetryPolicy;

/// Where a delivery goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Webhook(Uuid),
    /// An e-mail address; the payload is the rendered mail (`email::render::Content`).
    Email(String),
}

/// A delivery to queue.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    /// Idempotency key, the same for every destination of one event.
    pub message_id: String,
    pub target: Target,
    pub event_type: String,
    /// Webhooks: the body of the standard format (`{"type", "timestamp", "data"}`); e-mail:
    /// the rendered mail.
    pub payload: serde_json::Value,
    /// When the event happened.
    pub event_at: DateTime<Utc>,
    /// The payload holds a secret (a password-reset link): it is erased once the delivery
    /// is sent or given up.
    pub sensitive: bool,
    /// E-mail of new alerts: deliveries to one address with the same key are sent as one mail
    /// ([`fold_group`]).
    pub group_key: Option<String>,
    /// How long the delivery waits before its first attempt (the group wait).
    pub delay: Duration,
    /// Bulk mail (reminders, digests): claimed after every other due delivery.
    pub bulk: bool,
}

/// Queues a delivery; `false` when it was queued before.
pub async fn enqueue<'e>(pg: impl sqlx::PgExecutor<'e>, d: &NewDelivery) -> Result<bool, sqlx::Error> {
    let (channel, destination, webhook_id, recipient) = match &d.target {
        Target::Webhook(id) => ("webhook", format!("webhook:{id}"), Some(*id), None),
        Target::Email(to) => ("email", format!("email:{}", to.to_lowercase()), None, Some(to.as_str())),
    };
    let inserted = sqlx::query(
        "INSERT INTO notification_deliveries
             (message_id, destination, channel, webhook_id, recipient, event_type, payload, event_at, sensitive,
              group_key, available_at, bulk)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now() + make_interval(secs => $11), $12)
         ON CONFLICT (message_id, destination) DO NOTHING",
    )
    .bind(&d.message_id)
    .bind(destination)
    .bind(channel)
    .bind(webhook_id)
    .bind(recipient)
    .bind(&d.event_type)
    .bind(&d.payload)
    .bind(d.event_at)
    .bind(d.sensitive)
    .bind(&d.group_key)
    .bind(d.delay.as_secs_f64())
    .bind(d.bulk)
    .execute(pg)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// A claimed delivery; a webhook's with its endpoint as it stands now.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    pub id: i64,
    pub message_id: String,
    /// `webhook` or `email`.
    pub channel: String,
    pub event_type: String,
    pub payload: serde_json::Value,
    /// This attempt's number (1-based).
    pub attempts: i32,
    pub event_at: DateTime<Utc>,
    pub recipient: Option<String>,
    pub webhook_id: Option<Uuid>,
    pub url: Option<String>,
    pub secret: Option<String>,
    pub format: Option<String>,
    pub active: Option<bool>,
    pub group_key: Option<String>,
}

/// Claims up to `limit` due deliveries of `channels` for `lease`: bulk mail last, then the
/// longest due first.
pub async fn claim(pg: &PgPool, channels: &[&str], limit: i64, lease: Duration) -> Result<Vec<Claimed>, sqlx::Error> {
    sqlx::query_as(
        "WITH due AS (
             SELECT id FROM notification_deliveries
             WHERE status = 'pending' AND available_at <= now() AND channel = ANY($3)
             ORDER BY bulk, available_at, id LIMIT $1 FOR UPDATE SKIP LOCKED
         ), claimed AS (
             UPDATE notification_deliveries d
             SET attempts = d.attempts + 1, last_attempt_at = now(),
                 available_at = now() + make_interval(secs => $2)
             FROM due WHERE d.id = due.id
             RETURNING d.id, d.message_id, d.channel, d.event_type, d.payload, d.attempts, d.event_at,
                       d.recipient, d.webhook_id, d.group_key
         )
         SELECT c.id, c.message_id, c.channel, c.event_type, c.payload, c.attempts, c.event_at, c.recipient,
                c.webhook_id, w.url, w.secret, w.format, w.active, c.group_key
         FROM claimed c LEFT JOIN webhooks w ON w.id = c.webhook_id
         ORDER BY c.id",
    )
    .bind(limit)
    .bind(lease.as_secs_f64())
    .bind(channels.iter().map(|c| c.to_string()).collect::<Vec<_>>())
    .fetch_all(pg)
    .await
}

/// Folds the pending deliveries of `d`'s group to the same address into `d` — those never
/// attempted, and `own`: others of the group this notifier claimed in the same round — their
/// alerts join `d`'s (the payload's `group` list), the mail is rendered again by `render` and
/// stored on `d` (fenced by its attempt), and they are marked `grouped`. Returns the new
/// payload and how many were folded, or `None` when there was nothing to fold (or `d` is no
/// longer ours).
pub async fn fold_group<F>(
    pg: &PgPool,
    d: &Claimed,
    own: &[i64],
    render: F,
) -> Result<Option<(serde_json::Value, usize)>, sqlx::Error>
where
    F: FnOnce(&[serde_json::Value]) -> Option<serde_json::Value>,
{
    let Some(key) = &d.group_key else { return Ok(None) };
    let mut tx = pg.begin().await?;
    let members: Vec<(i64, serde_json::Value)> = sqlx::query_as(
        "SELECT id, payload FROM notification_deliveries
         WHERE status = 'pending' AND (attempts = 0 OR id = ANY($3)) AND group_key = $2 AND id <> $1
           AND destination = (SELECT destination FROM notification_deliveries WHERE id = $1)
         ORDER BY id FOR UPDATE SKIP LOCKED",
    )
    .bind(d.id)
    .bind(key)
    .bind(own)
    .fetch_all(&mut *tx)
    .await?;
    if members.is_empty() {
        return Ok(None);
    }
    let entries: Vec<serde_json::Value> = std::iter::once(&d.payload)
        .chain(members.iter().map(|(_, p)| p))
        .flat_map(|p| p["group"].as_array().cloned().unwrap_or_default())
        .collect();
    let Some(payload) = render(&entries) else { return Ok(None) };
    let mine = sqlx::query(
        "UPDATE notification_deliveries SET payload = $3 WHERE id = $1 AND attempts = $2 AND status = 'pending'",
    )
    .bind(d.id)
    .bind(d.attempts)
    .bind(&payload)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if mine == 0 {
        return Ok(None);
    }
    let ids: Vec<i64> = members.iter().map(|(id, _)| *id).collect();
    sqlx::query(
        "UPDATE notification_deliveries SET status = 'grouped', grouped_into = $1, last_attempt_at = now()
         WHERE id = ANY($2)",
    )
    .bind(d.id)
    .bind(&ids)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some((payload, ids.len())))
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

impl Recorded {
    /// The `status` column of the state (`Superseded` writes nothing).
    fn status(self) -> &'static str {
        match self {
            Recorded::Sent => "sent",
            Recorded::Retrying | Recorded::Superseded => "pending",
            Recorded::Failed => "failed",
            Recorded::Dead => "dead",
            Recorded::Skipped => "skipped",
        }
    }
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
    let (state, response, error, delay): (Recorded, Option<u16>, Option<&str>, Duration) = match outcome {
        Outcome::Sent { status } => (Recorded::Sent, Some(*status), None, Duration::ZERO),
        Outcome::Retry { status, error, retry_after } => match policy.delay_after(attempt, unit, *retry_after) {
            Some(delay) => (Recorded::Retrying, *status, Some(error.as_str()), delay),
            None => (Recorded::Dead, *status, Some(error.as_str()), Duration::ZERO),
        },
        Outcome::Failed { status, error } => (Recorded::Failed, *status, Some(error.as_str()), Duration::ZERO),
        Outcome::Gone => (Recorded::Failed, Some(410), Some("410 Gone: webhook disabled"), Duration::ZERO),
        Outcome::Skipped => (Recorded::Skipped, None, Some("webhook inactive"), Duration::ZERO),
    };
    let mut tx = pg.begin().await?;
    let updated = sqlx::query(
        "UPDATE notification_deliveries
         SET status = $3, last_response = $4, last_error = $5,
             available_at = now() + make_interval(secs => $6),
             sent_at = CASE WHEN $3 = 'sent' THEN now() END,
             payload = CASE WHEN sensitive AND $3 <> 'pending' THEN '{\"erased\": true}'::jsonb ELSE payload END
         WHERE id = $1 AND attempts = $2 AND status = 'pending'",
    )
    .bind(d.id)
    .bind(d.attempts)
    .bind(state.status())
    .bind(response.map(i32::from))
    .bind(error)
    .bind(delay.as_secs_f64())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if updated == 0 {
        return Ok(Recorded::Superseded);
    }
    if let (Outcome::Gone, Some(webhook_id)) = (outcome, d.webhook_id) {
        sqlx::query(
            "UPDATE webhooks SET active = false, updated_at = now(),
                    disabled_reason = 'the endpoint answered 410 Gone at ' || to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
             WHERE id = $1 AND active",
        )
        .bind(webhook_id)
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
