//! Shared state and the HTTP router.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::response::Response;
use axum::routing::{delete, get, post};
use sqlx::PgPool;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::auth::handlers as auth;
use crate::auth::throttle::LoginThrottle;
use crate::auth::tokens::TokenService;
use crate::{api_keys, dashboard, feedback, saved_dashboards, topics, users};

/// What every handler can reach.
pub struct AppState {
    pub pg: PgPool,
    pub ch: clickhouse::Client,
    pub tokens: TokenService,
    pub throttle: LoginThrottle,
    pub refresh_ttl: chrono::Duration,
    pub self_registration: bool,
    pub trust_forwarded_for: bool,
    /// Dashboard answers, kept a few seconds.
    pub cache: crate::cache::AnswerCache,
    /// Browser origins allowed by CORS (none: no CORS headers).
    pub cors_origins: Vec<HeaderValue>,
}

/// Headers every answer carries: no sniffing, no framing, no referrer, no caching of API data.
async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"));
    resp
}

/// Largest request body accepted (auth and admin payloads are small).
pub const BODY_LIMIT: usize = 64 * 1024;

/// The API routes (`/v1/...`).
pub fn router(state: Arc<AppState>) -> Router {
    let x_request_id = HeaderName::from_static("x-request-id");
    let cors = (!state.cors_origins.is_empty()).then(|| {
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(state.cors_origins.clone()))
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .max_age(Duration::from_secs(600))
    });
    let routes = Router::new()
        .route("/v1/auth/register", post(auth::register))
        .route("/v1/auth/login", post(auth::login))
        .route("/v1/auth/refresh", post(auth::refresh))
        .route("/v1/auth/logout", post(auth::logout))
        .route("/v1/auth/logout-all", post(auth::logout_all))
        .route("/v1/auth/me", get(auth::me))
        .route("/v1/auth/change-password", post(auth::change_password))
        .route("/v1/auth/sessions", get(auth::list_sessions))
        .route("/v1/auth/sessions/{id}", delete(auth::revoke_session))
        .route("/v1/auth/password-reset/request", post(auth::request_reset))
        .route("/v1/auth/password-reset/confirm", post(auth::confirm_reset))
        .route("/v1/users", get(users::list).post(users::create))
        .route("/v1/users/{id}", get(users::get).patch(users::update))
        .route("/v1/api-keys", get(api_keys::list).post(api_keys::create))
        .route("/v1/api-keys/{id}", delete(api_keys::revoke))
        .route("/v1/topics", get(topics::list).post(topics::create))
        .route("/v1/topics/trending", get(topics::trending))
        .route("/v1/topics/suggestions", get(topics::suggestions))
        .route("/v1/topics/suggestions/{id}/accept", post(topics::accept))
        .route("/v1/topics/suggestions/{id}/reject", post(topics::reject))
        .route("/v1/topics/{id}", get(topics::get).patch(topics::update).delete(topics::delete))
        .route("/v1/topics/{id}/stats", get(topics::stats))
        .route("/v1/dashboards", get(saved_dashboards::list).post(saved_dashboards::create))
        .route(
            "/v1/dashboards/{id}",
            get(saved_dashboards::get).put(saved_dashboards::replace).delete(saved_dashboards::delete),
        )
        .route("/v1/feedback", get(feedback::search))
        .route("/v1/feedback/export", get(feedback::export))
        .route("/v1/feedback/{id}", get(feedback::get))
        .route("/v1/dashboard/overview", get(dashboard::overview))
        .route("/v1/dashboard/sentiment-trend", get(dashboard::sentiment_trend))
        .route("/v1/dashboard/channels", get(dashboard::channels))
        .route("/v1/dashboard/segments", get(dashboard::segments))
        .route("/v1/dashboard/journey-stages", get(dashboard::journey_stages))
        .route("/v1/dashboard/emotions", get(dashboard::emotions))
        .route("/v1/dashboard/drivers", get(dashboard::drivers))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(30),
        ))
        .layer(axum::middleware::map_response(security_headers))
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
        .with_state(state);
    match cors {
        Some(c) => routes.layer(c),
        None => routes,
    }
}
