//! Spike detection: the alerting part of the processors.
//!
//! - [`stats`]: tail probabilities (Poisson / negative binomial / beta-binomial), the
//!   over-dispersion of a series, Benjamini–Hochberg;
//! - [`baseline`]: the expected count of a window from the series' own history (seasonal where
//!   history allows, recent otherwise; earlier incidents left out);
//! - [`detectors`]: pure functions (window, history, parameters) → [`detectors::Evaluation`],
//!   shared by live evaluation and backtests;
//! - [`lifecycle`]: OK → PENDING → FIRING → cleared, with hysteresis and a cooldown, so one
//!   incident is one alert;
//! - [`severity`]: the severity table;
//! - [`rules`]: the default catalogue (which detector watches what, per alert type);
//! - [`history`]: window series read from the ClickHouse minute rollups;
//! - [`backtest`]: runs rules over whole series (`rtcx-processors detect backtest`);
//! - [`store`]: alerts, their history and outbox events in Postgres, idempotently;
//! - [`evaluator`]: the live evaluator (one instance at a time, on window close);
//! - [`relay`]: the outbox relay publishing alert events to `rtcx.alerts.v1`;
//! - [`watermark`]: up to when every window is complete (emit on window close);
//! - [`synthetic`]: seasonal traffic with labelled incidents and the scores of a run over it
//!   (`rtcx-processors detect bench`).
//!
//! The design, and what is measured, is in docs/alerts.md.

pub mod backtest;
pub mod baseline;
pub mod command;
pub mod detectors;
pub mod evaluator;
pub mod history;
pub mod lifecycle;
pub mod relay;
pub mod rules;
pub mod severity;
pub mod stats;
pub mod store;
pub mod synthetic;
pub mod watermark;
