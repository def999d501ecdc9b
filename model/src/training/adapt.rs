//! `rtcx-model adapt`: learns the deployment's own domain from its rated feedback.
//!
//! Much feedback arrives with a star rating, a CSAT or an NPS answer. Used as a weak label
//! ([`weak_label`]), it says what the customers of *this* deployment mean by a negative or a
//! positive message. `adapt` reads rated feedback of a time range from ClickHouse, splits it
//! by a hash of the text (80 % to train, 20 % held out), continues training the model's
//! sentiment head on the training part (starting from the model in use, pulled towards its
//! weights by an L2-SP term, and with the texts that have no weak label and the model's
//! `replay.txt` (training texts of its sources) kept at the head's own answers, so that it
//! adjusts rather than forgets), and evaluates the new
//! head and the old one on:
//! - the deployment's held-out part (macro-F1 over negative and positive; a neutral answer to a
//!   rated message counts as wrong);
//! - the committed held-out samples of every training source and the hand-written challenge
//!   set (`model/tests/data`).
//!
//! The new model is written (a new version folder, and the `current` link moved to it) only
//! if it gains at least `min_gain` on the deployment's data and loses at most `max_loss`
//! macro-F1 on each of the other sets; ratings the model in use agrees with less than
//! `min_agreement` are taken to be about something else and refused. Several anchor
//! strengths are tried; the accepted candidate best on the deployment's data is kept. The encoder (and its tuned layers) and the emotion head are kept as they
//! are; the version is, as for every model, the first 12 hex digits of the sha256 of
//! `heads.safetensors`, and the processors write it with every enriched row.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::Serialize;

use super::datasets::{NEGATIVE, POSITIVE, Split, Task, challenge_set, split_of};
use super::fit::{FitParams, refit, source_balanced_targets};
use super::metrics::evaluate;
use super::train::{EMOTION_LABELS, SENTIMENT_LABELS, predict};
use rtcx_inference::files::file_sha256;
use rtcx_inference::heads::{Head, load_tensors, save_heads};
use rtcx_inference::{Analyzer, Batching, InferenceError};

/// One rated feedback text as stored in ClickHouse.
#[derive(Debug, Clone, clickhouse::Row, serde::Deserialize)]
pub struct RatedText {
    pub text: String,
    pub rating: Option<u8>,
    pub csat: Option<u8>,
    pub nps: Option<u8>,
}

/// The weak sentiment label a customer's own score gives its text:
/// - star rating and CSAT (1–5): 1–2 negative, 4–5 positive, 3 none (mixed or mild);
/// - NPS (0–10): 0–4 negative, 9–10 positive, 5–8 none (passives and mild detractors say
///   little about the text).
///
/// When several are present they must agree; any disagreement gives no label.
pub fn weak_label(r: &RatedText) -> Option<usize> {
    let five = |v: u8| match v {
        1 | 2 => Some(NEGATIVE),
        4 | 5 => Some(POSITIVE),
        _ => None,
    };
    let nps = |v: u8| match v {
        0..=4 => Some(NEGATIVE),
        9 | 10 => Some(POSITIVE),
        _ => None,
    };
    let votes: Vec<Option<usize>> =
        [r.rating.map(five), r.csat.map(five), r.nps.map(nps)].into_iter().flatten().collect();
    let first = *votes.first()?;
    votes.iter().all(|v| *v == first).then_some(first).flatten()
}

/// Rated feedback with a text, `from` ≤ occurred_at < `to` (RFC 3339 or ClickHouse
/// date-time strings), at most `limit` rows, one per feedback id.
pub async fn fetch_rated(
    ch: &clickhouse::Client,
    from: &str,
    to: &str,
    limit: u64,
) -> Result<Vec<RatedText>, clickhouse::error::Error> {
    ch.query(
        "SELECT text, rating, csat, nps FROM feedback \
         WHERE text != '' AND (rating IS NOT NULL OR csat IS NOT NULL OR nps IS NOT NULL) \
           AND occurred_at >= parseDateTime64BestEffort(?, 3, 'UTC') \
           AND occurred_at < parseDateTime64BestEffort(?, 3, 'UTC') \
         ORDER BY occurred_at DESC LIMIT 1 BY id LIMIT ?",
    )
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all()
    .await
}

