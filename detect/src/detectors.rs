//! The detectors: pure functions of (the current window, the windows before it, parameters)
//! returning an [`Evaluation`]. Live evaluation and `detect backtest` call the very same
//! functions, so a backtest shows what the live run would have raised.
//!
//! - [`volume`]: a count far above (or far below) its expectation — negative-binomial tails
//!   around the [`crate::baseline`] expectation. Serves HIGH_VOLUME_NEGATIVE (negatives),
//!   TRENDING_TOPIC (a topic's volume), CHANNEL_PERFORMANCE and SYSTEM_ANOMALY (a volume that
//!   collapses: a broken integration, intake near zero) and plain CSV count series.
//! - [`share`]: a proportion far above its baseline (SENTIMENT_SPIKE: the negative share) —
//!   a beta-binomial test (the baseline share is itself uncertain).
//! - [`mean_drop`]: an average far below its baseline (CHANNEL_PERFORMANCE: mean sentiment or
//!   CSAT) — a z-test on the window mean.
//!
//! Every detector also needs an effect large enough to matter (a ratio, points of share, a
//! drop of the mean) and a minimum volume: low volume is never an alert by itself.

use serde::{Deserialize, Serialize};

use crate::baseline::{Calendar, Side, expected_count};
use crate::stats::{beta_binomial_upper_tail, lower_tail, normal_cdf, score, upper_tail};

/// How readily the detectors fire: thresholds on the p-value (per window) and the number of
/// consecutive windows a moderate breach must last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Sensitivity {
    Low,
    #[default]
    Medium,
    High,
}

/// The thresholds a [`Sensitivity`] stands for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// A window with p below this is a moderate breach (if it also passes the FDR control).
    pub moderate_p: f64,
    /// A window with p below this fires at once.
    pub strong_p: f64,
    /// A window with p above this counts towards clearing an incident.
    pub resolve_p: f64,
    /// Consecutive moderate windows before an incident fires.
    pub pending_windows: u32,
    /// Effect size needed, as a multiple of the rule's own minimum effect.
    pub effect_scale: f64,
}

impl Thresholds {
    /// Breach thresholds `factor` times stricter (the resolve threshold is kept).
    pub fn stricter(&self, factor: f64) -> Thresholds {
        Thresholds { moderate_p: self.moderate_p / factor, strong_p: self.strong_p / factor, ..*self }
    }
}

impl Sensitivity {
    pub const fn thresholds(self) -> Thresholds {
        match self {
            Sensitivity::Low => {
                Thresholds { moderate_p: 1e-4, strong_p: 1e-9, resolve_p: 1e-2, pending_windows: 3, effect_scale: 1.5 }
            }
            Sensitivity::Medium => {
                Thresholds { moderate_p: 1e-3, strong_p: 1e-7, resolve_p: 5e-2, pending_windows: 2, effect_scale: 1.0 }
            }
            Sensitivity::High => {
                Thresholds { moderate_p: 1e-2, strong_p: 1e-5, resolve_p: 1e-1, pending_windows: 2, effect_scale: 0.75 }
            }
        }
    }

    /// The sensitivity of a wire name (`low`, `medium`, `high`).
    pub fn from_wire(s: &str) -> Option<Self> {
        [Sensitivity::Low, Sensitivity::Medium, Sensitivity::High].into_iter().find(|v| v.as_str() == s)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Sensitivity::Low => "low",
            Sensitivity::Medium => "medium",
            Sensitivity::High => "high",
        }
    }
}

/// How far a window breaches its rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    None,
    /// Must hold for the pending windows.
    Moderate,
    /// Fires at once.
    Strong,
}

/// One window judged by one detector.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Evaluation {
    /// The measured value (a count, a share, a mean).
    pub observed: f64,
    /// What the baseline expected.
    pub expected: f64,
    /// Probability of a value at least this extreme under the baseline.
    pub p_value: f64,
    /// `-log10(p_value)`.
    pub score: f64,
    /// The effect in the rule's unit: a ratio (volume), points of share, or a drop of the mean.
    pub effect: f64,
    /// Events in the window.
    pub volume: u64,
    pub level: Level,
    /// Below the resolve threshold (counts towards clearing an incident).
    pub clear: bool,
}

