//! rtcx database migrations.
//!
//! * Postgres: `migrations/postgres/*.sql`, applied with sqlx's migrator (embedded at compile
//!   time; no database is needed to build). Versions are recorded in `_sqlx_migrations`.
//! * ClickHouse: `migrations/clickhouse/NNNN_name.sql`, applied in order by
//!   [`clickhouse_runner`], which records applied versions and checksums in
//!   `<database>.rtcx_schema_migrations`.

pub mod clickhouse_runner;
pub mod kafka_topics;
pub mod postgres;

pub use clickhouse_runner::{ClickHouseMigrator, MigrationError};
