//! Classification heads on top of the pooled, L2-normalised sentence embedding: small MLPs
//! (or a single linear layer) whose weights live in a safetensors file next to a manifest.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{D, Device, Tensor};

use super::error::InferenceError;

/// One head: `layers[i] = (weight [out, in], bias [out])`, ReLU between layers.
#[derive(Debug, Clone)]
pub struct Head {
    pub name: String,
    pub labels: Vec<String>,
    pub layers: Vec<(Tensor, Tensor)>,
}

impl Head {
    /// Logits `[n, k]` of embeddings `[n, d]`.
    pub fn logits(&self, x: &Tensor) -> Result<Tensor, InferenceError> {
        let mut h = x.clone();
        for (i, (w, b)) in self.layers.iter().enumerate() {
            h = h.matmul(&w.t()?)?.broadcast_add(b)?;
            if i + 1 < self.layers.len() {
                h = h.relu()?;
            }
        }
        Ok(h)
    }

    /// Class probabilities `[n, k]`.
    pub fn probabilities(&self, x: &Tensor) -> Result<Tensor, InferenceError> {
        Ok(candle_nn::ops::softmax(&self.logits(x)?, D::Minus1)?)
    }

    /// Tensors to save, named `{head}.{layer}.weight` / `.bias`.
    pub fn tensors(&self) -> Vec<(String, Tensor)> {
        self.layers
            .iter()
            .enumerate()
            .flat_map(|(i, (w, b))| {
                [(format!("{}.{i}.weight", self.name), w.clone()), (format!("{}.{i}.bias", self.name), b.clone())]
            })
            .collect()
    }

    /// Reads head `name` with `depth` layers from loaded tensors.
    pub fn from_tensors(
        name: &str,
        labels: Vec<String>,
        depth: usize,
        tensors: &HashMap<String, Tensor>,
    ) -> Result<Self, InferenceError> {
        let get = |key: String| {
            tensors.get(&key).cloned().ok_or_else(|| InferenceError::Model(format!("head tensor {key} missing")))
        };
        let layers = (0..depth)
            .map(|i| Ok((get(format!("{name}.{i}.weight"))?, get(format!("{name}.{i}.bias"))?)))
            .collect::<Result<Vec<_>, InferenceError>>()?;
        let out = layers.last().map(|(w, _)| w.dims()[0]).unwrap_or(0);
        if out != labels.len() {
            return Err(InferenceError::Model(format!("head {name} has {out} outputs but {} labels", labels.len())));
        }
        Ok(Self { name: name.to_owned(), labels, layers })
    }
}

/// Saves heads, plus any `extra` tensors (fine-tuned encoder layers), into one safetensors file.
pub fn save_heads(heads: &[&Head], extra: &HashMap<String, Tensor>, path: &Path) -> Result<(), InferenceError> {
    let mut map: HashMap<String, Tensor> = heads.iter().flat_map(|h| h.tensors()).collect();
    map.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    candle_core::safetensors::save(&map, path)?;
    Ok(())
}

/// Loads every tensor of a safetensors file.
pub fn load_tensors(path: &Path) -> Result<HashMap<String, Tensor>, InferenceError> {
    Ok(candle_core::safetensors::load(path, &Device::Cpu)?)
}
