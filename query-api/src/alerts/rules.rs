//! `/v1/alert-rules`: the rules the processors' evaluator runs (Postgres `alert_rules`, read at
//! every tick: changes apply without a restart) and their **preview** over history.
//!
//! A rule runs the detector of a built-in rule (`detector`) under its own name with optional
//! overrides; built-in rules may be changed or disabled, not deleted. A preview runs a stored
//! or proposed rule with the code of the live evaluator (`rtcx_detect`) over the ClickHouse
//! minute rollups of a past range and answers the alerts it would have raised; nothing is
//! stored.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use rtcx_detect::backtest::run_catalogue;
use rtcx_detect::churn;
use rtcx_detect::detectors::Sensitivity;
use rtcx_detect::rules::{DEFAULT_RULES, Scope};
use rtcx_detect::settings::{ConfiguredRule, RuleSettings, detector, min_volume};
use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{AuthUser, Permission};
use crate::error::ApiError;
use crate::range::{RangeQuery, TimeRange};

/// How readily a rule fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RuleSensitivity {
    Low,
    Medium,
    High,
}

impl RuleSensitivity {
    fn detect(self) -> Sensitivity {
        match self {
            RuleSensitivity::Low => Sensitivity::Low,
            RuleSensitivity::Medium => Sensitivity::Medium,
            RuleSensitivity::High => Sensitivity::High,
        }
    }
    fn from_detect(s: Sensitivity) -> Self {
        match s {
            Sensitivity::Low => RuleSensitivity::Low,
            Sensitivity::Medium => RuleSensitivity::Medium,
            Sensitivity::High => RuleSensitivity::High,
        }
    }
}

/// What a rule runs with once its defaults are filled in.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Effective {
    pub sensitivity: RuleSensitivity,
    pub min_volume: u64,
    pub pending_windows: u32,
}

/// A rule.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"name": "email_negative_share", "detector": "channel_negative_share", "builtin": false, "alert_type": "SENTIMENT_SPIKE", "scope": "channel", "enabled": true, "sensitivity": "high", "min_volume": 30, "pending_windows": null, "channels": ["email"], "topic_ids": [], "description": "E-mail complaints, stricter", "effective": {"sensitivity": "high", "min_volume": 30, "pending_windows": 2}, "created_at": "2026-11-30T08:00:00Z", "updated_at": "2026-11-30T08:00:00Z", "updated_by": null}))]
pub struct AlertRule {
    pub name: String,
    /// The built-in rule whose detector this runs.
    pub detector: String,
    /// Shipped with rtcx: may be changed or disabled, not deleted.
    pub builtin: bool,
    pub alert_type: String,
    /// global, channel or topic: which series the detector watches.
    pub scope: String,
    pub enabled: bool,
    /// Null: the evaluator's default (`RTCX_ALERT_SENSITIVITY`).
    pub sensitivity: Option<RuleSensitivity>,
    /// Null: the detector's default.
    pub min_volume: Option<u64>,
    /// Null: the sensitivity's.
    pub pending_windows: Option<u32>,
    /// Only these channels (empty: all).
    pub channels: Vec<String>,
    /// Only these topics (empty: all).
    pub topic_ids: Vec<Uuid>,
    pub description: String,
    pub effective: Effective,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<Uuid>,
}

#[derive(sqlx::FromRow)]
struct Row {
    name: String,
    detector: String,
    builtin: bool,
    enabled: bool,
    sensitivity: Option<String>,
    min_volume: Option<i64>,
    pending_windows: Option<i32>,
    channels: Vec<String>,
    topic_ids: Vec<Uuid>,
    description: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    updated_by: Option<Uuid>,
}

const COLUMNS: &str = "name, detector, builtin, enabled, sensitivity, min_volume, pending_windows, channels, topic_ids, \
     description, created_at, updated_at, updated_by";

impl Row {
    fn settings(&self) -> RuleSettings {
        RuleSettings {
            name: self.name.clone(),
            detector: self.detector.clone(),
            enabled: self.enabled,
            sensitivity: self.sensitivity.as_deref().and_then(Sensitivity::from_wire),
            min_volume: self.min_volume.and_then(|v| u64::try_from(v).ok()),
            pending_windows: self.pending_windows.and_then(|v| u32::try_from(v).ok()),
            channels: self.channels.clone(),
            topic_ids: self.topic_ids.iter().map(Uuid::to_string).collect(),
        }
    }

