//! The engine the pipeline uses: the default model, or the lexicon fallback when the model
//! cannot be loaded (or when configured so).

use std::path::Path;

use rtcx_schemas::ModelInfo;

use super::analyzer::{Analysis, Analyzer, Batching};
use super::error::InferenceError;
use super::lexicon::LexiconAnalyzer;

/// Model or lexicon.
pub enum Engine {
    Model(Box<Analyzer>),
    Lexicon(LexiconAnalyzer),
}

impl Engine {
    /// Loads the default model; falls back to the lexicon (with a warning) when it cannot be
    /// loaded, or uses the lexicon directly when `lexicon_only`.
    pub fn load(model_dir: &Path, heads_dir: &Path, max_len: usize, batching: Batching, lexicon_only: bool) -> Self {
        if lexicon_only {
            return Engine::Lexicon(LexiconAnalyzer);
        }
        match Analyzer::load(model_dir, heads_dir, max_len, batching) {
            Ok(a) => Engine::Model(Box::new(a)),
            Err(e) => {
                tracing::warn!(error = %e, model_dir = %model_dir.display(), "model unavailable; using the lexicon fallback");
                Engine::Lexicon(LexiconAnalyzer)
            }
        }
    }

    /// Which model produces the results.
    pub fn model(&self) -> ModelInfo {
        match self {
            Engine::Model(a) => a.model().clone(),
            Engine::Lexicon(_) => LexiconAnalyzer::model(),
        }
    }

    /// Sentiment and emotions of every text, in input order.
    pub fn analyze(&self, texts: &[&str]) -> Result<Vec<Analysis>, InferenceError> {
        match self {
            Engine::Model(a) => a.analyze(texts),
            Engine::Lexicon(l) => Ok(l.analyze(texts)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_model_falls_back_to_the_lexicon() {
        let e = Engine::load(Path::new("/nonexistent"), Path::new("/nonexistent"), 128, Batching::default(), false);
        assert_eq!(e.model().name, "lexicon-en");
        let out = e.analyze(&["terrible support"]).expect("lexicon never fails");
        assert_eq!(out[0].sentiment.label, rtcx_schemas::SentimentLabel::Negative);
    }
}
