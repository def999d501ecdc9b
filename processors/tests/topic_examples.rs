//! Topics defined by example, end to end with the real model: a processor loads the
//! catalogue's examples and counter-examples from Postgres, assigns new feedback by
//! similarity (recording the nearest example), by keyword, or not at all (an excluded
//! keyword, a message about none), and records what it measured of each topic in
//! `topic_quality`.

mod common;

use std::time::Duration;

use common::TestEnv;
use rtcx_service_kit::testing::{env, unique};
use serde_json::{Value, json};
use uuid::Uuid;

/// The category that marks this test's topics (archived before and after it runs, so that
/// other tests sharing the database never see them).
const CATEGORY: &str = "topic-examples-test";

async fn topic(pg: &sqlx::PgPool, name: &str, keywords: &[&str], excluded: &[&str], examples: &[(&str, bool)]) -> Uuid {
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO topics (name, category, description, keywords, excluded_keywords) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(unique(name))
    .bind(CATEGORY)
    .bind(name)
    .bind(keywords.iter().map(|k| (*k).to_owned()).collect::<Vec<_>>())
    .bind(excluded.iter().map(|k| (*k).to_owned()).collect::<Vec<_>>())
    .fetch_one(pg)
    .await
    .expect("insert topic");
    for (text, positive) in examples {
        sqlx::query("INSERT INTO topic_examples (topic_id, text, positive) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(*text)
            .bind(*positive)
            .execute(pg)
            .await
            .expect("insert example");
    }
    id
}

/// Archives this test's topics when dropped, also when an assertion fails.
struct ArchiveOnDrop;

impl Drop for ArchiveOnDrop {
    fn drop(&mut self) {
        let url = env("RTCX_POSTGRES_URL");
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async {
                let pg = sqlx::PgPool::connect(&url).await.expect("postgres");
                sqlx::query(
                    "UPDATE topics SET archived = true, updated_at = now() WHERE category = $1 AND NOT archived",
                )
                .bind(CATEGORY)
                .execute(&pg)
                .await
                .expect("archive this test's topics");
            });
        });
        let _ = done.join();
    }
}

