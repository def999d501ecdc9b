//! What a digest says, read from the ClickHouse rollups (the same tables as the dashboards)
//! and from the alerts in Postgres: volume and sentiment of the period against the one
//! before, the sentiment of each of the last seven days, the busiest topics, the dominant
//! emotions, and the alerts raised in the period and still open.
//!
//! The rollups count by UTC hour, so every boundary is taken at the start of its UTC hour: in a
//! time zone whose offset is not a whole number of hours (Asia/Kolkata, +05:30) a "day" runs
//! from 23:30 to 23:30 local time.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rtcx_schemas::notifications::DigestFrequency;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

/// Topics and open alerts listed by name.
pub const LISTED: usize = 5;

/// The period a digest covers, in the reader's time zone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Period {
    pub frequency: DigestFrequency,
    pub time_zone: String,
    /// The local date of the period's first day.
    pub first_day: NaiveDate,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The start of the period before (as long as this one).
    pub previous_start: DateTime<Utc>,
    /// The local dates and starts of the last seven days up to `end`.
    pub days: Vec<(NaiveDate, DateTime<Utc>)>,
}

/// Counts of a span of time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Totals {
    pub feedback: u64,
    pub negative: u64,
    pub neutral: u64,
    pub positive: u64,
    pub score_sum: f64,
    pub nps_answers: u64,
    pub promoters: u64,
    pub detractors: u64,
}

impl Totals {
    fn add(&mut self, r: &HourRow) {
        self.feedback += r.feedback;
        match r.sentiment_label.as_str() {
            "negative" => self.negative += r.feedback,
            "neutral" => self.neutral += r.feedback,
            "positive" => self.positive += r.feedback,
            _ => {}
        }
        self.score_sum += r.score_sum;
        self.nps_answers += r.nps_answers;
        self.promoters += r.promoters;
        self.detractors += r.detractors;
    }

    /// Share of negative feedback, 0 when there was none.
    pub fn negative_share(&self) -> f64 {
        ratio(self.negative, self.feedback)
    }

    /// Mean sentiment score in [-1, 1], `None` without feedback.
    pub fn mean_score(&self) -> Option<f64> {
        (self.feedback > 0).then(|| self.score_sum / self.feedback as f64)
    }

    /// Net promoter score (−100..100), `None` without answers.
    pub fn nps(&self) -> Option<f64> {
        (self.nps_answers > 0)
            .then(|| 100.0 * (self.promoters as f64 - self.detractors as f64) / self.nps_answers as f64)
    }
}

pub(crate) fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

/// One local day of the trend.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Day {
    pub day: NaiveDate,
    pub totals: Totals,
}

/// A topic of the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Topic {
    pub id: Uuid,
    /// The catalogue name (the id when the topic was deleted since).
    pub name: String,
    pub feedback: u64,
    pub negative: u64,
    /// Its feedback in the period before.
    pub previous: u64,
}

/// An alert still open.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct OpenAlert {
    pub id: Uuid,
    pub title: String,
    pub severity: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
}

/// Alerts of the digest.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Alerts {
    /// Raised in the period (backfilled ones left out).
    pub raised: i64,
    /// OPEN or IN_PROGRESS now, by severity, most severe first (severities with none left out).
    pub open_by_severity: Vec<(String, i64)>,
    /// The most severe of them, newest first within a severity.
    pub open: Vec<OpenAlert>,
}

impl Alerts {
    pub fn open_total(&self) -> i64 {
        self.open_by_severity.iter().map(|(_, n)| n).sum()
    }
}

/// Everything a digest says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    pub period: Period,
    pub current: Totals,
    pub previous: Totals,
    pub days: Vec<Day>,
    pub topics: Vec<Topic>,
    /// Feedback by dominant emotion in the period, most frequent first.
    pub emotions: Vec<(String, u64)>,
    pub alerts: Alerts,
}

