//! Spike detection in the processors: the I/O around the pure detectors of `rtcx-detect`
//! (re-exported here under their module names).
//!
//! - [`store`]: alerts, their history and outbox events in Postgres, idempotently;
//! - [`churn`]: the customer churn rule (counts per customer over a period);
//! - [`evidence`]: the most negative feedback and what changed, gathered for new alerts;
//! - [`evaluator`]: the live evaluator (one instance at a time, on window close);
//! - [`relay`]: the outbox relay publishing alert events to `rtcx.alerts.v1`;
//! - [`watermark`]: up to when every window is complete (emit on window close), with
//!   [`backlog`]: partitions still catching up hold it;
//! - [`command`]: `rtcx-processors detect backtest | bench | tick-bench` ([`tick_bench`]).
//!
//! The design, and what is measured, is in docs/alerts.md.

pub use rtcx_detect::{
    backtest, baseline, churn as churn_rule, detectors, history, lifecycle, live, rules, settings, severity, stats,
    synthetic,
};

pub mod backlog;
pub mod churn;
pub mod command;
pub mod evaluator;
pub mod evidence;
pub mod relay;
pub mod store;
pub mod tick_bench;
pub mod watermark;
