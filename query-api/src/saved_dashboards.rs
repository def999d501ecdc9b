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
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct SavedDashboard {
    pub id: Uuid,
    pub name: String,
    pub layout: serde_json::Value,
    pub filters: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
pub struct DashboardBody {
    pub name: String,
    #[serde(default = "empty")]
    pub layout: serde_json::Value,
    #[serde(default = "empty")]
    pub filters: serde_json::Value,
}

fn empty() -> serde_json::Value {
    serde_json::json!({})
}

const COLUMNS: &str = "id, name, layout, filters, created_at, updated_at";

fn check(b: &DashboardBody) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    if !(1..=120).contains(&b.name.trim().chars().count()) {
        errors.push(("name".to_owned(), "must have 1..=120 characters".to_owned()));
    }
    for (field, v) in [("layout", &b.layout), ("filters", &b.filters)] {
        if !v.is_object() {
            errors.push((field.to_owned(), "must be a JSON object".to_owned()));
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(ApiError::Validation(errors)) }
}

/// `GET /v1/dashboards`.
pub async fn list(State(app): State<Arc<AppState>>, user: AuthUser) -> Result<Json<Vec<SavedDashboard>>, ApiError> {
    user.require(Permission::ReadAnalytics)?;
    Ok(Json(
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM saved_dashboards WHERE user_id = $1 ORDER BY lower(name)"))
            .bind(user.id)
            .fetch_all(&app.pg)
            .await?,
    ))
}

/// `POST /v1/dashboards`.
pub async fn create(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    body: Result<Json<DashboardBody>, JsonRejection>,
) -> Result<(StatusCode, Json<SavedDashboard>), ApiError> {
    user.require(Permission::ReadAnalytics)?;
    let Json(b) = body?;
    check(&b)?;
    let d = sqlx::query_as(&format!(
        "INSERT INTO saved_dashboards (user_id, name, layout, filters) VALUES ($1, $2, $3, $4) RETURNING {COLUMNS}"
    ))
    .bind(user.id)
    .bind(b.name.trim())
    .bind(&b.layout)
    .bind(&b.filters)
    .fetch_one(&app.pg)
    .await
    .map_err(ApiError::on_unique_violation("you have a dashboard with this name"))?;
    Ok((StatusCode::CREATED, Json(d)))
}

/// `GET /v1/dashboards/{id}`.
pub async fn get(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<SavedDashboard>, ApiError> {
    user.require(Permission::ReadAnalytics)?;
    let d: Option<SavedDashboard> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM saved_dashboards WHERE id = $1 AND user_id = $2"))
            .bind(id)
            .bind(user.id)
            .fetch_optional(&app.pg)
            .await?;
    d.map(Json).ok_or(ApiError::NotFound("dashboard"))
}

/// `PUT /v1/dashboards/{id}`: replaces name, layout and filters.
pub async fn replace(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    body: Result<Json<DashboardBody>, JsonRejection>,
) -> Result<Json<SavedDashboard>, ApiError> {
    user.require(Permission::ReadAnalytics)?;
    let Json(b) = body?;
    check(&b)?;
    let d: Option<SavedDashboard> = sqlx::query_as(&format!(
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
    d.map(Json).ok_or(ApiError::NotFound("dashboard"))
}

/// `DELETE /v1/dashboards/{id}`.
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
