//! rtcx processors: Kafka consumer-group workers that enrich feedback and write it to
//! ClickHouse. [`inference`] is the transport-free inference engine; [`training`] trains and
//! evaluates its heads; [`pipeline`] is the Kafka → ClickHouse stream; [`topics`] assigns
//! feedback to the topic catalogue and proposes new topics.

pub mod config;
pub mod detect;
pub mod inference;
pub mod pipeline;
pub mod text;
pub mod topics;
pub mod training;
