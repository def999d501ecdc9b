//! Digests: a summary mail per user, daily (about the day before) or weekly (on Mondays, about
//! the week before, Monday to Sunday), sent at the user's chosen hour of their own day
//! (`notification_preferences.digest`, `digest_hour`, `time_zone`; docs/notifications.md,
//! "Digests").
//!
//! Every `--digest-check-secs` a notifier looks for users whose digest is due: the hour has
//! come in their time zone and no digest of the current period is queued for them. Their
//! periods' figures are read once per period and time zone ([`figures`]), rendered per reader
//! and queued like any mail, with the message id `msg_digest_<frequency>_<first day>` (made by
//! the query that finds who is due, which also checks it against the queue): unique
//! with the address, so several notifiers queue one digest per user and period. A notifier that
//! was down when a digest was due sends it when it comes back, within the same period; a period
//! missed entirely is not sent late.

pub mod figures;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use rtcx_schemas::notifications::DigestFrequency;
use sqlx::PgPool;
use tokio::sync::{Notify, watch};
use uuid::Uuid;

use crate::deliveries::{NewDelivery, Target, enqueue};
use crate::email::render;
use crate::schedule::{self, Schedule};
use figures::{Figures, FiguresError, Period};

/// Readers looked at per query.
const BATCH: i64 = 200;

/// A reader whose digest is due.
#[derive(Debug, sqlx::FromRow)]
struct Due {
    id: Uuid,
    /// `msg_digest_<frequency>_<first day of the period>`, the same for every reader of the
    /// period: computed once, in the query that also checks it was not queued before.
    message_id: String,
    email: String,
    display_name: String,
    digest: String,
    time_zone: String,
    first_day: NaiveDate,
    period_start: DateTime<Utc>,
    period_end: DateTime<Utc>,
    previous_start: DateTime<Utc>,
    trend_days: Vec<NaiveDate>,
    trend_starts: Vec<DateTime<Utc>>,
}

/// Readers whose digest is due at `now`: active, not opted out, the hour come in their time
/// zone (a name Postgres does not know is left out rather than failing everyone's round), and
/// nothing queued for them for the current period.
async fn due(pg: &PgPool, now: DateTime<Utc>, after: Option<Uuid>) -> Result<Vec<Due>, sqlx::Error> {
    sqlx::query_as(
        "WITH readers AS MATERIALIZED (
             SELECT u.id, u.email, u.display_name, p.digest, p.time_zone, p.digest_hour
             FROM users u JOIN notification_preferences p ON p.user_id = u.id
             WHERE u.active AND NOT p.email_opt_out AND p.digest <> 'none' AND u.id > $3
               AND p.time_zone IN (SELECT name FROM pg_timezone_names)
         ), local AS MATERIALIZED (
             SELECT r.*, $1::timestamptz AT TIME ZONE r.time_zone AS local_now,
                    CASE r.digest WHEN 'daily' THEN interval '1 day' ELSE interval '7 days' END AS span,
                    date_trunc(CASE r.digest WHEN 'daily' THEN 'day' ELSE 'week' END,
                               $1::timestamptz AT TIME ZONE r.time_zone) AS local_end
             FROM readers r
         ), due AS MATERIALIZED (
             SELECT l.*, 'msg_digest_' || l.digest || '_' || to_char(l.local_end - l.span, 'YYYY-MM-DD') AS message_id
             FROM local l
         )
         SELECT l.id, l.message_id, l.email, l.display_name, l.digest, l.time_zone,
                (l.local_end - l.span)::date AS first_day,
                (l.local_end - l.span) AT TIME ZONE l.time_zone AS period_start,
                l.local_end AT TIME ZONE l.time_zone AS period_end,
                (l.local_end - 2 * l.span) AT TIME ZONE l.time_zone AS previous_start,
                ARRAY(SELECT (l.local_end - make_interval(days => k))::date FROM generate_series(7, 1, -1) k) AS trend_days,
                ARRAY(SELECT (l.local_end - make_interval(days => k)) AT TIME ZONE l.time_zone
                      FROM generate_series(7, 1, -1) k) AS trend_starts
         FROM due l
         WHERE l.local_now >= l.local_end + make_interval(hours => l.digest_hour)
           AND NOT EXISTS (
               SELECT 1 FROM notification_deliveries n
               WHERE n.message_id = l.message_id AND n.destination = 'email:' || lower(l.email))
         ORDER BY l.id LIMIT $2",
    )
    .bind(now)
    .bind(BATCH)
    .bind(after.unwrap_or_else(Uuid::nil))
    .fetch_all(pg)
    .await
}

/// Errors of a round.
#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error(transparent)]
    Figures(#[from] FiguresError),
    #[error("Postgres: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error(transparent)]
    Render(#[from] render::RenderError),
}

impl Due {
    fn period(&self) -> Option<Period> {
        Some(Period {
            frequency: DigestFrequency::from_wire(&self.digest)?,
            time_zone: self.time_zone.clone(),
            first_day: self.first_day,
            start: self.period_start,
            end: self.period_end,
            previous_start: self.previous_start,
            days: self.trend_days.iter().copied().zip(self.trend_starts.iter().copied()).collect(),
        })
    }
}

/// One round at `now`: queues every digest due; returns how many were queued.
pub async fn round(
    pg: &PgPool,
    ch: &clickhouse::Client,
    console_url: &str,
    now: DateTime<Utc>,
) -> Result<usize, DigestError> {
    let mut figures: HashMap<Period, Arc<Figures>> = HashMap::new();
    let mut queued = 0;
    let mut after = None;
    loop {
        let readers = due(pg, now, after).await?;
        let Some(last) = readers.last() else { break };
        after = Some(last.id);
        let full = readers.len() as i64 == BATCH;
        for reader in readers {
            let Some(period) = reader.period() else { continue };
            let f = match figures.get(&period) {
                Some(f) => f.clone(),
                None => {
                    let f = Arc::new(figures::read(ch, pg, &period, now).await?);
                    figures.insert(period.clone(), f.clone());
                    f
                }
            };
            let content = render::digest(&f, &reader.display_name, console_url)?;
            let d = NewDelivery {
                message_id: reader.message_id,
                target: Target::Email(reader.email),
                event_type: format!("digest.{}", period.frequency.as_str()),
                payload: serde_json::to_value(content).map_err(|e| sqlx::Error::Encode(Box::new(e)))?,
                event_at: period.end,
                sensitive: false,
                group_key: None,
                delay: Duration::ZERO,
                bulk: true,
            };
            queued += usize::from(enqueue(pg, &d).await?);
        }
        if !full {
            break;
        }
    }
    Ok(queued)
}

/// Queues due digests every `every` until shutdown; `queued` wakes the dispatcher.
pub async fn run(
    pg: PgPool,
    ch: clickhouse::Client,
    console_url: String,
    every: Duration,
    queued: Arc<Notify>,
    shutdown: watch::Receiver<bool>,
) {
    let s = Schedule { name: "digests", metric: "rtcx_notifier_digests_total", every, queued, shutdown };
    schedule::run(s, || round(&pg, &ch, &console_url, Utc::now())).await;
}
