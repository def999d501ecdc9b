//! `/v1/dashboard/*`: dashboard analytics read from the ClickHouse rollups (never the raw
//! table), for a preset or explicit range and an optional channel. Rollups are hourly, so a
//! range is resolved to whole hours (its first hour included).

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, RawQuery, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::auth::{AuthUser, Permission};
use crate::error::ApiError;
use crate::range::{RangeQuery, TimeRange};
use crate::topic_rollup::{HourSpan, SPAN_ROWS};

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DashboardQuery {
    #[param(ignore)]
    #[serde(flatten)]
    pub range: RangeQuery,
    /// Only this channel (web, mobile_app, email, chat, social, survey, call_center).
    pub channel: Option<String>,
    /// Trend bucket: hour, day (default) or week.
    pub interval: Option<String>,
}

/// The trend buckets `interval` takes.
pub const INTERVALS: [&str; 3] = ["hour", "day", "week"];

#[derive(Debug, Default, Clone, Copy, Deserialize, clickhouse::Row)]
struct Totals {
    /// 1: the requested range; 0: the one before it.
    is_current: u8,
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

/// The sums behind [`Figures`], over `feedback_hourly` rows.
const SUMS: &str = "sum(feedback_count) AS n, sumIf(feedback_count, sentiment_label = 'negative') AS negative, \
     sumIf(feedback_count, sentiment_label = 'neutral') AS neutral, sumIf(feedback_count, sentiment_label = 'positive') AS positive, \
     sum(sentiment_score_sum) AS score, sum(nps_count) AS nps_count, sum(nps_promoters) AS promoters, \
     sum(nps_detractors) AS detractors, sum(csat_count) AS csat_count, sum(csat_satisfied) AS satisfied";

/// Headline figures of a period.
#[derive(Debug, Serialize, utoipa::ToSchema)]
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
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"from": "2026-10-30T10:00:00Z", "to": "2026-11-29T10:00:00Z", "channel": null, "current": {"volume": 824113, "average_sentiment": -0.062, "nps": 18.4, "csat": 71.2}, "previous": {"volume": 790402, "average_sentiment": -0.048, "nps": 21.0, "csat": 72.9}, "sentiment": {"negative": 301220, "neutral": 262004, "positive": 260889}, "open_alerts": 3, "volume_change_pct": 4.27, "average_sentiment_change": -0.014, "nps_change": -2.6, "csat_change": -1.7}))]
pub struct Overview {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub channel: Option<String>,
    pub current: Figures,
    pub previous: Figures,
    /// Feedback counts by sentiment label in the current period.
    #[schema(value_type = std::collections::BTreeMap<String, u64>)]
    pub sentiment: std::collections::BTreeMap<&'static str, u64>,
    /// Alerts currently open or in progress.
    pub open_alerts: i64,
    /// Current minus previous (volume in percent of the previous volume).
    pub volume_change_pct: Option<f64>,
    pub average_sentiment_change: Option<f64>,
    pub nps_change: Option<f64>,
    pub csat_change: Option<f64>,
}

/// Runs `compute` through the answer cache under `endpoint` + the raw query string.
pub(crate) async fn cached<T: Serialize, F: std::future::Future<Output = Result<Json<T>, ApiError>>>(
    app: &AppState,
    endpoint: &str,
    raw: Option<String>,
    compute: F,
) -> Result<Json<serde_json::Value>, ApiError> {
    let key = format!("{endpoint}?{}", raw.unwrap_or_default());
    let value = app
        .cache
        .get_or(key, async { serde_json::to_value(compute.await?.0).map_err(|e| ApiError::Internal(e.to_string())) })
        .await?;
    Ok(Json(value))
}

