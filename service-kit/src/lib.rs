//! Plumbing shared by the rtcx services (ingest, processors, query-api): structured logging,
//! the Prometheus recorder, the `/health/live`, `/health/ready` and `/metrics` endpoints, and
//! graceful shutdown on SIGTERM / Ctrl-C.

#[cfg(feature = "browser")]
pub mod browser;
pub mod checks;
#[cfg(feature = "clickhouse")]
pub mod clickhouse_args;
pub mod client_ip;
pub mod error_body;
pub mod health;
pub mod net;
pub mod periodic;
pub mod serve;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;

#[cfg(feature = "clickhouse")]
pub use clickhouse_args::ClickHouseArgs;
pub use client_ip::client_ip;
pub use error_body::{ErrorBody, ErrorDetail, uniform_error_bodies};
pub use health::{HealthCheck, HealthRegistry, ops_router};
pub use periodic::spawn_every;
pub use serve::serve;
pub use shutdown::shutdown_signal;
pub use telemetry::{LogArgs, LogFormat, install_metrics_recorder};
