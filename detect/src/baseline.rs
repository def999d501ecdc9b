//! What a window is compared with: the expected count from the series' own history.
//!
//! Two estimates, both from windows strictly before the one evaluated:
//! - **recent**: the mean of the last hour of windows after dropping its largest and smallest
//!   eighth (one spiky window does not move it);
//! - **daily** (with at least two days of history): the median of the same time of day
//!   (± one window) over up to the last seven days, rescaled by how the last hour compares
//!   with the same hour on those days (so a busier week or a growing product moves the
//!   expectation with it, and the rising edge of a daily cycle is expected, not an alert);
//! - **weekly** (with at least a week of history): the same for the same time of the week
//!   over up to four weeks (Monday morning after a quiet weekend is expected).
//!
//! A surge is judged against the largest of these and a drop against the smallest: each
//! detector takes the reading under which its alarm is least likely, which is what keeps
//! daily cycles and ramps from raising alerts. Windows marked `NaN` (an ongoing incident's
//! windows, see [`crate::lifecycle`]) are left out, so an incident does not become its own
//! baseline while it lasts.

/// Which side of the expectation a detector looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Surges: the larger expectation.
    Upper,
    /// Drops: the smaller expectation.
    Lower,
}

/// The expected count of a window and how noisy the series is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Expected {
    pub mean: f64,
    /// Over-dispersion (variance = mean + phi·mean²), including the uncertainty of `mean`.
    pub phi: f64,
    /// True when the seasonal estimate was available.
    pub seasonal: bool,
}

/// Fewest earlier windows a baseline is computed from.
pub const MIN_HISTORY: usize = 12;

/// Lower bound of an expectation: half an event over the windows it rests on (a series that
/// was zero throughout expects little, never exactly nothing).
fn floor(n: usize) -> f64 {
    0.5 / (n.max(1) as f64)
}

/// Mean of the finite values after dropping the largest and the smallest eighth (unbiased
/// for symmetric noise, and one or two spiky windows do not move it).
pub fn trimmed_mean(values: &[f64]) -> Option<f64> {
    let mut xs: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let cut = xs.len() / 8;
    let kept = &xs[cut..xs.len() - cut];
    Some(kept.iter().sum::<f64>() / kept.len() as f64)
}

fn median(mut xs: Vec<f64>) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let m = xs.len() / 2;
    Some(if xs.len() % 2 == 1 { xs[m] } else { (xs[m - 1] + xs[m]) / 2.0 })
}

/// Windows in an hour and in a day, for a window width in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calendar {
    pub per_hour: usize,
    pub per_day: usize,
}

impl Calendar {
    pub fn for_window_secs(secs: u64) -> Self {
        let secs = secs.max(1);
        Self { per_hour: (3600 / secs).max(1) as usize, per_day: (86_400 / secs).max(1) as usize }
    }

    /// Windows of the "recent" estimate: an hour, at least [`MIN_HISTORY`] windows.
    pub fn recent(&self) -> usize {
        self.per_hour.max(MIN_HISTORY)
    }
}

/// The expected count for the window that follows `history` (oldest first; `NaN` = left
/// out), or `None` when there is too little history.
pub fn expected_count(history: &[f64], cal: Calendar, side: Side) -> Option<Expected> {
    let n = history.len();
    // The last hour of windows that are not left out, looking back at most three hours (an
    // incident's windows are skipped, so the hour before it stands in).
    let recent_values: Vec<f64> = history[n.saturating_sub(3 * cal.recent())..]
        .iter()
        .rev()
        .copied()
        .filter(|v| v.is_finite())
        .take(cal.recent())
        .collect();
    let recent_n = recent_values.len();
    if recent_n < MIN_HISTORY {
        return None;
    }
    let recent = trimmed_mean(&recent_values)?;
    let daily = seasonal_count(history, cal, recent, cal.per_day, 7, 2);
    let weekly = seasonal_count(history, cal, recent, 7 * cal.per_day, 4, 1);
    let seasonal: Vec<(f64, usize)> = [daily, weekly].into_iter().flatten().collect();
    let samples = recent_n.max(seasonal.iter().map(|(_, k)| *k).max().unwrap_or(0));
    let pick = |a: f64, b: f64| if side == Side::Upper { a.max(b) } else { a.min(b) };
    let mean = seasonal.iter().fold(recent, |m, (s, _)| pick(m, *s)).max(floor(samples));
    // Noise of the series over the last day, plus the uncertainty of an expectation
    // estimated from `samples` windows: Var(mean) = (mean + phi·mean²) / samples.
    let day = &history[n.saturating_sub(cal.per_day.max(12))..];
    let phi = crate::stats::dispersion(day);
    // (A Jeffreys-prior reading for sparse series: after `samples` windows with S events in
    // all, the next window's count is NB with r = S + 1/2, i.e. phi = 1 / (S + 1/2).)
    let phi = (phi * (1.0 + 1.0 / samples as f64) + 1.0 / (samples as f64 * mean + 0.5)).min(2.0);
    Some(Expected { mean, phi, seasonal: !seasonal.is_empty() })
}

