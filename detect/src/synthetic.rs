//! Synthetic seasonal traffic with labelled incidents, and the scores of the detectors over
//! it (`rtcx-processors detect bench`, figures in docs/benchmarks.md).
//!
//! Each series has its own rate (log-uniform from 0.1 to 1 000 events per minute), a daily
//! cycle (peak-to-trough up to 5:1, random phase), quieter weekends, and Poisson noise with
//! mild extra dispersion. A share of the series carries one labelled incident in its second
//! week: a volume surge (2×, 3× or 5× for 10–120 minutes), an outage (volume down to 0–10 %
//! for 30–120 minutes) or, in the negative-share series, a jump of the negative share (20 %
//! to 35 % or 50 % for 30–60 minutes).
//!
//! Topic series ride on the traffic around them (the rest of the feedback, 10 to 100 times
//! the topic's volume): some carry a topic burst (the topic alone 3× or 5× for 10–60
//! minutes), others a general surge (topic and rest 3× together for 30–120 minutes: a
//! campaign, an outage elsewhere), which must not make the topic trend.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Binomial, Distribution, Gamma, Poisson};
use serde::Serialize;

use crate::backtest::{CSV_RULES, Judge, RaisedAlert, run_counts, run_series};
use crate::baseline::Calendar;
use crate::detectors::{ShareParams, ShareWindow, Thresholds, share};
use crate::lifecycle::LifecycleParams;
use crate::rules::{DEFAULT_RULES, WindowStats};
use crate::severity::Measure;

/// Windows per day at the benchmark's 5-minute windows.
const PER_DAY: usize = 288;

/// Kinds of labelled incidents.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    Surge { factor: f64 },
    Outage { factor: f64 },
    ShareJump { to: f64 },
    TopicBurst { factor: f64 },
    GeneralSurge { factor: f64 },
}

/// One labelled incident.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Label {
    pub series: usize,
    pub shape: Shape,
    pub start: usize,
    /// Exclusive.
    pub end: usize,
    /// Events per minute of the series at the incident's start (before the incident).
    pub rate_per_min: f64,
}

/// The generated traffic.
pub struct Traffic {
    pub counts: Vec<Vec<f64>>,
    pub shares: Vec<Vec<ShareWindow>>,
    pub count_labels: Vec<Label>,
    pub share_labels: Vec<Label>,
    /// Topic series: `count` the topic's mentions, `others` the rest of the feedback.
    pub topics: Vec<Vec<WindowStats>>,
    pub topic_labels: Vec<Label>,
    pub days: usize,
}

fn poisson(rng: &mut StdRng, mean: f64) -> f64 {
    if mean <= 0.0 { 0.0 } else { Poisson::new(mean).map(|d| d.sample(rng)).unwrap_or(0.0) }
}

/// The expected events of window `w` of a series.
fn rate_at(base_per_window: f64, amplitude: f64, phase: f64, weekend: f64, w: usize) -> f64 {
    let day_frac = (w % PER_DAY) as f64 / PER_DAY as f64;
    let daily = 1.0 + amplitude * (2.0 * std::f64::consts::PI * (day_frac - phase)).sin();
    let dow = (w / PER_DAY) % 7;
    base_per_window * daily * if dow >= 5 { weekend } else { 1.0 }
}

