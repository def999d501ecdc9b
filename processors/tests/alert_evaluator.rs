//! The live evaluator against the real stores: a negative spike in the last windows of one
//! channel becomes alerts in Postgres (with history and outbox events) once the watermark
//! closes those windows; re-evaluating changes nothing; only one instance holds the lock.

mod common;

use chrono::{DateTime, Duration, DurationRound, Utc};
use rtcx_processors::detect::detectors::Sensitivity;
use rtcx_processors::detect::evaluator::{Evaluator, EvaluatorParams};
use rtcx_processors::detect::lifecycle::LifecycleParams;
use rtcx_processors::detect::watermark::WatermarkParams;
use rtcx_processors::pipeline::watermarks::WatermarkStore;
use rtcx_schemas::rows::FeedbackRow;
use rtcx_service_kit::testing::{env, unique};
use sqlx::Connection as _;

const WINDOWS: i64 = 150;

#[tokio::test]
async fn closed_windows_become_alerts_once() {
    let db = common::TempClickHouse::new("eval").await;
    let ch = db.client();
    let pg = sqlx::PgPool::connect(&env("RTCX_POSTGRES_URL")).await.expect("postgres");
    rtcx_migrations::postgres::migrate(&pg).await.expect("migrate postgres");

    // The watermark: one partition whose newest stored event is a second old.
    let now: DateTime<Utc> = Utc::now().duration_trunc(Duration::seconds(1)).expect("trunc");
    let watermarks = WatermarkStore::new(pg.clone(), &unique("eval-group"), "rtcx.test.raw");
    let mut mark = FeedbackRow::blank(now - Duration::seconds(1));
    mark.processed_at = now;
    mark.kafka_partition = 0;
    watermarks.record(&[mark]).await.expect("record mark");
    let params = EvaluatorParams {
        window_secs: 300,
        history_days: 1,
        thresholds: Sensitivity::Medium.thresholds(),
        lifecycle: LifecycleParams::DEFAULT,
        watermark: WatermarkParams::default(),
        stale: Duration::minutes(15),
        tick: std::time::Duration::from_secs(1),
    };
    // Windows closed by that watermark: steady email and chat, then 30 extra mostly negative
    // email events in each of the last two windows.
    let closed_end = (now - params.watermark.lateness).timestamp().div_euclid(300) * 300;
    let start = closed_end - WINDOWS * 300;
    for c in ["email", "chat"] {
        common::insert_windows(&ch, start, WINDOWS, 6, c, 1).await;
    }
    common::insert_windows(&ch, closed_end - 600, 2, 30, "email", 5).await;

    let name = unique("eval");
    let evaluator = Evaluator { name: name.clone(), ch: ch.clone(), pg: pg.clone(), watermarks, params };
    let lock = Evaluator::try_lock(&pg, &name).await.expect("lock query").expect("nobody else holds this lock");
    let report = evaluator.tick(now).await.expect("tick");
    assert_eq!(report.evaluated_until.map(|t| t.timestamp()), Some(closed_end));
    assert!(report.created.len() >= 2, "{report:?}");
    let rows: Vec<(String, String, serde_json::Value, bool, Option<String>)> = sqlx::query_as(
        "SELECT alert_type, status, dimension, backfill, rule FROM alerts WHERE id = ANY($1) ORDER BY alert_type",
    )
    .bind(&report.created)
    .fetch_all(&pg)
    .await
    .expect("alerts");
    assert_eq!(rows.len(), report.created.len());
    for (t, status, dim, backfill, rule) in &rows {
        assert_eq!(status, "OPEN");
        assert!(!backfill, "a fresh window is not backfill");
        assert!(rule.is_some());
        assert!(dim.get("channel").is_none_or(|c| c == "email"), "{t} on {dim}");
    }
    assert!(rows.iter().any(|r| r.0 == "SENTIMENT_SPIKE" && r.2["channel"] == "email"), "{rows:?}");
    let history: i64 =
        sqlx::query_scalar("SELECT count(*) FROM alert_history WHERE alert_id = ANY($1) AND action = 'CREATED'")
            .bind(&report.created)
            .fetch_one(&pg)
            .await
            .expect("history");
    let outbox: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE aggregate_type = 'alert' AND aggregate_id = ANY($1) AND event_type = 'alert_raised'",
    )
    .bind(report.created.iter().map(|u| u.to_string()).collect::<Vec<_>>())
    .fetch_one(&pg)
    .await
    .expect("outbox");
    assert_eq!((history, outbox), (rows.len() as i64, rows.len() as i64));

    // Nothing new closed: nothing evaluated. The same windows again (progress lost, two
    // evaluators during a take-over): nothing written twice.
    assert_eq!(evaluator.tick(now).await.expect("tick").windows, 0);
    sqlx::query("DELETE FROM detector_progress WHERE name = $1").bind(&name).execute(&pg).await.expect("reset");
    let again = evaluator.tick(now).await.expect("tick again");
    assert!(again.created.is_empty() && again.updated == 0, "{again:?}");

    // One lock holder at a time.
    assert!(Evaluator::try_lock(&pg, &name).await.expect("lock query").is_none(), "a second instance must wait");
    // The holder dies (its connection closes): the next instance takes over.
    lock.detach().close().await.expect("close");
    assert!(Evaluator::try_lock(&pg, &name).await.expect("lock query").is_some(), "take-over");

    sqlx::query("DELETE FROM alerts WHERE id = ANY($1)").bind(&report.created).execute(&pg).await.expect("cleanup");
    sqlx::query("DELETE FROM outbox WHERE aggregate_type = 'alert' AND aggregate_id = ANY($1)")
        .bind(report.created.iter().map(|u| u.to_string()).collect::<Vec<_>>())
        .execute(&pg)
        .await
        .expect("cleanup outbox");
    db.drop().await;
}