/// The same time `period` windows earlier, over up to `max_periods` periods (± one window
/// each), rescaled to the recent level; needs `min_periods` whole periods of history.
/// Returns the estimate and the number of windows it rests on.
fn seasonal_count(
    history: &[f64],
    cal: Calendar,
    recent: f64,
    period: usize,
    max_periods: usize,
    min_periods: usize,
) -> Option<(f64, usize)> {
    let n = history.len();
    if period < 2 || n < min_periods * period {
        return None;
    }
    let (mut same_time, mut same_hour_levels) = (Vec::new(), Vec::new());
    for k in 1..=max_periods.min(n / period) {
        let at = n - k * period; // index of this window k periods earlier
        same_time.extend(history[at.saturating_sub(1)..=(at + 1).min(n - 1)].iter().filter(|v| v.is_finite()));
        if at >= cal.recent()
            && let Some(level) = trimmed_mean(&history[at - cal.recent()..at])
        {
            same_hour_levels.push(level);
        }
    }
    let samples = same_time.len();
    let typical = median(same_time)?;
    // Half-event pseudo-counts keep the ratio sane for sparse series; without the hour before
    // (the first period of history) the level is taken as unchanged.
    let ratio = median(same_hour_levels).map_or(1.0, |then| ((recent + 0.5) / (then + 0.5)).clamp(0.5, 2.0));
    Some((typical * ratio, samples))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIVE_MIN: Calendar = Calendar { per_hour: 12, per_day: 288 };

    #[test]
    fn too_little_history_has_no_baseline() {
        assert_eq!(expected_count(&[1.0; 11], FIVE_MIN, Side::Upper), None);
        assert!(expected_count(&[1.0; 12], FIVE_MIN, Side::Upper).is_some());
    }

    #[test]
    fn recent_mean_ignores_a_spike() {
        let mut h = vec![10.0; 12];
        h[5] = 200.0;
        let e = expected_count(&h, FIVE_MIN, Side::Upper).expect("baseline");
        assert!((e.mean - 10.0).abs() < 1e-9, "{e:?}");
        assert!(!e.seasonal);
    }

    #[test]
    fn seasonal_expectation_follows_the_daily_cycle() {
        // Three days of a cycle between 10 and 50 per window; the window that follows is at
        // the cycle's rising edge (an hour after the low point).
        let cycle = |i: usize| 30.0 - 20.0 * (2.0 * std::f64::consts::PI * (i % 288) as f64 / 288.0).cos();
        let h: Vec<f64> = (0..3 * 288 + 72).map(cycle).collect();
        let e = expected_count(&h, FIVE_MIN, Side::Upper).expect("baseline");
        assert!(e.seasonal);
        let truth = cycle(h.len());
        assert!((e.mean - truth).abs() / truth < 0.05, "expected {truth}, got {e:?}");
    }

    #[test]
    fn masked_windows_are_left_out() {
        let mut h = vec![10.0; 24];
        for v in &mut h[18..] {
            *v = f64::NAN; // an ongoing incident
        }
        let e = expected_count(&h, FIVE_MIN, Side::Upper).expect("baseline");
        assert!((e.mean - 10.0).abs() < 1e-9, "{e:?}");
    }

    #[test]
    fn an_all_zero_series_expects_almost_nothing() {
        let e = expected_count(&[0.0; 288], FIVE_MIN, Side::Upper).expect("baseline");
        assert!(e.mean > 0.0 && e.mean < 0.1, "{e:?}");
    }
}
