//! `/v1/alerts`: the alerts the processors' detectors raise (and people raise by hand), read
//! from Postgres: list with filters and keyset pages, one with its full history, statistics,
//! manual creation. The workflow (status, assignment, severity, comments) is in [`workflow`],
//! rules and their preview in [`rules`], silences in [`silences`]. docs/alerts.md.

pub mod rules;
pub mod silences;
pub mod workflow;

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use rtcx_schemas::{AlertSeverity, AlertType, Channel};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{AuthUser, Permission};
use crate::error::ApiError;

pub use rtcx_schemas::AlertStatus;

/// An alert as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(example = json!({"id": "8f0c1f3e-52b7-5d7a-a0d4-3c2f1e9b7a61", "alert_type": "SENTIMENT_SPIKE", "severity": "HIGH", "status": "OPEN", "title": "Negative share up on channel email: 52 % against 21 % expected", "description": "Rule channel_negative_share fired in the window 2026-11-30 09:05:00 UTC – 2026-11-30 09:10:00 UTC: observed 0.520, expected 0.210 (p = 3.1e-9, 75 events); peak 0.560.", "dimension": {"channel": "email"}, "window_start": "2026-11-30T09:00:00Z", "window_end": "2026-11-30T09:15:00Z", "metric": "channel_negative_share", "observed": 0.52, "baseline": 0.21, "evidence": {"firing_window": {"start": "2026-11-30T09:05:00Z", "end": "2026-11-30T09:10:00Z"}, "p_value": 3.1e-9, "volume": 75}, "rule": "channel_negative_share", "score": 8.5, "peak_observed": 0.56, "fired_window_start": "2026-11-30T09:05:00Z", "last_window_end": "2026-11-30T09:20:00Z", "cleared_at": null, "backfill": false, "silenced": false, "severity_pinned": false, "assignee_id": null, "resolution_notes": null, "created_by": null, "created_at": "2026-11-30T09:12:31Z", "updated_at": "2026-11-30T09:22:30Z", "acknowledged_at": null, "resolved_at": null}))]
pub struct Alert {
    pub id: Uuid,
    /// SENTIMENT_SPIKE, HIGH_VOLUME_NEGATIVE, TRENDING_TOPIC, CHANNEL_PERFORMANCE,
    /// CUSTOMER_CHURN_RISK or SYSTEM_ANOMALY.
    pub alert_type: String,
    /// LOW, MEDIUM, HIGH or CRITICAL.
    pub severity: String,
    /// OPEN, IN_PROGRESS, RESOLVED or DISMISSED.
    pub status: String,
    pub title: String,
    pub description: String,
    /// What the alert is about, e.g. `{"channel": "email"}` or `{"topic_id": "…"}`.
    #[schema(value_type = Object)]
    pub dimension: serde_json::Value,
    /// The incident's first breaching window (start, inclusive) …
    pub window_start: DateTime<Utc>,
    /// … to its last breaching window (end, exclusive).
    pub window_end: DateTime<Utc>,
    pub metric: String,
    pub observed: Option<f64>,
    /// What was expected (the baseline).
    pub baseline: Option<f64>,
    /// The test, volumes and what changed, as the detector recorded it.
    #[schema(value_type = Object)]
    pub evidence: serde_json::Value,
    /// The detector rule; null for alerts raised by hand.
    pub rule: Option<String>,
    /// `-log10(p)` of the window that fired.
    pub score: Option<f64>,
    pub peak_observed: Option<f64>,
    pub fired_window_start: Option<DateTime<Utc>>,
    /// End of the last window the detector evaluated for this incident.
    pub last_window_end: Option<DateTime<Utc>>,
    /// When the detector saw the condition clear (the status stays for people to set).
    pub cleared_at: Option<DateTime<Utc>>,
    /// Found behind real time (a backlog or replay): recorded, not notified.
    pub backfill: bool,
    /// Muted by a silence when last written: recorded, not notified.
    pub silenced: bool,
    /// The severity was set by a person; the detector keeps it.
    pub severity_pinned: bool,
    pub assignee_id: Option<Uuid>,
    pub resolution_notes: Option<String>,
    /// Who raised it by hand (null: a detector).
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When it first left OPEN.
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
}

