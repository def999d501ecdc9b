//! Health and metrics endpoints: `/health/live`, `/health/ready`, `/metrics`.
//!
//! Liveness only says the process serves HTTP. Readiness runs every registered
//! [`HealthCheck`] (Kafka metadata, ClickHouse ping, Postgres `SELECT 1`, …) concurrently with a
//! timeout and answers 503 with the failing checks when any fails.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;

/// Boxed future returned by a health check.
pub type CheckFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// A named dependency check used by `/health/ready`.
pub trait HealthCheck: Send + Sync + 'static {
    /// Short name shown in the readiness report (`kafka`, `clickhouse`, `postgres`).
    fn name(&self) -> &str;
    /// Resolves to `Ok(())` when the dependency is usable.
    fn check(&self) -> CheckFuture;
}

/// A check built from a closure.
struct FnCheck<F> {
    name: String,
    f: F,
}

impl<F> HealthCheck for FnCheck<F>
where
    F: Fn() -> CheckFuture + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }
    fn check(&self) -> CheckFuture {
        (self.f)()
    }
}

/// The set of readiness checks of a service.
#[derive(Clone, Default)]
pub struct HealthRegistry {
    checks: Vec<Arc<dyn HealthCheck>>,
    timeout: Option<Duration>,
}

/// Result of one check, as reported by `/health/ready`.
#[derive(Debug, Serialize)]
pub struct CheckReport {
    pub name: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Readiness report.
#[derive(Debug, Serialize)]
pub struct ReadinessReport {
    pub ready: bool,
    pub checks: Vec<CheckReport>,
}

impl HealthRegistry {
    /// An empty registry (always ready) with a 2 s per-check timeout.
    pub fn new() -> Self {
        Self { checks: Vec::new(), timeout: Some(Duration::from_secs(2)) }
    }

    /// Adds a check.
    pub fn with_check(mut self, check: impl HealthCheck) -> Self {
        self.checks.push(Arc::new(check));
        self
    }

    /// Adds a check from a closure returning a boxed future.
    pub fn with_fn<F>(self, name: impl Into<String>, f: F) -> Self
    where
        F: Fn() -> CheckFuture + Send + Sync + 'static,
    {
        self.with_check(FnCheck { name: name.into(), f })
    }

    /// Runs every check concurrently.
    pub async fn run(&self) -> ReadinessReport {
        let timeout = self.timeout.unwrap_or(Duration::from_secs(2));
        let futures = self.checks.iter().map(|c| {
            let c = Arc::clone(c);
            async move {
                let outcome = match tokio::time::timeout(timeout, c.check()).await {
                    Ok(r) => r,
                    Err(_) => Err(format!("timed out after {} ms", timeout.as_millis())),
                };
                CheckReport { name: c.name().to_owned(), ok: outcome.is_ok(), error: outcome.err() }
            }
        });
        let checks = futures::future::join_all(futures).await;
        ReadinessReport { ready: checks.iter().all(|c| c.ok), checks }
    }
}

#[derive(Clone)]
struct OpsState {
    health: HealthRegistry,
    metrics: PrometheusHandle,
}

/// Router with `/health/live`, `/health/ready` and `/metrics`; merge it into the service router.
pub fn ops_router(health: HealthRegistry, metrics: PrometheusHandle) -> Router {
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/metrics", get(render_metrics))
        .with_state(OpsState { health, metrics })
}

async fn live() -> impl IntoResponse {
    Json(serde_json::json!({ "status": "live" }))
}

async fn ready(State(s): State<OpsState>) -> Response {
    let report = s.health.run().await;
    let code = if report.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    if !report.ready {
        for c in report.checks.iter().filter(|c| !c.ok) {
            tracing::warn!(check = %c.name, error = c.error.as_deref().unwrap_or(""), "readiness check failed");
        }
    }
    (code, Json(report)).into_response()
}

async fn render_metrics(State(s): State<OpsState>) -> Response {
    s.metrics.run_upkeep();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], s.metrics.render()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    fn registry(ok: bool) -> HealthRegistry {
        HealthRegistry::new()
            .with_fn("dep", move || Box::pin(async move { if ok { Ok(()) } else { Err("down".to_owned()) } }))
    }

    async fn status(router: Router, path: &str) -> StatusCode {
        let req = Request::builder().uri(path).body(Body::empty()).expect("request");
        router.oneshot(req).await.expect("response").status()
    }

    #[tokio::test]
    async fn readiness_follows_the_checks() {
        let metrics = crate::install_metrics_recorder();
        assert_eq!(status(ops_router(registry(true), metrics.clone()), "/health/ready").await, StatusCode::OK);
        assert_eq!(
            status(ops_router(registry(false), metrics.clone()), "/health/ready").await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(status(ops_router(registry(false), metrics.clone()), "/health/live").await, StatusCode::OK);
        assert_eq!(status(ops_router(registry(true), metrics), "/metrics").await, StatusCode::OK);
    }

    #[tokio::test]
    async fn a_hanging_check_times_out() {
        let reg = HealthRegistry { timeout: Some(Duration::from_millis(20)), ..HealthRegistry::new() }
            .with_fn("slow", || Box::pin(std::future::pending()));
        let report = reg.run().await;
        assert!(!report.ready);
        assert!(report.checks[0].error.as_deref().unwrap_or("").contains("timed out"));
    }
}
