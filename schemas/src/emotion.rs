//! Emotions: Ekman's six basic emotions plus neutral.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One of the seven emotion classes rtcx reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Emotion {
    Anger,
    Disgust,
    Fear,
    Joy,
    Neutral,
    Sadness,
    Surprise,
}

impl Emotion {
    /// Every emotion, in the label order of the emotion model (GoEmotions' Ekman mapping).
    pub const ALL: [Emotion; 7] = [
        Emotion::Anger,
        Emotion::Disgust,
        Emotion::Fear,
        Emotion::Joy,
        Emotion::Neutral,
        Emotion::Sadness,
        Emotion::Surprise,
    ];

    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Emotion::Anger => "anger",
            Emotion::Disgust => "disgust",
            Emotion::Fear => "fear",
            Emotion::Joy => "joy",
            Emotion::Neutral => "neutral",
            Emotion::Sadness => "sadness",
            Emotion::Surprise => "surprise",
        }
    }
}

/// A probability distribution over the seven emotions (each in [0, 1], summing to ~1).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct EmotionScores {
    pub anger: f32,
    pub disgust: f32,
    pub fear: f32,
    pub joy: f32,
    pub neutral: f32,
    pub sadness: f32,
    pub surprise: f32,
}

impl EmotionScores {
    /// Builds scores from probabilities in [`Emotion::ALL`] order.
    pub fn from_array(p: [f32; 7]) -> Self {
        let [anger, disgust, fear, joy, neutral, sadness, surprise] = p;
        Self { anger, disgust, fear, joy, neutral, sadness, surprise }
    }

    /// The probabilities in [`Emotion::ALL`] order.
    pub fn to_array(&self) -> [f32; 7] {
        [self.anger, self.disgust, self.fear, self.joy, self.neutral, self.sadness, self.surprise]
    }

    /// The most probable emotion (ties resolve to the first in [`Emotion::ALL`] order).
    pub fn dominant(&self) -> Emotion {
        let p = self.to_array();
        let mut best = 0;
        for (i, v) in p.iter().enumerate() {
            if *v > p[best] {
                best = i;
            }
        }
        Emotion::ALL[best]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dominant_emotion_is_the_argmax() {
        let s = EmotionScores::from_array([0.1, 0.0, 0.05, 0.6, 0.2, 0.05, 0.0]);
        assert_eq!(s.dominant(), Emotion::Joy);
        assert_eq!(EmotionScores::from_array(s.to_array()), s);
        assert_eq!(EmotionScores::default().dominant(), Emotion::Anger);
    }
}
