//! `rtcx-processors detect …`: the detectors from the command line.
//!
//! - `detect backtest --csv FILE`: runs the count rules (surges and collapses) over a
//!   `timestamp,value` series and prints one JSON line per alert on stdout, then a JSON
//!   summary on stderr. Nothing is written anywhere.
//! - `detect bench`: synthetic seasonal traffic with labelled incidents; prints the recall,
//!   precision, delay and false-alert rate of each rule (docs/benchmarks.md).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::backtest::{CSV_RULES, RaisedAlert, read_csv, rebucket, run_counts};
use super::baseline::Calendar;
use super::detectors::Sensitivity;
use super::lifecycle::LifecycleParams;

#[derive(Debug, clap::Args)]
pub struct DetectArgs {
    #[command(subcommand)]
    pub command: DetectCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum DetectCommand {
    /// Run the detectors over history and print the alerts they would have raised.
    Backtest(BacktestArgs),
    /// Score the detectors on synthetic seasonal traffic with labelled incidents.
    Bench(BenchArgs),
    /// Time the live evaluator's ticks over many synthetic series in a throw-away ClickHouse
    /// database (ClickHouse reads and detectors).
    TickBench(super::tick_bench::TickBenchArgs),
}

#[derive(Debug, clap::Args)]
pub struct BacktestArgs {
    /// A count series: `timestamp,value` lines (optional header; RFC 3339, `YYYY-MM-DD
    /// HH:MM:SS` UTC or Unix seconds); any fixed bucket width, missing buckets count zero.
    #[arg(long, required_unless_present = "from", conflicts_with_all = ["from", "to"])]
    pub csv: Option<PathBuf>,
    /// Instead of a CSV: the stack's history (ClickHouse minute rollups) from this time
    /// (RFC 3339), through every rule of the default catalogue.
    #[arg(long, requires = "to")]
    pub from: Option<DateTime<Utc>>,
    /// End of the history range (RFC 3339, exclusive).
    #[arg(long, requires = "from")]
    pub to: Option<DateTime<Utc>>,
    /// Days of history before `--from` that build the baselines (alerts firing in them are
    /// not printed).
    #[arg(long, default_value_t = 8)]
    pub history_days: u32,
    #[command(flatten)]
    pub clickhouse: rtcx_service_kit::ClickHouseArgs,
    /// How readily rules fire (thresholds in docs/alerts.md).
    #[arg(long, value_enum, default_value_t = Sensitivity::Medium)]
    pub sensitivity: Sensitivity,
    /// Window width in seconds: a multiple of the CSV's bucket width (default: one bucket), or
    /// of a minute for history (default: 300).
    #[arg(long)]
    pub window_secs: Option<u64>,
    /// Consecutive moderate windows before an alert fires (default: the sensitivity's).
    #[arg(long)]
    pub pending_windows: Option<u32>,
}

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Count series (and half as many negative-share series).
    #[arg(long, default_value_t = 1_000)]
    pub series: usize,
    /// Days of 5-minute windows per series (incidents fall in the second week).
    #[arg(long, default_value_t = 14)]
    pub days: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, value_enum, default_value_t = Sensitivity::Medium)]
    pub sensitivity: Sensitivity,
    /// Also print every false alert (outside any labelled incident) as a JSON line.
    #[arg(long)]
    pub list_false: bool,
}

pub fn run(args: DetectArgs) -> anyhow::Result<()> {
    match args.command {
        DetectCommand::Backtest(b) => backtest(b),
        DetectCommand::Bench(b) => bench(b),
        DetectCommand::TickBench(t) => super::tick_bench::run(t),
    }
}

