//! `/v1/webhooks`: endpoints the notifier delivers events to (docs/notifications.md), and
//! their delivery log. ADMIN only (`ManageWebhooks`).
//!
//! The signing secret (`whsec_…`, Standard Webhooks) is generated here and shown in the
//! answers of creation and rotation only. Unlike API keys it is stored as it is: the
//! notifier needs it to sign every delivery.
//!
//! URLs: `http` or `https`, no credentials, no fragment; IP literals that are not public
//! (loopback, private, link-local, …) and `localhost` names are refused here unless
//! `--webhook-allow-private-targets`; names are resolved by the notifier at every send,
//! where its SSRF guard refuses non-public addresses again.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{AuthUser, Permission};
use crate::error::ApiError;

/// Event types an endpoint may subscribe to.
pub const EVENT_TYPES: [&str; 4] = ["alert.created", "alert.updated", "alert.resolved", "feedback.negative"];
/// Body formats.
pub const FORMATS: [&str; 2] = ["standard", "slack"];
/// Longest endpoint name.
pub const NAME_MAX: usize = 120;
/// Longest URL.
pub const URL_MAX: usize = 2048;

/// An event type an endpoint may subscribe to (documentation of `event_types`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub enum WebhookEvent {
    #[schema(rename = "alert.created")]
    AlertCreated,
    #[schema(rename = "alert.updated")]
    AlertUpdated,
    #[schema(rename = "alert.resolved")]
    AlertResolved,
    #[schema(rename = "feedback.negative")]
    FeedbackNegative,
}

/// The body format of an endpoint (documentation of `format`).
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// The Standard Webhooks body `{"type", "timestamp", "data"}`.
    Standard,
    /// A Slack incoming-webhook message `{"text": …}`.
    Slack,
}

/// A delivery's state (documentation of the `status` filter).
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Pending,
    Sent,
    Failed,
    Dead,
    Skipped,
}

/// An endpoint as listed (never the secret).
#[derive(Debug, Serialize, sqlx::FromRow, ToSchema)]
#[schema(example = json!({"id": "0190f5d0-3b1c-7d2e-9f40-5a6b7c8d9e0f", "name": "Ops Slack", "url": "https://hooks.slack.example/services/T000/B000/XXXX", "event_types": ["alert.created", "alert.resolved"], "format": "slack", "active": true, "disabled_reason": null, "created_by": "0190f5c3-1a2b-7c3d-8e4f-5a6b7c8d9e0f", "created_at": "2026-12-01T09:00:00Z", "updated_at": "2026-12-01T09:00:00Z"}))]
pub struct Webhook {
    pub id: Uuid,
    pub name: String,
    pub url: String,
    /// `alert.created`, `alert.updated`, `alert.resolved`, `feedback.negative`.
    pub event_types: Vec<String>,
    /// `standard` (Standard Webhooks body) or `slack` (`{"text": …}`).
    pub format: String,
    pub active: bool,
    /// Why the notifier turned it off (an answer 410 Gone); cleared by re-activating it.
    pub disabled_reason: Option<String>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, name, url, event_types, format, active, disabled_reason, created_by, created_at, updated_at";

/// The answer to a creation or a rotation: the only time the secret is shown.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"secret": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", "id": "0190f5d0-3b1c-7d2e-9f40-5a6b7c8d9e0f", "name": "Ops Slack", "url": "https://hooks.slack.example/services/T000/B000/XXXX", "event_types": ["alert.created"], "format": "slack", "active": true, "disabled_reason": null, "created_by": "0190f5c3-1a2b-7c3d-8e4f-5a6b7c8d9e0f", "created_at": "2026-12-01T09:00:00Z", "updated_at": "2026-12-01T09:00:00Z"}))]
pub struct WebhookWithSecret {
    /// The signing secret (`whsec_` + base64 key): verify `webhook-signature` with it.
    pub secret: String,
    #[serde(flatten)]
    pub webhook: Webhook,
}

/// An endpoint to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Ops Slack", "url": "https://hooks.slack.example/services/T000/B000/XXXX", "event_types": ["alert.created", "alert.resolved"], "format": "slack"}))]
pub struct NewWebhook {
    pub name: String,
    /// `http(s)://host[:port][/path]`; the host must be public (not loopback, private or
    /// link-local; not `localhost`) unless the server allows private targets.
    #[schema(
        max_length = 2048,
        pattern = r"^https?://[^\s/?#@]+(/[^\s#]*)?$",
        example = "https://example.com/rtcx-hook"
    )]
    pub url: String,
    #[schema(value_type = Vec<WebhookEvent>, min_items = 1)]
    pub event_types: Vec<String>,
    /// `standard` (default) or `slack`.
    #[schema(value_type = Option<WebhookFormat>)]
    pub format: Option<String>,
}

