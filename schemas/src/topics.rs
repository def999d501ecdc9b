//! Kafka topic names and message-key rules, defined in one place.
//!
//! Topic names carry a version suffix: an incompatible change to a message type gets a new
//! topic (`….v2`) so that old and new producers and consumers can run side by side.
//!
//! | topic | message | key |
//! |---|---|---|
//! | `rtcx.feedback.raw.v1` | [`crate::FeedbackEvent`] | [`message_key`]: `source` + `customer_id`, else the event id |
//! | `rtcx.feedback.enriched.v1` | [`crate::EnrichedFeedback`] | same key as the raw event |
//! | `rtcx.feedback.dlq.v1` | [`crate::DeadLetter`] | the original message's key |
//! | `rtcx.alerts.v1` | [`crate::AlertEvent`] | alert type + dimension |
//!
//! Keying by customer keeps one customer's events in one partition, hence ordered, which the
//! churn-risk detector relies on. Events without a customer are keyed by their id and spread
//! evenly.

use uuid::Uuid;

/// Raw feedback, as accepted by ingest or produced straight to Kafka by integrations.
pub const FEEDBACK_RAW: &str = "rtcx.feedback.raw.v1";
/// Enriched feedback published by the processors.
pub const FEEDBACK_ENRICHED: &str = "rtcx.feedback.enriched.v1";
/// Messages the processors could not process.
pub const FEEDBACK_DLQ: &str = "rtcx.feedback.dlq.v1";
/// Alerts raised by the detectors.
pub const ALERTS: &str = "rtcx.alerts.v1";

/// Header of the `ALERTS` messages relayed from the Postgres outbox: the outbox row id, the
/// event's identity for consumers that must not act twice on an event relayed twice.
pub const OUTBOX_ID_HEADER: &str = "rtcx-outbox-id";

/// Every topic rtcx uses, with its default partition count.
pub const ALL: [(&str, i32); 4] = [(FEEDBACK_RAW, 6), (FEEDBACK_ENRICHED, 6), (FEEDBACK_DLQ, 1), (ALERTS, 1)];

/// The Kafka message key of a feedback event: `"{source}/{customer_id}"` when the customer is
/// known (so that one customer's events stay ordered), otherwise the event id.
pub fn message_key(source: &str, customer_id: Option<&str>, id: Uuid) -> String {
    match customer_id {
        Some(c) if !c.is_empty() => format!("{source}/{c}"),
        _ => id.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_are_versioned_and_unique() {
        let names: std::collections::BTreeSet<_> = ALL.iter().map(|(n, _)| *n).collect();
        assert_eq!(names.len(), ALL.len());
        assert!(ALL.iter().all(|(n, p)| n.starts_with("rtcx.") && n.ends_with(".v1") && *p > 0));
    }

    #[test]
    fn customer_events_share_a_key() {
        let a = message_key("crm", Some("c-1"), Uuid::now_v7());
        let b = message_key("crm", Some("c-1"), Uuid::now_v7());
        assert_eq!(a, b);
        let id = Uuid::now_v7();
        assert_eq!(message_key("crm", None, id), id.to_string());
        assert_eq!(message_key("crm", Some(""), id), id.to_string());
    }
}