/// One alert, as `detect backtest` prints it.
#[derive(Debug, Serialize)]
struct AlertLine {
    rule: &'static str,
    /// History mode: the alert type and what the alert is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    alert_type: Option<rtcx_schemas::AlertType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dimension: Option<std::collections::BTreeMap<String, String>>,
    severity: rtcx_schemas::AlertSeverity,
    /// The window in which the alert fired.
    window_start: DateTime<Utc>,
    window_end: DateTime<Utc>,
    observed: f64,
    expected: f64,
    /// `-log10(p)` of the firing window.
    score: f64,
    p_value: f64,
    /// The incident: from its first breaching window to its last.
    incident_start: DateTime<Utc>,
    incident_end: DateTime<Utc>,
    resolved: bool,
    peak_observed: f64,
    peak_score: f64,
}

fn line(a: &RaisedAlert, start: DateTime<Utc>, window: Duration) -> AlertLine {
    let at = |w: usize| start + window * w as i32;
    let inc = &a.incident;
    AlertLine {
        rule: a.rule,
        alert_type: None,
        dimension: None,
        severity: a.severity,
        window_start: at(inc.fired_window),
        window_end: at(inc.fired_window + 1),
        observed: inc.at_fire.observed,
        expected: round3(inc.at_fire.expected),
        score: round3(inc.at_fire.score),
        p_value: inc.at_fire.p_value,
        incident_start: at(inc.first_window),
        incident_end: at(inc.last_breach_window + 1),
        resolved: inc.resolved_window.is_some(),
        peak_observed: inc.peak.observed,
        peak_score: round3(inc.peak.score),
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn backtest(b: BacktestArgs) -> anyhow::Result<()> {
    let mut th = b.sensitivity.thresholds();
    if let Some(p) = b.pending_windows {
        anyhow::ensure!(p >= 1, "--pending-windows must be at least 1");
        th.pending_windows = p;
    }
    let life = LifecycleParams::for_thresholds(&th);
    match (&b.csv, b.from, b.to) {
        (Some(csv), _, _) => backtest_csv(csv, &b, &th, life),
        (None, Some(from), Some(to)) => backtest_history(from, to, &b, &th, life),
        _ => anyhow::bail!("give --csv FILE, or --from and --to"),
    }
}

fn backtest_history(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    b: &BacktestArgs,
    th: &super::detectors::Thresholds,
    life: LifecycleParams,
) -> anyhow::Result<()> {
    anyhow::ensure!(to > from, "--to must be after --from");
    let window_secs = b.window_secs.unwrap_or(300);
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let history_start = from - Duration::days(i64::from(b.history_days));
    let history = rt
        .block_on(super::history::load(&b.clickhouse.client(), history_start, to, window_secs))
        .context("reading the minute rollups")?;
    let first = ((from - history.start).num_seconds().max(0) as u64).div_ceil(window_secs) as usize;
    let mut rules = super::settings::ConfiguredRule::catalogue(b.sensitivity);
    for r in &mut rules {
        r.thresholds = *th;
        r.lifecycle = life;
    }
    let alerts = super::backtest::run_catalogue(&history, &rules, first);
    let window = Duration::seconds(window_secs as i64);
    for a in &alerts {
        let mut l = line(&a.alert, history.start, window);
        l.alert_type = Some(a.rule.alert_type());
        l.dimension = Some(a.dimension.clone());
        println!("{}", serde_json::to_string(&l)?);
    }
    let summary = serde_json::json!({
        "summary": {
            "from": from, "to": to, "history_from": history.start, "window_secs": window_secs,
            "series": 1 + history.channels.len() + history.topics.len(),
            "sensitivity": b.sensitivity.as_str(), "alerts": alerts.len(),
            "seconds": round3(started.elapsed().as_secs_f64()),
        }
    });
    eprintln!("{summary}");
    Ok(())
}

fn backtest_csv(
    csv: &std::path::Path,
    b: &BacktestArgs,
    th: &super::detectors::Thresholds,
    life: LifecycleParams,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(csv).with_context(|| format!("reading {}", csv.display()))?;
    let series = read_csv(&text).with_context(|| format!("parsing {}", csv.display()))?;
    let window_secs = b.window_secs.unwrap_or(series.bucket_secs);
    anyhow::ensure!(
        window_secs >= series.bucket_secs && window_secs.is_multiple_of(series.bucket_secs),
        "--window-secs must be a multiple of the series' bucket width ({} s)",
        series.bucket_secs
    );
    let values = rebucket(&series.values, (window_secs / series.bucket_secs) as usize);
    let started = Instant::now();
    let alerts =
        run_counts(std::slice::from_ref(&values), Calendar::for_window_secs(window_secs), &CSV_RULES, th, life);
    let window = Duration::seconds(window_secs as i64);
    for a in &alerts {
        println!("{}", serde_json::to_string(&line(a, series.start, window))?);
    }
    let by_rule = |r: &str| alerts.iter().filter(|a| a.rule == r).count();
    let summary = serde_json::json!({
        "summary": {
            "windows": values.len(),
            "skipped_lines": series.skipped_lines,
            "window_secs": window_secs,
            "from": series.start,
            "to": series.start + window * values.len() as i32,
            "sensitivity": b.sensitivity.as_str(),
            "alerts": alerts.len(),
            "volume_surge": by_rule("volume_surge"),
            "volume_drop": by_rule("volume_drop"),
            "seconds": round3(started.elapsed().as_secs_f64()),
        }
    });
    eprintln!("{summary}");
    Ok(())
}

fn bench(b: BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(b.days >= 8, "--days must be at least 8 (incidents fall in the second week)");
    anyhow::ensure!(b.series >= 2, "--series must be at least 2");
    let th = b.sensitivity.thresholds();
    let life = LifecycleParams::for_thresholds(&th);
    let (scores, timing) = super::synthetic::bench(b.series, b.days, b.seed, &th, life);
    let per_eval_us = timing.detect_secs * 1e6 / timing.evaluations.max(1) as f64;
    println!(
        "{} count series + {} negative-share series + {} topic series × {} days of 5-minute windows, seed {}, \
         sensitivity {}: generated in {:.1} s; {} evaluations in {:.1} s, {:.2} µs each ({} threads judging \
         series), so 10 000 series × 3 rules take {:.0} ms per tick\n",
        b.series,
        b.series / 2,
        b.series / 2,
        b.days,
        b.seed,
        b.sensitivity.as_str(),
        timing.generate_secs,
        timing.evaluations,
        timing.detect_secs,
        per_eval_us,
        rtcx_detect::backtest::judging_threads(),
        per_eval_us * 30_000.0 / 1000.0
    );
    println!(
        "| rule | target | recall within 3 windows | mean / max delay (windows) | caught at all | alerts | precision | false alerts per 1 000 series-days |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for s in &scores {
        println!(
            "| {} | {} | {:.3} ({}/{}) | {:.2} / {} | {}/{} | {} | {:.3} | {:.2} ({:.0} series-days) |",
            s.rule,
            s.target,
            s.recall,
            s.target_caught,
            s.target_incidents,
            s.mean_delay_windows,
            s.max_delay_windows,
            s.all_caught,
            s.all_incidents,
            s.alerts,
            s.precision,
            s.false_per_1000_series_days,
            s.series_days
        );
    }
    for s in &scores {
        if let Some(c) = &s.confounders {
            println!("\n{}: {} of {} {} alerted on (must be 0).", s.rule, c.alerted, c.incidents, c.what);
        }
    }
    if b.list_false {
        for s in &scores {
            for a in &s.false_alerts {
                let w = a.incident.fired_window;
                println!(
                    "{}",
                    serde_json::json!({
                        "rule": a.rule, "series": a.series, "window": w, "day": w / 288, "minute_of_day": (w % 288) * 5,
                        "observed": a.incident.at_fire.observed, "expected": round3(a.incident.at_fire.expected),
                        "p_value": a.incident.at_fire.p_value, "level": a.incident.at_fire.level,
                    })
                );
            }
        }
    }
    Ok(())
}
