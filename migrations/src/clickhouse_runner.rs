//! The ClickHouse migration runner.
//!
//! Migrations are the files `migrations/clickhouse/NNNN_name.sql`, embedded in the binary (a
//! test checks that [`MIGRATIONS`] lists exactly the files of that folder). Each file holds
//! one or more statements, each ending with `;` at the end of a line; `--` comment lines are
//! ignored. `{database}` is replaced by the target database name.
//!
//! Applied migrations are recorded in `<database>.rtcx_schema_migrations` with a checksum; a
//! run applies only the missing ones, in order, and refuses to continue when an applied
//! file has changed. Statements are written with `IF NOT EXISTS` so that a run interrupted
//! half-way through a file can simply be repeated.

use clickhouse::Client;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// One embedded migration.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

macro_rules! migration {
    ($version:literal, $file:literal, $name:literal) => {
        Migration { version: $version, name: $name, sql: include_str!(concat!("../clickhouse/", $file, ".sql")) }
    };
}

/// Every ClickHouse migration, in order.
pub const MIGRATIONS: &[Migration] = &[
    migration!(1, "0001_feedback", "feedback"),
    migration!(2, "0002_feedback_hourly_rollup", "feedback_hourly_rollup"),
    migration!(3, "0003_feedback_ids", "feedback_ids"),
    migration!(4, "0004_dashboard_rollups", "dashboard_rollups"),
    migration!(5, "0005_feedback_stored_at", "feedback_stored_at"),
    migration!(6, "0006_feedback_topic_daily", "feedback_topic_daily"),
    migration!(7, "0007_detector_rollups", "detector_rollups"),
    migration!(8, "0008_feedback_topic_reasons", "feedback_topic_reasons"),
    migration!(9, "0009_feedback_embedding", "feedback_embedding"),
    migration!(10, "0010_topic_corrections", "topic_corrections"),
    migration!(11, "0011_feedback_embedding_lists", "feedback_embedding_lists"),
];

/// Errors of the ClickHouse migration runner.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("invalid database name {0:?}: use letters, digits and underscores")]
    InvalidDatabaseName(String),
    #[error("ClickHouse error while {context}: {source}")]
    ClickHouse {
        context: String,
        #[source]
        source: clickhouse::error::Error,
    },
    #[error(
        "migration {version} ({name}) was applied with checksum {applied} but the file now has {current}; \
         never edit an applied migration, add a new one"
    )]
    ChecksumMismatch { version: u32, name: String, applied: String, current: String },
    #[error("the database records migration {0}, which this binary does not know; upgrade rtcx-migrate")]
    UnknownVersion(u32),
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct AppliedRow {
    version: u32,
    checksum: String,
}

/// Applies the ClickHouse migrations to one database.
pub struct ClickHouseMigrator {
    client: Client,
    database: String,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// Versions applied by this run.
    pub applied: Vec<u32>,
    /// Versions that were already applied.
    pub skipped: Vec<u32>,
}

impl Migration {
    /// SHA-256 of the file, hex.
    pub fn checksum(&self) -> String {
        hex::encode(Sha256::digest(self.sql.as_bytes()))
    }

    /// The statements of the file, with `{database}` substituted.
    pub fn statements(&self, database: &str) -> Vec<String> {
        split_statements(self.sql).into_iter().map(|s| s.replace("{database}", database)).collect()
    }
}

/// The columns that hold what the customer wrote, with their full definition: the text, and
/// its sentence embedding (which carries its meaning, so it goes with it).
const TEXT_COLUMNS: [(&str, &str); 2] = [("text", "String"), ("embedding", "Array(Int8) DEFAULT [] CODEC(ZSTD(3))")];

/// How long the raw feedback text and its embedding are kept (column TTLs on `feedback.text`
/// and `feedback.embedding`); rows, scores and every rollup stay. `None` keeps them forever.
pub fn text_retention_statements(days: Option<u32>) -> Vec<String> {
    TEXT_COLUMNS
        .iter()
        .map(|(column, definition)| match days {
            Some(d) => format!(
                "ALTER TABLE feedback MODIFY COLUMN {column} {definition} TTL toDateTime(occurred_at) + INTERVAL {d} DAY"
            ),
            None => format!("ALTER TABLE feedback MODIFY COLUMN {column} REMOVE TTL"),
        })
        .collect()
}

/// Splits a migration file into statements: a statement ends with `;` at the end of a line.
pub fn split_statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in sql.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("--") || (trimmed.is_empty() && cur.is_empty()) {
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
        if trimmed.ends_with(';') {
            let stmt = cur.trim().trim_end_matches(';').trim().to_owned();
            if !stmt.is_empty() {
                out.push(stmt);
            }
            cur.clear();
        }
    }
    let rest = cur.trim();
    if !rest.is_empty() {
        out.push(rest.to_owned());
    }
    out
}

