//! `rtcx-processors train`: embeds every labelled text once with the frozen encoder (cached on
//! disk), trains the sentiment and emotion heads, evaluates them on each source's held-out
//! part, and writes `heads.safetensors` + `manifest.json` (+ small held-out samples for the
//! accuracy regression test).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::datasets::{Example, Split, Task, load_all};
use super::fit::{FitParams, fit};
use super::metrics::{Report, evaluate};
use crate::inference::heads::{Head, save_heads};
use crate::inference::{InferenceError, SentenceEncoder};

/// Version of the encoder's forward pass; part of the embedding-cache key.
pub const ENCODER_IMPL: &str = "fastbert-1";

/// Sentiment labels, in head order.
pub const SENTIMENT_LABELS: [&str; 3] = ["negative", "neutral", "positive"];
/// Emotion labels, in head order.
pub const EMOTION_LABELS: [&str; 7] = ["anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"];

/// Settings of a training run.
pub struct TrainConfig {
    pub data_dir: PathBuf,
    pub model_dir: PathBuf,
    pub out_dir: PathBuf,
    pub cache_dir: PathBuf,
    pub samples_dir: Option<PathBuf>,
    pub sentiment: FitParams,
    pub emotion: FitParams,
    pub batch_size: usize,
}

/// What a run measured.
#[derive(Debug, Serialize)]
pub struct Manifest {
    pub format: u32,
    pub base_model: String,
    pub base_model_sha256: String,
    pub embedding: &'static str,
    pub heads: BTreeMap<String, HeadInfo>,
    pub data: BTreeMap<String, BTreeMap<String, usize>>,
    pub metrics: BTreeMap<String, ReportSummary>,
}

#[derive(Debug, Serialize)]
pub struct HeadInfo {
    pub labels: Vec<String>,
    pub depth: usize,
    pub params: FitParams,
}

#[derive(Debug, Serialize)]
pub struct ReportSummary {
    pub n: usize,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub per_class_f1: BTreeMap<String, f64>,
}

