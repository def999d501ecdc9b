//! The rule-based lexicon, run only when chosen (`--lexicon`): word and emoji
//! valences with negation and intensifiers for sentiment, word lists for emotions. Results
//! carry the model name `lexicon-en` so dashboards can tell them apart.
//!
//! The lexicon is rtcx's own, written for customer feedback (deliveries, refunds, support,
//! apps, billing), in the spirit of VADER (Hutto & Gilbert, 2014): valences in [-3, 3], a
//! negation flips and damps the next three words, intensifiers scale them, and the sum is
//! squashed into [-1, 1] with x / √(x² + 15).

use rtcx_schemas::{EmotionScores, ModelInfo, Sentiment, SentimentLabel};

use super::analyzer::Analysis;

/// (word, valence, emotion index in anger, disgust, fear, joy, neutral, sadness, surprise)
const WORDS: &[(&str, f32, Option<usize>)] = &[
    // positive
    ("amazing", 3.0, Some(3)),
    ("awesome", 3.0, Some(3)),
    ("excellent", 3.0, Some(3)),
    ("perfect", 3.0, Some(3)),
    ("love", 3.0, Some(3)),
    ("loved", 3.0, Some(3)),
    ("loving", 2.5, Some(3)),
    ("fantastic", 3.0, Some(3)),
    ("great", 2.5, Some(3)),
    ("wonderful", 3.0, Some(3)),
    ("brilliant", 3.0, Some(3)),
    ("happy", 2.5, Some(3)),
    ("glad", 2.0, Some(3)),
    ("pleased", 2.0, Some(3)),
    ("delighted", 3.0, Some(3)),
    ("recommend", 2.0, Some(3)),
    ("thanks", 1.5, Some(3)),
    ("thank", 1.5, Some(3)),
    ("helpful", 2.0, Some(3)),
    ("friendly", 2.0, Some(3)),
    ("good", 1.5, Some(3)),
    ("nice", 1.5, Some(3)),
    ("easy", 1.5, None),
    ("fast", 1.5, None),
    ("quick", 1.5, None),
    ("quickly", 1.0, None),
    ("smooth", 1.5, None),
    ("works", 1.0, None),
    ("fixed", 1.5, None),
    ("solved", 1.5, None),
    ("resolved", 1.5, None),
    ("reliable", 1.5, None),
    ("worth", 1.5, None),
    ("best", 2.5, Some(3)),
    ("enjoy", 2.0, Some(3)),
    ("satisfied", 2.0, Some(3)),
    ("impressed", 2.5, Some(6)),
    ("wow", 2.0, Some(6)),
    ("surprised", 0.5, Some(6)),
    ("unexpected", 0.0, Some(6)),
    ("finally", 0.5, None),
    // negative
    ("terrible", -3.0, Some(0)),
    ("awful", -3.0, Some(1)),
    ("horrible", -3.0, Some(1)),
    ("worst", -3.0, Some(0)),
    ("hate", -3.0, Some(0)),
    ("angry", -3.0, Some(0)),
    ("furious", -3.0, Some(0)),
    ("ridiculous", -2.5, Some(0)),
    ("unacceptable", -3.0, Some(0)),
    ("rude", -2.5, Some(0)),
    ("useless", -2.5, Some(0)),
    ("scam", -3.0, Some(0)),
    ("fraud", -3.0, Some(0)),
    ("disgusting", -3.0, Some(1)),
    ("gross", -2.5, Some(1)),
    ("dirty", -2.0, Some(1)),
    ("bad", -2.0, None),
    ("poor", -2.0, None),
    ("broken", -2.0, None),
    ("broke", -2.0, None),
    ("damaged", -2.0, None),
    ("defective", -2.0, None),
    ("faulty", -2.0, None),
    ("crash", -2.0, None),
    ("crashes", -2.0, None),
    ("crashed", -2.0, None),
    ("bug", -1.5, None),
    ("buggy", -2.0, None),
    ("error", -1.5, None),
    ("fails", -2.0, None),
    ("failed", -2.0, None),
    ("late", -1.5, None),
    ("delay", -1.5, None),
    ("delayed", -1.5, None),
    ("slow", -1.5, None),
    ("missing", -1.5, None),
    ("lost", -1.5, Some(5)),
    ("wrong", -1.5, None),
    ("refund", -1.5, None),
    ("cancel", -1.5, None),
    ("charged", -1.0, None),
    ("overcharged", -2.5, Some(0)),
    ("waiting", -1.0, None),
    ("waited", -1.5, None),
    ("problem", -1.5, None),
    ("issue", -1.0, None),
    ("complaint", -2.0, None),
    ("disappointed", -2.5, Some(5)),
    ("disappointing", -2.5, Some(5)),
    ("sad", -2.0, Some(5)),
    ("unhappy", -2.5, Some(5)),
    ("upset", -2.0, Some(5)),
    ("sorry", -0.5, Some(5)),
    ("frustrated", -2.5, Some(0)),
    ("frustrating", -2.5, Some(0)),
    ("annoying", -2.0, Some(0)),
    ("annoyed", -2.0, Some(0)),
    ("worried", -2.0, Some(2)),
    ("afraid", -2.0, Some(2)),
    ("scared", -2.0, Some(2)),
    ("unsafe", -2.5, Some(2)),
    ("dangerous", -2.5, Some(2)),
    ("hack", -2.0, Some(2)),
    ("hacked", -2.5, Some(2)),
    ("shocked", -1.5, Some(6)),
    ("confusing", -1.5, None),
    ("confused", -1.5, None),
    ("expensive", -1.5, None),
    ("never", 0.0, None),
];

