//! `/v1/alert-silences`: mute matching alerts for a while (Postgres `alert_silences`, read by
//! the evaluator at every tick). Muted alerts are still detected and recorded, flagged
//! `silenced`, and not notified — Alertmanager's semantics. Deleting a silence expires it.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use rtcx_schemas::AlertType;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{AuthUser, Permission};
use crate::error::ApiError;

/// Which alerts a silence mutes: those matching every key given (at least one).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct Matcher {
    /// A rule name.
    #[serde(default, deserialize_with = "not_null", skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[a-z][a-z0-9_]{0,62}$")]
    pub rule: Option<String>,
    #[serde(default, deserialize_with = "not_null", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub alert_type: Option<AlertType>,
    /// web, mobile_app, email, chat, social, survey or call_center.
    #[serde(default, deserialize_with = "not_null", skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, deserialize_with = "not_null", skip_serializing_if = "Option::is_none")]
    pub topic_id: Option<Uuid>,
}

/// A key given with a value: absent is `None`, `null` is refused (it names nothing).
fn not_null<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

impl Matcher {
    fn as_map(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        if let Some(r) = &self.rule {
            m.insert("rule".to_owned(), r.clone());
        }
        if let Some(t) = self.alert_type {
            m.insert("alert_type".to_owned(), t.as_str().to_owned());
        }
        if let Some(c) = &self.channel {
            m.insert("channel".to_owned(), c.clone());
        }
        if let Some(t) = self.topic_id {
            m.insert("topic_id".to_owned(), t.to_string());
        }
        m
    }
}

/// A silence.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"id": "0190f5c9-0a1b-7c2d-8e3f-4a5b6c7d8e9f", "matcher": {"channel": "email", "alert_type": "SENTIMENT_SPIKE"}, "starts_at": "2026-11-30T09:00:00Z", "ends_at": "2026-11-30T13:00:00Z", "comment": "E-mail provider migration this morning", "created_by": "0190f5c3-1a2b-7c3d-8e4f-5a6b7c8d9e0f", "created_at": "2026-11-30T08:55:00Z", "active": true}))]
pub struct Silence {
    pub id: Uuid,
    #[schema(value_type = Object)]
    pub matcher: serde_json::Value,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub comment: String,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    /// In force now.
    pub active: bool,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    matcher: serde_json::Value,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    comment: String,
    created_by: Option<Uuid>,
    created_at: DateTime<Utc>,
}

impl Row {
    fn into_silence(self, now: DateTime<Utc>) -> Silence {
        Silence {
            active: self.starts_at <= now && now < self.ends_at,
            id: self.id,
            matcher: self.matcher,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            comment: self.comment,
            created_by: self.created_by,
            created_at: self.created_at,
        }
    }
}

const COLUMNS: &str = "id, matcher, starts_at, ends_at, comment, created_by, created_at";

/// Longest silence, in minutes (30 days).
pub const DURATION_MAX_MINUTES: u32 = 43_200;
/// Longest comment.
pub const COMMENT_MAX: usize = 1000;

/// A silence to create.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"matcher": {"channel": "email"}, "duration_minutes": 240, "comment": "E-mail provider migration this morning"}))]
pub struct NewSilence {
    pub matcher: Matcher,
    /// When it starts (default: now).
    pub starts_at: Option<DateTime<Utc>>,
    /// How long it lasts.
    #[serde(deserialize_with = "crate::whole_number::whole")]
    #[schema(minimum = 1, maximum = 43200)]
    pub duration_minutes: u32,
    /// Why (required).
    pub comment: String,
}

/// Filters of the silence list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Include silences that ended (default false).
    #[serde(default)]
    pub include_expired: bool,
}

