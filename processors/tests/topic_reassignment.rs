//! Retroactive topic assignment against the real ClickHouse and Postgres, with the real model:
//! a job applies the catalogue as it is now to stored feedback (by keyword, and by example from
//! the stored embeddings), survives a crash between its rollup corrections and its update, and
//! leaves every topic rollup equal to the counts from the raw table; run again, it changes
//! nothing.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{Duration, Utc};
use common::TempClickHouse;
use rtcx_processors::inference::pool::AnalyzerPool;
use rtcx_processors::inference::{Batching, ModelArgs};
use rtcx_processors::topics::TopicCatalogue;
use rtcx_processors::topics::reassign::{Job, ReassignError, ReassignSettings, Reassigner};
use rtcx_schemas::embedding::quantise;
use rtcx_schemas::rows::FeedbackRow;
use rtcx_service_kit::testing::{env, unique};
use uuid::Uuid;

const CATEGORY: &str = "topic-reassignment-test";

const PARCEL: [&str; 3] = [
    "My parcel is three days late and nobody answers.",
    "The parcel arrived damaged, the box was crushed.",
    "Where is my parcel? Tracking has not moved.",
];
const REFUND: [&str; 2] = ["I am still waiting for my refund after two weeks.", "Please refund the double charge."];
const CRASH: [&str; 3] = [
    "The app crashes as soon as I open it.",
    "Your mobile app keeps freezing and closing by itself.",
    "Since the update the app crashes on the login screen.",
];
const OTHER: [&str; 2] = ["Lovely staff at the counter today.", "Opening hours on Sunday would help."];

async fn topic(pg: &sqlx::PgPool, name: &str, keywords: &[&str], examples: &[&str]) -> Uuid {
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO topics (name, category, description, keywords) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(unique(name))
    .bind(CATEGORY)
    .bind(name)
    .bind(keywords.iter().map(|k| (*k).to_owned()).collect::<Vec<_>>())
    .fetch_one(pg)
    .await
    .expect("topic");
    for text in examples {
        sqlx::query("INSERT INTO topic_examples (topic_id, text) VALUES ($1, $2)")
            .bind(id)
            .bind(*text)
            .execute(pg)
            .await
            .expect("example");
    }
    id
}

async fn job(pg: &sqlx::PgPool, from: chrono::DateTime<Utc>, to: chrono::DateTime<Utc>, topics: &[Uuid]) -> Job {
    sqlx::query_as(
        "INSERT INTO topic_reassignments (range_from, range_to, topic_ids, next_day, days_total, status, worker, heartbeat_at) \
         VALUES ($1, $2, $3, $1, 5, 'RUNNING', 'reassignment-test', now()) \
         RETURNING id, range_from, range_to, next_day, topic_ids",
    )
    .bind(from)
    .bind(to)
    .bind(topics)
    .fetch_one(pg)
    .await
    .expect("job")
}

async fn reload(pg: &sqlx::PgPool, id: Uuid) -> Job {
    sqlx::query_as("SELECT id, range_from, range_to, next_day, topic_ids FROM topic_reassignments WHERE id = $1")
        .bind(id)
        .fetch_one(pg)
        .await
        .expect("job")
}

type Key = (String, String, String, String);

/// Per (bucket, topic, channel, label): (count, negatives) from the raw table, and from the
/// rollup, for the hourly, daily and minute rollups; asserts they are equal.
async fn assert_rollups_exact(ch: &clickhouse::Client) -> u64 {
    let read = |sql: &'static str| {
        let ch = ch.clone();
        async move {
            let rows: Vec<(String, String, String, String, i64, i64)> = ch.query(sql).fetch_all().await.expect(sql);
            rows.into_iter().map(|(a, b, c, d, n, neg)| ((a, b, c, d), (n, neg))).collect::<BTreeMap<Key, (i64, i64)>>()
        }
    };
    let raw_hour = read(
        "SELECT toString(toStartOfHour(toDateTime(occurred_at, 'UTC'))), toString(t), channel, sentiment_label, \
         toInt64(count()), toInt64(0) FROM feedback ARRAY JOIN topic_ids AS t GROUP BY 1, 2, 3, 4",
    )
    .await;
    let hourly = read(
        "SELECT toString(hour), toString(topic_id), channel, sentiment_label, sum(feedback_count) AS n, toInt64(0) \
         FROM feedback_topic_hourly GROUP BY 1, 2, 3, 4 HAVING n != 0",
    )
    .await;
    assert_eq!(raw_hour, hourly, "hourly rollup = raw counts");
    let raw_day = read(
        "SELECT toString(toDate(occurred_at, 'UTC')), toString(t), channel, sentiment_label, toInt64(count()), toInt64(0) \
         FROM feedback ARRAY JOIN topic_ids AS t GROUP BY 1, 2, 3, 4",
    )
    .await;
    let daily = read(
        "SELECT toString(day), toString(topic_id), channel, sentiment_label, sum(feedback_count) AS n, toInt64(0) \
         FROM feedback_topic_daily GROUP BY 1, 2, 3, 4 HAVING n != 0",
    )
    .await;
    assert_eq!(raw_day, daily, "daily rollup = raw counts");
    let raw_minute = read(
        "SELECT toString(toStartOfMinute(toDateTime(occurred_at, 'UTC'))), toString(t), channel, '', toInt64(count()), \
         toInt64(countIf(sentiment_label = 'negative')) FROM feedback ARRAY JOIN topic_ids AS t GROUP BY 1, 2, 3",
    )
    .await;
    let minute = read(
        "SELECT toString(minute), toString(topic_id), channel, '', sum(feedback_count) AS n, sum(negative_count) \
         FROM feedback_topic_minute GROUP BY 1, 2, 3 HAVING n != 0",
    )
    .await;
    assert_eq!(raw_minute, minute, "minute rollup = raw counts");
    raw_hour.values().map(|(n, _)| *n as u64).sum()
}

