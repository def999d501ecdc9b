//! `/v1/dashboards`: each user's saved dashboards (name, layout JSON, filters JSON).
//! A user sees and changes only their own.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{AuthUser, Permission};
use crate::error::ApiError;

/// A saved dashboard.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"id": "0190f5c6-3c4d-7e5f-a061-728394a5b6c7", "name": "Support weekly", "layout": {"widgets": [{"kind": "overview", "x": 0, "y": 0, "w": 6, "h": 2}, {"kind": "sentiment-trend", "x": 0, "y": 2, "w": 12, "h": 4}]}, "filters": {"range": "7d", "channel": "chat"}, "created_at": "2026-11-20T12:00:00Z", "updated_at": "2026-11-28T09:30:00Z"}))]
pub struct SavedDashboard {
    pub id: Uuid,
    pub name: String,
    #[schema(value_type = Object)]
    pub layout: serde_json::Value,
    #[schema(value_type = Object)]
    pub filters: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Support weekly", "layout": {"widgets": [{"kind": "overview", "x": 0, "y": 0, "w": 6, "h": 2}]}, "filters": {"range": "7d", "channel": "chat"}}))]
pub struct DashboardBody {
    pub name: String,
    #[schema(value_type = Object)]
    #[serde(default = "empty")]
    pub layout: serde_json::Value,
    #[schema(value_type = Object)]
    #[serde(default = "empty")]
    pub filters: serde_json::Value,
}

fn empty() -> serde_json::Value {
    serde_json::json!({})
}

/// `layout` and `filters` are read as text and parsed here, so that one stored value the JSON
/// parser cannot take back (written before numbers were checked) never fails a whole list.
const COLUMNS: &str = "id, name, layout::text AS layout, filters::text AS filters, created_at, updated_at";

/// A row as stored.
#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    name: String,
    layout: String,
    filters: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Row> for SavedDashboard {
    fn from(r: Row) -> Self {
        let parse = |field: &str, text: &str| {
            serde_json::from_str(text).unwrap_or_else(|e| {
                tracing::warn!(dashboard = %r.id, field, error = %e, "stored JSON cannot be read back; answered as {{}}");
                empty()
            })
        };
        SavedDashboard {
            layout: parse("layout", &r.layout),
            filters: parse("filters", &r.filters),
            id: r.id,
            name: r.name,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Largest magnitude of a number in `layout` or `filters`. Postgres keeps JSON numbers as exact
/// decimals and prints them without exponent; beyond this, the value read back may not parse
/// (1.7e308 comes back as a 309-digit integer) or not equal what was written (integers past
/// 2^53).
pub const MAX_NUMBER: f64 = 1e15;

/// The path of the first number out of range in `v`.
fn number_out_of_range(v: &serde_json::Value, path: String) -> Option<String> {
    match v {
        serde_json::Value::Number(n) => n.as_f64().is_none_or(|x| x.abs() >= MAX_NUMBER).then_some(path),
        serde_json::Value::Array(items) => {
            items.iter().enumerate().find_map(|(i, item)| number_out_of_range(item, format!("{path}[{i}]")))
        }
        serde_json::Value::Object(map) => {
            map.iter().find_map(|(k, item)| number_out_of_range(item, format!("{path}.{k}")))
        }
        _ => None,
    }
}
/// Longest dashboard name (characters as sent).
pub const NAME_MAX: usize = 120;

fn check(b: &DashboardBody) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    if !crate::text_input::name_ok(&b.name, NAME_MAX) {
        errors.push(("name".to_owned(), format!("must have 1..={NAME_MAX} characters, something visible")));
    }
    for (field, v) in [("layout", &b.layout), ("filters", &b.filters)] {
        if !v.is_object() {
            errors.push((field.to_owned(), "must be a JSON object".to_owned()));
        } else if let Some(path) = number_out_of_range(v, field.to_owned()) {
            errors.push((path, format!("numbers must lie strictly between -{MAX_NUMBER:e} and {MAX_NUMBER:e}")));
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(ApiError::Validation(errors)) }
}

/// `GET /v1/dashboards`.
#[utoipa::path(
    get,
    path = "/v1/dashboards",
    tag = "saved-dashboards",
    summary = "The caller's saved dashboards",
    responses((status = 200, body = Vec<SavedDashboard>)),
    extensions(("x-rtcx-permission" = json!("read_analytics")))
)]
pub async fn list(State(app): State<Arc<AppState>>, user: AuthUser) -> Result<Json<Vec<SavedDashboard>>, ApiError> {
    user.require(Permission::ReadAnalytics)?;
    let rows: Vec<Row> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM saved_dashboards WHERE user_id = $1 ORDER BY lower(name)"))
            .bind(user.id)
            .fetch_all(&app.pg)
            .await?;
    Ok(Json(rows.into_iter().map(SavedDashboard::from).collect()))
}

/// `POST /v1/dashboards`.
#[utoipa::path(
    post,
    path = "/v1/dashboards",
    tag = "saved-dashboards",
    summary = "Save a dashboard",
    request_body = DashboardBody,
    responses((status = 201, description = "Saved", body = SavedDashboard), (status = 400, response = crate::openapi::BadRequest), (status = 409, response = crate::openapi::Conflict)),
    extensions(("x-rtcx-permission" = json!("read_analytics")))
)]
pub async fn create(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    body: Result<Json<DashboardBody>, JsonRejection>,
) -> Result<(StatusCode, Json<SavedDashboard>), ApiError> {
    user.require(Permission::ReadAnalytics)?;
    let Json(b) = body?;
    check(&b)?;
    let d: Row = sqlx::query_as(&format!(
        "INSERT INTO saved_dashboards (user_id, name, layout, filters) VALUES ($1, $2, $3, $4) RETURNING {COLUMNS}"
    ))
    .bind(user.id)
    .bind(b.name.trim())
    .bind(&b.layout)
    .bind(&b.filters)
    .fetch_one(&app.pg)
    .await
    .map_err(ApiError::on_unique_violation("you have a dashboard with this name"))?;
    Ok((StatusCode::CREATED, Json(d.into())))
}

