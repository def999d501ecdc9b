//! The notifier's settings (command line or environment), validated at start-up.

use std::net::SocketAddr;
use std::time::Duration;

use crate::consumer::ConsumerSettings;
use crate::dispatch::DispatchSettings;
use crate::retry::RetryPolicy;
use crate::router::EmailRouting;
use crate::webhook::ssrf::TargetPolicy;

/// rtcx-notifier: delivers alert events to webhooks (Standard Webhooks signatures, Slack
/// format) and e-mail (alerts, reminders, account mails, daily and weekly digests) from a
/// durable Postgres queue, with retries, back-off and an SSRF guard.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "rtcx-notifier", version)]
pub struct Config {
    /// Address of the operations HTTP server (health, metrics).
    #[arg(long, env = "RTCX_NOTIFIER_LISTEN", default_value = "127.0.0.1:9102")]
    pub listen: SocketAddr,
    /// Postgres connection URL (webhooks and the delivery queue).
    #[arg(long, env = "RTCX_POSTGRES_URL")]
    pub postgres_url: String,
    /// Kafka bootstrap servers.
    #[arg(long, env = "RTCX_KAFKA_BROKERS")]
    pub kafka_brokers: String,
    /// Topic of the alert events.
    #[arg(long, env = "RTCX_ALERTS_TOPIC", default_value = rtcx_schemas::topics::ALERTS)]
    pub alerts_topic: String,
    /// Topic of the enriched feedback (for `feedback.negative` webhooks).
    #[arg(long, env = "RTCX_ENRICHED_TOPIC", default_value = rtcx_schemas::topics::FEEDBACK_ENRICHED)]
    pub enriched_topic: String,
    /// Seconds a new-alert e-mail waits for other alerts of its rule to the same address, to
    /// send them as one mail (0: at once; docs/notifications.md, "Grouping").
    #[arg(long, env = "RTCX_NOTIFIER_GROUP_WAIT_SECS", default_value_t = 30)]
    pub group_wait_secs: u64,
    /// Seconds after which an alert still OPEN is mailed again ("Still open"), and again every
    /// interval (0: never; docs/notifications.md, "Reminders").
    #[arg(long, env = "RTCX_NOTIFIER_REPEAT_INTERVAL_SECS", default_value_t = 14_400)]
    pub repeat_interval_secs: u64,
    /// Seconds between looks for digests due (daily and weekly summary mails, read from
    /// ClickHouse; 0: this notifier sends none; docs/notifications.md, "Digests").
    #[arg(long, env = "RTCX_NOTIFIER_DIGEST_CHECK_SECS", default_value_t = 60)]
    pub digest_check_secs: u64,
    /// Kafka consumer group; notifiers with the same group share the alert events.
    #[arg(long, env = "RTCX_NOTIFIER_GROUP", default_value = "rtcx-notifier")]
    pub group_id: String,
    /// Alert events older than this many seconds when read are not notified (a new
    /// consumer group starts from the earliest offset and must not replay history).
    #[arg(long, env = "RTCX_NOTIFIER_MAX_EVENT_AGE_SECS", default_value_t = 3600)]
    pub max_event_age_secs: u64,
    /// Deliveries claimed per round.
    #[arg(long, env = "RTCX_NOTIFIER_BATCH", default_value_t = 50)]
    pub batch: u32,
    /// Deliveries in flight at once.
    #[arg(long, env = "RTCX_NOTIFIER_CONCURRENCY", default_value_t = 16)]
    pub concurrency: usize,
    /// Pause between rounds when nothing is due, in milliseconds.
    #[arg(long, env = "RTCX_NOTIFIER_POLL_MS", default_value_t = 500)]
    pub poll_ms: u64,
    /// Timeout of one webhook request, in milliseconds.
    #[arg(long, env = "RTCX_WEBHOOK_TIMEOUT_MS", default_value_t = 10_000)]
    pub webhook_timeout_ms: u64,
    /// Attempts after which a delivery is dead.
    #[arg(long, env = "RTCX_NOTIFIER_MAX_ATTEMPTS", default_value_t = 8)]
    pub max_attempts: u32,
    /// Delay after a first failed attempt, in milliseconds; doubled after each further one
    /// (with jitter).
    #[arg(long, env = "RTCX_NOTIFIER_RETRY_BASE_MS", default_value_t = 5_000)]
    pub retry_base_ms: u64,
    /// Longest delay between attempts, in milliseconds.
    #[arg(long, env = "RTCX_NOTIFIER_RETRY_MAX_MS", default_value_t = 3_600_000)]
    pub retry_max_ms: u64,
    /// Allow webhook targets on loopback, private, link-local and other non-public addresses
    /// (local development and tests only: it opens the SSRF hole the guard closes).
    #[arg(long, env = "RTCX_WEBHOOK_ALLOW_PRIVATE_TARGETS")]
    pub allow_private_targets: bool,
    /// Public URL of the rtcx console, for links in messages (e.g. https://rtcx.example.com);
    /// required with --smtp-url (password-reset mails link to it).
    #[arg(long, env = "RTCX_CONSOLE_URL")]
    pub console_url: Option<String>,
    /// SMTP server for e-mail, the lettre way: smtp://host:25 (plain, a local relay),
    /// smtp://user:pass@host:587?tls=required (STARTTLS), smtps://user:pass@host:465 (TLS).
    /// Absent: no e-mail is queued or sent.
    #[arg(long, env = "RTCX_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Sender of the e-mails.
    #[arg(long, env = "RTCX_SMTP_FROM", default_value = "rtcx <rtcx@localhost>")]
    pub smtp_from: String,
    /// Timeout of one SMTP conversation, in milliseconds.
    #[arg(long, env = "RTCX_SMTP_TIMEOUT_MS", default_value_t = 30_000)]
    pub smtp_timeout_ms: u64,
    /// ClickHouse, read by the digests.
    #[command(flatten)]
    pub clickhouse: rtcx_service_kit::ClickHouseArgs,
    #[command(flatten)]
    pub log: rtcx_service_kit::LogArgs,
}

