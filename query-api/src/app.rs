//! Shared state and the HTTP router.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::response::Response;
use sqlx::PgPool;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::auth::handlers as auth;
use crate::auth::throttle::LoginThrottle;
use crate::auth::tokens::TokenService;
use crate::openapi::{self, ApiDoc};
use crate::{
    alerts, api_keys, dashboard, feedback, live, notification_preferences, saved_dashboards, similar, topic_examples,
    topic_reassignments, topics, users, webhooks,
};
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

/// What every handler can reach.
pub struct AppState {
    pub pg: PgPool,
    pub ch: clickhouse::Client,
    pub tokens: TokenService,
    pub throttle: LoginThrottle,
    pub refresh_ttl: chrono::Duration,
    pub self_registration: bool,
    pub trust_forwarded_for: bool,
    /// How rule previews run (the evaluator's settings).
    pub alerts: crate::config::AlertArgs,
    /// Dashboard answers, kept a few seconds.
    pub cache: crate::cache::AnswerCache,
    /// Browser origins allowed by CORS (none: no CORS headers).
    pub cors_origins: Vec<HeaderValue>,
    /// Accept webhook URLs on loopback, private and other non-public addresses.
    pub webhook_allow_private_targets: bool,
    /// Live connections and their fan-out (`/v1/ws`, `/v1/events`).
    pub live: Arc<crate::live::Hub>,
    /// Ping, idle, auth and write timings of live connections.
    pub live_timings: crate::live::Timings,
    /// The model that embeds the `text` of similar-feedback search (none: search by id only).
    pub embedder: Option<Arc<crate::embedder::Embedder>>,
    /// The lists similar-feedback search reads (none: every search is exact).
    pub similar: crate::similar::ListIndex,
}

/// Headers every answer carries: no sniffing, no framing, no referrer, no caching of API data.
async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // The console's files set their own (revalidated, not stored-never).
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    // The docs UI and the console set their own (they load their scripts and styles).
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"));
    resp
}

/// Largest request body accepted (auth and admin payloads are small).
pub const BODY_LIMIT: usize = 64 * 1024;

/// The API routes with their documentation. Every route is registered with its
/// `#[utoipa::path]`, so the document lists exactly the routes served.
fn api() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth::register))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::logout_all))
        .routes(routes!(auth::me))
        .routes(routes!(auth::change_password))
        .routes(routes!(auth::list_sessions))
        .routes(routes!(auth::revoke_session))
        .routes(routes!(notification_preferences::get, notification_preferences::put, notification_preferences::reset))
        .routes(routes!(auth::request_reset))
        .routes(routes!(auth::confirm_reset))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::get, users::update))
        .routes(routes!(api_keys::list, api_keys::create))
        .routes(routes!(api_keys::revoke))
        .routes(routes!(live::ws::ws))
        .routes(routes!(live::sse::events))
        .routes(routes!(webhooks::list, webhooks::create))
        .routes(routes!(webhooks::get, webhooks::update, webhooks::delete))
        .routes(routes!(webhooks::rotate_secret))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(topics::list, topics::create))
        .routes(routes!(topics::trending))
        .routes(routes!(topics::suggestions))
        .routes(routes!(topics::accept))
        .routes(routes!(topics::reject))
        .routes(routes!(topics::get, topics::update, topics::delete))
        .routes(routes!(topics::stats))
        .routes(routes!(topic_examples::list, topic_examples::add))
        .routes(routes!(topic_examples::remove))
        .routes(routes!(topic_examples::quality))
        .routes(routes!(topic_examples::correct))
        .routes(routes!(saved_dashboards::list, saved_dashboards::create))
        .routes(routes!(saved_dashboards::get, saved_dashboards::replace, saved_dashboards::delete))
        .routes(routes!(feedback::search))
        .routes(routes!(feedback::export))
        .routes(routes!(similar::similar))
        .routes(routes!(topic_reassignments::create, topic_reassignments::list))
        .routes(routes!(topic_reassignments::get))
        .routes(routes!(topic_reassignments::cancel))
        .routes(routes!(feedback::get))
        .routes(routes!(dashboard::overview))
        .routes(routes!(dashboard::sentiment_trend))
        .routes(routes!(dashboard::channels))
        .routes(routes!(dashboard::segments))
        .routes(routes!(dashboard::journey_stages))
        .routes(routes!(dashboard::emotions))
        .routes(routes!(dashboard::drivers))
        .routes(routes!(alerts::list, alerts::create))
        .routes(routes!(alerts::stats))
        .routes(routes!(alerts::get))
        .routes(routes!(alerts::workflow::change_status))
        .routes(routes!(alerts::workflow::assign))
        .routes(routes!(alerts::workflow::change_severity))
        .routes(routes!(alerts::workflow::comment))
        .routes(routes!(alerts::rules::list, alerts::rules::create))
        .routes(routes!(alerts::rules::preview_draft))
        .routes(routes!(alerts::rules::get, alerts::rules::update, alerts::rules::delete))
        .routes(routes!(alerts::rules::preview_stored))
        .routes(routes!(alerts::silences::list, alerts::silences::create))
        .routes(routes!(alerts::silences::expire))
}

/// The OpenAPI document served at `/v1/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    openapi::finish(api().split_for_parts().1)
}

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
    let (api, doc) = api().split_for_parts();
    let routes = api
        .merge(openapi::routes(openapi::finish(doc)))
        .merge(crate::console::routes())
        .fallback(|| async { crate::error::ApiError::NotFound("route") })
        .layer(axum::middleware::from_fn(crate::text_input::refuse_control_characters))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(30),
        ))
        .layer(axum::middleware::map_response(crate::error::uniform_error_bodies))
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