/// `GET /v1/dashboards/{id}`.
#[utoipa::path(
    get,
    path = "/v1/dashboards/{id}",
    tag = "saved-dashboards",
    summary = "One saved dashboard of the caller",
    params(("id" = Uuid, Path, description = "Saved dashboard id")),
    responses((status = 200, body = SavedDashboard), (status = 404, response = crate::openapi::NotFound)),
    extensions(("x-rtcx-permission" = json!("read_analytics")))
)]
pub async fn get(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<SavedDashboard>, ApiError> {
    user.require(Permission::ReadAnalytics)?;
    let d: Option<Row> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM saved_dashboards WHERE id = $1 AND user_id = $2"))
            .bind(id)
            .bind(user.id)
            .fetch_optional(&app.pg)
            .await?;
    d.map(|r| Json(r.into())).ok_or(ApiError::NotFound("dashboard"))
}

/// `PUT /v1/dashboards/{id}`: replaces name, layout and filters.
#[utoipa::path(
    put,
    path = "/v1/dashboards/{id}",
    tag = "saved-dashboards",
    summary = "Replace name, layout and filters",
    params(("id" = Uuid, Path, description = "Saved dashboard id")),
    request_body = DashboardBody,
    responses((status = 200, body = SavedDashboard), (status = 400, response = crate::openapi::BadRequest), (status = 404, response = crate::openapi::NotFound), (status = 409, response = crate::openapi::Conflict)),
    extensions(("x-rtcx-permission" = json!("read_analytics")))
)]
pub async fn replace(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    body: Result<Json<DashboardBody>, JsonRejection>,
) -> Result<Json<SavedDashboard>, ApiError> {
    user.require(Permission::ReadAnalytics)?;
    let Json(b) = body?;
    check(&b)?;
    let d: Option<Row> = sqlx::query_as(&format!(
        "UPDATE saved_dashboards SET name = $3, layout = $4, filters = $5, updated_at = now() \
         WHERE id = $1 AND user_id = $2 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(user.id)
    .bind(b.name.trim())
    .bind(&b.layout)
    .bind(&b.filters)
    .fetch_optional(&app.pg)
    .await
    .map_err(ApiError::on_unique_violation("you have a dashboard with this name"))?;
    d.map(|r| Json(r.into())).ok_or(ApiError::NotFound("dashboard"))
}

/// `DELETE /v1/dashboards/{id}`.
#[utoipa::path(
    delete,
    path = "/v1/dashboards/{id}",
    tag = "saved-dashboards",
    summary = "Delete a saved dashboard",
    params(("id" = Uuid, Path, description = "Saved dashboard id")),
    responses((status = 204, description = "Done"), (status = 404, response = crate::openapi::NotFound)),
    extensions(("x-rtcx-permission" = json!("read_analytics")))
)]
pub async fn delete(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    user.require(Permission::ReadAnalytics)?;
    let r = sqlx::query("DELETE FROM saved_dashboards WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user.id)
        .execute(&app.pg)
        .await?;
    if r.rows_affected() == 1 { Ok(StatusCode::NO_CONTENT) } else { Err(ApiError::NotFound("dashboard")) }
}
