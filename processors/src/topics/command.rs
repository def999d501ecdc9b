//! `rtcx-processors suggest-topics`: clusters recent feedback that no topic claimed and stores
//! the clusters as topic suggestions for an admin to accept (see [`super::suggest`]).

use anyhow::Context as _;

use crate::config::ModelArgs;

/// Settings of `suggest-topics`.
#[derive(Debug, clap::Args)]
pub struct SuggestArgs {
    /// Look at feedback of the last N days.
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    /// At most this many (most recent) texts.
    #[arg(long, default_value_t = 5_000)]
    pub limit: u64,
    /// Cosine similarity a text needs to join a cluster.
    #[arg(long, default_value_t = 0.55)]
    pub threshold: f32,
    /// Smallest cluster worth proposing.
    #[arg(long, default_value_t = 5)]
    pub min_size: usize,
    /// Most suggestions stored per run.
    #[arg(long, default_value_t = 10)]
    pub max_suggestions: usize,
    /// Print the suggestions without storing them.
    #[arg(long)]
    pub dry_run: bool,
    /// Postgres connection URL (where suggestions are stored).
    #[arg(long, env = "RTCX_POSTGRES_URL")]
    pub postgres_url: String,
    #[command(flatten)]
    pub clickhouse: rtcx_service_kit::ClickHouseArgs,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// One run: load (with the stored embeddings), embed what has none, cluster, print and
/// (unless `--dry-run`) store.
pub async fn run(a: SuggestArgs) -> anyhow::Result<()> {
    use crate::topics::suggest::{ClusterParams, load_unassigned, store_suggestions, suggest};

    let mut items = load_unassigned(&a.clickhouse.client(), a.days, a.limit).await?;
    let missing: Vec<usize> = (0..items.len()).filter(|&i| items[i].embedding.is_empty()).collect();
    tracing::info!(texts = items.len(), stored = items.len() - missing.len(), "embeddings read from ClickHouse");
    if !missing.is_empty() {
        // Only feedback stored without an embedding is run through the model again.
        let engine = a.model.load(crate::inference::Batching::default()).context("loading the model")?;
        let texts: Vec<&str> = missing.iter().map(|&i| items[i].text.as_str()).collect();
        let analyses = tokio::task::block_in_place(|| engine.analyze(&texts))?;
        for (&i, an) in missing.iter().zip(analyses) {
            items[i].embedding = an.embedding;
        }
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
