//! The inference engine: transformer encoders run with candle on the CPU.
//!
//! Transport (Kafka) and inference stay apart, as in text-embeddings-inference's
//! router/backends split: nothing in this module knows about Kafka or ClickHouse.

pub mod analyzer;
pub mod encoder;
pub mod engine;
pub mod error;
pub mod fast_bert;
pub mod heads;
pub mod hf_classifier;
pub mod kernels;
pub mod lexicon;
pub mod pool;

pub use analyzer::{Analysis, Analyzer, Batching};
pub use encoder::{Embeddings, SentenceEncoder};
pub use engine::{Engine, HfPair};
pub use error::InferenceError;
pub use lexicon::LexiconAnalyzer;
pub use pool::AnalyzerPool;