    fn into_rule(self, default: Sensitivity) -> AlertRule {
        if self.detector == churn::RULE {
            return self.into_churn_rule(default);
        }
        let s = self.settings();
        let configured = ConfiguredRule::from_settings(&s, default);
        let base = detector(&self.detector).ok();
        let effective = match (&configured, base) {
            (Ok(c), _) => Effective {
                sensitivity: RuleSensitivity::from_detect(s.sensitivity.unwrap_or(default)),
                min_volume: min_volume(&c.rule),
                pending_windows: c.lifecycle.pending_windows,
            },
            (Err(_), _) => {
                Effective { sensitivity: RuleSensitivity::from_detect(default), min_volume: 0, pending_windows: 0 }
            }
        };
        let alert_type = base.map(|b| b.alert_type.as_str()).unwrap_or_default();
        let scope = base.map(|b| scope_name(b.scope)).unwrap_or_default();
        self.into_answer(&s, alert_type, scope, effective)
    }

    /// The churn rule: per customer, not a time series (`rtcx_detect::churn`).
    fn into_churn_rule(self, default: Sensitivity) -> AlertRule {
        let s = self.settings();
        let effective = Effective {
            sensitivity: RuleSensitivity::from_detect(s.sensitivity.unwrap_or(default)),
            min_volume: s.min_volume.unwrap_or(churn::ChurnParams::default().min_signals),
            pending_windows: 1,
        };
        self.into_answer(&s, rtcx_schemas::AlertType::CustomerChurnRisk.as_str(), "customer", effective)
    }

    fn into_answer(self, s: &RuleSettings, alert_type: &str, scope: &str, effective: Effective) -> AlertRule {
        AlertRule {
            alert_type: alert_type.to_owned(),
            scope: scope.to_owned(),
            name: self.name,
            detector: self.detector,
            builtin: self.builtin,
            enabled: self.enabled,
            sensitivity: s.sensitivity.map(RuleSensitivity::from_detect),
            min_volume: s.min_volume,
            pending_windows: s.pending_windows,
            channels: self.channels,
            topic_ids: self.topic_ids,
            description: self.description,
            effective,
            created_at: self.created_at,
            updated_at: self.updated_at,
            updated_by: self.updated_by,
        }
    }
}

fn scope_name(s: Scope) -> &'static str {
    match s {
        Scope::Global => "global",
        Scope::Channel => "channel",
        Scope::Topic => "topic",
    }
}

/// The names of the built-in detectors (what `detector` may name).
pub fn detector_names() -> Vec<&'static str> {
    DEFAULT_RULES.iter().map(|r| r.name).collect()
}

/// Pattern of rule names.
pub const NAME_PATTERN: &str = "^[a-z][a-z0-9_]{0,62}$";
/// Longest rule description.
pub const DESCRIPTION_MAX: usize = 500;
/// Most topics a rule may be limited to.
pub const TOPICS_MAX: usize = 100;

pub(crate) fn name_ok(n: &str) -> bool {
    let mut chars = n.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && n.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// A rule to create or preview.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "email_negative_share", "detector": "channel_negative_share", "sensitivity": "high", "min_volume": 30, "channels": ["email"], "description": "E-mail complaints, stricter"}))]
pub struct RuleDraft {
    /// Lower-case letters, digits and `_`, starting with a letter (a preview uses it as a label only).
    #[schema(pattern = "^[a-z][a-z0-9_]{0,62}$")]
    pub name: String,
    /// The built-in rule whose detector to run.
    pub detector: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub sensitivity: Option<RuleSensitivity>,
    #[serde(default, deserialize_with = "crate::whole_number::optional")]
    #[schema(minimum = 1, maximum = 1000000)]
    pub min_volume: Option<u64>,
    #[serde(default, deserialize_with = "crate::whole_number::optional")]
    #[schema(minimum = 1, maximum = 12)]
    pub pending_windows: Option<u32>,
    #[serde(default)]
    #[schema(max_items = 7)]
    pub channels: Vec<String>,
    #[serde(default)]
    #[schema(max_items = 100)]
    pub topic_ids: Vec<Uuid>,
    #[serde(default)]
    #[schema(max_length = 500)]
    pub description: String,
}

fn yes() -> bool {
    true
}

/// Changes to a rule: absent fields stay; `null` resets an override to its default.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"enabled": false}))]
pub struct RulePatch {
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<RuleSensitivity>)]
    pub sensitivity: Option<Option<RuleSensitivity>>,
    #[serde(default, deserialize_with = "crate::whole_number::nullable")]
    #[schema(value_type = Option<u64>, minimum = 1, maximum = 1000000)]
    pub min_volume: Option<Option<u64>>,
    #[serde(default, deserialize_with = "crate::whole_number::nullable")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 12)]
    pub pending_windows: Option<Option<u32>>,
    #[schema(max_items = 7)]
    pub channels: Option<Vec<String>>,
    #[schema(max_items = 100)]
    pub topic_ids: Option<Vec<Uuid>>,
    #[schema(max_length = 500)]
    pub description: Option<String>,
}

