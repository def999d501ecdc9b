//! `rtcx-model adapt` on rated feedback sent through the real pipeline (ingest → Kafka →
//! processors → ClickHouse): clothing reviews (the set's `dev` split, which no model trains
//! on; CC0; `model/tests/data/reviews-clothing-dev.tsv`) with their authors' stars. The starting
//! model is one that has never seen a customer review (`model/tests/data/model-without-reviews`:
//! the session-8 model, trained before the review sets existed), so the domain is new to it,
//! as a deployment's own domain is.
//! - With the true stars, the adapted head is better on the held-out part of that feedback,
//!   loses at most 0.01 elsewhere, and is written as a new version that `current` points to;
//!   the analyzer loads it and names that version.
//! - With the stars reversed (a deployment whose ratings contradict its texts), the new head
//!   "improves" only on that feedback and is refused: nothing is written.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Ingest, TestEnv, workspace_bin};
use rtcx_processors::inference::{Analyzer, Batching};
use rtcx_service_kit::testing::env;
use serde_json::{Value, json};

/// The committed reviews: (stars, text).
fn reviews() -> Vec<(u8, String)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../model/tests/data/reviews-clothing-dev.tsv");
    let content = std::fs::read_to_string(&path).expect("read the committed reviews");
    content
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once('\t'))
        .map(|(stars, text)| (stars.parse().expect("stars"), text.to_owned()))
        .collect()
}

/// Runs `adapt` on the test database; its exit code and JSON report.
fn adapt(t: &TestEnv, out: &Path, from: &str) -> (i32, Value) {
    let run = Command::new(workspace_bin("rtcx-model"))
        .env("RTCX_CLICKHOUSE_URL", &t.clickhouse_url)
        .env("RTCX_CLICKHOUSE_DATABASE", &t.database)
        .env("RTCX_CLICKHOUSE_USER", "default")
        .env("RTCX_CLICKHOUSE_PASSWORD", "")
        .env("RTCX_MODEL_DIR", env("RTCX_MODEL_DIR"))
        .env("RTCX_HEADS_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/../model/tests/data/model-without-reviews"))
        .arg("adapt")
        .args(["--from", from, "--min-per-class", "50", "--out"])
        .arg(out)
        .arg("--samples")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../model/tests/data"))
        .output()
        .expect("run adapt");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("adapt printed no report ({e})\n{stdout}\n{}", String::from_utf8_lossy(&run.stderr))
    });
    (run.status.code().unwrap_or(-1), report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn adapt_learns_the_deployment_from_its_ratings_and_refuses_a_worse_model() {
    let t = TestEnv::new(&env("RTCX_KAFKA_BROKERS"), &env("RTCX_CLICKHOUSE_URL"), 2).await;
    let pg = sqlx::PgPool::connect(&env("RTCX_POSTGRES_URL")).await.expect("postgres");
    let ingest = Ingest::start(&t, &pg).await;
    let mut processor = t.spawn_processor("p", false, &[]);
    let out = std::env::temp_dir().join(format!("rtcx-adapt-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);

    // 1. The reviews with their true stars, through ingest, this morning.
    let reviews = reviews();
    let now = chrono::Utc::now();
    let start = (now - chrono::Duration::hours(2)).to_rfc3339();
    let item = |i: usize, stars: u8, text: &str| {
        let at = (now - chrono::Duration::minutes(90) + chrono::Duration::seconds(i as i64)).to_rfc3339();
        json!({"channel": "web", "text": text, "rating": stars, "occurred_at": at})
    };
    let items: Vec<Value> = reviews.iter().enumerate().map(|(i, (s, text))| item(i, *s, text)).collect();
    assert_eq!(ingest.post(&items).await.len(), reviews.len());
    t.wait_for_rows(reviews.len() as u64, Duration::from_secs(600)).await;

    let (code, report) = adapt(&t, &out, &start);
    let (before, after) = (report["deployment"]["before"].as_f64(), report["deployment"]["after"].as_f64());
    eprintln!("adapt (true stars): {report:#}");
    assert_eq!(code, 0, "accepted: {report:#}");
    assert_eq!(report["accepted"], true);
    assert!(after >= before.map(|b| b + 0.02), "better on the deployment's held-out feedback: {before:?} → {after:?}");
    let negatives = reviews.iter().filter(|(s, _)| *s <= 2).count();
    assert_eq!(report["labelled"]["negative"].as_u64(), Some(negatives as u64), "every 1–2-star review is labelled");
    assert!(report["unlabelled_rows"].as_u64().unwrap_or(0) > 0, "three-star reviews keep the model's answers");
    for (name, c) in report["elsewhere"].as_object().expect("elsewhere") {
        let (b, a) = (c["before"].as_f64().expect("before"), c["after"].as_f64().expect("after"));
        assert!(a >= b - 0.01, "{name}: {b} → {a}");
    }
    assert!(report["elsewhere"]["challenge"]["n"].as_u64().unwrap_or(0) >= 300);
    let version = report["version"].as_str().expect("a new version").to_owned();
    assert_ne!(version, report["from_version"].as_str().unwrap_or_default(), "a new version");
    let current = out.join("current");
    assert_eq!(std::fs::read_link(&current).expect("current is a link"), PathBuf::from(&version));
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(current.join("manifest.json")).expect("manifest")).expect("json");
    assert_eq!(manifest["adapted"]["from_version"], report["from_version"]);
    let analyzer = Analyzer::load(Path::new(&env("RTCX_MODEL_DIR")), &current, 128, Batching::default())
        .expect("the processors' loader reads the adapted model");
    assert_eq!(analyzer.model().version, version, "enriched rows will carry the new version");

    // 2. The same texts with their stars reversed, later in the day: refused, nothing written.
    let reversed_from = (now - chrono::Duration::minutes(30)).to_rfc3339();
    let items: Vec<Value> = reviews
        .iter()
        .enumerate()
        .map(|(i, (s, text))| {
            let mut v = item(i, 6 - *s, text);
            v["occurred_at"] =
                json!((now - chrono::Duration::minutes(20) + chrono::Duration::seconds(i as i64)).to_rfc3339());
            v
        })
        .collect();
    ingest.post(&items).await;
    t.wait_for_rows(2 * reviews.len() as u64, Duration::from_secs(600)).await;
    let (code, report) = adapt(&t, &out, &reversed_from);
    eprintln!("adapt (reversed stars): {report:#}");
    assert_eq!((code, &report["accepted"]), (3, &json!(false)), "refused: {report:#}");
    let reasons = report["reasons"].as_array().expect("reasons");
    assert!(reasons.iter().any(|r| r.as_str().is_some_and(|r| r.contains("contradict"))), "{reasons:?}");
    assert!(report["version"].is_null());
    assert_eq!(std::fs::read_link(&current).expect("current"), PathBuf::from(&version), "current unchanged");

    processor.terminate();
    drop(ingest);
    t.cleanup().await;
    let _ = std::fs::remove_dir_all(&out);
}
