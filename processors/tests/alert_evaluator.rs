//! The live evaluator against the real stores: a negative spike in the last windows of one
//! channel becomes alerts in Postgres (with history and outbox events) once the watermark
//! closes those windows; re-evaluating changes nothing; only one instance holds the lock;
//! rules and silences in Postgres apply at the next tick.

mod common;

use chrono::{DateTime, Duration, DurationRound, Utc};
use rtcx_processors::detect::detectors::Sensitivity;
use rtcx_processors::detect::evaluator::{Evaluator, EvaluatorParams, Rebuild};
use rtcx_processors::detect::rules::DEFAULT_RULES;
use rtcx_processors::detect::watermark::WatermarkParams;
use rtcx_processors::pipeline::watermarks::WatermarkStore;
use rtcx_schemas::rows::FeedbackRow;
use rtcx_service_kit::testing::{env, unique};
use sqlx::Connection as _;

const WINDOWS: i64 = 150;

/// A temporary ClickHouse database holding steady `channel` and chat traffic with 30 extra,
/// mostly negative, `channel` events in each of the last two windows closed by a fresh
/// watermark; and an evaluator (of a unique name) over it.
async fn spike_in(channel: &str) -> (common::TempClickHouse, sqlx::PgPool, Evaluator, DateTime<Utc>, i64) {
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
        sensitivity: Sensitivity::Medium,
        watermark: WatermarkParams::default(),
        stale: Duration::minutes(15),
        tick: std::time::Duration::from_secs(1),
    };
    let closed_end = (now - params.watermark.lateness).timestamp().div_euclid(300) * 300;
    let start = closed_end - WINDOWS * 300;
    for c in [channel, "chat"] {
        rtcx_service_kit::testing::insert_windows(&ch, start, WINDOWS, 6, c, 1).await;
    }
    rtcx_service_kit::testing::insert_windows(&ch, closed_end - 600, 2, 30, channel, 5).await;
    let evaluator = Evaluator::new(unique("eval"), ch, pg.clone(), watermarks, params);
    (db, pg, evaluator, now, closed_end)
}