/// A present field, `null` included (absent fields take the `default`, `None`).
fn some<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Checks the parts shared by drafts and patches; every problem is collected.
fn check(
    errors: &mut Vec<(String, String)>,
    min_volume: Option<u64>,
    pending: Option<u32>,
    channels: Option<&[String]>,
    topics: Option<&[Uuid]>,
    description: Option<&str>,
) {
    if min_volume.is_some_and(|v| !(1..=1_000_000).contains(&v)) {
        errors.push(("min_volume".to_owned(), "1..=1000000".to_owned()));
    }
    if pending.is_some_and(|p| !(1..=12).contains(&p)) {
        errors.push(("pending_windows".to_owned(), "1..=12".to_owned()));
    }
    let known = super::channel_names();
    if channels.is_some_and(|c| c.len() > known.len() || c.iter().any(|c| !known.contains(&c.as_str()))) {
        errors.push(("channels".to_owned(), format!("at most {} of {}", known.len(), known.join(", "))));
    }
    if topics.is_some_and(|t| t.len() > TOPICS_MAX) {
        errors.push(("topic_ids".to_owned(), format!("at most {TOPICS_MAX} topics")));
    }
    if description.is_some_and(|d| d.chars().count() > DESCRIPTION_MAX) {
        errors.push(("description".to_owned(), format!("at most {DESCRIPTION_MAX} characters")));
    }
}

fn check_draft(d: &RuleDraft) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    if !name_ok(&d.name) {
        errors.push(("name".to_owned(), format!("must match {NAME_PATTERN}")));
    }
    if detector(&d.detector).is_err() {
        errors.push(("detector".to_owned(), format!("one of {}", detector_names().join(", "))));
    }
    check(&mut errors, d.min_volume, d.pending_windows, Some(&d.channels), Some(&d.topic_ids), Some(&d.description));
    if errors.is_empty() { Ok(()) } else { Err(ApiError::Validation(errors)) }
}

fn unique_sorted<T: Ord + Clone>(v: &[T]) -> Vec<T> {
    let mut out = v.to_vec();
    out.sort();
    out.dedup();
    out
}

/// `GET /v1/alert-rules`.
#[utoipa::path(
    get,
    path = "/v1/alert-rules",
    tag = "alert-rules",
    summary = "List alert rules",
    responses((status = 200, description = "By name", body = Vec<AlertRule>)),
    extensions(("x-rtcx-permission" = json!("read_analytics")))
)]
pub async fn list(State(app): State<Arc<AppState>>, user: AuthUser) -> Result<Json<Vec<AlertRule>>, ApiError> {
    user.require(Permission::ReadAnalytics)?;
    let rows: Vec<Row> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM alert_rules ORDER BY name")).fetch_all(&app.pg).await?;
    Ok(Json(rows.into_iter().map(|r| r.into_rule(app.alerts.sensitivity)).collect()))
}

async fn row(app: &AppState, name: &str) -> Result<Row, ApiError> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM alert_rules WHERE name = $1"))
        .bind(name)
        .fetch_optional(&app.pg)
        .await?
        .ok_or(ApiError::NotFound("alert rule"))
}

/// `GET /v1/alert-rules/{name}`.
#[utoipa::path(
    get,
    path = "/v1/alert-rules/{name}",
    tag = "alert-rules",
    summary = "One alert rule",
    params(("name" = String, Path, description = "Rule name")),
    responses((status = 200, body = AlertRule), (status = 404, response = crate::openapi::NotFound)),
    extensions(("x-rtcx-permission" = json!("read_analytics")))
)]
pub async fn get(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path(name): Path<String>,
) -> Result<Json<AlertRule>, ApiError> {
    user.require(Permission::ReadAnalytics)?;
    Ok(Json(row(&app, &name).await?.into_rule(app.alerts.sensitivity)))
}

