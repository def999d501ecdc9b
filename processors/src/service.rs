//! The stream service (`rtcx-processors run`): the inference workers, the Kafka → ClickHouse
//! pipeline, the alert evaluator and its outbox relay, and the operations endpoints
//! (`/health/live`, `/health/ready` (Kafka and ClickHouse answer, writes succeed), `/metrics`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context as _;
use rtcx_service_kit::{HealthRegistry, checks, install_metrics_recorder, ops_router, serve};

use crate::config::Config;

/// Runs the service until SIGINT/SIGTERM; the batch in hand is finished first.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    use crate::inference::AnalyzerPool;
    use crate::pipeline::{FeedbackStore, Pipeline};
    use crate::topics::TopicCatalogue;

    cfg.pipeline.validate().map_err(anyhow::Error::msg)?;
    cfg.alerts.validate().map_err(anyhow::Error::msg)?;
    let metrics = install_metrics_recorder();
    let ch = cfg.clickhouse.client();
    let (model, batching, workers) = (cfg.model.clone(), cfg.pipeline.batching(), cfg.pipeline.workers());
    let pool = tokio::task::spawn_blocking(move || AnalyzerPool::start(workers, move || model.load(batching)))
        .await
        .context("starting the inference workers")??
        .remember(cfg.pipeline.recent_results());
    tracing::info!(model = %pool.model().name, version = %pool.model().version, workers, "inference ready");
    let pg = match &cfg.postgres_url {
        Some(url) => Some(
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(4)
                .acquire_timeout(std::time::Duration::from_secs(5))
                .connect_lazy(url)
                .context("invalid RTCX_POSTGRES_URL")?,
        ),
        None => {
            tracing::warn!("no RTCX_POSTGRES_URL: feedback is not assigned to topics, no event-time watermarks");
            None
        }
    };
    let catalogue = pg.clone().map(|pg| Arc::new(TopicCatalogue::new(pg, cfg.pipeline.topic_settings())));
    let pool = Arc::new(pool);
    let reassigner = match (&pg, &catalogue) {
        (Some(pg), Some(catalogue)) if cfg.reassign.reassign_enabled => {
            let worker = format!("{}/{}", hostname(), std::process::id());
            Some(crate::topics::reassign::Reassigner::new(
                pg.clone(),
                ch.clone(),
                Arc::clone(catalogue),
                Arc::clone(&pool),
                cfg.reassign.settings(worker),
            ))
        }
        _ => None,
    };
    let watermarks = pg.clone().map(|pg| {
        crate::pipeline::watermarks::WatermarkStore::new(pg, &cfg.pipeline.group_id, &cfg.pipeline.raw_topic)
    });
    let evaluator = match (&pg, &watermarks) {
        (Some(pg), Some(w)) if cfg.alerts.enabled => Some(
            crate::detect::evaluator::Evaluator::new(
                format!("{}/{}", cfg.pipeline.group_id, cfg.pipeline.raw_topic),
                ch.clone(),
                pg.clone(),
                w.clone(),
                cfg.alerts.evaluator_params(),
            )
            .with_backlog(crate::detect::backlog::KafkaBacklog::new(
                &cfg.kafka_brokers,
                &cfg.pipeline.group_id,
                &cfg.pipeline.raw_topic,
            )?),
        ),
        _ => None,
    };
    let lists = embedding_lists(&cfg.model)?;
    let pipeline = Pipeline::new(
        cfg.pipeline.pipeline_config(&cfg.kafka_brokers),
        pool,
        FeedbackStore::new(ch.clone()),
        catalogue,
        watermarks,
    )?
    .with_embedding_lists(lists);
    let status = pipeline.status();
    let health = HealthRegistry::new()
        .with_fn("kafka", checks::kafka(&cfg.kafka_brokers).map_err(anyhow::Error::msg)?)
        .with_fn("clickhouse", checks::clickhouse(ch))
        .with_fn("writes", move || -> rtcx_service_kit::health::CheckFuture {
            let ok = status.writes_ok.load(Ordering::SeqCst);
            Box::pin(async move { if ok { Ok(()) } else { Err("writes to ClickHouse or Kafka are failing".into()) } })
        });
    let ops = tokio::spawn(serve(cfg.listen, ops_router(health, metrics)));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        rtcx_service_kit::shutdown_signal().await;
        tracing::info!("shutdown requested: finishing the batch in hand");
        let _ = stop_tx.send(true);
    });
    if let Some(e) = evaluator {
        let relay = crate::detect::relay::AlertRelay::new(e.pg.clone(), &cfg.kafka_brokers, &cfg.alerts.alerts_topic)
            .context("the alert relay's Kafka producer")?;
        // Every 250 ms: an indexed read of the due rows, and most of an alert's way to the
        // notifier (docs/benchmarks.md, "Alert notifications").
        tokio::spawn(relay.run(std::time::Duration::from_millis(250), stop_rx.clone()));
        tokio::spawn(e.run(stop_rx.clone()));
    }
    if let Some(r) = reassigner {
        tokio::spawn(r.run(std::time::Duration::from_secs(cfg.reassign.reassign_poll_secs), stop_rx.clone()));
    }
    tracing::info!(brokers = %cfg.kafka_brokers, clickhouse = %cfg.clickhouse.clickhouse_url, "rtcx-processors starting");
    pipeline.run(stop_rx).await?;
    ops.abort();
    Ok(())
}

/// This machine's name (for `topic_reassignments.worker`), or "processor".
fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "processor".into())
}

/// The coarse quantiser beside the default model's heads, which files each stored embedding
/// for the search by meaning; none for the lexicon and the Hugging Face pair (they give no
/// embedding) or when the heads folder has none (rows are stored unfiled, searched exactly).
fn embedding_lists(
    model: &rtcx_inference::ModelArgs,
) -> anyhow::Result<Option<Arc<rtcx_schemas::embedding_lists::EmbeddingLists>>> {
    if model.lexicon || model.sentiment_model.is_some() {
        return Ok(None);
    }
    let lists = rtcx_schemas::embedding_lists::EmbeddingLists::read_beside(&model.heads_dir)
        .context("the embedding lists beside the model's heads")?;
    match &lists {
        Some(l) => tracing::info!(lists = l.lists(), dim = l.dim(), "embeddings are filed into lists"),
        None => tracing::warn!(
            heads_dir = %model.heads_dir.display(),
            "no embedding-lists.bin beside the heads: embeddings are stored unfiled (searched exactly)"
        ),
    }
    Ok(lists.map(Arc::new))
}
