//! `/v1/feedback`: search the enriched feedback in ClickHouse with filters and keyset
//! pagination (newest first), and read one by id. Values are bound as query parameters,
//! never spliced into SQL.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use rtcx_schemas::{Channel, Emotion, SentimentLabel};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{AuthUser, Permission};
use crate::error::ApiError;
use crate::range::{RangeQuery, TimeRange};

/// Filters of the feedback search (all optional, combined with AND).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    #[param(ignore)]
    #[serde(flatten)]
    pub range: RangeQuery,
    /// web, mobile_app, email, chat, social, survey or call_center.
    pub channel: Option<String>,
    /// negative, neutral or positive.
    pub sentiment: Option<String>,
    // Scores are read as f64 so that the range check sees what was sent (as f32,
    // -1.0000000000000002 rounded to -1 and passed).
    /// Lowest sentiment score (−1..1).
    pub min_score: Option<f64>,
    /// Highest sentiment score (−1..1).
    pub max_score: Option<f64>,
    /// Dominant emotion: anger, disgust, fear, joy, neutral, sadness or surprise.
    pub emotion: Option<String>,
    /// Assigned topic id.
    pub topic: Option<Uuid>,
    /// Customer segment (exact).
    pub segment: Option<String>,
    /// Journey stage (exact).
    pub journey_stage: Option<String>,
    /// Customer id (exact).
    pub customer_id: Option<String>,
    /// ISO 639-3 code as detected (e.g. eng).
    pub language: Option<String>,
    /// Case-insensitive substring of the text.
    pub q: Option<String>,
    /// 1..=200, default 50.
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One feedback as listed.
#[derive(Debug, Clone, Serialize, Deserialize, clickhouse::Row, utoipa::ToSchema)]
#[schema(example = json!({"id": "0190f5c5-2b3c-7d4e-9f50-61728394a5b6", "occurred_at": "2026-11-29T09:58:41.120Z", "channel": "chat", "text": "Courier left my parcel in the rain, again.", "sentiment_label": "negative", "sentiment_score": -0.83, "dominant_emotion": "anger", "key_phrases": ["courier", "parcel", "rain"], "topic_ids": ["0190f5c3-1a2b-7c3d-8e4f-5a6b7c8d9e0f"], "topic_reasons": [{"by": "keyword", "keyword": "courier"}], "segment": "premium", "journey_stage": "delivery", "customer_id": "C-20931", "language": "en", "rating": 2, "nps": null, "csat": 1}))]
pub struct FeedbackItem {
    #[serde(with = "clickhouse::serde::uuid")]
    pub id: Uuid,
    #[serde(deserialize_with = "clickhouse::serde::chrono::datetime64::millis::deserialize")]
    pub occurred_at: DateTime<Utc>,
    pub channel: String,
    pub text: String,
    pub sentiment_label: String,
    pub sentiment_score: f32,
    pub dominant_emotion: String,
    pub key_phrases: Vec<String>,
    #[serde(with = "clickhouse::serde::uuid_vec")]
    pub topic_ids: Vec<Uuid>,
    /// Why each topic of `topic_ids` was assigned, in the same order: `{"by": "keyword",
    /// "keyword": …}` or `{"by": "similarity", "score", "threshold", "example_id",
    /// "example_cosine"}` (the topic's nearest example message). Empty for feedback stored
    /// before reasons were recorded.
    #[serde(serialize_with = "reasons_as_objects")]
    #[schema(value_type = Vec<Object>)]
    pub topic_reasons: Vec<String>,
    pub segment: String,
    pub journey_stage: String,
    pub customer_id: String,
    pub language: String,
    pub rating: Option<u8>,
    pub nps: Option<u8>,
    pub csat: Option<u8>,
}

/// Stored as JSON text (ClickHouse `Array(String)`), served as JSON objects.
fn reasons_as_objects<S: serde::Serializer>(reasons: &[String], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(reasons.len()))?;
    for r in reasons {
        let value: serde_json::Value = serde_json::from_str(r).unwrap_or_else(|_| serde_json::Value::String(r.clone()));
        seq.serialize_element(&value)?;
    }
    seq.end()
}

