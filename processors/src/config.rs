//! The processors' typed configuration: the service's [`Config`] (flags and `RTCX_*`
//! environment variables, checked at start-up) and its parts.

use std::net::SocketAddr;
use std::time::Duration;

use crate::inference::Batching;
pub use crate::inference::config::ModelArgs;
use crate::pipeline::PipelineConfig;

/// The service's settings (flags and `RTCX_*` environment variables).
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address of the operations HTTP server (health, metrics).
    #[arg(long, env = "RTCX_PROCESSORS_LISTEN", default_value = "127.0.0.1:9101")]
    pub listen: SocketAddr,
    /// Kafka bootstrap servers (comma-separated host:port).
    #[arg(long, env = "RTCX_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub kafka_brokers: String,
    #[command(flatten)]
    pub clickhouse: rtcx_service_kit::ClickHouseArgs,
    /// Postgres connection URL (topic catalogue, event-time watermarks, alerts); without it
    /// no topics are assigned and no alerts evaluated.
    #[arg(long, env = "RTCX_POSTGRES_URL")]
    pub postgres_url: Option<String>,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    #[command(flatten)]
    pub alerts: AlertArgs,
    #[command(flatten)]
    pub reassign: ReassignArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub log: rtcx_service_kit::LogArgs,
}

/// Retroactive topic assignment (docs/models.md "Retroactive assignment"): the jobs asked for
/// through `POST /v1/topic-reassignments`, run by one processor at a time.
#[derive(Debug, Clone, clap::Args)]
pub struct ReassignArgs {
    /// Run reassignment jobs in this processor (every processor may; one runs each job).
    #[arg(long, env = "RTCX_REASSIGN_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    pub reassign_enabled: bool,
    /// Changed feedback per batch: one correction insert and one update of `feedback` each.
    #[arg(long, env = "RTCX_REASSIGN_BATCH_ROWS", default_value_t = 2_000, value_parser = clap::value_parser!(u32).range(1..=20_000))]
    pub reassign_batch_rows: u32,
    /// How often an idle processor looks for a job, in seconds.
    #[arg(long, env = "RTCX_REASSIGN_POLL_SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub reassign_poll_secs: u64,
    /// A running job whose processor has not reported for this many seconds is taken over.
    #[arg(long, env = "RTCX_REASSIGN_STALE_SECS", default_value_t = 120, value_parser = clap::value_parser!(u64).range(10..=86_400))]
    pub reassign_stale_secs: u64,
}

impl ReassignArgs {
    /// The run settings, with this processor's name.
    pub fn settings(&self, worker: String) -> crate::topics::reassign::ReassignSettings {
        crate::topics::reassign::ReassignSettings {
            batch_rows: self.reassign_batch_rows as usize,
            stale_after: Duration::from_secs(self.reassign_stale_secs),
            worker,
        }
    }
}

