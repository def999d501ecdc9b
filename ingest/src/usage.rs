//! Per-key usage counters (accepted / rejected events): exported as Prometheus metrics at once
//! and persisted to Postgres (`api_key_usage`, `api_keys.last_used_at`) periodically.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use uuid::Uuid;

/// Counts not yet persisted.
#[derive(Debug, Default)]
pub struct UsageRecorder {
    pending: Mutex<HashMap<Uuid, (u64, u64)>>,
}

impl UsageRecorder {
    /// Records the outcome of one request made with key `id`.
    pub fn record(&self, id: Uuid, source: &str, accepted: u64, rejected: u64) {
        metrics::counter!("rtcx_ingest_key_events_accepted_total", "source" => source.to_owned()).increment(accepted);
        metrics::counter!("rtcx_ingest_key_events_rejected_total", "source" => source.to_owned()).increment(rejected);
        let mut p = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let e = p.entry(id).or_default();
        e.0 += accepted;
        e.1 += rejected;
    }

    fn take(&self) -> HashMap<Uuid, (u64, u64)> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn put_back(&self, counts: HashMap<Uuid, (u64, u64)>) {
        let mut p = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        for (id, (a, r)) in counts {
            let e = p.entry(id).or_default();
            e.0 += a;
            e.1 += r;
        }
    }

    /// Writes the pending counts to Postgres in one transaction; on failure they are kept for
    /// the next attempt.
    pub async fn flush(&self, pool: &PgPool) -> Result<usize, sqlx::Error> {
        let counts = self.take();
        if counts.is_empty() {
            return Ok(0);
        }
        let n = counts.len();
        let result = async {
            let mut tx = pool.begin().await?;
            let today = Utc::now().date_naive();
            for (id, (accepted, rejected)) in &counts {
                // A key deleted meanwhile is skipped (the FK would fail the transaction).
                sqlx::query(
                    "INSERT INTO api_key_usage (api_key_id, day, accepted, rejected)
                     SELECT id, $2, $3, $4 FROM api_keys WHERE id = $1
                     ON CONFLICT (api_key_id, day) DO UPDATE
                       SET accepted = api_key_usage.accepted + EXCLUDED.accepted,
                           rejected = api_key_usage.rejected + EXCLUDED.rejected",
                )
                .bind(id)
                .bind(today)
                .bind(i64::try_from(*accepted).unwrap_or(i64::MAX))
                .bind(i64::try_from(*rejected).unwrap_or(i64::MAX))
                .execute(&mut *tx)
                .await?;
                sqlx::query("UPDATE api_keys SET last_used_at = now() WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        }
        .await;
        match result {
            Ok(()) => Ok(n),
            Err(e) => {
                self.put_back(counts);
                Err(e)
            }
        }
    }

    /// Flushes every `every` until aborted.
    pub fn spawn_flusher(self: &Arc<Self>, pool: PgPool, every: Duration) -> tokio::task::JoinHandle<()> {
        let rec = Arc::clone(self);
        rtcx_service_kit::spawn_every(every, move || {
            let (rec, pool) = (Arc::clone(&rec), pool.clone());
            async move {
                if let Err(e) = rec.flush(&pool).await {
                    tracing::warn!(error = %e, "persisting API key usage failed; will retry");
                }
            }
        })
    }
}
