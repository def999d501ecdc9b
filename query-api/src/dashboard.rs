//! `/v1/dashboard/*`: dashboard analytics read from the ClickHouse rollups (never the raw
//! table), for a preset or explicit range and an optional channel. Rollups are hourly, so a
//! range is resolved to whole hours (its first hour included).

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::auth::{AuthUser, Permission};
use crate::error::ApiError;
use crate::range::{RangeQuery, TimeRange};
use crate::topics::clickhouse_error;

#[derive(Debug, Default, Deserialize)]
pub struct DashboardQuery {
    #[serde(flatten)]
    pub range: RangeQuery,
    pub channel: Option<String>,
    /// Trend bucket: hour, day (default) or week.
    pub interval: Option<String>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize, clickhouse::Row)]
struct Totals {
    n: u64,
    negative: u64,
    neutral: u64,
    positive: u64,
    score: f64,
    nps_count: u64,
    promoters: u64,
    detractors: u64,
    csat_count: u64,
    satisfied: u64,
}

const TOTALS: &str = "SELECT sum(feedback_count) AS n, sumIf(feedback_count, sentiment_label = 'negative') AS negative, \
     sumIf(feedback_count, sentiment_label = 'neutral') AS neutral, sumIf(feedback_count, sentiment_label = 'positive') AS positive, \
     sum(sentiment_score_sum) AS score, sum(nps_count) AS nps_count, sum(nps_promoters) AS promoters, \
     sum(nps_detractors) AS detractors, sum(csat_count) AS csat_count, sum(csat_satisfied) AS satisfied \
     FROM feedback_hourly WHERE hour >= toStartOfHour(fromUnixTimestamp(?)) AND hour < fromUnixTimestamp(?) \
     AND (? = '' OR channel = ?)";

/// Headline figures of a period.
#[derive(Debug, Serialize)]
pub struct Figures {
    pub volume: u64,
    pub average_sentiment: Option<f64>,
    /// Net Promoter Score (−100..100) over the answers in the period.
    pub nps: Option<f64>,
    /// Share of CSAT answers 4–5, in percent.
    pub csat: Option<f64>,
}

impl From<Totals> for Figures {
    fn from(t: Totals) -> Self {
        let ratio = |a: f64, b: u64| (b > 0).then(|| a / b as f64);
        Figures {
            volume: t.n,
            average_sentiment: ratio(t.score, t.n),
            nps: ratio(100.0 * (t.promoters as f64 - t.detractors as f64), t.nps_count),
            csat: ratio(100.0 * t.satisfied as f64, t.csat_count),
        }
    }
}

/// `GET /v1/dashboard/overview`.
#[derive(Debug, Serialize)]
pub struct Overview {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub channel: Option<String>,
    pub current: Figures,
    pub previous: Figures,
    /// Feedback counts by sentiment label in the current period.
    pub sentiment: std::collections::BTreeMap<&'static str, u64>,
    /// Alerts currently open or in progress.
    pub open_alerts: i64,
    /// Current minus previous (volume in percent of the previous volume).
    pub volume_change_pct: Option<f64>,
    pub average_sentiment_change: Option<f64>,
    pub nps_change: Option<f64>,
    pub csat_change: Option<f64>,
}

fn channel_of(q: &DashboardQuery) -> Result<String, ApiError> {
    let c = q.channel.clone().unwrap_or_default();
    let ok =
        c.is_empty() || ["web", "mobile_app", "email", "chat", "social", "survey", "call_center"].contains(&c.as_str());
    if ok { Ok(c) } else { Err(ApiError::invalid("channel", "unknown channel")) }
}

async fn totals(app: &AppState, r: TimeRange, channel: &str) -> Result<Totals, ApiError> {
    app.ch
        .query(TOTALS)
        .bind(r.from.timestamp())
        .bind(r.to.timestamp())
        .bind(channel)
        .bind(channel)
        .fetch_one::<Totals>()
        .await
        .map_err(|e| clickhouse_error(&e))
}