/// Settings of the stream pipeline (`rtcx-processors run`).
#[derive(Debug, Clone, clap::Args)]
pub struct PipelineArgs {
    /// Kafka consumer group; processors with the same group share the raw topic's partitions.
    #[arg(long, env = "RTCX_PROCESSORS_GROUP", default_value = "rtcx-processors")]
    pub group_id: String,
    /// Raw feedback topic to consume.
    #[arg(long, env = "RTCX_RAW_TOPIC", default_value = rtcx_schemas::topics::FEEDBACK_RAW)]
    pub raw_topic: String,
    /// Topic the enriched events are published to.
    #[arg(long, env = "RTCX_ENRICHED_TOPIC", default_value = rtcx_schemas::topics::FEEDBACK_ENRICHED)]
    pub enriched_topic: String,
    /// Dead-letter topic.
    #[arg(long, env = "RTCX_DLQ_TOPIC", default_value = rtcx_schemas::topics::FEEDBACK_DLQ)]
    pub dlq_topic: String,
    /// Largest batch: rows per ClickHouse insert.
    #[arg(long, env = "RTCX_BATCH_MAX_ROWS", default_value_t = 10_000)]
    pub batch_max_rows: usize,
    /// Longest a message waits for its batch, in milliseconds from its Kafka timestamp.
    #[arg(long, env = "RTCX_BATCH_LINGER_MS", default_value_t = 500)]
    pub batch_linger_ms: u64,
    /// Estimated inference time, in milliseconds, at which a batch is cut: under a backlog the
    /// processor drains short batches (bounded latency, rebalances and memory) instead of
    /// batches of `--batch-max-rows`. Estimated from payload bytes and the measured rate.
    #[arg(long, env = "RTCX_BATCH_INFERENCE_BUDGET_MS", default_value_t = 500)]
    pub batch_inference_budget_ms: u64,
    /// Inference token budget per forward pass (texts × longest text).
    #[arg(long, env = "RTCX_INFERENCE_MAX_TOKENS", default_value_t = 2_048)]
    pub inference_max_tokens: usize,
    /// Most texts per forward pass.
    #[arg(long, env = "RTCX_INFERENCE_MAX_BATCH", default_value_t = 32)]
    pub inference_max_batch: usize,
    /// Inference worker threads, one model instance each (run with RAYON_NUM_THREADS=1);
    /// 0 means one per core.
    #[arg(long, env = "RTCX_INFERENCE_WORKERS", default_value_t = 0)]
    pub inference_workers: usize,
    /// Texts whose analysis is remembered for repeats ("ok", "great service"): a repeat
    /// within --recent-results-ttl-secs costs no encoder pass; 0 remembers none. Only texts
    /// of at most 256 bytes are kept (~2 KB each).
    #[arg(long, env = "RTCX_RECENT_RESULTS", default_value_t = 10_000)]
    pub recent_results: usize,
    /// Seconds a remembered analysis is reused.
    #[arg(long, env = "RTCX_RECENT_RESULTS_TTL_SECS", default_value_t = 600)]
    pub recent_results_ttl_secs: u64,
    /// Attempts at analysing a text (after its batch failed) before it is dead-lettered.
    #[arg(long, env = "RTCX_MAX_ATTEMPTS", default_value_t = 3)]
    pub max_attempts: u32,
    /// Consumer-group session timeout in milliseconds (how soon a dead processor's
    /// partitions move to the others).
    #[arg(long, env = "RTCX_KAFKA_SESSION_TIMEOUT_MS", default_value_t = 10_000)]
    pub session_timeout_ms: u64,
    /// Seconds between checks of the topic catalogue for changes.
    #[arg(long, env = "RTCX_TOPIC_REFRESH_SECS", default_value_t = 30)]
    pub topic_refresh_secs: u64,
    /// Score a text needs to be assigned a topic that has fewer than four example messages
    /// (its cosine with the topic's description, name or a keyword); topics with more have
    /// their own threshold, calibrated from their examples (docs/models.md).
    #[arg(long, env = "RTCX_TOPIC_THRESHOLD", default_value_t = rtcx_topics::matcher::Settings::default().threshold)]
    pub topic_threshold: f32,
    /// Fault injection for tests: abort after this many ClickHouse inserts, before their
    /// offsets are committed (only with the `fault-injection` feature).
    #[cfg(feature = "fault-injection")]
    #[arg(long, env = "RTCX_TEST_CRASH_AFTER_INSERTS", hide = true)]
    pub crash_after_inserts: Option<u64>,
}

impl PipelineArgs {
    /// How the topic matcher turns scores into assignments.
    pub fn topic_settings(&self) -> rtcx_topics::matcher::Settings {
        rtcx_topics::matcher::Settings { threshold: self.topic_threshold, ..Default::default() }
    }

    /// Checks the settings; the message names the offending flag.
    pub fn validate(&self) -> Result<(), String> {
        let checks: [(bool, &str); 9] = [
            (self.batch_max_rows >= 1, "--batch-max-rows must be at least 1"),
            ((1..=60_000).contains(&self.batch_linger_ms), "--batch-linger-ms must be 1..=60000"),
            (
                (50..=600_000).contains(&self.batch_inference_budget_ms),
                "--batch-inference-budget-ms must be 50..=600000",
            ),
            (self.inference_max_tokens >= 16, "--inference-max-tokens must be at least 16"),
            (self.inference_max_batch >= 1, "--inference-max-batch must be at least 1"),
            (self.max_attempts >= 1, "--max-attempts must be at least 1"),
            ((1_000..=300_000).contains(&self.session_timeout_ms), "--kafka-session-timeout-ms must be 1000..=300000"),
            (self.topic_refresh_secs >= 1, "--topic-refresh-secs must be at least 1"),
            (self.topic_threshold > 0.0 && self.topic_threshold <= 1.0, "--topic-threshold must be in (0, 1]"),
        ];
        match checks.iter().find(|(ok, _)| !ok) {
            Some((_, msg)) => Err((*msg).to_owned()),
            None => Ok(()),
        }
    }

    /// Inference batching.
    pub fn batching(&self) -> Batching {
        Batching { max_batch: self.inference_max_batch, max_tokens: self.inference_max_tokens }
    }

    /// The memory of recent analyses.
    pub fn recent_results(&self) -> crate::inference::RecentResults {
        crate::inference::RecentResults::new(
            self.recent_results,
            std::time::Duration::from_secs(self.recent_results_ttl_secs),
        )
    }

    /// Worker threads (0 → one per core).
    pub fn workers(&self) -> usize {
        match self.inference_workers {
            0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            n => n,
        }
    }

