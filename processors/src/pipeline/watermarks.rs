//! Recording event-time progress (Postgres `event_time_watermarks`): after each batch's
//! ClickHouse insert, the highest event time stored per partition. Best effort: a failed
//! write is logged and counted, never holds the batch (the watermark only lags, which delays
//! alert evaluation, the safe direction; the next batch repairs it).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rtcx_schemas::rows::FeedbackRow;
use sqlx::PgPool;

/// One partition's recorded progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct PartitionMark {
    pub kafka_partition: i32,
    pub max_event_time: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Where one consumer group records its progress on one topic.
#[derive(Debug, Clone)]
pub struct WatermarkStore {
    pg: PgPool,
    group: String,
    topic: String,
}

impl WatermarkStore {
    pub fn new(pg: PgPool, group: &str, topic: &str) -> Self {
        Self { pg, group: group.to_owned(), topic: topic.to_owned() }
    }

    /// Per partition: the highest event time of `rows` (an event time ahead of its
    /// processing time counts as the processing time: a sender's clock must not close
    /// windows early) and the highest offset.
    pub fn marks_of(rows: &[FeedbackRow]) -> BTreeMap<i32, (DateTime<Utc>, i64)> {
        let mut m: BTreeMap<i32, (DateTime<Utc>, i64)> = BTreeMap::new();
        for r in rows {
            let t = r.occurred_at.min(r.processed_at);
            let e = m.entry(r.kafka_partition).or_insert((t, r.kafka_offset));
            e.0 = e.0.max(t);
            e.1 = e.1.max(r.kafka_offset);
        }
        m
    }

    /// Raises the recorded marks to those of `rows` (never lowers them: a redelivered or
    /// late batch changes nothing).
    pub async fn record(&self, rows: &[FeedbackRow]) -> Result<(), sqlx::Error> {
        let marks = Self::marks_of(rows);
        if marks.is_empty() {
            return Ok(());
        }
        let partitions: Vec<i32> = marks.keys().copied().collect();
        let times: Vec<DateTime<Utc>> = marks.values().map(|v| v.0).collect();
        let offsets: Vec<i64> = marks.values().map(|v| v.1).collect();
        sqlx::query(
            "INSERT INTO event_time_watermarks (consumer_group, topic, kafka_partition, max_event_time, last_offset)
             SELECT $1, $2, p, t, o FROM unnest($3::int[], $4::timestamptz[], $5::bigint[]) AS u(p, t, o)
             ON CONFLICT (consumer_group, topic, kafka_partition) DO UPDATE SET
                 max_event_time = GREATEST(event_time_watermarks.max_event_time, EXCLUDED.max_event_time),
                 last_offset = GREATEST(event_time_watermarks.last_offset, EXCLUDED.last_offset),
                 updated_at = now()",
        )
        .bind(&self.group)
        .bind(&self.topic)
        .bind(&partitions)
        .bind(&times)
        .bind(&offsets)
        .execute(&self.pg)
        .await?;
        Ok(())
    }

    /// The recorded marks of every partition.
    pub async fn marks(&self) -> Result<Vec<PartitionMark>, sqlx::Error> {
        sqlx::query_as(
            "SELECT kafka_partition, max_event_time, updated_at FROM event_time_watermarks
             WHERE consumer_group = $1 AND topic = $2 ORDER BY kafka_partition",
        )
        .bind(&self.group)
        .bind(&self.topic)
        .fetch_all(&self.pg)
        .await
    }
}
