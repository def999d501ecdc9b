//! `Analyzer::analyze(texts)`: sentiment and emotion for a batch of texts from one encoder
//! pass (the default model: all-MiniLM-L6-v2 + rtcx's heads).
//!
//! Texts are sorted by length and cut into batches that respect a token budget, so short
//! feedback is never padded to the length of a long e-mail; results come back in input order.

use std::path::Path;

use candle_core::Tensor;
use rtcx_schemas::{EmotionScores, ModelInfo, Sentiment, SentimentLabel};
use serde::Deserialize;

use super::encoder::SentenceEncoder;
use super::error::InferenceError;
use super::heads::{Head, load_tensors};

/// The result for one text.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    pub sentiment: Sentiment,
    pub emotions: EmotionScores,
    /// The text's unit-length sentence embedding (what the heads saw), used for topic
    /// similarity; empty when the engine has none (lexicon, Hugging Face classifiers).
    pub embedding: Vec<f32>,
}

#[derive(Debug, Deserialize)]
struct ManifestHead {
    labels: Vec<String>,
    depth: usize,
}

#[derive(Debug, Deserialize)]
struct ManifestFile {
    base_model_sha256: String,
    heads: std::collections::BTreeMap<String, ManifestHead>,
}

/// Batching limits.
#[derive(Debug, Clone, Copy)]
pub struct Batching {
    /// Most texts in one forward pass.
    pub max_batch: usize,
    /// Most tokens (texts × longest text) in one forward pass.
    pub max_tokens: usize,
}

impl Default for Batching {
    fn default() -> Self {
        Self { max_batch: 32, max_tokens: 4096 }
    }
}

/// Encoder plus sentiment and emotion heads.
pub struct Analyzer {
    encoder: SentenceEncoder,
    sentiment: Head,
    emotion: Head,
    model: ModelInfo,
    batching: Batching,
}

const EMOTIONS: [&str; 7] = ["anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"];
const SENTIMENTS: [&str; 3] = ["negative", "neutral", "positive"];

impl Analyzer {
    /// Loads the encoder from `model_dir` and the heads from `heads_dir` (`heads.safetensors`,
    /// `manifest.json`), checking that the heads were trained on this encoder.
    pub fn load(
        model_dir: &Path,
        heads_dir: &Path,
        max_len: usize,
        batching: Batching,
    ) -> Result<Self, InferenceError> {
        let manifest_path = heads_dir.join("manifest.json");
        let manifest: ManifestFile = serde_json::from_slice(
            &std::fs::read(&manifest_path)
                .map_err(|source| InferenceError::Io { path: manifest_path.clone(), source })?,
        )
        .map_err(|e| InferenceError::Config { path: manifest_path.clone(), message: e.to_string() })?;
        let model_sha = crate::files::file_sha256(&model_dir.join("model.safetensors"))?;
        if model_sha != manifest.base_model_sha256 {
            return Err(InferenceError::Config {
                path: manifest_path,
                message: format!(
                    "heads were trained on encoder {} but {} holds {model_sha}",
                    manifest.base_model_sha256,
                    model_dir.display()
                ),
            });
        }
        let heads_path = heads_dir.join("heads.safetensors");
        let tensors = load_tensors(&heads_path)?;
        // The version names the trained artefact (heads and any tuned encoder layers).
        let heads_sha = crate::files::file_sha256(&heads_path)?;
        let head = |name: &str, expected: &[&str]| -> Result<Head, InferenceError> {
            let info = manifest.heads.get(name).ok_or_else(|| InferenceError::Config {
                path: manifest_path.clone(),
                message: format!("no {name} head"),
            })?;
            if info.labels.iter().map(String::as_str).ne(expected.iter().copied()) {
                return Err(InferenceError::Config {
                    path: manifest_path.clone(),
                    message: format!("{name} labels {:?}, expected {expected:?}", info.labels),
                });
            }
            Head::from_tensors(name, info.labels.clone(), info.depth, &tensors)
        };
        let sentiment = head("sentiment", &SENTIMENTS)?;
        let emotion = head("emotion", &EMOTIONS)?;
        // Fine-tuned encoder layers, if the heads were trained with them.
        let tuned: std::collections::HashMap<String, Tensor> =
            tensors.iter().filter(|(k, _)| k.starts_with("encoder.")).map(|(k, v)| (k.clone(), v.clone())).collect();
        let encoder = SentenceEncoder::load_tuned(model_dir, max_len, &tuned)?;
        let model = ModelInfo { name: "rtcx-minilm-l6-heads".into(), version: heads_sha[..12].to_owned() };
        Ok(Self { encoder, sentiment, emotion, model, batching })
    }

