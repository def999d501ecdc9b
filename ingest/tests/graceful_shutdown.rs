//! SIGTERM while batches stream in: the process drains in-flight requests and flushes the
//! producer, so every event it acknowledged is in Kafka.

mod common;

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{create_key, create_topic, env, expect_ids, pool, unique};
use rtcx_service_kit::testing::free_port;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_batch_stream_loses_nothing_acknowledged() {
    let brokers = env("RTCX_KAFKA_BROKERS");
    let topic = create_topic(&brokers, 3).await;
    let pool = pool().await;
    let source = unique("shutdown").replace('_', "-");
    let (key, _) = create_key(&pool, &source, &["ingest"]).await;
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rtcx-ingest"))
        .env("RTCX_INGEST_LISTEN", format!("127.0.0.1:{port}"))
        .env("RTCX_INGEST_TOPIC", &topic)
        .env("RTCX_KAFKA_BROKERS", &brokers)
        .env("RTCX_POSTGRES_URL", env("RTCX_POSTGRES_URL"))
        .env("RTCX_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start rtcx-ingest");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..100 {
        if http.get(format!("{base}/health/ready")).send().await.is_ok_and(|r| r.status().is_success()) {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "rtcx-ingest did not become ready");

    let acknowledged = Arc::new(Mutex::new(HashSet::new()));
    let mut senders = Vec::new();
    for worker in 0..4 {
        let (http, base, key, acknowledged) = (http.clone(), base.clone(), key.clone(), Arc::clone(&acknowledged));
        senders.push(tokio::spawn(async move {
            let mut n = 0u64;
            loop {
                let batch: Vec<Value> = (0..50)
                    .map(|i| json!({"channel": "web", "text": format!("worker {worker} batch {n} item {i}")}))
                    .collect();
                n += 1;
                let resp = http
                    .post(format!("{base}/v1/feedback/batch"))
                    .bearer_auth(&key)
                    .header("content-type", "application/json")
                    .body(Value::Array(batch).to_string())
                    .send()
                    .await;
                let Ok(resp) = resp else { break };
                if resp.status() != reqwest::StatusCode::ACCEPTED {
                    break;
                }
                let body: Value = resp.json().await.expect("json");
                let mut set = acknowledged.lock().expect("lock");
                for item in body["accepted"].as_array().expect("accepted") {
                    set.insert(item["id"].as_str().expect("id").to_owned());
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    for s in senders {
        s.await.expect("sender");
    }
    let exit = tokio::task::spawn_blocking(move || child.wait()).await.expect("join").expect("wait");
    assert!(exit.success(), "rtcx-ingest exited with {exit}");

    let acknowledged = acknowledged.lock().expect("lock").clone();
    assert!(
        acknowledged.len() >= 100,
        "the stream was running when SIGTERM arrived ({} acknowledged)",
        acknowledged.len()
    );
    let read = expect_ids(&brokers, &topic, &acknowledged).await;
    assert!(read >= acknowledged.len());
}
