//! Every error the query API answers, and its HTTP status, in one place. The body is always
//! `{"error": {"code", "message", "details"}}`.
//!
//! | status | code | when |
//! |---|---|---|
//! | 400 | `malformed_json` | the body is not JSON of the expected shape |
//! | 400 | `validation_failed` | a field breaks a rule; `details` maps field paths to messages |
//! | 401 | `unauthorized` | missing, invalid or expired access token; wrong credentials; unknown, used or expired refresh / reset token |
//! | 403 | `forbidden` | the role may not use this route, or self-registration is off |
//! | 404 | `not_found` | no such resource |
//! | 409 | `conflict` | e.g. the email is already registered |
//! | 426 | `upgrade_required` | a plain request to the WebSocket route `/v1/ws` |
//! | 429 | `rate_limited` | too many failed logins for the account or the client; `Retry-After` set |
//! | 429 | `too_many_connections` | the user or the instance holds as many live connections as allowed; `Retry-After` set |
//! | 404 | `not_found` | no such route |
//! | 405 | `method_not_allowed` | the route exists, not with this method; `Allow` set |
//! | 413 | `payload_too_large` | the body is over 64 KiB |
//! | 503 | `unavailable` | Postgres or ClickHouse unreachable, or the request ran past 30 s; `Retry-After` set |
//!
//! A 500 (`internal`) would mean a bug; its message never carries internals.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An error answered to the client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("validation failed")]
    Validation(Vec<(String, String)>),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(&'static str),
    #[error("too many attempts; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("{0}")]
    TooManyConnections(&'static str),
    #[error("{0}")]
    UpgradeRequired(String),
    #[error("{0} is unavailable")]
    Unavailable(&'static str),
    #[error("internal error")]
    Internal(String),
}

pub use rtcx_service_kit::{ErrorBody, ErrorDetail, uniform_error_bodies};

impl ApiError {
    /// One validation failure.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![(field.to_owned(), message.into())])
    }

    /// HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MalformedJson(_) | ApiError::Validation(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::RateLimited { .. } | ApiError::TooManyConnections(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::UpgradeRequired(_) => StatusCode::UPGRADE_REQUIRED,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MalformedJson(_) => "malformed_json",
            ApiError::Validation(_) => "validation_failed",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::TooManyConnections(_) => "too_many_connections",
            ApiError::UpgradeRequired(_) => "upgrade_required",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                ApiError::Unavailable("Postgres")
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<clickhouse::error::Error> for ApiError {
    /// ClickHouse unreachable → 503; anything else is a bug.
    fn from(e: clickhouse::error::Error) -> Self {
        match e {
            clickhouse::error::Error::Network(_) | clickhouse::error::Error::TimedOut => {
                ApiError::Unavailable("ClickHouse")
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl ApiError {
    /// Maps a unique-constraint violation to 409 with `message`; other errors as usual.
    pub fn on_unique_violation(message: &'static str) -> impl FnOnce(sqlx::Error) -> ApiError {
        move |e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => ApiError::Conflict(message),
            _ => e.into(),
        }
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(e: axum::extract::rejection::QueryRejection) -> Self {
        ApiError::invalid("query", e.body_text())
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(e: axum::extract::rejection::JsonRejection) -> Self {
        ApiError::MalformedJson(e.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let ApiError::Internal(detail) = &self {
            tracing::error!(error = %detail, "internal error");
        }
        let details = match &self {
            ApiError::Validation(fields) => Some(serde_json::Value::Object(
                fields.iter().map(|(f, m)| (f.clone(), serde_json::Value::String(m.clone()))).collect(),
            )),
            _ => None,
        };
        let retry = match &self {
            ApiError::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            ApiError::Unavailable(_) | ApiError::TooManyConnections(_) => Some(5),
            _ => None,
        };
        ErrorBody::new(self.code(), self.to_string(), details).response(status, retry)
    }
}