/// The channel filter (`""`: all channels), and the `interval` check every dashboard query
/// shares (the same parameters are accepted, and refused, by every dashboard route).
fn channel_of(q: &DashboardQuery) -> Result<String, ApiError> {
    if let Some(i) = q.interval.as_deref()
        && !INTERVALS.contains(&i)
    {
        return Err(ApiError::invalid("interval", "must be hour, day or week"));
    }
    match q.channel.as_deref() {
        None => Ok(String::new()),
        Some(c) if c.parse::<rtcx_schemas::Channel>().is_ok() => Ok(c.to_owned()),
        Some(_) => Err(ApiError::invalid("channel", "unknown channel")),
    }
}

/// Totals of a range and of the equally long range before it, in one query: each hourly
/// row is counted in every period whose hours it falls in (the hour the range starts in is in
/// both, as each period counts whole hours from its first one).
async fn totals_with_previous(app: &AppState, r: TimeRange, channel: &str) -> Result<(Totals, Totals), ApiError> {
    let p = r.previous();
    let sql = format!(
        "SELECT is_current, {SUMS} FROM feedback_hourly \
         ARRAY JOIN [{HOURLY}, {HOURLY}] AS in_period, [1, 0] AS is_current \
         WHERE {HOURLY} AND in_period AND (? = '' OR channel = ?) GROUP BY is_current"
    );
    let rows = app
        .ch
        .query(&sql)
        .bind(r.from.timestamp())
        .bind(r.to.timestamp())
        .bind(p.from.timestamp())
        .bind(p.to.timestamp())
        .bind(p.from.timestamp())
        .bind(r.to.timestamp())
        .bind(channel)
        .bind(channel)
        .fetch_all::<Totals>()
        .await?;
    let pick = |current: u8| rows.iter().find(|t| t.is_current == current).copied().unwrap_or_default();
    Ok((pick(1), pick(0)))
}

/// `GET /v1/dashboard/overview?range=7d&channel=email`.
#[utoipa::path(
    get,
    path = "/v1/dashboard/overview",
    tag = "dashboard",
    summary = "Headline figures and deltas",
    description = "Volume, sentiment distribution and average, NPS and CSAT where ratings exist, open alerts, and the change against the previous equal period.",
    params(DashboardQuery, RangeQuery),
    responses((status = 200, body = Overview), (status = 400, response = crate::openapi::BadRequest)),
    extensions(("x-rtcx-permission" = json!("read_analytics")), ("x-rtcx-cached" = json!(true)))
)]
pub async fn overview(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    RawQuery(raw): RawQuery,
    query: Result<Query<DashboardQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    user.require(Permission::ReadAnalytics)?;
    overview_answer(&app, raw, query.map(|Query(q)| q).map_err(ApiError::from)).await
}

/// The overview for a query (`raw`: its query string, the cache key), through the answer
/// cache; shared with the live `dashboard` room.
pub(crate) async fn overview_answer(
    app: &AppState,
    raw: Option<String>,
    query: Result<DashboardQuery, ApiError>,
) -> Result<Json<serde_json::Value>, ApiError> {
    cached(app, "overview", raw, async {
        let q = query?;
        let r = TimeRange::resolve(&q.range, Utc::now())?;
        let channel = channel_of(&q)?;
        let alerts = async {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM alerts WHERE status IN ('OPEN', 'IN_PROGRESS')")
                .fetch_one(&app.pg)
                .await
                .map_err(ApiError::from)
        };
        let ((cur, prev), open_alerts) = tokio::try_join!(totals_with_previous(app, r, &channel), alerts)?;
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
    })
    .await
}

/// One bucket of the sentiment trend (empty buckets are present with zeros).
#[derive(Debug, Serialize, Deserialize, clickhouse::Row, utoipa::ToSchema)]
#[schema(example = json!({"bucket": "2026-11-28T00:00:00Z", "volume": 27411, "negative": 9902, "neutral": 8700, "positive": 8809, "score_sum": -1702.4}))]
pub struct TrendPoint {
    /// Start of the bucket (UTC).
    #[serde(deserialize_with = "clickhouse::serde::chrono::datetime::deserialize")]
    pub bucket: DateTime<Utc>,
    pub volume: u64,
    pub negative: u64,
    pub neutral: u64,
    pub positive: u64,
    /// Sum of sentiment scores; the bucket average is `score_sum / volume`.
    pub score_sum: f64,
}