/// Changes to an endpoint: the keys given.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"active": true, "event_types": ["alert.created", "alert.updated", "alert.resolved"]}))]
pub struct WebhookPatch {
    pub name: Option<String>,
    /// As at creation.
    #[schema(max_length = 2048, pattern = r"^https?://[^\s/?#@]+(/[^\s#]*)?$")]
    pub url: Option<String>,
    #[schema(value_type = Option<Vec<WebhookEvent>>, min_items = 1)]
    pub event_types: Option<Vec<String>>,
    #[schema(value_type = Option<WebhookFormat>)]
    pub format: Option<String>,
    /// Re-activating clears `disabled_reason`.
    pub active: Option<bool>,
}

/// One delivery of the log.
#[derive(Debug, Serialize, sqlx::FromRow, ToSchema)]
#[schema(example = json!({"id": 1042, "message_id": "msg_alert_311", "event_type": "alert.created", "status": "sent", "attempts": 2, "created_at": "2026-12-01T09:30:00Z", "last_attempt_at": "2026-12-01T09:30:05Z", "next_attempt_at": null, "last_response": 200, "last_error": null, "sent_at": "2026-12-01T09:30:05Z"}))]
pub struct Delivery {
    pub id: i64,
    /// The idempotency key the receiver saw (`webhook-id`).
    pub message_id: String,
    pub event_type: String,
    /// `pending` (queued or waiting to retry), `sent`, `failed` (refused for good: a 4xx, a
    /// refused target, 410), `dead` (attempts exhausted) or `skipped` (endpoint deactivated).
    pub status: String,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// When a pending delivery is tried next.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// HTTP status of the last attempt.
    pub last_response: Option<i32>,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// Filters and page of the delivery log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    /// Only deliveries in this state.
    #[param(value_type = Option<DeliveryStatus>, inline)]
    pub status: Option<String>,
    /// Page size, 1..=200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// Deliveries older than this id (the last id of the previous page).
    pub before: Option<i64>,
}

/// Checks a webhook URL (see the module comment). The document's pattern states the shape;
/// what a schema cannot (a public host, a URL the parser takes, e.g. a numeric port) is
/// refused here with 400 on `url`.
fn check_url(raw: &str, allow_private: bool) -> Result<(), String> {
    if raw.len() > URL_MAX {
        return Err(format!("at most {URL_MAX} characters"));
    }
    let url = url::Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be http or https".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials (use the signing secret)".to_owned());
    }
    if url.fragment().is_some() {
        return Err("must not have a #fragment".to_owned());
    }
    let ip = match url.host() {
        None => return Err("must have a host".to_owned()),
        Some(url::Host::Ipv4(v4)) => Some(std::net::IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => Some(std::net::IpAddr::V6(v6)),
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if !allow_private && (d == "localhost" || d.ends_with(".localhost")) {
                return Err("must not target this machine (localhost)".to_owned());
            }
            None
        }
    };
    if let Some(ip) = ip.filter(|ip| !allow_private && !rtcx_service_kit::net::is_public_ip(*ip)) {
        return Err(format!("must not target a non-public address ({ip})"));
    }
    Ok(())
}

struct Checked {
    errors: Vec<(String, String)>,
}

impl Checked {
    fn name(&mut self, name: &str) {
        if !crate::text_input::name_ok(name, NAME_MAX) {
            self.errors.push(("name".to_owned(), format!("1..={NAME_MAX} characters, something visible")));
        }
    }
    fn url(&mut self, url: &str, allow_private: bool) {
        if let Err(e) = check_url(url, allow_private) {
            self.errors.push(("url".to_owned(), e));
        }
    }
    fn event_types(&mut self, types: &[String]) {
        if types.is_empty() || types.iter().any(|t| !EVENT_TYPES.contains(&t.as_str())) {
            self.errors.push(("event_types".to_owned(), format!("one or more of {}", EVENT_TYPES.join(", "))));
        }
    }
    fn format(&mut self, format: Option<&str>) {
        if format.is_some_and(|f| !FORMATS.contains(&f)) {
            self.errors.push(("format".to_owned(), "standard or slack".to_owned()));
        }
    }
    fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() { Ok(()) } else { Err(ApiError::Validation(self.errors)) }
    }
}

fn dedup(types: &[String]) -> Vec<String> {
    let mut v = types.to_vec();
    v.sort();
    v.dedup();
    v
}

async fn one(app: &AppState, id: Uuid) -> Result<Webhook, ApiError> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM webhooks WHERE id = $1"))
        .bind(id)
        .fetch_optional(&app.pg)
        .await?
        .ok_or(ApiError::NotFound("webhook"))
}

