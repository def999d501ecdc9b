//! rtcx processors: Kafka consumer-group workers that enrich feedback and write it to
//! ClickHouse. [`inference`] is the transport-free inference engine.

pub mod inference;
