//! The catalogue run kept between the live evaluator's ticks ([`CatalogueRun`]): the same
//! [`SeriesRun`]s as [`crate::backtest::run_catalogue`], extended by the windows each tick
//! closed instead of re-run over the whole history, so a tick costs its new windows only —
//! it scales with series, not with history or events. Evaluations see at most
//! `max_history` windows, so a window is judged as a fresh run over that much history would
//! judge it. The state is a cache of what the stores hold: the evaluator rebuilds it from the
//! ClickHouse history when it takes over, when the rules change, and when it has grown to
//! twice `max_history`.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};

use crate::backtest::{DimensionAlert, SeriesRun, no_data, sort_alerts};
use crate::baseline::Calendar;
use crate::history::History;
use crate::rules::{Scope, WindowStats};
use crate::settings::ConfiguredRule;

/// Why windows cannot be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtendError {
    #[error("the windows start at {got}, the run ends at {expected}")]
    Gap { expected: DateTime<Utc>, got: DateTime<Utc> },
    #[error("the windows are {got} s wide, the run's {expected} s")]
    Width { expected: u64, got: u64 },
}

struct ScopeRun {
    scope: Scope,
    rules: Vec<ConfiguredRule>,
    dims: Vec<BTreeMap<String, String>>,
    index: HashMap<BTreeMap<String, String>, usize>,
    run: SeriesRun<'static, WindowStats>,
}

/// The configured rules run over every dimension's windows, window after window.
pub struct CatalogueRun {
    start: DateTime<Utc>,
    window_secs: u64,
    max_history: usize,
    scopes: Vec<ScopeRun>,
    /// All feedback of each window so far (a topic's `others`, and the gaps: zero).
    totals: Vec<f64>,
    len: usize,
}

impl CatalogueRun {
    /// A run of `rules` over windows of `window_secs` from `start`, evaluations seeing at most
    /// `max_history` windows (`usize::MAX`: all of them, as [`crate::backtest::run_catalogue`]).
    pub fn new(rules: &[ConfiguredRule], start: DateTime<Utc>, window_secs: u64, max_history: usize) -> Self {
        let cal = Calendar::for_window_secs(window_secs);
        let scopes = [Scope::Global, Scope::Channel, Scope::Topic]
            .into_iter()
            .filter_map(|scope| {
                let scoped: Vec<ConfiguredRule> = rules.iter().filter(|r| r.rule.scope == scope).cloned().collect();
                if scoped.is_empty() {
                    return None;
                }
                let judges = scoped.iter().map(|r| r.rule.judge(cal, r.thresholds, r.lifecycle)).collect();
                Some(ScopeRun {
                    scope,
                    rules: scoped,
                    dims: Vec::new(),
                    index: HashMap::new(),
                    run: SeriesRun::new(judges, WindowStats::blank, (max_history < usize::MAX).then_some(max_history)),
                })
            })
            .collect();
        Self { start, window_secs, max_history, scopes, totals: Vec::new(), len: 0 }
    }

    /// Start of window `w`.
    pub fn window_start(&self, w: usize) -> DateTime<Utc> {
        self.start + Duration::seconds((w as u64 * self.window_secs) as i64)
    }

    /// End of the last window added.
    pub fn end(&self) -> DateTime<Utc> {
        self.window_start(self.len)
    }

    /// Windows added.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Series watched, all scopes together.
    pub fn series(&self) -> usize {
        self.scopes.iter().map(|s| s.dims.len()).sum()
    }

    /// Whether the state has grown to twice the history its evaluations see (time to rebuild
    /// it, which bounds its memory).
    pub fn outgrown(&self) -> bool {
        self.len >= self.max_history.saturating_mul(2)
    }

    /// The time axis of the run (a [`History`] without series), for writing alerts.
    pub fn timeline(&self) -> History {
        History {
            start: self.start,
            window_secs: self.window_secs,
            len: self.len,
            global: Vec::new(),
            channels: BTreeMap::new(),
            topics: BTreeMap::new(),
        }
    }

