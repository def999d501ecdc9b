//! rtcx processors: Kafka consumer-group workers that enrich feedback and write it to
//! ClickHouse. The inference engine is its own crate, `rtcx-inference` (re-exported here as
//! [`inference`] and [`text`]); [`service`] runs the stream service; [`pipeline`] is the
//! Kafka → ClickHouse stream; [`topics`] assigns feedback to the topic catalogue and proposes
//! new topics; [`detect`] evaluates the alert rules. Training and evaluation of the model are
//! the `rtcx-model` crate's.

pub mod config;
pub mod detect;
pub mod pipeline;
pub mod service;
pub mod topics;

pub use rtcx_inference as inference;
pub use rtcx_inference::text;