/// `GET /v1/dashboard/sentiment-trend?range=30d&interval=day`: volume and sentiment per
/// bucket, gaps filled with zeros (`average = score_sum / volume`).
#[utoipa::path(
    get,
    path = "/v1/dashboard/sentiment-trend",
    tag = "dashboard",
    summary = "Volume and sentiment per hour, day or week",
    description = "`interval` = hour (ranges up to 31 days), day (default) or week.",
    params(DashboardQuery, RangeQuery),
    responses((status = 200, description = "Every bucket of the range, gaps filled with zeros", body = Vec<TrendPoint>), (status = 400, response = crate::openapi::BadRequest)),
    extensions(("x-rtcx-permission" = json!("read_analytics")), ("x-rtcx-cached" = json!(true)))
)]
pub async fn sentiment_trend(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    RawQuery(raw): RawQuery,
    query: Result<Query<DashboardQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    user.require(Permission::ReadAnalytics)?;
    cached(&app, "sentiment-trend", raw, async {
    let Query(q) = query?;
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
         FROM feedback_hourly WHERE {HOURLY} AND (? = '' OR channel = ?) GROUP BY bucket \
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
        .map_err(ApiError::from)?;
    Ok(Json(points))
    })
    .await
}

/// Runs a grouped rollup query for the range (and channel filter) and returns its rows.
async fn grouped<T>(app: &AppState, sql: &str, r: TimeRange, channel: &str) -> Result<Vec<T>, ApiError>
where
    T: clickhouse::RowOwned + clickhouse::RowRead,
{
    app.ch
        .query(sql)
        .bind(r.from.timestamp())
        .bind(r.to.timestamp())
        .bind(channel)
        .bind(channel)
        .fetch_all::<T>()
        .await
        .map_err(ApiError::from)
}

fn parse(q: Result<Query<DashboardQuery>, QueryRejection>) -> Result<(TimeRange, String, DashboardQuery), ApiError> {
    let Query(q) = q?;
    let r = TimeRange::resolve(&q.range, Utc::now())?;
    let channel = channel_of(&q)?;
    Ok((r, channel, q))
}

/// Figures of one group (channel, segment, journey stage).
#[derive(Debug, Serialize, Deserialize, clickhouse::Row)]
pub struct GroupFigures {
    pub key: String,
    pub volume: u64,
    pub negative: u64,
    pub score_sum: f64,
    pub nps_count: u64,
    pub promoters: u64,
    pub detractors: u64,
    pub csat_count: u64,
    pub satisfied: u64,
}

/// A group with its derived figures.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"key": "email", "volume": 120443, "negative_share": 0.41, "average_sentiment": -0.19, "nps": 9.5, "csat": 64.0}))]
pub struct GroupView {
    pub key: String,
    pub volume: u64,
    pub negative_share: Option<f64>,
    pub average_sentiment: Option<f64>,
    pub nps: Option<f64>,
    pub csat: Option<f64>,
}

impl From<GroupFigures> for GroupView {
    fn from(g: GroupFigures) -> Self {
        let ratio = |a: f64, b: u64| (b > 0).then(|| a / b as f64);
        GroupView {
            negative_share: ratio(g.negative as f64, g.volume),
            average_sentiment: ratio(g.score_sum, g.volume),
            nps: ratio(100.0 * (g.promoters as f64 - g.detractors as f64), g.nps_count),
            csat: ratio(100.0 * g.satisfied as f64, g.csat_count),
            key: g.key,
            volume: g.volume,
        }
    }
}

