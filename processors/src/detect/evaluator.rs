//! The live evaluator: one at a time across the processor instances of a consumer group (a
//! Postgres advisory lock on a dedicated connection; when its holder dies the connection closes, the lock is
//! released and another instance takes over at its next tick).
//!
//! Each tick: the watermark ([`super::watermark`]) says which windows are complete; if some
//! closed since the last evaluation (`detector_progress`), they are read from the minute
//! rollups and added to the catalogue run kept from the previous tick ([`CatalogueRun`]; rebuilt
//! from `history_days` of history on a cold start, a take-over, a rule change, after a failed
//! tick and when it has grown to twice its history), and every alert whose incident moved in
//! the new windows is written ([`super::store`]). Each window is judged as `detect backtest
//! --from/--to` judges it over the same history. A first tick (no progress recorded) evaluates
//! only the last closed window: a new deployment does not raise alerts for its whole history.
//! Windows that end more than `stale` before the wall clock are written as `backfill`. The
//! rules (`alert_rules`) and silences (`alert_silences`) are read at every tick, so changes
//! apply without a restart; an alert muted by a silence is written `silenced`.

use std::hash::{Hash as _, Hasher as _};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use rtcx_detect::live::CatalogueRun;
use sqlx::PgPool;
use sqlx::pool::PoolConnection;
use tokio::sync::{Mutex, watch};

use super::detectors::Sensitivity;
use super::history::{HistoryError, load};
use super::settings::{ConfiguredRule, LoadError, load_rules, load_silences, silenced};
use super::store::{AlertStore, AlertWrite, Written};
use super::watermark::{WatermarkParams, watermark};
use crate::pipeline::watermarks::WatermarkStore;

/// Evaluator settings.
#[derive(Debug, Clone, Copy)]
pub struct EvaluatorParams {
    pub window_secs: u64,
    pub history_days: i64,
    /// Sensitivity of rules that do not set their own.
    pub sensitivity: Sensitivity,
    pub watermark: WatermarkParams,
    /// Windows ending this long before now are `backfill`.
    pub stale: Duration,
    pub tick: StdDuration,
}

