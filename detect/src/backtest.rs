//! Running count rules over whole series, window by window, as the live evaluator does tick
//! by tick: the same detectors, the same FDR control across the series of a tick, the same
//! lifecycle. Used by `rtcx-processors detect backtest` (a CSV series or the stack's history)
//! and by the synthetic benchmark. Nothing is written.

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use rayon::prelude::*;
use rtcx_schemas::AlertSeverity;
use serde::Serialize;

use crate::baseline::{Calendar, Side};
use crate::detectors::{Evaluation, FDR_Q, Thresholds, VolumeParams, control_fdr, volume};
use crate::history::History;
use crate::lifecycle::{Incident, LifecycleParams, Tracker, Transition};
use crate::live::CatalogueRun;
use crate::settings::ConfiguredRule;
use crate::severity::{Measure, severity};

/// A named count rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CountRule {
    pub name: &'static str,
    pub params: VolumeParams,
}

/// The rules `detect backtest --csv` runs on a plain count series: surges and collapses.
pub const CSV_RULES: [CountRule; 2] = [
    CountRule { name: "volume_surge", params: VolumeParams::SURGE },
    CountRule { name: "volume_drop", params: VolumeParams::DROP },
];

/// One alert a run raised.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RaisedAlert {
    pub rule: &'static str,
    /// Index of the rule's judge (in the order given to [`run_series`]).
    #[serde(skip)]
    pub judge: usize,
    /// Index of the series (in the order given).
    pub series: usize,
    pub severity: AlertSeverity,
    pub incident: Incident,
}

/// Runs `rules` over equally long series that share one calendar. With several series,
/// each window's moderate breaches go through Benjamini–Hochberg across the series.
pub fn run_counts(
    series: &[Vec<f64>],
    cal: Calendar,
    rules: &[CountRule],
    th: &Thresholds,
    life: LifecycleParams,
) -> Vec<RaisedAlert> {
    let judged: Vec<Judge<'_, f64>> = rules
        .iter()
        .map(|rule| Judge {
            rule: rule.name,
            measure: match rule.params.side {
                Side::Upper => Measure::Surge,
                Side::Lower => Measure::Drop,
            },
            evaluate: Box::new(move |history: &[f64], x: f64| volume(history, x, cal, &rule.params, th)),
            life,
        })
        .collect();
    run_series(series, judged, |_| f64::NAN)
}

/// A detector with its parameters bound: `evaluate(history, current)`.
pub type Evaluate<'a, T> = Box<dyn Fn(&[T], T) -> Option<Evaluation> + Send + Sync + 'a>;

/// One rule as the runner applies it.
pub struct Judge<'a, T> {
    pub rule: &'static str,
    pub measure: Measure,
    pub evaluate: Evaluate<'a, T>,
    /// The rule's lifecycle (pending, resolve and cooldown windows).
    pub life: LifecycleParams,
}

/// Runs rules over series of windows of type `T`, window by window as the live evaluator
/// does: FDR control across the series of each (rule, window); one lifecycle per (rule,
/// series). The windows of an incident (whichever rule raised it) are left out of the
/// series' baseline for every rule — `blank` turns a window into a left-out one — up to the
/// lifecycle's `max_masked_windows`; so neither the end of an outage looks like a surge nor
/// the end of a surge like an outage.
pub fn run_series<T: Copy + Send + Sync>(
    series: &[Vec<T>],
    rules: Vec<Judge<'_, T>>,
    blank: fn(T) -> T,
) -> Vec<RaisedAlert> {
    let len = series.iter().map(Vec::len).max().unwrap_or(0);
    let mut run = SeriesRun::new(rules, blank, None);
    for _ in series {
        run.add_series(Vec::new());
    }
    for w in 0..len {
        let values: Vec<Option<T>> = series.iter().map(|s| s.get(w).copied()).collect();
        run.step(&values);
    }
    run.into_raised()
}

/// [`run_series`] one window at a time, for the live evaluator: its state (lifecycles, the
/// series as their baselines see them, the alerts raised) carries over from one tick to the
/// next, so that a tick costs its new windows only.
pub struct SeriesRun<'a, T> {
    rules: Vec<Judge<'a, T>>,
    blank: fn(T) -> T,
    /// Evaluations see at most this many past windows (`None`: all), so that a long-running
    /// state judges a window as a fresh run over that much history would.
    max_history: Option<usize>,
    trackers: Vec<Vec<Tracker>>,
    /// Index into `raised` of each (rule, series)' current incident.
    current: Vec<Vec<Option<usize>>>,
    /// The series as their baselines see them: incidents' windows blanked.
    base: Vec<Vec<T>>,
    raised: Vec<RaisedAlert>,
    len: usize,
}

