//! `/v1/users`: list with filters, read, create, update (display name, role, active).
//! Deactivating a user or changing their role ends their sessions; the last active
//! administrator can be neither demoted nor deactivated.

use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::handlers::{UserView, Welcome, check_password, create_user, normalize_email};
use crate::auth::{AuthUser, Permission, Role, sessions};
use crate::error::ApiError;
use crate::sql::contains_pattern;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// ADMIN, MANAGER, AGENT or API_USER.
    #[param(inline, value_type = Option<Role>)]
    pub role: Option<String>,
    pub active: Option<bool>,
    /// Matches email or display name (case-insensitive substring).
    pub q: Option<String>,
    /// Page size, 1..=100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// Keyset cursor: the last email of the previous page.
    pub after: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "sam@example.com", "password": "a long passphrase 2026", "display_name": "Sam Lee", "role": "AGENT"}))]
pub struct CreateUser {
    pub email: String,
    #[schema(min_length = 12, max_length = 128)]
    pub password: String,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub display_name: String,
    pub role: Role,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"role": "MANAGER", "active": true}))]
pub struct UpdateUser {
    #[schema(max_length = 200)]
    pub display_name: Option<String>,
    pub role: Option<Role>,
    pub active: Option<bool>,
}

/// A page of users and the cursor of the next one.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(example = json!({"items": [{"id": "0190f5c2-7b7e-7cc1-9a43-1e0b8f3c2a11", "email": "ana@example.com", "display_name": "Ana Ruiz", "role": "MANAGER", "active": true, "created_at": "2026-11-02T09:14:00Z", "last_login_at": "2026-11-28T17:40:12Z"}], "next_after": "ana@example.com"}))]
pub struct UserPage {
    pub items: Vec<UserView>,
    pub next_after: Option<String>,
}

const COLUMNS: &str = "id, email, display_name, role, active, created_at, last_login_at";

/// `GET /v1/users`.
#[utoipa::path(
    get,
    path = "/v1/users",
    tag = "users",
    summary = "List users",
    params(ListQuery),
    responses((status = 200, description = "A page, by email", body = UserPage), (status = 400, response = crate::openapi::BadRequest)),
    extensions(("x-rtcx-permission" = json!("read_users")))
)]
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
#[utoipa::path(
    get,
    path = "/v1/users/{id}",
    tag = "users",
    summary = "One user",
    params(("id" = Uuid, Path, description = "User id")),
    responses((status = 200, body = UserView), (status = 404, response = crate::openapi::NotFound)),
    extensions(("x-rtcx-permission" = json!("read_users")))
)]
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
#[utoipa::path(
    post,
    path = "/v1/users",
    tag = "users",
    summary = "Create a user",
    request_body = CreateUser,
    responses((status = 201, description = "Created", body = UserView), (status = 400, response = crate::openapi::BadRequest), (status = 409, response = crate::openapi::Conflict)),
    extensions(("x-rtcx-permission" = json!("manage_users")))
)]
pub async fn create(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    body: Result<Json<CreateUser>, JsonRejection>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    user.require(Permission::ManageUsers)?;
    let Json(c) = body?;
    let email = normalize_email(&c.email)?;
    check_password("password", &c.password, &email)?;
    Ok((
        StatusCode::CREATED,
        Json(create_user(&app, &email, &c.display_name, &c.password, c.role, Welcome::ByAdmin).await?),
    ))
}

/// `PATCH /v1/users/{id}`.
#[utoipa::path(
    patch,
    path = "/v1/users/{id}",
    tag = "users",
    summary = "Change name, role or active flag",
    description = "409 when the change would leave no active administrator, or when callers would change their own role or deactivate themselves.",
    params(("id" = Uuid, Path, description = "User id")),
    request_body = UpdateUser,
    responses((status = 200, description = "Updated; a role change or deactivation ends the user's sessions", body = UserView), (status = 400, response = crate::openapi::BadRequest), (status = 404, response = crate::openapi::NotFound), (status = 409, response = crate::openapi::Conflict)),
    extensions(("x-rtcx-permission" = json!("manage_users")))
)]
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
    // Nobody locks themselves out: another administrator changes your role or deactivates you.
    if id == user.id && (new_role != role || new_active != active) {
        return Err(ApiError::Conflict("you cannot change your own role or deactivate yourself"));
    }
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