const NEGATIONS: &[&str] = &[
    "not", "no", "never", "cannot", "cant", "can't", "dont", "don't", "doesnt", "doesn't", "didnt", "didn't", "isnt",
    "isn't", "wasnt", "wasn't", "wont", "won't", "without", "hardly", "nobody", "nothing", "neither", "nor",
];
const INTENSIFIERS: &[(&str, f32)] = &[
    ("very", 1.5),
    ("really", 1.5),
    ("extremely", 2.0),
    ("so", 1.4),
    ("super", 1.5),
    ("totally", 1.5),
    ("absolutely", 1.8),
    ("completely", 1.6),
    ("incredibly", 1.8),
    ("slightly", 0.5),
    ("somewhat", 0.6),
    ("little", 0.7),
    ("bit", 0.7),
];
/// (emoji, valence, emotion)
const EMOJI: &[(char, f32, Option<usize>)] = &[
    ('😀', 2.0, Some(3)),
    ('😃', 2.0, Some(3)),
    ('😄', 2.0, Some(3)),
    ('😁', 2.0, Some(3)),
    ('😊', 2.0, Some(3)),
    ('🙂', 1.0, Some(3)),
    ('😍', 3.0, Some(3)),
    ('🥰', 3.0, Some(3)),
    ('👍', 1.5, Some(3)),
    ('❤', 2.5, Some(3)),
    ('🎉', 2.0, Some(3)),
    ('👎', -2.0, None),
    ('😡', -3.0, Some(0)),
    ('🤬', -3.0, Some(0)),
    ('😠', -2.5, Some(0)),
    ('😢', -2.0, Some(5)),
    ('😭', -2.5, Some(5)),
    ('😞', -2.0, Some(5)),
    ('😱', -2.0, Some(2)),
    ('😨', -2.0, Some(2)),
    ('🤢', -2.5, Some(1)),
    ('🤮', -3.0, Some(1)),
    ('😮', 0.0, Some(6)),
    ('😲', 0.0, Some(6)),
];

/// The rule-based analyzer.
#[derive(Debug, Clone, Default)]
pub struct LexiconAnalyzer;

impl LexiconAnalyzer {
    /// Which model produced the results.
    pub fn model() -> ModelInfo {
        ModelInfo { name: "lexicon-en".into(), version: "1".into() }
    }