    /// Runs the encoder in int8 from now on; the model's version says so (`<version>-int8`),
    /// since its answers differ slightly from the `f32` model's.
    pub fn quantize(&mut self, settings: crate::int8::Int8Settings) -> Result<(), InferenceError> {
        self.encoder.quantize(settings)?;
        if !self.model.version.ends_with("-int8") {
            self.model.version.push_str("-int8");
        }
        Ok(())
    }

    /// Which model produced the results.
    pub fn model(&self) -> &ModelInfo {
        &self.model
    }

    /// Sentiment and emotion of every text, in input order.
    pub fn analyze(&self, texts: &[&str]) -> Result<Vec<Analysis>, InferenceError> {
        let mut order: Vec<usize> = (0..texts.len()).collect();
        // Character length approximates token length well enough to group similar texts.
        order.sort_by_key(|&i| texts[i].len());
        let mut out: Vec<Option<Analysis>> = vec![None; texts.len()];
        let mut start = 0;
        while start < order.len() {
            // Grow the batch while (texts × longest) stays within the token budget; the
            // longest is the last one since the order is sorted.
            let mut end = start + 1;
            while end < order.len() && end - start < self.batching.max_batch {
                let approx_tokens = texts[order[end]].len() / 3 + 2;
                if (end - start + 1) * approx_tokens > self.batching.max_tokens {
                    break;
                }
                end += 1;
            }
            let batch: Vec<&str> = order[start..end].iter().map(|&i| texts[i]).collect();
            let results = self.analyze_batch(&batch)?;
            for (&i, r) in order[start..end].iter().zip(results) {
                out[i] = Some(r);
            }
            start = end;
        }
        Ok(out.into_iter().flatten().collect())
    }

    fn analyze_batch(&self, texts: &[&str]) -> Result<Vec<Analysis>, InferenceError> {
        let embedded = self.encoder.embed(texts)?;
        if embedded.truncated > 0 {
            metrics::counter!("rtcx_processors_truncated_texts_total").increment(embedded.truncated as u64);
        }
        metrics::counter!("rtcx_processors_inferred_texts_total").increment(texts.len() as u64);
        let x = embedded.normalized()?;
        let s = rows(&self.sentiment.probabilities(&x)?)?;
        let e = rows(&self.emotion.probabilities(&x)?)?;
        let embeddings = rows(&x)?;
        Ok(s.into_iter()
            .zip(e)
            .zip(embeddings)
            .map(|((s, e), embedding)| {
                let (best, &confidence) = s.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap_or((1, &0.0));
                let label = SentimentLabel::ALL[best.min(2)];
                let score = (s.get(2).copied().unwrap_or(0.0) - s.first().copied().unwrap_or(0.0)).clamp(-1.0, 1.0);
                let mut p = [0f32; 7];
                for (dst, src) in p.iter_mut().zip(&e) {
                    *dst = *src;
                }
                Analysis {
                    sentiment: Sentiment { label, score, confidence },
                    emotions: EmotionScores::from_array(p),
                    embedding,
                }
            })
            .collect())
    }
}

fn rows(t: &Tensor) -> Result<Vec<Vec<f32>>, InferenceError> {
    Ok(t.to_vec2::<f32>()?)
}
