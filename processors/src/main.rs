//! `rtcx-processors`: parses the command line and starts the stream service (`run`, the
//! default), a topic-suggestion run or the spike-detection tools. Training, evaluation and
//! benchmarking of the model are `rtcx-model`'s (the `model/` crate).

use anyhow::Context as _;
use clap::Parser;
use rtcx_processors::config::Config;
use rtcx_processors::detect::command::DetectArgs;
use rtcx_processors::topics::command::SuggestArgs;

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
    /// Cluster recent feedback that no topic claimed and store topic suggestions in Postgres.
    SuggestTopics(SuggestArgs),
    /// Spike detection from the command line: backtests and the synthetic benchmark.
    Detect(DetectArgs),
}

/// `rtcx-processors detect …` on its own: it needs none of the service's settings (the model
/// directory above all), which `Cli` requires.
#[derive(Debug, Parser)]
#[command(name = "rtcx-processors detect")]
struct DetectCli {
    #[command(flatten)]
    args: DetectArgs,
}

fn main() -> anyhow::Result<()> {
    if std::env::args_os().nth(1).is_some_and(|a| a == "detect") {
        return rtcx_processors::detect::command::run(DetectCli::parse_from(std::env::args_os().skip(1)).args);
    }
    let cli = Cli::parse();
    cli.run.log.init().context("invalid --log-level")?;
    let runtime = || tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting tokio");
    match cli.command {
        None | Some(Command::Run) => runtime()?.block_on(rtcx_processors::service::run(cli.run)),
        Some(Command::SuggestTopics(s)) => runtime()?.block_on(rtcx_processors::topics::command::run(s)),
        Some(Command::Detect(d)) => rtcx_processors::detect::command::run(d),
    }
}
