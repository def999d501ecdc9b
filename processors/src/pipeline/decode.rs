//! Raw-topic messages → feedback events, or the reason they are dead letters.
//!
//! Integrations may produce straight to Kafka, so anything can arrive: bytes that are not
//! JSON, JSON that is not a feedback event (wrong types, an unknown channel), or an event
//! that breaks the validation rules ingest applies (oversized text, out-of-range rating…).

use chrono::{DateTime, Utc};
use rtcx_schemas::validation::validate_event;
use rtcx_schemas::{DeadLetterReason, FeedbackEvent};

/// Why a message cannot be processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub reason: DeadLetterReason,
    pub error: String,
}

impl Rejected {
    fn new(reason: DeadLetterReason, error: impl Into<String>) -> Self {
        Self { reason, error: error.into() }
    }
}

/// Parses and validates one message payload; `now` is the processing time.
pub fn decode(payload: Option<&[u8]>, now: DateTime<Utc>) -> Result<FeedbackEvent, Rejected> {
    let bytes = payload
        .filter(|p| !p.is_empty())
        .ok_or_else(|| Rejected::new(DeadLetterReason::MalformedJson, "empty message"))?;
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| Rejected::new(DeadLetterReason::MalformedJson, e.to_string()))?;
    // Serde's derived deserializers would also take the fields as an array, in order.
    if !value.is_object() {
        return Err(Rejected::new(DeadLetterReason::SchemaMismatch, "an event must be a JSON object"));
    }
    let event: FeedbackEvent =
        serde_json::from_value(value).map_err(|e| Rejected::new(DeadLetterReason::SchemaMismatch, e.to_string()))?;
    validate_event(&event, now).map_err(|e| Rejected::new(DeadLetterReason::InvalidEvent, e.to_string()))?;
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> serde_json::Value {
        json!({
            "id": "018f3a2b-0000-7000-8000-000000000001",
            "received_at": "2026-11-01T10:00:00Z",
            "occurred_at": "2026-11-01T09:59:00Z",
            "channel": "email",
            "text": "The parcel arrived late.",
            "source": "crm",
        })
    }

    fn run(v: &serde_json::Value) -> Result<FeedbackEvent, Rejected> {
        decode(Some(v.to_string().as_bytes()), Utc::now())
    }

    #[test]
    fn a_valid_event_decodes() {
        let ev = run(&event()).expect("valid");
        assert_eq!(ev.text, "The parcel arrived late.");
        assert_eq!(ev.channel.as_str(), "email");
    }

    #[test]
    fn every_kind_of_bad_message_gets_its_reason() {
        let reason = |payload: Option<&[u8]>| decode(payload, Utc::now()).expect_err("rejected").reason;
        assert_eq!(reason(None), DeadLetterReason::MalformedJson);
        assert_eq!(reason(Some(b"")), DeadLetterReason::MalformedJson);
        assert_eq!(reason(Some(b"{not json")), DeadLetterReason::MalformedJson);
        assert_eq!(reason(Some(&[0xff, 0xfe, 0x00])), DeadLetterReason::MalformedJson);
        assert_eq!(reason(Some(b"[1,2,3]")), DeadLetterReason::SchemaMismatch);
        // The event's fields as an array, in order: serde alone would take it.
        let obj = event();
        let fields: Vec<&serde_json::Value> = obj.as_object().expect("object").values().collect();
        let r = run(&json!(fields)).expect_err("array");
        assert_eq!((r.reason, r.error.as_str()), (DeadLetterReason::SchemaMismatch, "an event must be a JSON object"));

        let mut unknown_channel = event();
        unknown_channel["channel"] = json!("fax");
        let r = run(&unknown_channel).expect_err("unknown channel");
        assert_eq!(r.reason, DeadLetterReason::SchemaMismatch);
        assert!(r.error.contains("fax"), "{}", r.error);

        let mut missing = event();
        missing.as_object_mut().expect("object").remove("text");
        assert_eq!(run(&missing).expect_err("missing text").reason, DeadLetterReason::SchemaMismatch);

        let mut oversized = event();
        oversized["text"] = json!("x".repeat(10_001));
        let r = run(&oversized).expect_err("oversized");
        assert_eq!(r.reason, DeadLetterReason::InvalidEvent);
        assert!(r.error.contains("text"), "{}", r.error);

        let mut rating = event();
        rating["rating"] = json!(9);
        assert_eq!(run(&rating).expect_err("rating").reason, DeadLetterReason::InvalidEvent);
    }
}
