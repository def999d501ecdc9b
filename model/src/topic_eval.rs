//! Evaluating topic assignment (`rtcx-model eval-topics`): hand-written catalogues (name,
//! description, keywords, as a user writes them) over labelled sets of customer messages,
//! with 0, 5, 20, 100… example messages per topic, and categories left out of the catalogue
//! so that "no topic" is measured too.
//!
//! The catalogue file (`model/tests/data/topics/catalogues.json`) names each set, its file,
//! which rows are scored (`eval_splits`; examples come from the other rows) and which of its
//! categories have no topic (`held_out`). Sets are the CSV files of ../shared/data/topic-intents
//! (`text`, `category`, `split`) or a TSV `label<TAB>text` (`none`: out of scope), whose rows
//! are all scored except those drawn as examples.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rtcx_topics::definition::{Embedded, TopicDefinition, phrasing_texts, profile_text};
use rtcx_topics::evaluate::{Report, evaluate};
use rtcx_topics::matcher::{Matcher, Settings};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Errors of the evaluation.
#[derive(Debug, thiserror::Error)]
pub enum TopicEvalError {
    #[error("{path}: {message}")]
    Data { path: PathBuf, message: String },
    #[error("embedding: {0}")]
    Embed(String),
}

fn data_error(path: &Path, message: impl Into<String>) -> TopicEvalError {
    TopicEvalError::Data { path: path.to_owned(), message: message.into() }
}

/// The catalogue file.
#[derive(Debug, Clone, Deserialize)]
pub struct CatalogueFile {
    pub sets: Vec<SetSpec>,
}

/// One labelled set and the catalogue written for it.
#[derive(Debug, Clone, Deserialize)]
pub struct SetSpec {
    pub name: String,
    /// A `.csv` relative to the data folder, or a `.tsv` relative to the catalogue file.
    pub path: PathBuf,
    /// CSV only: the `split` values scored.
    #[serde(default)]
    pub eval_splits: Vec<String>,
    /// Categories given no topic: their messages are out of scope.
    #[serde(default)]
    pub held_out: Vec<String>,
    pub topics: Vec<TopicSpec>,
}

/// A topic as a user writes it.
#[derive(Debug, Clone, Deserialize)]
pub struct TopicSpec {
    /// The set's category this topic stands for.
    pub label: String,
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub keywords: Vec<String>,
}

/// A labelled message: its topic index (`None`: out of scope), whether it is scored, and
/// its text.
#[derive(Debug, Clone)]
pub struct Row {
    pub topic: Option<usize>,
    /// True for rows scored; false for rows only examples are drawn from.
    pub scored: bool,
    pub text: String,
}

impl CatalogueFile {
    pub fn read(path: &Path) -> Result<Self, TopicEvalError> {
        let text = std::fs::read_to_string(path).map_err(|e| data_error(path, e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| data_error(path, e.to_string()))
    }
}

impl SetSpec {
    /// The set's rows; every category must be a topic's label or held out, so that no
    /// message is silently left out.
    pub fn rows(&self, data_dir: &Path, catalogue_dir: &Path) -> Result<Vec<Row>, TopicEvalError> {
        let index: HashMap<&str, usize> = self.topics.iter().enumerate().map(|(i, t)| (t.label.as_str(), i)).collect();
        let topic_of = |label: &str, path: &Path| -> Result<Option<usize>, TopicEvalError> {
            match index.get(label) {
                Some(&i) => Ok(Some(i)),
                None if label == "none" || self.held_out.iter().any(|h| h == label) => Ok(None),
                None => Err(data_error(path, format!("category {label:?} is neither a topic nor held out"))),
            }
        };
        let is_tsv = self.path.extension().is_some_and(|e| e == "tsv");
        let mut rows = Vec::new();
        if is_tsv {
            let path = catalogue_dir.join(&self.path);
            let text = std::fs::read_to_string(&path).map_err(|e| data_error(&path, e.to_string()))?;
            for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#')) {
                let (label, msg) = line
                    .split_once('\t')
                    .ok_or_else(|| data_error(&path, format!("line {}: expected label<TAB>text", n + 1)))?;
                rows.push(Row { topic: topic_of(label.trim(), &path)?, scored: true, text: msg.trim().to_owned() });
            }
        } else {
            let path = data_dir.join(&self.path);
            let mut reader = csv::Reader::from_path(&path).map_err(|e| data_error(&path, e.to_string()))?;
            let headers = reader.headers().map_err(|e| data_error(&path, e.to_string()))?.clone();
            let col = |name: &str| {
                headers.iter().position(|h| h == name).ok_or_else(|| data_error(&path, format!("no column {name:?}")))
            };
            let (text, category, split) = (col("text")?, col("category")?, col("split")?);
            for record in reader.records() {
                let r = record.map_err(|e| data_error(&path, e.to_string()))?;
                let field = |i: usize| r.get(i).unwrap_or_default();
                rows.push(Row {
                    topic: topic_of(field(category), &path)?,
                    scored: self.eval_splits.iter().any(|s| s == field(split)),
                    text: field(text).to_owned(),
                });
            }
        }
        if rows.iter().all(|r| !r.scored) {
            return Err(data_error(&self.path, "no row is scored (check eval_splits)"));
        }
        Ok(rows)
    }
}

