//! The model settings every command that loads a model shares (`rtcx-processors run` and
//! `suggest-topics`, `rtcx-model analyze|eval|bench`): which engine, from which folders.

use std::path::PathBuf;

use crate::int8::{Activations, Int8Settings, Kernel};
use crate::{Batching, Engine, InferenceError};

/// Numeric precision of the encoder's dense layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Precision {
    /// 32-bit floats throughout.
    F32,
    /// int8 dense layers (weights per output channel, activations per token; i32 sums),
    /// attention, softmax and layer norm in f32 (docs/models.md, "int8").
    Int8,
}

/// The int8 GEMM kernel, for measurements (`auto`: the fastest this CPU runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum KernelChoice {
    #[default]
    Auto,
    Avx512Vnni,
    Avx2,
    Portable,
}

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
    /// Precision of the default model's encoder: int8 (the default: measured faster and within
    /// the accuracy guard, docs/benchmarks.md) or f32. The Hugging Face pair runs in f32 and
    /// refuses an explicit int8.
    #[arg(long, env = "RTCX_PRECISION", value_enum)]
    pub precision: Option<Precision>,
    /// How int8 quantises activations: each token over its own range with a zero point
    /// (asymmetric), or over ±max (symmetric).
    #[arg(long, env = "RTCX_INT8_ACTIVATIONS", value_enum, default_value_t = Activations::Asymmetric)]
    pub int8_activations: Activations,
    /// The int8 GEMM kernel (auto: AVX-512 VNNI, else AVX2, else portable); a kernel this
    /// CPU cannot run is an error.
    #[arg(long, env = "RTCX_INT8_KERNEL", value_enum, default_value_t = KernelChoice::Auto)]
    pub int8_kernel: KernelChoice,
    /// A Hugging Face sentiment checkpoint folder (BERT, DistilBERT or RoBERTa family);
    /// with --emotion-model, both run instead of the default model.
    #[arg(long, env = "RTCX_SENTIMENT_MODEL_DIR", requires = "emotion_model")]
    pub sentiment_model: Option<PathBuf>,
    /// A Hugging Face emotion checkpoint folder (labels anger … surprise).
    #[arg(long, env = "RTCX_EMOTION_MODEL_DIR", requires = "sentiment_model")]
    pub emotion_model: Option<PathBuf>,
}

/// The precision the default model runs in when none is configured.
pub const DEFAULT_PRECISION: Precision = Precision::Int8;

impl ModelArgs {
    /// rtcx's own model from `model_dir` (the base encoder) and `heads_dir`, with every other
    /// setting at its default (int8, 128 tokens): what tests, benchmarks and query-api's
    /// embedder load.
    pub fn default_model(model_dir: PathBuf, heads_dir: PathBuf) -> Self {
        Self {
            model_dir,
            heads_dir,
            max_len: 128,
            lexicon: false,
            precision: None,
            int8_activations: Activations::default(),
            int8_kernel: KernelChoice::default(),
            sentiment_model: None,
            emotion_model: None,
        }
    }

    /// The configured engine: the Hugging Face pair, the default model, or the lexicon when
    /// asked for with `--lexicon`. A model that cannot be loaded is an error.
    pub fn load(&self, batching: Batching) -> Result<Engine, InferenceError> {
        match (&self.sentiment_model, &self.emotion_model) {
            (Some(s), Some(e)) if !self.lexicon => {
                if self.precision == Some(Precision::Int8) {
                    return Err(InferenceError::Model(
                        "--precision int8 applies to rtcx's own encoder; the Hugging Face pair runs in f32".into(),
                    ));
                }
                Engine::load_hf_pair(s, e, self.max_len)
            }
            _ => Engine::load(&self.model_dir, &self.heads_dir, self.max_len, batching, self.lexicon, self.int8()?),
        }
    }

    /// The int8 settings when the default model runs in int8.
    pub fn int8(&self) -> Result<Option<Int8Settings>, InferenceError> {
        if self.precision.unwrap_or(DEFAULT_PRECISION) != Precision::Int8 {
            return Ok(None);
        }
        let kernel = match self.int8_kernel {
            KernelChoice::Auto => Kernel::detect(),
            KernelChoice::Avx512Vnni => Kernel::Avx512Vnni,
            KernelChoice::Avx2 => Kernel::Avx2,
            KernelChoice::Portable => Kernel::Portable,
        };
        if !kernel.available() {
            return Err(InferenceError::Model(format!("the {} int8 kernel does not run on this CPU", kernel.name())));
        }
        Ok(Some(Int8Settings { kernel, activations: self.int8_activations }))
    }
}
