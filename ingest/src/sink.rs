//! Where accepted events go: the [`EventSink`] trait and its Kafka implementation.
//!
//! Handlers depend on the trait only (as PostHog capture keeps its producer behind a trait);
//! [`KafkaSink`] is the production implementation: idempotent producer, `acks=all`, and a
//! delivery future awaited for every event before the request is answered.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer, ProducerContext};
use rdkafka::{ClientConfig, ClientContext};
use rtcx_schemas::FeedbackEvent;

/// Why an event was not acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// The local producer queue is full: the broker cannot keep up (back-pressure).
    #[error("the producer queue is full")]
    QueueFull,
    /// Kafka is unreachable or did not acknowledge in time.
    #[error("Kafka did not acknowledge the event: {0}")]
    Unavailable(String),
}

/// Boxed future of [`EventSink::send_all`].
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Vec<Result<(), SinkError>>> + Send + 'a>>;

/// A durable destination for accepted events.
pub trait EventSink: Send + Sync + 'static {
    /// Sends every event and resolves when each one is acknowledged or failed, with one
    /// result per event, in order.
    fn send_all<'a>(&'a self, events: &'a [FeedbackEvent]) -> SendFuture<'a>;
    /// Whether the sink currently believes it can deliver (fast-fail when it cannot).
    fn is_available(&self) -> bool;
    /// Waits until everything queued is delivered (shutdown).
    fn flush(&self, timeout: Duration) -> Result<(), SinkError>;
    /// Events queued in the producer and not yet acknowledged.
    fn queue_depth(&self) -> usize;
}

/// Producer settings.
#[derive(Debug, Clone)]
pub struct KafkaSinkConfig {
    pub brokers: String,
    pub topic: String,
    /// How long librdkafka keeps trying to deliver an event before it fails (and the request
    /// gets a 503).
    pub message_timeout: Duration,
    pub linger_ms: u32,
    /// Maximum events waiting in the producer queue; beyond it requests get a 503.
    pub queue_max_messages: u32,
}

/// Tracks broker reachability from librdkafka's error callbacks.
struct SinkContext {
    available: Arc<AtomicBool>,
}

impl ClientContext for SinkContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if let KafkaError::Global(RDKafkaErrorCode::AllBrokersDown) = error {
            if self.available.swap(false, Ordering::SeqCst) {
                tracing::warn!(%reason, "all Kafka brokers are down; answering 503 until one is back");
            }
        } else {
            tracing::warn!(%error, %reason, "Kafka client error");
        }
    }
}

impl ProducerContext for SinkContext {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &rdkafka::message::DeliveryResult<'_>, _: Self::DeliveryOpaque) {
        if result.is_ok() && !self.available.swap(true, Ordering::SeqCst) {
            tracing::info!("Kafka delivers again");
        }
    }
}

/// [`EventSink`] producing to a Kafka topic.
pub struct KafkaSink {
    producer: FutureProducer<SinkContext>,
    topic: String,
    available: Arc<AtomicBool>,
    message_timeout: Duration,
}

impl KafkaSink {
    /// Creates the producer (no connection is made yet).
    pub fn new(cfg: &KafkaSinkConfig) -> Result<Arc<Self>, KafkaError> {
        let available = Arc::new(AtomicBool::new(true));
        let producer: FutureProducer<SinkContext> = ClientConfig::new()
            .set("bootstrap.servers", &cfg.brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("compression.type", "lz4")
            .set("linger.ms", cfg.linger_ms.to_string())
            .set("message.timeout.ms", cfg.message_timeout.as_millis().to_string())
            .set("queue.buffering.max.messages", cfg.queue_max_messages.to_string())
            .set("client.id", "rtcx-ingest")
            .set_log_level(RDKafkaLogLevel::Warning)
            .create_with_context(SinkContext { available: Arc::clone(&available) })?;
        let sink = Arc::new(Self {
            producer,
            topic: cfg.topic.clone(),
            available: Arc::clone(&available),
            message_timeout: cfg.message_timeout,
        });
        Ok(sink)
    }

    /// Probes the cluster's metadata every `every` and marks the sink available when it
    /// answers (librdkafka reports "all brokers down" but not their return).
    pub fn spawn_availability_probe(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let sink = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let Some(s) = sink.upgrade() else { return };
                let ok = tokio::task::spawn_blocking(move || {
                    s.producer.client().fetch_metadata(Some(&s.topic), Duration::from_secs(2)).is_ok().then_some(s)
                })
                .await
                .ok()
                .flatten();
                if let Some(s) = ok
                    && !s.available.swap(true, Ordering::SeqCst)
                {
                    tracing::info!("Kafka metadata reachable again; accepting events");
                }
            }
        })
    }

    /// The topic events go to.
    pub fn topic(&self) -> &str {
        &self.topic
    }
}

fn kafka_error(e: &KafkaError) -> SinkError {
    match e {
        KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull) => SinkError::QueueFull,
        other => SinkError::Unavailable(other.to_string()),
    }
}

impl EventSink for KafkaSink {
    fn send_all<'a>(&'a self, events: &'a [FeedbackEvent]) -> SendFuture<'a> {
        Box::pin(async move {
            let started = Instant::now();
            // Enqueue everything first (non-blocking), then await the acknowledgements.
            let mut pending = Vec::with_capacity(events.len());
            for ev in events {
                let payload = match serde_json::to_vec(ev) {
                    Ok(p) => p,
                    Err(e) => {
                        pending.push(Err(SinkError::Unavailable(format!("serialization failed: {e}"))));
                        continue;
                    }
                };
                let key = ev.kafka_key();
                let headers = OwnedHeaders::new()
                    .insert(Header { key: "content-type", value: Some("application/json") })
                    .insert(Header { key: "rtcx-schema", value: Some("feedback-raw.v1") });
                let record = FutureRecord::to(&self.topic).key(&key).payload(&payload).headers(headers);
                pending.push(match self.producer.send_result(record) {
                    Ok(delivery) => Ok(delivery),
                    Err((e, _)) => Err(kafka_error(&e)),
                });
            }
            let mut results = Vec::with_capacity(events.len());
            for p in pending {
                results.push(match p {
                    Ok(delivery) => match delivery.await {
                        Ok(Ok(_)) => Ok(()),
                        Ok(Err((e, _))) => Err(kafka_error(&e)),
                        Err(_) => Err(SinkError::Unavailable("delivery was cancelled".into())),
                    },
                    Err(e) => Err(e),
                });
            }
            metrics::histogram!("rtcx_ingest_produce_seconds").record(started.elapsed().as_secs_f64());
            results
        })
    }

    fn is_available(&self) -> bool {
        self.available.load(Ordering::SeqCst)
    }

    fn flush(&self, timeout: Duration) -> Result<(), SinkError> {
        self.producer.flush(timeout).map_err(|e| kafka_error(&e))
    }

    fn queue_depth(&self) -> usize {
        usize::try_from(self.producer.in_flight_count()).unwrap_or(0)
    }
}

impl KafkaSink {
    /// How long one delivery may take before it fails.
    pub fn message_timeout(&self) -> Duration {
        self.message_timeout
    }
}