fn group_sql(key: &str, table: &str, time: &str) -> String {
    format!(
        "SELECT {key} AS key, sum(feedback_count) AS volume, sumIf(feedback_count, sentiment_label = 'negative') AS negative, \
         sum(sentiment_score_sum) AS score_sum, sum(nps_count) AS nps_count, sum(nps_promoters) AS promoters, \
         sum(nps_detractors) AS detractors, sum(csat_count) AS csat_count, sum(csat_satisfied) AS satisfied \
         FROM {table} WHERE {time} AND (? = '' OR channel = ?) GROUP BY key ORDER BY volume DESC, key"
    )
}

const HOURLY: &str = "hour >= toStartOfHour(fromUnixTimestamp(?)) AND hour < fromUnixTimestamp(?)";
const DAILY: &str = "day >= toDate(fromUnixTimestamp(?), 'UTC') AND day <= toDate(fromUnixTimestamp(?), 'UTC')";

/// A grouped rollup question: which column, which table, which time filter.
struct Grouping {
    endpoint: &'static str,
    key: &'static str,
    table: &'static str,
    time: &'static str,
}

/// Answers a [`Grouping`] for the range and channel of the query (cached).
async fn by_group(
    app: &AppState,
    user: &AuthUser,
    raw: Option<String>,
    query: Result<Query<DashboardQuery>, QueryRejection>,
    g: Grouping,
) -> Result<Json<serde_json::Value>, ApiError> {
    user.require(Permission::ReadAnalytics)?;
    cached(app, g.endpoint, raw, async {
        let (r, channel, _) = parse(query)?;
        let rows: Vec<GroupFigures> = grouped(app, &group_sql(g.key, g.table, g.time), r, &channel).await?;
        Ok(Json(rows.into_iter().map(GroupView::from).collect::<Vec<_>>()))
    })
    .await
}

/// `GET /v1/dashboard/channels`: volume, negative share, average sentiment, NPS and CSAT per
/// channel (hourly rollup).
#[utoipa::path(
    get,
    path = "/v1/dashboard/channels",
    tag = "dashboard",
    summary = "Figures per channel",
    params(DashboardQuery, RangeQuery),
    responses((status = 200, description = "By volume", body = Vec<GroupView>), (status = 400, response = crate::openapi::BadRequest)),
    extensions(("x-rtcx-permission" = json!("read_analytics")), ("x-rtcx-cached" = json!(true)))
)]
pub async fn channels(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    RawQuery(raw): RawQuery,
    query: Result<Query<DashboardQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let g = Grouping { endpoint: "channels", key: "channel", table: "feedback_hourly", time: HOURLY };
    by_group(&app, &user, raw, query, g).await
}

/// `GET /v1/dashboard/segments`: the same figures per customer segment (daily rollup; the
/// range is resolved to whole days; `""` = unknown segment).
#[utoipa::path(
    get,
    path = "/v1/dashboard/segments",
    tag = "dashboard",
    summary = "Figures per customer segment",
    description = "Resolved to whole days (daily rollup).",
    params(DashboardQuery, RangeQuery),
    responses((status = 200, description = "By volume; key \"\" = unknown segment", body = Vec<GroupView>), (status = 400, response = crate::openapi::BadRequest)),
    extensions(("x-rtcx-permission" = json!("read_analytics")), ("x-rtcx-cached" = json!(true)))
)]
pub async fn segments(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    RawQuery(raw): RawQuery,
    query: Result<Query<DashboardQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let g = Grouping { endpoint: "segments", key: "segment", table: "feedback_segment_daily", time: DAILY };
    by_group(&app, &user, raw, query, g).await
}

