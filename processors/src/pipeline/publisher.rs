//! Publishing to Kafka: enriched events and dead letters, each call returning only when the
//! broker has every message (idempotent producer, acks=all).

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rtcx_schemas::{DeadLetter, EnrichedFeedback};

/// Errors publishing.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("Kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("serializing: {0}")]
    Json(#[from] serde_json::Error),
}

/// The pipeline's producer.
#[derive(Clone)]
pub struct Publisher {
    producer: FutureProducer,
    enriched_topic: String,
    dlq_topic: String,
}

impl Publisher {
    /// A producer for `brokers`.
    pub fn new(brokers: &str, enriched_topic: &str, dlq_topic: &str) -> Result<Self, rdkafka::error::KafkaError> {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("compression.type", "lz4")
            .set("linger.ms", "5")
            .set("message.timeout.ms", "30000")
            .create()?;
        Ok(Self { producer, enriched_topic: enriched_topic.to_owned(), dlq_topic: dlq_topic.to_owned() })
    }

    async fn send_all(&self, topic: &str, messages: Vec<(String, Vec<u8>)>) -> Result<(), PublishError> {
        let deliveries = messages.iter().map(|(key, payload)| {
            self.producer.send(FutureRecord::to(topic).key(key).payload(payload), Duration::from_secs(30))
        });
        for r in futures::future::join_all(deliveries).await {
            r.map_err(|(e, _)| e)?;
        }
        Ok(())
    }

    /// Publishes enriched events keyed like their raw events.
    pub async fn enriched(&self, events: &[EnrichedFeedback]) -> Result<(), PublishError> {
        let messages = events
            .iter()
            .map(|e| Ok((e.feedback.kafka_key(), serde_json::to_vec(e)?)))
            .collect::<Result<Vec<_>, PublishError>>()?;
        self.send_all(&self.enriched_topic, messages).await
    }

    /// Publishes dead letters with the original messages' keys (or their coordinates).
    pub async fn dead_letters(&self, letters: &[(String, DeadLetter)]) -> Result<(), PublishError> {
        let messages = letters
            .iter()
            .map(|(k, d)| Ok((k.clone(), serde_json::to_vec(d)?)))
            .collect::<Result<Vec<_>, PublishError>>()?;
        self.send_all(&self.dlq_topic, messages).await
    }
}
