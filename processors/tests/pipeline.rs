//! The stream pipeline against real Kafka, ClickHouse and Postgres: every accepted event
//! lands enriched in ClickHouse exactly once (raw table and every rollup), bad messages go to
//! the dead-letter topic, and crashes, rebalances and outages of ClickHouse or the broker
//! change nothing in the counts.
//!
//! Each test has its own topics, consumer group and ClickHouse database, and starts real
//! `rtcx-processors` processes. The tests run one at a time (they start processes and
//! servers, and time-based steps stay meaningful on a 2-core machine).

mod common;

use std::time::Duration;

use common::{Counts, TestEnv, event};
use rtcx_schemas::{DeadLetter, DeadLetterReason, EnrichedFeedback};
use rtcx_service_kit::testing::{ClickHouseProcess, KafkaProcess, env, unique};

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn stack_env(partitions: i32) -> TestEnv {
    TestEnv::new(&env("RTCX_KAFKA_BROKERS"), &env("RTCX_CLICKHOUSE_URL"), partitions).await
}

fn events(range: std::ops::Range<usize>) -> Vec<(String, Vec<u8>)> {
    range.map(event).collect()
}

async fn pg() -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new().max_connections(2).connect(&env("RTCX_POSTGRES_URL")).await.expect("postgres")
}

async fn add_topic(pg: &sqlx::PgPool, keyword: &str) -> uuid::Uuid {
    sqlx::query_scalar("INSERT INTO topics (name, category, keywords) VALUES ($1, 'test', $2) RETURNING id")
        .bind(unique(&format!("test topic {keyword}")))
        .bind(vec![keyword.to_owned()])
        .fetch_one(pg)
        .await
        .expect("insert topic")
}