/// Settings of an adaptation.
#[derive(Debug, Clone, Serialize)]
pub struct AdaptConfig {
    /// The base encoder.
    pub model_dir: PathBuf,
    /// The model in use (heads, tuned layers, manifest): the starting point.
    pub heads_dir: PathBuf,
    /// Versions are written to `out_root/<version>/` and `out_root/current` points to the
    /// accepted one.
    pub out_root: PathBuf,
    /// Committed held-out samples (`sentiment-*.tsv`) and the challenge set live here.
    pub samples_dir: PathBuf,
    /// Fewest weakly labelled rows of each class (negative, positive) needed to adapt.
    pub min_per_class: usize,
    /// The most macro-F1 any other evaluation set may lose.
    pub max_loss: f64,
    /// The least macro-F1 the new head must gain on the deployment's held-out feedback (a
    /// smaller change is within the noise of a few hundred rows).
    pub min_gain: f64,
    /// The least macro-F1 at which the model in use must already agree with the weak labels:
    /// below it the ratings look unrelated to the texts (a scale read backwards, ratings of
    /// something else) and nothing is learned from them.
    pub min_agreement: f64,
    /// Head training: epochs, learning rate, seed (the hidden widths are the model's).
    pub fit: FitParams,
    /// Strengths of the pull towards the starting head's weights (L2-SP) to try; the
    /// accepted candidate best on the deployment's feedback is kept.
    pub anchors: Vec<f64>,
    /// Weight of each training text without a weak label, whose target is the starting
    /// head's own answer (labelled rows weigh 1 on average).
    pub keep: f64,
}

/// Macro-F1 of the old and the new sentiment head on one evaluation set.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub n: usize,
    pub before: f64,
    pub after: f64,
}

/// One trained candidate: its anchor strength, figures, and why it would be refused.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub anchor: f64,
    pub deployment: Comparison,
    pub elsewhere: BTreeMap<String, Comparison>,
    pub reasons: Vec<String>,
}

/// What an adaptation measured and decided.
#[derive(Debug, Serialize)]
pub struct AdaptReport {
    /// Rated rows read, and how many got a weak label, per class.
    pub rows: usize,
    pub labelled: BTreeMap<String, usize>,
    pub train_rows: usize,
    /// Training texts without a weak label, kept at the starting head's answers.
    pub unlabelled_rows: usize,
    /// The model's replay texts, kept at the starting head's answers too.
    pub replay_rows: usize,
    /// The chosen candidate's anchor strength (refused: the loosest tried).
    pub anchor: f64,
    /// The deployment's held-out part.
    pub deployment: Comparison,
    /// Committed samples and the challenge set, by name.
    pub elsewhere: BTreeMap<String, Comparison>,
    pub accepted: bool,
    /// Why the model was refused (empty when accepted): every candidate's reasons.
    pub reasons: Vec<String>,
    /// Every candidate tried.
    pub candidates: Vec<Candidate>,
    /// The starting model's version and, when accepted, the new one.
    pub from_version: String,
    pub version: Option<String>,
    /// Where the new version was written.
    pub path: Option<PathBuf>,
}