    /// Sentiment and emotions of every text.
    pub fn analyze(&self, texts: &[&str]) -> Vec<Analysis> {
        texts.iter().map(|t| analyze_one(t)).collect()
    }
}

fn analyze_one(text: &str) -> Analysis {
    let mut sum = 0f32;
    let mut emotions = [0f32; 7];
    let mut negate_left = 0;
    let mut scale = 1.0f32;
    for c in text.chars() {
        if let Some((_, v, e)) = EMOJI.iter().find(|(em, _, _)| *em == c) {
            sum += v;
            if let Some(e) = e {
                emotions[*e] += 1.0;
            }
        }
    }
    for raw in text.split(|c: char| !(c.is_alphanumeric() || c == '\'')) {
        if raw.is_empty() {
            continue;
        }
        let word = raw.to_lowercase();
        if NEGATIONS.contains(&word.as_str()) {
            negate_left = 3;
            continue;
        }
        if let Some((_, f)) = INTENSIFIERS.iter().find(|(w, _)| *w == word) {
            scale *= f;
            continue;
        }
        if let Some((_, v, e)) = WORDS.iter().find(|(w, _, _)| *w == word) {
            let shout = if raw.len() > 2 && raw.chars().all(|c| !c.is_lowercase()) { 1.3 } else { 1.0 };
            let mut v = v * scale * shout;
            if negate_left > 0 {
                v *= -0.7;
            } else if let Some(e) = e {
                emotions[*e] += 1.0;
            }
            sum += v;
        }
        scale = 1.0;
        negate_left = (negate_left - 1).max(0);
    }
    let exclaims = text.matches('!').count().min(3) as f32;
    sum *= 1.0 + 0.1 * exclaims;
    let score = (sum / (sum * sum + 15.0).sqrt()).clamp(-1.0, 1.0);
    let label = if score > 0.05 {
        SentimentLabel::Positive
    } else if score < -0.05 {
        SentimentLabel::Negative
    } else {
        SentimentLabel::Neutral
    };
    let confidence = if label == SentimentLabel::Neutral { 1.0 - score.abs() } else { 0.5 + score.abs() / 2.0 };
    // Negative text without an emotion word leans to sadness/anger; neutral gets a base weight.
    if emotions.iter().sum::<f32>() == 0.0 && score < -0.05 {
        emotions[0] += 0.5;
        emotions[5] += 0.5;
    }
    emotions[4] += 1.0;
    let total: f32 = emotions.iter().sum();
    for p in &mut emotions {
        *p /= total;
    }
    Analysis {
        sentiment: Sentiment { label, score, confidence },
        emotions: EmotionScores::from_array(emotions),
        embedding: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(t: &str) -> Analysis {
        LexiconAnalyzer.analyze(&[t]).remove(0)
    }

    #[test]
    fn polarity_negation_and_intensity() {
        assert_eq!(one("Great service, thanks!").sentiment.label, SentimentLabel::Positive);
        assert_eq!(one("The box arrived damaged and the delivery was late.").sentiment.label, SentimentLabel::Negative);
        assert_eq!(one("The app is not good").sentiment.label, SentimentLabel::Negative);
        assert_eq!(one("Is the store open on Sundays?").sentiment.label, SentimentLabel::Neutral);
        assert!(one("very bad").sentiment.score < one("bad").sentiment.score);
        assert!(one("BAD!!!").sentiment.score < one("bad").sentiment.score);
        assert_eq!(one("😡").sentiment.label, SentimentLabel::Negative);
        assert_eq!(one("😍👍").emotions.dominant().as_str(), "joy");
    }

    #[test]
    fn distributions_are_valid_for_any_input() {
        for t in ["", "   ", "\u{0}", "terrible terrible terrible terrible terrible", "日本語"] {
            let a = one(t);
            let sum: f32 = a.emotions.to_array().iter().sum();
            assert!((sum - 1.0).abs() < 1e-5);
            assert!((-1.0..=1.0).contains(&a.sentiment.score));
        }
        assert_eq!(LexiconAnalyzer::model().name, "lexicon-en");
    }
}
