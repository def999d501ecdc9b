//! `rtcx-model train`: embeds every labelled text once with the frozen encoder (cached on
//! disk), trains the sentiment and emotion heads, evaluates them on each source's held-out
//! part, and writes `heads.safetensors` + `manifest.json` (+ small held-out samples for the
//! accuracy regression test).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::datasets::{
    Example, LoadOptions, NEUTRAL, REVIEW_SETS, Split, Task, cap_training, challenge_set, load_all, may_republish,
};
use super::finetune::{TokenStates, TuneExample, TuneParams, embed_states, finetune};
use super::fit::{FitParams, fit, source_balanced_targets};
use super::metrics::{Report, evaluate};
use rtcx_inference::files::file_sha256;
use rtcx_inference::heads::{Head, save_heads};
use rtcx_inference::{InferenceError, SentenceEncoder};

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
    /// The hand-written challenge set, evaluated (never trained on) when given.
    pub challenge: Option<PathBuf>,
    pub sentiment: FitParams,
    pub emotion: FitParams,
    /// Fine-tuning of the encoder's top layers after the heads (`layers: 0`: none).
    pub tune: TuneParams,
    pub batch_size: usize,
    /// Most training rows per source and class (`None`: all); see [`cap_training`].
    pub train_cap: Option<usize>,
    /// Optional data (three-star reviews, support intents).
    pub data: LoadOptions,
    /// Sources left out entirely (ablations).
    pub exclude_sources: Vec<String>,
}

/// What a run measured.
#[derive(Debug, Serialize)]
pub struct Manifest {
    pub format: u32,
    pub base_model: String,
    pub base_model_sha256: String,
    pub embedding: &'static str,
    /// How training rows are weighted.
    pub sample_weights: &'static str,
    pub heads: BTreeMap<String, HeadInfo>,
    pub data: BTreeMap<String, BTreeMap<String, usize>>,
    /// How the data was chosen (optional sources, three-star reviews, caps, exclusions).
    pub data_options: DataOptions,
    /// Held-out figures of the shipped model (tuned encoder when `tuned` is set).
    pub metrics: BTreeMap<String, ReportSummary>,
    /// The encoder layers replaced by fine-tuned ones, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tuned: Option<TunedInfo>,
    /// Held-out figures of the heads on the frozen encoder (before fine-tuning), for
    /// comparison; absent when nothing was tuned.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub frozen_metrics: BTreeMap<String, ReportSummary>,
}