pub(crate) const COLUMNS: &str = "id, alert_type, severity, status, title, description, dimension, window_start, \
     window_end, metric, observed, baseline, evidence, rule, score, peak_observed, fired_window_start, last_window_end, \
     cleared_at, backfill, silenced, severity_pinned, assignee_id, resolution_notes, created_by, created_at, updated_at, \
     acknowledged_at, resolved_at";

/// One entry of an alert's history.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(example = json!({"id": 412, "action": "STATUS_CHANGED", "old_status": "OPEN", "new_status": "IN_PROGRESS", "note": "Looking at the email provider", "changed_by": "0190f5c3-1a2b-7c3d-8e4f-5a6b7c8d9e0f", "changed_by_name": "Dana Ops", "changed_at": "2026-11-30T09:25:02Z"}))]
pub struct HistoryEntry {
    pub id: i64,
    /// CREATED, STATUS_CHANGED, ASSIGNED, COMMENTED, SEVERITY_CHANGED, CLEARED or REOPENED.
    pub action: String,
    pub old_status: Option<String>,
    pub new_status: Option<String>,
    /// The comment, resolution notes, or what changed.
    pub note: Option<String>,
    /// Null: the system (a detector).
    pub changed_by: Option<Uuid>,
    pub changed_by_name: Option<String>,
    pub changed_at: DateTime<Utc>,
}

/// An alert with its full history, oldest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"id": "8f0c1f3e-52b7-5d7a-a0d4-3c2f1e9b7a61", "alert_type": "SENTIMENT_SPIKE", "severity": "HIGH", "status": "IN_PROGRESS", "title": "Negative share up on channel email: 52 % against 21 % expected", "description": "Rule channel_negative_share fired in the window 2026-11-30 09:05:00 UTC – 2026-11-30 09:10:00 UTC.", "dimension": {"channel": "email"}, "window_start": "2026-11-30T09:00:00Z", "window_end": "2026-11-30T09:15:00Z", "metric": "channel_negative_share", "observed": 0.52, "baseline": 0.21, "evidence": {"p_value": 3.1e-9, "volume": 75}, "rule": "channel_negative_share", "score": 8.5, "peak_observed": 0.56, "fired_window_start": "2026-11-30T09:05:00Z", "last_window_end": "2026-11-30T09:20:00Z", "cleared_at": null, "backfill": false, "silenced": false, "severity_pinned": false, "assignee_id": "0190f5c3-1a2b-7c3d-8e4f-5a6b7c8d9e0f", "resolution_notes": null, "created_by": null, "created_at": "2026-11-30T09:12:31Z", "updated_at": "2026-11-30T09:25:02Z", "acknowledged_at": "2026-11-30T09:25:02Z", "resolved_at": null, "history": [{"id": 411, "action": "CREATED", "old_status": null, "new_status": "OPEN", "note": "Negative share up on channel email: 52 % against 21 % expected", "changed_by": null, "changed_by_name": null, "changed_at": "2026-11-30T09:12:31Z"}, {"id": 412, "action": "STATUS_CHANGED", "old_status": "OPEN", "new_status": "IN_PROGRESS", "note": "Looking at the email provider", "changed_by": "0190f5c3-1a2b-7c3d-8e4f-5a6b7c8d9e0f", "changed_by_name": "Dana Ops", "changed_at": "2026-11-30T09:25:02Z"}]}))]
pub struct AlertDetail {
    #[serde(flatten)]
    pub alert: Alert,
    pub history: Vec<HistoryEntry>,
}

