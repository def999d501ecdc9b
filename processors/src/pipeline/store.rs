//! The ClickHouse side of the pipeline: which ids are already stored, and inserting a batch
//! so that a retry can never count twice.
//!
//! An insert carries `insert_deduplication_token` = SHA-256 of its ids: retrying the same
//! batch (after a timeout whose outcome is unknown) is dropped by ClickHouse's deduplication
//! window in `feedback` and, with `deduplicate_blocks_in_dependent_materialized_views`, in
//! every rollup. Across restarts and rebalances, [`FeedbackStore::existing_ids`] (the
//! `feedback_ids` table) filters out what is already stored. See docs/architecture.md.

use std::collections::HashSet;

use clickhouse::Client;
use rtcx_schemas::rows::FeedbackRow;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Errors talking to ClickHouse.
#[derive(Debug, thiserror::Error)]
#[error("ClickHouse {context}: {source}")]
pub struct StoreError {
    context: &'static str,
    #[source]
    source: clickhouse::error::Error,
}

fn ctx(context: &'static str) -> impl FnOnce(clickhouse::error::Error) -> StoreError {
    move |source| StoreError { context, source }
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct IdRow {
    #[serde(with = "clickhouse::serde::uuid")]
    id: Uuid,
}

/// The feedback table and its id index.
#[derive(Clone)]
pub struct FeedbackStore {
    client: Client,
}

/// The deduplication token of a batch: SHA-256 over its ids, in order.
pub fn dedup_token(rows: &[FeedbackRow]) -> String {
    let mut h = Sha256::new();
    for r in rows {
        h.update(r.id.as_bytes());
    }
    format!("rtcx-{}", hex::encode(h.finalize()))
}

impl FeedbackStore {
    /// A store writing through `client` (its database set).
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The subset of `ids` already written to `feedback`.
    pub async fn existing_ids(&self, ids: &[Uuid]) -> Result<HashSet<Uuid>, StoreError> {
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let list: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        let rows: Vec<IdRow> = self
            .client
            .clone()
            // The id list is inlined in the query text: allow large batches.
            .with_setting("max_query_size", "67108864")
            .query("SELECT DISTINCT id FROM feedback_ids WHERE id IN ?")
            .bind(list)
            .fetch_all()
            .await
            .map_err(ctx("looking up stored ids"))?;
        Ok(rows.into_iter().map(|r| r.id).collect())
    }

    /// Inserts `rows` as one block with its deduplication token.
    pub async fn insert(&self, rows: &[FeedbackRow]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let client = self
            .client
            .clone()
            .with_setting("insert_deduplicate", "1")
            .with_setting("insert_deduplication_token", dedup_token(rows))
            .with_setting("deduplicate_blocks_in_dependent_materialized_views", "1")
            .with_setting("async_insert", "0");
        let mut insert = client.insert::<FeedbackRow>("feedback").await.map_err(ctx("starting the insert"))?;
        for r in rows {
            insert.write(r).await.map_err(ctx("writing rows"))?;
        }
        insert.end().await.map_err(ctx("finishing the insert"))
    }

    /// True when ClickHouse answers.
    pub async fn ping(&self) -> bool {
        self.client.query("SELECT 1").execute().await.is_ok()
    }
}