    /// Adds the windows of `h`, which must start where the run ends. A dimension seen for
    /// the first time joins with zero counts before (as a run over the whole history would
    /// have seen it); a known one absent from `h` counts zero. Topic series read the rest of
    /// the feedback of each window as their `others`.
    pub fn extend(&mut self, h: &History) -> Result<(), ExtendError> {
        if h.window_secs != self.window_secs {
            return Err(ExtendError::Width { expected: self.window_secs, got: h.window_secs });
        }
        if h.len > 0 && h.start != self.end() {
            return Err(ExtendError::Gap { expected: self.end(), got: h.start });
        }
        // All feedback of each new window: a topic's `others`, and (zero) the gaps.
        let totals: Vec<f64> = (0..h.len).map(|w| h.global.get(w).map_or(0.0, |g| g.count)).collect();
        for s in &mut self.scopes {
            let series = h.series(s.scope);
            let mut columns: Vec<Option<&Vec<WindowStats>>> = vec![None; s.dims.len()];
            let with_others = |v: WindowStats, total: f64| match s.scope {
                Scope::Topic => WindowStats { others: (total - v.count).max(0.0), ..v },
                _ => v,
            };
            for (dim, values) in series {
                let i = match s.index.get(&dim) {
                    Some(i) => *i,
                    None => {
                        let past = self
                            .totals
                            .iter()
                            .map(|t| match with_others(WindowStats::default(), *t) {
                                v if *t <= 0.0 => v.blank(),
                                v => v,
                            })
                            .collect();
                        let i = s.run.add_series(past);
                        s.index.insert(dim.clone(), i);
                        s.dims.push(dim);
                        columns.push(None);
                        i
                    }
                };
                columns[i] = Some(values);
            }
            for (w, total) in totals.iter().enumerate() {
                let values: Vec<Option<WindowStats>> = columns
                    .iter()
                    .map(|c| Some(with_others(c.and_then(|v| v.get(w).copied()).unwrap_or_default(), *total)))
                    .collect();
                match no_data(h, w) {
                    true => s.run.step_gap(&values, s.scope == Scope::Global),
                    false => s.run.step(&values),
                }
            }
        }
        self.totals.extend(totals);
        self.len += h.len;
        Ok(())
    }