fn message(text: &str) -> (String, Vec<u8>) {
    let now = chrono::Utc::now();
    let v = json!({"id": Uuid::now_v7(), "received_at": now, "occurred_at": now, "channel": "email", "text": text, "source": "topic-examples-test"});
    ("topic-examples-test".to_owned(), serde_json::to_vec(&v).expect("json"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_is_assigned_by_example_with_its_reason() {
    let pg = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&env("RTCX_POSTGRES_URL"))
        .await
        .expect("postgres");
    // Topics left by an earlier run that stopped before its guard ran, then this run's.
    drop(ArchiveOnDrop);
    let _archive = ArchiveOnDrop;
    let delivery = topic(
        &pg,
        "Delivery problems",
        &["parcel"],
        &["newsletter"],
        &[
            ("My order was supposed to arrive on Tuesday and it is now Friday.", true),
            ("The courier marked it delivered but nothing came.", true),
            ("Tracking has said out for delivery for three days.", true),
            ("The box arrived crushed and the glass inside was broken.", true),
            ("The package went to my old address.", true),
            ("Third missed delivery slot this month.", true),
            ("Do you deliver to Norway?", false),
        ],
    )
    .await;
    let access = topic(
        &pg,
        "Account access",
        &[],
        &[],
        &[
            ("I can't log in, it says my password is wrong.", true),
            ("My account was locked after one failed attempt.", true),
            ("The verification code never arrives by text.", true),
            ("The reset link expired before I opened the email.", true),
            ("Every time I sign in it logs me straight out.", true),
        ],
    )
    .await;
    let example_ids: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM topic_examples WHERE topic_id = $1 AND positive")
        .bind(delivery)
        .fetch_all(&pg)
        .await
        .expect("example ids");

    let t = TestEnv::new(&env("RTCX_KAFKA_BROKERS"), &env("RTCX_CLICKHOUSE_URL"), 1).await;
    let url = env("RTCX_POSTGRES_URL");
    let mut p = t.spawn_processor("model", false, &[("RTCX_POSTGRES_URL", &url), ("RTCX_TOPIC_REFRESH_SECS", "1")]);
    let texts = [
        "Still waiting for my order, the courier never showed up and it is lost somewhere.",
        "I cannot sign in and the password reset email never comes.",
        "My parcel is late.",
        "Please take me off the parcel newsletter.",
        "Do you sell gift cards in your shops?",
    ];
    t.produce(&texts.iter().map(|m| message(m)).collect::<Vec<_>>()).await;
    t.wait_for_rows(texts.len() as u64, Duration::from_secs(180)).await;

    #[derive(clickhouse::Row, serde::Deserialize)]
    struct Assigned {
        text: String,
        topic_ids: Vec<String>,
        topic_reasons: Vec<String>,
    }
    let rows: Vec<(String, Vec<Uuid>, Vec<String>)> = t
        .clickhouse()
        .query("SELECT text, arrayMap(t -> toString(t), topic_ids) AS topic_ids, topic_reasons FROM feedback")
        .fetch_all::<Assigned>()
        .await
        .expect("rows")
        .into_iter()
        .map(|r| (r.text, r.topic_ids.iter().map(|i| i.parse().expect("uuid")).collect(), r.topic_reasons))
        .collect();
    let of = |text: &str| -> (Vec<Uuid>, Vec<Value>) {
        let (_, ids, reasons) = rows.iter().find(|r| r.0 == text).unwrap_or_else(|| panic!("row of {text:?}"));
        // Only this test's topics: other live topics of the shared database may match too.
        let ours: Vec<usize> = (0..ids.len()).filter(|&i| ids[i] == delivery || ids[i] == access).collect();
        (
            ours.iter().map(|&i| ids[i]).collect(),
            ours.iter().map(|&i| serde_json::from_str(&reasons[i]).expect("a JSON reason")).collect(),
        )
    };
    for (_, ids, reasons) in &rows {
        assert_eq!(ids.len(), reasons.len(), "one reason per topic");
    }

    let (ids, reasons) = of(texts[0]);
    assert_eq!(ids, vec![delivery], "{reasons:?}");
    assert_eq!(reasons[0]["by"], "similarity");
    let nearest: Uuid = reasons[0]["example_id"].as_str().expect("nearest example").parse().expect("uuid");
    assert!(example_ids.contains(&nearest), "the nearest example is one of the topic's");
    let (score, threshold) =
        (reasons[0]["score"].as_f64().unwrap_or(0.0), reasons[0]["threshold"].as_f64().unwrap_or(1.0));
    assert!(score >= threshold, "{reasons:?}");

    let (ids, reasons) = of(texts[1]);
    assert_eq!(ids, vec![access], "{reasons:?}");

    let (ids, reasons) = of(texts[2]);
    assert_eq!(ids, vec![delivery]);
    assert_eq!(reasons[0], json!({"by": "keyword", "keyword": "parcel"}));

    let (ids, _) = of(texts[3]);
    assert!(ids.is_empty(), "the excluded keyword keeps the topic off, the keyword notwithstanding");
    let (ids, reasons) = of(texts[4]);
    assert!(ids.is_empty(), "about neither topic: {reasons:?}");

    // What the processor measured of each topic.
    let quality: Vec<(Uuid, i32, i32, String, Option<f32>)> = sqlx::query_as(
        "SELECT topic_id, examples, negatives, calibration, recall FROM topic_quality WHERE topic_id = ANY($1) ORDER BY examples DESC",
    )
    .bind(vec![delivery, access])
    .fetch_all(&pg)
    .await
    .expect("topic quality");
    assert_eq!(quality.len(), 2, "{quality:?}");
    assert_eq!((quality[0].0, quality[0].1, quality[0].2), (delivery, 6, 1));
    assert_eq!((quality[1].0, quality[1].1), (access, 5));
    assert!(quality.iter().all(|q| q.3 == "LEAVE_ONE_OUT" && q.4.is_some()), "{quality:?}");

    let (status, metrics) = p.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(metrics.contains("rtcx_processors_catalogue_examples"), "{metrics}");
    p.terminate();
}
