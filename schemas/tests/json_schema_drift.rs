//! The committed JSON Schema files under `schemas/json/` must match the Rust types, and the
//! messages the types produce must validate against them.

use std::path::PathBuf;

use chrono::Utc;
use rtcx_schemas::live::{ClientMessage, FeedbackUpdate, ServerMessage, SubscriptionFilter};
use rtcx_schemas::{
    AlertEvent, AlertSeverity, AlertType, DeadLetter, DeadLetterReason, EmotionScores, EnrichedFeedback, FeedbackEvent,
    FeedbackSubmission, ModelInfo, Sentiment, SentimentLabel, SourceCoordinates, json_schema,
};
use serde_json::{Value, json};

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("json")
}

#[test]
fn committed_schemas_match_the_types() {
    let docs = json_schema::all();
    assert_eq!(docs.len(), 7);
    for doc in docs {
        let path = schema_dir().join(doc.file);
        let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            committed == doc.json,
            "{} drifted from the Rust types: run `cargo run -p rtcx-schemas --bin rtcx-json-schemas` and commit",
            path.display()
        );
    }
    let on_disk = std::fs::read_dir(schema_dir()).expect("schemas/json").count();
    assert_eq!(on_disk, json_schema::all().len(), "stale files in schemas/json");
}

fn validator(file: &str) -> jsonschema::Validator {
    let text = std::fs::read_to_string(schema_dir().join(file)).expect("schema file");
    let schema: Value = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::validator_for(&schema).expect("schema compiles")
}

fn sample_event() -> FeedbackEvent {
    let sub: FeedbackSubmission = serde_json::from_value(json!({
        "channel": "chat", "text": "Agent was great", "csat": 5, "customer_id": "c-1",
        "metadata": {"agent": "a-7"}, "idempotency_key": "k"
    }))
    .expect("submission");
    FeedbackEvent::from_submission(sub, "intercom", Utc::now(), false)
}

#[test]
fn messages_validate_against_their_schemas() {
    let ev = sample_event();
    let raw = validator("feedback-raw.v1.json");
    assert!(raw.is_valid(&serde_json::to_value(&ev).expect("json")));

    let enriched = EnrichedFeedback {
        feedback: ev.clone(),
        sentiment: Sentiment { label: SentimentLabel::Positive, score: 0.9, confidence: 0.93 },
        emotions: EmotionScores::from_array([0.0, 0.0, 0.0, 0.9, 0.1, 0.0, 0.0]),
        dominant_emotion: rtcx_schemas::Emotion::Joy,
        key_phrases: vec!["agent".into()],
        topic_ids: vec![uuid::Uuid::now_v7()],
        topic_reasons: Vec::new(),
        language: "en".into(),
        model: ModelInfo { name: "test".into(), version: "0".into() },
        processed_at: Utc::now(),
    };
    assert!(validator("feedback-enriched.v1.json").is_valid(&serde_json::to_value(&enriched).expect("json")));

    let dl = DeadLetter::new(
        DeadLetterReason::InvalidEvent,
        "text: must not be empty",
        SourceCoordinates { topic: "t".into(), partition: 0, offset: 1, key_base64: None, timestamp_ms: None },
        b"{}",
        1,
        Utc::now(),
    );
    assert!(validator("feedback-dlq.v1.json").is_valid(&serde_json::to_value(&dl).expect("json")));

    let alert = AlertEvent {
        id: uuid::Uuid::now_v7(),
        alert_type: AlertType::SentimentSpike,
        severity: AlertSeverity::High,
        title: "Negative sentiment spike on email".into(),
        description: String::new(),
        dimension: [("channel".to_string(), "email".to_string())].into(),
        window_start: Utc::now(),
        window_end: Utc::now(),
        metric: "negative_share".into(),
        observed: 0.6,
        baseline: 0.2,
        evidence: json!({"sample_ids": []}),
        created_at: Utc::now(),
        change: rtcx_schemas::AlertChange::Raised,
        rule: Some("channel_negative_share".into()),
        score: Some(7.5),
        backfill: false,
        silenced: false,
        workflow: None,
    };
    assert!(alert.notify());
    let alert_json = serde_json::to_value(&alert).expect("json");
    assert_eq!(alert_json["alert_type"], "SENTIMENT_SPIKE");
    assert!(validator("alerts.v1.json").is_valid(&alert_json));

    let server = validator("live-server.v1.json");
    let feedback = ServerMessage::Feedback {
        id: "1-1".into(),
        room: "channel:chat".into(),
        data: FeedbackUpdate::from(&enriched),
    };
    assert!(server.is_valid(&serde_json::to_value(&feedback).expect("json")));
    let alert = ServerMessage::Alert {
        id: "1-2".into(),
        room: "alerts".into(),
        event_type: "alert_raised".into(),
        data: Box::new(alert),
    };
    assert!(server.is_valid(&serde_json::to_value(&alert).expect("json")));
    let client = validator("live-client.v1.json");
    let sub = ClientMessage::Subscribe {
        room: "alerts".into(),
        filter: SubscriptionFilter { min_severity: Some(AlertSeverity::High), ..Default::default() },
    };
    assert!(client.is_valid(&serde_json::to_value(&sub).expect("json")));
    assert!(!client.is_valid(&json!({"type": "subscribe", "room": "alerts", "filter": {"severity": "HIGH"}})));
}

#[test]
fn schemas_reject_what_the_types_reject() {
    let raw = validator("feedback-raw.v1.json");
    let mut ev = serde_json::to_value(sample_event()).expect("json");
    ev["channel"] = json!("fax");
    assert!(!raw.is_valid(&ev), "unknown channel must be rejected");
    let mut ev = serde_json::to_value(sample_event()).expect("json");
    ev.as_object_mut().expect("object").remove("text");
    assert!(!raw.is_valid(&ev), "missing text must be rejected");
    let sub = validator("feedback-submission.v1.json");
    assert!(!sub.is_valid(&json!({"channel": "web", "text": "x", "txt": "typo"})), "unknown fields are rejected");
    assert!(sub.is_valid(&json!({"channel": "web", "text": "x"})));
}
