//! The inference engine: transformer encoders run with candle on the CPU.
//!
//! Transport (Kafka) and inference stay apart, as in text-embeddings-inference's
//! router/backends split: nothing in this module knows about Kafka or ClickHouse.

pub mod analyzer;
pub mod encoder;
pub mod error;
pub mod heads;

pub use analyzer::{Analysis, Analyzer, Batching};
pub use encoder::{Embeddings, SentenceEncoder};
pub use error::InferenceError;