/// Filters of the alert list (all optional, combined with AND).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Alert type.
    pub alert_type: Option<String>,
    /// LOW, MEDIUM, HIGH or CRITICAL.
    pub severity: Option<String>,
    /// OPEN, IN_PROGRESS, RESOLVED or DISMISSED.
    pub status: Option<String>,
    /// Assigned to this user id, `me`, or `none` (unassigned).
    pub assignee: Option<String>,
    /// Alerts about this channel.
    pub channel: Option<String>,
    /// Alerts about this topic id.
    pub topic: Option<Uuid>,
    /// Raised by this rule.
    pub rule: Option<String>,
    /// Incidents whose windows end after this time.
    pub from: Option<DateTime<Utc>>,
    /// Incidents whose windows start before this time.
    pub to: Option<DateTime<Utc>>,
    /// Case-insensitive substring of title or description.
    pub q: Option<String>,
    /// Include alerts found behind real time (default true).
    pub include_backfill: Option<bool>,
    /// 1..=200, default 50.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of alerts, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"items": [{"id": "8f0c1f3e-52b7-5d7a-a0d4-3c2f1e9b7a61", "alert_type": "SENTIMENT_SPIKE", "severity": "HIGH", "status": "IN_PROGRESS", "title": "Negative share up on channel email: 52 % against 21 % expected", "description": "Rule channel_negative_share fired in the window 2026-11-30 09:05:00 UTC – 2026-11-30 09:10:00 UTC.", "dimension": {"channel": "email"}, "window_start": "2026-11-30T09:00:00Z", "window_end": "2026-11-30T09:15:00Z", "metric": "channel_negative_share", "observed": 0.52, "baseline": 0.21, "evidence": {"p_value": 3.1e-9, "volume": 75}, "rule": "channel_negative_share", "score": 8.5, "peak_observed": 0.56, "fired_window_start": "2026-11-30T09:05:00Z", "last_window_end": "2026-11-30T09:20:00Z", "cleared_at": null, "backfill": false, "silenced": false, "severity_pinned": false, "assignee_id": "0190f5c3-1a2b-7c3d-8e4f-5a6b7c8d9e0f", "resolution_notes": null, "created_by": null, "created_at": "2026-11-30T09:12:31Z", "updated_at": "2026-11-30T09:25:02Z", "acknowledged_at": "2026-11-30T09:25:02Z", "resolved_at": null}], "next_cursor": "MTc2NDQ5Mzk1MTAwMDAwMHw4ZjBjMWYzZS01MmI3LTVkN2EtYTBkNC0zYzJmMWU5YjdhNjE"}))]
pub struct AlertPage {
    pub items: Vec<Alert>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Largest page.
pub const PAGE_MAX: u32 = 200;

/// What `assignee` may be: `me`, `none` or a hyphenated user id.
pub const ASSIGNEE_PATTERN: &str =
    "^(me|none|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$";

fn encode_cursor(a: &Alert) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}|{}", a.created_at.timestamp_micros(), a.id))
}

fn decode_cursor(c: &str) -> Result<(DateTime<Utc>, Uuid), ApiError> {
    let bad = || ApiError::invalid("cursor", "not a cursor from this API");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(c).map_err(|_| bad())?;
    let s = String::from_utf8(raw).map_err(|_| bad())?;
    let (us, id) = s.split_once('|').ok_or_else(bad)?;
    let at = DateTime::from_timestamp_micros(us.parse().map_err(|_| bad())?).ok_or_else(bad)?;
    Ok((at, id.parse().map_err(|_| bad())?))
}

/// Checks `value` against a fixed set of wire names; every problem is collected.
pub(crate) fn one_of(
    errors: &mut Vec<(String, String)>,
    field: &str,
    value: Option<&str>,
    names: &[&'static str],
) -> Option<String> {
    let v = value?;
    if names.contains(&v) {
        Some(v.to_owned())
    } else {
        errors.push((field.to_owned(), format!("one of {}", names.join(", "))));
        None
    }
}

pub(crate) fn type_names() -> Vec<&'static str> {
    AlertType::ALL.iter().map(|t| t.as_str()).collect()
}
pub(crate) fn severity_names() -> Vec<&'static str> {
    AlertSeverity::ALL.iter().map(|s| s.as_str()).collect()
}
pub(crate) fn status_names() -> Vec<&'static str> {
    AlertStatus::ALL.iter().map(|s| s.as_str()).collect()
}
pub(crate) fn channel_names() -> Vec<&'static str> {
    Channel::ALL.iter().map(|c| c.as_str()).collect()
}