pub(crate) const COLUMNS: &str = "id, occurred_at, channel, text, sentiment_label, sentiment_score, dominant_emotion, key_phrases, \
     topic_ids, topic_reasons, segment, journey_stage, customer_id, language, rating, nps, csat";

/// A page and the cursor of the next one.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"items": [{"id": "0190f5c5-2b3c-7d4e-9f50-61728394a5b6", "occurred_at": "2026-11-29T09:58:41.120Z", "channel": "chat", "text": "Courier left my parcel in the rain, again.", "sentiment_label": "negative", "sentiment_score": -0.83, "dominant_emotion": "anger", "key_phrases": ["courier", "parcel", "rain"], "topic_ids": ["0190f5c3-1a2b-7c3d-8e4f-5a6b7c8d9e0f"], "topic_reasons": [{"by": "keyword", "keyword": "courier"}], "segment": "premium", "journey_stage": "delivery", "customer_id": "C-20931", "language": "en", "rating": 2, "nps": null, "csat": 1}], "next_cursor": "MTc2NDQwOTkyMTEyMHwwMTkwZjVjNS0yYjNjLTdkNGUtOWY1MC02MTcyODM5NGE1YjY"}))]
pub struct FeedbackPage {
    pub items: Vec<FeedbackItem>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

fn encode_cursor(item: &FeedbackItem) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
        "{}|{}",
        item.occurred_at.timestamp_millis(),
        item.id
    ))
}

fn decode_cursor(c: &str) -> Result<(i64, Uuid), ApiError> {
    let bad = || ApiError::invalid("cursor", "not a cursor from this API");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(c).map_err(|_| bad())?;
    let s = String::from_utf8(raw).map_err(|_| bad())?;
    let (ms, id) = s.split_once('|').ok_or_else(bad)?;
    Ok((ms.parse().map_err(|_| bad())?, id.parse().map_err(|_| bad())?))
}

