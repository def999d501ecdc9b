//! A topic as the matcher sees it: the user's rules (keywords that assign it, keywords that
//! exclude it) and the embeddings of what carries its meaning (its description, its example
//! messages, its counter-examples).

use uuid::Uuid;

/// One embedded message that illustrates a topic (or, as a counter-example, what it is not).
#[derive(Debug, Clone, PartialEq)]
pub struct Embedded {
    /// The example's id, reported as the nearest example of an assignment.
    pub id: Uuid,
    /// Unit-length sentence embedding.
    pub embedding: Vec<f32>,
}

/// A catalogue topic, ready for matching.
#[derive(Debug, Clone, Default)]
pub struct TopicDefinition {
    pub id: Uuid,
    pub name: String,
    /// Words and phrases whose whole-word occurrence assigns the topic (an exact override).
    pub keywords: Vec<String>,
    /// Words and phrases whose occurrence keeps the topic off a message, whatever its score.
    pub excluded_keywords: Vec<String>,
    /// Unit-length embedding of the topic's name, description and keywords (empty: none, e.g.
    /// when the engine has no encoder; then only keywords match).
    pub description: Vec<f32>,
    /// Unit-length embeddings of shorter phrasings of the topic (its name, its keywords): a
    /// message close to one of them is close to the topic even when the whole description,
    /// longer and broader, is not.
    pub phrasings: Vec<Vec<f32>>,
    /// Messages about the topic (pasted by a user, accepted from a suggestion, or a
    /// correction "this message is about it").
    pub examples: Vec<Embedded>,
    /// Messages that are not about it (a correction "this message is not about it").
    pub negatives: Vec<Embedded>,
}

/// The text a topic's description embedding is computed from: its name, description and
/// keywords. The pipeline's catalogue and the evaluation both embed exactly this.
pub fn profile_text(name: &str, description: &str, keywords: &[String]) -> String {
    let mut s = name.to_owned();
    if !description.is_empty() {
        s.push_str(". ");
        s.push_str(description);
    }
    if !keywords.is_empty() {
        s.push_str(". ");
        s.push_str(&keywords.join(", "));
    }
    s
}

/// The texts of a topic's [`TopicDefinition::phrasings`]: its name, then each keyword.
pub fn phrasing_texts(name: &str, keywords: &[String]) -> Vec<String> {
    std::iter::once(name.to_owned()).chain(keywords.iter().cloned()).collect()
}

/// Lower-cased, trimmed, non-empty phrases.
pub(crate) fn normalise_phrases(phrases: &[String]) -> Vec<String> {
    phrases.iter().map(|k| k.trim().to_lowercase()).filter(|k| !k.is_empty()).collect()
}