/// `GET /v1/alerts`.
#[utoipa::path(
    get,
    path = "/v1/alerts",
    tag = "alerts",
    summary = "List alerts",
    description = "Every filter is optional and combined with AND. Newest first; keyset pages stay stable while new alerts arrive.",
    params(ListQuery),
    responses((status = 200, body = AlertPage), (status = 400, response = crate::openapi::BadRequest)),
    extensions(("x-rtcx-permission" = json!("read_analytics")))
)]
pub async fn list(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<AlertPage>, ApiError> {
    user.require(Permission::ReadAnalytics)?;
    let Query(mut q) = query?;
    // An empty value is no filter (forms send them); `assignee` has a pattern instead.
    for v in [&mut q.cursor, &mut q.rule, &mut q.q] {
        if v.as_deref() == Some("") {
            *v = None;
        }
    }
    let mut errors = Vec::new();
    let alert_type = one_of(&mut errors, "alert_type", q.alert_type.as_deref(), &type_names());
    let severity = one_of(&mut errors, "severity", q.severity.as_deref(), &severity_names());
    let status = one_of(&mut errors, "status", q.status.as_deref(), &status_names());
    let channel = one_of(&mut errors, "channel", q.channel.as_deref(), &channel_names());
    // assignee: a user id, `me` or `none`.
    let (assignee, unassigned) = match q.assignee.as_deref() {
        None => (None, false),
        Some("none") => (None, true),
        Some("me") => (Some(user.id), false),
        Some(other) => match other.parse::<Uuid>() {
            // The hyphenated form only, as the document's pattern says.
            Ok(id) if other.len() == 36 => (Some(id), false),
            _ => {
                errors.push(("assignee".to_owned(), "a user id, `me` or `none`".to_owned()));
                (None, false)
            }
        },
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=PAGE_MAX).contains(&limit) {
        errors.push(("limit".to_owned(), format!("1..={PAGE_MAX}")));
    }
    let cursor = match q.cursor.as_deref().map(decode_cursor).transpose() {
        Ok(c) => c,
        Err(ApiError::Validation(mut e)) => {
            errors.append(&mut e);
            None
        }
        Err(e) => return Err(e),
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let mut items: Vec<Alert> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM alerts
         WHERE ($1::text IS NULL OR alert_type = $1) AND ($2::text IS NULL OR severity = $2)
           AND ($3::text IS NULL OR status = $3) AND ($4::uuid IS NULL OR assignee_id = $4)
           AND (NOT $5 OR assignee_id IS NULL) AND ($6::text IS NULL OR dimension->>'channel' = $6)
           AND ($7::text IS NULL OR dimension->>'topic_id' = $7) AND ($8::text IS NULL OR rule = $8)
           AND ($9::timestamptz IS NULL OR window_end > $9) AND ($10::timestamptz IS NULL OR window_start < $10)
           AND ($11::text IS NULL OR title ILIKE $11 OR description ILIKE $11)
           AND ($12 OR NOT backfill)
           AND ($13::timestamptz IS NULL OR (created_at, id) < ($13, $14))
         ORDER BY created_at DESC, id DESC
         LIMIT $15"
    ))
    .bind(alert_type)
    .bind(severity)
    .bind(status)
    .bind(assignee)
    .bind(unassigned)
    .bind(channel)
    .bind(q.topic.map(|t| t.to_string()))
    .bind(q.rule)
    .bind(q.from)
    .bind(q.to)
    .bind(q.q.as_deref().map(crate::sql::contains_pattern))
    .bind(q.include_backfill.unwrap_or(true))
    .bind(cursor.map(|c| c.0))
    .bind(cursor.map(|c| c.1))
    .bind(i64::from(limit) + 1)
    .fetch_all(&app.pg)
    .await?;
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(encode_cursor)
    } else {
        None
    };
    Ok(Json(AlertPage { items, next_cursor }))
}

