//! Readiness checks for the data stores rtcx depends on (each behind a cargo feature).

#[cfg(feature = "clickhouse")]
use crate::health::CheckFuture;

/// Kafka: the cluster's metadata can be fetched within the timeout.
#[cfg(feature = "kafka")]
pub fn kafka(brokers: &str) -> Result<impl Fn() -> crate::health::CheckFuture + Send + Sync + 'static, String> {
    use std::sync::Arc;
    use std::time::Duration;

    use rdkafka::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("socket.timeout.ms", "2000")
        .create()
        .map_err(|e| format!("invalid Kafka client settings: {e}"))?;
    let consumer = Arc::new(consumer);
    Ok(move || -> crate::health::CheckFuture {
        let consumer = Arc::clone(&consumer);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                consumer
                    .fetch_metadata(None, Duration::from_millis(1500))
                    .map(|_| ())
                    .map_err(|e| format!("Kafka metadata unavailable: {e}"))
            })
            .await
            .map_err(|e| format!("metadata task failed: {e}"))?
        })
    })
}

/// ClickHouse: `SELECT 1` answers.
#[cfg(feature = "clickhouse")]
pub fn clickhouse(client: clickhouse::Client) -> impl Fn() -> CheckFuture + Send + Sync + 'static {
    move || -> CheckFuture {
        let client = client.clone();
        Box::pin(async move {
            client
                .query("SELECT 1")
                .fetch_one::<u8>()
                .await
                .map(|_| ())
                .map_err(|e| format!("ClickHouse unavailable: {e}"))
        })
    }
}

/// Postgres: `SELECT 1` answers.
#[cfg(feature = "postgres")]
pub fn postgres(pool: sqlx::PgPool) -> impl Fn() -> crate::health::CheckFuture + Send + Sync + 'static {
    move || -> crate::health::CheckFuture {
        let pool = pool.clone();
        Box::pin(async move {
            sqlx::query_scalar::<_, i32>("SELECT 1")
                .fetch_one(&pool)
                .await
                .map(|_| ())
                .map_err(|e| format!("Postgres unavailable: {e}"))
        })
    }
}
