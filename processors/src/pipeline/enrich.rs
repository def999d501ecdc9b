//! Feedback event + model analysis → enriched event: key phrases, language and topics are
//! added here (cheap, per text), sentiment and emotions come from the inference engine.

use chrono::{DateTime, Utc};
use rtcx_schemas::{EnrichedFeedback, FeedbackEvent, ModelInfo};

use crate::inference::Analysis;
use crate::text::{key_phrases, language};
use crate::topics::TopicMatcher;

/// Key phrases kept per feedback.
pub const MAX_KEY_PHRASES: usize = 5;

/// Builds the enriched event.
pub fn enrich(
    feedback: FeedbackEvent,
    analysis: &Analysis,
    topics: &TopicMatcher,
    model: &ModelInfo,
    processed_at: DateTime<Utc>,
) -> EnrichedFeedback {
    let key_phrases = key_phrases::extract(&feedback.text, MAX_KEY_PHRASES);
    let language = language::detect(&feedback.text, feedback.language.as_deref());
    let assigned = topics.assign(&feedback.text, &analysis.embedding);
    let topic_ids = assigned.iter().map(|a| a.topic).collect();
    let topic_reasons = assigned.into_iter().map(|a| a.reason).collect();
    EnrichedFeedback {
        sentiment: analysis.sentiment,
        emotions: analysis.emotions,
        dominant_emotion: analysis.emotions.dominant(),
        key_phrases,
        topic_ids,
        topic_reasons,
        language,
        model: model.clone(),
        processed_at,
        feedback,
    }
}
