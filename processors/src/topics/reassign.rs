//! Retroactive topic assignment: the catalogue as it is now, applied to the feedback stored
//! over a range of event time (a new topic, or one whose keywords or examples changed).
//!
//! A job (Postgres `topic_reassignments`, asked for through `POST /v1/topic-reassignments`)
//! names a range and the topics to apply. One processor at a time runs the oldest open job,
//! one UTC day after the other. For each day it reads the stored feedback, assigns the named
//! topics again from the text and the stored embedding (the other topics a feedback has stay
//! as they are), and for the feedback whose topics change writes batches:
//!
//! 1. the plan, in Postgres (`topic_reassignment_batches`): each feedback's new topics and
//!    reasons, and one correction per topic gained (+1) or lost (−1);
//! 2. the corrections, into ClickHouse `feedback_topic_corrections`, whose views add them to
//!    the three topic rollups; the insert carries the batch's deduplication token;
//! 3. the new topics, with `ALTER TABLE feedback UPDATE` (it feeds no view), waited for;
//! 4. the batch marked applied (its plan dropped), and the job's progress, in one Postgres
//!    transaction.
//!
//! A crash anywhere is resumed by redoing the unapplied batches exactly as planned: step 2 is
//! deduplicated by its token, step 3 sets the same values again. So the rollups change exactly
//! once per change, and running a job again over the same range changes nothing.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, Utc};
use rtcx_schemas::embedding::dequantise;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use crate::inference::AnalyzerPool;
use crate::topics::{CatalogueError, TopicCatalogue, TopicMatcher};

/// Errors of a reassignment run.
#[derive(Debug, thiserror::Error)]
pub enum ReassignError {
    #[error("Postgres: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error("ClickHouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    #[error("the topic catalogue: {0}")]
    Catalogue(#[from] CatalogueError),
    #[error("a batch plan: {0}")]
    Plan(#[from] serde_json::Error),
    #[error("ClickHouse mutations on feedback did not finish in time: {0}")]
    Mutations(String),
    #[error("injected fault after the corrections of batch {0}")]
    Injected(i32),
}

/// How a run proceeds.
#[derive(Debug, Clone)]
pub struct ReassignSettings {
    /// Changed feedback per batch (one correction insert, one update each).
    pub batch_rows: usize,
    /// A running job whose processor has not reported for this long is taken over.
    pub stale_after: std::time::Duration,
    /// This processor's name in `topic_reassignments.worker`.
    pub worker: String,
}

/// The job a processor claimed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Job {
    pub id: Uuid,
    pub range_from: DateTime<Utc>,
    pub range_to: DateTime<Utc>,
    pub next_day: DateTime<Utc>,
    pub topic_ids: Vec<Uuid>,
}

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    pub rows_scanned: u64,
    pub rows_changed: u64,
    pub finished: bool,
}

/// Stored feedback as the job reads it.
#[derive(Debug, clickhouse::Row, Deserialize)]
struct Stored {
    #[serde(with = "clickhouse::serde::uuid")]
    id: Uuid,
    #[serde(with = "clickhouse::serde::chrono::datetime64::millis")]
    occurred_at: DateTime<Utc>,
    channel: String,
    sentiment_label: String,
    sentiment_score: f32,
    text: String,
    embedding: Vec<i8>,
    #[serde(with = "clickhouse::serde::uuid_vec")]
    topic_ids: Vec<Uuid>,
    topic_reasons: Vec<String>,
}

/// One feedback's new topics and reasons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Change {
    id: Uuid,
    occurred_at_ms: i64,
    topic_ids: Vec<Uuid>,
    topic_reasons: Vec<String>,
}

/// One correction row (`feedback_topic_corrections`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clickhouse::Row)]
struct Correction {
    #[serde(with = "clickhouse::serde::uuid")]
    job_id: Uuid,
    #[serde(with = "clickhouse::serde::uuid")]
    id: Uuid,
    #[serde(with = "clickhouse::serde::chrono::datetime64::millis")]
    occurred_at: DateTime<Utc>,
    channel: String,
    sentiment_label: String,
    sentiment_score: f32,
    #[serde(with = "clickhouse::serde::uuid")]
    topic_id: Uuid,
    sign: i8,
}