/// `GET /v1/dashboard/journey-stages`: the same figures per customer-journey stage.
#[utoipa::path(
    get,
    path = "/v1/dashboard/journey-stages",
    tag = "dashboard",
    summary = "Figures per customer-journey stage",
    description = "Resolved to whole days (daily rollup).",
    params(DashboardQuery, RangeQuery),
    responses((status = 200, description = "By volume; key \"\" = unknown stage", body = Vec<GroupView>), (status = 400, response = crate::openapi::BadRequest)),
    extensions(("x-rtcx-permission" = json!("read_analytics")), ("x-rtcx-cached" = json!(true)))
)]
pub async fn journey_stages(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    RawQuery(raw): RawQuery,
    query: Result<Query<DashboardQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let g = Grouping { endpoint: "journey-stages", key: "journey_stage", table: "feedback_journey_daily", time: DAILY };
    by_group(&app, &user, raw, query, g).await
}

/// The emotion rollup summed per dominant emotion.
#[derive(Debug, Deserialize, clickhouse::Row)]
struct EmotionAgg {
    key: String,
    n: u64,
    anger: f64,
    disgust: f64,
    fear: f64,
    joy: f64,
    neutral: f64,
    sadness: f64,
    surprise: f64,
}

impl EmotionAgg {
    fn sums(&self) -> [f64; 7] {
        [self.anger, self.disgust, self.fear, self.joy, self.neutral, self.sadness, self.surprise]
    }
}

/// One emotion in the breakdown.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"emotion": "anger", "dominant": 88120, "average_probability": 0.17}))]
pub struct EmotionView {
    pub emotion: String,
    /// Feedback where it is the most probable emotion.
    pub dominant: u64,
    /// Its mean probability over all feedback of the range.
    pub average_probability: Option<f64>,
}

