//! rtcx load generators: what the demo and the benchmarks send, kept out of the services'
//! dependencies. [`synthetic`] writes realistic customer feedback; the binaries send it
//! (`rtcx-loadgen`) or time the dashboards (`rtcx-query-bench`).

pub mod synthetic;
