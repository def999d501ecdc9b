//! `rtcx-model`: parses the command line and runs one command (train, eval, bench, analyze,
//! adapt) of the `rtcx-model` crate.

use anyhow::Context as _;
use clap::Parser;
use rtcx_model::commands::{adapt, analyze, bench, embedding_lists, eval, eval_topics, train};

/// As the processors: inference allocates and frees large activation buffers, which mimalloc
/// reuses (docs/benchmarks.md); `bench` measures what the service runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// rtcx-model: train, evaluate, benchmark and try out rtcx's sentiment and emotion model.
#[derive(Debug, Parser)]
#[command(name = "rtcx-model", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    log: rtcx_service_kit::LogArgs,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Train the sentiment and emotion heads on ../shared/data and evaluate them.
    Train(train::TrainArgs),
    /// Analyze texts (arguments, or one per line on stdin) and print one JSON object per text.
    Analyze(analyze::AnalyzeArgs),
    /// Score a labelled file: accuracy, macro-F1, per-class F1, confusion matrix.
    Eval(eval::EvalArgs),
    /// Measure topic assignment on labelled sets with hand-written catalogues, with 0, 5, 20,
    /// 100 example messages per topic (macro-F1, precision of "no topic").
    EvalTopics(eval_topics::EvalTopicsArgs),
    /// Adapt the sentiment head to this deployment's rated feedback (ratings, CSAT, NPS as
    /// weak labels); writes a new model version only if it is better on that feedback and
    /// no worse elsewhere. Exit status 0: accepted, 3: refused.
    Adapt(adapt::AdaptArgs),
    /// Measure throughput and latency at several batch sizes.
    Bench(bench::BenchArgs),
    /// Train the coarse quantiser (k-means lists) that similar-feedback search reads, and
    /// write it beside the heads.
    EmbeddingLists(embedding_lists::EmbeddingListsArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    cli.log.init().context("invalid --log-level")?;
    match cli.command {
        Command::Train(t) => train::run(t),
        Command::Analyze(a) => analyze::run(a),
        Command::Eval(e) => eval::run(e),
        Command::EvalTopics(e) => eval_topics::run(e),
        Command::Adapt(a) => adapt::run(a),
        Command::Bench(b) => bench::run(b),
        Command::EmbeddingLists(e) => embedding_lists::run(e),
    }
}
