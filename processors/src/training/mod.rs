//! Training and evaluation of rtcx's classification heads (`rtcx-processors train` / `eval`).

pub mod datasets;
pub mod fit;
pub mod metrics;
pub mod train;
