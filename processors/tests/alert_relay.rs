//! The alert outbox relay against the real Postgres and Kafka: due alert events are published
//! once each, in order, keyed by alert id, and marked; other aggregates are left alone.

mod common;

use std::time::Duration;

use rtcx_processors::detect::relay::AlertRelay;
use rtcx_service_kit::testing::env;

#[tokio::test]
async fn alert_events_are_published_once_and_marked() {
    let t = common::TestEnv::new(&env("RTCX_KAFKA_BROKERS"), &env("RTCX_CLICKHOUSE_URL"), 1).await;
    let pg = sqlx::PgPool::connect(&env("RTCX_POSTGRES_URL")).await.expect("postgres");
    rtcx_migrations::postgres::migrate(&pg).await.expect("migrate");
    // Earlier runs' rows are not this test's business.
    sqlx::query("UPDATE outbox SET published_at = now() WHERE aggregate_type = 'alert' AND published_at IS NULL")
        .execute(&pg)
        .await
        .expect("clear backlog");
    let ids: Vec<String> = (0..2).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    for (i, id) in ids.iter().enumerate() {
        sqlx::query(
            "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload) VALUES ('alert', $1, 'alert_raised', $2)",
        )
        .bind(id)
        .bind(serde_json::json!({"id": id, "n": i}))
        .execute(&pg)
        .await
        .expect("outbox row");
    }
    let user_row: i64 = sqlx::query_scalar(
        "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload) VALUES ('user', 'u', 'x', '{}') RETURNING id",
    )
    .fetch_one(&pg)
    .await
    .expect("user row");

    let relay = AlertRelay::new(pg.clone(), &t.brokers, &t.dlq).expect("relay");
    assert_eq!(relay.round().await.expect("round"), 2);
    assert_eq!(relay.round().await.expect("second round"), 0, "nothing is published twice");

    let got = t.read_topic(&t.dlq, 2, Duration::from_secs(20)).await;
    let keys: Vec<String> =
        got.iter().map(|(k, _)| String::from_utf8_lossy(k.as_deref().unwrap_or_default()).into_owned()).collect();
    assert_eq!(keys, ids, "once each, in order, keyed by alert id");
    let first: serde_json::Value = serde_json::from_slice(&got[0].1).expect("json");
    assert_eq!(first["n"], 0);

    let unpublished: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE aggregate_id = ANY($1) AND published_at IS NULL")
            .bind(&ids)
            .fetch_one(&pg)
            .await
            .expect("count");
    assert_eq!(unpublished, 0);
    let user_published: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT published_at FROM outbox WHERE id = $1")
            .bind(user_row)
            .fetch_one(&pg)
            .await
            .expect("user");
    assert!(user_published.is_none(), "the relay only takes alert events");
    sqlx::query("DELETE FROM outbox WHERE id = $1 OR aggregate_id = ANY($2)")
        .bind(user_row)
        .bind(&ids)
        .execute(&pg)
        .await
        .expect("cleanup");
    t.cleanup().await;
}
