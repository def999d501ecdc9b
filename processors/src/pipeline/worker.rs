//! The consume → enrich → publish → insert → commit loop of one processor instance.
//!
//! Two stages run side by side. The preparing task owns the consumer: it collects messages
//! until the batch holds `max_rows`, its oldest message is `linger` old or its estimated
//! inference time reaches the budget ([`super::budget`]), decodes them, drops
//! ids already stored or already on their way, and runs inference. The writing task takes
//! prepared batches in order, publishes dead letters and enriched events, inserts the rows
//! into ClickHouse, and only then commits the batch's offsets. So inference of batch n+1
//! overlaps the writes of batch n, and at most two prepared batches exist at a time. A crash
//! anywhere before a commit means redelivery, and redelivered events are recognised by id
//! (see [`super::store`]).
//!
//! Rebalances: when partitions are revoked, the revocation callback waits until every
//! prepared batch is written and committed, so a partition only moves once its messages are
//! either committed or not yet processed. Messages collected for a revoked partition are
//! dropped from the batch being collected; the next owner reads them again from the committed
//! offset.
//!
//! Back-pressure: while ClickHouse (or Kafka) refuses a write, the batch is retried with
//! backoff and nothing new is consumed (memory stays bounded by one batch plus librdkafka's
//! fetch queue); the instance reports not-ready until the write succeeds.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};
use rtcx_schemas::embedding_lists::{EmbeddingLists, UNFILED};
use rtcx_schemas::rows::FeedbackRow;
use rtcx_schemas::{DeadLetter, DeadLetterReason, EnrichedFeedback, FeedbackEvent, SourceCoordinates};
use tokio::sync::watch;
use uuid::Uuid;

use super::budget::InferenceBudget;
use super::decode::decode;
use super::enrich::enrich;
use super::poison::analyze_with_retries;
use super::publisher::Publisher;
use super::store::FeedbackStore;
use super::watermarks::WatermarkStore;
use crate::inference::{Analysis, AnalyzerPool};
use crate::topics::TopicCatalogue;

/// Settings of the pipeline.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub brokers: String,
    pub group_id: String,
    pub raw_topic: String,
    pub enriched_topic: String,
    pub dlq_topic: String,
    /// Largest batch (rows per ClickHouse insert).
    pub max_rows: usize,
    /// Longest a message waits in a batch, counted from its Kafka timestamp.
    pub linger: Duration,
    /// Estimated inference time at which a batch is cut ([`super::budget`]).
    pub inference_budget: Duration,
    /// Texts per inference job (jobs of one batch run on all inference workers at once).
    pub inference_chunk: usize,
    /// Attempts at analysing a text whose batch failed before it is dead-lettered.
    pub max_attempts: u32,
    /// Kafka consumer-group session timeout (how fast a dead member's partitions move).
    pub session_timeout: Duration,
    /// How often the topic catalogue is checked for changes.
    pub catalogue_refresh: Duration,
    /// Fault injection for tests: abort the process right after this many ClickHouse
    /// inserts, before their offsets are committed (`fault-injection` feature only).
    #[cfg(feature = "fault-injection")]
    pub crash_after_inserts: Option<u64>,
}

/// Errors that stop the pipeline.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("Kafka consumer: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
}

/// What the health endpoint and tests can see.
#[derive(Debug, Default)]
pub struct PipelineStatus {
    /// False while a write to ClickHouse or Kafka is failing.
    pub writes_ok: AtomicBool,
    /// Batches committed.
    pub batches: AtomicU64,
}

/// Prepared batches not yet committed, and the ids they store.
#[derive(Default)]
struct InFlight {
    state: Mutex<(usize, HashSet<Uuid>)>,
    idle: Condvar,
}

impl InFlight {
    fn add(&self, ids: &[Uuid]) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.0 += 1;
        s.1.extend(ids.iter().copied());
    }

    fn done(&self, ids: &[Uuid]) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.0 = s.0.saturating_sub(1);
        for id in ids {
            s.1.remove(id);
        }
        if s.0 == 0 {
            self.idle.notify_all();
        }
    }

    fn contains(&self, id: &Uuid) -> bool {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).1.contains(id)
    }

    /// Waits until no batch is in flight; false on timeout.
    fn wait_idle(&self, timeout: Duration) -> bool {
        let guard = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (_guard, r) =
            self.idle.wait_timeout_while(guard, timeout, |s| s.0 > 0).unwrap_or_else(PoisonError::into_inner);
        !r.timed_out()
    }
}