impl Config {
    /// Checks the settings together; the message says which one is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=1000).contains(&self.batch) {
            return Err(format!("--batch must be within 1..=1000, not {}", self.batch));
        }
        if !(1..=1000).contains(&self.concurrency) {
            return Err(format!("--concurrency must be within 1..=1000, not {}", self.concurrency));
        }
        if !(100..=120_000).contains(&self.webhook_timeout_ms) {
            return Err(format!("--webhook-timeout-ms must be within 100..=120000, not {}", self.webhook_timeout_ms));
        }
        if !(1..=50).contains(&self.max_attempts) {
            return Err(format!("--max-attempts must be within 1..=50, not {}", self.max_attempts));
        }
        if self.retry_base_ms == 0 || self.retry_base_ms > self.retry_max_ms {
            return Err(format!(
                "--retry-base-ms ({}) must be positive and at most --retry-max-ms ({})",
                self.retry_base_ms, self.retry_max_ms
            ));
        }
        if !(100..=120_000).contains(&self.smtp_timeout_ms) {
            return Err(format!("--smtp-timeout-ms must be within 100..=120000, not {}", self.smtp_timeout_ms));
        }
        if self.smtp_url.is_some() && self.console_url.is_none() {
            return Err("--smtp-url needs --console-url (RTCX_CONSOLE_URL): e-mails link to the console".to_owned());
        }
        if self.max_event_age_secs == 0 {
            return Err("--max-event-age-secs must be positive".to_owned());
        }
        if let Some(u) = &self.console_url {
            let parsed = url::Url::parse(u).map_err(|e| format!("--console-url {u:?}: {e}"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(format!("--console-url {u:?} is not an http(s) URL"));
            }
        }
        Ok(())
    }

    pub fn dispatch(&self) -> DispatchSettings {
        // The longest a send can take, over the channels this notifier sends.
        let smtp = if self.smtp_url.is_some() { self.smtp_timeout_ms } else { 0 };
        let timeout = Duration::from_millis(self.webhook_timeout_ms.max(smtp));
        DispatchSettings {
            batch: i64::from(self.batch),
            concurrency: self.concurrency,
            idle: Duration::from_millis(self.poll_ms),
            // Longer than any send can take (the request timeout bounds connect and reply).
            lease: timeout * 2 + Duration::from_secs(5),
            retry: RetryPolicy {
                base: Duration::from_millis(self.retry_base_ms),
                max: Duration::from_millis(self.retry_max_ms),
                max_attempts: self.max_attempts,
            },
        }
    }

    pub fn consumer(&self) -> ConsumerSettings {
        ConsumerSettings {
            brokers: self.kafka_brokers.clone(),
            group_id: self.group_id.clone(),
            topic: self.alerts_topic.clone(),
            enriched_topic: self.enriched_topic.clone(),
            max_event_age: Duration::from_secs(self.max_event_age_secs),
            email: self.smtp_url.as_ref().map(|_| EmailRouting {
                console_url: self.console_url.clone(),
                group_wait: Duration::from_secs(self.group_wait_secs),
            }),
        }
    }

    /// How often to look for digests due, when this notifier sends them (it needs SMTP).
    pub fn digest_check(&self) -> Option<Duration> {
        (self.smtp_url.is_some() && self.digest_check_secs > 0).then(|| Duration::from_secs(self.digest_check_secs))
    }

    pub fn target_policy(&self) -> TargetPolicy {
        TargetPolicy { allow_private: self.allow_private_targets }
    }

    pub fn webhook_timeout(&self) -> Duration {
        Duration::from_millis(self.webhook_timeout_ms)
    }

    pub fn smtp_timeout(&self) -> Duration {
        Duration::from_millis(self.smtp_timeout_ms)
    }
}