#[tokio::test]
async fn closed_windows_become_alerts_once() {
    let (db, pg, evaluator, now, closed_end) = spike_in("email").await;
    let name = evaluator.name.clone();
    let lock = Evaluator::try_lock(&pg, &name).await.expect("lock query").expect("nobody else holds this lock");
    let report = evaluator.tick(now).await.expect("tick");
    assert_eq!(report.evaluated_until.map(|t| t.timestamp()), Some(closed_end));
    assert_eq!(report.rebuilt, Some(Rebuild::Cold), "a new instance builds its run from the history");
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
    // Evidence: the most negative feedback of the firing window, and what changed.
    let evidence: serde_json::Value = sqlx::query_scalar(
        "SELECT evidence FROM alerts WHERE id = ANY($1) AND alert_type = 'SENTIMENT_SPIKE' AND dimension->>'channel' = 'email'",
    )
    .bind(&report.created)
    .fetch_one(&pg)
    .await
    .expect("evidence");
    let worst = evidence["most_negative"].as_array().expect("samples");
    assert_eq!(worst.len(), 5, "{evidence}");
    assert!(worst.iter().all(|s| s["sentiment_score"].as_f64() == Some(-0.7) && s["text"] == "text"), "{evidence}");
    assert!(evidence["what_changed"]["key_phrases"].is_array() && evidence["p_value"].is_number(), "{evidence}");
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
    assert_eq!(again.rebuilt, Some(Rebuild::Moved), "progress moved under it: rebuilt");

    // One lock holder at a time.
    assert!(Evaluator::try_lock(&pg, &name).await.expect("lock query").is_none(), "a second instance must wait");
    // The holder dies (its connection closes): the next instance takes over — once the server
    // has ended the holder's session, which happens a moment after the socket closes.
    lock.detach().close().await.expect("close");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while Evaluator::try_lock(&pg, &name).await.expect("lock query").is_none() {
        assert!(std::time::Instant::now() < deadline, "take-over within 10 s of the holder's end");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    sqlx::query("DELETE FROM alerts WHERE id = ANY($1)").bind(&report.created).execute(&pg).await.expect("cleanup");
    sqlx::query("DELETE FROM outbox WHERE aggregate_type = 'alert' AND aggregate_id = ANY($1)")
        .bind(report.created.iter().map(|u| u.to_string()).collect::<Vec<_>>())
        .execute(&pg)
        .await
        .expect("cleanup outbox");
    db.drop().await;
}

#[tokio::test]
async fn the_builtin_rules_are_seeded_by_the_migrations() {
    let pg = sqlx::PgPool::connect(&env("RTCX_POSTGRES_URL")).await.expect("postgres");
    rtcx_migrations::postgres::migrate(&pg).await.expect("migrate postgres");
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT name, detector FROM alert_rules WHERE builtin ORDER BY name")
            .fetch_all(&pg)
            .await
            .expect("rules");
    let mut catalogue: Vec<(String, String)> = DEFAULT_RULES
        .iter()
        .map(|r| r.name)
        .chain([rtcx_processors::detect::churn_rule::RULE])
        .map(|n| (n.to_owned(), n.to_owned()))
        .collect();
    catalogue.sort();
    assert_eq!(rows, catalogue, "migrations/postgres/0008 and rtcx_detect::rules::DEFAULT_RULES must agree");
}

#[tokio::test]
async fn rules_and_silences_apply_at_the_next_tick() {
    // A channel of this test's own: the rule below, global like every rule, must not fire in
    // the other tests' data.
    let channel = unique("email").to_lowercase();
    let (db, pg, evaluator, now, _) = spike_in(&channel).await;
    // A rule of its own (the negative-volume detector, that channel only), disabled at first,
    // and a silence of that rule.
    let rule = unique("email_negatives").to_lowercase().replace('-', "_");
    sqlx::query(
        "INSERT INTO alert_rules (name, detector, enabled, sensitivity, channels) \
         VALUES ($1, 'channel_negative_volume', false, 'high', $2)",
    )
    .bind(&rule)
    .bind(vec![channel.clone()])
    .execute(&pg)
    .await
    .expect("rule");
    let silence: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO alert_silences (matcher, starts_at, ends_at, comment) \
         VALUES ($1, now() - interval '1 hour', now() + interval '10 minutes', 'test') RETURNING id",
    )
    .bind(serde_json::json!({"rule": rule}))
    .fetch_one(&pg)
    .await
    .expect("silence");
    let mine = || async {
        sqlx::query_as::<_, (uuid::Uuid, bool, serde_json::Value)>(
            "SELECT a.id, a.silenced, o.payload FROM alerts a JOIN outbox o ON o.aggregate_id = a.id::text \
             WHERE a.rule = $1 AND o.event_type = 'alert_raised'",
        )
        .bind(&rule)
        .fetch_all(&pg)
        .await
        .expect("alerts")
    };

    let first = evaluator.tick(now).await.expect("tick");
    assert!(mine().await.is_empty(), "a disabled rule raises nothing");
    sqlx::query("UPDATE alert_rules SET enabled = true WHERE name = $1").bind(&rule).execute(&pg).await.expect("on");
    // Re-evaluate the same windows (as after lost progress): only the enabled rule is new.
    sqlx::query("DELETE FROM detector_progress WHERE name = $1")
        .bind(&evaluator.name)
        .execute(&pg)
        .await
        .expect("reset");
    let second = evaluator.tick(now).await.expect("tick");
    let raised = mine().await;
    assert_eq!(raised.len(), 1, "{second:?}");
    assert_eq!(second.created, vec![raised[0].0], "only the newly enabled rule's alert is new");
    assert!(raised[0].1, "muted by the silence");
    assert_eq!(raised[0].2["silenced"], true, "the event says so: notifiers skip it");
    assert_eq!(raised[0].2["rule"], rule.as_str());

    let ids: Vec<uuid::Uuid> = first.created.into_iter().chain(second.created).collect();
    sqlx::query("DELETE FROM alert_rules WHERE name = $1").bind(&rule).execute(&pg).await.expect("cleanup");
    sqlx::query("DELETE FROM alert_silences WHERE id = $1").bind(silence).execute(&pg).await.expect("cleanup");
    sqlx::query("DELETE FROM alerts WHERE id = ANY($1)").bind(&ids).execute(&pg).await.expect("cleanup");
    db.drop().await;
}

