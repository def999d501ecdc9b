//! Alerts end to end through the real pipeline: HTTP ingest → Kafka → two processor instances
//! (the real model) → ClickHouse rollups → the evaluator (one instance at a time) → Postgres
//! alerts and outbox. One-minute windows, allowed lateness 10 s, staleness limit 2 minutes.
//!
//! An hour of backdated steady traffic on three channels (events out of order within the
//! allowed lateness, a catalogue topic mentioned a few times a minute) gives the baselines
//! their hour. Then, live:
//! 1. two steady minutes, with late events (4 minutes behind: stored, counted, never an alert)
//!    and the first complaint of a customer: nothing;
//! 2. an intake outage (nothing arrives for two minutes), then traffic again: SYSTEM_ANOMALY
//!    on all feedback, and no surge when traffic resumes;
//! 3. a complaint spike on email, a burst of the topic on chat and web, the customer's third
//!    complaint: SENTIMENT_SPIKE on email, TRENDING_TOPIC on the topic, CUSTOMER_CHURN_RISK on
//!    the customer (and the rules that watch the same spike: email's negative volume and
//!    sentiment, all feedback's negative share) — on no other dimension;
//! 4. the evaluating instance is killed (-9) mid-incident (its partitions rebalance to the
//!    other) while the spike goes on: the survivor takes over and updates the same alerts
//!    (no duplicate, no loss);
//! 5. both instances stop while traffic goes on with a spike on chat; when one comes back, the
//!    catch-up evaluates the missed windows and the chat alerts, found behind real time, are
//!    `backfill`: recorded, their events say not to notify.
//!
//! Every event ingest accepted is stored once. The test takes about 15 minutes.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{Ingest, TestEnv, eventually};
use rtcx_service_kit::testing::{env, unique};
use serde_json::{Value, json};

const NEGATIVE: &str = "Terrible experience, the product broke after one day and nobody answers.";
const POSITIVE: &str = "Great service, the agent solved my problem in minutes, thank you!";
const NEUTRAL: &str = "Where can I change my delivery address for the next order?";
/// A text mentioning the test's catalogue topic, whose keyword is a word of its own (another
/// run's topic, in the same database, must not match).
fn topic_text(keyword: &str) -> String {
    format!("Loving the new {keyword} rewards, what a great idea!")
}
const CHANNELS: [&str; 3] = ["email", "chat", "web"];
/// Steady events per channel and minute (24 a minute in all: enough for the intake rule's
/// minimum of 20 expected events).
const PER_MINUTE: usize = 8;

/// One submission for ingest: `channel`, event time `at`, `text`, a customer of its own
/// unless given.
fn item(channel: &str, at: DateTime<Utc>, text: &str, customer: Option<&str>) -> Value {
    let own = format!("c-{}", uuid::Uuid::now_v7().simple());
    json!({
        "channel": channel,
        "text": text,
        "occurred_at": at,
        "customer_id": customer.unwrap_or(&own),
        "idempotency_key": uuid::Uuid::now_v7().to_string(),
    })
}

