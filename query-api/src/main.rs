//! rtcx query API.
//!
//! Serves the operations endpoints (`/health/live`, `/health/ready` (ready when Postgres and
//! ClickHouse answer), `/metrics`); the API itself arrives with the query-api issue.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use rtcx_service_kit::{HealthRegistry, checks, install_metrics_recorder, ops_router, serve};

/// rtcx query API: auth, users, topics, alerts and dashboard analytics.
#[derive(Debug, Clone, Parser)]
#[command(name = "rtcx-query-api", version)]
struct Config {
    /// Address the HTTP server listens on.
    #[arg(long, env = "RTCX_QUERY_API_LISTEN", default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// Postgres connection URL.
    #[arg(long, env = "RTCX_POSTGRES_URL", hide_env_values = true)]
    postgres_url: String,
    #[command(flatten)]
    clickhouse: rtcx_service_kit::ClickHouseArgs,
    #[command(flatten)]
    log: rtcx_service_kit::LogArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cfg = Config::parse();
    cfg.log.init().context("invalid --log-level")?;
    // Lazy: the service starts (and reports not-ready) while Postgres is down.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(2))
        .connect_lazy(&cfg.postgres_url)
        .context("invalid RTCX_POSTGRES_URL")?;
    let ch = cfg.clickhouse.client();
    let health =
        HealthRegistry::new().with_fn("postgres", checks::postgres(pool)).with_fn("clickhouse", checks::clickhouse(ch));
    tracing::info!(clickhouse = %cfg.clickhouse.clickhouse_url, "rtcx-query-api starting");
    serve(cfg.listen, ops_router(health, install_metrics_recorder())).await?;
    Ok(())
}