impl Evaluation {
    fn judged(self, th: &Thresholds, effect_ok: bool, effect_half_ok: bool, volume_ok: bool) -> Self {
        let level = if !(effect_ok && volume_ok) {
            Level::None
        } else if self.p_value <= th.strong_p {
            Level::Strong
        } else if self.p_value <= th.moderate_p {
            Level::Moderate
        } else {
            Level::None
        };
        let clear = level == Level::None && (self.p_value > th.resolve_p || !effect_half_ok || !volume_ok);
        Self { level, clear, score: score(self.p_value), ..self }
    }
}

/// Parameters of a volume rule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VolumeParams {
    /// Surges or drops.
    #[serde(with = "side_name")]
    pub side: Side,
    /// Surges: the fewest events a breaching window holds. Drops: the fewest events the
    /// baseline must expect (a quiet series going quiet is no news).
    pub min_count: u64,
    /// Surges: observed / expected at least this. Drops: expected / observed at least this.
    pub min_ratio: f64,
}

impl VolumeParams {
    /// Surges of at least 5 events and 1.5× the expectation.
    pub const SURGE: VolumeParams = VolumeParams { side: Side::Upper, min_count: 5, min_ratio: 1.5 };
    /// Collapses to a third or less of at least 20 expected events.
    pub const DROP: VolumeParams = VolumeParams { side: Side::Lower, min_count: 20, min_ratio: 3.0 };
}

mod side_name {
    use super::Side;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(s: &Side, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(match s {
            Side::Upper => "upper",
            Side::Lower => "lower",
        })
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Side, D::Error> {
        match String::deserialize(de)?.as_str() {
            "upper" => Ok(Side::Upper),
            "lower" => Ok(Side::Lower),
            other => Err(serde::de::Error::custom(format!("side must be upper or lower, not {other:?}"))),
        }
    }
}

/// Windows of the last week at least as high as a sparse series' burst that make the burst
/// part of its normal behaviour.
pub const RECURRING_BURSTS: usize = 3;

/// A count against its expectation (see the module docs).
pub fn volume(
    history: &[f64],
    observed: f64,
    cal: Calendar,
    params: &VolumeParams,
    th: &Thresholds,
) -> Option<Evaluation> {
    volume_scaled(history, observed, cal, params, th, 1.0)
}

/// [`volume`] with the expectation multiplied by `scale`: the part of a surge that the
/// traffic around the series explains (a topic's mentions grow with all feedback).
pub fn volume_scaled(
    history: &[f64],
    observed: f64,
    cal: Calendar,
    params: &VolumeParams,
    th: &Thresholds,
    scale: f64,
) -> Option<Evaluation> {
    let mut exp = expected_count(history, cal, params.side)?;
    exp.mean *= scale.max(f64::MIN_POSITIVE);
    let x = observed.max(0.0).round() as u64;
    let min_ratio = 1.0 + (params.min_ratio - 1.0) * th.effect_scale;
    let (p, effect, effect_ok, half_ok, volume_ok) = match params.side {
        Side::Upper => {
            let ratio = x as f64 / exp.mean;
            // A sparse series (under one event per window) whose bursts this large recur:
            // at least `RECURRING_BURSTS` such windows in the last week make it normal.
            let recurring = exp.mean < 1.0
                && history[history.len().saturating_sub(7 * cal.per_day)..]
                    .iter()
                    .filter(|v| v.is_finite() && **v >= x as f64)
                    .count()
                    >= RECURRING_BURSTS;
            (
                upper_tail(x, exp.mean, exp.phi),
                ratio,
                ratio >= min_ratio && !recurring,
                ratio >= 1.0 + (min_ratio - 1.0) / 2.0 && !recurring,
                x >= params.min_count,
            )
        }
        Side::Lower => {
            let ratio = exp.mean / (x as f64).max(0.5);
            (
                lower_tail(x, exp.mean, exp.phi),
                ratio,
                ratio >= min_ratio,
                ratio >= 1.0 + (min_ratio - 1.0) / 2.0,
                exp.mean >= params.min_count as f64,
            )
        }
    };
    let e = Evaluation {
        observed: x as f64,
        expected: exp.mean,
        p_value: p,
        score: 0.0,
        effect,
        volume: x,
        level: Level::None,
        clear: false,
    };
    // Without a seasonal baseline (under two days of history) the expectation is the last
    // hour's level, blind to daily cycles: breaches need ten times the evidence.
    let th = if exp.seasonal { *th } else { th.stricter(UNSEASONAL_FACTOR) };
    Some(e.judged(&th, effect_ok, half_ok, volume_ok))
}

/// How much stronger the evidence must be while a series has no seasonal baseline yet.
pub const UNSEASONAL_FACTOR: f64 = 10.0;

/// A window's events and how many of them have the property watched (e.g. negative).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ShareWindow {
    pub total: f64,
    pub hits: f64,
}

