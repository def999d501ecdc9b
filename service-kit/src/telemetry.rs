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

/// Installs the process-wide Prometheus recorder (once) and returns its handle, used by
/// `/metrics` to render the exposition text.
pub fn install_metrics_recorder() -> PrometheusHandle {
    PROMETHEUS
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Only fails when another recorder is already installed; then metrics go there.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}