/// What a minute holds besides the steady traffic.
#[derive(Clone, Copy, Default)]
struct Extra {
    /// Extra complaints on a channel.
    spike: Option<(&'static str, usize)>,
    /// Extra mentions of the topic on chat and on web each.
    burst: usize,
}

/// The events of the minute from `at`: on each channel `PER_MINUTE` steady ones (one in four
/// negative, one mentioning the topic `keyword`), then the extras; neighbours swapped (out of
/// order within the allowed lateness).
fn minute(at: DateTime<Utc>, extra: Extra, keyword: &str) -> Vec<Value> {
    let topic = topic_text(keyword);
    let mut out = Vec::new();
    for c in CHANNELS {
        let spike = extra.spike.filter(|s| s.0 == c).map_or(0, |s| s.1);
        let burst = if c == "email" { 0 } else { extra.burst };
        let n = PER_MINUTE + spike + burst;
        for k in 0..n {
            let t = at + chrono::Duration::milliseconds((k * 60_000 / n) as i64);
            let text = match k {
                0 => &topic,
                k if k >= PER_MINUTE + spike => &topic,
                k if k >= PER_MINUTE => NEGATIVE,
                k if k % 5 == 1 => NEGATIVE,
                k if k % 2 == 0 => POSITIVE,
                _ => NEUTRAL,
            };
            out.push(item(c, t, text, None));
        }
    }
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
        ("RTCX_TOPIC_REFRESH_SECS", "1".to_owned()),
    ]
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct Row {
    id: uuid::Uuid,
    alert_type: String,
    dimension: Value,
    backfill: bool,
    rule: Option<String>,
    fired_window_start: Option<DateTime<Utc>>,
}

impl Row {
    fn key(&self) -> (String, String) {
        (self.alert_type.clone(), self.dimension.to_string())
    }
}

/// Posts the minutes of `[from, from + mins)` (`also` with the first) as each begins, then
/// waits for the last to end; the ids ingest accepted.
async fn live(
    ingest: &Ingest,
    keyword: &str,
    from: DateTime<Utc>,
    mins: i64,
    extra: Extra,
    also: &[Value],
) -> Vec<String> {
    let mut ids = Vec::new();
    for m in 0..mins {
        let at = from + chrono::Duration::minutes(m);
        let mut items = minute(at, extra, keyword);
        if m == 0 {
            items.extend_from_slice(also);
        }
        ids.extend(ingest.post(&items).await);
        sleep_until(at + chrono::Duration::minutes(1)).await;
    }
    ids
}

async fn sleep_until(t: DateTime<Utc>) {
    tokio::time::sleep((t - Utc::now()).to_std().unwrap_or_default()).await;
}

/// The start of the minute after `t`.
fn next_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp((t.timestamp() / 60 + 1) * 60, 0).expect("time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_become_alerts_once_through_ingest_kills_and_catch_up() {
    let t = TestEnv::new(&env("RTCX_KAFKA_BROKERS"), &env("RTCX_CLICKHOUSE_URL"), 3).await;
    let pg_url = env("RTCX_POSTGRES_URL");
    let pg = sqlx::PgPool::connect(&pg_url).await.expect("postgres");
    rtcx_migrations::postgres::migrate(&pg).await.expect("migrate");
    // Letters and digits only: a whole word to the keyword matcher.
    let keyword = format!("zeppelin{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let topic: uuid::Uuid =
        sqlx::query_scalar("INSERT INTO topics (name, category, keywords) VALUES ($1, 'test', ARRAY[$2]) RETURNING id")
            .bind(unique("alert e2e zeppelin"))
            .bind(&keyword)
            .fetch_one(&pg)
            .await
            .expect("topic");
    let churner = unique("churner");
    let evaluator = format!("{}/{}", t.group, t.raw);
    let mine = || async {
        sqlx::query_as::<_, Row>(
            "SELECT id, alert_type, dimension, backfill, rule, fired_window_start FROM alerts
             WHERE evidence->>'evaluator' = $1 ORDER BY created_at, id",
        )
        .bind(&evaluator)
        .fetch_all(&pg)
        .await
        .expect("alerts")
    };
    let ingest = Ingest::start(&t, &pg).await;
    let mut accepted: BTreeSet<String> = BTreeSet::new();

    // An hour of backdated steady traffic, then two instances.
    // The history runs up to the minute the live traffic starts (a gap between them would be
    // an intake outage): its last minutes lie a little ahead (ingest takes up to 5 minutes),
    // time for the instances to start and store it.
    let start = next_minute(Utc::now()) + chrono::Duration::minutes(2);
    let mut history = Vec::new();
    for m in 0..60 {
        history.extend(minute(start - chrono::Duration::minutes(60 - m), Extra::default(), &keyword));
    }
    accepted.extend(ingest.post(&history).await);
    let envs = alert_env(&pg_url);
    let extra: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut a = t.spawn_processor("a", false, &extra);
    let mut b = t.spawn_processor("b", false, &extra);
    t.wait_for_rows(accepted.len() as u64, Duration::from_secs(240)).await;

    // 1. Steady, with late events and the customer's first complaint: nothing.
    sleep_until(start).await;
    let mut also: Vec<Value> =
        (0..6).map(|i| item(CHANNELS[i % 3], start - chrono::Duration::minutes(4), NEUTRAL, None)).collect();
    also.push(item("email", start + chrono::Duration::seconds(5), NEGATIVE, Some(&churner)));
    accepted.extend(live(&ingest, &keyword, start, 2, Extra::default(), &also).await);
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert!(mine().await.is_empty(), "steady traffic and late events raise nothing: {:?}", mine().await);

    // 2. An intake outage (two whole minutes without feedback), then traffic again with the
    // customer's second complaint.
    let outage = start + chrono::Duration::minutes(2);
    let resumed = outage + chrono::Duration::minutes(2);
    sleep_until(resumed).await;
    let second = [item("email", resumed, NEGATIVE, Some(&churner))];
    accepted.extend(live(&ingest, &keyword, resumed, 1, Extra::default(), &second).await);
    eventually("the intake drop", Duration::from_secs(90), async || {
        mine().await.iter().any(|r| r.alert_type == "SYSTEM_ANOMALY")
    })
    .await;

    // 3. A complaint spike on email, a topic burst on chat and web, the third complaint.
    let spike_at = next_minute(Utc::now());
    sleep_until(spike_at).await;
    let third = [item("email", spike_at, NEGATIVE, Some(&churner))];
    let incident = Extra { spike: Some(("email", 30)), burst: 12 };
    accepted.extend(live(&ingest, &keyword, spike_at, 2, incident, &third).await);
    eventually("alerts on email, the topic and the customer", Duration::from_secs(120), async || {
        let rows = mine().await;
        let has = |ty: &str, dim: &Value| rows.iter().any(|r| r.alert_type == ty && &r.dimension == dim);
        has("SENTIMENT_SPIKE", &json!({"channel": "email"}))
            && has("TRENDING_TOPIC", &json!({"topic_id": topic.to_string()}))
            && has("CUSTOMER_CHURN_RISK", &json!({"customer_id": churner}))
    })
    .await;

    // 4. Kill -9 whichever instance evaluates; the spike goes on; the other takes over.
    let holder = if std::fs::read_to_string(&a.log).unwrap_or_default().contains("this instance evaluates") {
        &mut a
    } else {
        &mut b
    };
    holder.kill9();
    accepted.extend(live(&ingest, &keyword, Utc::now(), 2, Extra { spike: Some(("email", 30)), burst: 0 }, &[]).await);
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

    // Exactly the expected alerts: these, each once ...
    let required: BTreeMap<(String, String), DateTime<Utc>> = [
        (("SYSTEM_ANOMALY", json!({})), outage),
        (("SENTIMENT_SPIKE", json!({"channel": "email"})), spike_at),
        (("TRENDING_TOPIC", json!({"topic_id": topic.to_string()})), spike_at),
        (("CUSTOMER_CHURN_RISK", json!({"customer_id": churner})), spike_at),
    ]
    .into_iter()
    .map(|((ty, dim), at)| ((ty.to_owned(), dim.to_string()), at))
    .collect();
    // ... and at most these besides: the other rules watching the same spike.
    let allowed: BTreeSet<(String, String)> = [
        ("HIGH_VOLUME_NEGATIVE", json!({"channel": "email"})),
        ("CHANNEL_PERFORMANCE", json!({"channel": "email"})),
        ("SENTIMENT_SPIKE", json!({})),
    ]
    .into_iter()
    .map(|(ty, dim)| (ty.to_owned(), dim.to_string()))
    .collect();
    for (key, at) in &required {
        let found: Vec<&Row> = rows.iter().filter(|r| &r.key() == key).collect();
        assert_eq!(found.len(), 1, "{key:?} once: {rows:?}");
        // Fired in the incident's first windows (pending windows and lateness included).
        let fired = found[0].fired_window_start.expect("fired window");
        let from = *at - chrono::Duration::minutes(1);
        assert!(
            fired >= from && fired <= *at + chrono::Duration::minutes(3),
            "{key:?} fired at {fired}, incident {at}"
        );
    }
    for r in &rows {
        assert!(required.contains_key(&r.key()) || allowed.contains(&r.key()), "unexpected alert {r:?}");
        assert!(!r.backfill, "found live: {r:?}");
        if r.alert_type == "SENTIMENT_SPIKE" || r.alert_type == "HIGH_VOLUME_NEGATIVE" {
            let fired = r.fired_window_start.expect("fired window");
            assert!(fired >= spike_at - chrono::Duration::minutes(1), "the spike's, not the traffic resuming: {r:?}");
        }
    }
    let live_alerts = rows.len();

    // 5. Both instances down while traffic goes on with a spike on chat; one comes back.
    a.terminate();
    b.terminate();
    let down_spike = Utc::now();
    accepted.extend(live(&ingest, &keyword, down_spike, 2, Extra { spike: Some(("chat", 30)), burst: 0 }, &[]).await);
    accepted.extend(live(&ingest, &keyword, Utc::now(), 1, Extra::default(), &[]).await);
    // Come back only once every window of the spike is stale (its end more than
    // RTCX_ALERT_STALE_SECS before the wall clock): how soon an instance starts must not
    // decide whether its alerts are backfill.
    sleep_until(next_minute(down_spike + chrono::Duration::minutes(2)) + chrono::Duration::seconds(125)).await;
    let _c = t.spawn_processor("c", false, &extra);
    eventually("a backfill alert on chat", Duration::from_secs(180), async || {
        mine().await.iter().any(|r| r.dimension == json!({"channel": "chat"}))
    })
    .await;
    let rows = mine().await;
    let chat: Vec<&Row> = rows.iter().filter(|r| r.dimension == json!({"channel": "chat"})).collect();
    assert!(chat.iter().all(|r| r.backfill), "found behind real time: {chat:?}");
    let events: Vec<Value> = sqlx::query_scalar(
        "SELECT payload FROM outbox WHERE aggregate_type = 'alert' AND aggregate_id = ANY($1) AND event_type = 'alert_raised'",
    )
    .bind(chat.iter().map(|r| r.id.to_string()).collect::<Vec<_>>())
    .fetch_all(&pg)
    .await
    .expect("events");
    assert_eq!(events.len(), chat.len());
    assert!(events.iter().all(|e| e["backfill"] == true), "not to be notified: {events:?}");
    let new: Vec<&Row> = rows.iter().skip(live_alerts).filter(|r| r.dimension != json!({"channel": "chat"})).collect();
    assert!(new.iter().all(|r| r.dimension == json!({}) && r.backfill), "nothing new but the chat spike's: {new:?}");

    // Nothing ingest acknowledged is lost or counted twice.
    t.wait_for_rows(accepted.len() as u64, Duration::from_secs(120)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    t.counts().await.assert_exactly(accepted.len() as u64);

    let ids: Vec<uuid::Uuid> = rows.iter().map(|r| r.id).collect();
    sqlx::query("DELETE FROM alerts WHERE id = ANY($1)").bind(&ids).execute(&pg).await.expect("cleanup");
    sqlx::query("DELETE FROM topics WHERE id = $1").bind(topic).execute(&pg).await.expect("cleanup");
    t.cleanup().await;
}
