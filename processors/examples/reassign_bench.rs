//! Retroactive topic assignment at scale (docs/benchmarks.md "Retroactive topic assignment"):
//! a job applies three topics (two by keyword, one by example) to `--rows` stored feedback over
//! `--days`, on the real ClickHouse and Postgres, with the real model embedding the catalogue.
//! It prints the time, rows/s and rows changed; checks that every topic rollup (hourly, daily,
//! minute) then sums to the counts from the raw table; and runs the job again (nothing may
//! change). Rows are Banking77 messages (real texts, embedded by the model), each stored many
//! times; none has a topic before the job. It writes to its own ClickHouse database
//! (`rtcx_reassign_bench`, dropped first) and archives its topics afterwards.
//!
//! `source <(deploy/dev.sh env)`, then
//! `cargo run -p rtcx-processors --example reassign_bench -- --rows 1000000 --days 30`.

use std::sync::Arc;
use std::time::Instant;

use chrono::{Duration, Utc};
use rtcx_processors::inference::pool::AnalyzerPool;
use rtcx_processors::inference::{Batching, ModelArgs};
use rtcx_processors::topics::TopicCatalogue;
use rtcx_processors::topics::reassign::{Job, ReassignSettings, Reassigner};
use rtcx_schemas::embedding::quantise;
use rtcx_schemas::rows::FeedbackRow;
use rtcx_service_kit::testing::{env, unique};
use uuid::Uuid;

const DATABASE: &str = "rtcx_reassign_bench";
const CATEGORY: &str = "reassign-bench";
const BASE_TEXTS: usize = 2_000;

fn banking77() -> Vec<(String, String)> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/topic-intents/banking77/data.csv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    reader
        .records()
        .map(|r| {
            let r = r.expect("a CSV record");
            (r.get(0).expect("text").to_owned(), r.get(2).expect("intent").to_owned())
        })
        .collect()
}

async fn job(pg: &sqlx::PgPool, days: i64, topics: &[Uuid]) -> Job {
    let now = Utc::now();
    sqlx::query_as(
        "INSERT INTO topic_reassignments (range_from, range_to, topic_ids, next_day, days_total, status, worker, heartbeat_at) \
         VALUES ($1, $2, $3, $1, $4, 'RUNNING', 'reassign-bench', now()) RETURNING id, range_from, range_to, next_day, topic_ids",
    )
    .bind(now - Duration::days(days + 1))
    .bind(now)
    .bind(topics)
    .bind((days + 2) as i32)
    .fetch_one(pg)
    .await
    .expect("job")
}

