//! `rtcx-processors suggest-topics` against real ClickHouse and Postgres: feedback no topic
//! claimed is clustered with the real encoder and the large clusters are stored as pending
//! suggestions.

mod common;

use chrono::Utc;
use rtcx_schemas::rows::FeedbackRow;
use rtcx_service_kit::testing::{env, unique};

fn row(text: &str, phrase: &str) -> FeedbackRow {
    FeedbackRow {
        channel: "email".into(),
        text: text.into(),
        sentiment_label: "negative".into(),
        sentiment_score: -0.5,
        key_phrases: vec![phrase.into()],
        ..FeedbackRow::blank(Utc::now())
    }
}

/// Runs `rtcx-processors suggest-topics` on the test database.
fn suggest_topics(t: &common::TestEnv) -> std::process::Output {
    suggest_topics_with_model(t, &env("RTCX_MODEL_DIR"))
}

fn suggest_topics_with_model(t: &common::TestEnv, model_dir: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_rtcx-processors"))
        .arg("suggest-topics")
        .args(["--min-size", "4", "--threshold", "0.45"])
        .env("RTCX_CLICKHOUSE_DATABASE", &t.database)
        .env("RTCX_MODEL_DIR", model_dir)
        .env("RTCX_HEADS_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/../models/rtcx-heads"))
        .output()
        .expect("run suggest-topics")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusters_of_unassigned_feedback_become_pending_suggestions() {
    let t = common::TestEnv::new(&env("RTCX_KAFKA_BROKERS"), &env("RTCX_CLICKHOUSE_URL"), 1).await;
    // Unique phrases: the stack's Postgres keeps suggestions from earlier runs.
    let delivery = unique("late delivery");
    let password = unique("password reset");
    let mut rows = Vec::new();
    for text in [
        "My parcel arrived a week late.",
        "The delivery was late again, three days this time.",
        "Package delivered days after the promised date.",
        "Late delivery, nobody told me about the delay.",
        "My order came very late, the courier was slow.",
        "The shipment was delayed and arrived late.",
    ] {
        rows.push(row(text, &delivery));
    }
    for text in [
        "I cannot reset my password, the email never comes.",
        "Password reset link does not work.",
        "How do I reset my password? The link expired.",
        "The reset password email is not arriving.",
        "Forgot my password and the reset page errors.",
    ] {
        rows.push(row(text, &password));
    }
    rows.push(row("The colour of the sofa is lovely.", "sofa colour"));
    let ch = t.clickhouse();
    let mut insert = ch.insert::<FeedbackRow>("feedback").await.expect("insert");
    for r in &rows {
        insert.write(r).await.expect("write");
    }
    insert.end().await.expect("end");

    let out = suggest_topics(&t);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));

    let pg = sqlx::postgres::PgPoolOptions::new().connect(&env("RTCX_POSTGRES_URL")).await.expect("postgres");
    let stored: Vec<(String, Vec<String>, i32, serde_json::Value, String)> = sqlx::query_as(
        "SELECT label, key_phrases, size, examples, status FROM topic_suggestions \
         WHERE $1 = ANY(key_phrases) OR $2 = ANY(key_phrases) ORDER BY size DESC",
    )
    .bind(&delivery)
    .bind(&password)
    .fetch_all(&pg)
    .await
    .expect("suggestions");
    assert_eq!(stored.len(), 2, "one suggestion per cluster: {stored:?}\n{stdout}");
    let (label, phrases, size, examples, status) = &stored[0];
    assert_eq!(label, &delivery);
    assert_eq!(phrases, &vec![delivery.clone()]);
    assert_eq!(*size, 6);
    assert_eq!(status, "PENDING");
    let example_ids: Vec<String> =
        examples.as_array().expect("examples").iter().map(|e| e["id"].as_str().expect("id").to_owned()).collect();
    assert_eq!(example_ids.len(), 3);
    assert!(example_ids.iter().all(|id| rows[..6].iter().any(|r| r.id.to_string() == *id)));
    assert_eq!((stored[1].0.as_str(), stored[1].2), (password.as_str(), 5));

    // A second run stores nothing new: the same labels are already pending.
    assert!(suggest_topics(&t).status.success());
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM topic_suggestions WHERE $1 = ANY(key_phrases)")
        .bind(&delivery)
        .fetch_one(&pg)
        .await
        .expect("count");
    assert_eq!(n, 1);
    t.cleanup().await;
}

/// Feedback stored with its embedding (as the processors store it) is clustered from
/// ClickHouse alone: the command never loads the model (here it could not: its folder is
/// missing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_embeddings_are_clustered_without_the_model() {
    use rtcx_processors::inference::pool::AnalyzerPool;
    use rtcx_processors::inference::{Batching, ModelArgs};

    let t = common::TestEnv::new(&env("RTCX_KAFKA_BROKERS"), &env("RTCX_CLICKHOUSE_URL"), 1).await;
    let model = ModelArgs::default_model(
        env("RTCX_MODEL_DIR").into(),
        concat!(env!("CARGO_MANIFEST_DIR"), "/../models/rtcx-heads").into(),
    );
    let pool = AnalyzerPool::start(1, move || model.load(Batching::default())).expect("model");
    let billing = unique("double charge");
    let texts = [
        "I was charged twice for one order.",
        "Double charge on my card for the same purchase.",
        "You billed me two times this month.",
        "Charged twice, please refund one of the payments.",
        "My card shows the same payment twice.",
    ];
    let analyses = pool.analyze(texts.iter().map(|t| (*t).to_owned()).collect()).await.expect("embed");
    let ch = t.clickhouse();
    let mut insert = ch.insert::<FeedbackRow>("feedback").await.expect("insert");
    for (text, a) in texts.iter().zip(&analyses) {
        let r = FeedbackRow { embedding: rtcx_schemas::embedding::quantise(&a.embedding), ..row(text, &billing) };
        insert.write(&r).await.expect("write");
    }
    insert.end().await.expect("end");

    let out = suggest_topics_with_model(&t, "/nonexistent/model");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}{stderr}", String::from_utf8_lossy(&out.stdout));
    let pg = sqlx::postgres::PgPoolOptions::new().connect(&env("RTCX_POSTGRES_URL")).await.expect("postgres");
    let size: i32 = sqlx::query_scalar("SELECT size FROM topic_suggestions WHERE $1 = ANY(key_phrases)")
        .bind(&billing)
        .fetch_one(&pg)
        .await
        .expect("one suggestion from the stored embeddings");
    assert_eq!(size, 5);
    t.cleanup().await;
}