/// `GET /v1/alert-silences`.
#[utoipa::path(
    get,
    path = "/v1/alert-silences",
    tag = "alert-silences",
    summary = "List silences",
    params(ListQuery),
    responses((status = 200, description = "By end, latest first", body = Vec<Silence>), (status = 400, response = crate::openapi::BadRequest)),
    extensions(("x-rtcx-permission" = json!("read_analytics")))
)]
pub async fn list(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Vec<Silence>>, ApiError> {
    user.require(Permission::ReadAnalytics)?;
    let Query(q) = query?;
    let now = Utc::now();
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM alert_silences WHERE $1 OR ends_at > $2 ORDER BY ends_at DESC, id LIMIT 1000"
    ))
    .bind(q.include_expired)
    .bind(now)
    .fetch_all(&app.pg)
    .await?;
    Ok(Json(rows.into_iter().map(|r| r.into_silence(now)).collect()))
}

/// `POST /v1/alert-silences`.
#[utoipa::path(
    post,
    path = "/v1/alert-silences",
    tag = "alert-silences",
    summary = "Create a silence",
    description = "Alerts matching every key of `matcher` between `starts_at` and `starts_at + duration_minutes` are recorded (flagged `silenced`) but not notified. The evaluator applies it at its next tick.",
    request_body = NewSilence,
    responses((status = 201, body = Silence), (status = 400, response = crate::openapi::BadRequest)),
    extensions(("x-rtcx-permission" = json!("manage_alerts")))
)]
pub async fn create(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    body: Result<Json<NewSilence>, JsonRejection>,
) -> Result<(StatusCode, Json<Silence>), ApiError> {
    user.require(Permission::ManageAlerts)?;
    let Json(s) = body?;
    let mut errors = Vec::new();
    let matcher = s.matcher.as_map();
    if matcher.is_empty() {
        errors.push(("matcher".to_owned(), "name at least one of rule, alert_type, channel, topic_id".to_owned()));
    }
    super::one_of(&mut errors, "matcher.channel", s.matcher.channel.as_deref(), &super::channel_names());
    if s.matcher.rule.as_deref().is_some_and(|r| !super::rules::name_ok(r)) {
        errors.push(("matcher.rule".to_owned(), format!("must match {}", super::rules::NAME_PATTERN)));
    }
    if !(1..=DURATION_MAX_MINUTES).contains(&s.duration_minutes) {
        errors.push(("duration_minutes".to_owned(), format!("1..={DURATION_MAX_MINUTES}")));
    }
    if !crate::text_input::name_ok(&s.comment, COMMENT_MAX) {
        errors.push(("comment".to_owned(), format!("1..={COMMENT_MAX} characters, something visible")));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let now = Utc::now();
    let starts_at = s.starts_at.unwrap_or(now);
    let ends_at = starts_at + Duration::minutes(i64::from(s.duration_minutes));
    let r: Row = sqlx::query_as(&format!(
        "INSERT INTO alert_silences (matcher, starts_at, ends_at, comment, created_by)
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    ))
    .bind(serde_json::to_value(&matcher).map_err(|e| ApiError::Internal(e.to_string()))?)
    .bind(starts_at)
    .bind(ends_at)
    .bind(s.comment.trim())
    .bind(user.id)
    .fetch_one(&app.pg)
    .await?;
    Ok((StatusCode::CREATED, Json(r.into_silence(now))))
}

/// `DELETE /v1/alert-silences/{id}`: expires the silence now (its record stays).
#[utoipa::path(
    delete,
    path = "/v1/alert-silences/{id}",
    tag = "alert-silences",
    summary = "Expire a silence",
    description = "Ends the silence now; its record stays (listed with `include_expired`). Expiring an ended silence changes nothing.",
    params(("id" = Uuid, Path, description = "Silence id")),
    responses((status = 204, description = "Expired"), (status = 404, response = crate::openapi::NotFound)),
    extensions(("x-rtcx-permission" = json!("manage_alerts")))
)]
pub async fn expire(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    user.require(Permission::ManageAlerts)?;
    // A silence that has not started yet ends where it starts: keep ends_at > starts_at.
    let found = sqlx::query(
        "UPDATE alert_silences SET ends_at = GREATEST(starts_at + interval '1 millisecond', LEAST(ends_at, now()))
         WHERE id = $1",
    )
    .bind(id)
    .execute(&app.pg)
    .await?
    .rows_affected();
    if found == 0 { Err(ApiError::NotFound("silence")) } else { Ok(StatusCode::NO_CONTENT) }
}
