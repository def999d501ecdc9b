//! Postgres migrations (sqlx).

use sqlx::PgPool;
use sqlx::migrate::{MigrateError, Migrator};

/// The Postgres migrations, embedded from `migrations/postgres/`.
pub static MIGRATOR: Migrator = sqlx::migrate!("./postgres");

/// Applies every pending Postgres migration; returns how many were applied.
pub async fn migrate(pool: &PgPool) -> Result<usize, MigrateError> {
    let before = applied_count(pool).await;
    MIGRATOR.run(pool).await?;
    let after = applied_count(pool).await;
    Ok(after.saturating_sub(before))
}

async fn applied_count(pool: &PgPool) -> usize {
    // The table does not exist before the first run.
    sqlx::query_scalar::<_, i64>("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
        .map(|n| usize::try_from(n).unwrap_or(0))
        .unwrap_or(0)
}
