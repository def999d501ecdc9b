//! rtcx-model: training, evaluation and benchmarking of rtcx's model (`rtcx-model train | eval
//! | eval-topics | bench | analyze | adapt`). The inference itself is `rtcx-inference`'s; this crate adds what
//! serving never needs: data sets, training loops and metrics ([`training`]) and the commands
//! ([`commands`]). The stream service (`rtcx-processors`) does not depend on it.

pub mod commands;
pub mod topic_eval;
pub mod training;
