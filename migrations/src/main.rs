//! `rtcx-migrate`: applies the Postgres and ClickHouse migrations and creates the Kafka topics.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use rtcx_migrations::ClickHouseMigrator;
use rtcx_service_kit::ClickHouseArgs;

/// Applies rtcx's database migrations (Postgres and ClickHouse).
#[derive(Debug, Parser)]
#[command(name = "rtcx-migrate", version)]
struct Cli {
    #[command(subcommand)]
    target: Target,
    #[command(flatten)]
    log: rtcx_service_kit::LogArgs,
}

#[derive(Debug, Subcommand)]
enum Target {
    /// Apply Postgres and ClickHouse migrations.
    All {
        #[command(flatten)]
        pg: PgArgs,
        #[command(flatten)]
        ch: ClickHouseArgs,
        #[command(flatten)]
        retention: RetentionArgs,
    },
    /// Apply Postgres migrations only.
    Postgres {
        #[command(flatten)]
        pg: PgArgs,
    },
    /// Apply ClickHouse migrations only.
    Clickhouse {
        #[command(flatten)]
        ch: ClickHouseArgs,
        #[command(flatten)]
        retention: RetentionArgs,
    },
    /// Create the Kafka topics that do not exist yet.
    Kafka {
        /// Kafka bootstrap servers.
        #[arg(long, env = "RTCX_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
        kafka_brokers: String,
        /// Replication factor of new topics.
        #[arg(long, env = "RTCX_KAFKA_REPLICATION", default_value_t = 1)]
        replication: i32,
        /// Create these topics (`name:partitions`, comma-separated) instead of rtcx's own
        /// (benchmarks and tests use throw-away topics).
        #[arg(long, value_delimiter = ',')]
        topics: Vec<String>,
    },
}

#[derive(Debug, clap::Args)]
struct RetentionArgs {
    /// Days to keep the raw feedback text and its embedding in ClickHouse (column TTLs: rows,
    /// scores and rollups stay); 0 keeps them forever.
    #[arg(long, env = "RTCX_TEXT_RETENTION_DAYS", default_value_t = 0)]
    text_retention_days: u32,
}

#[derive(Debug, clap::Args)]
struct PgArgs {
    /// Postgres connection URL.
    #[arg(long, env = "RTCX_POSTGRES_URL")]
    postgres_url: String,
}

async fn postgres(pg: &PgArgs) -> anyhow::Result<()> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect(&pg.postgres_url)
        .await
        .context("connecting to Postgres (RTCX_POSTGRES_URL)")?;
    let n = rtcx_migrations::postgres::migrate(&pool).await.context("applying Postgres migrations")?;
    tracing::info!(applied = n, "Postgres migrations up to date");
    Ok(())
}

async fn clickhouse(ch: &ClickHouseArgs, retention: &RetentionArgs) -> anyhow::Result<()> {
    let client = ch.server_client();
    let migrator = ClickHouseMigrator::new(client, &ch.clickhouse_database)?;
    let report = migrator.run().await?;
    tracing::info!(applied = ?report.applied, already_applied = report.skipped.len(), "ClickHouse migrations up to date");
    let days = Some(retention.text_retention_days).filter(|d| *d > 0);
    migrator.set_text_retention(days).await?;
    tracing::info!(text_retention_days = ?days, "raw text retention set");
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    cli.log.init().context("invalid --log-level")?;
    match &cli.target {
        Target::All { pg, ch, retention } => {
            postgres(pg).await?;
            clickhouse(ch, retention).await?;
        }
        Target::Postgres { pg } => postgres(pg).await?,
        Target::Clickhouse { ch, retention } => clickhouse(ch, retention).await?,
        Target::Kafka { kafka_brokers, replication, topics } => {
            let custom = topics
                .iter()
                .map(|t| match t.rsplit_once(':').map(|(n, p)| (n, p.parse::<i32>())) {
                    Some((name, Ok(partitions))) if !name.is_empty() && partitions > 0 => Ok((name, partitions)),
                    _ => Err(anyhow::anyhow!("--topics wants name:partitions, got {t:?}")),
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let wanted: &[(&str, i32)] = if custom.is_empty() { &rtcx_schemas::topics::ALL } else { &custom };
            let created = rtcx_migrations::kafka_topics::ensure_topics(kafka_brokers, wanted, *replication)
                .await
                .context("creating Kafka topics")?;
            tracing::info!(?created, "Kafka topics up to date");
        }
    }
    Ok(())
}