/// `POST /v1/webhooks`.
#[utoipa::path(
    post,
    path = "/v1/webhooks",
    tag = "webhooks",
    summary = "Create a webhook endpoint (its secret is shown once)",
    description = "Deliveries are POSTed with a Standard Webhooks signature (`webhook-id`, `webhook-timestamp`, `webhook-signature`: HMAC-SHA256 with the secret of this answer) and retried with back-off on 408, 429, 5xx and timeouts; an answer 410 disables the endpoint.",
    request_body = NewWebhook,
    responses((status = 201, description = "Created", body = WebhookWithSecret), (status = 400, response = crate::openapi::BadRequest)),
    extensions(("x-rtcx-permission" = json!("manage_webhooks")))
)]
pub async fn create(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    body: Result<Json<NewWebhook>, JsonRejection>,
) -> Result<(StatusCode, Json<WebhookWithSecret>), ApiError> {
    user.require(Permission::ManageWebhooks)?;
    let Json(w) = body?;
    let mut c = Checked { errors: Vec::new() };
    c.name(&w.name);
    c.url(&w.url, app.webhook_allow_private_targets);
    c.event_types(&w.event_types);
    c.format(w.format.as_deref());
    c.finish()?;
    let secret = rtcx_schemas::credentials::new_webhook_secret();
    let webhook: Webhook = sqlx::query_as(&format!(
        "INSERT INTO webhooks (name, url, secret, event_types, format, created_by)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    ))
    .bind(w.name.trim())
    .bind(&w.url)
    .bind(&secret)
    .bind(dedup(&w.event_types))
    .bind(w.format.as_deref().unwrap_or("standard"))
    .bind(user.id)
    .fetch_one(&app.pg)
    .await?;
    tracing::info!(webhook = %webhook.id, by = %user.id, "webhook created");
    Ok((StatusCode::CREATED, Json(WebhookWithSecret { secret, webhook })))
}

/// `GET /v1/webhooks`.
#[utoipa::path(
    get,
    path = "/v1/webhooks",
    tag = "webhooks",
    summary = "List webhook endpoints",
    responses((status = 200, description = "Newest first", body = Vec<Webhook>)),
    extensions(("x-rtcx-permission" = json!("manage_webhooks")))
)]
pub async fn list(State(app): State<Arc<AppState>>, user: AuthUser) -> Result<Json<Vec<Webhook>>, ApiError> {
    user.require(Permission::ManageWebhooks)?;
    Ok(Json(
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM webhooks ORDER BY created_at DESC, id LIMIT 1000"))
            .fetch_all(&app.pg)
            .await?,
    ))
}

/// `GET /v1/webhooks/{id}`.
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    summary = "Read a webhook endpoint",
    params(("id" = Uuid, Path, description = "Webhook id")),
    responses((status = 200, body = Webhook), (status = 404, response = crate::openapi::NotFound)),
    extensions(("x-rtcx-permission" = json!("manage_webhooks")))
)]
pub async fn get(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<Webhook>, ApiError> {
    user.require(Permission::ManageWebhooks)?;
    Ok(Json(one(&app, id).await?))
}

/// `PATCH /v1/webhooks/{id}`.
#[utoipa::path(
    patch,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    summary = "Change a webhook endpoint",
    description = "Deliveries already queued go to the new URL and format. Deactivating skips what is queued; re-activating clears `disabled_reason`.",
    params(("id" = Uuid, Path, description = "Webhook id")),
    request_body = WebhookPatch,
    responses((status = 200, body = Webhook), (status = 400, response = crate::openapi::BadRequest), (status = 404, response = crate::openapi::NotFound)),
    extensions(("x-rtcx-permission" = json!("manage_webhooks")))
)]
pub async fn update(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    body: Result<Json<WebhookPatch>, JsonRejection>,
) -> Result<Json<Webhook>, ApiError> {
    user.require(Permission::ManageWebhooks)?;
    let Json(p) = body?;
    let mut c = Checked { errors: Vec::new() };
    if let Some(n) = &p.name {
        c.name(n);
    }
    if let Some(u) = &p.url {
        c.url(u, app.webhook_allow_private_targets);
    }
    if let Some(t) = &p.event_types {
        c.event_types(t);
    }
    c.format(p.format.as_deref());
    c.finish()?;
    let updated: Option<Webhook> = sqlx::query_as(&format!(
        "UPDATE webhooks SET name = coalesce($2, name), url = coalesce($3, url),
                event_types = coalesce($4, event_types), format = coalesce($5, format),
                active = coalesce($6, active),
                disabled_reason = CASE WHEN $6 THEN NULL ELSE disabled_reason END,
                updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(p.name.as_deref().map(str::trim))
    .bind(&p.url)
    .bind(p.event_types.as_deref().map(dedup))
    .bind(&p.format)
    .bind(p.active)
    .fetch_optional(&app.pg)
    .await?;
    updated.map(Json).ok_or(ApiError::NotFound("webhook"))
}

/// `DELETE /v1/webhooks/{id}`: the endpoint and its delivery log.
#[utoipa::path(
    delete,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    summary = "Delete a webhook endpoint and its delivery log",
    params(("id" = Uuid, Path, description = "Webhook id")),
    responses((status = 204, description = "Deleted; nothing queued for it is sent"), (status = 404, response = crate::openapi::NotFound)),
    extensions(("x-rtcx-permission" = json!("manage_webhooks")))
)]
pub async fn delete(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    user.require(Permission::ManageWebhooks)?;
    let n = sqlx::query("DELETE FROM webhooks WHERE id = $1").bind(id).execute(&app.pg).await?.rows_affected();
    if n == 1 { Ok(StatusCode::NO_CONTENT) } else { Err(ApiError::NotFound("webhook")) }
}