/// One measured configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    pub set: String,
    /// "calibrated" (this matcher) or "fixed cosine 0.5" (the rule it replaces).
    pub method: String,
    /// Examples per topic asked for (fewer where the set has fewer).
    pub shots: usize,
    pub scored: usize,
    pub report: Report,
}

/// How a set is measured.
#[derive(Debug, Clone)]
pub struct Protocol {
    /// Examples per topic to measure with.
    pub shots: Vec<usize>,
    /// Seed of the choice of examples.
    pub seed: u64,
    pub settings: Settings,
    /// Also measure the rule the matcher replaces.
    pub baseline: bool,
    /// Embed each topic's name and keywords on their own too ([`TopicDefinition::phrasings`]).
    pub phrasings: bool,
}

/// What a protocol run needs besides the rows: how texts are embedded.
pub trait Embed {
    /// Unit-length embeddings of `texts`, in order.
    fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, TopicEvalError>;
}

/// Runs the protocol on one set: for each `shots`, the first `shots` rows of each topic
/// (in an order shuffled by `seed`) among those not scored (TSV sets: among all rows, which
/// then are not scored) become that topic's examples; every other scored row is matched.
/// With `baseline`, the rule the matcher replaces (keywords, or cosine ≥ 0.5 with the
/// description, every topic that passes) is measured too, without examples.
pub fn run_set(
    spec: &SetSpec,
    rows: &[Row],
    embed: &mut dyn Embed,
    protocol: &Protocol,
) -> Result<Vec<Measured>, TopicEvalError> {
    let Protocol { shots, seed, settings, baseline, phrasings: use_phrasings } = protocol.clone();
    let k = spec.topics.len();
    let max_shots = shots.iter().copied().max().unwrap_or(0);
    let tsv = rows.iter().all(|r| r.scored);
    // Example pools per topic, in a seeded order.
    let mut rng = StdRng::seed_from_u64(seed);
    let mut pools: Vec<Vec<usize>> = vec![Vec::new(); k];
    for (i, r) in rows.iter().enumerate() {
        if let Some(t) = r.topic
            && (tsv || !r.scored)
        {
            pools[t].push(i);
        }
    }
    for p in &mut pools {
        p.shuffle(&mut rng);
        p.truncate(max_shots + 1);
    }
    // Embed what is used: descriptions, scored rows, the pools' first `max_shots`.
    let mut wanted: Vec<usize> = rows.iter().enumerate().filter(|(_, r)| r.scored).map(|(i, _)| i).collect();
    wanted.extend(pools.iter().flatten().copied());
    wanted.sort_unstable();
    wanted.dedup();
    let texts: Vec<&str> = wanted.iter().map(|&i| rows[i].text.as_str()).collect();
    let vectors = embed.embed(&texts)?;
    let emb: HashMap<usize, Vec<f32>> = wanted.into_iter().zip(vectors).collect();
    let profiles: Vec<String> =
        spec.topics.iter().map(|t| profile_text(&t.name, &t.description, &t.keywords)).collect();
    let descriptions = embed.embed(&profiles.iter().map(String::as_str).collect::<Vec<_>>())?;
    let mut phrasings = Vec::new();
    for t in &spec.topics {
        let texts = phrasing_texts(&t.name, &t.keywords);
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        phrasings.push(if use_phrasings { embed.embed(&texts)? } else { Vec::new() });
    }

    let definitions = |n: usize| -> Vec<TopicDefinition> {
        spec.topics
            .iter()
            .enumerate()
            .map(|(t, topic)| TopicDefinition {
                id: Uuid::from_u128(t as u128),
                name: topic.name.clone(),
                keywords: topic.keywords.clone(),
                description: descriptions[t].clone(),
                phrasings: phrasings[t].clone(),
                examples: pools[t]
                    .iter()
                    .take(n)
                    .map(|&i| Embedded { id: Uuid::from_u128(i as u128), embedding: emb[&i].clone() })
                    .collect(),
                ..TopicDefinition::default()
            })
            .collect()
    };
    let measure = |matcher: &Matcher, n: usize, method: &str| -> Measured {
        let taken: std::collections::HashSet<usize> = pools.iter().flat_map(|p| p.iter().take(n).copied()).collect();
        let answers: Vec<(Option<usize>, Vec<usize>)> = rows
            .iter()
            .enumerate()
            .filter(|(i, r)| r.scored && !taken.contains(i))
            .map(|(i, r)| {
                let given = matcher.assign(&r.text, &emb[&i]);
                (r.topic, given.iter().filter_map(|a| usize::try_from(a.topic.as_u128()).ok()).collect())
            })
            .collect();
        Measured {
            set: spec.name.clone(),
            method: method.to_owned(),
            shots: n,
            scored: answers.len(),
            report: evaluate(k, &answers),
        }
    };
    let mut out = Vec::new();
    if baseline {
        let old = Settings {
            threshold: 0.5,
            margin: f32::INFINITY,
            min_calibration_examples: usize::MAX,
            probe: None,
            ..settings
        };
        let plain = definitions(0).into_iter().map(|d| TopicDefinition { phrasings: Vec::new(), ..d }).collect();
        out.push(measure(&Matcher::new(plain, old), 0, "fixed cosine 0.5"));
    }
    for &n in &shots {
        // A set whose rows are both examples and scored needs rows left over to score.
        if tsv && pools.iter().any(|p| p.len() <= n) {
            continue;
        }
        out.push(measure(&Matcher::new(definitions(n), settings), n, "calibrated"));
    }
    Ok(out)
}

