//! `rtcx-ingest`: see the crate docs and README.md ("Ingest API").

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser as _;
use rtcx_ingest::api_keys::KeyStore;
use rtcx_ingest::app::{AppState, router};
use rtcx_ingest::config::Config;
use rtcx_ingest::jwt::JwtVerifier;
use rtcx_ingest::sink::{EventSink, KafkaSink, KafkaSinkConfig};
use rtcx_ingest::usage::UsageRecorder;
use rtcx_service_kit::{HealthRegistry, checks, install_metrics_recorder, ops_router};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cfg = Config::parse();
    cfg.log.init().context("invalid --log-level")?;
    cfg.validate().map_err(anyhow::Error::msg)?;
    let metrics = install_metrics_recorder();

    let sink = KafkaSink::new(&KafkaSinkConfig {
        brokers: cfg.kafka_brokers.clone(),
        topic: cfg.topic.clone(),
        message_timeout: Duration::from_millis(cfg.message_timeout_ms),
        linger_ms: cfg.linger_ms,
        queue_max_messages: cfg.queue_max_messages,
    })
    .context("creating the Kafka producer")?;
    let probe = sink.spawn_availability_probe(Duration::from_secs(2));

    // Postgres may be down at start: ingestion then waits for keys, and keeps working with
    // the last known keys whenever Postgres goes away later.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(3))
        .connect_lazy(&cfg.postgres_url)
        .context("invalid RTCX_POSTGRES_URL")?;
    let keys = Arc::new(KeyStore::default());
    match keys.refresh(&pool).await {
        Ok(n) => tracing::info!(keys = n, "API keys loaded"),
        Err(e) => tracing::warn!(error = %e, "cannot load API keys yet; retrying in the background"),
    }
    let refresher = keys.spawn_refresher(pool.clone(), Duration::from_secs(cfg.api_key_refresh_secs));
    let usage = Arc::new(UsageRecorder::default());
    let flusher = usage.spawn_flusher(pool.clone(), Duration::from_secs(cfg.usage_flush_secs));

    let jwt = match &cfg.jwt_public_key_file {
        Some(path) => {
            let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            Some(
                JwtVerifier::from_ed_pem(&pem, cfg.jwt_issuer.as_deref(), cfg.jwt_audience.as_deref())
                    .context("RTCX_JWT_PUBLIC_KEY_FILE")?,
            )
        }
        None => None,
    };

    let mut state = AppState::new(
        Arc::clone(&sink) as Arc<dyn EventSink>,
        keys,
        jwt,
        Arc::clone(&usage),
        cfg.limits(),
        cfg.rate_limits(),
    );
    state.trust_forwarded_for = cfg.trust_forwarded_for;
    let health = HealthRegistry::new().with_fn("kafka", checks::kafka(&cfg.kafka_brokers).map_err(anyhow::Error::msg)?);
    let app = router(Arc::new(state), cfg.request_timeout()).merge(ops_router(health, metrics));

    let depth_sink = Arc::clone(&sink);
    let depth = rtcx_service_kit::spawn_every(Duration::from_secs(1), move || {
        metrics::gauge!("rtcx_ingest_producer_queue_depth").set(depth_sink.queue_depth() as f64);
        std::future::ready(())
    });

    tracing::info!(listen = %cfg.listen, brokers = %cfg.kafka_brokers, topic = %cfg.topic, "rtcx-ingest starting");
    // Serves until SIGTERM, then waits for in-flight requests (each awaits its deliveries).
    rtcx_service_kit::serve(cfg.listen, app).await?;

    tracing::info!("flushing the producer");
    let flush_sink = Arc::clone(&sink);
    let flush_timeout = Duration::from_secs(cfg.shutdown_flush_secs);
    let flushed = tokio::task::spawn_blocking(move || flush_sink.flush(flush_timeout)).await?;
    if let Err(e) = flushed {
        tracing::error!(error = %e, "producer flush failed at shutdown");
    }
    if let Err(e) = usage.flush(&pool).await {
        tracing::warn!(error = %e, "could not persist the last usage counters");
    }
    for task in [probe, refresher, flusher, depth] {
        task.abort();
    }
    tracing::info!("rtcx-ingest stopped");
    Ok(())
}
