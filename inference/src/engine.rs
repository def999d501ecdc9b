//! The engine the pipeline uses: the default model, a pair of Hugging Face checkpoints, or —
//! only when chosen with `--lexicon` — the rule-based lexicon. A model that cannot be loaded
//! stops the service at start-up with the reason; it never falls back silently.

use std::path::Path;

use rtcx_schemas::ModelInfo;

use rtcx_schemas::{EmotionScores, Sentiment, SentimentLabel};

use super::analyzer::{Analysis, Analyzer, Batching};
use super::error::InferenceError;
use super::hf_classifier::HfClassifier;
use super::int8::Int8Settings;
use super::lexicon::LexiconAnalyzer;

/// Model or lexicon.
pub enum Engine {
    /// The default model: one encoder pass, two heads.
    Model(Box<Analyzer>),
    /// Two Hugging Face checkpoints (e.g. the seed's SST-2 DistilBERT and the emotion
    /// DistilRoBERTa): both run on every batch.
    HfPair(Box<HfPair>),
    Lexicon(LexiconAnalyzer),
}

/// A sentiment and an emotion checkpoint, with their labels mapped onto rtcx's.
pub struct HfPair {
    sentiment: HfClassifier,
    emotion: HfClassifier,
    /// For each sentiment logit: index into negative, neutral, positive.
    sentiment_map: Vec<usize>,
    /// For each emotion logit: index into anger … surprise.
    emotion_map: Vec<usize>,
    name: String,
}

fn map_labels(labels: &[String], names: &[&[&str]], what: &str) -> Result<Vec<usize>, InferenceError> {
    labels
        .iter()
        .map(|l| {
            let l = l.to_ascii_lowercase();
            names
                .iter()
                .position(|aliases| aliases.contains(&l.as_str()))
                .ok_or_else(|| InferenceError::Model(format!("{what} label {l:?} maps to none of rtcx's labels")))
        })
        .collect()
}

impl HfPair {
    /// Loads the two checkpoints and maps their `id2label` names.
    pub fn load(sentiment_dir: &Path, emotion_dir: &Path, max_len: usize) -> Result<Self, InferenceError> {
        let sentiment = HfClassifier::load(sentiment_dir, max_len)?;
        let emotion = HfClassifier::load(emotion_dir, max_len)?;
        let sentiment_map = map_labels(
            sentiment.labels(),
            &[&["negative", "neg", "label_0"], &["neutral", "neu"], &["positive", "pos", "label_1"]],
            "sentiment",
        )?;
        let emotion_map = map_labels(
            emotion.labels(),
            &[&["anger"], &["disgust"], &["fear"], &["joy"], &["neutral"], &["sadness"], &["surprise"]],
            "emotion",
        )?;
        let dir_name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let name = format!("hf:{}+{}", dir_name(sentiment_dir), dir_name(emotion_dir));
        Ok(Self { sentiment, emotion, sentiment_map, emotion_map, name })
    }

    fn analyze(&self, texts: &[&str]) -> Result<Vec<Analysis>, InferenceError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let s = self.sentiment.probabilities(texts)?;
        let e = self.emotion.probabilities(texts)?;
        Ok(s.iter()
            .zip(&e)
            .map(|(s, e)| {
                let mut p3 = [0f32; 3];
                for (i, v) in s.iter().enumerate() {
                    p3[self.sentiment_map[i]] += v;
                }
                let mut p7 = [0f32; 7];
                for (i, v) in e.iter().enumerate() {
                    p7[self.emotion_map[i]] += v;
                }
                let best = (0..3).max_by(|&a, &b| p3[a].total_cmp(&p3[b])).unwrap_or(1);
                Analysis {
                    sentiment: Sentiment {
                        label: SentimentLabel::ALL[best],
                        score: (p3[2] - p3[0]).clamp(-1.0, 1.0),
                        confidence: p3[best],
                    },
                    emotions: EmotionScores::from_array(p7),
                    embedding: Vec::new(),
                }
            })
            .collect())
    }
}

impl Engine {
    /// Loads the default model (its encoder in int8 with `int8`), or the lexicon when
    /// `lexicon_only` (the only way to get it: a model that cannot be loaded is an error,
    /// never a silent fallback).
    pub fn load(
        model_dir: &Path,
        heads_dir: &Path,
        max_len: usize,
        batching: Batching,
        lexicon_only: bool,
        int8: Option<Int8Settings>,
    ) -> Result<Self, InferenceError> {
        if lexicon_only {
            return Ok(Engine::Lexicon(LexiconAnalyzer));
        }
        let mut analyzer = Analyzer::load(model_dir, heads_dir, max_len, batching)?;
        if let Some(settings) = int8 {
            analyzer.quantize(settings)?;
        }
        Ok(Engine::Model(Box::new(analyzer)))
    }

    /// Loads a pair of Hugging Face checkpoints.
    pub fn load_hf_pair(sentiment_dir: &Path, emotion_dir: &Path, max_len: usize) -> Result<Self, InferenceError> {
        Ok(Engine::HfPair(Box::new(HfPair::load(sentiment_dir, emotion_dir, max_len)?)))
    }

    /// Which model produces the results.
    pub fn model(&self) -> ModelInfo {
        match self {
            Engine::Model(a) => a.model().clone(),
            Engine::HfPair(p) => ModelInfo { name: p.name.clone(), version: "hf".into() },
            Engine::Lexicon(_) => LexiconAnalyzer::model(),
        }
    }

    /// Sentiment and emotions of every text, in input order.
    pub fn analyze(&self, texts: &[&str]) -> Result<Vec<Analysis>, InferenceError> {
        match self {
            Engine::Model(a) => a.analyze(texts),
            Engine::HfPair(p) => p.analyze(texts),
            Engine::Lexicon(l) => Ok(l.analyze(texts)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_model_is_an_error_and_the_lexicon_only_a_choice() {
        let e =
            Engine::load(Path::new("/nonexistent"), Path::new("/nonexistent"), 128, Batching::default(), false, None);
        let message = e.err().expect("no model, no engine").to_string();
        assert!(message.contains("/nonexistent"), "the error names what is missing: {message}");
        let e =
            Engine::load(Path::new("/nonexistent"), Path::new("/nonexistent"), 128, Batching::default(), true, None)
                .expect("the lexicon needs no files");
        assert_eq!(e.model().name, "lexicon-en");
        let out = e.analyze(&["terrible support"]).expect("lexicon never fails");
        assert_eq!(out[0].sentiment.label, rtcx_schemas::SentimentLabel::Negative);
        assert!(Engine::load_hf_pair(Path::new("/nonexistent"), Path::new("/nonexistent"), 128).is_err());
    }
}
