//! rtcx processors: Kafka consumer-group workers that enrich feedback and write it to
//! ClickHouse. [`inference`] is the transport-free inference engine; [`training`] trains and
//! evaluates its heads.

pub mod inference;
pub mod text;
pub mod training;