/// Parameters of a share rule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ShareParams {
    /// Fewest events in a breaching window.
    pub min_volume: u64,
    /// Share points above the baseline share at least (0.10 = ten points).
    pub min_effect: f64,
    /// Earlier windows the baseline share pools (a day of windows).
    pub baseline_windows: usize,
}

impl ShareParams {
    pub const NEGATIVE_SHARE: ShareParams = ShareParams { min_volume: 20, min_effect: 0.10, baseline_windows: 288 };
}

/// Most earlier events a share or mean baseline counts as evidence: shares and means drift
/// from day to day, so a month of history must not make them look exact.
const BASELINE_EVIDENCE_CAP: f64 = 500.0;

/// A share against the share of the earlier windows (beta-binomial upper tail).
pub fn share(
    history: &[ShareWindow],
    current: ShareWindow,
    params: &ShareParams,
    th: &Thresholds,
) -> Option<Evaluation> {
    let from = history.len().saturating_sub(params.baseline_windows);
    let (mut n, mut k) = (0.0, 0.0);
    for w in &history[from..] {
        if w.total.is_finite() && w.hits.is_finite() {
            n += w.total;
            k += w.hits;
        }
    }
    if n < params.min_volume as f64 {
        return None;
    }
    let base = (k + 0.5) / (n + 1.0);
    let evidence = n.min(BASELINE_EVIDENCE_CAP);
    let (a, b) = (base * evidence, (1.0 - base) * evidence);
    let total = current.total.max(0.0).round() as u64;
    let hits = (current.hits.max(0.0).round() as u64).min(total);
    let observed = if total == 0 { 0.0 } else { hits as f64 / total as f64 };
    let p = if total > 2_000 {
        // Normal approximation of the same beta-binomial (exact sums grow with the window).
        let nn = total as f64;
        let var = nn * base * (1.0 - base) * (a + b + nn) / (a + b + 1.0);
        1.0 - normal_cdf((hits as f64 - 0.5 - nn * base) / var.sqrt().max(1e-9))
    } else {
        beta_binomial_upper_tail(hits, total, a, b)
    };
    let min_effect = params.min_effect * th.effect_scale;
    let effect = observed - base;
    let e = Evaluation {
        observed,
        expected: base,
        p_value: p.max(crate::stats::P_FLOOR),
        score: 0.0,
        effect,
        volume: total,
        level: Level::None,
        clear: false,
    };
    Some(e.judged(th, effect >= min_effect, effect >= min_effect / 2.0, total >= params.min_volume))
}

/// A window's count, sum and sum of squares of a per-event value (sentiment, CSAT).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct MeanWindow {
    pub count: f64,
    pub sum: f64,
    pub sum_sq: f64,
}