/// Threads judging the series of a window in parallel (`RAYON_NUM_THREADS`, default: one per
/// core).
pub fn judging_threads() -> usize {
    rayon::current_num_threads()
}

/// Fewest series a parallel task judges (fewer cost more to hand out than to judge).
const PARALLEL_MIN_SERIES: usize = 64;

impl<'a, T: Copy + Send + Sync> SeriesRun<'a, T> {
    pub fn new(rules: Vec<Judge<'a, T>>, blank: fn(T) -> T, max_history: Option<usize>) -> Self {
        let n = rules.len();
        Self {
            rules,
            blank,
            max_history,
            trackers: vec![Vec::new(); n],
            current: vec![Vec::new(); n],
            base: Vec::new(),
            raised: Vec::new(),
            len: 0,
        }
    }

    /// Adds a series whose windows before now read `past`, one value per window stepped so
    /// far (a series first seen now, e.g. a new topic, has had zero events so far). Returns
    /// its index.
    pub fn add_series(&mut self, past: Vec<T>) -> usize {
        debug_assert_eq!(past.len(), self.len, "one past value per window stepped");
        for (ts, j) in self.trackers.iter_mut().zip(&self.rules) {
            ts.push(Tracker::new(j.life));
        }
        for c in &mut self.current {
            c.push(None);
        }
        self.base.push(past);
        self.base.len() - 1
    }

    /// Windows stepped so far.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Series so far.
    pub fn series(&self) -> usize {
        self.base.len()
    }

    /// Judges the next window: one value per series (`None`: the series has no value here).
    pub fn step(&mut self, values: &[Option<T>]) {
        self.step_window(values, true, true);
    }

    /// A window without data (see [`crate::backtest::run_catalogue`]): judged only when
    /// `evaluate`, and left out of every baseline.
    pub fn step_gap(&mut self, values: &[Option<T>], evaluate: bool) {
        self.step_window(values, evaluate, false);
    }

    fn step_window(&mut self, values: &[Option<T>], evaluate: bool, learn: bool) {
        let w = self.len;
        let blank = self.blank;
        for (r, rule) in self.rules.iter().enumerate().filter(|_| evaluate) {
            // The series of a window are independent until FDR control: judged in parallel
            // (the take-over rebuild and a tick over many series use every core).
            let mut evals: Vec<Option<Evaluation>> = values
                .par_iter()
                .zip(self.trackers[r].par_iter())
                .zip(self.base.par_iter())
                .with_min_len(PARALLEL_MIN_SERIES)
                .map(|((x, t), b)| {
                    let x = (*x)?;
                    let from = self.max_history.map_or(0, |m| b.len().saturating_sub(m));
                    let mask = t.masked(w).map(|(a, z)| (a.saturating_sub(from), z.saturating_sub(from)));
                    (rule.evaluate)(&masked(&b[from..], mask, blank), x)
                })
                .collect();
            let mut refs: Vec<&mut Evaluation> = evals.iter_mut().flatten().collect();
            control_fdr(&mut refs, FDR_Q);
            for (i, (t, e)) in self.trackers[r].iter_mut().zip(&evals).enumerate() {
                match t.step(w, e.as_ref()) {
                    Some(Transition::Opened(inc)) => {
                        self.current[r][i] = Some(self.raised.len());
                        self.raised.push(RaisedAlert {
                            rule: rule.rule,
                            judge: r,
                            series: i,
                            severity: severity(rule.measure, &inc.at_fire),
                            incident: inc,
                        });
                    }
                    Some(Transition::Updated(inc)) | Some(Transition::Resolved(inc)) => {
                        if let Some(a) = self.current[r][i].and_then(|k| self.raised.get_mut(k)) {
                            a.severity = a.severity.max(severity(rule.measure, &inc.peak));
                            a.incident = inc;
                        }
                    }
                    None => {}
                }
                // Keep the alert's incident as the tracker sees it (its last breaching window
                // moves without a transition).
                if let (Some(k), Some(inc)) = (self.current[r][i], t.incident())
                    && let Some(a) = self.raised.get_mut(k)
                    && a.incident.fired_window == inc.fired_window
                {
                    a.incident = *inc;
                }
            }
        }
        for (i, x) in values.iter().enumerate() {
            let (Some(x), Some(base)) = (x, self.base.get_mut(i)) else { continue };
            base.push(if learn { *x } else { blank(*x) });
            for (t, j) in self.trackers.iter().map(|ts| &ts[i]).zip(&self.rules) {
                if let (true, Some(inc)) = (t.firing(), t.incident()) {
                    let until = (inc.first_window + j.life.max_masked_windows as usize).min(w + 1).min(base.len());
                    for v in &mut base[inc.first_window.min(until)..until] {
                        *v = blank(*v);
                    }
                }
            }
        }
        self.len += 1;
    }