    /// The alerts raised so far whose incident moved (fired, breached, cleared) at or after
    /// window `from`, on the dimensions their rule watches; ordered like
    /// [`crate::backtest::run_catalogue`]'s.
    pub fn alerts(&self, from: usize) -> Vec<DimensionAlert> {
        let mut out = Vec::new();
        for s in &self.scopes {
            for a in s.run.raised() {
                let inc = &a.incident;
                let moved = inc.fired_window.max(inc.last_breach_window).max(inc.resolved_window.unwrap_or(0));
                let (Some(rule), Some(dimension)) = (s.rules.get(a.judge), s.dims.get(a.series)) else { continue };
                if moved < from || !rule.watches(dimension) {
                    continue;
                }
                out.push(DimensionAlert { rule: rule.clone(), dimension: dimension.clone(), alert: a.clone() });
            }
        }
        sort_alerts(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backtest::run_catalogue;
    use crate::detectors::Sensitivity;

    /// Two channels for two days of 5-minute windows (from a multiple of 300 s); email turns
    /// negative at the end. Topic t1 is steady; t2 is first mentioned near the end, and
    /// bursts.
    fn history(start: DateTime<Utc>, len: usize) -> History {
        let w = |n: f64, neg: f64| WindowStats {
            count: n,
            negatives: neg,
            sentiment_sum: n * 0.2,
            sentiment_sq_sum: n * 0.3,
            ..WindowStats::default()
        };
        let email: Vec<WindowStats> =
            (0..len).map(|i| if i + 6 >= len { w(40.0, 30.0) } else { w(10.0 + (i % 3) as f64, 2.0) }).collect();
        let chat: Vec<WindowStats> = (0..len).map(|i| w(12.0 + (i % 2) as f64, 2.0)).collect();
        let global = email.iter().zip(&chat).map(|(a, b)| w(a.count + b.count, a.negatives + b.negatives)).collect();
        let t1 = (0..len).map(|i| w(4.0 + (i % 2) as f64, 1.0)).collect();
        let t2 = (0..len).map(|i| if i + 4 >= len { w(15.0, 10.0) } else { w(0.0, 0.0) }).collect();
        History {
            start,
            window_secs: 300,
            len,
            global,
            channels: BTreeMap::from([("email".to_owned(), email), ("chat".to_owned(), chat)]),
            topics: BTreeMap::from([("t1".to_owned(), t1), ("t2".to_owned(), t2)]),
        }
    }

    /// Windows `[from, to)` of `h`, as the rollups return them: a series without feedback in
    /// them is absent.
    fn slice(h: &History, from: usize, to: usize) -> History {
        let cut = |m: &BTreeMap<String, Vec<WindowStats>>| {
            m.iter()
                .filter(|(_, v)| v[from..to].iter().any(|w| w.count > 0.0))
                .map(|(k, v)| (k.clone(), v[from..to].to_vec()))
                .collect()
        };
        History {
            start: h.window_start(from),
            window_secs: h.window_secs,
            len: to - from,
            global: h.global[from..to].to_vec(),
            channels: cut(&h.channels),
            topics: cut(&h.topics),
        }
    }

    #[test]
    fn traffic_resuming_after_a_gap_is_no_surge() {
        // Steady traffic, three hours without any feedback (the pipeline down), then the same
        // traffic again: nothing to report on any channel; the gap itself is an intake drop.
        let start = DateTime::from_timestamp(1_764_000_000, 0).expect("time");
        let steady = |i: usize, k: f64| WindowStats {
            count: k * (40.0 + (i % 3) as f64),
            negatives: k * 8.0,
            sentiment_sum: k * 8.0,
            sentiment_sq_sum: k * 16.0,
            ..WindowStats::default()
        };
        let series = |k: f64| -> Vec<WindowStats> {
            (0..576).map(|i| if (300..336).contains(&i) { WindowStats::default() } else { steady(i, k) }).collect()
        };
        let h = History {
            start,
            window_secs: 300,
            len: 576,
            global: series(2.0),
            channels: BTreeMap::from([("email".to_owned(), series(1.0)), ("chat".to_owned(), series(1.0))]),
            topics: BTreeMap::from([("t1".to_owned(), series(0.5))]),
        };
        let rules = ConfiguredRule::catalogue(Sensitivity::Medium);
        let alerts = run_catalogue(&h, &rules, 0);
        let after: Vec<&DimensionAlert> = alerts.iter().filter(|a| a.alert.incident.fired_window >= 336).collect();
        assert!(after.is_empty(), "no storm when traffic resumes: {after:?}");
        assert!(
            alerts.iter().any(|a| a.rule.name == "intake_drop" && (300..303).contains(&a.alert.incident.fired_window)),
            "the gap is an intake drop: {alerts:?}"
        );
        let mut live = CatalogueRun::new(&rules, start, 300, 576);
        live.extend(&h).expect("extend");
        assert_eq!(live.alerts(0), alerts, "the kept run treats gaps alike");
    }

    #[test]
    fn window_by_window_is_the_whole_run() {
        let start = DateTime::from_timestamp(1_764_000_000, 0).expect("time");
        let h = history(start, 576);
        let rules = ConfiguredRule::catalogue(Sensitivity::Medium);
        let whole = run_catalogue(&h, &rules, 0);
        assert!(whole.iter().any(|a| a.dimension.get("channel").is_some_and(|c| c == "email")), "{whole:?}");
        let trending: Vec<&str> =
            whole.iter().filter_map(|a| a.dimension.get("topic_id").map(String::as_str)).collect();
        assert_eq!(trending, ["t2"], "the new topic's burst, not the steady one: {whole:?}");
        let mut live = CatalogueRun::new(&rules, start, 300, 576);
        live.extend(&slice(&h, 0, 500)).expect("extend");
        for w in 500..576 {
            live.extend(&slice(&h, w, w + 1)).expect("one window");
        }
        assert_eq!((live.len(), live.end()), (576, h.window_start(576)));
        assert_eq!(live.alerts(0), whole, "the same alerts, window by window");
        assert!(matches!(live.extend(&slice(&h, 0, 1)), Err(ExtendError::Gap { .. })));
    }
}
