//! Training and evaluation of rtcx's classification heads (`rtcx-model train` / `eval`),
//! and adapting them to a deployment's rated feedback (`adapt`).

pub mod adapt;
pub mod checkpoint;
pub mod datasets;
pub mod finetune;
pub mod fit;
pub mod metrics;
pub mod train;