/// `GET /v1/alerts/{id}`.
#[utoipa::path(
    get,
    path = "/v1/alerts/{id}",
    tag = "alerts",
    summary = "One alert with its evidence and full history",
    params(("id" = Uuid, Path, description = "Alert id")),
    responses((status = 200, body = AlertDetail), (status = 404, response = crate::openapi::NotFound)),
    extensions(("x-rtcx-permission" = json!("read_analytics")))
)]
pub async fn get(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<AlertDetail>, ApiError> {
    user.require(Permission::ReadAnalytics)?;
    detail(&app, id).await.map(Json)
}

/// One alert by id.
pub(crate) async fn one(app: &AppState, id: Uuid) -> Result<Alert, ApiError> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM alerts WHERE id = $1"))
        .bind(id)
        .fetch_optional(&app.pg)
        .await?
        .ok_or(ApiError::NotFound("alert"))
}

/// History entries with the name of who made them (a `WHERE` follows).
pub(crate) const HISTORY: &str = "SELECT h.id, h.action, h.old_status, h.new_status, h.note, h.changed_by, \
     u.display_name AS changed_by_name, h.changed_at FROM alert_history h LEFT JOIN users u ON u.id = h.changed_by";

/// One alert and its history.
pub(crate) async fn detail(app: &AppState, id: Uuid) -> Result<AlertDetail, ApiError> {
    let alert = one(app, id).await?;
    let history = sqlx::query_as(&format!("{HISTORY} WHERE h.alert_id = $1 ORDER BY h.changed_at, h.id"))
        .bind(id)
        .fetch_all(&app.pg)
        .await?;
    Ok(AlertDetail { alert, history })
}

/// Counts of alerts.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z", "total": 42, "by_status": {"OPEN": 5, "IN_PROGRESS": 2, "RESOLVED": 30, "DISMISSED": 5}, "by_type": {"SENTIMENT_SPIKE": 12, "HIGH_VOLUME_NEGATIVE": 8, "TRENDING_TOPIC": 15, "CHANNEL_PERFORMANCE": 4, "CUSTOMER_CHURN_RISK": 0, "SYSTEM_ANOMALY": 3}, "by_severity": {"LOW": 10, "MEDIUM": 20, "HIGH": 10, "CRITICAL": 2}, "open_by_age": {"under_1h": 1, "1h_to_24h": 3, "1d_to_7d": 2, "over_7d": 1}, "mean_time_to_acknowledge_secs": 1260.5, "mean_time_to_resolve_secs": 14400.0, "backfill": 3}))]
pub struct AlertStats {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Alerts raised in the period.
    pub total: i64,
    /// Of those, per status (every status listed).
    pub by_status: std::collections::BTreeMap<String, i64>,
    /// Per type (every type listed).
    pub by_type: std::collections::BTreeMap<String, i64>,
    /// Per severity (every severity listed).
    pub by_severity: std::collections::BTreeMap<String, i64>,
    /// Alerts open or in progress now (whenever raised), by age.
    pub open_by_age: std::collections::BTreeMap<String, i64>,
    /// Mean time from raising to first leaving OPEN, of the period's alerts that did.
    pub mean_time_to_acknowledge_secs: Option<f64>,
    /// Mean time from raising to RESOLVED, of the period's resolved alerts.
    pub mean_time_to_resolve_secs: Option<f64>,
    /// Of the period's alerts, those found behind real time.
    pub backfill: i64,
}

