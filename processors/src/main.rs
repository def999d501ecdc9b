//! rtcx processors.
//!
//! Serves the operations endpoints (`/health/live`, `/health/ready` (ready when Kafka and
//! ClickHouse answer), `/metrics`); the inference engine and the stream pipeline arrive with
//! their issues.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use rtcx_service_kit::{HealthRegistry, checks, install_metrics_recorder, ops_router, serve};

/// rtcx processors: enrich customer feedback from Kafka and write it to ClickHouse.
#[derive(Debug, Parser)]
#[command(name = "rtcx-processors", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: Config,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Run the processor service (the default when no command is given).
    Run,
    /// Train the sentiment and emotion heads on ../shared/data and evaluate them.
    Train(TrainArgs),
    /// Analyze texts (arguments, or one per line on stdin) and print one JSON object per text.
    Analyze(AnalyzeArgs),
}

#[derive(Debug, clap::Args)]
struct AnalyzeArgs {
    /// Texts to analyze; without any, lines are read from stdin.
    texts: Vec<String>,
    /// Base encoder folder (Hugging Face layout).
    #[arg(long, env = "RTCX_MODEL_DIR")]
    model_dir: PathBuf,
    /// Folder with heads.safetensors and manifest.json.
    #[arg(long, env = "RTCX_HEADS_DIR", default_value = "processors/models/rtcx-heads")]
    heads_dir: PathBuf,
    /// Maximum sequence length in tokens (longer texts are truncated).
    #[arg(long, default_value_t = 128)]
    max_len: usize,
}

#[derive(Debug, clap::Args)]
struct TrainArgs {
    /// Folder with the labelled data sets (GoEmotions, brand-tweets, tweeteval, rt-polarity).
    #[arg(long, default_value = "../shared/data")]
    data: PathBuf,
    /// Base encoder folder (Hugging Face layout).
    #[arg(long, env = "RTCX_MODEL_DIR")]
    model_dir: PathBuf,
    /// Where heads.safetensors and manifest.json are written.
    #[arg(long, default_value = "processors/models/rtcx-heads")]
    out: PathBuf,
    /// Cache of computed embeddings.
    #[arg(long, default_value = "/var/cache/rtcx/embeddings")]
    cache: PathBuf,
    /// Also write ≤400-row held-out samples per source here (for the regression test).
    #[arg(long)]
    samples: Option<PathBuf>,
    /// Hidden layer width of both heads (0: linear heads).
    #[arg(long, default_value_t = 256)]
    hidden: usize,
    /// Training epochs.
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    /// Learning rate (AdamW).
    #[arg(long, default_value_t = 0.003)]
    learning_rate: f64,
    /// Random seed (initialisation and shuffling).
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Encoder batch size.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
}

#[derive(Debug, Clone, clap::Args)]
struct Config {
    /// Address of the operations HTTP server (health, metrics).
    #[arg(long, env = "RTCX_PROCESSORS_LISTEN", default_value = "127.0.0.1:9101")]
    listen: SocketAddr,
    /// Kafka bootstrap servers (comma-separated host:port).
    #[arg(long, env = "RTCX_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    kafka_brokers: String,
    #[command(flatten)]
    clickhouse: rtcx_service_kit::ClickHouseArgs,
    #[command(flatten)]
    log: rtcx_service_kit::LogArgs,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    cli.run.log.init().context("invalid --log-level")?;
    match cli.command {
        None | Some(Command::Run) => run(cli.run),
        Some(Command::Train(t)) => train(t),
        Some(Command::Analyze(a)) => analyze(a),
    }
}

fn analyze(a: AnalyzeArgs) -> anyhow::Result<()> {
    use std::io::{BufRead as _, Write as _};

    use rtcx_processors::inference::{Analyzer, Batching};
    use rtcx_processors::text::{key_phrases, language};

    let analyzer = Analyzer::load(&a.model_dir, &a.heads_dir, a.max_len, Batching::default())
        .context("loading the model (RTCX_MODEL_DIR, RTCX_HEADS_DIR)")?;
    let texts: Vec<String> = if a.texts.is_empty() {
        std::io::stdin().lock().lines().collect::<Result<_, _>>().context("reading stdin")?
    } else {
        a.texts
    };
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let results = analyzer.analyze(&refs)?;
    let mut out = std::io::stdout().lock();
    for (text, r) in texts.iter().zip(results) {
        let line = serde_json::json!({
            "text": text,
            "sentiment": r.sentiment,
            "emotions": r.emotions,
            "dominant_emotion": r.emotions.dominant(),
            "key_phrases": key_phrases::extract(text, 5),
            "language": language::detect(text, None),
            "model": analyzer.model(),
        });
        writeln!(out, "{line}")?;
    }
    Ok(())
}

fn train(t: TrainArgs) -> anyhow::Result<()> {
    use rtcx_processors::training::fit::FitParams;
    use rtcx_processors::training::train::{TrainConfig, train};
    let params = |epochs| FitParams {
        hidden: if t.hidden == 0 { vec![] } else { vec![t.hidden] },
        epochs,
        batch_size: 256,
        learning_rate: t.learning_rate,
        weight_decay: 1e-4,
        seed: t.seed,
    };
    let manifest = train(&TrainConfig {
        data_dir: t.data,
        model_dir: t.model_dir,
        out_dir: t.out.clone(),
        cache_dir: t.cache,
        samples_dir: t.samples,
        sentiment: params(t.epochs),
        emotion: params(t.epochs),
        batch_size: t.batch_size,
    })?;
    for (k, m) in &manifest.metrics {
        println!("{k}: macro-F1 {:.4} accuracy {:.4} (n={})", m.macro_f1, m.accuracy, m.n);
    }
    println!("wrote {}", t.out.display());
    Ok(())
}

#[tokio::main]
async fn run(cfg: Config) -> anyhow::Result<()> {
    let ch = cfg.clickhouse.client();
    let health = HealthRegistry::new()
        .with_fn("kafka", checks::kafka(&cfg.kafka_brokers).map_err(anyhow::Error::msg)?)
        .with_fn("clickhouse", checks::clickhouse(ch));
    tracing::info!(brokers = %cfg.kafka_brokers, clickhouse = %cfg.clickhouse.clickhouse_url, "rtcx-processors starting");
    serve(cfg.listen, ops_router(health, install_metrics_recorder())).await?;
    Ok(())
}
