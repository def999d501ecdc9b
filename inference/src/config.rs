//! The model settings every command that loads a model shares (`rtcx-processors run` and
//! `suggest-topics`, `rtcx-model analyze|eval|bench`): which engine, from which folders.

use std::path::PathBuf;

use crate::{Batching, Engine, InferenceError};

/// Where the model comes from and which engine runs.
#[derive(Debug, Clone, clap::Args)]
pub struct ModelArgs {
    /// Base encoder folder (Hugging Face layout).
    #[arg(long, env = "RTCX_MODEL_DIR")]
    pub model_dir: PathBuf,
    /// Folder with heads.safetensors and manifest.json.
    #[arg(long, env = "RTCX_HEADS_DIR", default_value = "models/rtcx-heads")]
    pub heads_dir: PathBuf,
    /// Maximum sequence length in tokens (longer texts are truncated).
    #[arg(long, default_value_t = 128)]
    pub max_len: usize,
    /// Use the rule-based lexicon instead of the model (results are marked `lexicon-en`).
    #[arg(long, env = "RTCX_LEXICON_ONLY")]
    pub lexicon: bool,
    /// A Hugging Face sentiment checkpoint folder (BERT, DistilBERT or RoBERTa family);
    /// with --emotion-model, both run instead of the default model.
    #[arg(long, env = "RTCX_SENTIMENT_MODEL_DIR", requires = "emotion_model")]
    pub sentiment_model: Option<PathBuf>,
    /// A Hugging Face emotion checkpoint folder (labels anger … surprise).
    #[arg(long, env = "RTCX_EMOTION_MODEL_DIR", requires = "sentiment_model")]
    pub emotion_model: Option<PathBuf>,
}

impl ModelArgs {
    /// The configured engine: the Hugging Face pair, the default model, or the lexicon when
    /// asked for with `--lexicon`. A model that cannot be loaded is an error.
    pub fn load(&self, batching: Batching) -> Result<Engine, InferenceError> {
        match (&self.sentiment_model, &self.emotion_model) {
            (Some(s), Some(e)) if !self.lexicon => Engine::load_hf_pair(s, e, self.max_len),
            _ => Engine::load(&self.model_dir, &self.heads_dir, self.max_len, batching, self.lexicon),
        }
    }
}
