//! The feedback event: as submitted over HTTP and as carried on the raw Kafka topic.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::channel::Channel;
use crate::text::{MULTI_LINE_PATTERN, SINGLE_LINE_PATTERN, VISIBLE_MULTI_LINE_PATTERN, VISIBLE_SINGLE_LINE_PATTERN};
use crate::validation::limits;

/// Free-form string attributes attached by the integration (order id, app version, …).
pub type Metadata = BTreeMap<String, String>;

/// A piece of feedback as an integration submits it to ingest (`POST /v1/feedback`).
///
/// Ingest assigns `id` and `received_at`, sets `source` from the caller's credentials and
/// turns it into a [`FeedbackEvent`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackSubmission {
    /// Channel the feedback arrived on.
    pub channel: Channel,
    /// The feedback text (1..=10 000 characters after trimming surrounding whitespace).
    #[schemars(length(min = 1, max = limits::TEXT_MAX_CHARS), regex(pattern = VISIBLE_MULTI_LINE_PATTERN))]
    pub text: String,
    /// When the customer gave the feedback (event time, RFC 3339). Defaults to the time ingest
    /// received it. At most 5 minutes in the future.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<DateTime<Utc>>,
    /// Star rating, 1..=5.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "integral::optional_u8")]
    #[schemars(range(min = limits::RATING.0, max = limits::RATING.1))]
    pub rating: Option<u8>,
    /// Net Promoter Score answer, 0..=10.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "integral::optional_u8")]
    #[schemars(range(min = limits::NPS.0, max = limits::NPS.1))]
    pub nps: Option<u8>,
    /// Customer satisfaction answer, 1..=5.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "integral::optional_u8")]
    #[schemars(range(min = limits::CSAT.0, max = limits::CSAT.1))]
    pub csat: Option<u8>,
    /// The customer's id in the sender's systems (pseudonymous ids recommended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = limits::ID_MAX_CHARS), regex(pattern = VISIBLE_SINGLE_LINE_PATTERN))]
    pub customer_id: Option<String>,
    /// Customer segment (e.g. `enterprise`, `smb`, `consumer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = limits::LABEL_MAX_CHARS), regex(pattern = VISIBLE_SINGLE_LINE_PATTERN))]
    pub segment: Option<String>,
    /// Customer-journey stage (e.g. `onboarding`, `purchase`, `support`, `renewal`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = limits::LABEL_MAX_CHARS), regex(pattern = VISIBLE_SINGLE_LINE_PATTERN))]
    pub journey_stage: Option<String>,
    /// Language hint as a BCP 47 tag (e.g. `en`, `pt-BR`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = limits::LANGUAGE_MAX_CHARS), regex(pattern = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$"))]
    pub language: Option<String>,
    /// Free-form string attributes (at most 50 entries, 8 KiB in all).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend(
        "maxProperties" = limits::METADATA_MAX_ENTRIES,
        "propertyNames" = {"minLength": 1, "maxLength": limits::METADATA_KEY_MAX_CHARS, "pattern": SINGLE_LINE_PATTERN},
        "additionalProperties" = {"type": "string", "maxLength": limits::METADATA_VALUE_MAX_CHARS, "pattern": MULTI_LINE_PATTERN},
    ))]
    pub metadata: Metadata,
    /// The feedback's id in the sender's system; when given, the rtcx id is derived from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = limits::ID_MAX_CHARS), regex(pattern = VISIBLE_SINGLE_LINE_PATTERN))]
    pub external_id: Option<String>,
    /// Idempotency key: retries with the same key (from the same source) get the same id and
    /// are counted once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = limits::ID_MAX_CHARS), regex(pattern = VISIBLE_SINGLE_LINE_PATTERN))]
    pub idempotency_key: Option<String>,
}

