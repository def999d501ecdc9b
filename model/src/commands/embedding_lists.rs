//! `rtcx-model embedding-lists`: trains the coarse quantiser that files stored embeddings into
//! lists for the search by meaning ([`rtcx_schemas::embedding_lists`]): spherical k-means over
//! the model's embeddings of customer messages, written beside the heads as
//! `embedding-lists.bin` (docs/models.md, "Finding feedback by meaning").
//!
//! From a corpus of texts (the shipped file), or with `--from-clickhouse` from a sample of the
//! deployment's own stored embeddings, so that its lists hold similar numbers of its rows; with
//! `--refile`, the stored rows are then filed again into the new lists (a mutation).

use std::path::PathBuf;

use anyhow::Context as _;
use rand::SeedableRng as _;
use rand::seq::SliceRandom as _;
use rtcx_inference::{Batching, ModelArgs};

use rtcx_schemas::embedding_lists::{EmbeddingLists, train};

#[derive(Debug, clap::Args)]
pub struct EmbeddingListsArgs {
    /// The shared data folder the corpus paths are relative to.
    #[arg(long, default_value = "../shared/data")]
    pub data: PathBuf,
    /// CSV files (with a `text` column) to learn the lists from. Banking77 is left out on
    /// purpose: the search benchmark stores and queries its messages.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "customer-reviews/amazon-alexa/reviews.csv,customer-reviews/pet-insurance-trustpilot/reviews.csv,customer-reviews/restaurant-app-reviews/reviews.csv,customer-reviews/womens-ecommerce-clothing/reviews.csv,topic-intents/bitext-customer-service/data.csv,topic-intents/cfpb-complaints-sample/data.csv"
    )]
    pub corpus: Vec<PathBuf>,
    /// Texts drawn (at random, all files together) to learn from.
    #[arg(long, default_value_t = 40_000)]
    pub texts: usize,
    /// Number of lists (k-means centroids).
    #[arg(long, default_value_t = 256)]
    pub lists: usize,
    /// k-means rounds.
    #[arg(long, default_value_t = 20)]
    pub iterations: usize,
    /// Seed of the draw and of the k-means seeding.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Where to write the quantiser (beside the heads it is used with).
    #[arg(long, default_value = "models/rtcx-heads/embedding-lists.bin")]
    pub out: PathBuf,
    /// Learn from `--texts` embeddings stored in ClickHouse's `feedback` (a reproducible sample)
    /// instead of embedding the corpus: lists that fit this deployment's feedback.
    #[arg(long)]
    pub from_clickhouse: bool,
    /// Then file every stored row of that embedding length into the new lists
    /// (`ALTER TABLE feedback UPDATE embedding_list`, waited for). Restart the processors and
    /// query-api with the new file first, so that new rows are filed alike.
    #[arg(long, requires = "from_clickhouse")]
    pub refile: bool,
    /// Hold this many of the vectors out of the lists and use them as queries: prints, for 8,
    /// 16, 32 and 64 probed lists, the recall@10 of the list search against the exact search
    /// over the other vectors (both on the int8 embeddings, as the API searches). Measures the
    /// lists on real messages (or, with `--from-clickhouse`, on the deployment's own).
    #[arg(long, default_value_t = 0)]
    pub recall: usize,
    #[command(flatten)]
    pub clickhouse: rtcx_service_kit::ClickHouseArgs,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// Reads the `text` column of every corpus file (non-empty texts only).
fn corpus_texts(a: &EmbeddingListsArgs) -> anyhow::Result<Vec<String>> {
    let mut texts = Vec::new();
    for file in &a.corpus {
        let path = a.data.join(file);
        let mut reader = csv::Reader::from_path(&path).with_context(|| format!("reading {}", path.display()))?;
        let column = reader
            .headers()
            .with_context(|| format!("{}: header", path.display()))?
            .iter()
            .position(|h| h == "text")
            .with_context(|| format!("{}: no `text` column", path.display()))?;
        let before = texts.len();
        for record in reader.records() {
            let record = record.with_context(|| format!("{}: a record", path.display()))?;
            if let Some(t) = record.get(column).map(str::trim).filter(|t| !t.is_empty()) {
                texts.push(t.to_owned());
            }
        }
        eprintln!("{}: {} texts", path.display(), texts.len() - before);
    }
    Ok(texts)
}

