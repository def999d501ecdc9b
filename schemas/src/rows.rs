//! ClickHouse row types (feature `clickhouse`). Every column is documented in
//! `docs/clickhouse.md`.

use chrono::{DateTime, Utc};
use clickhouse::Row;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::enriched::EnrichedFeedback;
use crate::feedback::Metadata;

/// One row of `rtcx.feedback`: an enriched feedback event.
///
/// Optional strings are stored as `''` (ClickHouse advises against `Nullable` for strings);
/// ratings stay `Nullable` because 0 is a valid NPS answer.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct FeedbackRow {
    #[serde(with = "clickhouse::serde::uuid")]
    pub id: Uuid,
    #[serde(with = "clickhouse::serde::chrono::datetime64::millis")]
    pub occurred_at: DateTime<Utc>,
    #[serde(with = "clickhouse::serde::chrono::datetime64::millis")]
    pub received_at: DateTime<Utc>,
    #[serde(with = "clickhouse::serde::chrono::datetime64::millis")]
    pub processed_at: DateTime<Utc>,
    pub channel: String,
    pub source: String,
    pub text: String,
    pub rating: Option<u8>,
    pub nps: Option<u8>,
    pub csat: Option<u8>,
    pub customer_id: String,
    pub segment: String,
    pub journey_stage: String,
    pub language: String,
    pub metadata: Metadata,
    pub external_id: String,
    pub anonymous: bool,
    pub sentiment_label: String,
    pub sentiment_score: f32,
    pub sentiment_confidence: f32,
    pub emotion_anger: f32,
    pub emotion_disgust: f32,
    pub emotion_fear: f32,
    pub emotion_joy: f32,
    pub emotion_neutral: f32,
    pub emotion_sadness: f32,
    pub emotion_surprise: f32,
    pub dominant_emotion: String,
    pub key_phrases: Vec<String>,
    #[serde(with = "clickhouse::serde::uuid_vec")]
    pub topic_ids: Vec<Uuid>,
    /// Why each topic was assigned, one JSON object per entry of `topic_ids`
    /// ([`crate::TopicReason`]).
    pub topic_reasons: Vec<String>,
    pub model_name: String,
    pub model_version: String,
    /// Partition of the raw topic the event was read from; -1 when not read from Kafka.
    pub kafka_partition: i32,
    /// Offset of the event in that partition; -1 when not read from Kafka.
    pub kafka_offset: i64,
    /// The sentence embedding in its stored form ([`crate::embedding::quantise`]); empty
    /// when the engine gives none (the lexicon, the Hugging Face pair).
    pub embedding: Vec<i8>,
    /// The list of the coarse quantiser the embedding is filed in
    /// ([`crate::embedding_lists`]); 0 when unfiled.
    pub embedding_list: u16,
}

impl FeedbackRow {
    /// A row with neutral values everywhere (neutral sentiment and emotion, no ratings, no
    /// topics, not from Kafka) and a fresh id, for synthetic data and tests: set what
    /// matters with struct-update syntax.
    pub fn blank(occurred_at: DateTime<Utc>) -> Self {
        FeedbackRow {
            id: Uuid::now_v7(),
            occurred_at,
            received_at: occurred_at,
            processed_at: occurred_at,
            channel: "web".into(),
            source: "synthetic".into(),
            text: String::new(),
            rating: None,
            nps: None,
            csat: None,
            customer_id: String::new(),
            segment: String::new(),
            journey_stage: String::new(),
            language: "en".into(),
            metadata: Metadata::default(),
            external_id: String::new(),
            anonymous: false,
            sentiment_label: "neutral".into(),
            sentiment_score: 0.0,
            sentiment_confidence: 1.0,
            emotion_anger: 0.0,
            emotion_disgust: 0.0,
            emotion_fear: 0.0,
            emotion_joy: 0.0,
            emotion_neutral: 1.0,
            emotion_sadness: 0.0,
            emotion_surprise: 0.0,
            dominant_emotion: "neutral".into(),
            key_phrases: Vec::new(),
            topic_ids: Vec::new(),
            topic_reasons: Vec::new(),
            model_name: "synthetic".into(),
            model_version: "0".into(),
            kafka_partition: -1,
            kafka_offset: -1,
            embedding: Vec::new(),
            embedding_list: crate::embedding_lists::UNFILED,
        }
    }
}

impl From<&EnrichedFeedback> for FeedbackRow {
    fn from(e: &EnrichedFeedback) -> Self {
        let f = &e.feedback;
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        FeedbackRow {
            id: f.id,
            occurred_at: f.occurred_at,
            received_at: f.received_at,
            processed_at: e.processed_at,
            channel: f.channel.as_str().to_owned(),
            source: f.source.clone(),
            text: f.text.clone(),
            rating: f.rating,
            nps: f.nps,
            csat: f.csat,
            customer_id: s(&f.customer_id),
            segment: s(&f.segment),
            journey_stage: s(&f.journey_stage),
            language: e.language.clone(),
            metadata: f.metadata.clone(),
            external_id: s(&f.external_id),
            anonymous: f.anonymous,
            sentiment_label: e.sentiment.label.as_str().to_owned(),
            sentiment_score: e.sentiment.score,
            sentiment_confidence: e.sentiment.confidence,
            emotion_anger: e.emotions.anger,
            emotion_disgust: e.emotions.disgust,
            emotion_fear: e.emotions.fear,
            emotion_joy: e.emotions.joy,
            emotion_neutral: e.emotions.neutral,
            emotion_sadness: e.emotions.sadness,
            emotion_surprise: e.emotions.surprise,
            dominant_emotion: e.dominant_emotion.as_str().to_owned(),
            key_phrases: e.key_phrases.clone(),
            topic_ids: e.topic_ids.clone(),
            topic_reasons: e.topic_reasons.iter().filter_map(|r| serde_json::to_string(r).ok()).collect(),
            model_name: e.model.name.clone(),
            model_version: e.model.version.clone(),
            kafka_partition: -1,
            kafka_offset: -1,
            embedding: Vec::new(),
            embedding_list: crate::embedding_lists::UNFILED,
        }
    }
}
