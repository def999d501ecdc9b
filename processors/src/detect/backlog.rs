//! Which raw-topic partitions still hold messages the consumer group has not consumed: a
//! partition with a backlog is never idle for the watermark ([`super::watermark`]), however
//! long ago it last stored something — a processor catching up after an outage must not let
//! the windows of the outage close before their events are stored.
//!
//! Read from Kafka at each tick: the partitions' end offsets against the group's committed
//! offsets (a consumer that joins no group, so it changes nothing).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// Reads a consumer group's backlog on a topic.
#[derive(Clone)]
pub struct KafkaBacklog {
    consumer: Arc<BaseConsumer>,
    topic: String,
}

const TIMEOUT: Duration = Duration::from_secs(5);

impl KafkaBacklog {
    pub fn new(brokers: &str, group: &str, topic: &str) -> Result<Self, KafkaError> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()?;
        Ok(Self { consumer: Arc::new(consumer), topic: topic.to_owned() })
    }

    /// The partitions whose end offset is past the group's committed offset.
    pub async fn partitions(&self) -> Result<BTreeSet<i32>, KafkaError> {
        let (consumer, topic) = (Arc::clone(&self.consumer), self.topic.clone());
        tokio::task::spawn_blocking(move || {
            let metadata = consumer.fetch_metadata(Some(&topic), TIMEOUT)?;
            let partitions: Vec<i32> =
                metadata.topics().iter().flat_map(|t| t.partitions().iter().map(|p| p.id())).collect();
            let mut tpl = TopicPartitionList::new();
            for p in &partitions {
                tpl.add_partition(&topic, *p);
            }
            let committed = consumer.committed_offsets(tpl, TIMEOUT)?;
            let mut behind = BTreeSet::new();
            for p in partitions {
                let (low, high) = consumer.fetch_watermarks(&topic, p, TIMEOUT)?;
                let at = match committed.find_partition(&topic, p).map(|e| e.offset()) {
                    Some(Offset::Offset(o)) => o,
                    _ => low,
                };
                if high > at {
                    behind.insert(p);
                }
            }
            Ok(behind)
        })
        .await
        .map_err(|_| KafkaError::Canceled)?
    }
}