/// The wire names of `all`, for validation and messages.
fn names<T: Copy>(all: &[T], name: fn(T) -> &'static str) -> Vec<&'static str> {
    all.iter().map(|&v| name(v)).collect()
}

/// `GET /v1/feedback`.
#[utoipa::path(
    get,
    path = "/v1/feedback",
    tag = "feedback",
    summary = "Search feedback",
    description = "Every filter is optional and combined with AND.",
    params(SearchQuery, RangeQuery),
    responses((status = 200, description = "Newest first; keyset pages stay stable while new feedback arrives", body = FeedbackPage), (status = 400, response = crate::openapi::BadRequest)),
    extensions(("x-rtcx-permission" = json!("read_analytics")))
)]
pub async fn search(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Json<FeedbackPage>, ApiError> {
    user.require(Permission::ReadAnalytics)?;
    let Query(q) = query?;
    let r = TimeRange::resolve(&q.range, Utc::now())?;
    let limit = validate(&q, 50, PAGE_MAX)?;
    let cursor = q.cursor.as_deref().map(decode_cursor).transpose()?;
    let query = filtered(&app, &q, r, cursor, limit + 1);
    let mut items: Vec<FeedbackItem> = query.fetch_all().await.map_err(ApiError::from)?;
    let next_cursor = if items.len() as u64 > limit {
        items.truncate(limit as usize);
        items.last().map(encode_cursor)
    } else {
        None
    };
    Ok(Json(FeedbackPage { items, next_cursor }))
}

/// Largest search page.
pub const PAGE_MAX: u64 = 200;

/// Checks the filters; returns the page size.
pub(crate) fn validate(q: &SearchQuery, default_limit: u64, max_limit: u64) -> Result<u64, ApiError> {
    let limit = q.limit.unwrap_or(default_limit);
    let mut errors = Vec::new();
    if !(1..=max_limit).contains(&limit) {
        errors.push(("limit".to_owned(), format!("must be 1..={max_limit}")));
    }
    let channels = names(&Channel::ALL, Channel::as_str);
    let labels = names(&SentimentLabel::ALL, SentimentLabel::as_str);
    let emotions = names(&Emotion::ALL, Emotion::as_str);
    if q.channel.as_deref().is_some_and(|c| !channels.contains(&c)) {
        errors.push(("channel".to_owned(), format!("must be one of {}", channels.join(", "))));
    }
    if q.sentiment.as_deref().is_some_and(|s| !labels.contains(&s)) {
        errors.push(("sentiment".to_owned(), "must be negative, neutral or positive".to_owned()));
    }
    if q.emotion.as_deref().is_some_and(|e| !emotions.contains(&e)) {
        errors.push(("emotion".to_owned(), format!("must be one of {}", emotions.join(", "))));
    }
    for (name, v) in [("min_score", q.min_score), ("max_score", q.max_score)] {
        if v.is_some_and(|v| !(-1.0..=1.0).contains(&v)) {
            errors.push((name.to_owned(), "must be in [-1, 1]".to_owned()));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    Ok(limit)
}

/// The filters of a [`SearchQuery`] after the time range, as SQL with `?` placeholders, and
/// their values in placeholder order (bound, never spliced). The search, the export and the
/// similar-feedback search read the same filters through this.
pub struct Filters {
    sql: String,
    strings: Vec<String>,
    scores: Vec<f32>,
}

impl Filters {
    pub fn of(q: &SearchQuery) -> Self {
        let mut sql = String::new();
        let mut strings = Vec::new();
        let mut push = |fragment: &'static str, value: Option<String>| {
            if let Some(v) = value {
                sql.push_str(fragment);
                strings.push(v);
            }
        };
        push(" AND channel = ?", q.channel.clone());
        push(" AND sentiment_label = ?", q.sentiment.clone());
        push(" AND dominant_emotion = ?", q.emotion.clone());
        push(" AND has(topic_ids, toUUID(?))", q.topic.map(|t| t.to_string()));
        push(" AND segment = ?", q.segment.clone());
        push(" AND journey_stage = ?", q.journey_stage.clone());
        push(" AND customer_id = ?", q.customer_id.clone());
        push(" AND language = ?", q.language.clone());
        push(" AND positionCaseInsensitiveUTF8(text, ?) > 0", q.q.clone());
        let mut scores = Vec::new();
        // Bound as f32, the column's type: a checked f64 such as 2.2e-311 (subnormal) made
        // ClickHouse fail to read the parameter (a 500, found by the fuzzing campaign).
        if let Some(v) = q.min_score {
            sql.push_str(" AND sentiment_score >= ?");
            scores.push(v as f32);
        }
        if let Some(v) = q.max_score {
            sql.push_str(" AND sentiment_score <= ?");
            scores.push(v as f32);
        }
        Self { sql, strings, scores }
    }

    /// The conditions, each starting with ` AND`.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// Binds the values, in the order of [`Filters::sql`]'s placeholders.
    pub fn bind(&self, mut query: clickhouse::query::Query) -> clickhouse::query::Query {
        for v in &self.strings {
            query = query.bind(v);
        }
        for &v in &self.scores {
            query = query.bind(v);
        }
        query
    }
}

/// The filtered, newest-first query (values bound, never spliced).
fn filtered(
    app: &AppState,
    q: &SearchQuery,
    r: TimeRange,
    cursor: Option<(i64, Uuid)>,
    limit: u64,
) -> clickhouse::query::Query {
    let filters = Filters::of(q);
    let mut sql = format!(
        "SELECT {COLUMNS} FROM feedback WHERE occurred_at >= fromUnixTimestamp64Milli(?) AND occurred_at < fromUnixTimestamp64Milli(?){}",
        filters.sql()
    );
    if cursor.is_some() {
        sql.push_str(" AND (occurred_at, id) < (fromUnixTimestamp64Milli(?), toUUID(?))");
    }
    sql.push_str(" ORDER BY occurred_at DESC, id DESC LIMIT ?");
    let query = app.ch.query(&sql).bind(r.from.timestamp_millis()).bind(r.to.timestamp_millis());
    let mut query = filters.bind(query);
    if let Some((ms, id)) = cursor {
        query = query.bind(ms).bind(id.to_string());
    }
    query.bind(limit)
}

/// Export formats.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Csv,
    Parquet,
}

/// The export's own parameter; the filters are [`SearchQuery`], read from the same query
/// string by the same code as the search (a flattened struct would make serde read every
/// number as a string and refuse it).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// csv or parquet.
    #[param(inline)]
    pub format: ExportFormat,
}

