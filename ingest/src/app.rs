//! The ingest application: shared state and the router.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Method, Request, header};
use axum::routing::post;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::api_keys::KeyStore;
use crate::handlers;
use crate::jwt::JwtVerifier;
use crate::rate_limit::{Rate, RateLimiter};
use crate::sink::EventSink;
use crate::usage::UsageRecorder;

/// Request limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest body of the single-event endpoints, in bytes (after decompression).
    pub single_body_bytes: usize,
    /// Largest body of the batch and NDJSON endpoints, in bytes (after decompression).
    pub batch_body_bytes: usize,
    /// Most events in one batch or NDJSON request.
    pub batch_max_events: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { single_body_bytes: 256 * 1024, batch_body_bytes: 5 * 1024 * 1024, batch_max_events: 1000 }
    }
}

/// Rate limits.
#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    /// Events per second per API key or user.
    pub per_key: Rate,
    /// Requests per second per client IP on the authenticated endpoints.
    pub per_ip: Rate,
    /// Requests per second per client IP on the public endpoint.
    pub public_per_ip: Rate,
}

/// Everything the handlers share.
pub struct AppState {
    pub sink: Arc<dyn EventSink>,
    pub keys: Arc<KeyStore>,
    pub jwt: Option<JwtVerifier>,
    pub usage: Arc<UsageRecorder>,
    pub limits: Limits,
    pub key_limiter: RateLimiter,
    pub ip_limiter: RateLimiter,
    pub public_limiter: RateLimiter,
    /// Take the client IP from the first `X-Forwarded-For` hop (behind a trusted proxy only).
    pub trust_forwarded_for: bool,
    /// Seconds clients are told to wait after a 503.
    pub unavailable_retry_after: u64,
}

impl AppState {
    /// State with the given parts.
    pub fn new(
        sink: Arc<dyn EventSink>,
        keys: Arc<KeyStore>,
        jwt: Option<JwtVerifier>,
        usage: Arc<UsageRecorder>,
        limits: Limits,
        rates: RateLimits,
    ) -> Self {
        Self {
            sink,
            keys,
            jwt,
            usage,
            limits,
            key_limiter: RateLimiter::new(rates.per_key),
            ip_limiter: RateLimiter::new(rates.per_ip),
            public_limiter: RateLimiter::new(rates.public_per_ip),
            trust_forwarded_for: false,
            unavailable_retry_after: 5,
        }
    }

    /// The client address used for per-IP limits.
    pub fn client_ip(&self, peer: SocketAddr, headers: &axum::http::HeaderMap) -> String {
        rtcx_service_kit::client_ip(peer, headers, self.trust_forwarded_for)
    }
}

/// The feedback routes, with request ids, tracing, a request timeout and CORS on the public
/// endpoint. Merge [`rtcx_service_kit::ops_router`] for health and metrics.
pub fn router(state: Arc<AppState>, request_timeout: Duration) -> Router {
    let document = crate::openapi::routes(&state.limits);
    let x_request_id = HeaderName::from_static("x-request-id");
    let public = Router::new().route("/v1/public/feedback", post(handlers::post_public)).layer(
        CorsLayer::new()
            .allow_origin(AllowOrigin::any())
            .allow_methods([Method::POST])
            .allow_headers([header::CONTENT_TYPE, HeaderName::from_static("idempotency-key")]),
    );
    Router::new()
        .route("/v1/feedback", post(handlers::post_single))
        .route("/v1/feedback/batch", post(handlers::post_batch))
        .route("/v1/feedback/ndjson", post(handlers::post_ndjson))
        .merge(public)
        .merge(document)
        // Bodies are read and limited by the handlers themselves (after decompression).
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, request_timeout))
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
}