/// Errors of a tick.
#[derive(Debug, thiserror::Error)]
pub enum EvaluatorError {
    #[error("Postgres: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error(transparent)]
    Settings(#[from] LoadError),
    #[error("churn rule: {0}")]
    Churn(#[from] super::churn::ChurnError),
    #[error("extending the kept run: {0}")]
    Extend(#[from] rtcx_detect::live::ExtendError),
}

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Windows evaluated (0: none closed since the last tick).
    pub windows: usize,
    pub created: Vec<uuid::Uuid>,
    pub updated: usize,
    pub evaluated_until: Option<DateTime<Utc>>,
    /// Whether (and why) the tick rebuilt its state from the whole history.
    pub rebuilt: Option<Rebuild>,
    /// Series the rules watched.
    pub series: usize,
}

/// The evaluator of one processor instance.
pub struct Evaluator {
    pub name: String,
    pub ch: clickhouse::Client,
    pub pg: PgPool,
    pub watermarks: WatermarkStore,
    pub params: EvaluatorParams,
    /// The catalogue run of the previous tick (a cache of the stores: see [`CatalogueRun`]).
    state: Mutex<Option<LiveState>>,
    /// The consumer group's backlog on the raw topic (`None`: not read).
    backlog: Option<super::backlog::KafkaBacklog>,
}

/// The run kept between ticks, and what it was built from.
struct LiveState {
    run: CatalogueRun,
    /// The rule settings and evaluator parameters it runs: a change rebuilds it.
    fingerprint: u64,
}

/// Runs the detectors' CPU-bound work (minutes for a rebuild over many series) without
/// stalling the runtime's other tasks: on a multi-threaded runtime the worker hands its
/// tasks over first.
fn cpu_bound<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Why a tick rebuilt its state from the whole history instead of extending it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rebuild {
    /// Nothing kept: the first tick of this instance, or a take-over.
    Cold,
    /// Another instance evaluated in between, or the previous tick failed midway.
    Moved,
    /// The rules changed.
    Rules,
    /// The state reached twice the history its evaluations see.
    Outgrown,
}

impl Evaluator {
    pub fn new(
        name: String,
        ch: clickhouse::Client,
        pg: PgPool,
        watermarks: WatermarkStore,
        params: EvaluatorParams,
    ) -> Self {
        Self { name, ch, pg, watermarks, params, state: Mutex::new(None), backlog: None }
    }

    /// Reads the consumer group's backlog from Kafka at each tick, so that partitions still
    /// catching up hold the watermark.
    pub fn with_backlog(mut self, backlog: super::backlog::KafkaBacklog) -> Self {
        self.backlog = Some(backlog);
        self
    }

    /// One evaluation at wall-clock time `now` (callers hold the lock).
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<TickReport, EvaluatorError> {
        let w = self.params.window_secs as i64;
        // Partitions with unconsumed messages are never idle (best effort: without Kafka, the
        // marks alone decide).
        let backlog = match &self.backlog {
            Some(b) => b.partitions().await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "alert evaluator: cannot read the consumer group's backlog");
                Default::default()
            }),
            None => Default::default(),
        };
        let Some(wm) = watermark(&self.watermarks.marks().await?, &backlog, now, self.params.watermark) else {
            tracing::debug!(?backlog, "alert evaluation waits: a partition with a backlog has stored nothing yet");
            return Ok(TickReport::default());
        };
        let closed_end = wm.timestamp().div_euclid(w) * w;
        let closed_end = DateTime::from_timestamp(closed_end, 0).unwrap_or(wm);
        let progress: Option<DateTime<Utc>> =
            sqlx::query_scalar("SELECT evaluated_until FROM detector_progress WHERE name = $1")
                .bind(&self.name)
                .fetch_optional(&self.pg)
                .await?;
        let from = progress.unwrap_or(closed_end - Duration::seconds(w));
        if closed_end <= from {
            return Ok(TickReport::default());
        }
        // Rules and silences as they are now: changes apply at the next tick.
        let settings = load_rules(&self.pg).await?;
        let (rules, invalid) = ConfiguredRule::enabled(&settings, self.params.sensitivity);
        for (rule, error) in &invalid {
            tracing::warn!(rule = %rule, error = %error, "alert rule skipped");
        }
        let silences = load_silences(&self.pg, now).await?;
        let fingerprint = {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            format!("{settings:?}|{:?}|{}|{}", self.params.sensitivity, w, self.params.history_days).hash(&mut h);
            h.finish()
        };
        // Extend the kept run by the new windows, or rebuild it from the whole history.
        let mut state = self.state.lock().await;
        let rebuild = match state.as_ref() {
            None => Some(Rebuild::Cold),
            Some(s) if s.fingerprint != fingerprint => Some(Rebuild::Rules),
            Some(s) if s.run.end() != from => Some(Rebuild::Moved),
            Some(s) if s.run.outgrown() => Some(Rebuild::Outgrown),
            Some(_) => None,
        };
        let live = match (rebuild, state.take()) {
            (None, Some(mut s)) => {
                let windows = load(&self.ch, from, closed_end, self.params.window_secs).await?;
                cpu_bound(|| s.run.extend(&windows))?;
                s
            }
            _ => {
                let history = load(
                    &self.ch,
                    closed_end - Duration::days(self.params.history_days),
                    closed_end,
                    self.params.window_secs,
                )
                .await?;
                let max_history = (self.params.history_days * 86_400 / w) as usize;
                let mut run = CatalogueRun::new(&rules, history.start, self.params.window_secs, max_history.max(1));
                cpu_bound(|| run.extend(&history))?;
                LiveState { run, fingerprint }
            }
        };
        let history = live.run.timeline();
        let first_new = ((from - history.start).num_seconds().max(0) / w) as usize;
        let alerts = live.run.alerts(first_new);
        let series = live.run.series();
        let store = AlertStore::new(self.pg.clone());
        let mut report = TickReport {
            windows: history.len.saturating_sub(first_new),
            evaluated_until: Some(closed_end),
            rebuilt: rebuild,
            series,
            ..TickReport::default()
        };
        for a in &alerts {
            let inc = &a.alert.incident;
            let mut write = AlertWrite::from_detection(&self.name, a, &history, now, self.params.stale);
            write.event.silenced = silenced(&silences, &a.rule.name, a.rule.alert_type(), &a.dimension, now);
            let known: Option<i32> = sqlx::query_scalar("SELECT 1 FROM alerts WHERE id = $1")
                .bind(write.event.id)
                .fetch_optional(&self.pg)
                .await?;
            if known.is_none() {
                // A new alert: what a person needs to act on (best effort).
                let window = Duration::seconds(w);
                let fired = history.window_start(inc.fired_window);
                match super::evidence::gather(
                    &self.ch,
                    &a.dimension,
                    fired,
                    fired + window,
                    history.window_start(inc.first_window),
                    history.window_start(inc.last_breach_window + 1),
                    self.params.history_days.min(7),
                )
                .await
                {
                    Ok(serde_json::Value::Object(extra)) => {
                        if let serde_json::Value::Object(evidence) = &mut write.event.evidence {
                            evidence.extend(extra);
                        }
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, rule = %a.rule.name, "alert evidence unavailable"),
                }
            }
            match store.write(&write).await? {
                Written::Created => report.created.push(write.event.id),
                Written::Updated(_) => report.updated += 1,
                Written::Unchanged => {}
            }
        }
        if let Some(params) = super::churn::params(&settings) {
            let churn = super::churn::ChurnTick {
                ch: &self.ch,
                pg: &self.pg,
                scope: &self.name,
                params,
                from,
                until: closed_end,
                window_secs: w,
                now,
                stale: self.params.stale,
                silences: &silences,
            }
            .run()
            .await?;
            report.created.extend(churn.created);
            report.updated += churn.updated;
        }
        sqlx::query(
            "INSERT INTO detector_progress (name, evaluated_until) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET evaluated_until = GREATEST(detector_progress.evaluated_until, $2),
                                              updated_at = now()",
        )
        .bind(&self.name)
        .bind(closed_end)
        .execute(&self.pg)
        .await?;
        // Kept only now that this tick's writes succeeded: a failure rebuilds next time.
        *state = Some(live);
        Ok(report)
    }

    /// Takes the lock of the evaluator `name` (one per consumer group and topic) on a
    /// connection of its own; `None` when another instance holds it.
    pub async fn try_lock(pg: &PgPool, name: &str) -> Result<Option<PoolConnection<sqlx::Postgres>>, sqlx::Error> {
        let mut conn = pg.acquire().await?;
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended('rtcx-alerts:' || $1, 0))")
            .bind(name)
            .fetch_one(&mut *conn)
            .await?;
        Ok(locked.then_some(conn))
    }

    /// Ticks until shutdown, evaluating while this instance holds the lock.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut held: Option<PoolConnection<sqlx::Postgres>> = None;
        loop {
            if held.is_none() {
                match Self::try_lock(&self.pg, &self.name).await {
                    Ok(Some(c)) => {
                        tracing::info!("alert evaluator: this instance evaluates");
                        held = Some(c);
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "alert evaluator: cannot reach Postgres"),
                }
            }
            if let Some(conn) = held.as_mut() {
                // The lock lives as long as its connection: check that it is still there.
                if sqlx::query("SELECT 1").execute(&mut **conn).await.is_err() {
                    tracing::warn!("alert evaluator: lost the lock connection");
                    held = None;
                } else {
                    let started = std::time::Instant::now();
                    match self.tick(Utc::now()).await {
                        Ok(r) if r.windows > 0 => {
                            metrics::histogram!("rtcx_alert_evaluation_seconds")
                                .record(started.elapsed().as_secs_f64());
                            metrics::counter!("rtcx_alerts_created_total").increment(r.created.len() as u64);
                            tracing::info!(windows = r.windows, created = r.created.len(), updated = r.updated,
                                until = ?r.evaluated_until, "alert evaluation");
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "alert evaluation failed; retrying at the next tick"),
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.params.tick) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}
