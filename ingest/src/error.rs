//! Every error ingest can answer, and its HTTP status, in one place.
//!
//! | status | code | when |
//! |---|---|---|
//! | 400 | `malformed_json` | the body (or an NDJSON line) is not JSON of the expected shape; the message names the field path |
//! | 400 | `validation_failed` | JSON of the right shape that breaks a validation rule; `details` lists every violation with its field path |
//! | 400 | `invalid_header` | a header (e.g. `Idempotency-Key`) is not valid |
//! | 401 | `unauthorized` | missing, unknown, expired or revoked credentials |
//! | 403 | `forbidden` | the credentials lack the `ingest` scope / role |
//! | 413 | `payload_too_large` | body over the limit (after decompression) or more events than a batch may hold |
//! | 415 | `unsupported_media_type` | wrong `Content-Type` or an unsupported `Content-Encoding` |
//! | 429 | `rate_limited` | a per-key or per-IP rate limit; `Retry-After` says when to retry |
//! | 503 | `unavailable` | Kafka unreachable, delivery timed out, or the producer queue is full; `Retry-After` set |
//!
//! Bad input never yields a 5xx; a 500 (`internal`) would mean a bug.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rtcx_schemas::ValidationErrors;

/// An error answered to the client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("validation failed: {0}")]
    Validation(ValidationErrors),
    #[error("invalid header {name}: {reason}")]
    InvalidHeader { name: &'static str, reason: String },
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("rate limit exceeded; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("{reason}")]
    Unavailable { reason: String, retry_after_secs: u64 },
    #[error("internal error: {0}")]
    Internal(String),
}

pub use rtcx_service_kit::ErrorBody;

impl ApiError {
    /// HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MalformedJson(_) | ApiError::Validation(_) | ApiError::InvalidHeader { .. } => {
                StatusCode::BAD_REQUEST
            }
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MalformedJson(_) => "malformed_json",
            ApiError::Validation(_) => "validation_failed",
            ApiError::InvalidHeader { .. } => "invalid_header",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Unavailable { .. } => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    /// Seconds after which a retry may succeed (429 and 503 only).
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::RateLimited { retry_after_secs } | ApiError::Unavailable { retry_after_secs, .. } => {
                Some(*retry_after_secs)
            }
            _ => None,
        }
    }

    fn details(&self) -> Option<serde_json::Value> {
        match self {
            ApiError::Validation(errors) => serde_json::to_value(errors).ok(),
            _ => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(code = self.code(), error = %self, "request failed");
        }
        ErrorBody::new(self.code(), self.to_string(), self.details()).response(status, self.retry_after())
    }
}
