//! Kafka topics: created idempotently with their partition counts ([`rtcx_schemas::topics::ALL`]).
//!
//! The local broker runs with `auto.create.topics.enable=false`, so a producer that names a
//! wrong topic fails loudly instead of creating it.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

/// Errors while creating topics.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("Kafka client error: {0}")]
    Client(#[from] rdkafka::error::KafkaError),
    #[error("creating topic {topic} failed: {code}")]
    Create { topic: String, code: RDKafkaErrorCode },
}

/// Creates each `(name, partitions)` topic that does not exist yet (replication factor 1,
/// as the local stack has one broker; production clusters provision topics themselves).
/// Returns the names of the topics created.
pub async fn ensure_topics(brokers: &str, topics: &[(&str, i32)], replication: i32) -> Result<Vec<String>, TopicError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new().set("bootstrap.servers", brokers).create()?;
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|(name, partitions)| NewTopic::new(name, *partitions, TopicReplication::Fixed(replication)))
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let mut created = Vec::new();
    for result in admin.create_topics(new.iter(), &opts).await? {
        match result {
            Ok(name) => created.push(name),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(TopicError::Create { topic, code }),
        }
    }
    Ok(created)
}
