//! Messages of the live topics, as the processors publish them: enriched feedback and alert
//! events, and a producer for them.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rtcx_schemas::{
    AlertChange, AlertEvent, AlertSeverity, AlertType, EmotionScores, EnrichedFeedback, FeedbackEvent,
    FeedbackSubmission, ModelInfo, Sentiment, SentimentLabel,
};
use rtcx_service_kit::testing::env;
use serde_json::json;
use uuid::Uuid;

pub fn producer() -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", env("RTCX_KAFKA_BROKERS"))
        .set("acks", "all")
        .set("linger.ms", "5")
        .create()
        .expect("producer")
}

pub async fn produce(p: &FutureProducer, topic: &str, payload: &[u8]) {
    p.send(FutureRecord::<(), [u8]>::to(topic).payload(payload), Duration::from_secs(10)).await.expect("produce");
}

pub fn alert(severity: AlertSeverity, title: &str) -> AlertEvent {
    AlertEvent {
        id: Uuid::now_v7(),
        alert_type: AlertType::SentimentSpike,
        severity,
        title: title.into(),
        description: String::new(),
        dimension: [("channel".to_string(), "email".to_string())].into(),
        window_start: chrono::Utc::now(),
        window_end: chrono::Utc::now(),
        metric: "negative_share".into(),
        observed: 0.6,
        baseline: 0.2,
        evidence: json!({}),
        created_at: chrono::Utc::now(),
        change: AlertChange::Raised,
        rule: None,
        score: None,
        backfill: false,
        silenced: false,
        workflow: None,
    }
}

pub fn enriched(channel: &str, label: SentimentLabel, topics: &[Uuid], text: &str) -> EnrichedFeedback {
    let sub: FeedbackSubmission =
        serde_json::from_value(json!({"channel": channel, "text": text})).expect("submission");
    EnrichedFeedback {
        feedback: FeedbackEvent::from_submission(sub, "test", chrono::Utc::now(), false),
        sentiment: Sentiment { label, score: -0.5, confidence: 0.9 },
        emotions: EmotionScores::from_array([0.6, 0.0, 0.0, 0.1, 0.3, 0.0, 0.0]),
        dominant_emotion: rtcx_schemas::Emotion::Anger,
        key_phrases: vec![],
        topic_ids: topics.to_vec(),
        topic_reasons: Vec::new(),
        language: "en".into(),
        model: ModelInfo { name: "test".into(), version: "0".into() },
        processed_at: chrono::Utc::now(),
    }
}
