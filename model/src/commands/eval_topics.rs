//! `rtcx-model eval-topics`: measures topic assignment on labelled sets with hand-written
//! catalogues, without and with example messages (see [`crate::topic_eval`]).

use std::path::PathBuf;

use anyhow::Context as _;
use rtcx_inference::{Batching, Engine, ModelArgs};
use rtcx_topics::matcher::Settings;

use crate::topic_eval::{CatalogueFile, Embed, Protocol, TopicEvalError, render, render_topics, run_set};

#[derive(Debug, clap::Args)]
pub struct EvalTopicsArgs {
    /// The catalogue file: sets, their files and the topics written for them.
    #[arg(long, default_value = "model/tests/data/topics/catalogues.json")]
    pub catalogue: PathBuf,
    /// The shared data folder the sets' CSV paths are relative to.
    #[arg(long, default_value = "../shared/data")]
    pub data: PathBuf,
    /// Only these sets (by name; default: all).
    #[arg(long, value_delimiter = ',')]
    pub sets: Vec<String>,
    /// Example messages per topic to measure with (0: name, description and keywords only).
    #[arg(long, value_delimiter = ',', default_value = "0,5,20,100")]
    pub shots: Vec<usize>,
    /// Seed of the choice of examples.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Also measure the rule the matcher replaces (cosine ≥ 0.5 with the description).
    #[arg(long)]
    pub baseline: bool,
    /// Threshold of topics with too few examples to calibrate.
    #[arg(long, default_value_t = Settings::default().threshold)]
    pub threshold: f32,
    /// A runner-up within this much of the best score is assigned too.
    #[arg(long, default_value_t = Settings::default().margin)]
    pub margin: f32,
    /// Nearest examples averaged into a score.
    #[arg(long, default_value_t = Settings::default().neighbours)]
    pub neighbours: usize,
    /// Weight of the prototype against the nearest examples.
    #[arg(long, default_value_t = Settings::default().prototype_weight)]
    pub prototype_weight: f32,
    /// Lowest threshold calibration may choose.
    #[arg(long, default_value_t = Settings::default().floor)]
    pub floor: f32,
    /// Calibrate thresholds to keep this share of each topic's own examples (0: by best F1
    /// against the other topics' examples instead).
    #[arg(long, default_value_t = 0.9)]
    pub calibration_recall: f32,
    /// Choose between topics with a linear classifier over the examples (0: no, by score).
    #[arg(long, default_value_t = 1)]
    pub probe: u8,
    /// Probability margin of runner-ups with the classifier.
    #[arg(long, default_value_t = Settings::default().probe_margin)]
    pub probe_margin: f32,
    /// Also embed each topic's name and keywords on their own (0: only the whole profile).
    #[arg(long, default_value_t = 1)]
    pub phrasings: u8,
    /// Write every figure (per topic too) as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// Embeds with the configured model, as the pipeline does.
struct ModelEmbed(Engine);

impl Embed for ModelEmbed {
    fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, TopicEvalError> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(512) {
            let analyses = self.0.analyze(chunk).map_err(|e| TopicEvalError::Embed(e.to_string()))?;
            out.extend(analyses.into_iter().map(|a| a.embedding));
        }
        Ok(out)
    }
}

/// Runs `eval-topics`.
pub fn run(a: EvalTopicsArgs) -> anyhow::Result<()> {
    let catalogue = CatalogueFile::read(&a.catalogue)?;
    let catalogue_dir = a.catalogue.parent().map(PathBuf::from).unwrap_or_default();
    let engine = a.model.load(Batching::default()).context("loading the model")?;
    let model = engine.model();
    println!("model: {} {}", model.name, model.version);
    let mut embed = ModelEmbed(engine);
    let settings = Settings {
        threshold: a.threshold,
        margin: a.margin,
        neighbours: a.neighbours,
        prototype_weight: a.prototype_weight,
        floor: a.floor,
        calibration_recall: (a.calibration_recall > 0.0).then_some(a.calibration_recall),
        probe: (a.probe > 0).then_some(rtcx_topics::probe::ProbeSettings::default()),
        probe_margin: a.probe_margin,
        ..Settings::default()
    };
    let protocol =
        Protocol { shots: a.shots.clone(), seed: a.seed, settings, baseline: a.baseline, phrasings: a.phrasings > 0 };
    let mut results = Vec::new();
    let mut tables = String::new();
    for spec in catalogue.sets.iter().filter(|s| a.sets.is_empty() || a.sets.contains(&s.name)) {
        let rows = spec.rows(&a.data, &catalogue_dir)?;
        let measured = run_set(spec, &rows, &mut embed, &protocol)?;
        tables.push_str(&render_topics(spec, &measured));
        tables.push('\n');
        results.extend(measured);
    }
    anyhow::ensure!(!results.is_empty(), "no set matched --sets {:?}", a.sets);
    println!("settings: {}", serde_json::to_string(&settings)?);
    print!("{}\n{tables}", render(&results));
    if let Some(path) = &a.json {
        std::fs::write(path, serde_json::to_vec_pretty(&results)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