/// `GET /v1/alerts/stats`.
#[utoipa::path(
    get,
    path = "/v1/alerts/stats",
    tag = "alerts",
    summary = "Alert statistics",
    description = "Counts by status, type and severity of the alerts raised in the period (default: the last 30 days), open alerts by age, mean times to acknowledge and to resolve.",
    params(crate::range::RangeQuery),
    responses((status = 200, body = AlertStats), (status = 400, response = crate::openapi::BadRequest)),
    extensions(("x-rtcx-permission" = json!("read_analytics")))
)]
pub async fn stats(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    query: Result<Query<crate::range::RangeQuery>, QueryRejection>,
) -> Result<Json<AlertStats>, ApiError> {
    user.require(Permission::ReadAnalytics)?;
    let Query(q) = query?;
    let r = crate::range::TimeRange::resolve(&q, Utc::now())?;
    let grouped: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
        "SELECT status, alert_type, severity, count(*), count(*) FILTER (WHERE backfill)
         FROM alerts WHERE created_at >= $1 AND created_at < $2 GROUP BY 1, 2, 3",
    )
    .bind(r.from)
    .bind(r.to)
    .fetch_all(&app.pg)
    .await?;
    let zeroed = |names: Vec<&'static str>| names.into_iter().map(|n| (n.to_owned(), 0i64)).collect();
    let mut stats = AlertStats {
        from: r.from,
        to: r.to,
        total: 0,
        by_status: zeroed(status_names()),
        by_type: zeroed(type_names()),
        by_severity: zeroed(severity_names()),
        open_by_age: zeroed(AGE_BUCKETS.iter().map(|b| b.0).collect()),
        mean_time_to_acknowledge_secs: None,
        mean_time_to_resolve_secs: None,
        backfill: 0,
    };
    for (status, alert_type, severity, n, backfill) in grouped {
        stats.total += n;
        stats.backfill += backfill;
        *stats.by_status.entry(status).or_default() += n;
        *stats.by_type.entry(alert_type).or_default() += n;
        *stats.by_severity.entry(severity).or_default() += n;
    }
    let (mtta, mttr): (Option<f64>, Option<f64>) = sqlx::query_as(
        "SELECT avg(extract(epoch FROM acknowledged_at - created_at))::float8,
                avg(extract(epoch FROM resolved_at - created_at)) FILTER (WHERE status = 'RESOLVED')::float8
         FROM alerts WHERE created_at >= $1 AND created_at < $2",
    )
    .bind(r.from)
    .bind(r.to)
    .fetch_one(&app.pg)
    .await?;
    stats.mean_time_to_acknowledge_secs = mtta;
    stats.mean_time_to_resolve_secs = mttr;
    let ages: Vec<(String, i64)> = sqlx::query_as(
        "SELECT CASE WHEN age < interval '1 hour' THEN 'under_1h' WHEN age < interval '1 day' THEN '1h_to_24h'
                     WHEN age < interval '7 days' THEN '1d_to_7d' ELSE 'over_7d' END, count(*)
         FROM (SELECT now() - created_at AS age FROM alerts WHERE status IN ('OPEN', 'IN_PROGRESS')) a GROUP BY 1",
    )
    .fetch_all(&app.pg)
    .await?;
    for (bucket, n) in ages {
        stats.open_by_age.insert(bucket, n);
    }
    Ok(Json(stats))
}

/// The age buckets of open alerts, youngest first.
pub const AGE_BUCKETS: [(&str, &str); 4] =
    [("under_1h", "< 1 h"), ("1h_to_24h", "1–24 h"), ("1d_to_7d", "1–7 days"), ("over_7d", "> 7 days")];

/// Longest alert title (characters).
pub const TITLE_MAX: usize = 200;
/// Longest description, comment or note (characters).
pub const TEXT_MAX: usize = 4000;

/// What an alert raised by hand is about.
#[derive(Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManualDimension {
    /// web, mobile_app, email, chat, social, survey or call_center.
    pub channel: Option<String>,
    pub topic_id: Option<Uuid>,
    /// A customer (e.g. for CUSTOMER_CHURN_RISK).
    #[schema(max_length = 256)]
    pub customer_id: Option<String>,
}

