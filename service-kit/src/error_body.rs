//! The error body every rtcx service answers with — `{"error": {"code", "message",
//! "details"}}` — and the response carrying it, so that a client parses the errors of ingest
//! and of the query API alike. Each service maps its own error enum to status and code in one
//! place (its `error` module) and answers through [`ErrorBody::response`];
//! [`uniform_error_bodies`] gives the framework's own rejections the same body.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The body of every error answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// Stable machine-readable code: `malformed_json`, `validation_failed`, `unauthorized`,
    /// `forbidden`, `not_found`, `conflict`, `rate_limited`, `method_not_allowed`,
    /// `payload_too_large`, `unsupported_media_type`, `unavailable`, `internal` (and, on
    /// ingest, `invalid_header`).
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "validation_failed"))]
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
    /// On `validation_failed`: field path → message.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub details: Option<serde_json::Value>,
}

impl ErrorBody {
    pub fn new(code: &'static str, message: impl Into<String>, details: Option<serde_json::Value>) -> Self {
        Self { error: ErrorDetail { code, message: message.into(), details } }
    }

    /// The answer: `status`, this body, and `Retry-After` when given (at least 1 s).
    pub fn response(self, status: StatusCode, retry_after_secs: Option<u64>) -> Response {
        let mut resp = (status, Json(self)).into_response();
        if let Some(secs) = retry_after_secs {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        resp
    }
}

/// Gives the framework's own rejections (a path parameter that does not parse, an unknown
/// route, a wrong method, a body over the limit, a request past the timeout) the error body,
/// keeping their status and headers (`Allow`, `Retry-After`). A response middleware
/// (`axum::middleware::map_response`).
pub async fn uniform_error_bodies(resp: Response) -> Response {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.map(|b| String::from_utf8_lossy(&b).trim().to_owned());
    let text = text.unwrap_or_default();
    let or = |fallback: &str| if text.is_empty() { fallback.to_owned() } else { text.clone() };
    let (code, message, details) = match status {
        StatusCode::BAD_REQUEST => (
            "validation_failed",
            "validation failed".to_owned(),
            Some(serde_json::json!({"path": or("invalid path parameter")})),
        ),
        StatusCode::NOT_FOUND => ("not_found", or("no such route"), None),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", or("method not allowed on this route"), None),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", or("request body too large"), None),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", or("expected application/json"), None),
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::REQUEST_TIMEOUT => {
            ("unavailable", or("the request took too long"), None)
        }
        s if s.is_client_error() => ("bad_request", or("bad request"), None),
        _ => ("internal", "internal error".to_owned(), None),
    };
    let mut out = ErrorBody::new(code, message, details).response(status, None);
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_body_and_retry_after() {
        let resp = ErrorBody::new("rate_limited", "slow down", None).response(StatusCode::TOO_MANY_REQUESTS, Some(0));
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "1");
        let bytes = axum::body::to_bytes(resp.into_body(), 1024).await.expect("body");
        let v: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(v, serde_json::json!({"error": {"code": "rate_limited", "message": "slow down"}}));
    }

    #[tokio::test]
    async fn framework_rejections_get_the_body_and_keep_their_headers() {
        let mut plain = (StatusCode::METHOD_NOT_ALLOWED, "").into_response();
        plain.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET"));
        let resp = uniform_error_bodies(plain).await;
        assert_eq!(
            (resp.status(), &resp.headers()[header::ALLOW]),
            (StatusCode::METHOD_NOT_ALLOWED, &HeaderValue::from_static("GET"))
        );
        let bytes = axum::body::to_bytes(resp.into_body(), 1024).await.expect("body");
        let v: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(v["error"]["code"], "method_not_allowed");
    }
}