/// A batch as planned (stored as JSON in `topic_reassignment_batches.plan`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Plan {
    rows: Vec<Change>,
    corrections: Vec<Correction>,
}

/// The new topics of `row` when `chosen` are assigned again by `matcher`: the topics outside
/// `chosen` stay with their reasons, then come the chosen ones assigned now. `None` when the
/// set of topics does not change (its reasons are then left as they are).
fn reassign(row: &Stored, matcher: &TopicMatcher, chosen: &HashSet<Uuid>) -> Option<Change> {
    let embedding = dequantise(&row.embedding);
    let assigned = matcher.assign(&row.text, &embedding);
    let mut topic_ids = Vec::new();
    let mut topic_reasons = Vec::new();
    for (i, t) in row.topic_ids.iter().enumerate() {
        if !chosen.contains(t) {
            topic_ids.push(*t);
            topic_reasons.push(row.topic_reasons.get(i).cloned().unwrap_or_default());
        }
    }
    for a in assigned.into_iter().filter(|a| chosen.contains(&a.topic)) {
        if !topic_ids.contains(&a.topic) {
            topic_ids.push(a.topic);
            topic_reasons.push(serde_json::to_string(&a.reason).unwrap_or_default());
        }
    }
    let before: HashSet<&Uuid> = row.topic_ids.iter().collect();
    let after: HashSet<&Uuid> = topic_ids.iter().collect();
    (before != after).then(|| Change {
        id: row.id,
        occurred_at_ms: row.occurred_at.timestamp_millis(),
        topic_ids,
        topic_reasons,
    })
}

/// The corrections `change` makes to `row`'s place in the topic rollups.
fn corrections(job: Uuid, row: &Stored, change: &Change) -> Vec<Correction> {
    let correction = |topic_id: Uuid, sign: i8| Correction {
        job_id: job,
        id: row.id,
        occurred_at: row.occurred_at,
        channel: row.channel.clone(),
        sentiment_label: row.sentiment_label.clone(),
        sentiment_score: row.sentiment_score,
        topic_id,
        sign,
    };
    let lost = row.topic_ids.iter().filter(|t| !change.topic_ids.contains(t)).map(|t| correction(*t, -1));
    let gained = change.topic_ids.iter().filter(|t| !row.topic_ids.contains(t)).map(|t| correction(*t, 1));
    lost.chain(gained).collect()
}

/// Runs reassignment jobs for one processor.
pub struct Reassigner {
    pg: PgPool,
    ch: clickhouse::Client,
    catalogue: Arc<TopicCatalogue>,
    pool: Arc<AnalyzerPool>,
    settings: ReassignSettings,
    #[cfg(feature = "fault-injection")]
    fail_after_corrections: Option<i32>,
}

impl Reassigner {
    pub fn new(
        pg: PgPool,
        ch: clickhouse::Client,
        catalogue: Arc<TopicCatalogue>,
        pool: Arc<AnalyzerPool>,
        settings: ReassignSettings,
    ) -> Self {
        Self {
            pg,
            ch,
            catalogue,
            pool,
            settings,
            #[cfg(feature = "fault-injection")]
            fail_after_corrections: None,
        }
    }

    /// Test only: stop with an error once the corrections of batch `seq` are inserted, before
    /// the update (what a crash there leaves behind).
    #[cfg(feature = "fault-injection")]
    pub fn fail_after_corrections(mut self, seq: i32) -> Self {
        self.fail_after_corrections = Some(seq);
        self
    }

    /// Claims the oldest open job when no other processor is running it (jobs run one at a
    /// time, oldest first; a running job whose processor went quiet is taken over).
    pub async fn claim(&self) -> Result<Option<Job>, ReassignError> {
        let job = sqlx::query_as::<_, Job>(
            "WITH next AS (SELECT id FROM topic_reassignments WHERE status IN ('QUEUED', 'RUNNING') \
                           ORDER BY created_at, id LIMIT 1 FOR UPDATE) \
             UPDATE topic_reassignments t SET status = 'RUNNING', worker = $1, heartbeat_at = now(), \
                    started_at = coalesce(started_at, now()) \
             FROM next WHERE t.id = next.id AND (t.status = 'QUEUED' OR t.worker = $1 \
                    OR t.heartbeat_at IS NULL OR t.heartbeat_at < now() - make_interval(secs => $2)) \
             RETURNING t.id, t.range_from, t.range_to, t.next_day, t.topic_ids",
        )
        .bind(&self.settings.worker)
        .bind(self.settings.stale_after.as_secs_f64())
        .fetch_optional(&self.pg)
        .await?;
        Ok(job)
    }

