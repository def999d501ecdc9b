//! The enriched event the processors publish (`rtcx.feedback.enriched.v1`).

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::emotion::{Emotion, EmotionScores};
use crate::feedback::FeedbackEvent;

/// Three-way sentiment label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SentimentLabel {
    Negative,
    Neutral,
    Positive,
}

impl SentimentLabel {
    /// Every label, in the sentiment head's class order.
    pub const ALL: [SentimentLabel; 3] = [SentimentLabel::Negative, SentimentLabel::Neutral, SentimentLabel::Positive];

    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            SentimentLabel::Negative => "negative",
            SentimentLabel::Neutral => "neutral",
            SentimentLabel::Positive => "positive",
        }
    }
}

/// Sentiment of one text.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Sentiment {
    /// The most probable label.
    pub label: SentimentLabel,
    /// Polarity in [-1, 1]: P(positive) - P(negative).
    pub score: f32,
    /// Probability of `label`, in [0, 1].
    pub confidence: f32,
}

/// Which model produced an enrichment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ModelInfo {
    /// Model name, e.g. `rtcx-minilm-l6-heads` or `lexicon-en`.
    pub name: String,
    /// Model version (manifest checksum prefix or release tag).
    pub version: String,
}

/// Why a topic was assigned to a feedback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum TopicReason {
    /// One of the topic's keywords occurs in the text.
    Keyword { keyword: String },
    /// The text is close in meaning to the topic: its score, the topic's threshold, and the
    /// topic's nearest example message with its cosine (none when the topic has no examples).
    Similarity {
        score: f32,
        threshold: f32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        example_id: Option<Uuid>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        example_cosine: Option<f32>,
    },
}

/// A feedback event with everything the processors learned about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EnrichedFeedback {
    /// The event exactly as read from the raw topic.
    pub feedback: FeedbackEvent,
    /// Sentiment label and score.
    pub sentiment: Sentiment,
    /// Probability distribution over the seven emotions.
    pub emotions: EmotionScores,
    /// The most probable emotion.
    pub dominant_emotion: Emotion,
    /// Key phrases extracted from the text, most salient first.
    pub key_phrases: Vec<String>,
    /// Ids of the catalogue topics the feedback was assigned to.
    pub topic_ids: Vec<Uuid>,
    /// Why each topic was assigned, in the order of `topic_ids` (empty in events enriched
    /// before reasons were recorded).
    #[serde(default)]
    pub topic_reasons: Vec<TopicReason>,
    /// Detected language (BCP 47), or the hint when detection was not confident.
    pub language: String,
    /// Model that produced sentiment and emotion.
    pub model: ModelInfo,
    /// When the processors enriched the event.
    pub processed_at: DateTime<Utc>,
}
