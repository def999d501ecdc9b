//! Training and evaluation of rtcx's classification heads (`rtcx-processors train` / `eval`).

pub mod datasets;
pub mod finetune;
pub mod fit;
pub mod metrics;
pub mod train;
