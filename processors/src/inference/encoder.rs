//! A BERT-family sentence encoder (e.g. all-MiniLM-L6-v2) loaded from a local Hugging Face
//! folder (`config.json`, `tokenizer.json`, `model.safetensors`), producing mean-pooled
//! embeddings.
//!
//! The tokenizer is reconfigured to pad each batch to its longest text (the shipped
//! `tokenizer.json` pads to 128, which makes inference ~8x slower on short feedback) and to
//! truncate at `max_len` tokens. Mean pooling uses the attention mask, so padding never
//! changes a text's embedding.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use super::error::InferenceError;
use super::fast_bert::FastBert;

/// Mean-pooled embeddings of a batch: `[batch, hidden]`, plus how many texts were truncated.
pub struct Embeddings {
    pub tensor: Tensor,
    pub truncated: usize,
}

impl Embeddings {
    /// The embeddings scaled to unit L2 norm (what the heads are trained on).
    pub fn normalized(&self) -> Result<Tensor, InferenceError> {
        let norms = self.tensor.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
        Ok(self.tensor.broadcast_div(&norms)?)
    }
}

/// A loaded encoder.
pub struct SentenceEncoder {
    model: FastBert,
    tokenizer: Tokenizer,
    device: Device,
    hidden_size: usize,
    max_len: usize,
    dir: PathBuf,
}

fn read(path: &Path) -> Result<Vec<u8>, InferenceError> {
    std::fs::read(path).map_err(|source| InferenceError::Io { path: path.to_owned(), source })
}

impl SentenceEncoder {
    /// Loads the encoder from a Hugging Face folder, truncating inputs at `max_len` tokens.
    pub fn load(dir: &Path, max_len: usize) -> Result<Self, InferenceError> {
        let config_path = dir.join("config.json");
        let config: serde_json::Value = serde_json::from_slice(&read(&config_path)?)
            .map_err(|e| InferenceError::Config { path: config_path.clone(), message: e.to_string() })?;
        let field = |name: &str| {
            config[name]
                .as_u64()
                .and_then(|v| usize::try_from(v).ok())
                .ok_or_else(|| InferenceError::Config { path: config_path.clone(), message: format!("{name} missing") })
        };
        let hidden_size = field("hidden_size")?;
        let (layers, heads) = (field("num_hidden_layers")?, field("num_attention_heads")?);
        let eps = config["layer_norm_eps"].as_f64().unwrap_or(1e-12);
        let device = Device::Cpu;
        let tensors = candle_core::safetensors::load_buffer(&read(&dir.join("model.safetensors"))?, &device)?;
        let model = FastBert::from_tensors(&tensors, layers, heads, eps)?;
        let mut tokenizer =
            Tokenizer::from_file(dir.join("tokenizer.json")).map_err(|e| InferenceError::Tokenizer(e.to_string()))?;
        let pad_id = tokenizer.get_padding().map(|p| p.pad_id).unwrap_or(0);
        let pad_token = tokenizer.get_padding().map(|p| p.pad_token.clone()).unwrap_or_else(|| "[PAD]".into());
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            pad_id,
            pad_token,
            ..PaddingParams::default()
        }));
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: max_len, ..TruncationParams::default() }))
            .map_err(|e| InferenceError::Tokenizer(e.to_string()))?;
        Ok(Self { model, tokenizer, device, hidden_size, max_len, dir: dir.to_owned() })
    }

    /// Embedding width.
    pub fn hidden_size(&self) -> usize {
        self.hidden_size
    }

    /// The folder the model was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Mean-pooled (unnormalised) embeddings of `texts`, in input order.
    pub fn embed(&self, texts: &[&str]) -> Result<Embeddings, InferenceError> {
        if texts.is_empty() {
            return Ok(Embeddings {
                tensor: Tensor::zeros((0, self.hidden_size), DType::F32, &self.device)?,
                truncated: 0,
            });
        }
        let encodings =
            self.tokenizer.encode_batch(texts.to_vec(), true).map_err(|e| InferenceError::Tokenizer(e.to_string()))?;
        let truncated = encodings.iter().filter(|e| !e.get_overflowing().is_empty()).count();
        let len = encodings.iter().map(|e| e.get_ids().len()).max().unwrap_or(0).min(self.max_len).max(1);
        let n = encodings.len();
        let mut ids = Vec::with_capacity(n * len);
        let mut mask = Vec::with_capacity(n * len);
        for e in &encodings {
            let (i, m) = (e.get_ids(), e.get_attention_mask());
            for j in 0..len {
                ids.push(i.get(j).copied().unwrap_or(0));
                mask.push(m.get(j).copied().unwrap_or(0));
            }
        }
        let input_ids = Tensor::from_vec(ids, (n, len), &self.device)?;
        let attention = Tensor::from_vec(mask, (n, len), &self.device)?;
        let hidden = self.model.forward(&input_ids, &attention)?;
        // Mean over real tokens: sum(hidden * mask) / sum(mask).
        let mask_f = attention.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask_f)?.sum(1)?;
        let counts = mask_f.sum(1)?.clamp(1e-9, f64::MAX)?;
        let pooled = summed.broadcast_div(&counts)?;
        Ok(Embeddings { tensor: pooled, truncated })
    }
}