/// A piece of feedback on the raw topic (`rtcx.feedback.raw.v1`).
///
/// Ingest produces these; integrations may also produce them straight to Kafka, in which case
/// the processors validate them with the same rules ([`crate::validation`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FeedbackEvent {
    /// rtcx id: UUIDv7, or UUIDv5 derived from `source` and the idempotency key / external id.
    pub id: Uuid,
    /// When ingest (or the direct producer) received the feedback.
    pub received_at: DateTime<Utc>,
    /// When the customer gave the feedback (event time; windows and rollups use this).
    pub occurred_at: DateTime<Utc>,
    /// Channel the feedback arrived on.
    pub channel: Channel,
    /// The feedback text, trimmed (1..=10 000 characters).
    #[schemars(length(min = 1, max = limits::TEXT_MAX_CHARS), regex(pattern = VISIBLE_MULTI_LINE_PATTERN))]
    pub text: String,
    /// Star rating, 1..=5.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "integral::optional_u8")]
    #[schemars(range(min = limits::RATING.0, max = limits::RATING.1))]
    pub rating: Option<u8>,
    /// Net Promoter Score answer, 0..=10.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "integral::optional_u8")]
    #[schemars(range(min = limits::NPS.0, max = limits::NPS.1))]
    pub nps: Option<u8>,
    /// Customer satisfaction answer, 1..=5.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "integral::optional_u8")]
    #[schemars(range(min = limits::CSAT.0, max = limits::CSAT.1))]
    pub csat: Option<u8>,
    /// The customer's id in the sender's systems.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = limits::ID_MAX_CHARS), regex(pattern = VISIBLE_SINGLE_LINE_PATTERN))]
    pub customer_id: Option<String>,
    /// Customer segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = limits::LABEL_MAX_CHARS), regex(pattern = VISIBLE_SINGLE_LINE_PATTERN))]
    pub segment: Option<String>,
    /// Customer-journey stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = limits::LABEL_MAX_CHARS), regex(pattern = VISIBLE_SINGLE_LINE_PATTERN))]
    pub journey_stage: Option<String>,
    /// Language hint (BCP 47).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = limits::LANGUAGE_MAX_CHARS), regex(pattern = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$"))]
    pub language: Option<String>,
    /// Free-form string attributes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend(
        "maxProperties" = limits::METADATA_MAX_ENTRIES,
        "propertyNames" = {"minLength": 1, "maxLength": limits::METADATA_KEY_MAX_CHARS, "pattern": SINGLE_LINE_PATTERN},
        "additionalProperties" = {"type": "string", "maxLength": limits::METADATA_VALUE_MAX_CHARS, "pattern": MULTI_LINE_PATTERN},
    ))]
    pub metadata: Metadata,
    /// Integration that sent the event (API key's source name, `public` for the anonymous
    /// widget endpoint, or the producer's own name for direct Kafka producers).
    #[schemars(length(min = 1, max = limits::SOURCE_MAX_CHARS), regex(pattern = r"^[A-Za-z0-9._:-]+$"))]
    pub source: String,
    /// The feedback's id in the sender's system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = limits::ID_MAX_CHARS), regex(pattern = VISIBLE_SINGLE_LINE_PATTERN))]
    pub external_id: Option<String>,
    /// Idempotency key the sender supplied, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = limits::ID_MAX_CHARS), regex(pattern = VISIBLE_SINGLE_LINE_PATTERN))]
    pub idempotency_key: Option<String>,
    /// True when submitted without credentials (public widget endpoint).
    #[serde(default)]
    pub anonymous: bool,
}

/// Whole numbers written as `3.0` are whole numbers: JSON Schema counts them as integers, so the
/// contracts do too (serde alone refuses them for `u8`).
mod integral {
    use serde::{Deserialize, Deserializer, de::Error};

    pub fn optional_u8<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
        let Some(n) = Option::<serde_json::Number>::deserialize(d)? else { return Ok(None) };
        let whole = n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= 255.0).map(|f| f as u64));
        whole
            .and_then(|w| u8::try_from(w).ok())
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("invalid value: {n}, expected a whole number from 0 to 255")))
    }
}

/// Namespace for UUIDv5 ids derived from `source` + idempotency key / external id.
pub const FEEDBACK_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6a1f_3c2e_7b9d_4f10_9e2a_5c8b_0d4e_7f31);

