//! The outbox relay for alerts: publishes the `outbox` rows of aggregate `alert` to
//! `rtcx.alerts.v1` (keyed by alert id, acks=all, idempotent producer) in id order, and marks
//! them published. A row is marked only after the broker has it, so a crash between the two
//! publishes it again (consumers see an alert event at least once; the outbox row id, in the
//! `rtcx-outbox-id` header, makes a repeat recognisable). Rows are claimed with `FOR UPDATE
//! SKIP LOCKED`, so several relays never publish the same row at once; a failed publish backs
//! the row off (`available_at`) and records the error.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rtcx_schemas::topics::OUTBOX_ID_HEADER;
use sqlx::PgPool;

/// Rows relayed per round.
const BATCH: i64 = 100;

/// Errors of a relay round.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("Postgres: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error("Kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
}

/// Publishes alert events from the outbox.
pub struct AlertRelay {
    pg: PgPool,
    producer: FutureProducer,
    topic: String,
}

impl AlertRelay {
    pub fn new(pg: PgPool, brokers: &str, topic: &str) -> Result<Self, RelayError> {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", "15000")
            .create()?;
        Ok(Self { pg, producer, topic: topic.to_owned() })
    }

    /// Relays what is due; returns how many rows were published.
    pub async fn round(&self) -> Result<usize, RelayError> {
        let mut tx = self.pg.begin().await?;
        let rows: Vec<(i64, String, serde_json::Value)> = sqlx::query_as(
            "SELECT id, aggregate_id, payload FROM outbox
             WHERE aggregate_type = 'alert' AND published_at IS NULL AND available_at <= now()
             ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?;
        let mut published = 0;
        for (id, key, payload) in &rows {
            let body = payload.to_string();
            let sent = self
                .producer
                .send(
                    FutureRecord::to(&self.topic).key(key).payload(&body).headers(
                        OwnedHeaders::new().insert(Header { key: OUTBOX_ID_HEADER, value: Some(&id.to_string()) }),
                    ),
                    Duration::from_secs(15),
                )
                .await;
            match sent {
                Ok(_) => {
                    sqlx::query("UPDATE outbox SET published_at = now(), attempts = attempts + 1 WHERE id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    published += 1;
                }
                Err((e, _)) => {
                    // Keep the order: stop at the first failure, retry it (and what follows) later.
                    sqlx::query(
                        "UPDATE outbox SET attempts = attempts + 1, last_error = $2,
                                available_at = now() + least(interval '1 second' * power(2, attempts), interval '5 minutes')
                         WHERE id = $1",
                    )
                    .bind(id)
                    .bind(e.to_string())
                    .execute(&mut *tx)
                    .await?;
                    break;
                }
            }
        }
        tx.commit().await?;
        Ok(published)
    }

    /// Relays until shutdown, every `every` (at once again while rows are due).
    pub async fn run(self, every: Duration, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            let wait = match self.round().await {
                Ok(n) => {
                    metrics::counter!("rtcx_alert_events_published_total").increment(n as u64);
                    if n as i64 == BATCH { Duration::ZERO } else { every }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "alert relay: round failed; retrying");
                    every
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}
