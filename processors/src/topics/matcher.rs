//! Assigning feedback to catalogue topics: by keyword rules and by embedding similarity
//! between the text and the topic (name + description + keywords).

use rtcx_schemas::text::contains_words;
use uuid::Uuid;

/// One catalogue topic, ready for matching.
#[derive(Debug, Clone)]
pub struct TopicProfile {
    pub id: Uuid,
    pub name: String,
    /// Lower-case keywords and phrases; a whole-word occurrence in the text assigns the topic.
    pub keywords: Vec<String>,
    /// Unit-length embedding of the topic's name, description and keywords; empty when the
    /// engine has no encoder (then only keywords match).
    pub embedding: Vec<f32>,
}

/// The catalogue as the pipeline matches against it.
#[derive(Debug, Clone, Default)]
pub struct TopicMatcher {
    topics: Vec<TopicProfile>,
    threshold: f32,
}

/// Cosine similarity of two unit-length vectors (their dot product); 0 when either is empty
/// or the lengths differ.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.is_empty() || a.len() != b.len() {
        return 0.0;
    }
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl TopicMatcher {
    /// A matcher over `topics`; texts whose embedding has cosine ≥ `threshold` with a topic's
    /// embedding are assigned to it.
    pub fn new(topics: Vec<TopicProfile>, threshold: f32) -> Self {
        let topics = topics
            .into_iter()
            .map(|mut t| {
                t.keywords = t.keywords.iter().map(|k| k.trim().to_lowercase()).filter(|k| !k.is_empty()).collect();
                t
            })
            .collect();
        Self { topics, threshold }
    }

    /// Number of topics.
    pub fn len(&self) -> usize {
        self.topics.len()
    }

    /// True when the catalogue is empty.
    pub fn is_empty(&self) -> bool {
        self.topics.is_empty()
    }

    /// The topics `text` (with its unit-length `embedding`, possibly empty) belongs to, in
    /// catalogue order.
    pub fn assign(&self, text: &str, embedding: &[f32]) -> Vec<Uuid> {
        if self.topics.is_empty() {
            return Vec::new();
        }
        let lower = text.to_lowercase();
        self.topics
            .iter()
            .filter(|t| {
                t.keywords.iter().any(|k| contains_words(&lower, k))
                    || cosine(embedding, &t.embedding) >= self.threshold
            })
            .map(|t| t.id)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(n: u128, keywords: &[&str], embedding: Vec<f32>) -> TopicProfile {
        TopicProfile {
            id: Uuid::from_u128(n),
            name: format!("t{n}"),
            keywords: keywords.iter().map(|s| (*s).to_owned()).collect(),
            embedding,
        }
    }

    #[test]
    fn keywords_match_whole_words_case_insensitively() {
        let m =
            TopicMatcher::new(vec![topic(1, &["Delivery", "late parcel"], vec![]), topic(2, &["app"], vec![])], 0.5);
        assert_eq!(m.assign("My LATE parcel, again! Delivery was slow", &[]), vec![Uuid::from_u128(1)]);
        assert!(m.assign("the application crashed", &[]).is_empty(), "app must not match application");
        assert_eq!(m.assign("the app crashed", &[]), vec![Uuid::from_u128(2)]);
    }

    #[test]
    fn embeddings_match_above_the_threshold() {
        let m = TopicMatcher::new(vec![topic(1, &[], vec![1.0, 0.0]), topic(2, &[], vec![0.0, 1.0])], 0.8);
        assert_eq!(m.assign("anything", &[0.9, 0.436]), vec![Uuid::from_u128(1)]);
        assert!(m.assign("anything", &[std::f32::consts::FRAC_1_SQRT_2, std::f32::consts::FRAC_1_SQRT_2]).is_empty());
        assert!(m.assign("anything", &[]).is_empty(), "no embedding, no similarity match");
    }
}