impl From<&Report> for ReportSummary {
    fn from(r: &Report) -> Self {
        Self {
            n: r.n,
            accuracy: r.accuracy,
            macro_f1: r.macro_f1,
            per_class_f1: r.classes.iter().map(|c| (c.label.clone(), c.f1)).collect(),
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> InferenceError + '_ {
    move |source| InferenceError::Io { path: path.to_owned(), source }
}

/// SHA-256 of a file, hex.
pub fn file_sha256(path: &Path) -> Result<String, InferenceError> {
    Ok(hex::encode(Sha256::digest(std::fs::read(path).map_err(io(path))?)))
}

/// L2-normalised embeddings of `texts` (rows in input order), computed in length-sorted
/// batches, with a progress bar.
pub fn embed_all(enc: &SentenceEncoder, texts: &[&str], batch: usize) -> Result<Tensor, InferenceError> {
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|&i| texts[i].len());
    let bar = ProgressBar::new(texts.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("embedding {wide_bar} {pos}/{len} texts {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut rows: Vec<Option<Tensor>> = vec![None; texts.len()];
    for chunk in order.chunks(batch.max(1)) {
        let batch_texts: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
        let emb = enc.embed(&batch_texts)?.normalized()?;
        for (j, &i) in chunk.iter().enumerate() {
            rows[i] = Some(emb.get(j)?);
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish();
    let rows: Vec<Tensor> = rows.into_iter().flatten().collect();
    Ok(Tensor::stack(&rows, 0)?)
}

/// Embeds the unique texts of `examples`, reusing a cached result when the texts and the model
/// are the same. Returns the embeddings and each text's row.
fn embeddings(
    cfg: &TrainConfig,
    enc: &SentenceEncoder,
    model_sha: &str,
    examples: &[Example],
) -> Result<(Tensor, HashMap<String, usize>), InferenceError> {
    let mut texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
    texts.sort_unstable();
    texts.dedup();
    let mut h = Sha256::new();
    // The cache is valid for one model file and one forward-pass implementation.
    h.update(ENCODER_IMPL.as_bytes());
    h.update(model_sha.as_bytes());
    for t in &texts {
        h.update(t.as_bytes());
        h.update([0]);
    }
    let key = hex::encode(h.finalize());
    let cache = cfg.cache_dir.join(format!("embeddings-{}.safetensors", &key[..16]));
    let index: HashMap<String, usize> = texts.iter().enumerate().map(|(i, t)| ((*t).to_owned(), i)).collect();
    if let Ok(mut m) = candle_core::safetensors::load(&cache, &Device::Cpu)
        && let Some(t) = m.remove("embeddings")
    {
        eprintln!("using cached embeddings {}", cache.display());
        return Ok((t, index));
    }
    let t = embed_all(enc, &texts, cfg.batch_size)?;
    std::fs::create_dir_all(&cfg.cache_dir).map_err(io(&cfg.cache_dir))?;
    candle_core::safetensors::save(&HashMap::from([("embeddings".to_owned(), t.clone())]), &cache)?;
    Ok((t, index))
}

fn rows_of(
    emb: &Tensor,
    index: &HashMap<String, usize>,
    rows: &[&Example],
) -> Result<(Tensor, Vec<Vec<usize>>), InferenceError> {
    let ids: Vec<u32> = rows.iter().map(|e| index.get(&e.text).copied().unwrap_or(0) as u32).collect();
    let idx = Tensor::from_vec(ids, rows.len(), &Device::Cpu)?;
    Ok((emb.index_select(&idx, 0)?, rows.iter().map(|e| e.labels.clone()).collect()))
}

fn predict(head: &Head, x: &Tensor) -> Result<Vec<usize>, InferenceError> {
    Ok(head.logits(x)?.argmax(1)?.to_vec1::<u32>()?.into_iter().map(|v| v as usize).collect())
}

/// Runs training and evaluation; prints the reports and writes the outputs.
pub fn train(cfg: &TrainConfig) -> Result<Manifest, InferenceError> {
    let examples = load_all(&cfg.data_dir).map_err(|e| InferenceError::Data(e.to_string()))?;
    let model_sha = file_sha256(&cfg.model_dir.join("model.safetensors"))?;
    let enc = SentenceEncoder::load(&cfg.model_dir, 128)?;
    let (emb, index) = embeddings(cfg, &enc, &model_sha, &examples)?;

    let mut data: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for e in &examples {
        let split = if e.split == Split::Train { "train" } else { "holdout" };
        *data.entry(e.source.to_owned()).or_default().entry(split.to_owned()).or_default() += 1;
    }

    let mut heads = Vec::new();
    let mut metrics = BTreeMap::new();
    for (task, name, labels, params) in [
        (Task::Emotion, "emotion", &EMOTION_LABELS[..], &cfg.emotion),
        (Task::Sentiment, "sentiment", &SENTIMENT_LABELS[..], &cfg.sentiment),
    ] {
        let train: Vec<&Example> = examples.iter().filter(|e| e.task == task && e.split == Split::Train).collect();
        let (x, gold) = rows_of(&emb, &index, &train)?;
        let head = fit(name, labels, &x, &gold, params)?;
        let mut sources: Vec<&str> = examples.iter().filter(|e| e.task == task).map(|e| e.source).collect();
        sources.sort_unstable();
        sources.dedup();
        for source in sources {
            let held: Vec<&Example> =
                examples.iter().filter(|e| e.task == task && e.split == Split::Holdout && e.source == source).collect();
            let (x, gold) = rows_of(&emb, &index, &held)?;
            let report = evaluate(labels, &gold, &predict(&head, &x)?);
            println!("{}", report.render(&format!("{name} / {source} (held out)")));
            metrics.insert(format!("{name}/{source}"), ReportSummary::from(&report));
            if let Some(dir) = &cfg.samples_dir {
                write_sample(dir, name, source, &held)?;
            }
        }
        heads.push(head);
    }

    std::fs::create_dir_all(&cfg.out_dir).map_err(io(&cfg.out_dir))?;
    let refs: Vec<&Head> = heads.iter().collect();
    save_heads(&refs, &cfg.out_dir.join("heads.safetensors"))?;
    let manifest = Manifest {
        format: 1,
        base_model: "sentence-transformers/all-MiniLM-L6-v2".into(),
        base_model_sha256: model_sha,
        embedding: "mean-pooled over the attention mask, L2-normalised",
        heads: heads
            .iter()
            .map(|h| {
                let params = if h.name == "emotion" { cfg.emotion.clone() } else { cfg.sentiment.clone() };
                (h.name.clone(), HeadInfo { labels: h.labels.clone(), depth: h.layers.len(), params })
            })
            .collect(),
        data,
        metrics,
    };
    let json = serde_json::to_string_pretty(&manifest).map_err(|e| InferenceError::Model(e.to_string()))?;
    let path = cfg.out_dir.join("manifest.json");
    std::fs::write(&path, json + "\n").map_err(io(&path))?;
    Ok(manifest)
}

/// Writes up to 400 held-out rows of one source (`label \t text`), a deterministic selection.
fn write_sample(dir: &Path, task: &str, source: &str, rows: &[&Example]) -> Result<(), InferenceError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let step = rows.len().div_ceil(400).max(1);
    let mut out = String::new();
    for e in rows.iter().step_by(step).take(400) {
        let labels: Vec<String> = e.labels.iter().map(|l| l.to_string()).collect();
        out.push_str(&format!("{}\t{}\n", labels.join(","), e.text.replace(['\t', '\n', '\r'], " ")));
    }
    let path = dir.join(format!("{task}-{source}.tsv"));
    std::fs::write(&path, out).map_err(io(&path))
}
