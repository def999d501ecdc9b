//! A BERT-family sentence encoder (e.g. all-MiniLM-L6-v2) loaded from a local Hugging Face
//! folder (`config.json`, `tokenizer.json`, `model.safetensors`), producing mean-pooled
//! embeddings.
//!
//! The tokenizer is reconfigured to pad each batch to its longest text (the shipped
//! `tokenizer.json` pads to 128, which makes inference ~8x slower on short feedback) and to
//! truncate at `max_len` tokens. Mean pooling uses the attention mask, so padding never
//! changes a text's embedding.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use super::error::InferenceError;
use super::fast_bert::{FastBert, apply_overrides};

/// Mean-pooled embeddings of a batch: `[batch, hidden]`, plus how many texts were truncated.
pub struct Embeddings {
    pub tensor: Tensor,
    pub truncated: usize,
}

impl Embeddings {
    /// The embeddings scaled to unit L2 norm (what the heads are trained on).
    pub fn normalized(&self) -> Result<Tensor, InferenceError> {
        unit_rows(&self.tensor)
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
        Self::load_tuned(dir, max_len, &HashMap::new())
    }

    /// Loads the encoder with some of its tensors replaced by fine-tuned ones (see
    /// [`super::fast_bert::apply_overrides`]).
    pub fn load_tuned(dir: &Path, max_len: usize, overrides: &HashMap<String, Tensor>) -> Result<Self, InferenceError> {
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
        let mut tensors = candle_core::safetensors::load_buffer(&read(&dir.join("model.safetensors"))?, &device)?;
        apply_overrides(&mut tensors, overrides)?;
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

    /// Runs the encoder's dense layers in int8 from now on ([`crate::int8`]).
    pub fn quantize(&mut self, settings: crate::int8::Int8Settings) -> Result<(), InferenceError> {
        self.model.quantize(settings.kernel, settings.activations)
    }

    /// The folder the model was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Token ids and attention mask (`[n, len]`, u32, padded to the longest text) of `texts`,
    /// and how many were truncated.
    fn tokenize(&self, texts: &[&str]) -> Result<(Tensor, Tensor, usize), InferenceError> {
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
        Ok((input_ids, attention, truncated))
    }

    /// For each text, the hidden states of its real tokens (`tokens × hidden`, row-major) at
    /// the input of encoder layer `layer`, and the unit-length sentence embeddings `[n, h]` of
    /// the whole encoder: what fine-tuning the layers from `layer` up starts from.
    pub fn states_before(&self, texts: &[&str], layer: usize) -> Result<(Vec<Vec<f32>>, Tensor), InferenceError> {
        let (ids, mask, _) = self.tokenize(texts)?;
        let (b, s) = ids.dims2()?;
        let (x, valid) = self.model.embed(&ids, &mask)?;
        let x = self.model.run_layers(x, b, s, &valid, 0..layer)?;
        let rows = x.to_vec2::<f32>()?;
        let states =
            valid.iter().enumerate().map(|(i, v)| v.iter().flat_map(|&t| rows[i * s + t].clone()).collect()).collect();
        let top = self.model.run_layers(x, b, s, &valid, layer..self.model.num_layers())?;
        Ok((states, unit_rows(&mean_pool(&top.reshape((b, s, self.hidden_size))?, &mask)?)?))
    }

    /// The encoder's forward pass.
    pub fn model(&self) -> &FastBert {
        &self.model
    }

    /// Mean-pooled (unnormalised) embeddings of `texts`, in input order.
    pub fn embed(&self, texts: &[&str]) -> Result<Embeddings, InferenceError> {
        if texts.is_empty() {
            return Ok(Embeddings {
                tensor: Tensor::zeros((0, self.hidden_size), DType::F32, &self.device)?,
                truncated: 0,
            });
        }
        let (input_ids, attention, truncated) = self.tokenize(texts)?;
        let hidden = self.model.forward(&input_ids, &attention)?;
        let pooled = mean_pool(&hidden, &attention)?;
        Ok(Embeddings { tensor: pooled, truncated })
    }
}

/// Mean over the real tokens of `hidden` (`[b, s, h]`) given the attention mask `[b, s]`:
/// `sum(hidden · mask) / sum(mask)`.
pub fn mean_pool(hidden: &Tensor, mask: &Tensor) -> Result<Tensor, InferenceError> {
    let mask_f = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
    let summed = hidden.broadcast_mul(&mask_f)?.sum(1)?;
    let counts = mask_f.sum(1)?.clamp(1e-9, f64::MAX)?;
    Ok(summed.broadcast_div(&counts)?)
}

/// The rows of `[n, h]` scaled to unit L2 norm.
pub fn unit_rows(t: &Tensor) -> Result<Tensor, InferenceError> {
    let norms = t.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
    Ok(t.broadcast_div(&norms)?)
}
