//! `rtcx-migrate`: applies the Postgres and ClickHouse migrations and creates the Kafka topics.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use rtcx_migrations::ClickHouseMigrator;

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
        ch: ChArgs,
    },
    /// Apply Postgres migrations only.
    Postgres {
        #[command(flatten)]
        pg: PgArgs,
    },
    /// Apply ClickHouse migrations only.
    Clickhouse {
        #[command(flatten)]
        ch: ChArgs,
    },
    /// Create the Kafka topics that do not exist yet.
    Kafka {
        /// Kafka bootstrap servers.
        #[arg(long, env = "RTCX_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
        kafka_brokers: String,
        /// Replication factor of new topics.
        #[arg(long, env = "RTCX_KAFKA_REPLICATION", default_value_t = 1)]
        replication: i32,
    },
}

#[derive(Debug, clap::Args)]
struct PgArgs {
    /// Postgres connection URL.
    #[arg(long, env = "RTCX_POSTGRES_URL")]
    postgres_url: String,
}

#[derive(Debug, clap::Args)]
struct ChArgs {
    /// ClickHouse HTTP URL.
    #[arg(long, env = "RTCX_CLICKHOUSE_URL", default_value = "http://127.0.0.1:8123")]
    clickhouse_url: String,
    /// ClickHouse database to create and migrate.
    #[arg(long, env = "RTCX_CLICKHOUSE_DATABASE", default_value = "rtcx")]
    clickhouse_database: String,
    /// ClickHouse user that runs the migrations.
    #[arg(long, env = "RTCX_CLICKHOUSE_USER", default_value = "default")]
    clickhouse_user: String,
    /// Password of that user.
    #[arg(long, env = "RTCX_CLICKHOUSE_PASSWORD", default_value = "", hide_env_values = true)]
    clickhouse_password: String,
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

async fn clickhouse(ch: &ChArgs) -> anyhow::Result<()> {
    let client = clickhouse::Client::default()
        .with_url(&ch.clickhouse_url)
        .with_user(&ch.clickhouse_user)
        .with_password(&ch.clickhouse_password);
    let migrator = ClickHouseMigrator::new(client, &ch.clickhouse_database)?;
    let report = migrator.run().await?;
    tracing::info!(applied = ?report.applied, already_applied = report.skipped.len(), "ClickHouse migrations up to date");
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    cli.log.init().context("invalid --log-level")?;
    match &cli.target {
        Target::All { pg, ch } => {
            postgres(pg).await?;
            clickhouse(ch).await?;
        }
        Target::Postgres { pg } => postgres(pg).await?,
        Target::Clickhouse { ch } => clickhouse(ch).await?,
        Target::Kafka { kafka_brokers, replication } => {
            let created =
                rtcx_migrations::kafka_topics::ensure_topics(kafka_brokers, &rtcx_schemas::topics::ALL, *replication)
                    .await
                    .context("creating Kafka topics")?;
            tracing::info!(?created, "Kafka topics up to date");
        }
    }
    Ok(())
}
