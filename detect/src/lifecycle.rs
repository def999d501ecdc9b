//! Incidents without flapping: per (rule, dimension) a small state machine turns the
//! window-by-window [`Evaluation`]s into one alert per incident.
//!
//! ```text
//!   OK ──moderate──▶ PENDING ──moderate × pending_windows──▶ FIRING ──clear × resolve_windows──▶ COOLDOWN ──cooldown_windows──▶ OK
//!    └─────────────────────strong──────────────────────────────▶ │  ▲                                │
//!                                                                │  └───────── breach (re-opens the same incident) ◀──┘
//! ```
//!
//! - A moderate breach must hold for `pending_windows` consecutive windows (Prometheus
//!   `for:`); a strong one fires at once.
//! - FIRING clears only after `resolve_windows` consecutive windows below the resolve
//!   threshold (hysteresis, Prometheus `keep_firing_for`): a window that is neither a breach
//!   nor clear keeps the incident open.
//! - After it clears, a breach within `cooldown_windows` re-opens the same incident instead
//!   of raising a new alert, so one incident is never split into choppy alerts.
//! - While an incident is pending or firing, its windows are left out of the baseline (at
//!   most `max_masked_windows` of them: a shift that lasts longer becomes the new normal).

use serde::Serialize;

use crate::detectors::{Evaluation, Level};

/// Lifecycle settings of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct LifecycleParams {
    pub pending_windows: u32,
    pub resolve_windows: u32,
    pub cooldown_windows: u32,
    pub max_masked_windows: u32,
}

impl LifecycleParams {
    /// The defaults for 5-minute windows: fire after 2 windows (10 min) or at once on strong
    /// evidence, clear after 2 quiet windows, re-open within 30 minutes, mask at most 2 hours.
    pub const DEFAULT: LifecycleParams =
        LifecycleParams { pending_windows: 2, resolve_windows: 2, cooldown_windows: 6, max_masked_windows: 24 };

    /// The defaults with the pending windows of a sensitivity's thresholds.
    pub fn for_thresholds(th: &crate::detectors::Thresholds) -> Self {
        LifecycleParams { pending_windows: th.pending_windows, ..Self::DEFAULT }
    }
}

/// An incident: from its first breaching window to its last.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Incident {
    /// First window of the breach (the first pending window).
    pub first_window: usize,
    /// The window in which the alert fired.
    pub fired_window: usize,
    /// The last window that breached.
    pub last_breach_window: usize,
    /// The window the incident cleared in, once it has.
    pub resolved_window: Option<usize>,
    /// The evaluation of the window that fired.
    pub at_fire: Evaluation,
    /// The most extreme breaching evaluation (highest score).
    pub peak: Evaluation,
    /// Times the incident was re-opened during a cooldown.
    pub reopened: u32,
}

/// What a window changed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Transition {
    /// A new alert.
    Opened(Incident),
    /// The alert's incident goes on with a new peak, or was re-opened.
    Updated(Incident),
    /// The incident cleared.
    Resolved(Incident),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Ok,
    Pending { since: usize, count: u32 },
    Firing { clear_run: u32 },
    Cooldown { until: usize, pending: u32 },
}

/// The state machine of one (rule, dimension).
#[derive(Debug, Clone)]
pub struct Tracker {
    params: LifecycleParams,
    state: State,
    incident: Option<Incident>,
}

impl Tracker {
    pub fn new(params: LifecycleParams) -> Self {
        Self { params, state: State::Ok, incident: None }
    }

    /// The windows to leave out of the baseline of the next window: `[from, to)`.
    pub fn masked(&self, next_window: usize) -> Option<(usize, usize)> {
        let from = match self.state {
            State::Pending { since, .. } => since,
            State::Firing { .. } => self.incident.map(|i| i.first_window)?,
            State::Ok | State::Cooldown { .. } => return None,
        };
        Some((from, next_window.min(from + self.params.max_masked_windows as usize)))
    }

    /// The incident in progress (firing, or in its cooldown).
    pub fn incident(&self) -> Option<&Incident> {
        self.incident.as_ref()
    }

    /// True while an alert is firing.
    pub fn firing(&self) -> bool {
        matches!(self.state, State::Firing { .. })
    }

