//! The model that turns the `text` of a similar-feedback search into an embedding. It is the
//! processors' model, loaded from the same folders and run in the same precision, so that a
//! text and the stored `feedback.embedding` of what the processors enriched are comparable.
//! One worker thread; at most [`MAX_WAITING`] searches wait for it, the rest are answered
//! 503 with `Retry-After` rather than queued without bound.

use std::path::PathBuf;
use std::sync::Arc;

use rtcx_inference::config::Precision;
use rtcx_inference::pool::AnalyzerPool;
use rtcx_inference::{Batching, InferenceError, ModelArgs};
use rtcx_schemas::ModelInfo;

/// Where the embedding model comes from.
#[derive(Debug, Clone, clap::Args)]
pub struct EmbedderArgs {
    /// Base encoder folder of the processors' model (Hugging Face layout). Without it,
    /// `GET /v1/feedback/similar` searches by `id` only and answers `text` with 503.
    #[arg(long, env = "RTCX_MODEL_DIR")]
    pub model_dir: Option<PathBuf>,
    /// The processors' heads folder (heads.safetensors holds their tuned encoder layers too).
    #[arg(long, env = "RTCX_HEADS_DIR", default_value = "models/rtcx-heads")]
    pub heads_dir: PathBuf,
    /// Precision of the encoder, as the processors run it (default int8).
    #[arg(long, env = "RTCX_PRECISION", value_enum)]
    pub precision: Option<Precision>,
    /// Lists of the coarse quantiser (embedding-lists.bin beside the heads) a similar-feedback
    /// search reads: more finds more of the true neighbours and reads more rows
    /// (docs/benchmarks.md, "Similar feedback").
    #[arg(long, env = "RTCX_SIMILAR_PROBES", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub similar_probes: u16,
}

/// Searches that may wait for the model at once.
pub const MAX_WAITING: usize = 8;

/// The loaded model and the bound on waiting searches.
pub struct Embedder {
    pool: AnalyzerPool,
    waiting: Arc<tokio::sync::Semaphore>,
}

/// Why a text got no embedding.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("{MAX_WAITING} searches are already waiting for the model")]
    Busy,
    #[error(transparent)]
    Model(#[from] InferenceError),
    #[error("the model gives no embedding (the lexicon or the Hugging Face pair)")]
    NoEmbedding,
}

impl Embedder {
    /// Loads the model when a folder is configured (blocking: call it from a blocking thread).
    pub fn load(args: &EmbedderArgs) -> Result<Option<Self>, InferenceError> {
        let Some(model_dir) = args.model_dir.clone() else {
            return Ok(None);
        };
        let model =
            ModelArgs { precision: args.precision, ..ModelArgs::default_model(model_dir, args.heads_dir.clone()) };
        let pool = AnalyzerPool::start(1, move || model.load(Batching::default()))?;
        Ok(Some(Self { pool, waiting: Arc::new(tokio::sync::Semaphore::new(MAX_WAITING)) }))
    }

    /// Which model embeds.
    pub fn model(&self) -> &ModelInfo {
        self.pool.model()
    }

    /// The unit-length embedding of `text`.
    pub async fn embed(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let _permit = self.waiting.try_acquire().map_err(|_| EmbedError::Busy)?;
        let mut analyses = self.pool.analyze(vec![text.to_owned()]).await?;
        match analyses.pop() {
            Some(a) if !a.embedding.is_empty() => Ok(a.embedding),
            _ => Err(EmbedError::NoEmbedding),
        }
    }
}

impl EmbedderArgs {
    /// The lists similar-feedback search reads: the quantiser beside the heads (the one the
    /// processors file embeddings with), none when the folder has none.
    pub fn list_index(&self) -> Result<crate::similar::ListIndex, rtcx_schemas::embedding_lists::ListsError> {
        let lists = rtcx_schemas::embedding_lists::EmbeddingLists::read_beside(&self.heads_dir)?;
        Ok(crate::similar::ListIndex { lists: lists.map(Arc::new), probes: usize::from(self.similar_probes) })
    }
}
