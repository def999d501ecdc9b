//! rtcx processors.
//!
//! `run` (the default) consumes the raw feedback topic, enriches each event (sentiment,
//! emotions, key phrases, language, topics), publishes it to the enriched topic and writes it
//! to ClickHouse, with the operations endpoints (`/health/live`, `/health/ready` (Kafka and
//! ClickHouse answer, writes succeed), `/metrics`). The other commands train, evaluate and
//! benchmark the models and propose new topics.

use std::net::SocketAddr;
use std::path::PathBuf;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context as _;
use clap::Parser;
use rtcx_processors::config::{ModelArgs, PipelineArgs};
use rtcx_service_kit::{HealthRegistry, checks, install_metrics_recorder, ops_router, serve};

/// Inference allocates and frees activation buffers of hundreds of KiB per layer and batch;
/// glibc maps and unmaps them each time (page faults and zeroing were ~8 % of a profile), while
/// mimalloc reuses them (+16 % texts/s measured, docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// rtcx processors: enrich customer feedback from Kafka and write it to ClickHouse.
#[derive(Debug, Parser)]
#[command(name = "rtcx-processors", version, subcommand_negates_reqs = true)]
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
    /// Score a labelled file: accuracy, macro-F1, per-class F1, confusion matrix.
    Eval(EvalArgs),
    /// Adapt the sentiment head to this deployment's rated feedback (ratings, CSAT, NPS as
    /// weak labels); writes a new model version only if it is better on that feedback and
    /// no worse elsewhere. Exit status 0: accepted, 3: refused.
    Adapt(AdaptArgs),
    /// Measure throughput and latency at several batch sizes.
    Bench(BenchArgs),
    /// Cluster recent feedback that no topic claimed and store topic suggestions in Postgres.
    SuggestTopics(SuggestArgs),
    /// Spike detection from the command line: backtests and the synthetic benchmark.
    Detect(rtcx_processors::detect::command::DetectArgs),
}