#[tokio::test]
async fn past_feedback_gains_and_loses_topics_exactly_once_across_a_crash() {
    let pg = sqlx::PgPool::connect(&env("RTCX_POSTGRES_URL")).await.expect("postgres");
    let db = TempClickHouse::new("reassign").await;
    let ch = db.client();
    let model = ModelArgs::default_model(
        env("RTCX_MODEL_DIR").into(),
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/rtcx-heads"),
    );
    let pool = Arc::new(AnalyzerPool::start(1, move || model.load(Batching::default())).expect("model"));

    let parcel = topic(&pg, "Parcels", &["parcel"], &[]).await;
    let refund = topic(&pg, "Refunds", &["refund"], &[]).await;
    let crashes = topic(
        &pg,
        "App stability",
        &[],
        &[
            "the app crashes every time I open it",
            "app freezes and closes on my phone",
            "application keeps crashing after the update",
            "the app shuts down when I tap the menu",
            "mobile app crashed twice today",
        ],
    )
    .await;
    // A topic the job does not apply: wherever a feedback has it, it stays.
    let kept = Uuid::now_v7();

    // Stored feedback over four days, assigned by an older catalogue: refunds were also
    // given to parcel messages, and nothing knew about parcels or app stability.
    let texts: Vec<&str> = PARCEL.iter().chain(&REFUND).chain(&CRASH).chain(&OTHER).copied().collect();
    let analyses = pool.analyze(texts.iter().map(|t| (*t).to_owned()).collect()).await.expect("embed");
    let now = Utc::now();
    let mut rows = Vec::new();
    for i in 0..3_000usize {
        let k = i % texts.len();
        let text = texts[k];
        let mut topic_ids = Vec::new();
        if text.contains("parcel") || text.contains("refund") {
            topic_ids.push(refund);
        }
        if i % 5 == 0 {
            topic_ids.push(kept);
        }
        rows.push(FeedbackRow {
            text: text.into(),
            channel: ["email", "chat", "web"][i % 3].into(),
            sentiment_label: ["negative", "neutral", "positive"][(i / 3) % 3].into(),
            sentiment_score: ((i % 7) as f32 - 3.0) / 3.0,
            topic_ids,
            embedding: quantise(&analyses[k].embedding),
            ..FeedbackRow::blank(now - Duration::minutes((i as i64 * 113) % (4 * 24 * 60) + 1))
        });
    }
    let mut insert = ch.insert::<FeedbackRow>("feedback").await.expect("insert");
    for r in &rows {
        insert.write(r).await.expect("write");
    }
    insert.end().await.expect("end");
    let before = assert_rollups_exact(&ch).await;
    assert!(before > 0);

    let catalogue = Arc::new(TopicCatalogue::new(pg.clone(), Default::default()));
    let settings = ReassignSettings {
        batch_rows: 300,
        stale_after: std::time::Duration::from_secs(60),
        worker: "reassignment-test".into(),
    };
    let chosen = [parcel, refund, crashes];
    let first = job(&pg, now - Duration::days(5), now, &chosen).await;

    // A crash after the corrections of batch 2 and before its update ...
    let crashing = Reassigner::new(pg.clone(), ch.clone(), catalogue.clone(), pool.clone(), settings.clone())
        .fail_after_corrections(2);
    match crashing.run_job(&first).await {
        Err(ReassignError::Injected(2)) => {}
        other => panic!("expected the injected fault, got {other:?}"),
    }
    // ... and the job resumed: the unfinished batch is redone as planned.
    let reassigner = Reassigner::new(pg.clone(), ch.clone(), catalogue.clone(), pool.clone(), settings.clone());
    let done = reassigner.run_job(&reload(&pg, first.id).await).await.expect("resumed run");
    assert!(done.finished);
    assert_rollups_exact(&ch).await;

    let (status, changed, scanned, days_done): (String, i64, i64, i32) =
        sqlx::query_as("SELECT status, rows_changed, rows_scanned, days_done FROM topic_reassignments WHERE id = $1")
            .bind(first.id)
            .fetch_one(&pg)
            .await
            .expect("job row");
    assert_eq!(status, "DONE");
    assert!(days_done >= 4, "{days_done}");
    let unapplied: i64 =
        sqlx::query_scalar("SELECT count(*) FROM topic_reassignment_batches WHERE job_id = $1 AND NOT applied")
            .bind(first.id)
            .fetch_one(&pg)
            .await
            .expect("batches");
    assert_eq!(unapplied, 0);

    // What each message has now.
    let by_text: Vec<(String, u64, u64, u64, u64, u64)> = ch
        .query(
            "SELECT text, count(), countIf(has(topic_ids, toUUID(?))), countIf(has(topic_ids, toUUID(?))), \
             countIf(has(topic_ids, toUUID(?))), countIf(has(topic_ids, toUUID(?))) FROM feedback GROUP BY text",
        )
        .bind(parcel.to_string())
        .bind(refund.to_string())
        .bind(crashes.to_string())
        .bind(kept.to_string())
        .fetch_all()
        .await
        .expect("by text");
    let mut crash_texts_assigned = 0;
    for (text, n, p, r, c, k) in &by_text {
        let other = OTHER.contains(&text.as_str());
        assert_eq!(*p == *n, text.contains("parcel"), "{text}: parcels by keyword");
        assert_eq!(*r == *n, text.contains("refund"), "{text}: refunds by keyword");
        if other {
            assert_eq!((*p, *r, *c), (0, 0, 0), "{text} is about none of them");
        }
        assert_eq!(*k, rows.iter().filter(|row| row.text == *text && row.topic_ids.contains(&kept)).count() as u64);
        if CRASH.contains(&text.as_str()) {
            assert!(*c == 0 || *c == *n, "{text}: one embedding, one answer");
            crash_texts_assigned += usize::from(*c == *n);
        } else {
            assert_eq!(*c, 0, "{text} is not about app stability");
        }
    }
    assert!(crash_texts_assigned >= 2, "the examples carry app stability to most crash reports: {by_text:?}");
    // The job's count of changed feedback is the number whose set of topics differs.
    let now_topics: Vec<(Uuid, Vec<Uuid>)> = ch
        .query("SELECT id, topic_ids FROM feedback")
        .fetch_all::<IdTopics>()
        .await
        .expect("topics")
        .into_iter()
        .map(|r| (r.id, r.topic_ids))
        .collect();
    let original: std::collections::HashMap<Uuid, &Vec<Uuid>> = rows.iter().map(|r| (r.id, &r.topic_ids)).collect();
    let differ = |a: &Vec<Uuid>, b: &Vec<Uuid>| {
        a.iter().collect::<std::collections::HashSet<_>>() != b.iter().collect::<std::collections::HashSet<_>>()
    };
    let expected_changed = now_topics.iter().filter(|(id, t)| differ(t, original[id])).count() as i64;
    assert!(expected_changed >= 3_000 / texts.len() as i64 * 3, "at least the parcel messages changed");
    assert_eq!(changed, expected_changed);
    assert_eq!(scanned, 3_000);

    // Run again: nothing changes, the rollups stay as they are.
    let second = job(&pg, now - Duration::days(5), now, &chosen).await;
    let again = reassigner.run_job(&second).await.expect("second run");
    assert_eq!((again.rows_changed, again.finished), (0, true));
    assert_rollups_exact(&ch).await;

    sqlx::query("UPDATE topics SET archived = true, updated_at = now() WHERE category = $1")
        .bind(CATEGORY)
        .execute(&pg)
        .await
        .expect("archive");
    db.drop().await;
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct IdTopics {
    #[serde(with = "clickhouse::serde::uuid")]
    id: Uuid,
    #[serde(with = "clickhouse::serde::uuid_vec")]
    topic_ids: Vec<Uuid>,
}
