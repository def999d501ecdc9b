//! Event-time watermarks in the real Postgres: marks only rise, per partition, and the
//! watermark follows the slowest active partition.

use chrono::{Duration, DurationRound, Utc};
use rtcx_processors::detect::watermark::{WatermarkParams, watermark};
use rtcx_processors::pipeline::watermarks::WatermarkStore;
use rtcx_schemas::rows::FeedbackRow;
use rtcx_service_kit::testing::{env, unique};

fn row(partition: i32, offset: i64, secs_ago: i64) -> FeedbackRow {
    let now = Utc::now().duration_trunc(Duration::milliseconds(1)).expect("trunc");
    let mut r = FeedbackRow::blank(now - Duration::seconds(secs_ago));
    r.processed_at = now;
    r.kafka_partition = partition;
    r.kafka_offset = offset;
    r
}

#[tokio::test]
async fn marks_only_rise_and_the_slowest_active_partition_holds_the_watermark() {
    let pg = sqlx::PgPool::connect(&env("RTCX_POSTGRES_URL")).await.expect("connect");
    rtcx_migrations::postgres::migrate(&pg).await.expect("migrate");
    let store = WatermarkStore::new(pg, &unique("wm-group"), "rtcx.test.raw");

    let batch = [row(0, 10, 60), row(0, 11, 30), row(1, 5, 300), row(1, 4, 20)];
    store.record(&batch).await.expect("record");
    // A redelivered older batch (and an event dated in the future) change nothing backwards.
    store.record(&[row(0, 3, 600), row(1, 2, -3600)]).await.expect("record again");
    let marks = store.marks().await.expect("marks");
    assert_eq!(marks.len(), 2);
    let now = Utc::now();
    let age = |p: usize| (now - marks[p].max_event_time).num_seconds();
    assert!((29..=33).contains(&age(0)), "partition 0: {}", age(0));
    // Partition 1: the future-dated event counts as its processing time, now.
    assert!((0..=3).contains(&age(1)), "partition 1: {}", age(1));

    let p = WatermarkParams::default();
    let wm = watermark(&marks, &std::collections::BTreeSet::new(), now, p);
    assert_eq!(wm, Some(marks[0].max_event_time - p.lateness), "the slowest active partition holds it");
}