/// `GET /v1/dashboard/overview?range=7d&channel=email`.
pub async fn overview(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    query: Result<Query<DashboardQuery>, QueryRejection>,
) -> Result<Json<Overview>, ApiError> {
    user.require(Permission::ReadAnalytics)?;
    let Query(q) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let r = TimeRange::resolve(&q.range, Utc::now())?;
    let channel = channel_of(&q)?;
    let (cur, prev) = tokio::try_join!(totals(&app, r, &channel), totals(&app, r.previous(), &channel))?;
    let open_alerts: i64 = sqlx::query_scalar("SELECT count(*) FROM alerts WHERE status IN ('OPEN', 'IN_PROGRESS')")
        .fetch_one(&app.pg)
        .await?;
    let (current, previous) = (Figures::from(cur), Figures::from(prev));
    let diff = |a: Option<f64>, b: Option<f64>| Some(a? - b?);
    Ok(Json(Overview {
        from: r.from,
        to: r.to,
        channel: q.channel.clone(),
        sentiment: [("negative", cur.negative), ("neutral", cur.neutral), ("positive", cur.positive)]
            .into_iter()
            .collect(),
        open_alerts,
        volume_change_pct: (prev.n > 0).then(|| 100.0 * (cur.n as f64 - prev.n as f64) / prev.n as f64),
        average_sentiment_change: diff(current.average_sentiment, previous.average_sentiment),
        nps_change: diff(current.nps, previous.nps),
        csat_change: diff(current.csat, previous.csat),
        current,
        previous,
    }))
}

/// One bucket of the sentiment trend (empty buckets are present with zeros).
#[derive(Debug, Serialize, Deserialize, clickhouse::Row)]
pub struct TrendPoint {
    #[serde(with = "clickhouse::serde::chrono::datetime")]
    pub bucket: DateTime<Utc>,
    pub volume: u64,
    pub negative: u64,
    pub neutral: u64,
    pub positive: u64,
    pub score_sum: f64,
}

/// `GET /v1/dashboard/sentiment-trend?range=30d&interval=day`: volume and sentiment per
/// bucket, gaps filled with zeros (`average = score_sum / volume`).
pub async fn sentiment_trend(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    query: Result<Query<DashboardQuery>, QueryRejection>,
) -> Result<Json<Vec<TrendPoint>>, ApiError> {
    user.require(Permission::ReadAnalytics)?;
    let Query(q) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let r = TimeRange::resolve(&q.range, Utc::now())?;
    let channel = channel_of(&q)?;
    let unit = match q.interval.as_deref().unwrap_or("day") {
        "hour" => "HOUR",
        "day" => "DAY",
        "week" => "WEEK",
        _ => return Err(ApiError::invalid("interval", "must be hour, day or week")),
    };
    if unit == "HOUR" && r.to - r.from > chrono::Duration::days(31) {
        return Err(ApiError::invalid("interval", "hourly buckets cover at most 31 days"));
    }
    // `unit` is one of three fixed words; every value is bound.
    let sql = format!(
        "SELECT toDateTime(toStartOfInterval(hour, INTERVAL 1 {unit}), 'UTC') AS bucket, sum(feedback_count) AS volume, \
         sumIf(feedback_count, sentiment_label = 'negative') AS negative, \
         sumIf(feedback_count, sentiment_label = 'neutral') AS neutral, \
         sumIf(feedback_count, sentiment_label = 'positive') AS positive, sum(sentiment_score_sum) AS score_sum \
         FROM feedback_hourly WHERE hour >= toStartOfHour(fromUnixTimestamp(?)) AND hour < fromUnixTimestamp(?) \
         AND (? = '' OR channel = ?) GROUP BY bucket \
         ORDER BY bucket WITH FILL FROM toDateTime(toStartOfInterval(fromUnixTimestamp(?), INTERVAL 1 {unit}), 'UTC') \
         TO fromUnixTimestamp(?) STEP INTERVAL 1 {unit}"
    );
    let points = app
        .ch
        .query(&sql)
        .bind(r.from.timestamp())
        .bind(r.to.timestamp())
        .bind(&channel)
        .bind(&channel)
        .bind(r.from.timestamp())
        .bind(r.to.timestamp())
        .fetch_all::<TrendPoint>()
        .await
        .map_err(|e| clickhouse_error(&e))?;
    Ok(Json(points))
}