    /// The alerts raised so far, in the order they fired.
    pub fn raised(&self) -> &[RaisedAlert] {
        &self.raised
    }

    /// The alerts raised, by firing window, series and rule.
    pub fn into_raised(mut self) -> Vec<RaisedAlert> {
        self.raised.sort_by_key(|a| (a.incident.fired_window, a.series, a.rule));
        self.raised
    }
}

/// `history` with the windows in `[from, to)` blanked.
fn masked<T: Copy>(history: &[T], mask: Option<(usize, usize)>, blank: fn(T) -> T) -> Cow<'_, [T]> {
    match mask {
        Some((from, to)) if from < to && from < history.len() => {
            let mut h = history.to_vec();
            for v in &mut h[from..to.min(history.len())] {
                *v = blank(*v);
            }
            Cow::Owned(h)
        }
        _ => Cow::Borrowed(history),
    }
}

/// An alert of a configured rule on one dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct DimensionAlert {
    pub rule: ConfiguredRule,
    pub dimension: BTreeMap<String, String>,
    pub alert: RaisedAlert,
}

/// Whether window `w` of `history` holds no feedback at all: the pipeline was down or idle,
/// which says nothing about any channel or topic. Such a window is judged on the global series
/// only (where `intake_drop` sees it) and left out of every baseline, so traffic resuming after
/// a gap is compared with the data before the gap (or, after more than the baseline's
/// lookback, waits for a new baseline) instead of raising a surge on every series.
pub fn no_data(history: &History, w: usize) -> bool {
    history.global.get(w).is_some_and(|g| g.count <= 0.0)
}

/// Runs the configured `rules` over every series of `history` (each scope's series together,
/// so that FDR control spans them), keeping the alerts that fire at or after window `from`
/// (the windows before only build baselines and lifecycles) on the dimensions each rule
/// watches. Windows without any feedback are gaps ([`no_data`]).
pub fn run_catalogue(history: &History, rules: &[ConfiguredRule], from: usize) -> Vec<DimensionAlert> {
    // The live evaluator's run, over the whole history at once and seeing all of it.
    let mut run = CatalogueRun::new(rules, history.start, history.window_secs, usize::MAX);
    if run.extend(history).is_err() {
        return Vec::new(); // unreachable: the run starts where the history does, at its width
    }
    run.alerts(0).into_iter().filter(|a| a.alert.incident.fired_window >= from).collect()
}

/// Orders alerts by firing window, rule name and dimension (the order backtests print).
pub fn sort_alerts(alerts: &mut [DimensionAlert]) {
    alerts.sort_by(|a, b| {
        (a.alert.incident.fired_window, &a.rule.name, &a.dimension).cmp(&(
            b.alert.incident.fired_window,
            &b.rule.name,
            &b.dimension,
        ))
    });
}

/// A count series read from CSV: fixed-width buckets from `start`, gaps filled with zeros.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvSeries {
    pub start: DateTime<Utc>,
    pub bucket_secs: u64,
    pub values: Vec<f64>,
    /// Lines that could not be read and were skipped.
    pub skipped_lines: usize,
}

/// Errors reading a CSV series.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    #[error("line {line}: {message}")]
    Line { line: usize, message: String },
    #[error("the series holds fewer than two timestamps")]
    TooShort,
    #[error("reading the CSV: {0}")]
    Io(#[from] std::io::Error),
}

/// Largest series accepted (a year of one-minute buckets).
const MAX_BUCKETS: usize = 600_000;

