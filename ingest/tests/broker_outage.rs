//! A broker that dies makes ingest answer 503 with Retry-After (never a 202 for an event Kafka
//! does not have), and ingest accepts events again once the broker is back.

mod common;

use std::time::{Duration, Instant};

use common::{Options, TestApp, expect_ids};
use reqwest::StatusCode;
use rtcx_service_kit::testing::KafkaProcess;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_gives_503_and_broker_back_accepts_again() {
    let mut kafka = tokio::task::spawn_blocking(KafkaProcess::start).await.expect("start test broker");
    let opts = Options {
        brokers: kafka.brokers(),
        topic_brokers: kafka.brokers(),
        message_timeout: Duration::from_secs(3),
        ..Options::default()
    };
    let app = TestApp::start_with(opts).await;
    let body = |text: &str| json!({"channel": "chat", "text": text}).to_string();
    let mut acknowledged = Vec::new();

    let resp = app.post("/v1/feedback", body("before the outage")).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    acknowledged.push(resp.json::<serde_json::Value>().await.expect("json")["id"].as_str().expect("id").to_owned());

    let kafka = tokio::task::spawn_blocking(move || {
        kafka.kill();
        kafka
    })
    .await
    .expect("kill");
    for i in 0..3 {
        let started = Instant::now();
        let resp = app.post("/v1/feedback", body(&format!("during the outage {i}"))).await;
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE, "attempt {i} while the broker is down");
        assert!(resp.headers().contains_key("retry-after"));
        assert!(started.elapsed() < Duration::from_secs(10), "a 503 comes within the message timeout");
    }
    let resp = app
        .post("/v1/feedback/batch", json!([{"channel": "chat", "text": "batch during the outage"}]).to_string())
        .await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);

    let mut kafka = kafka;
    let kafka = tokio::task::spawn_blocking(move || {
        kafka.restart();
        kafka
    })
    .await
    .expect("restart");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let resp = app.post("/v1/feedback", body("after the outage")).await;
        if resp.status() == StatusCode::ACCEPTED {
            acknowledged
                .push(resp.json::<serde_json::Value>().await.expect("json")["id"].as_str().expect("id").to_owned());
            break;
        }
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE, "only 503 while recovering");
        assert!(Instant::now() < deadline, "ingest did not recover within 60 s of the broker's return");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Everything acknowledged is in Kafka.
    expect_ids(&kafka.brokers(), &app.topic, &acknowledged.into_iter().collect()).await;
}
