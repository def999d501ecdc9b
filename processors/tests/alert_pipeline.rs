//! Alerts end to end through the real pipeline: Kafka → two processor instances (the real
//! model) → ClickHouse rollups → the evaluator (one instance at a time) → Postgres alerts and
//! outbox. Steady traffic on three channels with a backdated history (so the baselines have
//! their hour), events out of order within the allowed lateness; then a complaint spike on
//! email: alerts on email only, once each per rule. The evaluating instance is killed (-9)
//! mid-incident: the other takes over and updates the same alerts (no duplicate, no loss).
//! Then both instances stop while traffic goes on with a spike on chat; when one comes back,
//! the catch-up evaluates the missed windows in one tick and the chat alerts, found behind real
//! time, are `backfill` (recorded, their events say not to notify). Windows are one minute,
//! the allowed lateness 10 s, the staleness limit 2 minutes; the test takes about 8 minutes.

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{TestEnv, eventually};
use rtcx_service_kit::testing::env;
use serde_json::json;

const NEGATIVE: &str = "Terrible experience, the product broke after one day and nobody answers.";
const POSITIVE: &str = "Great service, the agent solved my problem in minutes, thank you!";
const NEUTRAL: &str = "Where can I change my delivery address for the next order?";

/// One raw event of `channel` at `at`; `negative` picks the text.
fn event(channel: &str, at: DateTime<Utc>, negative: bool, i: usize) -> (String, Vec<u8>) {
    let text = if negative {
        NEGATIVE
    } else if i.is_multiple_of(2) {
        POSITIVE
    } else {
        NEUTRAL
    };
    let v = json!({
        "id": uuid::Uuid::now_v7(),
        "received_at": Utc::now(),
        "occurred_at": at,
        "channel": channel,
        "text": text,
        "source": "alert-pipeline-test",
        // Every event from a customer of its own: no churn risk in this test.
        "customer_id": format!("c{i}-{}", uuid::Uuid::now_v7().simple()),
    });
    (format!("alert-pipeline-test/c{}", i % 50), serde_json::to_vec(&v).expect("json"))
}

/// `per_minute` events per channel for each minute of `[from, to)`; one in five negative,
/// all of them negative on `spike` (with `spike_per_minute` more) when given.
fn minutes(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    per_minute: usize,
    spike: Option<(&str, usize)>,
) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut t = from;
    let mut i = 0;
    while t < to {
        for c in ["email", "chat", "web"] {
            let extra = spike.filter(|s| s.0 == c).map_or(0, |s| s.1);
            for k in 0..per_minute + extra {
                let at = t + chrono::Duration::milliseconds((k * 60_000 / (per_minute + extra)) as i64);
                out.push(event(c, at, k >= per_minute || i % 5 == 0, i));
                i += 1;
            }
        }
        t += chrono::Duration::minutes(1);
    }
    // Out of order within the allowed lateness: neighbours swapped.
    for pair in out.chunks_mut(2) {
        pair.reverse();
    }
    out
}

fn alert_env(pg: &str) -> Vec<(&'static str, String)> {
    vec![
        ("RTCX_POSTGRES_URL", pg.to_owned()),
        ("RTCX_ALERT_WINDOW_SECS", "60".to_owned()),
        ("RTCX_ALERT_LATENESS_SECS", "10".to_owned()),
        ("RTCX_ALERT_IDLE_TIMEOUT_SECS", "20".to_owned()),
        ("RTCX_ALERT_TICK_SECS", "2".to_owned()),
        ("RTCX_ALERT_HISTORY_DAYS", "1".to_owned()),
        ("RTCX_ALERT_STALE_SECS", "120".to_owned()),
    ]
}