/// `POST /v1/alert-rules`.
#[utoipa::path(
    post,
    path = "/v1/alert-rules",
    tag = "alert-rules",
    summary = "Create an alert rule",
    description = "The evaluator runs it from its next tick.",
    request_body = RuleDraft,
    responses((status = 201, body = AlertRule), (status = 400, response = crate::openapi::BadRequest), (status = 409, response = crate::openapi::Conflict)),
    extensions(("x-rtcx-permission" = json!("manage_alerts")))
)]
pub async fn create(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    body: Result<Json<RuleDraft>, JsonRejection>,
) -> Result<(StatusCode, Json<AlertRule>), ApiError> {
    user.require(Permission::ManageAlerts)?;
    let Json(d) = body?;
    check_draft(&d)?;
    let r: Row = sqlx::query_as(&format!(
        "INSERT INTO alert_rules (name, detector, enabled, sensitivity, min_volume, pending_windows, channels, topic_ids,
                                  description, updated_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {COLUMNS}"
    ))
    .bind(&d.name)
    .bind(&d.detector)
    .bind(d.enabled)
    .bind(d.sensitivity.map(|s| s.detect().as_str()))
    .bind(d.min_volume.map(|v| v as i64))
    .bind(d.pending_windows.map(|v| v as i32))
    .bind(unique_sorted(&d.channels))
    .bind(unique_sorted(&d.topic_ids))
    .bind(d.description.trim())
    .bind(user.id)
    .fetch_one(&app.pg)
    .await
    .map_err(ApiError::on_unique_violation("a rule with this name exists"))?;
    Ok((StatusCode::CREATED, Json(r.into_rule(app.alerts.sensitivity))))
}

/// `PATCH /v1/alert-rules/{name}`.
#[utoipa::path(
    patch,
    path = "/v1/alert-rules/{name}",
    tag = "alert-rules",
    summary = "Change, enable or disable an alert rule",
    description = "Absent fields stay; `null` resets `sensitivity`, `min_volume` or `pending_windows` to the default. The evaluator applies the change at its next tick.",
    params(("name" = String, Path, description = "Rule name")),
    request_body = RulePatch,
    responses((status = 200, body = AlertRule), (status = 400, response = crate::openapi::BadRequest), (status = 404, response = crate::openapi::NotFound)),
    extensions(("x-rtcx-permission" = json!("manage_alerts")))
)]
pub async fn update(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path(name): Path<String>,
    body: Result<Json<RulePatch>, JsonRejection>,
) -> Result<Json<AlertRule>, ApiError> {
    user.require(Permission::ManageAlerts)?;
    let Json(p) = body?;
    let mut errors = Vec::new();
    check(
        &mut errors,
        p.min_volume.flatten(),
        p.pending_windows.flatten(),
        p.channels.as_deref(),
        p.topic_ids.as_deref(),
        p.description.as_deref(),
    );
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let r: Option<Row> = sqlx::query_as(&format!(
        "UPDATE alert_rules SET enabled = COALESCE($2, enabled),
                sensitivity = CASE WHEN $3 THEN $4 ELSE sensitivity END,
                min_volume = CASE WHEN $5 THEN $6 ELSE min_volume END,
                pending_windows = CASE WHEN $7 THEN $8 ELSE pending_windows END,
                channels = COALESCE($9, channels), topic_ids = COALESCE($10, topic_ids),
                description = COALESCE($11, description), updated_at = now(), updated_by = $12
         WHERE name = $1 RETURNING {COLUMNS}"
    ))
    .bind(&name)
    .bind(p.enabled)
    .bind(p.sensitivity.is_some())
    .bind(p.sensitivity.flatten().map(|s| s.detect().as_str()))
    .bind(p.min_volume.is_some())
    .bind(p.min_volume.flatten().map(|v| v as i64))
    .bind(p.pending_windows.is_some())
    .bind(p.pending_windows.flatten().map(|v| v as i32))
    .bind(p.channels.as_deref().map(unique_sorted))
    .bind(p.topic_ids.as_deref().map(unique_sorted))
    .bind(p.description.as_deref().map(str::trim))
    .bind(user.id)
    .fetch_optional(&app.pg)
    .await?;
    r.map(|r| Json(r.into_rule(app.alerts.sensitivity))).ok_or(ApiError::NotFound("alert rule"))
}