/// Parameters of a mean-drop rule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanParams {
    pub min_volume: u64,
    /// How far below the baseline mean the window mean must be.
    pub min_drop: f64,
    pub baseline_windows: usize,
}

impl MeanParams {
    /// Mean sentiment (−1…1) down by 0.15 or more.
    pub const SENTIMENT: MeanParams = MeanParams { min_volume: 20, min_drop: 0.15, baseline_windows: 288 };
    /// Mean CSAT (1…5) down by half a point or more.
    pub const CSAT: MeanParams = MeanParams { min_volume: 10, min_drop: 0.5, baseline_windows: 288 };
}

/// A window mean against the mean of the earlier windows (one-sided z-test).
pub fn mean_drop(
    history: &[MeanWindow],
    current: MeanWindow,
    params: &MeanParams,
    th: &Thresholds,
) -> Option<Evaluation> {
    let from = history.len().saturating_sub(params.baseline_windows);
    let (mut n, mut s, mut ss) = (0.0, 0.0, 0.0);
    for w in &history[from..] {
        if w.count.is_finite() && w.sum.is_finite() && w.sum_sq.is_finite() {
            n += w.count;
            s += w.sum;
            ss += w.sum_sq;
        }
    }
    if n < params.min_volume as f64 || current.count < 1.0 {
        return None;
    }
    let mean = s / n;
    let var = (ss / n - mean * mean).max(1e-6);
    let observed = current.sum / current.count;
    let se = (var / current.count + var / n.min(BASELINE_EVIDENCE_CAP)).sqrt();
    let p = normal_cdf((observed - mean) / se);
    let drop = mean - observed;
    let min_drop = params.min_drop * th.effect_scale;
    let volume = current.count.round() as u64;
    let e = Evaluation {
        observed,
        expected: mean,
        p_value: p.max(crate::stats::P_FLOOR),
        score: 0.0,
        effect: drop,
        volume,
        level: Level::None,
        clear: false,
    };
    Some(e.judged(th, drop >= min_drop, drop >= min_drop / 2.0, volume >= params.min_volume))
}

/// False-discovery-rate control across the series one rule evaluates in one tick: a
/// moderate breach stands only when Benjamini–Hochberg at `q` counts it a discovery (strong
/// ones stand anyway). With one series this changes nothing at the default thresholds.
pub fn control_fdr(evals: &mut [&mut Evaluation], q: f64) {
    let ps: Vec<f64> = evals.iter().map(|e| e.p_value).collect();
    let found = crate::stats::benjamini_hochberg(&ps, q);
    for (e, ok) in evals.iter_mut().zip(found) {
        if e.level == Level::Moderate && !ok {
            e.level = Level::None;
        }
    }
}

/// Default false-discovery rate across series.
pub const FDR_Q: f64 = 0.05;

#[cfg(test)]
mod tests {
    use super::*;

    const CAL: Calendar = Calendar { per_hour: 12, per_day: 288 };

    fn poisson_series(rate: impl Fn(usize) -> f64, n: usize, seed: u64) -> Vec<f64> {
        use rand::SeedableRng;
        use rand_distr::Distribution;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (0..n)
            .map(|i| {
                let r = rate(i);
                if r <= 0.0 { 0.0 } else { rand_distr::Poisson::new(r).expect("rate").sample(&mut rng) }
            })
            .collect()
    }

    #[test]
    fn a_daily_cycle_raises_nothing() {
        let th = Sensitivity::Medium.thresholds();
        let rate = |i: usize| 25.0 - 20.0 * (2.0 * std::f64::consts::PI * (i % 288) as f64 / 288.0).cos();
        let xs = poisson_series(rate, 10 * 288, 3);
        let strong = (288..xs.len())
            .filter_map(|i| volume(&xs[..i], xs[i], CAL, &VolumeParams::SURGE, &th))
            .filter(|e| e.level == Level::Strong)
            .count();
        assert_eq!(strong, 0);
    }