#[derive(Debug, clap::Args)]
struct SuggestArgs {
    /// Look at feedback of the last N days.
    #[arg(long, default_value_t = 7)]
    days: u32,
    /// At most this many (most recent) texts.
    #[arg(long, default_value_t = 5_000)]
    limit: u64,
    /// Cosine similarity a text needs to join a cluster.
    #[arg(long, default_value_t = 0.55)]
    threshold: f32,
    /// Smallest cluster worth proposing.
    #[arg(long, default_value_t = 5)]
    min_size: usize,
    /// Most suggestions stored per run.
    #[arg(long, default_value_t = 10)]
    max_suggestions: usize,
    /// Print the suggestions without storing them.
    #[arg(long)]
    dry_run: bool,
    /// Postgres connection URL (where suggestions are stored).
    #[arg(long, env = "RTCX_POSTGRES_URL")]
    postgres_url: String,
    #[command(flatten)]
    clickhouse: rtcx_service_kit::ClickHouseArgs,
    #[command(flatten)]
    model: ModelArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum EvalFormat {
    /// GoEmotions TSV with Ekman labels: `text \t ids \t comment id` (emotion).
    Goemotions,
    /// `labels \t text`, labels as ids or names, comma-separated (task from --task).
    TsvLabel,
    /// The hand-written challenge set (`processors/tests/data/challenge.tsv`; task from --task).
    Challenge,
    /// A customer-review set's `reviews.csv` (../shared/data/customer-reviews): its `test`
    /// rows, 1–2 stars negative, 3 neutral, 4–5 positive (sentiment).
    Reviews,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum EvalTask {
    Sentiment,
    Emotion,
}

#[derive(Debug, clap::Args)]
struct EvalArgs {
    /// The labelled file.
    #[arg(long)]
    data: PathBuf,
    #[arg(long, value_enum)]
    format: EvalFormat,
    /// Which head to score (tsv-label; goemotions is always emotion).
    #[arg(long, value_enum, default_value = "sentiment")]
    task: EvalTask,
    #[command(flatten)]
    model: ModelArgs,
}

#[derive(Debug, clap::Args)]
struct BenchArgs {
    /// File with one text per line (default: the committed TweetEval held-out sample).
    #[arg(long, default_value = "processors/tests/data/sentiment-tweeteval.tsv")]
    texts: PathBuf,
    /// Batch sizes to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,8,16,32,64")]
    batch_sizes: Vec<usize>,
    /// Passes over the texts per batch size.
    #[arg(long, default_value_t = 2)]
    passes: usize,
    /// Model instances on their own threads (run with RAYON_NUM_THREADS=1 so that each
    /// computes on one core); 1 measures a single instance using candle's default threading.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    #[command(flatten)]
    model: ModelArgs,
}

#[derive(Debug, clap::Args)]
struct AnalyzeArgs {
    /// Texts to analyze; without any, lines are read from stdin.
    texts: Vec<String>,
    #[command(flatten)]
    model: ModelArgs,
}

#[derive(Debug, clap::Args)]
struct TrainArgs {
    /// Folder with the labelled data sets (GoEmotions, brand-tweets, tweeteval, rt-polarity,
    /// customer-reviews).
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
    /// The hand-written challenge set to evaluate (never trained on); empty to skip.
    #[arg(long, default_value = "processors/tests/data/challenge.tsv")]
    challenge: PathBuf,
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
    /// How many of the encoder's top layers to fine-tune with the heads (0: heads only, on
    /// the frozen encoder).
    #[arg(long, default_value_t = 2)]
    tune_layers: usize,
    /// Fine-tuning epochs.
    #[arg(long, default_value_t = 2)]
    tune_epochs: usize,
    /// Fine-tuning batch size (texts per step).
    #[arg(long, default_value_t = 32)]
    tune_batch_size: usize,
    /// Peak learning rate of the tuned encoder layers.
    #[arg(long, default_value_t = 1.5e-4)]
    encoder_lr: f64,
    /// Peak learning rate of the heads while fine-tuning.
    #[arg(long, default_value_t = 5e-4)]
    head_lr: f64,
    /// Weight of the loss term keeping the tuned embeddings close (cosine) to the base
    /// encoder's, which topic matching relies on.
    #[arg(long, default_value_t = 0.5)]
    keep_similarity: f64,
    /// Train on at most this many rows per source and class (chosen by a hash of the text;
    /// held-out parts unchanged): for quick, comparable experiments. Default: all.
    #[arg(long)]
    train_cap: Option<usize>,
    /// Three-star reviews: `skip` (not trained on; held out as neutral) or `neutral` (trained
    /// on as neutral).
    #[arg(long, value_enum, default_value = "skip")]
    three_stars: rtcx_processors::training::datasets::ThreeStars,
    /// Train the sentiment head's output layer as an ordinal model (negative < neutral <
    /// positive: one direction, two thresholds); stored as an ordinary layer.
    #[arg(long)]
    ordinal_sentiment: bool,
    /// Also train on the support-intent sets (Banking77, Bitext) as weak sentiment labels:
    /// plain requests neutral, problem reports negative (docs/models.md, "Capacity and data
    /// study"; not in the shipped model).
    #[arg(long)]
    intents: bool,
    /// Leave a source out entirely (repeatable; e.g. intents-bitext): for ablations.
    #[arg(long)]
    exclude_source: Vec<String>,
}

#[derive(Debug, clap::Args)]
struct AdaptArgs {
    /// Feedback that occurred at or after this time (RFC 3339, e.g. 2026-11-01T00:00:00Z).
    #[arg(long)]
    from: String,
    /// Feedback that occurred before this time (RFC 3339); default: now.
    #[arg(long)]
    to: Option<String>,
    /// Read at most this many rated rows (the most recent).
    #[arg(long, default_value_t = 200_000)]
    limit: u64,
    /// Fewest weakly labelled rows of each class (negative, positive) needed.
    #[arg(long, default_value_t = 200)]
    min_per_class: usize,
    /// The model in use, the starting point (heads.safetensors, manifest.json).
    #[arg(long, env = "RTCX_HEADS_DIR", default_value = "processors/models/rtcx-heads")]
    heads_dir: PathBuf,
    /// Base encoder folder (Hugging Face layout).
    #[arg(long, env = "RTCX_MODEL_DIR")]
    model_dir: PathBuf,
    /// Versions are written to OUT/<version>/ and OUT/current points at the accepted one
    /// (point RTCX_HEADS_DIR at OUT/current; the processors load it on restart).
    #[arg(long, default_value = "/var/lib/rtcx/models")]
    out: PathBuf,
    /// Committed held-out samples (sentiment-*.tsv) and challenge.tsv: the "elsewhere" sets.
    #[arg(long, default_value = "processors/tests/data")]
    samples: PathBuf,
    /// The most macro-F1 any other evaluation set may lose.
    #[arg(long, default_value_t = 0.01)]
    max_loss: f64,
    /// The least macro-F1 the new head must gain on the deployment's held-out feedback.
    #[arg(long, default_value_t = 0.02)]
    min_gain: f64,
    /// Refuse ratings the model in use agrees with below this macro-F1 (they look unrelated to
    /// the texts, e.g. a scale read backwards).
    #[arg(long, default_value_t = 0.4)]
    min_agreement: f64,
    /// Head training epochs.
    #[arg(long, default_value_t = 4)]
    epochs: usize,
    /// Head learning rate (AdamW).
    #[arg(long, default_value_t = 0.0003)]
    learning_rate: f64,
    /// Strengths of the pull towards the starting head's weights (L2-SP) to try, comma-
    /// separated; the accepted candidate best on the deployment's feedback is kept.
    #[arg(long, value_delimiter = ',', default_value = "0.1,0.3,1")]
    anchor: Vec<f64>,
    /// Weight of each rated text without a weak label (three stars, passive NPS), trained to
    /// keep the model's current answer.
    #[arg(long, default_value_t = 1.0)]
    keep: f64,
    /// Random seed (shuffling).
    #[arg(long, default_value_t = 7)]
    seed: u64,
    #[command(flatten)]
    clickhouse: rtcx_service_kit::ClickHouseArgs,
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
    /// Postgres connection URL (topic catalogue, event-time watermarks, alerts); without it
    /// no topics are assigned and no alerts evaluated.
    #[arg(long, env = "RTCX_POSTGRES_URL")]
    postgres_url: Option<String>,
    #[command(flatten)]
    pipeline: PipelineArgs,
    #[command(flatten)]
    alerts: rtcx_processors::config::AlertArgs,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    log: rtcx_service_kit::LogArgs,
}

/// `rtcx-processors detect …` on its own: it needs none of the service's settings (the model
/// directory above all), which `Cli` requires.
#[derive(Debug, Parser)]
#[command(name = "rtcx-processors detect")]
struct DetectCli {
    #[command(flatten)]
    args: rtcx_processors::detect::command::DetectArgs,
}

fn main() -> anyhow::Result<()> {
    if std::env::args_os().nth(1).is_some_and(|a| a == "detect") {
        return rtcx_processors::detect::command::run(DetectCli::parse_from(std::env::args_os().skip(1)).args);
    }
    let cli = Cli::parse();
    cli.run.log.init().context("invalid --log-level")?;
    match cli.command {
        None | Some(Command::Run) => run(cli.run),
        Some(Command::Train(t)) => train(t),
        Some(Command::Analyze(a)) => analyze(a),
        Some(Command::Eval(e)) => eval(e),
        Some(Command::Adapt(a)) => adapt(a),
        Some(Command::Bench(b)) => bench(b),
        Some(Command::SuggestTopics(s)) => suggest_topics(s),
        Some(Command::Detect(d)) => rtcx_processors::detect::command::run(d),
    }
}

fn eval(e: EvalArgs) -> anyhow::Result<()> {
    use rtcx_processors::training::metrics::evaluate;
    use rtcx_processors::training::train::{EMOTION_LABELS, SENTIMENT_LABELS};

    use rtcx_processors::training::datasets::{Split, Task, challenge_set, customer_reviews};

    let task = match e.format {
        EvalFormat::Goemotions => EvalTask::Emotion,
        EvalFormat::Reviews => EvalTask::Sentiment,
        _ => e.task,
    };
    let labels: &[&str] = if task == EvalTask::Sentiment { &SENTIMENT_LABELS } else { &EMOTION_LABELS };
    let mut texts = Vec::new();
    let mut gold = Vec::new();
    let examples = match e.format {
        EvalFormat::Challenge => challenge_set(&e.data, &EMOTION_LABELS)?,
        EvalFormat::Reviews => customer_reviews(&e.data, "reviews", Default::default())?,
        _ => Vec::new(),
    };
    let want = if task == EvalTask::Sentiment { Task::Sentiment } else { Task::Emotion };
    for x in examples.into_iter().filter(|x| x.task == want && x.split == Split::Holdout) {
        texts.push(x.text);
        gold.push(x.labels);
    }
    let content = match e.format {
        EvalFormat::Goemotions | EvalFormat::TsvLabel => {
            std::fs::read_to_string(&e.data).with_context(|| format!("reading {}", e.data.display()))?
        }
        _ => String::new(),
    };
    for (n, line) in content.lines().enumerate() {
        let cols: Vec<&str> = line.split('\t').collect();
        let (text, label_col) = match (e.format, cols.as_slice()) {
            (EvalFormat::Goemotions, [t, ids, ..]) => (*t, *ids),
            (EvalFormat::TsvLabel, [ids, t, ..]) => (*t, *ids),
            (EvalFormat::Challenge | EvalFormat::Reviews, _) => continue,
            _ => anyhow::bail!("{}:{}: expected at least two tab-separated columns", e.data.display(), n + 1),
        };
        // A label the task does not have is an error, not a row quietly left out.
        let mut g: Vec<usize> = Vec::new();
        for l in label_col.split(',').map(str::trim).filter(|l| !l.is_empty()) {
            let c = l.parse::<usize>().ok().or_else(|| labels.iter().position(|x| x.eq_ignore_ascii_case(l)));
            match c {
                Some(c) if c < labels.len() => g.push(c),
                _ => anyhow::bail!(
                    "{}:{}: label {l:?} is not one of {labels:?} (or their indices)",
                    e.data.display(),
                    n + 1
                ),
            }
        }
        if !g.is_empty() {
            texts.push(text.to_owned());
            gold.push(g);
        }
    }
    anyhow::ensure!(!texts.is_empty(), "no labelled rows in {}", e.data.display());
    let analyzer = e.model.load(rtcx_processors::inference::Batching::default()).context("loading the model")?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let results = analyzer.analyze(&refs)?;
    // A prediction that maps to no label of the task is refused, never counted as a class.
    let predicted: Vec<usize> = results
        .iter()
        .map(|r| match task {
            EvalTask::Sentiment => {
                rtcx_schemas::SentimentLabel::ALL.iter().position(|l| *l == r.sentiment.label).ok_or_else(|| {
                    anyhow::anyhow!("the model predicted {:?}, which is not a sentiment label", r.sentiment.label)
                })
            }
            EvalTask::Emotion => {
                let p = r.emotions.to_array();
                (0..p.len())
                    .max_by(|&a, &b| p[a].total_cmp(&p[b]))
                    .ok_or_else(|| anyhow::anyhow!("the model gave no emotion probabilities"))
            }
        })
        .collect::<anyhow::Result<_>>()?;
    let model = analyzer.model();
    println!("model: {} {}", model.name, model.version);
    let report = evaluate(labels, &gold, &predicted);
    print!("{}", report.render(&format!("{} ({:?})", e.data.display(), task).to_lowercase()));
    if e.format == EvalFormat::Reviews {
        // Without the three-star rows: how the 1–2 and 4–5-star reviews are read.
        let polar: Vec<usize> = (0..gold.len()).filter(|&i| gold[i] != [1]).collect();
        let g: Vec<Vec<usize>> = polar.iter().map(|&i| gold[i].clone()).collect();
        let p: Vec<usize> = polar.iter().map(|&i| predicted[i]).collect();
        let r = evaluate(labels, &g, &p);
        let recall = |c: usize| r.classes[c].recall;
        println!(
            "without 3-star reviews: n={} macro-F1={:.4}; 1–2 stars called negative {:.4}, 4–5 stars called positive {:.4}",
            r.n,
            r.macro_f1,
            recall(0),
            recall(2)
        );
    }
    Ok(())
}

fn bench(b: BenchArgs) -> anyhow::Result<()> {
    use std::time::Instant;

    let content = std::fs::read_to_string(&b.texts).with_context(|| format!("reading {}", b.texts.display()))?;
    // A `labels \t text` file contributes its text column; a plain file, whole lines.
    let texts: Vec<&str> =
        content.lines().map(|l| l.split_once('\t').map(|(_, t)| t).unwrap_or(l)).filter(|t| !t.is_empty()).collect();
    anyhow::ensure!(!texts.is_empty(), "no texts in {}", b.texts.display());
    println!(
        "{} texts, {} passes per batch size, {} threads",
        texts.len(),
        b.passes,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    println!("| batch | texts/s (length-sorted) | batch latency p50 ms (arrival order) | p99 ms |");
    println!("|---|---|---|---|");
    for &bs in &b.batch_sizes {
        let batching = rtcx_processors::inference::Batching { max_batch: bs.max(1), max_tokens: usize::MAX };
        if b.workers > 1 {
            // Length-sorted batches of `bs` spread over `--workers` instances.
            let mut sorted: Vec<String> = texts.iter().map(|t| (*t).to_owned()).collect();
            sorted.sort_by_key(String::len);
            let model = b.model.clone();
            let pool = rtcx_processors::inference::AnalyzerPool::start(b.workers, move || model.load(batching))?;
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let started = Instant::now();
            rt.block_on(async {
                for _ in 0..b.passes {
                    let jobs = sorted.chunks(bs.max(1)).map(|c| pool.analyze(c.to_vec()));
                    for r in futures::future::join_all(jobs).await {
                        r?;
                    }
                }
                Ok::<_, anyhow::Error>(())
            })?;
            let secs = started.elapsed().as_secs_f64();
            println!("| {bs} ({} workers) | {:.1} | - | - |", b.workers, (texts.len() * b.passes) as f64 / secs);
            continue;
        }
        let analyzer = b.model.load(batching).context("loading the model")?;
        analyzer.analyze(&texts[..texts.len().min(32)])?; // warm-up
        // Throughput: the whole set at once, so the analyzer sorts by length and cuts batches
        // of `bs` (as the peers' "length-sorted batches" were measured).
        let started = Instant::now();
        for _ in 0..b.passes {
            analyzer.analyze(&texts)?;
        }
        let secs = started.elapsed().as_secs_f64();
        // Latency: one call per batch of `bs` texts in arrival order (unsorted).
        let mut lat = Vec::new();
        for chunk in texts.chunks(bs.max(1)) {
            let t0 = Instant::now();
            analyzer.analyze(chunk)?;
            lat.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
        lat.sort_by(f64::total_cmp);
        let q = |p: f64| lat[((lat.len() - 1) as f64 * p).round() as usize];
        println!("| {bs} | {:.1} | {:.2} | {:.2} |", (texts.len() * b.passes) as f64 / secs, q(0.5), q(0.99));
    }
    Ok(())
}

fn analyze(a: AnalyzeArgs) -> anyhow::Result<()> {
    use std::io::{BufRead as _, Write as _};

    use rtcx_processors::text::{key_phrases, language};

    let analyzer = a.model.load(rtcx_processors::inference::Batching::default()).context("loading the model")?;
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
    use rtcx_processors::training::finetune::TuneParams;
    use rtcx_processors::training::fit::FitParams;
    use rtcx_processors::training::train::{TrainConfig, train};
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
        },
        batch_size: t.batch_size,
        train_cap: t.train_cap,
        data: rtcx_processors::training::datasets::LoadOptions { three_stars: t.three_stars, intents: t.intents },
        exclude_sources: t.exclude_source,
    })?;
    for (k, m) in &manifest.metrics {
        println!("{k}: macro-F1 {:.4} accuracy {:.4} (n={})", m.macro_f1, m.accuracy, m.n);
    }
    println!("wrote {}", t.out.display());
    Ok(())
}

fn adapt(a: AdaptArgs) -> anyhow::Result<()> {
    use rtcx_processors::training::adapt::{AdaptConfig, adapt, fetch_rated};
    use rtcx_processors::training::fit::FitParams;
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

#[tokio::main]
async fn run(cfg: Config) -> anyhow::Result<()> {
    use rtcx_processors::inference::AnalyzerPool;
    use rtcx_processors::pipeline::{FeedbackStore, Pipeline};
    use rtcx_processors::topics::TopicCatalogue;

    cfg.pipeline.validate().map_err(anyhow::Error::msg)?;
    cfg.alerts.validate().map_err(anyhow::Error::msg)?;
    let metrics = install_metrics_recorder();
    let ch = cfg.clickhouse.client();
    let (model, batching, workers) = (cfg.model.clone(), cfg.pipeline.batching(), cfg.pipeline.workers());
    let pool = tokio::task::spawn_blocking(move || AnalyzerPool::start(workers, move || model.load(batching)))
        .await
        .context("starting the inference workers")??;
    tracing::info!(model = %pool.model().name, version = %pool.model().version, workers, "inference ready");
    let pg = match &cfg.postgres_url {
        Some(url) => Some(
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(4)
                .acquire_timeout(std::time::Duration::from_secs(5))
                .connect_lazy(url)
                .context("invalid RTCX_POSTGRES_URL")?,
        ),
        None => {
            tracing::warn!("no RTCX_POSTGRES_URL: feedback is not assigned to topics, no event-time watermarks");
            None
        }
    };
    let catalogue = pg.clone().map(|pg| Arc::new(TopicCatalogue::new(pg, cfg.pipeline.topic_threshold)));
    let watermarks = pg.clone().map(|pg| {
        rtcx_processors::pipeline::watermarks::WatermarkStore::new(pg, &cfg.pipeline.group_id, &cfg.pipeline.raw_topic)
    });
    let evaluator = match (&pg, &watermarks) {
        (Some(pg), Some(w)) if cfg.alerts.enabled => Some(
            rtcx_processors::detect::evaluator::Evaluator::new(
                format!("{}/{}", cfg.pipeline.group_id, cfg.pipeline.raw_topic),
                ch.clone(),
                pg.clone(),
                w.clone(),
                cfg.alerts.evaluator_params(),
            )
            .with_backlog(rtcx_processors::detect::backlog::KafkaBacklog::new(
                &cfg.kafka_brokers,
                &cfg.pipeline.group_id,
                &cfg.pipeline.raw_topic,
            )?),
        ),
        _ => None,
    };
    let pipeline = Pipeline::new(
        cfg.pipeline.pipeline_config(&cfg.kafka_brokers),
        Arc::new(pool),
        FeedbackStore::new(ch.clone()),
        catalogue,
        watermarks,
    )?;
    let status = pipeline.status();
    let health = HealthRegistry::new()
        .with_fn("kafka", checks::kafka(&cfg.kafka_brokers).map_err(anyhow::Error::msg)?)
        .with_fn("clickhouse", checks::clickhouse(ch))
        .with_fn("writes", move || -> rtcx_service_kit::health::CheckFuture {
            let ok = status.writes_ok.load(Ordering::SeqCst);
            Box::pin(async move { if ok { Ok(()) } else { Err("writes to ClickHouse or Kafka are failing".into()) } })
        });
    let ops = tokio::spawn(serve(cfg.listen, ops_router(health, metrics)));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        rtcx_service_kit::shutdown_signal().await;
        tracing::info!("shutdown requested: finishing the batch in hand");
        let _ = stop_tx.send(true);
    });
    if let Some(e) = evaluator {
        let relay =
            rtcx_processors::detect::relay::AlertRelay::new(e.pg.clone(), &cfg.kafka_brokers, &cfg.alerts.alerts_topic)
                .context("the alert relay's Kafka producer")?;
        // Every 250 ms: an indexed read of the due rows, and most of an alert's way to the
        // notifier (docs/benchmarks.md, "Alert notifications").
        tokio::spawn(relay.run(std::time::Duration::from_millis(250), stop_rx.clone()));
        tokio::spawn(e.run(stop_rx.clone()));
    }
    tracing::info!(brokers = %cfg.kafka_brokers, clickhouse = %cfg.clickhouse.clickhouse_url, "rtcx-processors starting");
    pipeline.run(stop_rx).await?;
    ops.abort();
    Ok(())
}