/// Longest a revocation waits for prepared batches to be committed.
const REVOKE_WAIT: Duration = Duration::from_secs(120);

/// Records revoked partitions and holds a revocation until the batches in flight are
/// committed (the callback runs inside `recv`).
#[derive(Default)]
struct RebalanceTracker {
    revoked: Mutex<Vec<i32>>,
    inflight: Arc<InFlight>,
}

impl ClientContext for RebalanceTracker {}

impl ConsumerContext for RebalanceTracker {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                let parts: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                let wait = || {
                    if !self.inflight.wait_idle(REVOKE_WAIT) {
                        tracing::warn!("revoking while writes are still failing; their batch will be redelivered");
                    }
                };
                // The writer runs on the same runtime: hand this worker's tasks to another
                // thread while blocking.
                match tokio::runtime::Handle::try_current() {
                    Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                        tokio::task::block_in_place(wait)
                    }
                    _ => wait(),
                }
                tracing::info!(partitions = ?parts, "partitions revoked");
                self.revoked.lock().unwrap_or_else(PoisonError::into_inner).extend(parts);
            }
            Rebalance::Assign(tpl) => {
                let parts: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                tracing::info!(partitions = ?parts, "partitions assigned");
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance error"),
        }
    }
}

impl RebalanceTracker {
    fn take(&self) -> Vec<i32> {
        std::mem::take(&mut *self.revoked.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// A message as read from the raw topic.
struct Pending {
    partition: i32,
    offset: i64,
    key: Option<Vec<u8>>,
    payload: Option<Vec<u8>>,
    timestamp_ms: Option<i64>,
}

impl Pending {
    fn bytes(&self) -> usize {
        self.payload.as_ref().map_or(0, Vec::len)
    }
}

/// One processor instance's pipeline.
pub struct Pipeline {
    cfg: PipelineConfig,
    consumer: StreamConsumer<RebalanceTracker>,
    pool: Arc<AnalyzerPool>,
    store: FeedbackStore,
    publisher: Publisher,
    catalogue: Option<Arc<TopicCatalogue>>,
    status: Arc<PipelineStatus>,
    inflight: Arc<InFlight>,
    budget: InferenceBudget,
    watermarks: Option<WatermarkStore>,
    /// Files each stored embedding into its list (`feedback.embedding_list`); none: unfiled.
    lists: Option<Arc<EmbeddingLists>>,
}

/// A batch ready to be written.
struct Prepared {
    /// Next offset to commit per partition.
    offsets: Vec<(i32, i64)>,
    letters: Vec<(String, DeadLetter)>,
    enriched: Vec<EnrichedFeedback>,
    rows: Vec<FeedbackRow>,
    ids: Vec<Uuid>,
    messages: usize,
    duplicates: u64,
    started: std::time::Instant,
}

/// Retry backoff bounds.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// How long a batch past its deadline waits for one more already-fetched message.
const DRAIN_WAIT: Duration = Duration::from_millis(2);

/// Why a batch was abandoned before its commit (its messages will be redelivered).
struct Stopped;

impl Pipeline {
    /// Connects the consumer (subscribed to the raw topic) and the producer.
    pub fn new(
        cfg: PipelineConfig,
        pool: Arc<AnalyzerPool>,
        store: FeedbackStore,
        catalogue: Option<Arc<TopicCatalogue>>,
        watermarks: Option<WatermarkStore>,
    ) -> Result<Self, PipelineError> {
        let inflight = Arc::new(InFlight::default());
        let consumer: StreamConsumer<RebalanceTracker> = ClientConfig::new()
            .set("bootstrap.servers", &cfg.brokers)
            .set("group.id", &cfg.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", cfg.session_timeout.as_millis().to_string())
            .set("heartbeat.interval.ms", (cfg.session_timeout.as_millis() / 4).max(100).to_string())
            .set("max.poll.interval.ms", "600000")
            // Bounded prefetch: at most ~16 MB of raw messages wait in memory.
            .set("queued.max.messages.kbytes", "16384")
            .create_with_context(RebalanceTracker { revoked: Mutex::default(), inflight: Arc::clone(&inflight) })?;
        consumer.subscribe(&[&cfg.raw_topic])?;
        let publisher = Publisher::new(&cfg.brokers, &cfg.enriched_topic, &cfg.dlq_topic)?;
        let status = Arc::new(PipelineStatus { writes_ok: AtomicBool::new(true), batches: AtomicU64::new(0) });
        let budget = InferenceBudget::new(cfg.inference_budget);
        Ok(Self { cfg, consumer, pool, store, publisher, catalogue, status, inflight, budget, watermarks, lists: None })
    }

    /// Files every stored embedding with `lists` (the coarse quantiser beside the model's heads).
    pub fn with_embedding_lists(mut self, lists: Option<Arc<EmbeddingLists>>) -> Self {
        self.lists = lists;
        self
    }

    /// Shared status (health, tests).
    pub fn status(&self) -> Arc<PipelineStatus> {
        Arc::clone(&self.status)
    }

    /// Runs until `shutdown` turns true; the batch in hand is finished and committed first.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<(), PipelineError> {
        if let Some(c) = &self.catalogue {
            // Load the catalogue before the first batch, then watch it for changes.
            if let Err(e) = c.refresh(&self.pool).await {
                tracing::warn!(error = %e, "topic catalogue unavailable; assigning no topics until it loads");
            }
            let (c, pool, every) = (Arc::clone(c), Arc::clone(&self.pool), self.cfg.catalogue_refresh);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    if let Err(e) = c.refresh(&pool).await {
                        tracing::warn!(error = %e, "topic catalogue refresh failed; keeping the last one");
                    }
                }
            });
        }
        tracing::info!(topic = %self.cfg.raw_topic, group = %self.cfg.group_id, "pipeline consuming");
        let this = Arc::new(self);
        // One prepared batch waits while the writer works on the previous one.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Prepared>(1);
        let writer = {
            let (this, shutdown) = (Arc::clone(&this), shutdown.clone());
            tokio::spawn(async move {
                while let Some(p) = rx.recv().await {
                    let ids = p.ids.clone();
                    let written = this.write(p, &shutdown).await;
                    this.inflight.done(&ids);
                    if written.is_err() {
                        return false;
                    }
                }
                true
            })
        };
        loop {
            let (batch, stopping) = this.collect(&mut shutdown).await;
            if !batch.is_empty() {
                let Ok(prepared) = this.prepare(batch, &shutdown).await else { break };
                this.inflight.add(&prepared.ids);
                let ids = prepared.ids.clone();
                if tx.send(prepared).await.is_err() {
                    this.inflight.done(&ids);
                    break;
                }
            }
            if stopping {
                break;
            }
        }
        drop(tx);
        match writer.await {
            Ok(true) => tracing::info!("pipeline stopped; every batch committed"),
            _ => tracing::info!("pipeline stopped with a batch uncommitted; it will be redelivered"),
        }
        Ok(())
    }