/// The data choices of a run, as recorded in the manifest.
#[derive(Debug, Serialize)]
pub struct DataOptions {
    #[serde(flatten)]
    pub load: LoadOptions,
    pub train_cap: Option<usize>,
    pub exclude_sources: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct TunedInfo {
    /// Encoder layer indices whose tensors `heads.safetensors` replaces.
    pub layers: Vec<usize>,
    pub storage: &'static str,
    pub params: TuneParams,
    /// Mean cosine between the tuned and the base encoder's embeddings of the held-out texts
    /// (topic matching compares embeddings, so they should stay close).
    pub heldout_cosine_to_base: f64,
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
    /// Share of each class's rows given that class (for review sets: how many 1–2-star
    /// reviews are called negative, 4–5-star ones positive).
    pub per_class_recall: BTreeMap<String, f64>,
}

impl From<&Report> for ReportSummary {
    fn from(r: &Report) -> Self {
        Self {
            n: r.n,
            accuracy: r.accuracy,
            macro_f1: r.macro_f1,
            per_class_f1: r.classes.iter().map(|c| (c.label.clone(), c.f1)).collect(),
            per_class_recall: r.classes.iter().filter(|c| c.support > 0).map(|c| (c.label.clone(), c.recall)).collect(),
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> InferenceError + '_ {
    move |source| InferenceError::Io { path: path.to_owned(), source }
}

/// L2-normalised embeddings of `texts` (rows in input order), computed in length-sorted
/// batches, with a progress bar.
pub fn embed_all(enc: &SentenceEncoder, texts: &[&str], batch: usize) -> Result<Tensor, InferenceError> {
    let mut rows: Vec<Option<Tensor>> = vec![None; texts.len()];
    in_length_order(texts, batch, "embedding", |chunk, batch_texts| {
        let emb = enc.embed(batch_texts)?.normalized()?;
        for (j, &i) in chunk.iter().enumerate() {
            rows[i] = Some(emb.get(j)?);
        }
        Ok(())
    })?;
    let rows: Vec<Tensor> = rows.into_iter().flatten().collect();
    Ok(Tensor::stack(&rows, 0)?)
}

/// Calls `f` with batches of `texts` (their indices and the texts) in order of length, so
/// little padding is computed, with a progress bar labelled `label`.
fn in_length_order(
    texts: &[&str],
    batch: usize,
    label: &str,
    mut f: impl FnMut(&[usize], &[&str]) -> Result<(), InferenceError>,
) -> Result<(), InferenceError> {
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|&i| texts[i].len());
    let bar = ProgressBar::new(texts.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(&format!("{label} {{wide_bar}} {{pos}}/{{len}} texts {{per_sec}} eta {{eta}}"))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    for chunk in order.chunks(batch.max(1)) {
        let batch_texts: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
        f(chunk, &batch_texts)?;
        bar.inc(chunk.len() as u64);
    }
    bar.finish();
    Ok(())
}

/// The distinct texts of `examples`, sorted, and each one's row.
fn distinct_texts(examples: &[Example]) -> (Vec<&str>, HashMap<String, usize>) {
    let mut texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
    texts.sort_unstable();
    texts.dedup();
    let rows = texts.iter().enumerate().map(|(i, t)| ((*t).to_owned(), i)).collect();
    (texts, rows)
}

/// Where a computed `kind` of `texts` is cached: valid for one model file, one forward-pass
/// implementation, the `extra` parameters and exactly these texts.
fn cache_path(cfg: &TrainConfig, kind: &str, model_sha: &str, extra: &[u8], texts: &[&str]) -> PathBuf {
    let mut h = Sha256::new();
    h.update(ENCODER_IMPL.as_bytes());
    h.update(model_sha.as_bytes());
    h.update(extra);
    for t in texts {
        h.update(t.as_bytes());
        h.update([0]);
    }
    let key = hex::encode(h.finalize());
    cfg.cache_dir.join(format!("{kind}-{}.safetensors", &key[..16]))
}

/// Embeds the unique texts of `examples`, reusing a cached result when the texts and the model
/// are the same. Returns the embeddings and each text's row.
fn embeddings(
    cfg: &TrainConfig,
    enc: &SentenceEncoder,
    model_sha: &str,
    examples: &[Example],
) -> Result<(Tensor, HashMap<String, usize>), InferenceError> {
    let (texts, index) = distinct_texts(examples);
    let cache = cache_path(cfg, "embeddings", model_sha, &[], &texts);
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

fn rows_of(emb: &Tensor, index: &HashMap<String, usize>, rows: &[&Example]) -> Result<Tensor, InferenceError> {
    let ids: Vec<u32> = rows.iter().map(|e| index.get(&e.text).copied().unwrap_or(0) as u32).collect();
    let idx = Tensor::from_vec(ids, rows.len(), &Device::Cpu)?;
    Ok(emb.index_select(&idx, 0)?)
}

/// The training rows of one task with their soft targets (`rows × k`, row-major) and sample
/// weights (see [`source_balanced_targets`]): what both the heads and the fine-tuning train on.
struct TrainingSet<'a> {
    task: Task,
    rows: Vec<&'a Example>,
    k: usize,
    y: Vec<f32>,
    w: Vec<f32>,
}

impl<'a> TrainingSet<'a> {
    fn new(examples: &'a [Example], task: Task, k: usize) -> Self {
        let rows: Vec<&Example> = examples.iter().filter(|e| e.task == task && e.split == Split::Train).collect();
        let gold: Vec<Vec<usize>> = rows.iter().map(|e| e.labels.clone()).collect();
        let sources: Vec<&str> = rows.iter().map(|e| e.source).collect();
        let (y, w) = source_balanced_targets(&gold, &sources, k);
        Self { task, rows, k, y, w }
    }
}

/// Scores `head` on the held-out rows `held` of `source` (embeddings `x`), prints the report
/// and records it in `metrics` under `name/source`.
fn record(
    metrics: &mut BTreeMap<String, ReportSummary>,
    (name, labels): (&str, &[&str]),
    source: &str,
    held: &[&Example],
    head: &Head,
    x: &Tensor,
    encoder: &str,
) -> Result<(), InferenceError> {
    let gold: Vec<Vec<usize>> = held.iter().map(|e| e.labels.clone()).collect();
    let report = evaluate(labels, &gold, &predict(head, x)?);
    println!("{}", report.render(&format!("{name} / {source} (held out, {encoder} encoder)")));
    metrics.insert(format!("{name}/{source}"), ReportSummary::from(&report));
    Ok(())
}

/// The class `head` gives each row of `x`.
pub(crate) fn predict(head: &Head, x: &Tensor) -> Result<Vec<usize>, InferenceError> {
    Ok(head.logits(x)?.argmax(1)?.to_vec1::<u32>()?.into_iter().map(|v| v as usize).collect())
}

/// Runs training and evaluation; prints the reports and writes the outputs.
pub fn train(cfg: &TrainConfig) -> Result<Manifest, InferenceError> {
    let mut examples = load_all(&cfg.data_dir, cfg.data).map_err(|e| InferenceError::Data(e.to_string()))?;
    examples.retain(|e| !cfg.exclude_sources.iter().any(|s| s == e.source));
    if let Some(cap) = cfg.train_cap {
        examples = cap_training(examples, cap);
    }
    let model_sha = file_sha256(&cfg.model_dir.join("model.safetensors"))?;
    let enc = SentenceEncoder::load(&cfg.model_dir, 128)?;
    let num_layers = enc.model().num_layers();
    if cfg.tune.layers > num_layers {
        return Err(InferenceError::Model(format!("cannot tune {} of {num_layers} layers", cfg.tune.layers)));
    }
    let first = num_layers - cfg.tune.layers;
    // Fine-tuning needs the frozen layers' token states, which also give the base embeddings
    // the heads are first trained on: one encoder pass serves both.
    let (emb, index, states) = if cfg.tune.layers > 0 {
        let (states, index) = token_states(cfg, &enc, &model_sha, &examples, first)?;
        let emb = Tensor::new(states.base.clone(), &Device::Cpu)?;
        (emb, index, Some(states))
    } else {
        let (emb, index) = embeddings(cfg, &enc, &model_sha, &examples)?;
        (emb, index, None)
    };

    let mut data: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for e in &examples {
        let split = if e.split == Split::Train { "train" } else { "holdout" };
        *data.entry(e.source.to_owned()).or_default().entry(split.to_owned()).or_default() += 1;
    }

    let mut heads = Vec::new();
    let mut metrics = BTreeMap::new();
    let tasks = [
        (Task::Emotion, "emotion", &EMOTION_LABELS[..], &cfg.emotion),
        (Task::Sentiment, "sentiment", &SENTIMENT_LABELS[..], &cfg.sentiment),
    ];
    let mut training_sets = Vec::new();
    for (task, name, labels, params) in tasks {
        let set = TrainingSet::new(&examples, task, labels.len());
        let head = fit(name, labels, &rows_of(&emb, &index, &set.rows)?, (&set.y, &set.w), params)?;
        for (source, held) in holdout_by_source(&examples, task) {
            record(&mut metrics, (name, labels), source, &held, &head, &rows_of(&emb, &index, &held)?, "frozen")?;
            if let Some(dir) = &cfg.samples_dir
                && may_republish(source)
            {
                // Review samples leave out the three-star rows: their "neutral" is not a label
                // the model is meant to learn (see datasets::customer_reviews).
                let sample: Vec<&Example> = if REVIEW_SETS.iter().any(|(_, s)| *s == source) {
                    held.iter().copied().filter(|e| e.labels != [NEUTRAL]).collect()
                } else {
                    held.clone()
                };
                write_sample(dir, name, source, &sample)?;
            }
        }
        heads.push(head);
        training_sets.push(set);
    }
    let challenge = match &cfg.challenge {
        Some(path) => challenge_set(path, &EMOTION_LABELS).map_err(|e| InferenceError::Data(e.to_string()))?,
        None => Vec::new(),
    };
    record_challenge(&mut metrics, &challenge, &enc, (&heads[0], &heads[1]), cfg.batch_size, "frozen")?;

    let mut extra = HashMap::new();
    let mut tuned_info = None;
    let mut frozen_metrics = BTreeMap::new();
    if let Some(states) = states {
        let tune_examples = tune_examples(&training_sets, &index);
        let base = candle_core::safetensors::load(cfg.model_dir.join("model.safetensors"), &Device::Cpu)?;
        let (emotion_head, sentiment_head) = (&heads[0], &heads[1]);
        let m = enc.model();
        let tuned = finetune(
            &base,
            num_layers,
            m.heads(),
            m.eps(),
            &states,
            &tune_examples,
            (sentiment_head, emotion_head),
            &cfg.tune,
        )?;
        // Measure what ships: the stored tensors, through the inference kernels.
        let tuned_enc = SentenceEncoder::load_tuned(&cfg.model_dir, 128, &tuned.tensors)?;
        let (mut cos_sum, mut cos_n) = (0f64, 0usize);
        frozen_metrics = std::mem::take(&mut metrics);
        for (task, name, labels, _) in tasks {
            let head = if task == Task::Emotion { &tuned.emotion } else { &tuned.sentiment };
            for (source, held) in holdout_by_source(&examples, task) {
                let held_rows: Vec<usize> = held.iter().map(|e| index[&e.text]).collect();
                let x = embed_states(tuned_enc.model(), &states, &held_rows, first, 64)?;
                record(&mut metrics, (name, labels), source, &held, head, &x, "tuned")?;
                for (a, r) in x.to_vec2::<f32>()?.iter().zip(&held_rows) {
                    cos_sum += a.iter().zip(&states.base[*r]).map(|(p, q)| f64::from(p * q)).sum::<f64>();
                    cos_n += 1;
                }
            }
        }
        record_challenge(
            &mut metrics,
            &challenge,
            &tuned_enc,
            (&tuned.emotion, &tuned.sentiment),
            cfg.batch_size,
            "tuned",
        )?;
        extra = tuned.tensors;
        tuned_info = Some(TunedInfo {
            layers: (first..num_layers).collect(),
            storage: "weight matrices: u8 delta from the base encoder with an f32 scale per row (name.delta_q8, name.delta_scale); vectors: f32",
            params: cfg.tune.clone(),
            heldout_cosine_to_base: cos_sum / cos_n.max(1) as f64,
        });
        heads = vec![tuned.emotion, tuned.sentiment];
    }

    std::fs::create_dir_all(&cfg.out_dir).map_err(io(&cfg.out_dir))?;
    let refs: Vec<&Head> = heads.iter().collect();
    save_heads(&refs, &extra, &cfg.out_dir.join("heads.safetensors"))?;
    let manifest = Manifest {
        format: 2,
        base_model: "sentence-transformers/all-MiniLM-L6-v2".into(),
        base_model_sha256: model_sha,
        embedding: "mean-pooled over the attention mask, L2-normalised",
        sample_weights: "per source: sqrt(inverse class frequency) within the source; each source's total weight proportional to sqrt(its size); mean 1",
        heads: heads
            .iter()
            .map(|h| {
                let params = if h.name == "emotion" { cfg.emotion.clone() } else { cfg.sentiment.clone() };
                (h.name.clone(), HeadInfo { labels: h.labels.clone(), depth: h.layers.len(), params })
            })
            .collect(),
        data,
        metrics,
        tuned: tuned_info,
        frozen_metrics,
        data_options: DataOptions {
            load: cfg.data,
            train_cap: cfg.train_cap,
            exclude_sources: cfg.exclude_sources.clone(),
        },
    };
    let json = serde_json::to_string_pretty(&manifest).map_err(|e| InferenceError::Model(e.to_string()))?;
    let path = cfg.out_dir.join("manifest.json");
    std::fs::write(&path, json + "\n").map_err(io(&path))?;
    write_replay(&cfg.out_dir, &examples)?;
    Ok(manifest)
}

/// Training texts kept per sentiment source in `replay.txt`.
pub const REPLAY_PER_SOURCE: usize = 300;

/// Writes `replay.txt` next to the model: up to [`REPLAY_PER_SOURCE`] sentiment **training**
/// texts of every source whose texts may be republished, one per line. `adapt` keeps the
/// model's answers on them while it learns a deployment's ratings, so what the model knew
/// about tweets, Reddit comments and reviews is not traded for one domain; being training
/// texts, they never overlap the held-out samples `adapt` evaluates on.
fn write_replay(dir: &Path, examples: &[Example]) -> Result<(), InferenceError> {
    let mut out = String::new();
    for (source, _) in holdout_by_source(examples, Task::Sentiment) {
        if !may_republish(source) {
            continue;
        }
        let rows: Vec<&Example> = examples
            .iter()
            .filter(|e| e.task == Task::Sentiment && e.split == Split::Train && e.source == source)
            .collect();
        let step = rows.len().div_ceil(REPLAY_PER_SOURCE).max(1);
        for e in rows.iter().step_by(step).take(REPLAY_PER_SOURCE) {
            out.push_str(&e.text.replace(['\t', '\n', '\r'], " "));
            out.push('\n');
        }
    }
    let path = dir.join("replay.txt");
    std::fs::write(&path, out).map_err(io(&path))
}

/// Scores the challenge set (both tasks; never trained on) with `enc` and the heads
/// (`emotion`, `sentiment`), recorded as `<task>/challenge`.
fn record_challenge(
    metrics: &mut BTreeMap<String, ReportSummary>,
    challenge: &[Example],
    enc: &SentenceEncoder,
    (emotion, sentiment): (&Head, &Head),
    batch: usize,
    encoder: &str,
) -> Result<(), InferenceError> {
    for (task, name, labels, head) in [
        (Task::Emotion, "emotion", &EMOTION_LABELS[..], emotion),
        (Task::Sentiment, "sentiment", &SENTIMENT_LABELS[..], sentiment),
    ] {
        let rows: Vec<&Example> = challenge.iter().filter(|e| e.task == task).collect();
        if rows.is_empty() {
            continue;
        }
        let texts: Vec<&str> = rows.iter().map(|e| e.text.as_str()).collect();
        let x = embed_all(enc, &texts, batch)?;
        record(metrics, (name, labels), "challenge", &rows, head, &x, encoder)?;
    }
    Ok(())
}

/// Held-out examples of `task`, by source (sorted by name).
fn holdout_by_source(examples: &[Example], task: Task) -> Vec<(&'static str, Vec<&Example>)> {
    let mut sources: Vec<&'static str> = examples.iter().filter(|e| e.task == task).map(|e| e.source).collect();
    sources.sort_unstable();
    sources.dedup();
    sources
        .into_iter()
        .map(|source| {
            let held =
                examples.iter().filter(|e| e.task == task && e.split == Split::Holdout && e.source == source).collect();
            (source, held)
        })
        .collect()
}

/// The frozen layers' output (input of layer `first`) for every distinct text, and each
/// text's row.
///
/// Cached on disk (as `f16`), content-addressed: `states-<key>/` (key: forward-pass version,
/// model file, layer) holds chunks, each the states of some texts with their SHA-256. A run
/// reads what the chunks hold of its texts, computes only the others and adds them as a new
/// chunk, so adding a source or capping one reuses everything computed before.
fn token_states(
    cfg: &TrainConfig,
    enc: &SentenceEncoder,
    model_sha: &str,
    examples: &[Example],
    first: usize,
) -> Result<(TokenStates, HashMap<String, usize>), InferenceError> {
    let (texts, rows) = distinct_texts(examples);
    let dir = cache_path(cfg, "states", model_sha, &first.to_le_bytes(), &[]).with_extension("d");
    let hidden = enc.hidden_size();
    let want: HashMap<[u8; 32], usize> =
        texts.iter().enumerate().map(|(i, t)| (Sha256::digest(t.as_bytes()).into(), i)).collect();
    // Each text's (states, base embedding), from the cache or computed below.
    let mut found: Vec<Option<(Vec<f32>, Vec<f32>)>> = vec![None; texts.len()];
    read_state_chunks(&dir, &want, &mut found)?;
    let missing: Vec<usize> = (0..texts.len()).filter(|&i| found[i].is_none()).collect();
    if missing.is_empty() {
        eprintln!("using cached token states {} ({} texts)", dir.display(), texts.len());
    } else {
        eprintln!("{} of {} texts not in {}: computing them", missing.len(), texts.len(), dir.display());
        let missing_texts: Vec<&str> = missing.iter().map(|&i| texts[i]).collect();
        let mut new_states = vec![Vec::new(); missing.len()];
        let mut new_base = vec![Vec::new(); missing.len()];
        in_length_order(&missing_texts, cfg.batch_size, "frozen layers", |chunk, batch| {
            let (s, b) = enc.states_before(batch, first)?;
            for ((&i, s), b) in chunk.iter().zip(s).zip(b.to_vec2::<f32>()?) {
                new_states[i] = s;
                new_base[i] = b;
            }
            Ok(())
        })?;
        // Train on what a later run reads back from the cache (f16), so both runs agree.
        let stored = write_state_chunk(&dir, &missing_texts, new_states, &new_base, hidden)?;
        for ((&i, block), b) in missing.iter().zip(stored).zip(new_base) {
            found[i] = Some((block, b));
        }
    }
    let (states, base) = found.into_iter().flatten().unzip();
    Ok((TokenStates { hidden, states, base }, rows))
}

/// Fills the empty slots of `found` (states and base embedding of the texts whose SHA-256
/// `want` maps to a slot) from the chunks in `dir`; unreadable chunks are skipped (their texts
/// are recomputed).
fn read_state_chunks(
    dir: &Path,
    want: &HashMap<[u8; 32], usize>,
    found: &mut [Option<(Vec<f32>, Vec<f32>)>],
) -> Result<(), InferenceError> {
    let mut chunks: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(_) => Vec::new(),
    };
    chunks.sort();
    for chunk in chunks.iter().filter(|p| p.extension().is_some_and(|e| e == "safetensors")) {
        let Ok(mut m) = candle_core::safetensors::load(chunk, &Device::Cpu) else { continue };
        let (Some(sha), Some(flat), Some(lengths), Some(b)) =
            (m.remove("sha256"), m.remove("states"), m.remove("lengths"), m.remove("base"))
        else {
            continue;
        };
        // The slot each of the chunk's texts fills, if it is wanted and still empty.
        let keep: Vec<Option<usize>> = sha
            .to_vec2::<u8>()?
            .iter()
            .map(|h| <[u8; 32]>::try_from(h.as_slice()).ok().and_then(|h| want.get(&h).copied()))
            .map(|slot| slot.filter(|&i| found[i].is_none()))
            .collect();
        if keep.iter().all(Option::is_none) {
            continue;
        }
        let b = b.to_vec2::<f32>()?;
        for (j, block) in split_states(&flat, &lengths, |j| keep.get(j).is_some_and(Option::is_some))? {
            if let (Some(&Some(i)), Some(base)) = (keep.get(j), b.get(j)) {
                found[i] = Some((block, base.clone()));
            }
        }
    }
    Ok(())
}

/// Writes the states and base embeddings of `texts` as a new chunk in `dir` (states as `f16`,
/// each text's SHA-256 alongside; written to a temporary name, then renamed) and returns the
/// states as stored, back in `f32`.
fn write_state_chunk(
    dir: &Path,
    texts: &[&str],
    states: Vec<Vec<f32>>,
    base: &[Vec<f32>],
    hidden: usize,
) -> Result<Vec<Vec<f32>>, InferenceError> {
    let lengths: Vec<u32> = states.iter().map(|s| (s.len() / hidden) as u32).collect();
    let total: usize = states.iter().map(Vec::len).sum();
    let flat: Vec<f32> = states.into_iter().flatten().collect();
    let mut name = Sha256::new();
    let shas: Vec<u8> = texts
        .iter()
        .flat_map(|t| {
            let h = Sha256::digest(t.as_bytes());
            name.update(h);
            h.to_vec()
        })
        .collect();
    let tensors = HashMap::from([
        ("sha256".to_owned(), Tensor::from_vec(shas, (texts.len(), 32), &Device::Cpu)?),
        (
            "states".to_owned(),
            Tensor::from_vec(flat, (total / hidden, hidden), &Device::Cpu)?.to_dtype(candle_core::DType::F16)?,
        ),
        ("lengths".to_owned(), Tensor::from_vec(lengths, texts.len(), &Device::Cpu)?),
        ("base".to_owned(), Tensor::new(base.to_vec(), &Device::Cpu)?),
    ]);
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let name = format!("chunk-{}.safetensors", &hex::encode(name.finalize())[..16]);
    let (tmp, path) = (dir.join(format!("{name}.tmp")), dir.join(name));
    candle_core::safetensors::save(&tensors, &tmp)?;
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    Ok(split_states(&tensors["states"], &tensors["lengths"], |_| true)?.into_iter().map(|(_, s)| s).collect())
}

/// The cached `[tokens, hidden]` states (any float type) cut into one `f32` row-major block
/// per text, by the texts' token counts `lengths` (u32): the blocks of the texts `keep`
/// accepts (by position), with their positions.
fn split_states(
    flat: &Tensor,
    lengths: &Tensor,
    keep: impl Fn(usize) -> bool,
) -> Result<Vec<(usize, Vec<f32>)>, InferenceError> {
    let hidden = flat.dim(1)?;
    let flat = flat.to_dtype(candle_core::DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    let mut at = 0;
    let mut out = Vec::new();
    for (j, len) in lengths.to_vec1::<u32>()?.into_iter().enumerate() {
        let n = len as usize * hidden;
        let block =
            flat.get(at..at + n).ok_or_else(|| InferenceError::Model("token-state cache is truncated".into()))?;
        if keep(j) {
            out.push((j, block.to_vec()));
        }
        at += n;
    }
    Ok(out)
}

/// Training texts with their targets for both heads, from each task's training set (rows,
/// soft targets, sample weights: as the frozen heads had them); a text labelled for both
/// tasks trains both.
fn tune_examples(sets: &[TrainingSet], rows: &HashMap<String, usize>) -> Vec<TuneExample> {
    let mut by_row: BTreeMap<usize, TuneExample> = BTreeMap::new();
    // Sentiment first: a text listed twice for a task (two sources) keeps its first label.
    for task in [Task::Sentiment, Task::Emotion] {
        for set in sets.iter().filter(|s| s.task == task) {
            let k = set.k;
            for (i, e) in set.rows.iter().enumerate() {
                let row = rows[&e.text];
                let entry = by_row.entry(row).or_insert(TuneExample { row, sentiment: None, emotion: None });
                let slot = if task == Task::Sentiment { &mut entry.sentiment } else { &mut entry.emotion };
                slot.get_or_insert_with(|| (set.y[i * k..(i + 1) * k].to_vec(), set.w[i]));
            }
        }
    }
    by_row.into_values().collect()
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