/// `POST /v1/webhooks/{id}/rotate-secret`.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/rotate-secret",
    tag = "webhooks",
    summary = "Replace the signing secret (the new one is shown once)",
    description = "Deliveries from now on, retries included, are signed with the new secret.",
    params(("id" = Uuid, Path, description = "Webhook id")),
    responses((status = 200, body = WebhookWithSecret), (status = 404, response = crate::openapi::NotFound)),
    extensions(("x-rtcx-permission" = json!("manage_webhooks")))
)]
pub async fn rotate_secret(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<WebhookWithSecret>, ApiError> {
    user.require(Permission::ManageWebhooks)?;
    let secret = rtcx_schemas::credentials::new_webhook_secret();
    let webhook: Option<Webhook> = sqlx::query_as(&format!(
        "UPDATE webhooks SET secret = $2, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(&secret)
    .fetch_optional(&app.pg)
    .await?;
    let webhook = webhook.ok_or(ApiError::NotFound("webhook"))?;
    tracing::info!(webhook = %id, by = %user.id, "webhook secret rotated");
    Ok(Json(WebhookWithSecret { secret, webhook }))
}

/// `GET /v1/webhooks/{id}/deliveries`.
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}/deliveries",
    tag = "webhooks",
    summary = "The endpoint's delivery log, newest first",
    params(("id" = Uuid, Path, description = "Webhook id"), DeliveryQuery),
    responses((status = 200, description = "Newest first; page on with `before` = the last id", body = Vec<Delivery>), (status = 400, response = crate::openapi::BadRequest), (status = 404, response = crate::openapi::NotFound)),
    extensions(("x-rtcx-permission" = json!("manage_webhooks")))
)]
pub async fn deliveries(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    query: Result<Query<DeliveryQuery>, QueryRejection>,
) -> Result<Json<Vec<Delivery>>, ApiError> {
    user.require(Permission::ManageWebhooks)?;
    let Query(q) = query?;
    const STATUSES: [&str; 5] = ["pending", "sent", "failed", "dead", "skipped"];
    if q.status.as_deref().is_some_and(|s| !STATUSES.contains(&s)) {
        return Err(ApiError::invalid("status", STATUSES.join(", ")));
    }
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid("limit", "1..=200"));
    }
    one(&app, id).await?;
    Ok(Json(
        sqlx::query_as(
            "SELECT id, message_id, event_type, status, attempts, created_at, last_attempt_at,
                    CASE WHEN status = 'pending' THEN available_at END AS next_attempt_at,
                    last_response, last_error, sent_at
             FROM notification_deliveries
             WHERE webhook_id = $1 AND ($2::text IS NULL OR status = $2) AND ($3::bigint IS NULL OR id < $3)
             ORDER BY id DESC LIMIT $4",
        )
        .bind(id)
        .bind(&q.status)
        .bind(q.before)
        .bind(i64::from(limit))
        .fetch_all(&app.pg)
        .await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        for ok in ["https://hooks.example.com/rtcx", "http://8.8.8.8:8080/x?y=1", "https://[2606:4700::1111]/h"] {
            assert_eq!(check_url(ok, false), Ok(()), "{ok}");
        }
        for bad in [
            "ftp://example.com/x",
            "https://user:pw@example.com/x",
            "https://example.com/x#f",
            "http://127.0.0.1/x",
            "http://10.0.0.5/x",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/x",
            "http://localhost:8080/x",
            "http://api.localhost/x",
            "not a url",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad}");
        }
        assert_eq!(check_url("http://127.0.0.1:9/x", true), Ok(()));
        assert!(check_url(&format!("https://example.com/{}", "a".repeat(URL_MAX)), false).is_err());
        let s = rtcx_schemas::credentials::new_webhook_secret();
        assert!(s.starts_with("whsec_") && s.len() == 6 + 32);
    }
}