#[tokio::test]
async fn a_customer_with_repeated_complaints_is_a_churn_risk_until_it_stops() {
    let (db, pg, evaluator, now, closed_end) = spike_in(&unique("web").to_lowercase()).await;
    let (risky, calm) = (unique("cust-risky"), unique("cust-calm"));
    // Four negative feedback of one customer in the last closed window, two of another.
    for (customer, n) in [(&risky, 4), (&calm, 2)] {
        evaluator
            .ch
            .query(&format!(
                "INSERT INTO feedback (id, occurred_at, received_at, processed_at, channel, text, sentiment_label,
                                       sentiment_score, model_name, customer_id)
                 SELECT generateUUIDv4(), toDateTime64({} + number * 50, 3, 'UTC') AS t, t, t, 'email',
                        concat('still broken ', toString(number)), 'negative', -0.8, 'rtcx', '{customer}'
                 FROM numbers({n})",
                closed_end - 240
            ))
            .execute()
            .await
            .expect("insert feedback");
    }
    let report = evaluator.tick(now).await.expect("tick");
    let churn: Vec<(uuid::Uuid, String, String, serde_json::Value, f64)> = sqlx::query_as(
        "SELECT id, alert_type, severity, evidence, observed FROM alerts WHERE id = ANY($1) AND rule = 'customer_churn'",
    )
    .bind(&report.created)
    .fetch_all(&pg)
    .await
    .expect("alerts");
    assert_eq!(churn.len(), 1, "{report:?}");
    let (id, alert_type, severity, evidence, observed) = &churn[0];
    assert_eq!((alert_type.as_str(), severity.as_str(), *observed), ("CUSTOMER_CHURN_RISK", "HIGH", 4.0));
    assert_eq!(evidence["latest_signals"].as_array().map(Vec::len), Some(4));
    let dimension: serde_json::Value =
        sqlx::query_scalar("SELECT dimension FROM alerts WHERE id = $1").bind(id).fetch_one(&pg).await.expect("dim");
    assert_eq!(dimension, serde_json::json!({"customer_id": risky}));

    // Re-evaluating the same windows changes nothing.
    sqlx::query("DELETE FROM detector_progress WHERE name = $1")
        .bind(&evaluator.name)
        .execute(&pg)
        .await
        .expect("reset");
    let again = evaluator.tick(now).await.expect("tick");
    assert!(!again.created.contains(id), "{again:?}");

    // Eight days later the complaints have left the period: the alert is cleared, once.
    let later = now + Duration::days(8);
    let moved_on = evaluator.tick(later).await.expect("tick later");
    assert_eq!(moved_on.rebuilt, None, "the kept run is extended by the new windows");
    assert!(moved_on.windows >= 8 * 288 - 2, "eight days of windows (the watermark trails the clock): {moved_on:?}");
    let cleared: (Option<DateTime<Utc>>, i64) = sqlx::query_as(
        "SELECT a.cleared_at, (SELECT count(*) FROM outbox o WHERE o.aggregate_id = a.id::text AND o.event_type = 'alert_cleared')
         FROM alerts a WHERE a.id = $1",
    )
    .bind(id)
    .fetch_one(&pg)
    .await
    .expect("cleared");
    assert!(cleared.0.is_some(), "cleared");
    assert_eq!(cleared.1, 1);

    let mut ids = report.created.clone();
    ids.extend(again.created);
    sqlx::query("DELETE FROM alerts WHERE id = ANY($1)").bind(&ids).execute(&pg).await.expect("cleanup");
    db.drop().await;
}
