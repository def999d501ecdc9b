//! `rtcx-model bench`: texts per second and batch latency of the configured model at several
//! batch sizes, on one instance or a pool of single-threaded workers.

use std::path::PathBuf;

use anyhow::Context as _;
use rtcx_inference::ModelArgs;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// File with one text per line (default: the committed TweetEval held-out sample).
    #[arg(long, default_value = "model/tests/data/sentiment-tweeteval.tsv")]
    pub texts: PathBuf,
    /// Batch sizes to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,8,16,32,64")]
    pub batch_sizes: Vec<usize>,
    /// Passes over the texts per batch size.
    #[arg(long, default_value_t = 2)]
    pub passes: usize,
    /// Model instances on their own threads (run with RAYON_NUM_THREADS=1 so that each
    /// computes on one core); 1 measures a single instance using candle's default threading.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// Runs `bench`.
pub fn run(b: BenchArgs) -> anyhow::Result<()> {
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
        let batching = rtcx_inference::Batching { max_batch: bs.max(1), max_tokens: usize::MAX };
        if b.workers > 1 {
            // Length-sorted batches of `bs` spread over `--workers` instances.
            let mut sorted: Vec<String> = texts.iter().map(|t| (*t).to_owned()).collect();
            sorted.sort_by_key(String::len);
            let model = b.model.clone();
            let pool = rtcx_inference::AnalyzerPool::start(b.workers, move || model.load(batching))?;
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
