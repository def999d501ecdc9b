//! The `rtcx-notifier` binary against the real Kafka, Postgres and an HTTP receiver: alert
//! events on the topic reach the webhook; a malformed message is skipped without blocking
//! the partition; an event relayed twice (same `rtcx-outbox-id`) is delivered once; and a
//! notifier killed with SIGKILL in the middle of sending loses nothing: a new one delivers
//! every event once its predecessor's leases run out.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Receiver, alert, postgres, take_queue, webhook};
use rdkafka::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rtcx_schemas::topics::OUTBOX_ID_HEADER;
use rtcx_service_kit::testing::{env, free_port, unique};

struct Notifier {
    child: Child,
    port: u16,
}

/// A notifier outliving a failed test would claim the next tests' deliveries.
impl Drop for Notifier {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(topic: &str, group: &str) -> Notifier {
    start_with(topic, &format!("{topic}.enriched"), group)
}

fn start_with(topic: &str, enriched: &str, group: &str) -> Notifier {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_rtcx-notifier"))
        .args(["--alerts-topic", topic, "--group-id", group, "--listen", &format!("127.0.0.1:{port}")])
        .args(["--enriched-topic", enriched])
        .args(["--allow-private-targets", "--batch", "4", "--concurrency", "2", "--poll-ms", "50"])
        // Lease: 2 × 1 s + 5 s.
        .args(["--webhook-timeout-ms", "1000", "--retry-base-ms", "100", "--retry-max-ms", "500"])
        .env("RTCX_POSTGRES_URL", env("RTCX_POSTGRES_URL"))
        .env("RTCX_KAFKA_BROKERS", env("RTCX_KAFKA_BROKERS"))
        // Webhooks only: the e-mail tests own the e-mail deliveries.
        .env_remove("RTCX_SMTP_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start rtcx-notifier");
    Notifier { child, port }
}

async fn wait_ready(n: &Notifier) {
    let url = format!("http://127.0.0.1:{}/health/ready", n.port);
    for _ in 0..100 {
        if reqwest::get(&url).await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("rtcx-notifier not ready at {url}");
}

async fn produce(p: &FutureProducer, topic: &str, outbox_id: Option<i64>, payload: &[u8]) {
    let mut record: FutureRecord<'_, str, [u8]> = FutureRecord::to(topic).key("k").payload(payload);
    let id = outbox_id.map(|i| i.to_string());
    if let Some(id) = &id {
        record = record.headers(OwnedHeaders::new().insert(Header { key: OUTBOX_ID_HEADER, value: Some(id) }));
    }
    p.send(record, Duration::from_secs(10)).await.expect("produce");
}

#[tokio::test]
async fn events_survive_a_killed_notifier_and_are_delivered_once_queued() {
    let pg = postgres().await;
    let _queue = take_queue(&pg).await;
    let brokers = env("RTCX_KAFKA_BROKERS");
    let topic = format!("rtcx.test.{}.alerts", unique("n"));
    rtcx_migrations::kafka_topics::ensure_topics(&brokers, &[(topic.as_str(), 1)], 1).await.expect("topic");
    let rx = Receiver::start().await;
    // Each request takes 300 ms: 20 events at 2 in flight take ~3 s, time enough to kill.
    let (hook, _) = webhook(&pg, &rx.url("slow/300/svc"), &["alert.created"], "standard").await;
    let producer: FutureProducer =
        ClientConfig::new().set("bootstrap.servers", &brokers).set("acks", "all").create().expect("producer");

    let group = unique("rtcx-notifier-test");
    let mut first = start(&topic, &group);
    wait_ready(&first).await;
    let base = i64::from(rand::random::<u32>()) * 1000;
    produce(&producer, &topic, None, b"{not an alert").await;
    for i in 0..20 {
        let e = serde_json::to_vec(&alert(&format!("event {i}"))).expect("json");
        produce(&producer, &topic, Some(base + i), &e).await;
    }
    rx.wait_for("slow/300/svc", 3, Duration::from_secs(30)).await;
    first.child.kill().expect("SIGKILL");
    first.child.wait().expect("reaped");
    let before = rx.received("slow/300/svc").len();

    let second = start(&topic, &group);
    wait_ready(&second).await;
    // Relayed twice: the same outbox row again.
    produce(&producer, &topic, Some(base + 3), &serde_json::to_vec(&alert("again")).expect("json")).await;

    let expected: Vec<String> = (0..20).map(|i| format!("msg_alert_{}", base + i)).collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let sent: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM notification_deliveries WHERE webhook_id = $1 AND status = 'sent'",
        )
        .bind(hook)
        .fetch_one(&pg)
        .await
        .expect("count");
        if sent == 20 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{sent} of 20 delivered after a SIGKILL");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Give the repeated event time to be read; it must queue nothing.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT message_id, status FROM notification_deliveries WHERE webhook_id = $1 ORDER BY message_id",
    )
    .bind(hook)
    .fetch_all(&pg)
    .await
    .expect("rows");
    let mut want = expected.clone();
    want.sort();
    assert_eq!(rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>(), want, "one delivery per event");
    assert!(rows.iter().all(|r| r.1 == "sent"));
    let received = rx.received("slow/300/svc");
    let mut ids: Vec<String> = received.iter().map(|r| r.header("webhook-id")).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids, want, "every event reached the receiver");
    eprintln!(
        "{} requests for 20 events ({before} before the SIGKILL; repeats are the killed notifier's in-flight sends)",
        received.len()
    );
    assert!(received.len() <= 20 + 4, "at most one claimed batch is sent again");

    let metrics = reqwest::get(format!("http://127.0.0.1:{}/metrics", second.port))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains("rtcx_notifier_deliveries_total{channel=\"webhook\",outcome=\"sent\"}"), "{metrics}");
    drop(second);
}

