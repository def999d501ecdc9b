//! rtcx's inference engine: everything that turns text into sentiment, emotions, embeddings,
//! key phrases and a language — the tokenizer and encoder (candle, with rtcx's fused CPU
//! kernels), the trained heads, Hugging Face classifier pairs, batching, the worker pool and
//! the rule-based lexicon ([`text`]: key phrases and language detection).
//!
//! Transport and inference stay apart, as in text-embeddings-inference's router/backends
//! split: this crate knows no Kafka, ClickHouse or Postgres (none is among its dependencies),
//! and the stream service (`rtcx-processors`) and training use it, never the other way round.

pub mod analyzer;
pub mod config;
pub mod encoder;
pub mod engine;
pub mod error;
pub mod fast_bert;
pub mod files;
pub mod heads;
pub mod hf_classifier;
pub mod int8;
pub mod kernels;
pub mod lexicon;
pub mod pool;
pub mod recent;
pub mod text;

pub use analyzer::{Analysis, Analyzer, Batching};
pub use config::ModelArgs;
pub use encoder::{Embeddings, SentenceEncoder};
pub use engine::{Engine, HfPair};
pub use error::InferenceError;
pub use lexicon::LexiconAnalyzer;
pub use pool::AnalyzerPool;
pub use recent::RecentResults;
