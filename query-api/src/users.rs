//! `/v1/users`: list with filters, read, create, update (display name, role, active).
//! Deactivating a user or changing their role ends their sessions; the last active
//! administrator can be neither demoted nor deactivated.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::handlers::{UserView, check_password, create_user, normalize_email};
use crate::auth::{AuthUser, Permission, Role, sessions};
use crate::error::ApiError;
use crate::sql::contains_pattern;

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    pub role: Option<String>,
    pub active: Option<bool>,
    /// Matches email or display name (case-insensitive substring).
    pub q: Option<String>,
    /// Page size, 1..=100 (default 50).
    pub limit: Option<i64>,
    /// Keyset cursor: the last email of the previous page.
    pub after: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct CreateUser {
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub display_name: String,
    pub role: Role,
}

#[derive(Debug, Deserialize)]
pub struct UpdateUser {
    pub display_name: Option<String>,
    pub role: Option<Role>,
    pub active: Option<bool>,
}

/// A page of users and the cursor of the next one.
#[derive(Debug, serde::Serialize)]
pub struct UserPage {
    pub items: Vec<UserView>,
    pub next_after: Option<String>,
}

const COLUMNS: &str = "id, email, display_name, role, active, created_at, last_login_at";

/// `GET /v1/users`.
pub async fn list(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<UserPage>, ApiError> {
    user.require(Permission::ReadUsers)?;
    let Query(q) = query?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be 1..=100"));
    }
    if let Some(r) = &q.role
        && Role::parse(r).is_none()
    {
        return Err(ApiError::invalid("role", "must be ADMIN, MANAGER, AGENT or API_USER"));
    }
    let pattern = q.q.as_deref().map(contains_pattern);
    let items: Vec<UserView> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM users \
         WHERE ($1::text IS NULL OR role = $1) AND ($2::bool IS NULL OR active = $2) \
           AND ($3::text IS NULL OR email ILIKE $3 OR display_name ILIKE $3) \
           AND ($4::text IS NULL OR email > $4) \
         ORDER BY email LIMIT $5"
    ))
    .bind(q.role)
    .bind(q.active)
    .bind(pattern)
    .bind(q.after)
    .bind(limit)
    .fetch_all(&app.pg)
    .await?;
    let next_after = (items.len() as i64 == limit).then(|| items.last().map(|u| u.email.clone())).flatten();
    Ok(Json(UserPage { items, next_after }))
}

/// `GET /v1/users/{id}`.
pub async fn get(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<UserView>, ApiError> {
    user.require(Permission::ReadUsers)?;
    let u: Option<UserView> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE id = $1")).bind(id).fetch_optional(&app.pg).await?;
    u.map(Json).ok_or(ApiError::NotFound("user"))
}

/// `POST /v1/users`.
pub async fn create(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    body: Result<Json<CreateUser>, JsonRejection>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    user.require(Permission::ManageUsers)?;
    let Json(c) = body?;
    let email = normalize_email(&c.email)?;
    check_password("password", &c.password, &email)?;
    Ok((StatusCode::CREATED, Json(create_user(&app, &email, &c.display_name, &c.password, c.role).await?)))
}

/// `PATCH /v1/users/{id}`.
pub async fn update(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    body: Result<Json<UpdateUser>, JsonRejection>,
) -> Result<Json<UserView>, ApiError> {
    user.require(Permission::ManageUsers)?;
    let Json(u) = body?;
    if u.display_name.as_ref().is_some_and(|n| n.chars().count() > 200) {
        return Err(ApiError::invalid("display_name", "at most 200 characters"));
    }
    let mut tx = app.pg.begin().await?;
    // Serialise admin changes so two of them cannot remove the last administrator together.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('rtcx.users.admins'))").execute(&mut *tx).await?;
    let current: Option<(String, bool)> = sqlx::query_as("SELECT role, active FROM users WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    let (role, active) = current.ok_or(ApiError::NotFound("user"))?;
    let new_role = u.role.map(Role::as_str).unwrap_or(&role).to_owned();
    let new_active = u.active.unwrap_or(active);
    if role == "ADMIN" && active && (new_role != "ADMIN" || !new_active) {
        let admins: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE role = 'ADMIN' AND active")
            .fetch_one(&mut *tx)
            .await?;
        if admins <= 1 {
            return Err(ApiError::Conflict("this is the last active administrator"));
        }
    }
    let view: UserView = sqlx::query_as(&format!(
        "UPDATE users SET display_name = COALESCE($2, display_name), role = $3, active = $4, updated_at = now() \
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(u.display_name.map(|n| n.trim().to_owned()))
    .bind(&new_role)
    .bind(new_active)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    if !new_active && active {
        sessions::revoke_all(&app.pg, id, "user_deactivated", None).await?;
    } else if new_role != role {
        sessions::revoke_all(&app.pg, id, "admin", None).await?;
    }
    Ok(Json(view))
}
