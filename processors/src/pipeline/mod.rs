//! The stream pipeline: raw topic → validation → enrichment → enriched topic + ClickHouse,
//! with dead letters for what cannot be processed. Exactly-once counts in ClickHouse are
//! explained in docs/architecture.md.

pub mod budget;
pub mod decode;
pub mod enrich;
pub mod poison;
pub mod publisher;
pub mod store;
pub mod watermarks;
pub mod worker;

pub use store::FeedbackStore;
pub use worker::{Pipeline, PipelineConfig, PipelineError, PipelineStatus};