/// `DELETE /v1/alert-rules/{name}`.
#[utoipa::path(
    delete,
    path = "/v1/alert-rules/{name}",
    tag = "alert-rules",
    summary = "Delete an alert rule",
    description = "Built-in rules cannot be deleted (409): disable them instead. Alerts the rule raised stay.",
    params(("name" = String, Path, description = "Rule name")),
    responses((status = 204, description = "Deleted"), (status = 404, response = crate::openapi::NotFound), (status = 409, response = crate::openapi::Conflict)),
    extensions(("x-rtcx-permission" = json!("manage_alerts")))
)]
pub async fn delete(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    user.require(Permission::ManageAlerts)?;
    if row(&app, &name).await?.builtin {
        return Err(ApiError::Conflict("built-in rules cannot be deleted; disable them instead"));
    }
    sqlx::query("DELETE FROM alert_rules WHERE name = $1 AND NOT builtin").bind(&name).execute(&app.pg).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An alert a preview would have raised.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PreviewAlert {
    pub alert_type: String,
    pub severity: String,
    pub title: String,
    pub dimension: BTreeMap<String, String>,
    /// The incident's first breaching window (start) …
    pub window_start: DateTime<Utc>,
    /// … to its last breaching window (end).
    pub window_end: DateTime<Utc>,
    /// The window it fired in.
    pub fired_window_start: DateTime<Utc>,
    pub observed: f64,
    pub expected: f64,
    /// `-log10(p)` of the firing window.
    pub score: f64,
    pub p_value: f64,
    pub peak_observed: f64,
    /// When the condition cleared (null: still breaching at the end of the range).
    pub cleared_at: Option<DateTime<Utc>>,
}

/// What a rule would have raised over a past range.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"rule": "email_negative_share", "from": "2026-11-23T10:00:00Z", "to": "2026-11-30T10:00:00Z", "history_from": "2026-11-15T10:00:00Z", "window_secs": 300, "series": 7, "alerts": [{"alert_type": "SENTIMENT_SPIKE", "severity": "HIGH", "title": "Negative share up on channel email: 52 % against 21 % expected", "dimension": {"channel": "email"}, "window_start": "2026-11-27T09:00:00Z", "window_end": "2026-11-27T09:45:00Z", "fired_window_start": "2026-11-27T09:05:00Z", "observed": 0.52, "expected": 0.21, "score": 8.5, "p_value": 3.1e-9, "peak_observed": 0.56, "cleared_at": "2026-11-27T09:55:00Z"}], "seconds": 0.41}))]
pub struct Preview {
    pub rule: String,
    /// Start of the range previewed (at most 40 days minus the baselines' history before `to`).
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Where the baselines' history starts.
    pub history_from: DateTime<Utc>,
    pub window_secs: u64,
    /// Series the rule's detector watched.
    pub series: usize,
    pub alerts: Vec<PreviewAlert>,
    /// Time the preview took.
    pub seconds: f64,
}

/// Longest history (range and baselines together) a preview reads: the minute rollups keep 35
/// days, and `rtcx_detect::history::load` reads at most 40 (after aligning both ends to
/// windows, hence the two windows of margin below).
pub const PREVIEW_HISTORY_MAX_DAYS: i64 = 40;

async fn preview(app: &AppState, rule: ConfiguredRule, range: &RangeQuery) -> Result<Preview, ApiError> {
    let started = std::time::Instant::now();
    let r = TimeRange::resolve(range, Utc::now())?;
    let to = r.to;
    let window_secs = app.alerts.window_secs;
    let longest =
        Duration::days(PREVIEW_HISTORY_MAX_DAYS - app.alerts.history_days) - Duration::seconds(2 * window_secs as i64);
    let from = r.from.max(to - longest);
    let history_from = from - Duration::days(app.alerts.history_days);
    let history = rtcx_detect::history::load(&app.ch, history_from, to, window_secs).await.map_err(|e| match e {
        rtcx_detect::history::HistoryError::ClickHouse(c) => ApiError::from(c),
        other => ApiError::Internal(other.to_string()),
    })?;
    let first = ((from - history.start).num_seconds().max(0) as u64).div_ceil(window_secs) as usize;
    let series = history.series(rule.rule.scope).iter().filter(|(d, _)| rule.watches(d)).count();
    let name = rule.name.clone();
    // The detectors are CPU work: off the async threads.
    let alerts = tokio::task::spawn_blocking(move || {
        run_catalogue(&history, std::slice::from_ref(&rule), first)
            .into_iter()
            .map(|a| {
                let inc = &a.alert.incident;
                let fire = &inc.at_fire;
                PreviewAlert {
                    alert_type: a.rule.alert_type().as_str().to_owned(),
                    severity: a.alert.severity.as_str().to_owned(),
                    title: a.rule.rule.title(&a.dimension, fire.observed, fire.expected),
                    window_start: history.window_start(inc.first_window),
                    window_end: history.window_start(inc.last_breach_window + 1),
                    fired_window_start: history.window_start(inc.fired_window),
                    observed: fire.observed,
                    expected: fire.expected,
                    score: fire.score,
                    p_value: fire.p_value,
                    peak_observed: inc.peak.observed,
                    cleared_at: inc.resolved_window.map(|w| history.window_start(w + 1)),
                    dimension: a.dimension,
                }
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Preview {
        rule: name,
        from,
        to,
        history_from,
        window_secs,
        series,
        alerts,
        seconds: (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
    })
}

/// `GET /v1/alert-rules/{name}/preview`.
#[utoipa::path(
    get,
    path = "/v1/alert-rules/{name}/preview",
    tag = "alert-rules",
    summary = "Preview a stored rule over history",
    description = "Runs the rule (enabled or not) with the live evaluator's code over the minute rollups of the range (default 7 days; at most 40 days minus the baselines' history, `RTCX_ALERT_HISTORY_DAYS` (8), before `to`) and answers the alerts it would have raised. Nothing is stored. The churn rule (`customer_churn`, per customer) has no preview: 409.",
    params(("name" = String, Path, description = "Rule name"), RangeQuery),
    responses((status = 200, body = Preview), (status = 400, response = crate::openapi::BadRequest), (status = 404, response = crate::openapi::NotFound), (status = 409, response = crate::openapi::Conflict)),
    extensions(("x-rtcx-permission" = json!("manage_alerts")))
)]
pub async fn preview_stored(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path(name): Path<String>,
    query: Result<Query<RangeQuery>, QueryRejection>,
) -> Result<Json<Preview>, ApiError> {
    user.require(Permission::ManageAlerts)?;
    let Query(range) = query?;
    let r = row(&app, &name).await?;
    if r.detector == churn::RULE {
        return Err(ApiError::Conflict("the churn rule counts per customer, not a time series: it has no preview"));
    }
    let rule = ConfiguredRule::from_settings(&r.settings(), app.alerts.sensitivity)
        .map_err(|e| ApiError::Internal(format!("stored rule {name}: {e}")))?;
    preview(&app, rule, &with_default_range(range)).await.map(Json)
}

/// `POST /v1/alert-rules/preview`.
#[utoipa::path(
    post,
    path = "/v1/alert-rules/preview",
    tag = "alert-rules",
    summary = "Preview a proposed rule over history",
    description = "Like the stored rule's preview, for a rule not saved yet (its `enabled` is ignored). Nothing is stored.",
    params(RangeQuery),
    request_body = RuleDraft,
    responses((status = 200, body = Preview), (status = 400, response = crate::openapi::BadRequest)),
    extensions(("x-rtcx-permission" = json!("manage_alerts")))
)]
pub async fn preview_draft(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    query: Result<Query<RangeQuery>, QueryRejection>,
    body: Result<Json<RuleDraft>, JsonRejection>,
) -> Result<Json<Preview>, ApiError> {
    user.require(Permission::ManageAlerts)?;
    let Query(range) = query?;
    let Json(d) = body?;
    check_draft(&d)?;
    let settings = RuleSettings {
        name: d.name,
        detector: d.detector,
        enabled: true,
        sensitivity: d.sensitivity.map(RuleSensitivity::detect),
        min_volume: d.min_volume,
        pending_windows: d.pending_windows,
        channels: d.channels,
        topic_ids: d.topic_ids.iter().map(Uuid::to_string).collect(),
    };
    let rule = ConfiguredRule::from_settings(&settings, app.alerts.sensitivity)
        .map_err(|e| ApiError::invalid("detector", e.to_string()))?;
    preview(&app, rule, &with_default_range(range)).await.map(Json)
}

/// The last 7 days when no range is given.
fn with_default_range(mut r: RangeQuery) -> RangeQuery {
    if r.range.is_none() && r.from.is_none() && r.to.is_none() {
        r.range = Some("7d".to_owned());
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_names_follow_the_pattern() {
        for n in ["a", "email_share_2", "x".repeat(63).as_str()] {
            assert!(name_ok(n), "{n}");
        }
        for n in ["", "2fast", "Email", "a-b", "é", "x".repeat(64).as_str()] {
            assert!(!name_ok(n), "{n}");
        }
        for r in DEFAULT_RULES {
            assert!(name_ok(r.name), "{}", r.name);
        }
    }
}
