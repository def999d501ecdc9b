//! The dead-letter envelope (`rtcx.feedback.dlq.v1`).

use base64::Engine as _;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Why a message was dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeadLetterReason {
    /// The payload is not UTF-8 JSON.
    MalformedJson,
    /// JSON, but not shaped like the message type (missing or mistyped fields).
    SchemaMismatch,
    /// Well-formed, but violates a validation rule.
    InvalidEvent,
    /// Processing failed repeatedly (e.g. the model crashed on it) and retries were exhausted.
    ProcessingFailed,
}

/// Where the original message came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SourceCoordinates {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The message key, if any, base64-encoded (keys are bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_base64: Option<String>,
    /// The message timestamp (milliseconds since the Unix epoch), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_ms: Option<i64>,
}

/// A message that could not be processed, with the reason and its original bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeadLetter {
    pub reason: DeadLetterReason,
    /// Human-readable error (for validation failures: every violated rule).
    pub error: String,
    /// Source coordinates of the original message.
    pub source: SourceCoordinates,
    /// The original payload, base64-encoded (it may not be UTF-8).
    pub payload_base64: String,
    /// How many processing attempts were made.
    pub attempts: u32,
    /// When the message was dead-lettered.
    pub failed_at: DateTime<Utc>,
}

impl DeadLetter {
    /// Wraps an original payload.
    pub fn new(
        reason: DeadLetterReason,
        error: impl Into<String>,
        source: SourceCoordinates,
        payload: &[u8],
        attempts: u32,
        failed_at: DateTime<Utc>,
    ) -> Self {
        Self {
            reason,
            error: error.into(),
            source,
            payload_base64: base64::engine::general_purpose::STANDARD.encode(payload),
            attempts,
            failed_at,
        }
    }

    /// Decodes the original payload.
    pub fn payload(&self) -> Result<Vec<u8>, base64::DecodeError> {
        base64::engine::general_purpose::STANDARD.decode(&self.payload_base64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn original_bytes_survive_the_envelope() {
        let bytes = [0xff, 0xfe, b'{', 0x00];
        let src = SourceCoordinates {
            topic: "rtcx.feedback.raw.v1".into(),
            partition: 3,
            offset: 42,
            key_base64: None,
            timestamp_ms: Some(1),
        };
        let dl = DeadLetter::new(DeadLetterReason::MalformedJson, "not utf-8", src, &bytes, 1, Utc::now());
        let json = serde_json::to_string(&dl).expect("serialize");
        let back: DeadLetter = serde_json::from_str(&json).expect("parse");
        assert_eq!(back.payload().expect("base64"), bytes);
        assert_eq!(back.source.offset, 42);
    }
}