/// Generates `n` count series and `n / 2` share series of `days` days.
pub fn generate(n: usize, days: usize, incident_share: f64, seed: u64) -> Traffic {
    let mut rng = StdRng::seed_from_u64(seed);
    let len = days * PER_DAY;
    let mut t = Traffic {
        counts: Vec::new(),
        shares: Vec::new(),
        count_labels: Vec::new(),
        share_labels: Vec::new(),
        topics: Vec::new(),
        topic_labels: Vec::new(),
        days,
    };
    for kind in [0, 1] {
        let count = if kind == 0 { n } else { n / 2 };
        for i in 0..count {
            let per_min = 10f64.powf(rng.random_range(-1.0..3.0));
            let base = per_min * 5.0;
            let (amp, phase, weekend) = (rng.random_range(0.2..0.67), rng.random::<f64>(), rng.random_range(0.5..1.0));
            // Gamma-mixed Poisson: extra dispersion phi in [0, 0.02].
            let phi: f64 = rng.random_range(0.0..0.02);
            let incident = rng.random_bool(incident_share) && days >= 8;
            let start = rng.random_range(7 * PER_DAY..len - 30);
            let (shape, dur) = if kind == 0 {
                if rng.random_bool(0.5) {
                    let factor = [2.0, 3.0, 5.0][rng.random_range(0..3)];
                    (Shape::Surge { factor }, [2, 6, 12, 24][rng.random_range(0..4)])
                } else {
                    (Shape::Outage { factor: rng.random_range(0.0..0.1) }, [6, 12, 24][rng.random_range(0..3)])
                }
            } else {
                (
                    Shape::ShareJump { to: if rng.random_bool(0.5) { 0.5 } else { 0.35 } },
                    [6, 12][rng.random_range(0..2)],
                )
            };
            let end = (start + dur).min(len);
            let (mut counts, mut shares) = (Vec::with_capacity(len), Vec::with_capacity(len));
            for w in 0..len {
                let mut mean = rate_at(base, amp, phase, weekend, w);
                if phi > 0.0 {
                    mean *= Gamma::new(1.0 / phi, phi).map(|g| g.sample(&mut rng)).unwrap_or(1.0);
                }
                let inside = incident && (start..end).contains(&w);
                match (inside, shape) {
                    (true, Shape::Surge { factor }) => mean *= factor,
                    (true, Shape::Outage { factor }) => mean *= factor,
                    _ => {}
                }
                let total = poisson(&mut rng, mean);
                if kind == 0 {
                    counts.push(total);
                } else {
                    let p = match (inside, shape) {
                        (true, Shape::ShareJump { to }) => to,
                        _ => 0.2,
                    };
                    let hits = Binomial::new(total as u64, p).map(|d| d.sample(&mut rng) as f64).unwrap_or(0.0);
                    shares.push(ShareWindow { total, hits });
                }
            }
            if incident {
                let label = Label {
                    series: i,
                    shape,
                    start,
                    end,
                    rate_per_min: rate_at(base, amp, phase, weekend, start) / 5.0,
                };
                if kind == 0 { t.count_labels.push(label) } else { t.share_labels.push(label) }
            }
            if kind == 0 { t.counts.push(counts) } else { t.shares.push(shares) }
        }
    }
    for i in 0..n / 2 {
        let per_min = 10f64.powf(rng.random_range(-1.0..2.0));
        let rest = 10f64.powf(rng.random_range(1.0..2.0));
        let (amp, phase, weekend) = (rng.random_range(0.2..0.67), rng.random::<f64>(), rng.random_range(0.5..1.0));
        let incident = rng.random_bool(incident_share) && days >= 8;
        let start = rng.random_range(7 * PER_DAY..len - 30);
        let (shape, dur) = if rng.random_bool(0.5) {
            (Shape::TopicBurst { factor: [3.0, 5.0][rng.random_range(0..2)] }, [2, 6, 12][rng.random_range(0..3)])
        } else {
            (Shape::GeneralSurge { factor: 3.0 }, [6, 12, 24][rng.random_range(0..3)])
        };
        let end = (start + dur).min(len);
        let windows = (0..len)
            .map(|w| {
                let mean = rate_at(per_min * 5.0, amp, phase, weekend, w);
                let (topic, others) = match (incident && (start..end).contains(&w), shape) {
                    (true, Shape::TopicBurst { factor }) => (factor, 1.0),
                    (true, Shape::GeneralSurge { factor }) => (factor, factor),
                    _ => (1.0, 1.0),
                };
                WindowStats {
                    count: poisson(&mut rng, mean * topic),
                    others: poisson(&mut rng, mean * rest * others),
                    ..WindowStats::default()
                }
            })
            .collect();
        if incident {
            let rate_per_min = rate_at(per_min * 5.0, amp, phase, weekend, start) / 5.0;
            t.topic_labels.push(Label { series: i, shape, start, end, rate_per_min });
        }
        t.topics.push(windows);
    }
    t
}

/// Runs the negative-share rule over share series.
pub fn run_shares(series: &[Vec<ShareWindow>], th: &Thresholds, life: LifecycleParams) -> Vec<RaisedAlert> {
    let params = ShareParams::NEGATIVE_SHARE;
    let rule = Judge {
        rule: "negative_share",
        measure: Measure::Share,
        evaluate: Box::new(move |history: &[ShareWindow], cur: ShareWindow| share(history, cur, &params, th)),
        life,
    };
    run_series(series, vec![rule], |w| ShareWindow { total: f64::NAN, ..w })
}