    /// Collects one batch; true when shutdown was requested.
    async fn collect(&self, shutdown: &mut watch::Receiver<bool>) -> (Vec<Pending>, bool) {
        let mut batch: Vec<Pending> = Vec::new();
        let mut bytes = 0usize;
        let mut deadline: Option<tokio::time::Instant> = None;
        loop {
            if *shutdown.borrow() {
                return (batch, true);
            }
            if batch.len() >= self.cfg.max_rows || !self.budget.fits(batch.len(), bytes) {
                return (batch, false);
            }
            // Past the deadline the batch still takes what is already waiting (a backlog
            // fills whole batches instead of closing one per message).
            let wait = match deadline {
                Some(d) => d.saturating_duration_since(tokio::time::Instant::now()).max(DRAIN_WAIT),
                None => Duration::from_millis(500),
            };
            let received = tokio::select! {
                biased;
                _ = shutdown.changed() => continue,
                r = tokio::time::timeout(wait, self.consumer.recv()) => r,
            };
            // Messages collected before a revocation are dropped; the one just received
            // always comes after it (librdkafka purges revoked partitions' queues).
            let revoked = self.consumer.context().take();
            if !revoked.is_empty() {
                let before = batch.len();
                batch.retain(|p| !revoked.contains(&p.partition));
                bytes = batch.iter().map(Pending::bytes).sum();
                metrics::counter!("rtcx_processors_revoked_messages_total").increment((before - batch.len()) as u64);
            }
            match received {
                Err(_elapsed) => {
                    if !batch.is_empty() && deadline.is_some_and(|d| d <= tokio::time::Instant::now()) {
                        return (batch, false);
                    }
                }
                Ok(Err(e)) => {
                    metrics::counter!("rtcx_processors_consumer_errors_total").increment(1);
                    tracing::warn!(error = %e, "Kafka consumer error");
                    tokio::time::sleep(BACKOFF_MIN).await;
                }
                Ok(Ok(m)) => {
                    let timestamp_ms = m.timestamp().to_millis();
                    if deadline.is_none() {
                        // The batch closes `linger` after its first message was produced.
                        let age_ms = timestamp_ms.map(|t| (Utc::now().timestamp_millis() - t).max(0)).unwrap_or(0);
                        let left = self.cfg.linger.saturating_sub(Duration::from_millis(age_ms as u64));
                        deadline = Some(tokio::time::Instant::now() + left);
                    }
                    bytes += m.payload_len();
                    batch.push(Pending {
                        partition: m.partition(),
                        offset: m.offset(),
                        key: m.key().map(<[u8]>::to_vec),
                        payload: m.payload().map(<[u8]>::to_vec),
                        timestamp_ms,
                    });
                }
            }
        }
    }

