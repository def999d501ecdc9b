//! Typed configuration of the ingest service (flags or environment variables), validated at
//! start-up.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::app::{Limits, RateLimits};
use crate::rate_limit::Rate;

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
    /// Topic accepted events are produced to.
    #[arg(long, env = "RTCX_INGEST_TOPIC", default_value = rtcx_schemas::topics::FEEDBACK_RAW)]
    pub topic: String,
    /// How long the producer keeps trying to deliver an event before the request gets a 503 (ms).
    #[arg(long, env = "RTCX_INGEST_MESSAGE_TIMEOUT_MS", default_value_t = 10_000)]
    pub message_timeout_ms: u64,
    /// Producer linger: how long to wait to fill a batch to the broker (ms).
    #[arg(long, env = "RTCX_INGEST_LINGER_MS", default_value_t = 5)]
    pub linger_ms: u32,
    /// Most events waiting in the producer queue; beyond it requests get a 503 (back-pressure).
    #[arg(long, env = "RTCX_INGEST_QUEUE_MAX_MESSAGES", default_value_t = 100_000)]
    pub queue_max_messages: u32,

    /// Postgres URL, for API keys and usage counters.
    #[arg(long, env = "RTCX_POSTGRES_URL", hide_env_values = true)]
    pub postgres_url: String,
    /// How often API keys are reloaded from Postgres (seconds); a revoked key stops working
    /// within this time.
    #[arg(long, env = "RTCX_INGEST_API_KEY_REFRESH_SECS", default_value_t = 10)]
    pub api_key_refresh_secs: u64,
    /// How often per-key usage counters are written to Postgres (seconds).
    #[arg(long, env = "RTCX_INGEST_USAGE_FLUSH_SECS", default_value_t = 30)]
    pub usage_flush_secs: u64,

    /// PEM file with the Ed25519 public key that verifies user access tokens (JWT, EdDSA).
    /// Without it only API keys are accepted.
    #[arg(long, env = "RTCX_JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: Option<PathBuf>,
    /// Required `iss` of access tokens.
    #[arg(long, env = "RTCX_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Required `aud` of access tokens.
    #[arg(long, env = "RTCX_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,

    /// Events per second per API key or user.
    #[arg(long, env = "RTCX_INGEST_KEY_RATE", default_value_t = 5_000.0)]
    pub key_rate: f64,
    /// Burst of events per API key or user.
    #[arg(long, env = "RTCX_INGEST_KEY_BURST", default_value_t = 20_000.0)]
    pub key_burst: f64,
    /// Requests per second per client IP (authenticated endpoints).
    #[arg(long, env = "RTCX_INGEST_IP_RATE", default_value_t = 2_000.0)]
    pub ip_rate: f64,
    /// Burst of requests per client IP (authenticated endpoints).
    #[arg(long, env = "RTCX_INGEST_IP_BURST", default_value_t = 4_000.0)]
    pub ip_burst: f64,
    /// Requests per second per client IP on the public (anonymous) endpoint.
    #[arg(long, env = "RTCX_INGEST_PUBLIC_RATE", default_value_t = 0.2)]
    pub public_rate: f64,
    /// Burst of requests per client IP on the public endpoint.
    #[arg(long, env = "RTCX_INGEST_PUBLIC_BURST", default_value_t = 5.0)]
    pub public_burst: f64,
    /// Take the client IP from the first X-Forwarded-For hop (only behind a trusted proxy).
    #[arg(long, env = "RTCX_INGEST_TRUST_FORWARDED_FOR", default_value_t = false)]
    pub trust_forwarded_for: bool,

    /// Largest body of the single-event endpoints, bytes (after gzip decompression).
    #[arg(long, env = "RTCX_INGEST_SINGLE_BODY_LIMIT", default_value_t = 256 * 1024)]
    pub single_body_limit: usize,
    /// Largest body of the batch and NDJSON endpoints, bytes (after gzip decompression).
    #[arg(long, env = "RTCX_INGEST_BATCH_BODY_LIMIT", default_value_t = 5 * 1024 * 1024)]
    pub batch_body_limit: usize,
    /// Most events in one batch or NDJSON request.
    #[arg(long, env = "RTCX_INGEST_BATCH_MAX_EVENTS", default_value_t = 1000)]
    pub batch_max_events: usize,
    /// Request timeout (seconds); keep it above the message timeout.
    #[arg(long, env = "RTCX_INGEST_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,
    /// On shutdown, how long to wait for queued events to be delivered (seconds).
    #[arg(long, env = "RTCX_INGEST_SHUTDOWN_FLUSH_SECS", default_value_t = 30)]
    pub shutdown_flush_secs: u64,

    #[command(flatten)]
    pub log: rtcx_service_kit::LogArgs,
}

impl Config {
    /// Checks what clap cannot; the message names the setting.
    pub fn validate(&self) -> Result<(), String> {
        if self.kafka_brokers.split(',').any(|b| b.trim().is_empty()) {
            return Err("--kafka-brokers / RTCX_KAFKA_BROKERS must be a comma-separated list of host:port".into());
        }
        if self.topic.is_empty() {
            return Err("--topic / RTCX_INGEST_TOPIC must not be empty".into());
        }
        for (name, v) in [
            ("--key-rate", self.key_rate),
            ("--key-burst", self.key_burst),
            ("--ip-rate", self.ip_rate),
            ("--ip-burst", self.ip_burst),
            ("--public-rate", self.public_rate),
            ("--public-burst", self.public_burst),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("{name} must be a positive number, got {v}"));
            }
        }
        if self.batch_max_events == 0 || self.single_body_limit == 0 || self.batch_body_limit == 0 {
            return Err("body limits and --batch-max-events must be positive".into());
        }
        if self.request_timeout_secs * 1000 <= self.message_timeout_ms {
            return Err(format!(
                "--request-timeout-secs ({} s) must exceed --message-timeout-ms ({} ms), or requests time out before \
                 Kafka has answered",
                self.request_timeout_secs, self.message_timeout_ms
            ));
        }
        if self.api_key_refresh_secs == 0 || self.api_key_refresh_secs > 30 {
            return Err(
                "--api-key-refresh-secs must be within 1..=30 (a revoked key must stop working within 30 s)".into()
            );
        }
        Ok(())
    }

    /// Request limits.
    pub fn limits(&self) -> Limits {
        Limits {
            single_body_bytes: self.single_body_limit,
            batch_body_bytes: self.batch_body_limit,
            batch_max_events: self.batch_max_events,
        }
    }

    /// Rate limits.
    pub fn rate_limits(&self) -> RateLimits {
        RateLimits {
            per_key: Rate { per_second: self.key_rate, burst: self.key_burst },
            per_ip: Rate { per_second: self.ip_rate, burst: self.ip_burst },
            public_per_ip: Rate { per_second: self.public_rate, burst: self.public_burst },
        }
    }

    /// Request timeout.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
}