/// Runs the default `topic_volume` rule over topic series.
pub fn run_topics(series: &[Vec<WindowStats>], th: &Thresholds, life: LifecycleParams) -> Vec<RaisedAlert> {
    let rule = DEFAULT_RULES.iter().find(|r| r.name == "topic_volume").copied();
    let judges = rule.map(|r| r.judge(Calendar::for_window_secs(300), *th, life)).into_iter().collect();
    run_series(series, judges, WindowStats::blank)
}

/// Incidents a rule must not alert on (e.g. a general surge for `topic_volume`).
#[derive(Debug, Clone, Serialize)]
pub struct Confounders {
    pub what: String,
    pub incidents: usize,
    /// Of them, those during which the rule fired on the series.
    pub alerted: usize,
}

/// Where the benchmark's time went.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Timing {
    pub generate_secs: f64,
    /// Running every rule over every series (baselines, tests, FDR, lifecycles).
    pub detect_secs: f64,
    /// (rule, series, window) evaluations.
    pub evaluations: u64,
}

/// Scores of one detector over the labelled traffic.
#[derive(Debug, Clone, Serialize)]
pub struct Score {
    pub rule: String,
    /// The incidents the target is about, and how many were caught within `within` windows.
    pub target: String,
    pub target_incidents: usize,
    pub target_caught: usize,
    pub recall: f64,
    /// All labelled incidents of the rule's kind caught at any time during them.
    pub all_incidents: usize,
    pub all_caught: usize,
    /// Alerts overlapping a labelled incident / all alerts.
    pub alerts: usize,
    pub precision: f64,
    /// Mean windows from the incident's start to the alert, over caught target incidents.
    pub mean_delay_windows: f64,
    pub max_delay_windows: usize,
    /// Alerts outside any incident, per 1 000 series-days.
    pub false_per_1000_series_days: f64,
    pub series_days: f64,
    /// The alerts outside any incident (`detect bench --list-false`).
    pub false_alerts: Vec<RaisedAlert>,
    /// Incidents of another kind the rule must stay quiet on (their alerts are false ones).
    pub confounders: Option<Confounders>,
}

/// Scores `alerts` of `rule` against `labels` whose shape `kind` picks; `target` selects the
/// incidents of the measured target, caught when an alert fires within `within` windows.
#[allow(clippy::too_many_arguments)]
pub fn score_rule(
    rule: &str,
    alerts: &[RaisedAlert],
    labels: &[Label],
    kind: impl Fn(&Shape) -> bool,
    target_name: &str,
    target: impl Fn(&Label) -> bool,
    within: usize,
    series_days: f64,
) -> Score {
    let alerts: Vec<&RaisedAlert> = alerts.iter().filter(|a| a.rule == rule).collect();
    let labels: Vec<&Label> = labels.iter().filter(|l| kind(&l.shape)).collect();
    // An alert belongs to an incident when it fires from its start to a cooldown after it.
    let matches = |a: &RaisedAlert, l: &Label| {
        a.series == l.series && a.incident.fired_window >= l.start && a.incident.fired_window < l.end + 6
    };
    let (mut target_n, mut target_caught, mut delays, mut all_caught) = (0, 0, Vec::new(), 0);
    for l in &labels {
        let first = alerts.iter().filter(|a| matches(a, l)).map(|a| a.incident.fired_window).min();
        all_caught += usize::from(first.is_some_and(|f| f < l.end));
        if target(l) {
            target_n += 1;
            if let Some(f) = first.filter(|f| f - l.start < within) {
                target_caught += 1;
                delays.push(f - l.start + 1);
            }
        }
    }
    let false_list: Vec<RaisedAlert> =
        alerts.iter().filter(|a| !labels.iter().any(|l| matches(a, l))).map(|a| (*a).clone()).collect();
    let false_alerts = false_list.len();
    let true_alerts = alerts.len() - false_alerts;
    let ratio = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    Score {
        rule: rule.to_owned(),
        target: target_name.to_owned(),
        target_incidents: target_n,
        target_caught,
        recall: ratio(target_caught, target_n),
        all_incidents: labels.len(),
        all_caught,
        alerts: alerts.len(),
        precision: ratio(true_alerts, alerts.len()),
        mean_delay_windows: if delays.is_empty() {
            0.0
        } else {
            delays.iter().sum::<usize>() as f64 / delays.len() as f64
        },
        max_delay_windows: delays.iter().copied().max().unwrap_or(0),
        false_per_1000_series_days: false_alerts as f64 * 1000.0 / series_days.max(1e-9),
        series_days,
        false_alerts: false_list,
        confounders: None,
    }
}