/// `GET /v1/dashboard/emotions`.
#[utoipa::path(
    get,
    path = "/v1/dashboard/emotions",
    tag = "dashboard",
    summary = "Emotion breakdown",
    params(DashboardQuery, RangeQuery),
    responses((status = 200, description = "All seven emotions", body = Vec<EmotionView>), (status = 400, response = crate::openapi::BadRequest)),
    extensions(("x-rtcx-permission" = json!("read_analytics")), ("x-rtcx-cached" = json!(true)))
)]
pub async fn emotions(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    RawQuery(raw): RawQuery,
    query: Result<Query<DashboardQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    user.require(Permission::ReadAnalytics)?;
    cached(&app, "emotions", raw, async {
        let (r, channel, _) = parse(query)?;
        // One row per dominant emotion with the summed probabilities; folded here into one
        // entry per emotion (a plain aggregation: cheaper than unpivoting in SQL).
        let sql = format!(
            "SELECT dominant_emotion AS key, sum(feedback_count) AS n, sum(anger_sum) AS anger, \
             sum(disgust_sum) AS disgust, sum(fear_sum) AS fear, sum(joy_sum) AS joy, sum(neutral_sum) AS neutral, \
             sum(sadness_sum) AS sadness, sum(surprise_sum) AS surprise \
             FROM feedback_emotion_hourly WHERE {HOURLY} AND (? = '' OR channel = ?) GROUP BY key"
        );
        let rows: Vec<EmotionAgg> = grouped(&app, &sql, r, &channel).await?;
        let total: u64 = rows.iter().map(|e| e.n).sum();
        // Emotion::ALL is in the column order of `EmotionAgg::sums`.
        Ok(Json(
            rtcx_schemas::Emotion::ALL
                .iter()
                .map(|e| e.as_str())
                .enumerate()
                .map(|(i, name)| {
                    let sum: f64 = rows.iter().map(|e| e.sums()[i]).sum();
                    EmotionView {
                        emotion: name.to_owned(),
                        dominant: rows.iter().filter(|e| e.key == name).map(|e| e.n).sum(),
                        average_probability: (total > 0).then(|| sum / total as f64),
                    }
                })
                .collect::<Vec<_>>(),
        ))
    })
    .await
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct DriverRow {
    #[serde(with = "clickhouse::serde::uuid")]
    topic_id: uuid::Uuid,
    volume: u64,
    score_sum: f64,
}

/// A topic's pull on the average sentiment.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"topic_id": "0190f5c3-1a2b-7c3d-8e4f-5a6b7c8d9e0f", "name": "Delivery delays", "volume": 61200, "share": 0.074, "average_sentiment": -0.52, "effect": -0.034}))]
pub struct Driver {
    pub topic_id: uuid::Uuid,
    pub name: Option<String>,
    pub volume: u64,
    /// Share of all feedback in the range that carries this topic.
    pub share: f64,
    pub average_sentiment: f64,
    /// share × (topic average − overall average): how far this topic moves the overall
    /// average; the most negative values are the biggest detractors.
    pub effect: f64,
}

/// `GET /v1/dashboard/drivers`: topics ordered by how strongly they pull the average
/// sentiment down (most negative effect first).
#[utoipa::path(
    get,
    path = "/v1/dashboard/drivers",
    tag = "dashboard",
    summary = "Topics that move the average sentiment",
    description = "`effect` = share × (topic average − overall average).",
    params(DashboardQuery, RangeQuery),
    responses((status = 200, description = "Most negative effect first", body = Vec<Driver>), (status = 400, response = crate::openapi::BadRequest)),
    extensions(("x-rtcx-permission" = json!("read_analytics")), ("x-rtcx-cached" = json!(true)))
)]
pub async fn drivers(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    RawQuery(raw): RawQuery,
    query: Result<Query<DashboardQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    user.require(Permission::ReadAnalytics)?;
    cached(&app, "drivers", raw, async {
        let (r, channel, _) = parse(query)?;
        // All feedback (the nil id) and each topic, in one query; the topics' whole days from
        // the daily rollup, the partial first and last day from the hourly one.
        let sql = format!(
            "SELECT toUUID('00000000-0000-0000-0000-000000000000') AS topic_id, sum(feedback_count) AS volume, \
             sum(sentiment_score_sum) AS score_sum FROM feedback_hourly WHERE {HOURLY} AND (? = '' OR channel = ?) \
             UNION ALL \
             SELECT topic_id, toUInt64(sum(feedback_count)) AS volume, sum(sentiment_score_sum) AS score_sum \
             FROM ({SPAN_ROWS}) WHERE (? = '' OR channel = ?) GROUP BY topic_id"
        );
        let rollup = async {
            let q = app.ch.query(&sql).bind(r.from.timestamp()).bind(r.to.timestamp()).bind(&channel).bind(&channel);
            HourSpan::covering(r.from, r.to)
                .bind(q)
                .bind(&channel)
                .bind(&channel)
                .fetch_all::<DriverRow>()
                .await
                .map_err(ApiError::from)
        };
        // The rollups and the (small) catalogue at once.
        let names = async {
            sqlx::query_as::<_, (uuid::Uuid, String)>("SELECT id, name FROM topics")
                .fetch_all(&app.pg)
                .await
                .map_err(ApiError::from)
        };
        let (rows, names) = tokio::try_join!(rollup, names)?;
        let (overall, rows): (Vec<DriverRow>, Vec<DriverRow>) = rows.into_iter().partition(|d| d.topic_id.is_nil());
        let (n, score) = overall.first().map(|o| (o.volume, o.score_sum)).unwrap_or_default();
        if n == 0 {
            return Ok(Json(Vec::new()));
        }
        let overall_avg = score / n as f64;
        let mut out: Vec<Driver> = rows
            .into_iter()
            .filter(|d| d.volume > 0)
            .map(|d| {
                let share = d.volume as f64 / n as f64;
                let average_sentiment = d.score_sum / d.volume as f64;
                Driver {
                    name: names.iter().find(|(id, _)| *id == d.topic_id).map(|(_, n)| n.clone()),
                    topic_id: d.topic_id,
                    volume: d.volume,
                    share,
                    average_sentiment,
                    effect: share * (average_sentiment - overall_avg),
                }
            })
            .collect();
        out.sort_by(|a, b| a.effect.total_cmp(&b.effect));
        Ok(Json(out))
    })
    .await
}