#[derive(Debug, sqlx::FromRow)]
struct Row {
    id: uuid::Uuid,
    alert_type: String,
    dimension: serde_json::Value,
    backfill: bool,
    rule: Option<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spikes_become_alerts_once_through_kills_and_catch_up() {
    let t = TestEnv::new(&env("RTCX_KAFKA_BROKERS"), &env("RTCX_CLICKHOUSE_URL"), 3).await;
    let pg_url = env("RTCX_POSTGRES_URL");
    let pg = sqlx::PgPool::connect(&pg_url).await.expect("postgres");
    rtcx_migrations::postgres::migrate(&pg).await.expect("migrate");
    let evaluator = format!("{}/{}", t.group, t.raw);
    let mine = || async {
        sqlx::query_as::<_, Row>(
            "SELECT id, alert_type, dimension, backfill, rule FROM alerts
             WHERE evidence->>'evaluator' = $1 ORDER BY created_at, id",
        )
        .bind(&evaluator)
        .fetch_all(&pg)
        .await
        .expect("alerts")
    };

    // An hour of backdated steady traffic, then two instances.
    let now = Utc::now();
    let start = now - chrono::Duration::minutes(60);
    t.produce(&minutes(start, now, 6, None)).await;
    let envs = alert_env(&pg_url);
    let extra: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut a = t.spawn_processor("a", false, &extra);
    let mut b = t.spawn_processor("b", false, &extra);
    t.wait_for_rows(3 * 6 * 60, Duration::from_secs(180)).await;

    // Live: two steady minutes, then three minutes with a complaint spike on email.
    let live = |from: DateTime<Utc>, mins: i64, spike: Option<(&'static str, usize)>| {
        let t = &t;
        async move {
            for m in 0..mins {
                let at = from + chrono::Duration::minutes(m);
                t.produce(&minutes(at, at + chrono::Duration::minutes(1), 6, spike)).await;
                tokio::time::sleep_until(
                    tokio::time::Instant::now()
                        + (at + chrono::Duration::minutes(1) - Utc::now()).to_std().unwrap_or_default(),
                )
                .await;
            }
        }
    };
    live(Utc::now(), 2, None).await;
    assert!(mine().await.is_empty(), "steady traffic raises nothing: {:?}", mine().await);
    let spike_at = Utc::now();
    live(spike_at, 2, Some(("email", 30))).await;
    eventually("an alert on email", Duration::from_secs(120), async || {
        mine().await.iter().any(|r| r.dimension == json!({"channel": "email"}))
    })
    .await;
    // Kill -9 whichever instance evaluates; the spike goes on; the other takes over.
    let holder = if std::fs::read_to_string(&a.log).unwrap_or_default().contains("this instance evaluates") {
        &mut a
    } else {
        &mut b
    };
    holder.kill9();
    live(Utc::now(), 2, Some(("email", 30))).await;
    let before_catch_up = Utc::now();
    eventually("the survivor evaluates", Duration::from_secs(60), async || {
        let until: Option<DateTime<Utc>> =
            sqlx::query_scalar("SELECT evaluated_until FROM detector_progress WHERE name = $1")
                .bind(&evaluator)
                .fetch_optional(&pg)
                .await
                .expect("progress");
        until.is_some_and(|u| u >= before_catch_up - chrono::Duration::seconds(80))
    })
    .await;
    let rows = mine().await;
    let mut keys: Vec<(Option<String>, String)> =
        rows.iter().map(|r| (r.rule.clone(), r.dimension.to_string())).collect();
    keys.sort();
    let n = keys.len();
    keys.dedup();
    assert_eq!(keys.len(), n, "one alert per rule and dimension, take-over included: {rows:?}");
    for r in &rows {
        // Email, all feedback together (its negative share moved with email's), and the
        // catalogue topics the complaint's text matches; never chat or web.
        let channel = r.dimension.get("channel").and_then(|c| c.as_str());
        assert!(channel.is_none_or(|c| c == "email"), "only email: {rows:?}");
        assert!(!r.backfill, "found live: {r:?}");
    }
    assert!(
        rows.iter().any(|r| r.alert_type == "SENTIMENT_SPIKE" && r.dimension == json!({"channel": "email"})),
        "{rows:?}"
    );
    let email_alerts = rows.iter().filter(|r| r.dimension == json!({"channel": "email"})).count();

    // Both instances down while traffic goes on with a spike on chat; one comes back.
    a.terminate();
    b.terminate();
    let down_at = Utc::now();
    live(down_at, 2, Some(("chat", 30))).await;
    live(Utc::now(), 2, None).await;
    let _c = t.spawn_processor("c", false, &extra);
    eventually("a backfill alert on chat", Duration::from_secs(180), async || {
        mine().await.iter().any(|r| r.dimension == json!({"channel": "chat"}))
    })
    .await;
    let rows = mine().await;
    let chat: Vec<&Row> = rows.iter().filter(|r| r.dimension == json!({"channel": "chat"})).collect();
    assert!(chat.iter().all(|r| r.backfill), "found behind real time: {chat:?}");
    let events: Vec<serde_json::Value> = sqlx::query_scalar(
        "SELECT payload FROM outbox WHERE aggregate_type = 'alert' AND aggregate_id = ANY($1) AND event_type = 'alert_raised'",
    )
    .bind(chat.iter().map(|r| r.id.to_string()).collect::<Vec<_>>())
    .fetch_all(&pg)
    .await
    .expect("events");
    assert_eq!(events.len(), chat.len());
    assert!(events.iter().all(|e| e["backfill"] == true), "not to be notified: {events:?}");
    assert_eq!(
        rows.iter().filter(|r| r.dimension == json!({"channel": "email"})).count(),
        email_alerts,
        "nothing new on email: {rows:?}"
    );

    let ids: Vec<uuid::Uuid> = rows.iter().map(|r| r.id).collect();
    sqlx::query("DELETE FROM alerts WHERE id = ANY($1)").bind(&ids).execute(&pg).await.expect("cleanup");
    t.cleanup().await;
}
