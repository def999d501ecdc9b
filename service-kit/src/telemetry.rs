//! Structured logging (tracing) and the Prometheus metrics recorder.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line (for log shippers).
    Json,
}

/// Logging settings shared by every service (flatten into the service's config).
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// Log filter in `tracing` EnvFilter syntax, e.g. `info,rtcx_ingest=debug`.
    #[arg(long = "log-level", env = "RTCX_LOG", default_value = "info")]
    pub level: String,
    /// Log format.
    #[arg(long = "log-format", env = "RTCX_LOG_FORMAT", value_enum, default_value = "pretty")]
    pub format: LogFormat,
}

impl LogArgs {
    /// Installs the global tracing subscriber. Fails on an invalid filter.
    pub fn init(&self) -> Result<(), tracing_subscriber::filter::ParseError> {
        let filter = EnvFilter::try_new(&self.level)?;
        let registry = tracing_subscriber::registry().with(filter);
        // A second init (e.g. in tests) is harmless: keep the first subscriber.
        let _ = match self.format {
            LogFormat::Pretty => registry.with(fmt::layer().with_target(true)).try_init(),
            LogFormat::Json => {
                registry.with(fmt::layer().json().flatten_event(true).with_current_span(true)).try_init()
            }
        };
        Ok(())
    }
}

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// Histogram buckets (seconds) for every histogram metric.
pub const LATENCY_BUCKETS_SECS: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Installs the process-wide Prometheus recorder (once) and returns its handle, used by
/// `/metrics` to render the exposition text.
pub fn install_metrics_recorder() -> PrometheusHandle {
    PROMETHEUS
        .get_or_init(|| {
            // Histograms are exported as Prometheus histograms (buckets in seconds) rather than
            // summaries, so that they can be aggregated across instances.
            let builder = PrometheusBuilder::new();
            let builder = match builder.set_buckets(&LATENCY_BUCKETS_SECS) {
                Ok(b) => b,
                Err(_) => PrometheusBuilder::new(),
            };
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Only fails when another recorder is already installed; then metrics go there.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}