impl FeedbackEvent {
    /// The id a submission gets: deterministic (UUIDv5 over source + key) when an idempotency
    /// key or an external id is present, so a retried event keeps its id; UUIDv7 otherwise.
    pub fn derive_id(source: &str, idempotency_key: Option<&str>, external_id: Option<&str>) -> Uuid {
        let keyed = idempotency_key.map(|k| ("idem", k)).or_else(|| external_id.map(|k| ("ext", k)));
        match keyed {
            Some((kind, key)) => {
                // Length-prefix the parts so that ("a:b", "c") and ("a", "b:c") differ.
                let name = format!("{}:{source}|{kind}|{key}", source.len());
                Uuid::new_v5(&FEEDBACK_ID_NAMESPACE, name.as_bytes())
            }
            None => Uuid::now_v7(),
        }
    }

    /// Turns a submission into an event: assigns the id, trims the text and defaults the
    /// event time to `received_at`. Call [`crate::validation::validate_submission`] first.
    pub fn from_submission(sub: FeedbackSubmission, source: &str, received_at: DateTime<Utc>, anonymous: bool) -> Self {
        let id = Self::derive_id(source, sub.idempotency_key.as_deref(), sub.external_id.as_deref());
        let text = match sub.text.trim() {
            t if t.len() == sub.text.len() => sub.text,
            t => t.to_owned(),
        };
        FeedbackEvent {
            id,
            received_at,
            occurred_at: sub.occurred_at.unwrap_or(received_at),
            channel: sub.channel,
            text,
            rating: sub.rating,
            nps: sub.nps,
            csat: sub.csat,
            customer_id: sub.customer_id,
            segment: sub.segment,
            journey_stage: sub.journey_stage,
            language: sub.language,
            metadata: sub.metadata,
            source: source.to_owned(),
            external_id: sub.external_id,
            idempotency_key: sub.idempotency_key,
            anonymous,
        }
    }

    /// The Kafka message key for this event (see [`crate::topics::message_key`]).
    pub fn kafka_key(&self) -> String {
        crate::topics::message_key(&self.source, self.customer_id.as_deref(), self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submission() -> FeedbackSubmission {
        serde_json::from_value(serde_json::json!({
            "channel": "email",
            "text": "  The parcel arrived late.  ",
        }))
        .expect("valid submission")
    }

    #[test]
    fn keyed_ids_are_deterministic_and_scoped_by_source() {
        let a = FeedbackEvent::derive_id("zendesk", Some("k1"), None);
        assert_eq!(a, FeedbackEvent::derive_id("zendesk", Some("k1"), None));
        assert_eq!(a.get_version_num(), 5);
        assert_ne!(a, FeedbackEvent::derive_id("intercom", Some("k1"), None));
        assert_ne!(a, FeedbackEvent::derive_id("zendesk", None, Some("k1")));
        // the idempotency key wins over the external id
        assert_eq!(a, FeedbackEvent::derive_id("zendesk", Some("k1"), Some("x")));
        let v7 = FeedbackEvent::derive_id("zendesk", None, None);
        assert_eq!(v7.get_version_num(), 7);
        assert_ne!(v7, FeedbackEvent::derive_id("zendesk", None, None));
    }

    #[test]
    fn from_submission_trims_text_and_defaults_event_time() {
        let now = Utc::now();
        let ev = FeedbackEvent::from_submission(submission(), "web-widget", now, true);
        assert_eq!(ev.text, "The parcel arrived late.");
        assert_eq!(ev.occurred_at, now);
        assert_eq!(ev.received_at, now);
        assert_eq!(ev.source, "web-widget");
        assert!(ev.anonymous);
        let back: FeedbackEvent = serde_json::from_str(&serde_json::to_string(&ev).expect("serialize")).expect("parse");
        assert_eq!(back, ev);
    }

    #[test]
    fn submissions_reject_unknown_fields() {
        let err = serde_json::from_value::<FeedbackSubmission>(serde_json::json!({
            "channel": "web", "text": "hi", "txt": "typo"
        }))
        .expect_err("unknown field");
        assert!(err.to_string().contains("txt"), "{err}");
    }
}