/// The results as a Markdown table.
pub fn render(results: &[Measured]) -> String {
    let mut s = String::from(
        "| set | method | examples per topic | scored | macro-F1 | right topic given | precision | topics per message | \"no topic\" precision | out of scope given none |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for m in results {
        let r = &m.report;
        s.push_str(&format!(
            "| {} | {} | {} | {} | {:.3} | {:.3} | {:.3} | {:.2} | {:.3} | {:.3} |\n",
            m.set,
            m.method,
            m.shots,
            m.scored,
            r.macro_f1,
            r.hit_rate,
            r.precision,
            r.topics_per_message,
            r.no_topic.precision,
            r.no_topic.recall
        ));
    }
    s
}

/// Per-topic F1 of each configuration of one set, topics as rows.
pub fn render_topics(spec: &SetSpec, results: &[Measured]) -> String {
    let ours: Vec<&Measured> = results.iter().filter(|m| m.set == spec.name).collect();
    let mut s = format!("| {} topic |", spec.name);
    for m in &ours {
        s.push_str(&format!(" {} {} |", m.method, m.shots));
    }
    s.push('\n');
    s.push_str(&"|---".repeat(ours.len() + 1));
    s.push_str("|\n");
    let mut by_topic: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    for m in &ours {
        for (t, f) in m.report.per_topic.iter().enumerate() {
            by_topic.entry(t).or_default().push(f.f1);
        }
    }
    for (t, f1s) in by_topic {
        s.push_str(&format!("| {} |", spec.topics[t].name));
        for f in f1s {
            s.push_str(&format!(" {f:.3} |"));
        }
        s.push('\n');
    }
    s
}