/// The model's embeddings of a random draw of `--texts` corpus texts.
fn corpus_vectors(a: &EmbeddingListsArgs) -> anyhow::Result<Vec<Vec<f32>>> {
    let mut texts = corpus_texts(a)?;
    texts.shuffle(&mut rand::rngs::StdRng::seed_from_u64(a.seed));
    texts.truncate(a.texts);
    let engine = a.model.load(Batching::default()).context("loading the model")?;
    let started = std::time::Instant::now();
    let mut vectors = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(256) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let analyses = engine.analyze(&refs).context("embedding the corpus")?;
        vectors.extend(analyses.into_iter().map(|a| a.embedding).filter(|e| !e.is_empty()));
    }
    anyhow::ensure!(!vectors.is_empty(), "the model gives no embeddings (the lexicon or the Hugging Face pair?)");
    eprintln!("embedded {} texts in {:.1} s", vectors.len(), started.elapsed().as_secs_f64());
    Ok(vectors)
}

/// A reproducible sample (by a hash of the id) of `limit` stored embeddings of the most common
/// length.
async fn stored_vectors(ch: &clickhouse::Client, limit: usize) -> anyhow::Result<Vec<Vec<f32>>> {
    let dim: Option<u64> = ch
        .query("SELECT length(embedding) AS d FROM feedback WHERE notEmpty(embedding) GROUP BY d ORDER BY count() DESC LIMIT 1")
        .fetch_optional()
        .await
        .context("reading the stored embeddings' length")?;
    let dim = dim.context("feedback holds no embeddings yet")?;
    let stored: Vec<Vec<i8>> = ch
        .query("SELECT embedding FROM feedback WHERE length(embedding) = ? ORDER BY cityHash64(id) LIMIT ?")
        .bind(dim)
        .bind(limit as u64)
        .fetch_all()
        .await
        .context("sampling the stored embeddings")?;
    Ok(stored.iter().map(|e| rtcx_schemas::embedding::dequantise(e)).collect())
}

/// The mutation that files every stored row of the lists' length into its nearest list, as
/// [`EmbeddingLists::file`] does: the argmax of the cosine with the unit centroids, written
/// into the statement (they are numbers computed here).
pub fn refile_sql(lists: &EmbeddingLists) -> String {
    let centroids: Vec<String> = (1..=lists.lists())
        .map(|l| {
            let c = lists.centroid(l as u16);
            let values: Vec<String> = c.iter().map(f32::to_string).collect();
            format!("[{}]", values.join(","))
        })
        .collect();
    format!(
        "ALTER TABLE feedback UPDATE embedding_list = toUInt16(arrayReduce('argMax', range(1, {n}), \
         arrayMap(c -> dotProduct(c, CAST(embedding, 'Array(Float32)')), [{c}]))) WHERE length(embedding) = {dim}",
        n = lists.lists() + 1,
        c = centroids.join(","),
        dim = lists.dim()
    )
}

/// For each number of probed lists, the mean share of a query's 10 nearest stored vectors
/// (exact search, cosine of the int8 embeddings) that the search over those lists finds: the
/// quantiser's recall, as `GET /v1/feedback/similar` would see it on these rows.
pub fn recall_at_10(
    lists: &EmbeddingLists,
    stored: &[Vec<f32>],
    queries: &[Vec<f32>],
    probes: &[usize],
) -> Vec<(usize, f64)> {
    use rtcx_schemas::embedding::{dequantise, quantise};
    use rtcx_topics::{dot, unit};
    let rows: Vec<(u16, Vec<f32>)> = stored
        .iter()
        .map(|v| {
            let q = quantise(v);
            (lists.file(&q), unit(dequantise(&q)))
        })
        .collect();
    let top10 = |scored: &mut Vec<(f32, usize)>| {
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        scored.truncate(10);
        scored.iter().map(|s| s.1).collect::<Vec<usize>>()
    };
    let mut found = vec![0.0; probes.len()];
    for query in queries {
        let q8 = quantise(query);
        let q = unit(dequantise(&q8));
        let scores: Vec<f32> = rows.iter().map(|(_, r)| dot(r, &q)).collect();
        let truth = top10(&mut scores.iter().copied().zip(0..).collect());
        for (i, &n) in probes.iter().enumerate() {
            let probed = lists.probes(&q8, n);
            let mut candidates: Vec<(f32, usize)> = rows
                .iter()
                .enumerate()
                .filter(|(_, (list, _))| probed.contains(list))
                .map(|(j, _)| (scores[j], j))
                .collect();
            let hits = top10(&mut candidates).iter().filter(|j| truth.contains(j)).count();
            found[i] += hits as f64 / truth.len().max(1) as f64;
        }
    }
    probes.iter().zip(found).map(|(&n, f)| (n, f / queries.len().max(1) as f64)).collect()
}