/// Errors reading the figures.
#[derive(Debug, thiserror::Error)]
pub enum FiguresError {
    #[error("ClickHouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    #[error("Postgres: {0}")]
    Postgres(#[from] sqlx::Error),
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct HourRow {
    hour: u32,
    sentiment_label: String,
    feedback: u64,
    score_sum: f64,
    nps_answers: u64,
    promoters: u64,
    detractors: u64,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct TopicRow {
    #[serde(with = "clickhouse::serde::uuid")]
    topic_id: Uuid,
    feedback: u64,
    negative: u64,
    previous: u64,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct EmotionRow {
    emotion: String,
    feedback: u64,
}

/// The start of the UTC hour holding `t` (the rollups' granularity).
pub fn hour_floor(t: DateTime<Utc>) -> DateTime<Utc> {
    let s = t.timestamp();
    Utc.timestamp_opt(s - s.rem_euclid(3600), 0).single().unwrap_or(t)
}

/// Reads the figures of `period`; open alerts as of `now`.
pub async fn read(
    ch: &clickhouse::Client,
    pg: &PgPool,
    period: &Period,
    now: DateTime<Utc>,
) -> Result<Figures, FiguresError> {
    let (start, end, previous_start) = (
        hour_floor(period.start).timestamp(),
        hour_floor(period.end).timestamp(),
        hour_floor(period.previous_start).timestamp(),
    );
    let day_starts: Vec<i64> = period.days.iter().map(|(_, s)| hour_floor(*s).timestamp()).collect();
    let from = day_starts.iter().copied().chain([previous_start]).min().unwrap_or(previous_start);
    let hours: Vec<HourRow> = ch
        .query(
            "SELECT toUInt32(toUnixTimestamp(hour)) AS hour, sentiment_label, sum(feedback_count) AS feedback, \
             sum(sentiment_score_sum) AS score_sum, sum(nps_count) AS nps_answers, sum(nps_promoters) AS promoters, \
             sum(nps_detractors) AS detractors \
             FROM feedback_hourly WHERE hour >= fromUnixTimestamp(?) AND hour < fromUnixTimestamp(?) \
             GROUP BY hour, sentiment_label",
        )
        .bind(from)
        .bind(end)
        .fetch_all()
        .await?;
    let (mut current, mut previous) = (Totals::default(), Totals::default());
    let mut days: Vec<Day> = period.days.iter().map(|(day, _)| Day { day: *day, totals: Totals::default() }).collect();
    for r in &hours {
        let h = i64::from(r.hour);
        if (start..end).contains(&h) {
            current.add(r);
        } else if (previous_start..start).contains(&h) {
            previous.add(r);
        }
        // The last day whose start is at or before the hour (the days are in order).
        if let Some(i) = day_starts.iter().rposition(|s| *s <= h) {
            days[i].totals.add(r);
        }
    }
    let topics: Vec<TopicRow> = ch
        .query(
            "SELECT topic_id, toUInt64(sumIf(feedback_count, hour >= fromUnixTimestamp(?))) AS feedback, \
             toUInt64(sumIf(feedback_count, hour >= fromUnixTimestamp(?) AND sentiment_label = 'negative')) AS negative, \
             toUInt64(sumIf(feedback_count, hour < fromUnixTimestamp(?))) AS previous \
             FROM feedback_topic_hourly WHERE hour >= fromUnixTimestamp(?) AND hour < fromUnixTimestamp(?) \
             GROUP BY topic_id HAVING feedback > 0 ORDER BY feedback DESC, topic_id LIMIT ?",
        )
        .bind(start)
        .bind(start)
        .bind(start)
        .bind(previous_start)
        .bind(end)
        .bind(LISTED as u64)
        .fetch_all()
        .await?;
    let emotions: Vec<EmotionRow> = ch
        .query(
            "SELECT dominant_emotion AS emotion, sum(feedback_count) AS feedback FROM feedback_emotion_hourly \
             WHERE hour >= fromUnixTimestamp(?) AND hour < fromUnixTimestamp(?) \
             GROUP BY emotion HAVING feedback > 0 ORDER BY feedback DESC, emotion",
        )
        .bind(start)
        .bind(end)
        .fetch_all()
        .await?;
    let ids: Vec<Uuid> = topics.iter().map(|t| t.topic_id).collect();
    let names: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT id, name FROM topics WHERE id = ANY($1)").bind(&ids).fetch_all(pg).await?;
    let topics = topics
        .into_iter()
        .map(|t| Topic {
            id: t.topic_id,
            name: names
                .iter()
                .find(|(id, _)| *id == t.topic_id)
                .map_or_else(|| t.topic_id.to_string(), |(_, n)| n.clone()),
            feedback: t.feedback,
            negative: t.negative,
            previous: t.previous,
        })
        .collect();
    Ok(Figures {
        period: period.clone(),
        current,
        previous,
        days,
        topics,
        emotions: emotions.into_iter().map(|e| (e.emotion, e.feedback)).collect(),
        alerts: alerts(pg, period, now).await?,
    })
}

/// Most severe first.
const SEVERITY_RANK: &str = "array_position(ARRAY['CRITICAL', 'HIGH', 'MEDIUM', 'LOW'], severity)";

async fn alerts(pg: &PgPool, period: &Period, now: DateTime<Utc>) -> Result<Alerts, sqlx::Error> {
    let raised: i64 =
        sqlx::query_scalar("SELECT count(*) FROM alerts WHERE created_at >= $1 AND created_at < $2 AND NOT backfill")
            .bind(period.start)
            .bind(period.end)
            .fetch_one(pg)
            .await?;
    let open_by_severity: Vec<(String, i64)> = sqlx::query_as(&format!(
        "SELECT severity, count(*) FROM alerts WHERE status IN ('OPEN', 'IN_PROGRESS') AND created_at < $1 \
         GROUP BY severity ORDER BY {SEVERITY_RANK}"
    ))
    .bind(now)
    .fetch_all(pg)
    .await?;
    let open: Vec<OpenAlert> = sqlx::query_as(&format!(
        "SELECT id, title, severity, status, created_at FROM alerts \
         WHERE status IN ('OPEN', 'IN_PROGRESS') AND created_at < $1 \
         ORDER BY {SEVERITY_RANK}, created_at DESC, id LIMIT $2"
    ))
    .bind(now)
    .bind(LISTED as i64)
    .fetch_all(pg)
    .await?;
    Ok(Alerts { raised, open_by_severity, open })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_floor_to_the_utc_hour() {
        let t = Utc.with_ymd_and_hms(2026, 3, 4, 18, 30, 59).single().expect("time");
        assert_eq!(hour_floor(t), Utc.with_ymd_and_hms(2026, 3, 4, 18, 0, 0).single().expect("time"));
        assert_eq!(hour_floor(hour_floor(t)), hour_floor(t));
    }

    #[test]
    fn totals_derive_shares_scores_and_nps() {
        let mut t = Totals::default();
        assert_eq!((t.negative_share(), t.mean_score(), t.nps()), (0.0, None, None));
        t.add(&HourRow {
            hour: 0,
            sentiment_label: "negative".into(),
            feedback: 3,
            score_sum: -2.1,
            nps_answers: 2,
            promoters: 0,
            detractors: 2,
        });
        t.add(&HourRow {
            hour: 0,
            sentiment_label: "positive".into(),
            feedback: 1,
            score_sum: 0.5,
            nps_answers: 2,
            promoters: 2,
            detractors: 0,
        });
        assert_eq!((t.feedback, t.negative, t.positive), (4, 3, 1));
        assert!((t.negative_share() - 0.75).abs() < 1e-9);
        assert!((t.mean_score().expect("score") + 0.4).abs() < 1e-9);
        assert_eq!(t.nps(), Some(0.0));
    }
}
