//! # rtcx-schemas: the contracts shared by every rtcx service
//!
//! Everything that crosses a process boundary is defined here once:
//!
//! * [`feedback`]: the feedback event as accepted at ingest ([`FeedbackSubmission`] over HTTP,
//!   [`FeedbackEvent`] on the raw Kafka topic);
//! * [`enriched`]: the enriched event the processors publish ([`EnrichedFeedback`]);
//! * [`alert`]: alert events ([`AlertEvent`]);
//! * [`credentials`]: access-token claims, role names and the stored hash of secrets;
//! * [`dead_letter`]: the dead-letter envelope ([`DeadLetter`]);
//! * [`embedding`]: the stored form of a message's sentence embedding (int8, no scale);
//! * [`validation`]: the validation rules, used by ingest for HTTP input and by the
//!   processors for messages produced straight to Kafka;
//! * [`live`]: the live-updates protocol of query-api (WebSocket and Server-Sent Events);
//! * [`notifications`]: each user's e-mail notification preferences and their role defaults;
//! * [`text`]: which characters free text may hold (no control characters, something visible);
//! * [`topics`]: versioned Kafka topic names and message-key rules;
//! * [`json_schema`]: JSON Schema documents generated from these types (committed under
//!   `schemas/json/`);
//! * `rows` (feature `clickhouse`): ClickHouse row types.

pub mod alert;
pub mod channel;
pub mod credentials;
pub mod dead_letter;
pub mod embedding;
pub mod embedding_lists;
pub mod emotion;
pub mod enriched;
pub mod feedback;
pub mod json_schema;
pub mod live;
pub mod notifications;
#[cfg(feature = "clickhouse")]
pub mod rows;
pub mod text;
pub mod topics;
pub mod validation;

pub use alert::{AlertChange, AlertEvent, AlertSeverity, AlertStatus, AlertType, WorkflowChange};
pub use channel::Channel;
pub use dead_letter::{DeadLetter, DeadLetterReason, SourceCoordinates};
pub use emotion::{Emotion, EmotionScores};
pub use enriched::{EnrichedFeedback, ModelInfo, Sentiment, SentimentLabel, TopicReason};
pub use feedback::{FeedbackEvent, FeedbackSubmission, Metadata};
pub use validation::{ValidationError, ValidationErrors};