/// Runs `embedding-lists`.
pub fn run(a: EmbeddingListsArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let ch = a.clickhouse.client();
    let mut vectors = if a.from_clickhouse {
        let v = runtime.block_on(stored_vectors(&ch, a.texts))?;
        eprintln!("sampled {} stored embeddings", v.len());
        v
    } else {
        corpus_vectors(&a)?
    };
    // The queries are the last `--recall` vectors (the draw is already random).
    let queries = vectors.split_off(vectors.len().saturating_sub(a.recall));
    anyhow::ensure!(vectors.len() >= a.lists, "{} vectors for {} lists", vectors.len(), a.lists);
    let started = std::time::Instant::now();
    let lists = train(&vectors, a.lists, a.iterations, a.seed).context("k-means")?;
    let mut sizes = vec![0usize; lists.lists()];
    for v in &vectors {
        let l = lists.file(&rtcx_schemas::embedding::quantise(v));
        if l > 0 {
            sizes[usize::from(l) - 1] += 1;
        }
    }
    sizes.sort_unstable();
    eprintln!(
        "{} lists in {:.1} s; texts per list: min {}, median {}, max {}",
        lists.lists(),
        started.elapsed().as_secs_f64(),
        sizes[0],
        sizes[sizes.len() / 2],
        sizes[sizes.len() - 1]
    );
    std::fs::write(&a.out, lists.to_bytes()).with_context(|| format!("writing {}", a.out.display()))?;
    let back = EmbeddingLists::from_bytes(&std::fs::read(&a.out)?).context("reading back")?;
    anyhow::ensure!(back == lists, "the written file does not read back to the same lists");
    println!("wrote {} ({} lists × {} values)", a.out.display(), lists.lists(), lists.dim());
    if !queries.is_empty() {
        for (probes, recall) in recall_at_10(&lists, &vectors, &queries, &[8, 16, 32, 64]) {
            println!(
                "{probes} lists: recall@10 {recall:.3} against the exact search ({} queries, {} stored)",
                queries.len(),
                vectors.len()
            );
        }
    }
    if a.refile {
        let started = std::time::Instant::now();
        runtime
            .block_on(
                ch.with_setting("max_query_size", "67108864")
                    .with_setting("mutations_sync", "1")
                    .with_setting("max_execution_time", "0")
                    .query(&refile_sql(&lists))
                    .execute(),
            )
            .context("filing the stored rows into the new lists")?;
        println!("filed the stored rows again in {:.1} s", started.elapsed().as_secs_f64());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A unit-ish vector along `axis` of 8, with a small change that depends on `w`.
    fn near(axis: usize, w: usize) -> Vec<f32> {
        (0..8).map(|i| if i == axis { 1.0 } else { ((w * 7 + i * 3) % 11) as f32 / 50.0 }).collect()
    }

    #[test]
    fn recall_counts_the_true_neighbours_the_probed_lists_hold() {
        let lists = EmbeddingLists::from_centroids(&[near(0, 0), near(1, 0)]).expect("lists");
        // 5 rows near axis 0, 15 near axis 1: a query near axis 0 has those 5 and the 5 nearest
        // of the others as its 10 neighbours; its own list holds half of them.
        let stored: Vec<Vec<f32>> = (0..5).map(|w| near(0, w + 1)).chain((0..15).map(|w| near(1, w + 1))).collect();
        let query = vec![near(0, 30)];
        assert_eq!(lists.file(&rtcx_schemas::embedding::quantise(&query[0])), 1);
        let recall = recall_at_10(&lists, &stored, &query, &[1, 2]);
        assert_eq!(recall, vec![(1, 0.5), (2, 1.0)]);
        // No query, no recall to speak of (and no division by zero).
        assert_eq!(recall_at_10(&lists, &stored, &[], &[1]), vec![(1, 0.0)]);
    }
}
