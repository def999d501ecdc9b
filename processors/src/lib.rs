//! rtcx processors: Kafka consumer-group workers that enrich feedback and write it to
//! ClickHouse. The inference engine is its own crate, `rtcx-inference` (re-exported here as
//! [`inference`] and [`text`]); [`training`] trains and evaluates its heads; [`pipeline`] is
//! the Kafka → ClickHouse stream; [`topics`] assigns feedback to the topic catalogue and
//! proposes new topics.

pub mod config;
pub mod detect;
pub mod pipeline;
pub mod topics;
pub mod training;

pub use rtcx_inference as inference;
pub use rtcx_inference::text;
