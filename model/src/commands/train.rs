//! `rtcx-model train`: trains the sentiment and emotion heads (and fine-tunes the encoder's
//! top layers) on the labelled sets in ../shared/data, evaluates them on the held-out parts
//! and writes the model folder ([`crate::training::train`]).

use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Folder with the labelled data sets (GoEmotions, brand-tweets, tweeteval, rt-polarity,
    /// customer-reviews).
    #[arg(long, default_value = "../shared/data")]
    pub data: PathBuf,
    /// Base encoder folder (Hugging Face layout).
    #[arg(long, env = "RTCX_MODEL_DIR")]
    pub model_dir: PathBuf,
    /// Where heads.safetensors and manifest.json are written.
    #[arg(long, default_value = "models/rtcx-heads")]
    pub out: PathBuf,
    /// Cache of computed embeddings.
    #[arg(long, default_value = "/var/cache/rtcx/embeddings")]
    pub cache: PathBuf,
    /// Also write ≤400-row held-out samples per source here (for the regression test).
    #[arg(long)]
    pub samples: Option<PathBuf>,
    /// The hand-written challenge set to evaluate (never trained on); empty to skip.
    #[arg(long, default_value = "model/tests/data/challenge.tsv")]
    pub challenge: PathBuf,
    /// Hidden layer width of both heads (0: linear heads).
    #[arg(long, default_value_t = 256)]
    pub hidden: usize,
    /// Training epochs.
    #[arg(long, default_value_t = 5)]
    pub epochs: usize,
    /// Learning rate (AdamW).
    #[arg(long, default_value_t = 0.003)]
    pub learning_rate: f64,
    /// Random seed (initialisation and shuffling).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Encoder batch size.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// How many of the encoder's top layers to fine-tune with the heads (0: heads only, on
    /// the frozen encoder).
    #[arg(long, default_value_t = 2)]
    pub tune_layers: usize,
    /// Fine-tuning epochs.
    #[arg(long, default_value_t = 2)]
    pub tune_epochs: usize,
    /// Fine-tuning batch size (texts per step).
    #[arg(long, default_value_t = 32)]
    pub tune_batch_size: usize,
    /// Peak learning rate of the tuned encoder layers.
    #[arg(long, default_value_t = 1.5e-4)]
    pub encoder_lr: f64,
    /// Peak learning rate of the heads while fine-tuning.
    #[arg(long, default_value_t = 5e-4)]
    pub head_lr: f64,
    /// Weight of the loss term keeping the tuned embeddings close (cosine) to the base
    /// encoder's, which topic matching relies on.
    #[arg(long, default_value_t = 0.5)]
    pub keep_similarity: f64,
    /// Checkpoint fine-tuning into this directory and resume from it: a stopped run started
    /// again with the same data and settings goes on from its last checkpoint (one with other
    /// data or settings is refused). Default: no checkpoints.
    #[arg(long)]
    pub tune_checkpoint: Option<PathBuf>,
    /// Minutes between fine-tuning checkpoints (one is also written after every epoch).
    #[arg(long, default_value_t = 10.0, value_parser = positive_minutes)]
    pub checkpoint_minutes: f64,
    /// Train on at most this many rows per source and class (chosen by a hash of the text;
    /// held-out parts unchanged): for quick, comparable experiments. Default: all.
    #[arg(long)]
    pub train_cap: Option<usize>,
    /// Three-star reviews: `skip` (not trained on; held out as neutral) or `neutral` (trained
    /// on as neutral).
    #[arg(long, value_enum, default_value = "skip")]
    pub three_stars: crate::training::datasets::ThreeStars,
    /// Train the sentiment head's output layer as an ordinal model (negative < neutral <
    /// positive: one direction, two thresholds); stored as an ordinary layer.
    #[arg(long)]
    pub ordinal_sentiment: bool,
    /// Also train on the support-intent sets (Banking77, Bitext) as weak sentiment labels:
    /// plain requests neutral, problem reports negative (docs/models.md, "Capacity and data
    /// study"; not in the shipped model).
    #[arg(long)]
    pub intents: bool,
    /// Leave a source out entirely (repeatable; e.g. intents-bitext): for ablations.
    #[arg(long)]
    pub exclude_source: Vec<String>,
}

/// Runs `train`.
pub fn run(t: TrainArgs) -> anyhow::Result<()> {
    use crate::training::finetune::TuneParams;
    use crate::training::fit::FitParams;
    use crate::training::train::{TrainConfig, train};
    let params = |epochs, ordinal| FitParams {
        hidden: if t.hidden == 0 { vec![] } else { vec![t.hidden] },
        epochs,
        batch_size: 256,
        learning_rate: t.learning_rate,
        weight_decay: 1e-4,
        seed: t.seed,
        ordinal,
    };
    let manifest = train(&TrainConfig {
        data_dir: t.data,
        model_dir: t.model_dir,
        out_dir: t.out.clone(),
        cache_dir: t.cache,
        samples_dir: t.samples,
        challenge: (!t.challenge.as_os_str().is_empty()).then_some(t.challenge),
        sentiment: params(t.epochs, t.ordinal_sentiment),
        emotion: params(t.epochs, false),
        tune: TuneParams {
            layers: t.tune_layers,
            epochs: t.tune_epochs,
            batch_size: t.tune_batch_size,
            encoder_lr: t.encoder_lr,
            head_lr: t.head_lr,
            weight_decay: 1e-4,
            keep_similarity: t.keep_similarity,
            seed: t.seed,
            checkpoint: t.tune_checkpoint,
            checkpoint_minutes: t.checkpoint_minutes,
        },
        batch_size: t.batch_size,
        train_cap: t.train_cap,
        data: crate::training::datasets::LoadOptions { three_stars: t.three_stars, intents: t.intents },
        exclude_sources: t.exclude_source,
    })?;
    for (k, m) in &manifest.metrics {
        println!("{k}: macro-F1 {:.4} accuracy {:.4} (n={})", m.macro_f1, m.accuracy, m.n);
    }
    println!("wrote {}", t.out.display());
    Ok(())
}

fn positive_minutes(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(m) if m.is_finite() && m > 0.0 => Ok(m),
        _ => Err(format!("expected a positive number of minutes, got {s:?}")),
    }
}