    /// Retries `op` with exponential backoff until it succeeds or shutdown is requested.
    async fn retry<T, E: std::fmt::Display, F: std::future::Future<Output = Result<T, E>>>(
        &self,
        what: &'static str,
        shutdown: &watch::Receiver<bool>,
        mut op: impl FnMut() -> F,
    ) -> Result<T, Stopped> {
        let mut backoff = BACKOFF_MIN;
        loop {
            match op().await {
                Ok(v) => {
                    if !self.status.writes_ok.swap(true, Ordering::SeqCst) {
                        tracing::info!(what, "writes succeed again; resuming");
                    }
                    return Ok(v);
                }
                Err(e) => {
                    if self.status.writes_ok.swap(false, Ordering::SeqCst) {
                        tracing::warn!(what, error = %e, "write failed; pausing consumption and retrying");
                    }
                    metrics::counter!("rtcx_processors_write_retries_total", "what" => what).increment(1);
                    if *shutdown.borrow() {
                        return Err(Stopped);
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }

    /// Analyses `texts` on all inference workers, with bounded retries ([`analyze_with_retries`]);
    /// identical texts of the batch once (the pool answers recently seen ones from memory).
    async fn analyze(&self, texts: &[String]) -> Vec<Result<Analysis, String>> {
        let (unique, slot) = crate::inference::pool::distinct(texts.iter().map(String::as_str));
        let unique: Vec<String> = unique.into_iter().map(str::to_owned).collect();
        metrics::counter!("rtcx_processors_reused_analyses_total", "source" => "batch")
            .increment((texts.len() - unique.len()) as u64);
        let per_worker = unique.len().div_ceil(self.pool.workers().max(1)).max(1);
        let chunk = per_worker.min(self.cfg.inference_chunk.max(1));
        let results = analyze_with_retries(&unique, chunk, self.cfg.max_attempts, |c| self.pool.analyze(c)).await;
        slot.into_iter()
            .map(|j| results.get(j).cloned().unwrap_or_else(|| Err("no analysis returned".into())))
            .collect()
    }

    /// Decodes a batch, drops what is already stored or on its way, and enriches the rest.
    async fn prepare(&self, batch: Vec<Pending>, shutdown: &watch::Receiver<bool>) -> Result<Prepared, Stopped> {
        let started = std::time::Instant::now();
        let now = Utc::now();
        let mut letters: Vec<(String, DeadLetter)> = Vec::new();
        let mut valid: Vec<(&Pending, FeedbackEvent)> = Vec::new();
        let mut seen: HashSet<Uuid> = HashSet::new();
        let mut duplicates = 0u64;
        for p in &batch {
            match decode(p.payload.as_deref(), now) {
                Ok(ev) if seen.insert(ev.id) && !self.inflight.contains(&ev.id) => valid.push((p, ev)),
                Ok(_) => duplicates += 1,
                Err(r) => letters.push(self.dead_letter(p, r.reason, r.error, 1, now)),
            }
        }
        let mut stage = Stages::start();
        let ids: Vec<Uuid> = valid.iter().map(|(_, e)| e.id).collect();
        let existing = self.retry("id lookup", shutdown, || self.store.existing_ids(&ids)).await?;
        stage.done("id_lookup");
        let before = valid.len();
        valid.retain(|(_, e)| !existing.contains(&e.id));
        duplicates += (before - valid.len()) as u64;

        let texts: Vec<String> = valid.iter().map(|(_, e)| e.text.clone()).collect();
        let analysed_bytes: usize = valid.iter().map(|(p, _)| p.bytes()).sum();
        let inference_started = std::time::Instant::now();
        let analyses = self.analyze(&texts).await;
        self.budget.observe(analysed_bytes, inference_started.elapsed());
        stage.done("inference");
        let matcher = self.catalogue.as_ref().map(|c| c.matcher()).unwrap_or_default();
        let model = self.pool.model().clone();
        let processed_at = Utc::now();
        let mut enriched: Vec<EnrichedFeedback> = Vec::with_capacity(valid.len());
        let mut rows: Vec<FeedbackRow> = Vec::with_capacity(valid.len());
        for ((p, ev), analysis) in valid.into_iter().zip(analyses) {
            match analysis {
                Ok(a) => {
                    let e = enrich(ev, &a, &matcher, &model, processed_at);
                    let mut row = FeedbackRow::from(&e);
                    row.kafka_partition = p.partition;
                    row.kafka_offset = p.offset;
                    row.embedding = rtcx_schemas::embedding::quantise(&a.embedding);
                    row.embedding_list = self.lists.as_ref().map_or(UNFILED, |l| l.file(&row.embedding));
                    rows.push(row);
                    enriched.push(e);
                }
                Err(error) => letters.push(self.dead_letter(
                    p,
                    DeadLetterReason::ProcessingFailed,
                    error,
                    self.cfg.max_attempts.max(1),
                    now,
                )),
            }
        }
        let mut next: HashMap<i32, i64> = HashMap::new();
        for p in &batch {
            let e = next.entry(p.partition).or_insert(p.offset + 1);
            *e = (*e).max(p.offset + 1);
        }
        Ok(Prepared {
            offsets: next.into_iter().collect(),
            ids: rows.iter().map(|r| r.id).collect(),
            letters,
            enriched,
            rows,
            messages: batch.len(),
            duplicates,
            started,
        })
    }

    /// Writes a prepared batch (dead letters, enriched events, ClickHouse) and commits it.
    async fn write(&self, p: Prepared, shutdown: &watch::Receiver<bool>) -> Result<(), Stopped> {
        let mut stage = Stages::start();
        if !p.letters.is_empty() {
            self.retry("dead letters", shutdown, || self.publisher.dead_letters(&p.letters)).await?;
            for (_, d) in &p.letters {
                metrics::counter!("rtcx_processors_dead_letters_total", "reason" => reason_label(d.reason))
                    .increment(1);
            }
        }
        self.retry("enriched events", shutdown, || self.publisher.enriched(&p.enriched)).await?;
        stage.done("publish");
        self.retry("ClickHouse insert", shutdown, || self.store.insert(&p.rows)).await?;
        stage.done("insert");
        if let Some(w) = &self.watermarks
            && let Err(e) = w.record(&p.rows).await
        {
            metrics::counter!("rtcx_processors_watermark_failures_total").increment(1);
            tracing::warn!(error = %e, "recording event-time watermarks failed; alert evaluation waits for the next batch");
        }
        #[cfg(feature = "fault-injection")]
        if self.cfg.crash_after_inserts.is_some_and(|n| self.status.batches.load(Ordering::SeqCst) + 1 >= n) {
            tracing::error!("fault injection: aborting after the insert, before the offset commit");
            std::process::abort();
        }
        self.commit(&p.offsets, shutdown).await?;
        stage.done("commit");

        metrics::counter!("rtcx_processors_messages_total", "outcome" => "stored").increment(p.rows.len() as u64);
        metrics::counter!("rtcx_processors_messages_total", "outcome" => "duplicate").increment(p.duplicates);
        metrics::counter!("rtcx_processors_messages_total", "outcome" => "dead_letter")
            .increment(p.letters.len() as u64);
        metrics::histogram!("rtcx_processors_batch_rows").record(p.messages as f64);
        metrics::histogram!("rtcx_processors_batch_seconds").record(p.started.elapsed().as_secs_f64());
        let done = Utc::now();
        for e in &p.enriched {
            let lag = (done - e.feedback.received_at).num_milliseconds().max(0) as f64 / 1000.0;
            metrics::histogram!("rtcx_processors_end_to_end_seconds").record(lag);
        }
        self.status.batches.fetch_add(1, Ordering::SeqCst);
        tracing::debug!(
            messages = p.messages,
            stored = p.rows.len(),
            duplicates = p.duplicates,
            dead_letters = p.letters.len(),
            ms = p.started.elapsed().as_millis() as u64,
            "batch committed"
        );
        Ok(())
    }

    fn dead_letter(
        &self,
        p: &Pending,
        reason: DeadLetterReason,
        error: String,
        attempts: u32,
        now: DateTime<Utc>,
    ) -> (String, DeadLetter) {
        use base64::Engine as _;
        let key = match &p.key {
            Some(k) => String::from_utf8_lossy(k).into_owned(),
            None => format!("{}/{}", p.partition, p.offset),
        };
        let source = SourceCoordinates {
            topic: self.cfg.raw_topic.clone(),
            partition: p.partition,
            offset: p.offset,
            key_base64: p.key.as_ref().map(|k| base64::engine::general_purpose::STANDARD.encode(k)),
            timestamp_ms: p.timestamp_ms,
        };
        tracing::info!(partition = p.partition, offset = p.offset, ?reason, %error, "dead letter");
        (key, DeadLetter::new(reason, error, source, p.payload.as_deref().unwrap_or_default(), attempts, now))
    }

    /// Commits the offset after the last message of every partition in the batch.
    async fn commit(&self, offsets: &[(i32, i64)], shutdown: &watch::Receiver<bool>) -> Result<(), Stopped> {
        let mut tpl = TopicPartitionList::new();
        for (partition, offset) in offsets {
            if tpl.add_partition_offset(&self.cfg.raw_topic, *partition, Offset::Offset(*offset)).is_err() {
                tracing::error!(partition, offset, "invalid offset to commit");
            }
        }
        let mut attempts = 0;
        loop {
            attempts += 1;
            let r = tokio::task::block_in_place(|| self.consumer.commit(&tpl, CommitMode::Sync));
            match r {
                Ok(()) => return Ok(()),
                Err(e) if attempts < 5 && !*shutdown.borrow() => {
                    tracing::warn!(error = %e, "offset commit failed; retrying");
                    tokio::time::sleep(BACKOFF_MIN * attempts).await;
                }
                Err(e) => {
                    // The rows are stored; a redelivery is recognised by id, so moving on is safe.
                    metrics::counter!("rtcx_processors_commit_failures_total").increment(1);
                    tracing::warn!(error = %e, "offset commit failed; the batch may be redelivered (and deduplicated)");
                    return Ok(());
                }
            }
        }
    }
}

/// Times the stages of a batch (`rtcx_processors_stage_seconds{stage}`).
struct Stages(std::time::Instant);

impl Stages {
    fn start() -> Self {
        Self(std::time::Instant::now())
    }

    fn done(&mut self, stage: &'static str) {
        metrics::histogram!("rtcx_processors_stage_seconds", "stage" => stage).record(self.0.elapsed().as_secs_f64());
        self.0 = std::time::Instant::now();
    }
}

fn reason_label(r: DeadLetterReason) -> &'static str {
    match r {
        DeadLetterReason::MalformedJson => "malformed_json",
        DeadLetterReason::SchemaMismatch => "schema_mismatch",
        DeadLetterReason::InvalidEvent => "invalid_event",
        DeadLetterReason::ProcessingFailed => "processing_failed",
    }
}