/// `score` with the `labels` of shape `kind` it must not alert on counted.
fn with_confounders(
    mut score: Score,
    alerts: &[RaisedAlert],
    labels: &[Label],
    what: &str,
    kind: impl Fn(&Shape) -> bool,
) -> Score {
    let labels: Vec<&Label> = labels.iter().filter(|l| kind(&l.shape)).collect();
    let alerted = labels
        .iter()
        .filter(|l| {
            alerts.iter().any(|a| {
                a.rule == score.rule && a.series == l.series && (l.start..l.end + 6).contains(&a.incident.fired_window)
            })
        })
        .count();
    score.confounders = Some(Confounders { what: what.to_owned(), incidents: labels.len(), alerted });
    score
}

/// Generates traffic, runs every rule over it and scores them.
pub fn bench(n: usize, days: usize, seed: u64, th: &Thresholds, life: LifecycleParams) -> (Vec<Score>, Timing) {
    let started = std::time::Instant::now();
    let t = generate(n, days, 0.3, seed);
    let generated = started.elapsed();
    let cal = Calendar::for_window_secs(300);
    let count_alerts = run_counts(&t.counts, cal, &CSV_RULES, th, life);
    let share_alerts = run_shares(&t.shares, th, life);
    let topic_alerts = run_topics(&t.topics, th, life);
    let timing = Timing {
        generate_secs: generated.as_secs_f64(),
        detect_secs: (started.elapsed() - generated).as_secs_f64(),
        evaluations: ((t.counts.len() * CSV_RULES.len() + t.shares.len() + t.topics.len()) * days * PER_DAY) as u64,
    };
    let count_days = (t.counts.len() * days) as f64;
    let share_days = (t.shares.len() * days) as f64;
    let topic_days = (t.topics.len() * days) as f64;
    let scores = vec![
        score_rule(
            "volume_surge",
            &count_alerts,
            &t.count_labels,
            |s| matches!(s, Shape::Surge { .. }),
            "3x or more, >= 10 min, >= 5 events/min",
            |l| {
                matches!(l.shape, Shape::Surge { factor } if factor >= 3.0)
                    && l.end - l.start >= 2
                    && l.rate_per_min >= 5.0
            },
            3,
            count_days,
        ),
        score_rule(
            "volume_drop",
            &count_alerts,
            &t.count_labels,
            |s| matches!(s, Shape::Outage { .. }),
            "outage >= 30 min, >= 5 events/min",
            |l| l.end - l.start >= 6 && l.rate_per_min >= 5.0,
            3,
            count_days,
        ),
        score_rule(
            "negative_share",
            &share_alerts,
            &t.share_labels,
            |s| matches!(s, Shape::ShareJump { .. }),
            "20 % -> 50 %, >= 50 events per window",
            |l| matches!(l.shape, Shape::ShareJump { to } if to >= 0.5) && l.rate_per_min * 5.0 >= 50.0,
            3,
            share_days,
        ),
        with_confounders(
            score_rule(
                "topic_volume",
                &topic_alerts,
                &t.topic_labels,
                |s| matches!(s, Shape::TopicBurst { .. }),
                "topic 3x or more, >= 10 min, >= 5 mentions/min",
                |l| l.end - l.start >= 2 && l.rate_per_min >= 5.0,
                3,
                topic_days,
            ),
            &topic_alerts,
            &t.topic_labels,
            "general 3x surges (topic and the rest together)",
            |s| matches!(s, Shape::GeneralSurge { .. }),
        ),
    ];
    (scores, timing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::Sensitivity;

    #[test]
    fn a_small_bench_finds_the_target_incidents_without_false_alerts() {
        let th = Sensitivity::Medium.thresholds();
        let (scores, _) = bench(40, 10, 7, &th, LifecycleParams::DEFAULT);
        for s in &scores {
            assert!(s.recall >= 0.9, "{s:?}");
            assert!(s.false_per_1000_series_days <= 10.0, "{s:?}");
        }
        let topics = scores.iter().find(|s| s.rule == "topic_volume").expect("topic score");
        let general = topics.confounders.as_ref().expect("general surges");
        assert!(general.incidents > 0 && general.alerted == 0, "{general:?}");
    }
}