    /// Claims and runs jobs every `poll` until `stop`; errors are recorded on the job and the
    /// job is tried again at the next poll.
    pub async fn run(self, poll: std::time::Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            match self.claim().await {
                Ok(Some(job)) => {
                    tracing::info!(job = %job.id, from = %job.range_from, to = %job.range_to, "topic reassignment running");
                    match self.run_job(&job).await {
                        Ok(o) => {
                            tracing::info!(job = %job.id, scanned = o.rows_scanned, changed = o.rows_changed, finished = o.finished, "topic reassignment stopped")
                        }
                        Err(e) => {
                            tracing::warn!(job = %job.id, error = %e, "topic reassignment failed; retrying at the next poll");
                            let _ = sqlx::query("UPDATE topic_reassignments SET error = $2 WHERE id = $1")
                                .bind(job.id)
                                .bind(e.to_string())
                                .execute(&self.pg)
                                .await;
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "claiming a topic reassignment"),
            }
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// Runs `job` from where it stands to its end, or until it is cancelled or taken over.
    pub async fn run_job(&self, job: &Job) -> Result<Outcome, ReassignError> {
        let chosen: HashSet<Uuid> = job.topic_ids.iter().copied().collect();
        let mut outcome = Outcome::default();
        self.redo_unapplied(job.id).await?;
        let mut day = job.next_day;
        while day < job.range_to {
            if !self.still_mine(job.id).await? {
                return Ok(outcome);
            }
            let end = (day.duration_trunc(Duration::days(1)).unwrap_or(day) + Duration::days(1)).min(job.range_to);
            self.wait_for_mutations().await?;
            self.catalogue.refresh(&self.pool).await?;
            let matcher = self.catalogue.matcher();
            let rows = self.read(day, end).await?;
            let mut changes: Vec<(Change, Vec<Correction>)> = rows
                .iter()
                .filter_map(|r| reassign(r, &matcher, &chosen).map(|c| (corrections(job.id, r, &c), c)))
                .map(|(k, c)| (c, k))
                .collect();
            // Sorted by id: after a crash the unplanned remainder splits the same way.
            changes.sort_by_key(|(c, _)| c.id);
            outcome.rows_scanned += rows.len() as u64;
            for batch in changes.chunks(self.settings.batch_rows.max(1)) {
                let plan = Plan {
                    rows: batch.iter().map(|(c, _)| c.clone()).collect(),
                    corrections: batch.iter().flat_map(|(_, k)| k.iter().cloned()).collect(),
                };
                let seq = self.save(job.id, day, &plan).await?;
                self.apply(job.id, seq, &plan).await?;
                self.applied(job.id, seq, &plan).await?;
                outcome.rows_changed += plan.rows.len() as u64;
            }
            sqlx::query(
                "UPDATE topic_reassignments SET next_day = $2, days_done = days_done + 1, \
                 rows_scanned = rows_scanned + $3, heartbeat_at = now() WHERE id = $1",
            )
            .bind(job.id)
            .bind(end)
            .bind(rows.len() as i64)
            .execute(&self.pg)
            .await?;
            day = end;
        }
        sqlx::query(
            "UPDATE topic_reassignments SET status = 'DONE', finished_at = now(), error = NULL \
             WHERE id = $1 AND status = 'RUNNING'",
        )
        .bind(job.id)
        .execute(&self.pg)
        .await?;
        outcome.finished = true;
        Ok(outcome)
    }

    /// Whether the job is still running here (not cancelled, not taken over); says so too.
    async fn still_mine(&self, job: Uuid) -> Result<bool, ReassignError> {
        let r = sqlx::query(
            "UPDATE topic_reassignments SET heartbeat_at = now() WHERE id = $1 AND status = 'RUNNING' AND worker = $2",
        )
        .bind(job)
        .bind(&self.settings.worker)
        .execute(&self.pg)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// The feedback of `[from, to)` with what reassignment reads (one row per id).
    async fn read(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<Stored>, ReassignError> {
        Ok(self
            .ch
            .query(
                "SELECT id, occurred_at, channel, sentiment_label, sentiment_score, text, embedding, topic_ids, \
                 topic_reasons FROM feedback FINAL \
                 WHERE occurred_at >= fromUnixTimestamp64Milli(?) AND occurred_at < fromUnixTimestamp64Milli(?)",
            )
            .bind(from.timestamp_millis())
            .bind(to.timestamp_millis())
            .fetch_all()
            .await?)
    }

    /// Writes the plan of a new batch; returns its number.
    async fn save(&self, job: Uuid, day: DateTime<Utc>, plan: &Plan) -> Result<i32, ReassignError> {
        let seq: i32 = sqlx::query_scalar(
            "INSERT INTO topic_reassignment_batches (job_id, seq, day, plan) \
             SELECT $1, coalesce(max(seq), 0) + 1, $2, $3 FROM topic_reassignment_batches WHERE job_id = $1 \
             RETURNING seq",
        )
        .bind(job)
        .bind(day)
        .bind(sqlx::types::Json(plan))
        .fetch_one(&self.pg)
        .await?;
        Ok(seq)
    }

    /// Redoes the batches planned but not marked applied (a crash came between).
    async fn redo_unapplied(&self, job: Uuid) -> Result<(), ReassignError> {
        let open: Vec<(i32, sqlx::types::Json<Plan>)> = sqlx::query_as(
            "SELECT seq, plan FROM topic_reassignment_batches WHERE job_id = $1 AND NOT applied ORDER BY seq",
        )
        .bind(job)
        .fetch_all(&self.pg)
        .await?;
        for (seq, plan) in open {
            tracing::info!(%job, seq, rows = plan.rows.len(), "redoing an unfinished reassignment batch");
            self.wait_for_mutations().await?;
            self.apply(job, seq, &plan).await?;
            self.applied(job, seq, &plan).await?;
        }
        Ok(())
    }

    /// Steps 2 and 3: the corrections (deduplicated by the batch's token), then the update.
    async fn apply(&self, job: Uuid, seq: i32, plan: &Plan) -> Result<(), ReassignError> {
        if !plan.corrections.is_empty() {
            let client = self
                .ch
                .clone()
                .with_setting("insert_deduplicate", "1")
                .with_setting("insert_deduplication_token", format!("rtcx-reassign-{job}-{seq}"))
                .with_setting("deduplicate_blocks_in_dependent_materialized_views", "1")
                .with_setting("async_insert", "0");
            let mut insert = client.insert::<Correction>("feedback_topic_corrections").await?;
            for c in &plan.corrections {
                insert.write(c).await?;
            }
            insert.end().await?;
        }
        #[cfg(feature = "fault-injection")]
        if self.fail_after_corrections == Some(seq) {
            return Err(ReassignError::Injected(seq));
        }
        let (Some(first), Some(last)) =
            (plan.rows.iter().map(|r| r.occurred_at_ms).min(), plan.rows.iter().map(|r| r.occurred_at_ms).max())
        else {
            return Ok(());
        };
        let ids: Vec<String> = plan.rows.iter().map(|r| r.id.to_string()).collect();
        let topics: Vec<Vec<String>> =
            plan.rows.iter().map(|r| r.topic_ids.iter().map(Uuid::to_string).collect()).collect();
        let reasons: Vec<Vec<String>> = plan.rows.iter().map(|r| r.topic_reasons.clone()).collect();
        self.ch
            .clone()
            // The batch's values are inlined in the statement.
            .with_setting("max_query_size", "67108864")
            .with_setting("mutations_sync", "1")
            .query(
                "ALTER TABLE feedback UPDATE \
                 topic_ids = arrayElement(CAST(? AS Array(Array(UUID))), indexOf(CAST(? AS Array(UUID)), id)), \
                 topic_reasons = arrayElement(CAST(? AS Array(Array(String))), indexOf(CAST(? AS Array(UUID)), id)) \
                 WHERE occurred_at >= fromUnixTimestamp64Milli(?) AND occurred_at <= fromUnixTimestamp64Milli(?) \
                 AND has(CAST(? AS Array(UUID)), id)",
            )
            .bind(topics)
            .bind(&ids)
            .bind(reasons)
            .bind(&ids)
            .bind(first)
            .bind(last)
            .bind(&ids)
            .execute()
            .await?;
        Ok(())
    }

    /// Step 4: the batch is applied, and the job's figures say so.
    async fn applied(&self, job: Uuid, seq: i32, plan: &Plan) -> Result<(), ReassignError> {
        let added = plan.corrections.iter().filter(|c| c.sign > 0).count() as i64;
        let removed = plan.corrections.len() as i64 - added;
        let mut tx = self.pg.begin().await?;
        // The plan is needed only until it is applied (ClickHouse's corrections keep the record).
        let r = sqlx::query(
            "UPDATE topic_reassignment_batches SET applied = true, plan = '{}'::jsonb \
             WHERE job_id = $1 AND seq = $2 AND NOT applied",
        )
        .bind(job)
        .bind(seq)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 1 {
            sqlx::query(
                "UPDATE topic_reassignments SET rows_changed = rows_changed + $2, topics_added = topics_added + $3, \
                 topics_removed = topics_removed + $4, heartbeat_at = now() WHERE id = $1",
            )
            .bind(job)
            .bind(plan.rows.len() as i64)
            .bind(added)
            .bind(removed)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Waits (up to ten minutes) until no mutation of `feedback` is pending, so that what is
    /// read next is what the last update wrote.
    async fn wait_for_mutations(&self) -> Result<(), ReassignError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
        loop {
            let (pending, reason): (u64, String) = self
                .ch
                .query(
                    "SELECT count(), any(latest_fail_reason) FROM system.mutations \
                     WHERE database = currentDatabase() AND table = 'feedback' AND NOT is_done AND NOT is_killed",
                )
                .fetch_one()
                .await?;
            if pending == 0 {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                return Err(ReassignError::Mutations(reason));
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(topics: Vec<Uuid>) -> Stored {
        Stored {
            id: Uuid::now_v7(),
            occurred_at: Utc::now(),
            channel: "chat".into(),
            sentiment_label: "negative".into(),
            sentiment_score: -0.5,
            text: "my parcel is late".into(),
            embedding: Vec::new(),
            topic_reasons: topics.iter().map(|_| "{\"by\":\"keyword\",\"keyword\":\"old\"}".to_owned()).collect(),
            topic_ids: topics,
        }
    }

    fn keyword_topic(keyword: &str) -> rtcx_topics::definition::TopicDefinition {
        rtcx_topics::definition::TopicDefinition {
            id: Uuid::now_v7(),
            keywords: vec![keyword.into()],
            ..Default::default()
        }
    }

    #[test]
    fn only_the_chosen_topics_change_and_each_change_is_corrected_once() {
        let parcel = keyword_topic("parcel");
        let refund = keyword_topic("refund");
        let other = Uuid::now_v7();
        let matcher = TopicMatcher::new(vec![parcel.clone(), refund.clone()], Default::default());
        let chosen: HashSet<Uuid> = [parcel.id, refund.id].into_iter().collect();
        let job = Uuid::now_v7();

        // Gains parcel, loses refund, keeps a topic that was not chosen (and its reason).
        let row = stored(vec![other, refund.id]);
        let change = reassign(&row, &matcher, &chosen).expect("a change");
        assert_eq!(change.topic_ids, vec![other, parcel.id]);
        assert_eq!(change.topic_reasons[0], row.topic_reasons[0]);
        assert!(change.topic_reasons[1].contains("parcel"));
        let k = corrections(job, &row, &change);
        assert_eq!(k.iter().map(|c| (c.topic_id, c.sign)).collect::<Vec<_>>(), vec![(refund.id, -1), (parcel.id, 1)]);

        // Already right (in any order): no change.
        assert_eq!(reassign(&stored(vec![parcel.id, other]), &matcher, &chosen), None);
        // A topic not chosen is never added.
        let only_refund: HashSet<Uuid> = [refund.id].into_iter().collect();
        assert_eq!(reassign(&stored(vec![]), &matcher, &only_refund), None);
    }
}
