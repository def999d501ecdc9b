//! The `rtcx-model` commands, one module each: what the command line of each accepts and what
//! it does.

pub mod adapt;
pub mod analyze;
pub mod bench;
pub mod embedding_lists;
pub mod eval;
pub mod eval_topics;
pub mod train;