/// Most rows one export returns (`limit` may lower it).
pub const EXPORT_MAX_ROWS: u64 = 1_000_000;

/// `GET /v1/feedback/export?format=csv|parquet&…filters`: the filtered feedback, newest
/// first, streamed from ClickHouse as it produces it (never buffered whole).
#[utoipa::path(
    get,
    path = "/v1/feedback/export",
    tag = "feedback",
    summary = "Export filtered feedback as CSV or Parquet",
    description = "Streamed from ClickHouse as it is produced (never buffered whole). Takes the search filters.",
    params(ExportQuery, SearchQuery, RangeQuery),
    responses((status = 200, description = "Streamed file (at most 1 000 000 rows, newest first)", content((String = "text/csv"), (String = "application/vnd.apache.parquet"))), (status = 400, response = crate::openapi::BadRequest)),
    extensions(("x-rtcx-permission" = json!("read_analytics")))
)]
pub async fn export(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    export: Result<Query<ExportQuery>, QueryRejection>,
    filters: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<axum::response::Response, ApiError> {
    use axum::http::header;
    use axum::response::IntoResponse as _;

    user.require(Permission::ReadAnalytics)?;
    let Query(e) = export?;
    let Query(search) = filters?;
    let r = TimeRange::resolve(&search.range, Utc::now())?;
    let limit = validate(&search, EXPORT_MAX_ROWS, EXPORT_MAX_ROWS)?;
    let (format, content_type, ext) = match e.format {
        ExportFormat::Csv => ("CSVWithNames", "text/csv; charset=utf-8", "csv"),
        ExportFormat::Parquet => ("Parquet", "application/vnd.apache.parquet", "parquet"),
    };
    let mut cursor = filtered(&app, &search, r, None, limit).fetch_bytes(format).map_err(ApiError::from)?;
    // Read the first chunk before answering, so that an unreachable ClickHouse is a 503 and
    // not a truncated 200.
    let first = cursor.next().await.map_err(ApiError::from)?;
    let rest = futures::stream::unfold(Some(cursor), |state| async move {
        let mut cursor = state?;
        match cursor.next().await {
            Ok(Some(chunk)) => Some((Ok(chunk), Some(cursor))),
            Ok(None) => None,
            // The client sees a cut-off body; there is no status left to change.
            Err(e) => Some((Err(e), None)),
        }
    });
    let stream = futures::stream::iter(first.map(Ok::<_, clickhouse::error::Error>)).chain(rest);
    metrics::counter!("rtcx_query_api_exports_total", "format" => ext).increment(1);
    let filename = format!("attachment; filename=\"feedback-{}.{ext}\"", Utc::now().format("%Y%m%dT%H%M%SZ"));
    Ok((
        [(header::CONTENT_TYPE, content_type.to_owned()), (header::CONTENT_DISPOSITION, filename)],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

/// `GET /v1/feedback/{id}`.
#[utoipa::path(
    get,
    path = "/v1/feedback/{id}",
    tag = "feedback",
    summary = "One feedback",
    params(("id" = Uuid, Path, description = "Feedback id")),
    responses((status = 200, body = FeedbackItem), (status = 404, response = crate::openapi::NotFound)),
    extensions(("x-rtcx-permission" = json!("read_analytics")))
)]
pub async fn get(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<FeedbackItem>, ApiError> {
    user.require(Permission::ReadAnalytics)?;
    let item: Option<FeedbackItem> = app
        .ch
        .query(&format!("SELECT {COLUMNS} FROM feedback WHERE id = toUUID(?) LIMIT 1"))
        .bind(id.to_string())
        .fetch_optional()
        .await
        .map_err(ApiError::from)?;
    item.map(Json).ok_or(ApiError::NotFound("feedback"))
}