fn ch(context: impl Into<String>) -> impl FnOnce(clickhouse::error::Error) -> MigrationError {
    let context = context.into();
    move |source| MigrationError::ClickHouse { context, source }
}

impl ClickHouseMigrator {
    /// A migrator for `database`, using `client` (URL and credentials; its database setting
    /// is ignored).
    pub fn new(client: Client, database: &str) -> Result<Self, MigrationError> {
        if database.is_empty() || !database.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(MigrationError::InvalidDatabaseName(database.to_owned()));
        }
        Ok(Self { client, database: database.to_owned() })
    }

    /// Creates the database and the bookkeeping table, then applies the missing migrations.
    pub async fn run(&self) -> Result<RunReport, MigrationError> {
        let db = &self.database;
        self.client
            .query(&format!("CREATE DATABASE IF NOT EXISTS {db}"))
            .execute()
            .await
            .map_err(ch(format!("creating database {db}")))?;
        let client = self.client.clone().with_database(db);
        client
            .query(
                "CREATE TABLE IF NOT EXISTS rtcx_schema_migrations (
                    version UInt32,
                    name String,
                    checksum String,
                    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
                ) ENGINE = MergeTree ORDER BY version",
            )
            .execute()
            .await
            .map_err(ch("creating rtcx_schema_migrations"))?;
        let applied: Vec<AppliedRow> = client
            .query("SELECT version, any(checksum) AS checksum FROM rtcx_schema_migrations GROUP BY version ORDER BY version")
            .fetch_all()
            .await
            .map_err(ch("reading applied migrations"))?;
        for row in &applied {
            if !MIGRATIONS.iter().any(|m| m.version == row.version) {
                return Err(MigrationError::UnknownVersion(row.version));
            }
        }
        let mut report = RunReport { applied: Vec::new(), skipped: Vec::new() };
        for m in MIGRATIONS {
            let current = m.checksum();
            if let Some(row) = applied.iter().find(|r| r.version == m.version) {
                if row.checksum != current {
                    return Err(MigrationError::ChecksumMismatch {
                        version: m.version,
                        name: m.name.to_owned(),
                        applied: row.checksum.clone(),
                        current,
                    });
                }
                report.skipped.push(m.version);
                continue;
            }
            for (i, stmt) in m.statements(db).iter().enumerate() {
                client.query(stmt).execute().await.map_err(ch(format!(
                    "applying migration {:04}_{} statement {}",
                    m.version,
                    m.name,
                    i + 1
                )))?;
            }
            client
                .query("INSERT INTO rtcx_schema_migrations (version, name, checksum) VALUES (?, ?, ?)")
                .bind(m.version)
                .bind(m.name)
                .bind(&current)
                .execute()
                .await
                .map_err(ch(format!("recording migration {}", m.version)))?;
            tracing::info!(version = m.version, name = m.name, "applied ClickHouse migration");
            report.applied.push(m.version);
        }
        Ok(report)
    }

    /// Applies the raw-text retention (see [`text_retention_statements`]); run after
    /// [`Self::run`].
    pub async fn set_text_retention(&self, days: Option<u32>) -> Result<(), MigrationError> {
        let client = self.client.clone().with_database(&self.database);
        for stmt in text_retention_statements(days) {
            match client.query(&stmt).execute().await {
                Ok(()) => {}
                // REMOVE TTL on a column without one is an error in ClickHouse; nothing to do.
                Err(e) if days.is_none() && e.to_string().contains("BAD_ARGUMENTS") => {}
                Err(e) => {
                    return Err(MigrationError::ClickHouse { context: "setting the text retention".into(), source: e });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_list_matches_the_folder() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("clickhouse");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .expect("read migrations/clickhouse")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let listed: Vec<String> = MIGRATIONS.iter().map(|m| format!("{:04}_{}.sql", m.version, m.name)).collect();
        assert_eq!(files, listed, "add new files in migrations/clickhouse to MIGRATIONS");
        assert!(MIGRATIONS.windows(2).all(|w| w[0].version < w[1].version), "versions must increase");
    }

    #[test]
    fn statements_split_on_line_final_semicolons() {
        let sql = "-- comment\nCREATE TABLE a (x String DEFAULT ';')\nENGINE = Memory;\n\nSELECT 1;\nSELECT 2";
        assert_eq!(
            split_statements(sql),
            vec!["CREATE TABLE a (x String DEFAULT ';')\nENGINE = Memory", "SELECT 1", "SELECT 2"]
        );
        for m in MIGRATIONS {
            assert!(!m.statements("rtcx").is_empty(), "{} has no statements", m.name);
        }
    }

    #[test]
    fn database_names_are_checked() {
        let c = Client::default();
        assert!(ClickHouseMigrator::new(c.clone(), "rtcx_test_1").is_ok());
        assert!(ClickHouseMigrator::new(c.clone(), "x; DROP TABLE y").is_err());
        assert!(ClickHouseMigrator::new(c, "").is_err());
    }
}
