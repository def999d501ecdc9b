//! Severity from effect size and volume (the table in docs/alerts.md).
//!
//! | measure | CRITICAL | HIGH | MEDIUM | LOW |
//! |---|---|---|---|---|
//! | volume surge (observed / expected) | ≥ 5× and ≥ 50 events | ≥ 3× and ≥ 20 events | ≥ 2× | below |
//! | volume drop (expected / observed) | ≥ 10× and ≥ 100 expected | ≥ 5× and ≥ 40 expected | ≥ 3× | below |
//! | share above baseline | ≥ 30 points and ≥ 100 events | ≥ 20 points and ≥ 50 events | ≥ 15 points | below |
//! | mean drop (in minimum drops) | ≥ 4× the rule's minimum and ≥ 50 events | ≥ 2.5× and ≥ 20 events | ≥ 1.5× | below |

use rtcx_schemas::AlertSeverity;

use crate::detectors::Evaluation;

/// What an evaluation's `effect` measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Measure {
    Surge,
    Drop,
    Share,
    /// A drop of a mean; the rule's minimum drop sets the scale.
    MeanDrop {
        min_drop: f64,
    },
}

pub fn severity(measure: Measure, e: &Evaluation) -> AlertSeverity {
    let vol = e.volume as f64;
    let (critical, high, medium) = match measure {
        Measure::Surge => (e.effect >= 5.0 && vol >= 50.0, e.effect >= 3.0 && vol >= 20.0, e.effect >= 2.0),
        Measure::Drop => {
            (e.effect >= 10.0 && e.expected >= 100.0, e.effect >= 5.0 && e.expected >= 40.0, e.effect >= 3.0)
        }
        Measure::Share => (e.effect >= 0.30 && vol >= 100.0, e.effect >= 0.20 && vol >= 50.0, e.effect >= 0.15),
        Measure::MeanDrop { min_drop } => {
            let m = e.effect / min_drop.max(1e-9);
            (m >= 4.0 && vol >= 50.0, m >= 2.5 && vol >= 20.0, m >= 1.5)
        }
    };
    if critical {
        AlertSeverity::Critical
    } else if high {
        AlertSeverity::High
    } else if medium {
        AlertSeverity::Medium
    } else {
        AlertSeverity::Low
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::Level;

    fn e(effect: f64, volume: u64, expected: f64) -> Evaluation {
        Evaluation {
            observed: 0.0,
            expected,
            p_value: 1e-9,
            score: 9.0,
            effect,
            volume,
            level: Level::Strong,
            clear: false,
        }
    }

    #[test]
    fn table() {
        assert_eq!(severity(Measure::Surge, &e(6.0, 60, 10.0)), AlertSeverity::Critical);
        assert_eq!(severity(Measure::Surge, &e(6.0, 30, 5.0)), AlertSeverity::High);
        assert_eq!(severity(Measure::Surge, &e(2.5, 300, 120.0)), AlertSeverity::Medium);
        assert_eq!(severity(Measure::Surge, &e(1.6, 300, 180.0)), AlertSeverity::Low);
        assert_eq!(severity(Measure::Drop, &e(20.0, 3, 200.0)), AlertSeverity::Critical);
        assert_eq!(severity(Measure::Share, &e(0.22, 60, 0.2)), AlertSeverity::High);
        assert_eq!(severity(Measure::MeanDrop { min_drop: 0.15 }, &e(0.3, 30, 0.3)), AlertSeverity::Medium);
    }
}
