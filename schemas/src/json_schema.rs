//! JSON Schema documents for the Kafka messages, the HTTP feedback body and the live-updates
//! protocol, generated from the Rust types.
//!
//! The generated documents are committed under `schemas/json/` for integrations that produce
//! straight to Kafka; a test fails when they drift from the types. Regenerate them with
//! `cargo run -p rtcx-schemas --bin rtcx-json-schemas`.

use schemars::{JsonSchema, schema_for};

use crate::{AlertEvent, DeadLetter, EnrichedFeedback, FeedbackEvent, FeedbackSubmission, live, topics};

/// One schema document: its file name, what it describes, and the schema.
pub struct SchemaDoc {
    /// File name under `schemas/json/`.
    pub file: &'static str,
    /// The topic whose messages it describes, or `None` for the HTTP body.
    pub topic: Option<&'static str>,
    /// The schema, pretty-printed JSON with a trailing newline.
    pub json: String,
}

fn doc<T: JsonSchema>(file: &'static str, topic: Option<&'static str>, id: &str) -> SchemaDoc {
    let mut schema = schema_for!(T);
    schema.insert("$id".into(), serde_json::Value::String(format!("https://rtcx.dev/schemas/{id}")));
    let mut json = serde_json::to_string_pretty(&schema).unwrap_or_default();
    json.push('\n');
    SchemaDoc { file, topic, json }
}

/// Every committed schema document.
pub fn all() -> Vec<SchemaDoc> {
    vec![
        doc::<FeedbackEvent>("feedback-raw.v1.json", Some(topics::FEEDBACK_RAW), "feedback-raw.v1.json"),
        doc::<EnrichedFeedback>(
            "feedback-enriched.v1.json",
            Some(topics::FEEDBACK_ENRICHED),
            "feedback-enriched.v1.json",
        ),
        doc::<DeadLetter>("feedback-dlq.v1.json", Some(topics::FEEDBACK_DLQ), "feedback-dlq.v1.json"),
        doc::<AlertEvent>("alerts.v1.json", Some(topics::ALERTS), "alerts.v1.json"),
        doc::<FeedbackSubmission>("feedback-submission.v1.json", None, "feedback-submission.v1.json"),
        doc::<live::ClientMessage>("live-client.v1.json", None, "live-client.v1.json"),
        doc::<live::ServerMessage>("live-server.v1.json", None, "live-server.v1.json"),
    ]
}