/// Reads `timestamp,value` lines (a header line is skipped; `;` or a tab also separate;
/// timestamps are RFC 3339, `YYYY-MM-DD HH:MM:SS` in UTC, or Unix seconds or milliseconds).
/// The bucket width is the most common step between consecutive timestamps; missing buckets
/// count zero, repeated ones are summed. A line that cannot be read (an empty or non-numeric
/// value) is skipped and counted, unless most lines are like that (then the file is refused:
/// probably not a count series).
pub fn read_csv(text: &str) -> Result<CsvSeries, CsvError> {
    let mut points: Vec<(i64, f64)> = Vec::new();
    let (mut skipped, mut first_skipped, mut lines) = (0usize, None, 0usize);
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        lines += 1;
        let mut cols = line.split([',', ';', '\t']);
        let (ts, val) = (cols.next().unwrap_or("").trim(), cols.next().unwrap_or("").trim());
        let ts = ts.trim_matches('"');
        let val = val.trim_matches('"');
        match (parse_timestamp(ts), val.parse::<f64>()) {
            (Some(t), Ok(v)) if v.is_finite() => points.push((t, v.max(0.0))),
            _ if points.is_empty() && lines == 1 => continue, // a header
            _ => {
                skipped += 1;
                first_skipped.get_or_insert((i + 1, raw.to_owned()));
            }
        }
    }
    if let Some((line, raw)) = first_skipped.filter(|_| skipped * 2 > lines) {
        return Err(CsvError::Line { line, message: format!("expected `timestamp,value`, got {raw:?}") });
    }
    if points.len() < 2 {
        return Err(CsvError::TooShort);
    }
    points.sort_by_key(|p| p.0);
    let mut steps: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
    for w in points.windows(2) {
        let d = w[1].0 - w[0].0;
        if d > 0 {
            *steps.entry(d).or_default() += 1;
        }
    }
    let step = steps.into_iter().max_by_key(|(d, n)| (*n, -d)).map(|(d, _)| d).ok_or(CsvError::TooShort)?;
    let t0 = points[0].0;
    let last = points[points.len() - 1].0;
    let buckets = ((last - t0) / step + 1) as usize;
    if buckets > MAX_BUCKETS {
        return Err(CsvError::Line {
            line: 0,
            message: format!("{buckets} buckets of {step} s: more than {MAX_BUCKETS}"),
        });
    }
    let mut values = vec![0.0; buckets];
    for (t, v) in points {
        values[((t - t0) / step) as usize] += v;
    }
    let start = Utc.timestamp_opt(t0, 0).single().ok_or(CsvError::TooShort)?;
    Ok(CsvSeries { start, bucket_secs: step as u64, values, skipped_lines: skipped })
}

fn parse_timestamp(s: &str) -> Option<i64> {
    if let Ok(n) = s.parse::<i64>() {
        // Milliseconds from 2001-09-09 on, seconds before.
        return Some(if n.abs() >= 1_000_000_000_000 { n / 1000 } else { n });
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp());
    }
    for fmt in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp());
        }
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp())
}

/// Sums `factor` consecutive buckets into one window (the last partial window is dropped).
pub fn rebucket(values: &[f64], factor: usize) -> Vec<f64> {
    if factor <= 1 {
        return values.to_vec();
    }
    values.chunks_exact(factor).map(|c| c.iter().sum()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::Sensitivity;

    #[test]
    fn csv_formats_gaps_and_headers() {
        let s = read_csv("timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:05:00,2\n2024-01-01 00:15:00,4\n")
            .expect("parse");
        assert_eq!(s.bucket_secs, 300);
        assert_eq!(s.values, vec![1.0, 2.0, 0.0, 4.0]);
        let s = read_csv("1700000000,3\n1700000060,1\n1700000060,1\n").expect("parse");
        assert_eq!((s.bucket_secs, s.values), (60, vec![3.0, 2.0]));
        let s = read_csv("2024-01-01T00:00:00Z,1\n2024-01-01T01:00:00Z,0\n").expect("parse");
        assert_eq!(s.bucket_secs, 3600);
        assert!(read_csv("a,b\nnot,a number\n").is_err());
        // A stray bad line is skipped and counted; a file of bad lines is refused.
        let s = read_csv(
            "t,v\n2024-01-01 00:00:00;1\n2024-01-01 00:05:00,\n2024-01-01 00:10:00\t3\n2024-01-01 00:15:00,2\n2024-01-01 00:20:00,1\n",
        )
        .expect("parse");
        assert_eq!((s.values, s.skipped_lines), (vec![1.0, 0.0, 3.0, 2.0, 1.0], 1));
        assert!(read_csv("t,v\nx,1\ny,2\n2024-01-01 00:00:00,1\n").is_err());
        assert!(matches!(read_csv("2024-01-01 00:00:00,1\n"), Err(CsvError::TooShort)));
    }

    #[test]
    fn a_surge_is_one_alert_and_steady_traffic_none() {
        let mut xs: Vec<f64> = (0..600).map(|i| 20.0 + (i % 7) as f64).collect();
        for v in &mut xs[400..406] {
            *v *= 3.0;
        }
        let cal = Calendar::for_window_secs(300);
        let th = Sensitivity::Medium.thresholds();
        let a = run_counts(&[xs], cal, &CSV_RULES, &th, LifecycleParams::DEFAULT);
        assert_eq!(a.len(), 1, "{a:?}");
        assert_eq!(a[0].rule, "volume_surge");
        assert!((400..=402).contains(&a[0].incident.fired_window));
        assert!(a[0].incident.resolved_window.is_some());
    }
}
