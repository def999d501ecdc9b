use anyhow::Context;
use clap::Parser;
use rtcx_notifier::config::Config;
use rtcx_notifier::dispatch::Senders;
use rtcx_notifier::email::sender::EmailSender;
use rtcx_notifier::webhook::sender::WebhookSender;
use rtcx_notifier::{account_mail, consumer, digests, dispatch, reminders};
use rtcx_service_kit::{HealthRegistry, checks, install_metrics_recorder, ops_router, serve};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cfg = Config::parse();
    cfg.log.init().context("--log-filter")?;
    cfg.validate().map_err(anyhow::Error::msg)?;
    let metrics = install_metrics_recorder();
    let pg = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect_lazy(&cfg.postgres_url)
        .context("invalid RTCX_POSTGRES_URL")?;
    let webhook = WebhookSender::new(cfg.target_policy(), cfg.webhook_timeout(), cfg.console_url.clone())
        .context("the webhook HTTP client")?;
    let email = match &cfg.smtp_url {
        Some(url) => Some(EmailSender::new(url, &cfg.smtp_from, cfg.smtp_timeout())?),
        None => None,
    };
    let senders = Senders { webhook, email };
    let ch = cfg.clickhouse.client();
    let mut health = HealthRegistry::new()
        .with_fn("postgres", checks::postgres(pg.clone()))
        .with_fn("kafka", checks::kafka(&cfg.kafka_brokers).map_err(anyhow::Error::msg)?);
    if cfg.digest_check().is_some() {
        health = health.with_fn("clickhouse", checks::clickhouse(ch.clone()));
    }
    let ops = tokio::spawn(serve(cfg.listen, ops_router(health, metrics)));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        rtcx_service_kit::shutdown_signal().await;
        tracing::info!("shutdown requested");
        let _ = stop_tx.send(true);
    });
    if cfg.allow_private_targets {
        tracing::warn!("webhook targets on private and loopback addresses are allowed (--allow-private-targets)");
    }
    tracing::info!(brokers = %cfg.kafka_brokers, topic = %cfg.alerts_topic, "rtcx-notifier starting");
    let depth = tokio::spawn(dispatch::watch_depth(pg.clone(), std::time::Duration::from_secs(5), stop_rx.clone()));
    let queued = std::sync::Arc::new(tokio::sync::Notify::new());
    match (&senders.email, &cfg.console_url) {
        (Some(_), Some(console)) => {
            let every = std::time::Duration::from_millis(cfg.poll_ms);
            tokio::spawn(account_mail::run(pg.clone(), console.clone(), every, queued.clone(), stop_rx.clone()));
            if let (Some(routing), true) = (cfg.consumer().email, cfg.repeat_interval_secs > 0) {
                let interval = std::time::Duration::from_secs(cfg.repeat_interval_secs);
                let check = std::time::Duration::from_secs(60).min(interval);
                tokio::spawn(reminders::run(pg.clone(), routing, interval, check, queued.clone(), stop_rx.clone()));
            }
            if let Some(every) = cfg.digest_check() {
                tokio::spawn(digests::run(pg.clone(), ch, console.clone(), every, queued.clone(), stop_rx.clone()));
            }
        }
        _ => tracing::warn!("no RTCX_SMTP_URL: e-mail notifications and password-reset mails are off"),
    }
    let deliveries = tokio::spawn(dispatch::run(pg.clone(), senders, cfg.dispatch(), queued.clone(), stop_rx.clone()));
    consumer::run(cfg.consumer(), pg, queued, stop_rx).await?;
    let _ = deliveries.await;
    let _ = depth.await;
    ops.abort();
    Ok(())
}
