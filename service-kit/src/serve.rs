//! Serving an axum router with graceful shutdown.

use std::net::SocketAddr;

use axum::Router;

/// Errors while serving HTTP.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// Binds `addr` and serves `router` until SIGTERM / Ctrl-C, then drains in-flight requests.
pub async fn serve(addr: SocketAddr, router: Router) -> Result<(), ServeError> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| ServeError::Bind { addr, source })?;
    tracing::info!(%addr, "listening");
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(crate::shutdown_signal())
        .await
        .map_err(ServeError::Serve)
}