/// An alert raised by hand.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"alert_type": "CHANNEL_PERFORMANCE", "severity": "HIGH", "title": "Chat widget down on the mobile app", "description": "Reported by the support team lead", "dimension": {"channel": "chat"}}))]
pub struct NewAlert {
    #[schema(value_type = crate::openapi::AlertTypeName)]
    pub alert_type: AlertType,
    /// LOW, MEDIUM, HIGH or CRITICAL.
    #[schema(value_type = crate::openapi::SeverityName)]
    pub severity: AlertSeverity,
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub dimension: ManualDimension,
    /// When the problem was seen (default: now).
    pub observed_at: Option<DateTime<Utc>>,
}

/// `POST /v1/alerts`: raise an alert by hand (with a CREATED history entry and an
/// `alert_raised` event for the live updates).
#[utoipa::path(
    post,
    path = "/v1/alerts",
    tag = "alerts",
    summary = "Raise an alert by hand",
    request_body = NewAlert,
    responses((status = 201, body = Alert), (status = 400, response = crate::openapi::BadRequest)),
    extensions(("x-rtcx-permission" = json!("manage_alerts")))
)]
pub async fn create(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    body: Result<Json<NewAlert>, JsonRejection>,
) -> Result<(StatusCode, Json<Alert>), ApiError> {
    user.require(Permission::ManageAlerts)?;
    let Json(a) = body?;
    let mut errors = Vec::new();
    if !crate::text_input::name_ok(&a.title, TITLE_MAX) {
        errors.push(("title".to_owned(), format!("must have 1..={TITLE_MAX} characters, something visible")));
    }
    if a.description.chars().count() > TEXT_MAX {
        errors.push(("description".to_owned(), format!("at most {TEXT_MAX} characters")));
    }
    let channel = one_of(&mut errors, "dimension.channel", a.dimension.channel.as_deref(), &channel_names());
    if a.dimension.customer_id.as_ref().is_some_and(|c| !crate::text_input::name_ok(c, 256)) {
        errors.push(("dimension.customer_id".to_owned(), "1..=256 characters, something visible".to_owned()));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let mut dimension = std::collections::BTreeMap::new();
    if let Some(c) = channel {
        dimension.insert("channel".to_owned(), c);
    }
    if let Some(t) = a.dimension.topic_id {
        dimension.insert("topic_id".to_owned(), t.to_string());
    }
    if let Some(c) = &a.dimension.customer_id {
        dimension.insert("customer_id".to_owned(), c.trim().to_owned());
    }
    let now = Utc::now();
    let at = a.observed_at.unwrap_or(now);
    let event = rtcx_schemas::AlertEvent {
        id: Uuid::now_v7(),
        alert_type: a.alert_type,
        severity: a.severity,
        title: a.title.trim().to_owned(),
        description: a.description.trim().to_owned(),
        dimension,
        window_start: at,
        window_end: at + chrono::Duration::seconds(1),
        metric: "manual".to_owned(),
        observed: 0.0,
        baseline: 0.0,
        evidence: serde_json::json!({"raised_by": user.id}),
        created_at: now,
        change: rtcx_schemas::AlertChange::Raised,
        rule: None,
        score: None,
        backfill: false,
        silenced: false,
        workflow: Some(rtcx_schemas::WorkflowChange {
            by: user.id,
            status: AlertStatus::Open,
            assignee_id: None,
            note: None,
        }),
    };
    let mut tx = app.pg.begin().await?;
    sqlx::query(
        "INSERT INTO alerts (id, alert_type, severity, title, description, dimension, window_start, window_end, metric,
                             evidence, created_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
    )
    .bind(event.id)
    .bind(event.alert_type.as_str())
    .bind(event.severity.as_str())
    .bind(&event.title)
    .bind(&event.description)
    .bind(serde_json::to_value(&event.dimension).unwrap_or_default())
    .bind(event.window_start)
    .bind(event.window_end)
    .bind(&event.metric)
    .bind(&event.evidence)
    .bind(user.id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    workflow::record(&mut tx, event.id, Some(user.id), "CREATED", None, Some("OPEN"), Some(&event.title)).await?;
    workflow::publish(&mut tx, &event).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(one(&app, event.id).await?)))
}
