//! Hugging Face sequence-classification checkpoints from a local folder (`config.json`,
//! `tokenizer.json`, `model.safetensors`), e.g. the seed's
//! `distilbert-base-uncased-finetuned-sst-2-english`. Label names come from `id2label`.
//!
//! Supported families and the head tensors they carry:
//! * BERT (`model_type: bert`): `bert.*`, pooler `bert.pooler.dense` + tanh on the [CLS]
//!   state, then `classifier`.
//! * DistilBERT (`model_type: distilbert`): `distilbert.*`, [CLS] state → `pre_classifier` +
//!   ReLU → `classifier`.
//! * RoBERTa / XLM-RoBERTa (`model_type: roberta | xlm-roberta`), e.g. the seed's
//!   `j-hartmann/emotion-english-distilroberta-base`: `roberta.*`, <s> state →
//!   `classifier.dense` + tanh → `classifier.out_proj` (candle's XLM-RoBERTa classifier).

use std::path::Path;

use candle_core::{D, DType, Device, IndexOp, Tensor};
use candle_nn::{Linear, Module, VarBuilder};
use candle_transformers::models::{bert, distilbert, xlm_roberta};
use serde::Deserialize;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use super::error::InferenceError;

enum Backbone {
    Bert { model: bert::BertModel, pooler: Linear, classifier: Linear },
    DistilBert { model: distilbert::DistilBertModel, pre_classifier: Linear, classifier: Linear },
    Roberta(Box<xlm_roberta::XLMRobertaForSequenceClassification>),
}

/// A loaded sequence classifier.
pub struct HfClassifier {
    backbone: Backbone,
    tokenizer: Tokenizer,
    labels: Vec<String>,
    device: Device,
}

#[derive(Deserialize)]
struct Common {
    model_type: String,
    #[serde(default)]
    id2label: std::collections::BTreeMap<String, String>,
}

fn read(path: &Path) -> Result<Vec<u8>, InferenceError> {
    std::fs::read(path).map_err(|source| InferenceError::Io { path: path.to_owned(), source })
}

impl HfClassifier {
    /// Loads the checkpoint in `dir`, truncating inputs at `max_len` tokens.
    pub fn load(dir: &Path, max_len: usize) -> Result<Self, InferenceError> {
        let config_path = dir.join("config.json");
        let raw = read(&config_path)?;
        let cfg_err =
            |e: serde_json::Error| InferenceError::Config { path: config_path.clone(), message: e.to_string() };
        let common: Common = serde_json::from_slice(&raw).map_err(cfg_err)?;
        let mut labels: Vec<(usize, String)> =
            common.id2label.iter().filter_map(|(k, v)| k.parse().ok().map(|k: usize| (k, v.clone()))).collect();
        labels.sort();
        let labels: Vec<String> = labels.into_iter().map(|(_, v)| v).collect();
        if labels.is_empty() {
            return Err(InferenceError::Config { path: config_path, message: "id2label is missing".into() });
        }
        if !matches!(common.model_type.as_str(), "bert" | "distilbert" | "roberta" | "xlm-roberta") {
            return Err(InferenceError::Config {
                path: config_path,
                message: format!(
                    "model_type {:?} is not supported (bert, distilbert, roberta, xlm-roberta)",
                    common.model_type
                ),
            });
        }
        let device = Device::Cpu;
        let vb = VarBuilder::from_buffered_safetensors(read(&dir.join("model.safetensors"))?, DType::F32, &device)?;
        let k = labels.len();
        let backbone = match common.model_type.as_str() {
            "bert" => {
                let c: bert::Config = serde_json::from_slice(&raw).map_err(cfg_err)?;
                let h = c.hidden_size;
                let model = bert::BertModel::load(vb.clone(), &c)?;
                let pooler = candle_nn::linear(h, h, vb.pp("bert.pooler.dense"))?;
                Backbone::Bert { model, pooler, classifier: candle_nn::linear(h, k, vb.pp("classifier"))? }
            }
            "distilbert" => {
                let c: distilbert::Config = serde_json::from_slice(&raw).map_err(cfg_err)?;
                let h = c.dim;
                let model = distilbert::DistilBertModel::load(vb.clone(), &c)?;
                let pre_classifier = candle_nn::linear(h, h, vb.pp("pre_classifier"))?;
                Backbone::DistilBert {
                    model,
                    pre_classifier,
                    classifier: candle_nn::linear(h, k, vb.pp("classifier"))?,
                }
            }
            _ => {
                let c: xlm_roberta::Config = serde_json::from_slice(&raw).map_err(cfg_err)?;
                Backbone::Roberta(Box::new(xlm_roberta::XLMRobertaForSequenceClassification::new(k, &c, vb)?))
            }
        };
        let mut tokenizer =
            Tokenizer::from_file(dir.join("tokenizer.json")).map_err(|e| InferenceError::Tokenizer(e.to_string()))?;
        let pad_id = tokenizer.get_padding().map(|p| p.pad_id).unwrap_or(0);
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            pad_id,
            ..Default::default()
        }));
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: max_len, ..Default::default() }))
            .map_err(|e| InferenceError::Tokenizer(e.to_string()))?;
        Ok(Self { backbone, tokenizer, labels, device })
    }

    /// Label names, in logit order.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Logits `[n, k]`.
    pub fn logits(&self, texts: &[&str]) -> Result<Tensor, InferenceError> {
        let enc =
            self.tokenizer.encode_batch(texts.to_vec(), true).map_err(|e| InferenceError::Tokenizer(e.to_string()))?;
        let n = enc.len();
        let len = enc.iter().map(|e| e.get_ids().len()).max().unwrap_or(1).max(1);
        let mut ids = Vec::with_capacity(n * len);
        let mut mask = Vec::with_capacity(n * len);
        for e in &enc {
            for j in 0..len {
                ids.push(e.get_ids().get(j).copied().unwrap_or(0));
                mask.push(e.get_attention_mask().get(j).copied().unwrap_or(0));
            }
        }
        let ids = Tensor::from_vec(ids, (n, len), &self.device)?;
        let mask = Tensor::from_vec(mask, (n, len), &self.device)?;
        Ok(match &self.backbone {
            Backbone::Bert { model, pooler, classifier } => {
                let hidden = model.forward(&ids, &ids.zeros_like()?, Some(&mask))?;
                classifier.forward(&pooler.forward(&hidden.i((.., 0))?)?.tanh()?)?
            }
            Backbone::DistilBert { model, pre_classifier, classifier } => {
                // candle's DistilBERT masks positions where the mask is 1: pass "is padding".
                let padding = mask.eq(0u32)?.unsqueeze(1)?.unsqueeze(1)?;
                let hidden = model.forward(&ids, &padding)?;
                classifier.forward(&pre_classifier.forward(&hidden.i((.., 0))?)?.relu()?)?
            }
            Backbone::Roberta(model) => model.forward(&ids, &mask, &ids.zeros_like()?)?,
        })
    }

    /// Class probabilities `[n, k]`.
    pub fn probabilities(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, InferenceError> {
        Ok(candle_nn::ops::softmax(&self.logits(texts)?, D::Minus1)?.to_vec2()?)
    }
}