    #[test]
    fn low_volume_is_never_a_breach() {
        let th = Sensitivity::High.thresholds();
        let xs = vec![0.0; 288];
        let e = volume(&xs, 4.0, CAL, &VolumeParams::SURGE, &th).expect("baseline");
        assert_eq!(e.level, Level::None);
        let e = volume(&xs, 5.0, CAL, &VolumeParams::SURGE, &th).expect("baseline");
        assert_eq!(e.level, Level::Strong, "{e:?}");
        // Bursts of that size three times this week: part of the series' normal behaviour.
        let mut bursty = vec![0.0; 7 * 288];
        for i in [100, 900, 1500] {
            bursty[i] = 6.0;
        }
        let e = volume(&bursty, 5.0, CAL, &VolumeParams::SURGE, &th).expect("baseline");
        assert_eq!(e.level, Level::None, "{e:?}");
    }

    #[test]
    fn a_threefold_surge_is_strong_and_a_drop_is_seen() {
        let th = Sensitivity::Medium.thresholds();
        let xs = poisson_series(|_| 25.0, 288, 4);
        let up = volume(&xs, 75.0, CAL, &VolumeParams::SURGE, &th).expect("baseline");
        assert_eq!(up.level, Level::Strong, "{up:?}");
        assert!((up.effect - 3.0).abs() < 0.4);
        let down = volume(&xs, 2.0, CAL, &VolumeParams::DROP, &th).expect("baseline");
        assert_eq!(down.level, Level::Strong, "{down:?}");
        let normal = volume(&xs, 27.0, CAL, &VolumeParams::SURGE, &th).expect("baseline");
        assert_eq!(normal.level, Level::None);
        assert!(normal.clear);
    }

    #[test]
    fn negative_share_jump_from_20_to_50_percent() {
        let th = Sensitivity::Medium.thresholds();
        let hist = vec![ShareWindow { total: 50.0, hits: 10.0 }; 288];
        let e =
            share(&hist, ShareWindow { total: 50.0, hits: 25.0 }, &ShareParams::NEGATIVE_SHARE, &th).expect("baseline");
        assert!(e.level >= Level::Moderate, "{e:?}");
        let calm =
            share(&hist, ShareWindow { total: 50.0, hits: 12.0 }, &ShareParams::NEGATIVE_SHARE, &th).expect("baseline");
        assert_eq!(calm.level, Level::None);
        // Below the minimum volume: nothing, however extreme.
        let small =
            share(&hist, ShareWindow { total: 10.0, hits: 10.0 }, &ShareParams::NEGATIVE_SHARE, &th).expect("baseline");
        assert_eq!(small.level, Level::None);
    }

    #[test]
    fn mean_sentiment_drop() {
        let th = Sensitivity::Medium.thresholds();
        // Baseline: mean 0.3, sd 0.5.
        let w = |n: f64, m: f64| MeanWindow { count: n, sum: n * m, sum_sq: n * (0.25 + m * m) };
        let hist = vec![w(40.0, 0.3); 288];
        let e = mean_drop(&hist, w(40.0, -0.1), &MeanParams::SENTIMENT, &th).expect("baseline");
        assert!(e.level >= Level::Moderate, "{e:?}");
        let calm = mean_drop(&hist, w(40.0, 0.25), &MeanParams::SENTIMENT, &th).expect("baseline");
        assert_eq!(calm.level, Level::None);
    }

    #[test]
    fn fdr_drops_lone_moderate_breaches_among_many_series() {
        let mut evals: Vec<Evaluation> = (0..1000)
            .map(|i| Evaluation {
                observed: 0.0,
                expected: 0.0,
                p_value: if i == 0 { 5e-4 } else { 0.5 },
                score: 0.0,
                effect: 0.0,
                volume: 0,
                level: if i == 0 { Level::Moderate } else { Level::None },
                clear: false,
            })
            .collect();
        let mut refs: Vec<&mut Evaluation> = evals.iter_mut().collect();
        control_fdr(&mut refs, FDR_Q);
        assert_eq!(evals[0].level, Level::None);
    }
}