    /// Feeds the evaluation of window `w` (`None`: no baseline yet, nothing is decided).
    pub fn step(&mut self, w: usize, eval: Option<&Evaluation>) -> Option<Transition> {
        let e = eval?;
        let p = self.params;
        match self.state {
            State::Ok => self.start(w, e),
            State::Pending { since, count } => match e.level {
                Level::None => {
                    self.state = State::Ok;
                    None
                }
                Level::Strong => Some(self.open(since, w, e)),
                Level::Moderate if count + 1 >= p.pending_windows => Some(self.open(since, w, e)),
                Level::Moderate => {
                    self.state = State::Pending { since, count: count + 1 };
                    None
                }
            },
            State::Firing { clear_run } => {
                let inc = self.incident.as_mut()?;
                if e.level > Level::None {
                    inc.last_breach_window = w;
                    self.state = State::Firing { clear_run: 0 };
                    if e.score > inc.peak.score {
                        inc.peak = *e;
                        return Some(Transition::Updated(*inc));
                    }
                    None
                } else if e.clear && clear_run + 1 >= p.resolve_windows {
                    inc.resolved_window = Some(w);
                    self.state = State::Cooldown { until: w + p.cooldown_windows as usize, pending: 0 };
                    Some(Transition::Resolved(*inc))
                } else {
                    self.state = State::Firing { clear_run: if e.clear { clear_run + 1 } else { 0 } };
                    None
                }
            }
            State::Cooldown { until, pending } => {
                if w > until {
                    self.incident = None;
                    self.state = State::Ok;
                    return self.start(w, e);
                }
                // Within the cooldown the same breach rules apply, but they re-open the incident.
                let pending = if e.level == Level::Moderate { pending + 1 } else { 0 };
                let reopen = e.level == Level::Strong || (e.level == Level::Moderate && pending >= p.pending_windows);
                if !reopen {
                    self.state = State::Cooldown { until, pending };
                    return None;
                }
                let inc = self.incident.as_mut()?;
                inc.resolved_window = None;
                inc.last_breach_window = w;
                inc.reopened += 1;
                if e.score > inc.peak.score {
                    inc.peak = *e;
                }
                self.state = State::Firing { clear_run: 0 };
                Some(Transition::Updated(*inc))
            }
        }
    }

    fn start(&mut self, w: usize, e: &Evaluation) -> Option<Transition> {
        match e.level {
            Level::None => None,
            Level::Strong => Some(self.open(w, w, e)),
            Level::Moderate if self.params.pending_windows <= 1 => Some(self.open(w, w, e)),
            Level::Moderate => {
                self.state = State::Pending { since: w, count: 1 };
                None
            }
        }
    }

    fn open(&mut self, since: usize, w: usize, e: &Evaluation) -> Transition {
        let inc = Incident {
            first_window: since,
            fired_window: w,
            last_breach_window: w,
            resolved_window: None,
            at_fire: *e,
            peak: *e,
            reopened: 0,
        };
        self.incident = Some(inc);
        self.state = State::Firing { clear_run: 0 };
        Transition::Opened(inc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(level: Level, clear: bool, score: f64) -> Evaluation {
        Evaluation {
            observed: 0.0,
            expected: 0.0,
            p_value: 10f64.powf(-score),
            score,
            effect: 0.0,
            volume: 0,
            level,
            clear,
        }
    }

    fn run(levels: &[(Level, bool)]) -> Vec<(usize, &'static str)> {
        let mut t = Tracker::new(LifecycleParams::DEFAULT);
        let mut out = Vec::new();
        for (w, (l, c)) in levels.iter().enumerate() {
            match t.step(w, Some(&eval(*l, *c, w as f64))) {
                Some(Transition::Opened(_)) => out.push((w, "opened")),
                Some(Transition::Resolved(_)) => out.push((w, "resolved")),
                Some(Transition::Updated(_)) | None => {}
            }
        }
        out
    }

    const N: (Level, bool) = (Level::None, true);
    const HOLD: (Level, bool) = (Level::None, false);
    const M: (Level, bool) = (Level::Moderate, false);
    const S: (Level, bool) = (Level::Strong, false);

    #[test]
    fn moderate_needs_consecutive_windows() {
        assert_eq!(run(&[N, M, N, M, N]), vec![]);
        assert_eq!(run(&[N, M, M, N]), vec![(2, "opened")]);
    }

    #[test]
    fn strong_fires_at_once_and_resolves_with_hysteresis() {
        // A window that is neither a breach nor clear keeps the incident firing.
        assert_eq!(run(&[N, S, HOLD, N, HOLD, N, N]), vec![(1, "opened"), (6, "resolved")]);
    }

    #[test]
    fn a_breach_in_the_cooldown_reopens_the_same_incident() {
        let mut t = Tracker::new(LifecycleParams::DEFAULT);
        let seq = [S, N, N, S, M, N, N];
        let mut opened = 0;
        for (w, (l, c)) in seq.iter().enumerate() {
            if let Some(Transition::Opened(_)) = t.step(w, Some(&eval(*l, *c, 1.0))) {
                opened += 1;
            }
        }
        assert_eq!(opened, 1);
        assert_eq!(t.incident().map(|i| i.reopened), Some(1));
        // After the cooldown, a new incident.
        for w in 7..20 {
            t.step(w, Some(&eval(Level::None, true, 0.0)));
        }
        assert!(matches!(t.step(20, Some(&eval(Level::Strong, false, 9.0))), Some(Transition::Opened(_))));
    }

    #[test]
    fn masking_covers_the_incident_up_to_its_limit() {
        let mut t = Tracker::new(LifecycleParams::DEFAULT);
        assert_eq!(t.masked(0), None);
        t.step(10, Some(&eval(Level::Moderate, false, 3.0)));
        assert_eq!(t.masked(11), Some((10, 11)));
        t.step(11, Some(&eval(Level::Moderate, false, 3.0)));
        assert!(t.firing());
        assert_eq!(t.masked(100), Some((10, 34)));
    }
}
