//! `/v1/api-keys`: integration keys that ingest checks. A key is shown once, at creation;
//! Postgres keeps only its SHA-256. Listing shows prefix, scopes, last use and usage totals.

use std::sync::Arc;
use utoipa::ToSchema;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::tokens::{new_opaque_token, token_hash};
use crate::auth::{AuthUser, Permission};
use crate::error::ApiError;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Zendesk bridge", "source": "zendesk", "scopes": ["ingest"], "expires_at": null}))]
pub struct CreateKey {
    pub name: String,
    /// Stamped on every event sent with the key (`source`).
    #[schema(min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9._:-]+$")]
    pub source: String,
    /// `ingest` and/or `read` (default: ingest).
    #[serde(default)]
    #[schema(value_type = Vec<KeyScope>)]
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Longest key name (characters as sent).
pub const NAME_MAX: usize = 200;

/// What a key may do.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "lowercase")]
pub enum KeyScope {
    /// Send feedback to ingest.
    Ingest,
    /// Read through the API.
    Read,
}

/// A key as listed (never the secret).
#[derive(Debug, Serialize, sqlx::FromRow, ToSchema)]
#[schema(example = json!({"id": "0190f5c2-9c44-7e21-8d0a-2b6f4e1d3c77", "name": "Zendesk bridge", "source": "zendesk", "prefix": "rtcx_k7Qp", "scopes": ["ingest"], "created_at": "2026-11-20T12:00:00Z", "expires_at": null, "last_used_at": "2026-11-29T08:01:55Z", "revoked_at": null, "accepted": 182034, "rejected": 12}))]
pub struct KeyView {
    pub id: Uuid,
    pub name: String,
    pub source: String,
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Events accepted and rejected with this key (all days).
    pub accepted: i64,
    pub rejected: i64,
}

/// The answer to a creation: the only time the key itself is shown.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"key": "rtcx_k7Qp.Xc2Vb0nHk3LwZr7Tq9uAe1fGd2YpQm4s8", "id": "0190f5c2-9c44-7e21-8d0a-2b6f4e1d3c77", "name": "Zendesk bridge", "source": "zendesk", "prefix": "rtcx_k7Qp", "scopes": ["ingest"], "created_at": "2026-11-20T12:00:00Z", "expires_at": null, "last_used_at": null, "revoked_at": null, "accepted": 0, "rejected": 0}))]
pub struct CreatedKey {
    /// The key itself: shown this once, stored only as a hash.
    pub key: String,
    #[serde(flatten)]
    pub view: KeyView,
}

const SELECT: &str = "SELECT k.id, k.name, k.source, k.prefix, k.scopes, k.created_at, k.expires_at, k.last_used_at, \
     k.revoked_at, COALESCE(sum(u.accepted), 0)::bigint AS accepted, COALESCE(sum(u.rejected), 0)::bigint AS rejected \
     FROM api_keys k LEFT JOIN api_key_usage u ON u.api_key_id = k.id";

/// `POST /v1/api-keys`.
#[utoipa::path(
    post,
    path = "/v1/api-keys",
    tag = "api-keys",
    summary = "Create an API key (shown once)",
    request_body = CreateKey,
    responses((status = 201, description = "Created", body = CreatedKey), (status = 400, response = crate::openapi::BadRequest), (status = 409, response = crate::openapi::Conflict)),
    extensions(("x-rtcx-permission" = json!("manage_api_keys")))
)]
pub async fn create(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    body: Result<Json<CreateKey>, JsonRejection>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    user.require(Permission::ManageApiKeys)?;
    let Json(c) = body?;
    let mut errors = Vec::new();
    if !crate::text_input::name_ok(&c.name, NAME_MAX) {
        errors.push(("name".to_owned(), format!("must have 1..={NAME_MAX} characters, something visible")));
    }
    let source_ok = (1..=128).contains(&c.source.len())
        && c.source.chars().all(|ch| ch.is_ascii_alphanumeric() || "._:-".contains(ch));
    if !source_ok {
        errors.push(("source".to_owned(), "1..=128 characters of A-Z a-z 0-9 . _ : -".to_owned()));
    }
    let scopes = if c.scopes.is_empty() { vec!["ingest".to_owned()] } else { c.scopes };
    if scopes.iter().any(|s| s != "ingest" && s != "read") {
        errors.push(("scopes".to_owned(), "each scope must be ingest or read".to_owned()));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let key = format!("rtcx_{}", new_opaque_token());
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO api_keys (name, source, prefix, key_hash, scopes, created_by, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(c.name.trim())
    .bind(&c.source)
    .bind(&key[..12])
    .bind(token_hash(&key))
    .bind(&scopes)
    .bind(user.id)
    .bind(c.expires_at)
    .fetch_one(&app.pg)
    .await?;
    let view = one(&app, id).await?;
    Ok((StatusCode::CREATED, Json(CreatedKey { key, view })))
}

async fn one(app: &AppState, id: Uuid) -> Result<KeyView, ApiError> {
    sqlx::query_as(&format!("{SELECT} WHERE k.id = $1 GROUP BY k.id"))
        .bind(id)
        .fetch_optional(&app.pg)
        .await?
        .ok_or(ApiError::NotFound("API key"))
}

/// `GET /v1/api-keys`: every key, newest first.
#[utoipa::path(
    get,
    path = "/v1/api-keys",
    tag = "api-keys",
    summary = "List API keys with usage",
    responses((status = 200, description = "Newest first", body = Vec<KeyView>)),
    extensions(("x-rtcx-permission" = json!("manage_api_keys")))
)]
pub async fn list(State(app): State<Arc<AppState>>, user: AuthUser) -> Result<Json<Vec<KeyView>>, ApiError> {
    user.require(Permission::ManageApiKeys)?;
    Ok(Json(sqlx::query_as(&format!("{SELECT} GROUP BY k.id ORDER BY k.created_at DESC")).fetch_all(&app.pg).await?))
}

/// `DELETE /v1/api-keys/{id}`: revokes the key (ingest stops accepting it within its refresh
/// interval).
#[utoipa::path(
    delete,
    path = "/v1/api-keys/{id}",
    tag = "api-keys",
    summary = "Revoke an API key",
    params(("id" = Uuid, Path, description = "API key id")),
    responses((status = 204, description = "Revoked; ingest refuses it within its refresh interval (10 s)"), (status = 404, response = crate::openapi::NotFound)),
    extensions(("x-rtcx-permission" = json!("manage_api_keys")))
)]
pub async fn revoke(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    user.require(Permission::ManageApiKeys)?;
    let r = sqlx::query("UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL")
        .bind(id)
        .execute(&app.pg)
        .await?;
    if r.rows_affected() == 1 { Ok(StatusCode::NO_CONTENT) } else { Err(ApiError::NotFound("API key")) }
}
