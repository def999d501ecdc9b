//! Spike detection for rtcx, pure and shared: the processors' live evaluator, `rtcx-processors
//! detect backtest` and the query API's rule preview run this very code.
//!
//! - [`stats`]: tail probabilities (Poisson / negative binomial / beta-binomial), the
//!   over-dispersion of a series, Benjamini–Hochberg;
//! - [`baseline`]: the expected count of a window from the series' own history (seasonal where
//!   history allows, recent otherwise; earlier incidents left out);
//! - [`detectors`]: pure functions (window, history, parameters) → [`detectors::Evaluation`];
//! - [`lifecycle`]: OK → PENDING → FIRING → cleared, with hysteresis and a cooldown, so one
//!   incident is one alert;
//! - [`severity`]: the severity table;
//! - [`churn`]: CUSTOMER_CHURN_RISK thresholds and severity (per customer, not a time series);
//! - [`rules`]: the default catalogue (which detector watches what, per alert type);
//! - [`settings`]: rules as configured in Postgres (`alert_rules`: enabled, sensitivity,
//!   minimum volume, pending windows, channel/topic scope) and silences;
//! - [`history`]: window series read from the ClickHouse minute rollups;
//! - [`backtest`]: runs rules over whole series ([`backtest::SeriesRun`]: window by window);
//! - [`live`]: the catalogue run the live evaluator keeps between ticks;
//! - [`synthetic`]: seasonal traffic with labelled incidents and the scores of a run over it.
//!
//! The design, and what is measured, is in docs/alerts.md.

pub mod backtest;
pub mod baseline;
pub mod churn;
pub mod detectors;
pub mod history;
pub mod lifecycle;
pub mod live;
pub mod rules;
pub mod settings;
pub mod severity;
pub mod stats;
pub mod synthetic;