/// Rows carrying `topic`, counted in the raw table and in the hourly topic rollup; the daily
/// topic rollup must agree with the hourly one.
///
/// An insert commits the raw table's part before the views' parts, so a reader that saw the
/// last rows arrive can still miss their rollup rows for a moment: read again (up to 10 s)
/// until the three counts agree, and return the last reading either way.
async fn rows_with_topic(t: &TestEnv, topic: uuid::Uuid) -> (u64, u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (raw, hourly, daily) = t
            .clickhouse()
            .query(
                "SELECT assumeNotNull((SELECT count() FROM feedback WHERE has(topic_ids, toUUID(?)))), \
                 toUInt64(assumeNotNull((SELECT sum(feedback_count) FROM feedback_topic_hourly WHERE topic_id = toUUID(?)))), \
                 toUInt64(assumeNotNull((SELECT sum(feedback_count) FROM feedback_topic_daily WHERE topic_id = toUUID(?))))",
            )
            .bind(topic.to_string())
            .bind(topic.to_string())
            .bind(topic.to_string())
            .fetch_one::<(u64, u64, u64)>()
            .await
            .expect("topic counts");
        if (raw == hourly && hourly == daily) || std::time::Instant::now() >= deadline {
            assert_eq!(hourly, daily, "daily and hourly topic rollups agree");
            return (raw, hourly);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_land_enriched_exactly_once_and_bad_messages_are_dead_lettered() {
    let _serial = SERIAL.lock().await;
    let t = stack_env(3).await;
    let pg = pg().await;
    let parcel = add_topic(&pg, "parcel").await;

    let mut messages = events(0..200);
    // The same message twice (a producer retry), and bad messages in the middle.
    let resent: Vec<_> = messages[..20].to_vec();
    let base: serde_json::Value = serde_json::from_slice(&event(0).1).expect("json");
    let mut oversized = base.clone();
    oversized["text"] = serde_json::json!("x".repeat(10_001));
    let mut fax = base;
    fax["channel"] = serde_json::json!("fax");
    let bad: Vec<(String, Vec<u8>, DeadLetterReason)> = vec![
        ("bad/json".into(), b"{\"text\": \"unterminated".to_vec(), DeadLetterReason::MalformedJson),
        ("bad/schema".into(), b"{\"hello\": 1}".to_vec(), DeadLetterReason::SchemaMismatch),
        ("bad/oversized".into(), serde_json::to_vec(&oversized).expect("json"), DeadLetterReason::InvalidEvent),
        ("bad/channel".into(), serde_json::to_vec(&fax).expect("json"), DeadLetterReason::SchemaMismatch),
    ];
    for (i, (k, p, _)) in bad.iter().enumerate() {
        messages.insert(50 + i * 30, (k.clone(), p.clone()));
    }
    messages.extend(resent);
    t.produce(&messages).await;

    let url = env("RTCX_POSTGRES_URL");
    // Keyword rules only here (similarity off), so the expected assignments are exact; the
    // similarity rule is covered by rtcx-topics' tests and tests/topic_examples.rs.
    let mut p = t.spawn_processor(
        "model",
        false,
        &[("RTCX_POSTGRES_URL", &url), ("RTCX_TOPIC_REFRESH_SECS", "1"), ("RTCX_TOPIC_THRESHOLD", "1.0")],
    );
    let c = t.wait_for_rows(200, Duration::from_secs(240)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    t.counts().await.assert_exactly(200);
    assert_eq!(c.ids, 200);

    // Enriched by the model, not the fallback.
    let models: Vec<String> =
        t.clickhouse().query("SELECT DISTINCT model_name FROM feedback").fetch_all().await.expect("model names");
    assert_eq!(models, vec!["rtcx-minilm-l6-heads".to_owned()]);
    // Each row keeps the model's sentence embedding in its stored int8 form (MiniLM: 384
    // values, the largest ±127; query-api/tests/similar.rs searches them).
    let (with_embedding, full_scale): (u64, u64) = t
        .clickhouse()
        .query(
            "SELECT countIf(length(embedding) = 384), \
             countIf(arrayMax(arrayMap(x -> abs(toInt16(x)), embedding)) = 127) FROM feedback",
        )
        .fetch_one()
        .await
        .expect("embeddings");
    assert_eq!((with_embedding, full_scale), (200, 200));
    // Each is filed in the list of its nearest centroid (the quantiser beside the heads).
    let lists = rtcx_schemas::embedding_lists::EmbeddingLists::read_beside(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/rtcx-heads"
    )))
    .expect("read the lists")
    .expect("embedding-lists.bin beside the heads");
    let filed: Vec<(Vec<i8>, u16)> =
        t.clickhouse().query("SELECT embedding, embedding_list FROM feedback").fetch_all().await.expect("lists");
    assert_eq!(filed.len(), 200);
    for (embedding, list) in &filed {
        assert_eq!(*list, lists.file(embedding));
        assert!((1..=256).contains(list), "{list}");
    }

    // Dead letters: the four bad messages with their reasons and original bytes.
    let letters = t.read_topic(&t.dlq, 4, Duration::from_secs(30)).await;
    assert_eq!(letters.len(), 4, "exactly the four bad messages are dead letters");
    for (key, payload) in &letters {
        let d: DeadLetter = serde_json::from_slice(payload).expect("dead letter JSON");
        let key = String::from_utf8(key.clone().expect("keyed")).expect("utf-8 key");
        let (_, original, reason) = bad.iter().find(|(k, _, _)| *k == key).expect("a bad message's key");
        assert_eq!(d.reason, *reason, "{key}: {}", d.error);
        assert_eq!(&d.payload().expect("base64"), original);
        assert_eq!(d.source.topic, t.raw);
        if key == "bad/channel" {
            assert!(d.error.contains("fax"), "{}", d.error);
        }
        if key == "bad/oversized" {
            assert!(d.error.contains("text"), "{}", d.error);
        }
    }

    // Enriched events: one per stored row.
    let enriched = t.read_topic(&t.enriched, 200, Duration::from_secs(30)).await;
    assert_eq!(enriched.len(), 200);
    let first: EnrichedFeedback = serde_json::from_slice(&enriched[0].1).expect("enriched JSON");
    assert!((-1.0..=1.0).contains(&first.sentiment.score));

    // Topic assignment by keyword: every "parcel" text (1 in 8) and only those.
    assert_eq!(rows_with_topic(&t, parcel).await, (25, 25));
    // Each assignment records why: here the keyword, at the topic's place in topic_ids.
    let reasons: Vec<String> = t
        .clickhouse()
        .query("SELECT topic_reasons[indexOf(topic_ids, toUUID(?))] FROM feedback WHERE has(topic_ids, toUUID(?))")
        .bind(parcel.to_string())
        .bind(parcel.to_string())
        .fetch_all()
        .await
        .expect("reasons");
    assert_eq!(reasons.len(), 25);
    for r in reasons {
        let r: serde_json::Value = serde_json::from_str(&r).expect("a JSON reason");
        assert_eq!(r, serde_json::json!({"by": "keyword", "keyword": "parcel"}));
    }

    // The catalogue is reloaded without a restart.
    let refund = add_topic(&pg, "refund").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    t.produce(&events(200..216)).await;
    t.wait_for_rows(216, Duration::from_secs(60)).await;
    assert_eq!(rows_with_topic(&t, refund).await, (2, 2), "texts 206 and 214 mention a refund");

    let (status, _) = p.get("/health/ready").await;
    assert_eq!(status, 200);
    let (_, metrics) = p.get("/metrics").await;
    assert!(metrics.contains("rtcx_processors_dead_letters_total{reason=\"schema_mismatch\"} 2"), "{metrics}");
    assert!(metrics.contains("rtcx_processors_messages_total{outcome=\"duplicate\"} 20"), "{metrics}");
    p.terminate();
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_insert_and_before_the_commit_counts_once() {
    let _serial = SERIAL.lock().await;
    let t = stack_env(3).await;
    t.produce(&events(0..1000)).await;
    // Aborts right after its second insert: those rows are in ClickHouse, their offsets are not
    // committed, so the next processor gets the same messages again.
    let mut crashing = t.spawn_processor("crashing", true, &[("RTCX_TEST_CRASH_AFTER_INSERTS", "2")]);
    // The hook exists with the `fault-injection` feature only (`deploy/dev.sh test` builds with
    // it): without it, this times out.
    let what = "the fault-injected abort (rtcx-processors built with --features rtcx-processors/fault-injection)";
    common::eventually(what, Duration::from_secs(60), async || {
        crashing.get("/health/live").await.0 == 0 && t.counts().await.ids > 0
    })
    .await;
    crashing.kill9();
    let before = t.counts().await;
    assert!(before.ids > 0 && before.ids < 1000, "{before:?}");
    let mut p = t.spawn_processor("after-crash", true, &[]);
    t.wait_for_rows(1000, Duration::from_secs(120)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    t.counts().await.assert_exactly(1000);
    let (_, metrics) = p.get("/metrics").await;
    assert!(!metrics.contains("rtcx_processors_messages_total{outcome=\"duplicate\"} 0"), "redelivery seen: {metrics}");
    p.terminate();
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_run_then_restart_counts_exactly_once() {
    let _serial = SERIAL.lock().await;
    let t = stack_env(3).await;
    t.produce(&events(0..4000)).await;
    let mut p = t.spawn_processor("first", true, &[("RTCX_BATCH_MAX_ROWS", "100")]);
    t.wait_for_rows(300, Duration::from_secs(120)).await;
    p.kill9();
    let at_kill = t.counts().await;
    assert!(at_kill.ids < 4000, "killed too late to matter: {at_kill:?}");
    let mut p = t.spawn_processor("second", true, &[]);
    t.wait_for_rows(4000, Duration::from_secs(180)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    t.counts().await.assert_exactly(4000);
    p.terminate();
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processors_with_rebalances_count_exactly_once() {
    let _serial = SERIAL.lock().await;
    let t = stack_env(6).await;
    let producer = {
        let t = t.clone();
        tokio::spawn(async move {
            for chunk in 0..8 {
                t.produce(&events(chunk * 500..(chunk + 1) * 500)).await;
                tokio::time::sleep(Duration::from_millis(700)).await;
            }
        })
    };
    let mut a = t.spawn_processor("a", true, &[]);
    t.wait_for_rows(200, Duration::from_secs(120)).await;
    // B joins: partitions move from A to B while batches are in flight.
    let mut b = t.spawn_processor("b", true, &[]);
    tokio::time::sleep(Duration::from_secs(4)).await;
    // A leaves (graceful): its partitions move to B.
    a.terminate();
    producer.await.expect("producer task");
    t.wait_for_rows(4000, Duration::from_secs(180)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    t.counts().await.assert_exactly(4000);
    let log = std::fs::read_to_string(&b.log).unwrap_or_default();
    assert!(log.contains("partitions assigned"), "B took part in the group");
    b.terminate();
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_outage_pauses_reports_not_ready_and_resumes() {
    let _serial = SERIAL.lock().await;
    let mut ch = ClickHouseProcess::start();
    let t = TestEnv::new(&env("RTCX_KAFKA_BROKERS"), &ch.url(), 3).await;
    t.produce(&events(0..1000)).await;
    let mut p = t.spawn_processor("outage", true, &[]);
    t.wait_for_rows(1000, Duration::from_secs(120)).await;

    ch.kill();
    t.produce(&events(1000..2000)).await;
    common::eventually("not-ready while ClickHouse is down", Duration::from_secs(30), async || {
        p.get("/health/ready").await.0 == 503
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(p.get("/health/live").await.0, 200, "the processor stays up");

    ch.restart();
    t.wait_for_rows(2000, Duration::from_secs(120)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    t.counts().await.assert_exactly(2000);
    common::eventually("ready again", Duration::from_secs(30), async || p.get("/health/ready").await.0 == 200).await;
    p.terminate();
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_loses_and_duplicates_nothing() {
    let _serial = SERIAL.lock().await;
    let mut kafka = KafkaProcess::start();
    let t = TestEnv::new(&kafka.brokers(), &env("RTCX_CLICKHOUSE_URL"), 3).await;
    t.produce(&events(0..1000)).await;
    let mut p = t.spawn_processor("broker", true, &[]);
    t.wait_for_rows(300, Duration::from_secs(120)).await;

    kafka.kill();
    tokio::time::sleep(Duration::from_secs(3)).await;
    kafka.restart();
    t.produce(&events(1000..2000)).await;
    t.wait_for_rows(2000, Duration::from_secs(180)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let c: Counts = t.counts().await;
    c.assert_exactly(2000);
    p.terminate();
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_posted_to_ingest_are_counted_once_per_channel_and_label() {
    let _serial = SERIAL.lock().await;
    let t = stack_env(3).await;
    let pg = pg().await;
    let ingest = common::Ingest::start(&t, &pg).await;
    let mut p = t.spawn_processor("e2e", false, &[]);

    let channels = ["web", "mobile_app", "email", "chat", "social", "survey", "call_center"];
    let texts = ["My refund never arrived.", "Lovely staff, thank you!", "How do I reset my password?"];
    let mut ids = std::collections::HashSet::new();
    let mut expected: std::collections::BTreeMap<String, u64> = Default::default();
    for batch in 0..6 {
        let items: Vec<serde_json::Value> = (0..50)
            .map(|i| {
                let n = batch * 50 + i;
                serde_json::json!({
                    "channel": channels[n % channels.len()],
                    "text": texts[n % texts.len()],
                    "idempotency_key": format!("e2e-{n}"),
                    "segment": "smb",
                })
            })
            .collect();
        // Every batch is sent twice (a client retry): same idempotency keys, same ids.
        for _ in 0..2 {
            ids.extend(ingest.post(&items).await);
        }
        for item in &items {
            *expected.entry(item["channel"].as_str().expect("channel").to_owned()).or_default() += 1;
        }
    }
    assert_eq!(ids.len(), 300, "a retried item keeps its id");

    t.wait_for_rows(300, Duration::from_secs(240)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    t.counts().await.assert_exactly(300);
    let ch = t.clickhouse();
    let raw: Vec<(String, String, u64)> = ch
        .query("SELECT channel, sentiment_label, count() FROM feedback GROUP BY 1, 2 ORDER BY 1, 2")
        .fetch_all()
        .await
        .expect("raw counts");
    let rollup: Vec<(String, String, u64)> = ch
        .query("SELECT channel, sentiment_label, sum(feedback_count) FROM feedback_hourly GROUP BY 1, 2 ORDER BY 1, 2")
        .fetch_all()
        .await
        .expect("rollup counts");
    assert_eq!(raw, rollup, "hour × channel × label rollup equals the raw table");
    let mut per_channel: std::collections::BTreeMap<String, u64> = Default::default();
    for (c, _, n) in &raw {
        *per_channel.entry(c.clone()).or_default() += n;
    }
    assert_eq!(per_channel, expected, "per channel: what ingest accepted");
    p.terminate();
    drop(ingest);
    t.cleanup().await;
}