/// Why adaptation could not run.
#[derive(Debug, thiserror::Error)]
pub enum AdaptError {
    #[error("not enough rated feedback: {negative} negative and {positive} positive rows (need {min} of each)")]
    TooFewRows { negative: usize, positive: usize, min: usize },
    #[error(transparent)]
    Model(#[from] InferenceError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Data(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AdaptError + '_ {
    move |source| AdaptError::Io { path: path.to_owned(), source }
}

/// A labelled evaluation set: texts and gold sentiment ids.
struct EvalSet {
    texts: Vec<String>,
    gold: Vec<usize>,
}

/// The committed held-out samples (`sentiment-<source>.tsv`: `labels \t text`) and the
/// challenge set's sentiment rows, by name.
fn elsewhere_sets(dir: &Path) -> Result<BTreeMap<String, EvalSet>, AdaptError> {
    let mut sets = BTreeMap::new();
    let entries = std::fs::read_dir(dir).map_err(io(dir))?;
    for entry in entries {
        let path = entry.map_err(io(dir))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
        let Some(source) = name.strip_prefix("sentiment-").and_then(|n| n.strip_suffix(".tsv")) else { continue };
        let content = std::fs::read_to_string(&path).map_err(io(&path))?;
        let mut set = EvalSet { texts: Vec::new(), gold: Vec::new() };
        for (labels, text) in content.lines().filter_map(|l| l.split_once('\t')) {
            if let Some(label) = labels.split(',').next().and_then(|l| l.parse::<usize>().ok()).filter(|l| *l < 3) {
                set.texts.push(text.to_owned());
                set.gold.push(label);
            }
        }
        sets.insert(source.to_owned(), set);
    }
    let challenge =
        challenge_set(&dir.join("challenge.tsv"), &EMOTION_LABELS).map_err(|e| AdaptError::Data(e.to_string()))?;
    let (texts, gold) =
        challenge.into_iter().filter(|e| e.task == Task::Sentiment).map(|e| (e.text, e.labels[0])).unzip();
    sets.insert("challenge".to_owned(), EvalSet { texts, gold });
    if sets.len() < 2 {
        return Err(AdaptError::Data(format!("{}: no sentiment-*.tsv samples", dir.display())));
    }
    Ok(sets)
}

/// The model's `replay.txt` (training texts of its sources, written by `train`); empty when
/// the model has none.
fn read_replay(heads_dir: &Path) -> Result<Vec<String>, AdaptError> {
    let path = heads_dir.join("replay.txt");
    match std::fs::read_to_string(&path) {
        Ok(s) => Ok(s.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(AdaptError::Io { path, source: e }),
    }
}

/// Embeddings `[n, d]` of `texts` with the analyzer's (tuned) encoder.
fn embed(analyzer: &Analyzer, texts: &[String]) -> Result<Tensor, AdaptError> {
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let mut rows = Vec::with_capacity(texts.len());
    for chunk in refs.chunks(256) {
        rows.extend(analyzer.analyze(chunk)?.into_iter().map(|a| a.embedding));
    }
    let d = rows.first().map_or(0, Vec::len);
    let flat: Vec<f32> = rows.into_iter().flatten().collect();
    Ok(Tensor::from_vec(flat, (texts.len(), d), &Device::Cpu).map_err(InferenceError::from)?)
}

fn macro_f1(head: &Head, x: &Tensor, gold: &[usize]) -> Result<f64, AdaptError> {
    let gold: Vec<Vec<usize>> = gold.iter().map(|g| vec![*g]).collect();
    Ok(evaluate(&SENTIMENT_LABELS, &gold, &predict(head, x)?).macro_f1)
}

/// Adapts the model in `cfg.heads_dir` to `rated` feedback; see the module documentation.
pub fn adapt(cfg: &AdaptConfig, rated: &[RatedText]) -> Result<AdaptReport, AdaptError> {
    let mut train = EvalSet { texts: Vec::new(), gold: Vec::new() };
    let mut held = EvalSet { texts: Vec::new(), gold: Vec::new() };
    // Training texts without a weak label (three stars, passive NPS): they keep the starting
    // head's answers as soft targets (learning without forgetting).
    let mut unlabelled = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for r in rated {
        let text = r.text.trim();
        if text.is_empty() || !seen.insert(text) {
            continue;
        }
        let Some(label) = weak_label(r) else {
            if split_of(text) == Split::Train {
                unlabelled.push(text.to_owned());
            }
            continue;
        };
        let part = if split_of(text) == Split::Train { &mut train } else { &mut held };
        part.texts.push(text.to_owned());
        part.gold.push(label);
    }
    let count = |c: usize| train.gold.iter().chain(&held.gold).filter(|g| **g == c).count();
    let (negative, positive) = (count(NEGATIVE), count(POSITIVE));
    if negative < cfg.min_per_class || positive < cfg.min_per_class {
        return Err(AdaptError::TooFewRows { negative, positive, min: cfg.min_per_class });
    }

    let analyzer = Analyzer::load(&cfg.model_dir, &cfg.heads_dir, 128, Batching::default())?;
    let heads_path = cfg.heads_dir.join("heads.safetensors");
    let mut tensors = load_tensors(&heads_path)?;
    let manifest_path = cfg.heads_dir.join("manifest.json");
    let manifest_text = std::fs::read_to_string(&manifest_path).map_err(io(&manifest_path))?;
    let mut manifest: serde_json::Value = serde_json::from_str(&manifest_text)
        .map_err(|e| AdaptError::Data(format!("{}: {e}", manifest_path.display())))?;
    let depth = manifest["heads"]["sentiment"]["depth"].as_u64().unwrap_or(2) as usize;
    let labels: Vec<String> = SENTIMENT_LABELS.iter().map(|s| (*s).to_owned()).collect();
    let start = Head::from_tensors("sentiment", labels, depth, &tensors)?;

    // Train: the weak labels balanced by class, plus the unlabelled texts and the model's
    // replay texts with the starting head's probabilities as targets (weight `keep` each),
    // pulled towards the start.
    let mut texts = train.texts.clone();
    texts.extend(unlabelled.iter().cloned());
    let gold: Vec<Vec<usize>> = train.gold.iter().map(|g| vec![*g]).collect();
    let sources = vec!["deployment"; gold.len()];
    let (mut y, mut w) = source_balanced_targets(&gold, &sources, SENTIMENT_LABELS.len());
    let replay = read_replay(&cfg.heads_dir)?;
    texts.extend(replay.iter().cloned());
    let x_train = embed(&analyzer, &texts)?;
    let kept = unlabelled.len() + replay.len();
    if kept > 0 {
        let rest = x_train.narrow(0, gold.len(), kept).map_err(InferenceError::from)?;
        let probs =
            start.probabilities(&rest)?.flatten_all().and_then(|t| t.to_vec1::<f32>()).map_err(InferenceError::from)?;
        y.extend(probs);
        w.extend(std::iter::repeat_n(cfg.keep as f32, kept));
    }
    // Every evaluation set embedded, and the starting head scored on it, once.
    let x_held = embed(&analyzer, &held.texts)?;
    let held_before = macro_f1(&start, &x_held, &held.gold)?;
    let mut others = Vec::new();
    for (name, set) in elsewhere_sets(&cfg.samples_dir)? {
        let x = embed(&analyzer, &set.texts)?;
        let before = macro_f1(&start, &x, &set.gold)?;
        others.push((name, x, set.gold, before));
    }

    // One candidate per anchor strength, from the loosest; the accepted one that does best on
    // the deployment's held-out feedback wins (ties: the more anchored one).
    let mut candidates = Vec::new();
    for &anchor in &cfg.anchors {
        let head = refit(&start, &x_train, (&y, &w), &cfg.fit, anchor)?;
        let deployment =
            Comparison { n: held.texts.len(), before: held_before, after: macro_f1(&head, &x_held, &held.gold)? };
        let mut reasons = Vec::new();
        if deployment.before < cfg.min_agreement {
            reasons.push(format!(
                "the ratings contradict the texts: the model in use agrees with them at macro-F1 {:.4} (< {}); is the scale read backwards, or do they rate something else?",
                deployment.before, cfg.min_agreement
            ));
        }
        if deployment.after < deployment.before + cfg.min_gain {
            reasons.push(format!(
                "not better on the deployment's held-out feedback: macro-F1 {:.4} → {:.4} (needs +{})",
                deployment.before, deployment.after, cfg.min_gain
            ));
        }
        let mut elsewhere = BTreeMap::new();
        for (name, x, gold, before) in &others {
            let c = Comparison { n: gold.len(), before: *before, after: macro_f1(&head, x, gold)? };
            if c.after < c.before - cfg.max_loss {
                reasons.push(format!(
                    "{name}: macro-F1 {:.4} → {:.4} (loses more than {})",
                    c.before, c.after, cfg.max_loss
                ));
            }
            elsewhere.insert(name.clone(), c);
        }
        candidates.push((Candidate { anchor, deployment, elsewhere, reasons }, head));
    }
    let best = candidates
        .iter()
        .enumerate()
        .filter(|(_, (c, _))| c.reasons.is_empty())
        .max_by(|(i, (a, _)), (j, (b, _))| a.deployment.after.total_cmp(&b.deployment.after).then(i.cmp(j)))
        .map(|(i, _)| i);
    // The report shows the chosen candidate, or (refused) the loosest one's figures.
    let shown = best.unwrap_or(0);
    let (chosen, adapted) = candidates.get(shown).ok_or_else(|| AdaptError::Data("no anchor strength given".into()))?;
    let from_version = analyzer.model().version.clone();
    let mut report = AdaptReport {
        rows: rated.len(),
        labelled: BTreeMap::from([
            (SENTIMENT_LABELS[NEGATIVE].to_owned(), negative),
            (SENTIMENT_LABELS[POSITIVE].to_owned(), positive),
        ]),
        train_rows: train.texts.len(),
        unlabelled_rows: unlabelled.len(),
        replay_rows: replay.len(),
        anchor: chosen.anchor,
        deployment: chosen.deployment.clone(),
        elsewhere: chosen.elsewhere.clone(),
        accepted: best.is_some(),
        reasons: if best.is_some() {
            Vec::new()
        } else {
            candidates
                .iter()
                .flat_map(|(c, _)| c.reasons.iter().map(move |r| format!("anchor {}: {r}", c.anchor)))
                .collect()
        },
        candidates: candidates.iter().map(|(c, _)| c.clone()).collect(),
        from_version,
        version: None,
        path: None,
    };
    if report.accepted {
        let (version, path) = write_version(cfg, &mut tensors, adapted, &mut manifest, &report)?;
        report.version = Some(version);
        report.path = Some(path);
    }
    Ok(report)
}

/// Writes the adapted model as `out_root/<version>/` (the start's tensors with the new
/// sentiment head, its manifest with an `adapted` block) and points `out_root/current` at it.
fn write_version(
    cfg: &AdaptConfig,
    tensors: &mut HashMap<String, Tensor>,
    head: &Head,
    manifest: &mut serde_json::Value,
    report: &AdaptReport,
) -> Result<(String, PathBuf), AdaptError> {
    tensors.retain(|k, _| !k.starts_with("sentiment."));
    std::fs::create_dir_all(&cfg.out_root).map_err(io(&cfg.out_root))?;
    let staging = cfg.out_root.join(format!(".staging-{}", std::process::id()));
    std::fs::create_dir_all(&staging).map_err(io(&staging))?;
    let heads_path = staging.join("heads.safetensors");
    save_heads(&[head], tensors, &heads_path)?;
    let version = file_sha256(&heads_path)?[..12].to_owned();
    manifest["adapted"] = serde_json::json!({
        "from_version": report.from_version,
        "weak_labels": "rating and CSAT 1-2 negative, 4-5 positive; NPS 0-4 negative, 9-10 positive; others and disagreements dropped",
        "head": "sentiment head refit (L2-SP towards the start; unlabelled texts keep the start's answers); encoder and emotion head unchanged",
        "params": {"fit": cfg.fit, "anchor": report.anchor, "anchors_tried": cfg.anchors, "min_gain": cfg.min_gain, "min_agreement": cfg.min_agreement, "keep": cfg.keep, "min_per_class": cfg.min_per_class, "max_loss": cfg.max_loss},
        "rows": report.rows,
        "labelled": report.labelled,
        "train_rows": report.train_rows,
        "unlabelled_rows": report.unlabelled_rows,
        "replay_rows": report.replay_rows,
        "deployment": report.deployment,
        "elsewhere": report.elsewhere,
    });
    let json = serde_json::to_string_pretty(manifest).map_err(|e| AdaptError::Data(e.to_string()))?;
    let manifest_path = staging.join("manifest.json");
    std::fs::write(&manifest_path, json + "\n").map_err(io(&manifest_path))?;
    // The training texts, and the lists the stored embeddings are filed in (the encoder is
    // the shipped one, so its embeddings stay in the same lists).
    for file in ["replay.txt", rtcx_schemas::embedding_lists::FILE] {
        let from = cfg.heads_dir.join(file);
        if from.exists() {
            std::fs::copy(&from, staging.join(file)).map_err(io(&from))?;
        }
    }
    let dir = cfg.out_root.join(&version);
    if dir.exists() {
        std::fs::remove_dir_all(&staging).map_err(io(&staging))?;
    } else {
        std::fs::rename(&staging, &dir).map_err(io(&dir))?;
    }
    // Move `current` atomically: a new link renamed over the old one.
    let link = cfg.out_root.join("current");
    let tmp = cfg.out_root.join(format!(".current-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&version, &tmp).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &link).map_err(io(&link))?;
    Ok((version, dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rated(rating: Option<u8>, csat: Option<u8>, nps: Option<u8>) -> RatedText {
        RatedText { text: "x".into(), rating, csat, nps }
    }

    #[test]
    fn weak_labels_follow_the_documented_mapping() {
        assert_eq!(weak_label(&rated(Some(1), None, None)), Some(NEGATIVE));
        assert_eq!(weak_label(&rated(Some(2), None, None)), Some(NEGATIVE));
        assert_eq!(weak_label(&rated(Some(3), None, None)), None, "three stars are mixed");
        assert_eq!(weak_label(&rated(Some(4), None, None)), Some(POSITIVE));
        assert_eq!(weak_label(&rated(None, Some(5), None)), Some(POSITIVE));
        assert_eq!(weak_label(&rated(None, None, Some(4))), Some(NEGATIVE));
        assert_eq!(weak_label(&rated(None, None, Some(6))), None, "a mild detractor says little");
        assert_eq!(weak_label(&rated(None, None, Some(9))), Some(POSITIVE));
        assert_eq!(weak_label(&rated(Some(5), None, Some(10))), Some(POSITIVE), "agreeing scores");
        assert_eq!(weak_label(&rated(Some(5), Some(1), None)), None, "disagreeing scores");
        assert_eq!(weak_label(&rated(Some(5), None, Some(7))), None, "a passive NPS disagrees with five stars");
        assert_eq!(weak_label(&rated(None, None, None)), None);
    }
}
