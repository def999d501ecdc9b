//! `rtcx-model adapt`: reads the deployment's rated feedback from ClickHouse and adapts the
//! sentiment head to it ([`crate::training::adapt`]); exit status 0 accepted, 3 refused.

use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct AdaptArgs {
    /// Feedback that occurred at or after this time (RFC 3339, e.g. 2026-11-01T00:00:00Z).
    #[arg(long)]
    pub from: String,
    /// Feedback that occurred before this time (RFC 3339); default: now.
    #[arg(long)]
    pub to: Option<String>,
    /// Read at most this many rated rows (the most recent).
    #[arg(long, default_value_t = 200_000)]
    pub limit: u64,
    /// Fewest weakly labelled rows of each class (negative, positive) needed.
    #[arg(long, default_value_t = 200)]
    pub min_per_class: usize,
    /// The model in use, the starting point (heads.safetensors, manifest.json).
    #[arg(long, env = "RTCX_HEADS_DIR", default_value = "models/rtcx-heads")]
    pub heads_dir: PathBuf,
    /// Base encoder folder (Hugging Face layout).
    #[arg(long, env = "RTCX_MODEL_DIR")]
    pub model_dir: PathBuf,
    /// Versions are written to OUT/<version>/ and OUT/current points at the accepted one
    /// (point RTCX_HEADS_DIR at OUT/current; the processors load it on restart).
    #[arg(long, default_value = "/var/lib/rtcx/models")]
    pub out: PathBuf,
    /// Committed held-out samples (sentiment-*.tsv) and challenge.tsv: the "elsewhere" sets.
    #[arg(long, default_value = "model/tests/data")]
    pub samples: PathBuf,
    /// The most macro-F1 any other evaluation set may lose.
    #[arg(long, default_value_t = 0.01)]
    pub max_loss: f64,
    /// The least macro-F1 the new head must gain on the deployment's held-out feedback.
    #[arg(long, default_value_t = 0.02)]
    pub min_gain: f64,
    /// Refuse ratings the model in use agrees with below this macro-F1 (they look unrelated to
    /// the texts, e.g. a scale read backwards).
    #[arg(long, default_value_t = 0.4)]
    pub min_agreement: f64,
    /// Head training epochs.
    #[arg(long, default_value_t = 4)]
    pub epochs: usize,
    /// Head learning rate (AdamW).
    #[arg(long, default_value_t = 0.0003)]
    pub learning_rate: f64,
    /// Strengths of the pull towards the starting head's weights (L2-SP) to try, comma-
    /// separated; the accepted candidate best on the deployment's feedback is kept.
    #[arg(long, value_delimiter = ',', default_value = "0.1,0.3,1")]
    pub anchor: Vec<f64>,
    /// Weight of each rated text without a weak label (three stars, passive NPS), trained to
    /// keep the model's current answer.
    #[arg(long, default_value_t = 1.0)]
    pub keep: f64,
    /// Random seed (shuffling).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    #[command(flatten)]
    pub clickhouse: rtcx_service_kit::ClickHouseArgs,
}

/// Runs `adapt`.
pub fn run(a: AdaptArgs) -> anyhow::Result<()> {
    use crate::training::adapt::{AdaptConfig, adapt, fetch_rated};
    use crate::training::fit::FitParams;
    let to = a.to.clone().unwrap_or_else(|| chrono::Utc::now().to_rfc3339());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let rated = runtime.block_on(fetch_rated(&a.clickhouse.client(), &a.from, &to, a.limit))?;
    eprintln!("read {} rated feedback rows from {} to {to}", rated.len(), a.from);
    let cfg = AdaptConfig {
        model_dir: a.model_dir,
        heads_dir: a.heads_dir,
        out_root: a.out,
        samples_dir: a.samples,
        min_per_class: a.min_per_class,
        max_loss: a.max_loss,
        min_gain: a.min_gain,
        min_agreement: a.min_agreement,
        fit: FitParams {
            hidden: Vec::new(),
            epochs: a.epochs,
            batch_size: 64,
            learning_rate: a.learning_rate,
            weight_decay: 0.0,
            seed: a.seed,
            ordinal: false,
        },
        anchors: a.anchor,
        keep: a.keep,
    };
    let report = adapt(&cfg, &rated)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    if report.accepted {
        eprintln!("accepted: version {}", report.version.as_deref().unwrap_or("?"));
        Ok(())
    } else {
        eprintln!("refused: {}", report.reasons.join("; "));
        std::process::exit(3)
    }
}