#[tokio::test]
async fn negative_messages_of_the_enriched_topic_reach_feedback_webhooks() {
    let pg = postgres().await;
    let _queue = take_queue(&pg).await;
    let brokers = env("RTCX_KAFKA_BROKERS");
    let alerts = format!("rtcx.test.{}.alerts", unique("nf"));
    let enriched = format!("{alerts}.enriched");
    rtcx_migrations::kafka_topics::ensure_topics(&brokers, &[(alerts.as_str(), 1), (enriched.as_str(), 2)], 1)
        .await
        .expect("topics");
    let rx = Receiver::start().await;
    let (hook, _) = webhook(&pg, &rx.url("ok/feedback"), &["feedback.negative"], "standard").await;
    let producer: FutureProducer =
        ClientConfig::new().set("bootstrap.servers", &brokers).set("acks", "all").create().expect("producer");
    let notifier = start_with(&alerts, &enriched, &unique("rtcx-notifier-test"));
    wait_ready(&notifier).await;
    let message = |label: rtcx_schemas::SentimentLabel, text: &str| {
        let sub: rtcx_schemas::FeedbackSubmission =
            serde_json::from_value(serde_json::json!({"channel": "social", "text": text})).expect("submission");
        serde_json::to_vec(&rtcx_schemas::EnrichedFeedback {
            feedback: rtcx_schemas::FeedbackEvent::from_submission(sub, "test", chrono::Utc::now(), false),
            sentiment: rtcx_schemas::Sentiment { label, score: 0.0, confidence: 0.9 },
            emotions: rtcx_schemas::EmotionScores::from_array([0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]),
            dominant_emotion: rtcx_schemas::Emotion::Neutral,
            key_phrases: vec![],
            topic_ids: vec![],
            topic_reasons: Vec::new(),
            language: "en".into(),
            model: rtcx_schemas::ModelInfo { name: "test".into(), version: "0".into() },
            processed_at: chrono::Utc::now(),
        })
        .expect("json")
    };
    produce(&producer, &enriched, None, &message(rtcx_schemas::SentimentLabel::Positive, "Lovely staff")).await;
    produce(&producer, &enriched, None, &message(rtcx_schemas::SentimentLabel::Negative, "Rude staff")).await;
    let got = rx.wait_for("ok/feedback", 1, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got_all = rx.received("ok/feedback");
    assert_eq!(got_all.len(), 1, "only the negative message");
    assert_eq!(got[0].json()["data"]["text"], "Rude staff");
    assert_eq!(got[0].json()["type"], "feedback.negative");
    sqlx::query("UPDATE webhooks SET active = false WHERE id = $1").bind(hook).execute(&pg).await.expect("deactivate");
}
