//! Typed configuration of the ingest service (flags or environment variables).

use std::net::SocketAddr;

/// rtcx ingest: accepts customer feedback over HTTP and publishes it to Kafka.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "rtcx-ingest", version)]
pub struct Config {
    /// Address the HTTP server listens on.
    #[arg(long, env = "RTCX_INGEST_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Kafka bootstrap servers (comma-separated host:port).
    #[arg(long, env = "RTCX_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub kafka_brokers: String,
    #[command(flatten)]
    pub log: rtcx_service_kit::LogArgs,
}

impl Config {
    /// Checks the settings that clap cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.kafka_brokers.split(',').any(|b| b.trim().is_empty()) {
            return Err("--kafka-brokers / RTCX_KAFKA_BROKERS must be a comma-separated list of host:port".into());
        }
        Ok(())
    }
}