#[tokio::main]
async fn suggest_topics(a: SuggestArgs) -> anyhow::Result<()> {
    use rtcx_processors::topics::suggest::{ClusterParams, load_unassigned, store_suggestions, suggest};

    let engine = a.model.load(rtcx_processors::inference::Batching::default()).context("loading the model")?;
    let mut items = load_unassigned(&a.clickhouse.client(), a.days, a.limit).await?;
    let texts: Vec<&str> = items.iter().map(|i| i.text.as_str()).collect();
    let analyses = tokio::task::block_in_place(|| engine.analyze(&texts))?;
    for (item, an) in items.iter_mut().zip(analyses) {
        item.embedding = an.embedding;
    }
    anyhow::ensure!(
        items.iter().all(|i| !i.embedding.is_empty()) || items.is_empty(),
        "topic suggestions need the encoder model (embeddings); the lexicon has none"
    );
    let params = ClusterParams {
        threshold: a.threshold,
        min_size: a.min_size,
        max_suggestions: a.max_suggestions,
        ..ClusterParams::default()
    };
    let suggestions = suggest(&items, params);
    for s in &suggestions {
        println!(
            "{}",
            serde_json::json!({"label": s.label, "size": s.size, "key_phrases": s.key_phrases,
            "examples": s.examples.iter().map(|(_, t)| t).collect::<Vec<_>>()})
        );
    }
    if !a.dry_run {
        let pg = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&a.postgres_url)
            .await
            .context("connecting to Postgres")?;
        let n = store_suggestions(&pg, &suggestions).await?;
        tracing::info!(stored = n, examined = items.len(), "topic suggestions stored");
    }
    Ok(())
}