    /// The pipeline's settings.
    pub fn pipeline_config(&self, brokers: &str) -> PipelineConfig {
        PipelineConfig {
            brokers: brokers.to_owned(),
            group_id: self.group_id.clone(),
            raw_topic: self.raw_topic.clone(),
            enriched_topic: self.enriched_topic.clone(),
            dlq_topic: self.dlq_topic.clone(),
            max_rows: self.batch_max_rows,
            linger: Duration::from_millis(self.batch_linger_ms),
            inference_budget: Duration::from_millis(self.batch_inference_budget_ms),
            inference_chunk: self.inference_max_batch * 4,
            max_attempts: self.max_attempts,
            session_timeout: Duration::from_millis(self.session_timeout_ms),
            catalogue_refresh: Duration::from_secs(self.topic_refresh_secs),
            #[cfg(feature = "fault-injection")]
            crash_after_inserts: self.crash_after_inserts,
        }
    }
}

/// Settings of the live alert evaluator (runs inside `rtcx-processors run` when Postgres is
/// configured; one instance at a time evaluates, see docs/alerts.md).
#[derive(Debug, Clone, clap::Args)]
pub struct AlertArgs {
    /// Evaluate the alert rules (false: this instance never takes the evaluator lock).
    #[arg(long = "alerts", env = "RTCX_ALERTS", default_value_t = true, action = clap::ArgAction::Set)]
    pub enabled: bool,
    /// Window width in seconds (a whole number of minutes).
    #[arg(long, env = "RTCX_ALERT_WINDOW_SECS", default_value_t = 300)]
    pub alert_window_secs: u64,
    /// Days of history the baselines are computed from.
    #[arg(long, env = "RTCX_ALERT_HISTORY_DAYS", default_value_t = 8)]
    pub alert_history_days: u32,
    /// How readily rules fire, for rules that do not set their own sensitivity (`alert_rules`).
    #[arg(long, env = "RTCX_ALERT_SENSITIVITY", value_enum, default_value_t = crate::detect::detectors::Sensitivity::Medium)]
    pub alert_sensitivity: crate::detect::detectors::Sensitivity,
    /// Allowed lateness of events, in seconds: the watermark trails the slowest partition by this.
    #[arg(long, env = "RTCX_ALERT_LATENESS_SECS", default_value_t = 120)]
    pub alert_lateness_secs: u64,
    /// A partition that stored nothing for this many seconds stops holding the watermark back.
    #[arg(long, env = "RTCX_ALERT_IDLE_TIMEOUT_SECS", default_value_t = 300)]
    pub alert_idle_timeout_secs: u64,
    /// Windows ending more than this many seconds before now are recorded as `backfill`.
    #[arg(long, env = "RTCX_ALERT_STALE_SECS", default_value_t = 900)]
    pub alert_stale_secs: u64,
    /// Seconds between evaluator ticks.
    #[arg(long, env = "RTCX_ALERT_TICK_SECS", default_value_t = 15)]
    pub alert_tick_secs: u64,
    /// Topic the alert events of the outbox are relayed to.
    #[arg(long, env = "RTCX_ALERTS_TOPIC", default_value = rtcx_schemas::topics::ALERTS)]
    pub alerts_topic: String,
}

impl AlertArgs {
    /// Checks the settings; the message names the offending flag.
    pub fn validate(&self) -> Result<(), String> {
        let checks: [(bool, &str); 5] = [
            (
                (60..=86_400).contains(&self.alert_window_secs) && self.alert_window_secs.is_multiple_of(60),
                "--alert-window-secs must be whole minutes, 60..=86400",
            ),
            ((1..=35).contains(&self.alert_history_days), "--alert-history-days must be 1..=35"),
            (self.alert_lateness_secs <= 3_600, "--alert-lateness-secs must be at most 3600"),
            (self.alert_idle_timeout_secs >= 10, "--alert-idle-timeout-secs must be at least 10"),
            ((1..=3_600).contains(&self.alert_tick_secs), "--alert-tick-secs must be 1..=3600"),
        ];
        match checks.iter().find(|(ok, _)| !ok) {
            Some((_, msg)) => Err((*msg).to_owned()),
            None => Ok(()),
        }
    }

    /// The evaluator's parameters.
    pub fn evaluator_params(&self) -> crate::detect::evaluator::EvaluatorParams {
        crate::detect::evaluator::EvaluatorParams {
            window_secs: self.alert_window_secs,
            history_days: i64::from(self.alert_history_days),
            sensitivity: self.alert_sensitivity,
            watermark: crate::detect::watermark::WatermarkParams {
                lateness: chrono::Duration::seconds(self.alert_lateness_secs as i64),
                idle_timeout: chrono::Duration::seconds(self.alert_idle_timeout_secs as i64),
            },
            stale: chrono::Duration::seconds(self.alert_stale_secs as i64),
            tick: Duration::from_secs(self.alert_tick_secs),
        }
    }
}
