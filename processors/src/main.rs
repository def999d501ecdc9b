//! rtcx processors.
//!
//! Serves the operations endpoints (`/health/live`, `/health/ready` (ready when Kafka and
//! ClickHouse answer), `/metrics`); the inference engine and the stream pipeline arrive with
//! their issues.

use std::net::SocketAddr;

use anyhow::Context as _;
use clap::Parser;
use rtcx_service_kit::{HealthRegistry, checks, install_metrics_recorder, ops_router, serve};

/// rtcx processors: enrich customer feedback from Kafka and write it to ClickHouse.
#[derive(Debug, Clone, Parser)]
#[command(name = "rtcx-processors", version)]
struct Config {
    /// Address of the operations HTTP server (health, metrics).
    #[arg(long, env = "RTCX_PROCESSORS_LISTEN", default_value = "127.0.0.1:9101")]
    listen: SocketAddr,
    /// Kafka bootstrap servers (comma-separated host:port).
    #[arg(long, env = "RTCX_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    kafka_brokers: String,
    #[command(flatten)]
    clickhouse: rtcx_service_kit::ClickHouseArgs,
    #[command(flatten)]
    log: rtcx_service_kit::LogArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cfg = Config::parse();
    cfg.log.init().context("invalid --log-level")?;
    let ch = cfg.clickhouse.client();
    let health = HealthRegistry::new()
        .with_fn("kafka", checks::kafka(&cfg.kafka_brokers).map_err(anyhow::Error::msg)?)
        .with_fn("clickhouse", checks::clickhouse(ch));
    tracing::info!(brokers = %cfg.kafka_brokers, clickhouse = %cfg.clickhouse.clickhouse_url, "rtcx-processors starting");
    serve(cfg.listen, ops_router(health, install_metrics_recorder())).await?;
    Ok(())
}