#[tokio::main]
async fn main() {
    let mut rows_wanted = 1_000_000usize;
    let mut days = 30i64;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().and_then(|v| v.parse::<i64>().ok()).unwrap_or_else(|| panic!("{flag} N"));
        match flag.as_str() {
            "--rows" => rows_wanted = value as usize,
            "--days" => days = value,
            other => panic!("unknown argument {other} (--rows N, --days N)"),
        }
    }
    let pg = sqlx::PgPool::connect(&env("RTCX_POSTGRES_URL")).await.expect("postgres");
    let model = ModelArgs::default_model(
        env("RTCX_MODEL_DIR").into(),
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/rtcx-heads"),
    );
    let pool = Arc::new(AnalyzerPool::start(2, move || model.load(Batching::default())).expect("model"));
    let data = banking77();
    let base: Vec<&(String, String)> = data.iter().take(BASE_TEXTS).collect();
    let embeddings = pool.analyze(base.iter().map(|(t, _)| t.clone()).collect()).await.expect("embed");

    let mut topics = Vec::new();
    for (name, keywords, intent) in [
        ("Cards", vec!["card"], None),
        ("Transfers", vec!["transfer"], None),
        ("Card arrival", vec![], Some("card_arrival")),
    ] {
        let id: Uuid = sqlx::query_scalar(
            "INSERT INTO topics (name, category, description, keywords) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(unique(name))
        .bind(CATEGORY)
        .bind(name)
        .bind(keywords.iter().map(|k| k.to_string()).collect::<Vec<_>>())
        .fetch_one(&pg)
        .await
        .expect("topic");
        if let Some(intent) = intent {
            for (text, _) in data.iter().skip(BASE_TEXTS).filter(|(_, i)| i == intent).take(20) {
                sqlx::query("INSERT INTO topic_examples (topic_id, text) VALUES ($1, $2)")
                    .bind(id)
                    .bind(text)
                    .execute(&pg)
                    .await
                    .expect("example");
            }
        }
        topics.push(id);
    }

    let server = clickhouse::Client::default().with_url(env("RTCX_CLICKHOUSE_URL"));
    server.query(&format!("DROP DATABASE IF EXISTS {DATABASE} SYNC")).execute().await.expect("drop");
    rtcx_migrations::ClickHouseMigrator::new(server.clone(), DATABASE).expect("migrator").run().await.expect("migrate");
    let ch = server.with_database(DATABASE);
    let now = Utc::now();
    let started = Instant::now();
    let mut insert = ch.insert::<FeedbackRow>("feedback").await.expect("insert");
    let stored: Vec<Vec<i8>> = embeddings.iter().map(|a| quantise(&a.embedding)).collect();
    for i in 0..rows_wanted {
        let b = (i * 7919) % base.len();
        let row = FeedbackRow {
            text: base[b].0.clone(),
            channel: ["email", "chat", "web", "mobile_app"][i % 4].into(),
            sentiment_label: ["negative", "neutral", "positive"][i % 3].into(),
            sentiment_score: ((i % 5) as f32 - 2.0) / 2.0,
            embedding: stored[b].clone(),
            ..FeedbackRow::blank(now - Duration::seconds(((i as i64) * 7_919) % (days * 86_400) + 1))
        };
        insert.write(&row).await.expect("write");
        if (i + 1) % 200_000 == 0 {
            insert.end().await.expect("end");
            insert = ch.insert::<FeedbackRow>("feedback").await.expect("insert");
        }
    }
    insert.end().await.expect("end");
    ch.query("OPTIMIZE TABLE feedback FINAL").execute().await.expect("optimize");
    eprintln!("stored {rows_wanted} rows in {:.1} s", started.elapsed().as_secs_f64());

    let catalogue = Arc::new(TopicCatalogue::new(pg.clone(), Default::default()));
    let settings = ReassignSettings {
        batch_rows: 2_000,
        stale_after: std::time::Duration::from_secs(600),
        worker: "reassign-bench".into(),
    };
    let reassigner = Reassigner::new(pg.clone(), ch.clone(), catalogue, pool, settings);
    for run in ["first run", "second run"] {
        let j = job(&pg, days, &topics).await;
        let t = Instant::now();
        let o = reassigner.run_job(&j).await.expect("run");
        let secs = t.elapsed().as_secs_f64();
        println!(
            "{run}: {} rows scanned, {} changed in {secs:.1} s ({:.0} rows/s scanned)",
            o.rows_scanned,
            o.rows_changed,
            o.rows_scanned as f64 / secs
        );
    }
    let check: (u64, i64, i64, i64) = ch
        .query(
            "SELECT assumeNotNull((SELECT count() FROM feedback ARRAY JOIN topic_ids)), \
             assumeNotNull((SELECT sum(feedback_count) FROM feedback_topic_hourly)), \
             assumeNotNull((SELECT sum(feedback_count) FROM feedback_topic_daily)), \
             assumeNotNull((SELECT sum(feedback_count) FROM feedback_topic_minute))",
        )
        .fetch_one()
        .await
        .expect("totals");
    println!(
        "topic assignments in the raw table {}, in the hourly / daily / minute rollups {} / {} / {}",
        check.0, check.1, check.2, check.3
    );
    assert!(
        check.1 == check.0 as i64 && check.2 == check.0 as i64 && check.3 == check.0 as i64,
        "rollups equal the raw table"
    );
    sqlx::query("UPDATE topics SET archived = true, updated_at = now() WHERE category = $1")
        .bind(CATEGORY)
        .execute(&pg)
        .await
        .expect("archive");
}
