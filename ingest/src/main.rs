//! rtcx ingest service.
//!
//! Serves the operations endpoints (`/health/live`, `/health/ready` (ready when Kafka metadata
//! is reachable), `/metrics`); the feedback endpoints arrive with the ingest issue.

mod config;

use anyhow::Context as _;
use clap::Parser as _;
use rtcx_service_kit::{HealthRegistry, checks, install_metrics_recorder, ops_router, serve};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cfg = config::Config::parse();
    cfg.log.init().context("invalid --log-level")?;
    cfg.validate().map_err(anyhow::Error::msg)?;
    let metrics = install_metrics_recorder();
    let health = HealthRegistry::new().with_fn("kafka", checks::kafka(&cfg.kafka_brokers).map_err(anyhow::Error::msg)?);
    let app = ops_router(health, metrics);
    tracing::info!(brokers = %cfg.kafka_brokers, "rtcx-ingest starting");
    serve(cfg.listen, app).await?;
    Ok(())
}
