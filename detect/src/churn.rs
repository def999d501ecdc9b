//! CUSTOMER_CHURN_RISK: one customer with repeated negative feedback or detractor NPS answers
//! within a period (default: at least 3 in 7 days). Not a time-series rule: the evaluator
//! counts, per customer, the distinct feedback in the period that is negative or a detractor
//! answer (NPS 0–6), and raises one alert per customer while the count stays at or above the
//! threshold (updated as it grows, cleared when it falls below).

use rtcx_schemas::AlertSeverity;

/// Name of the rule (a built-in row of `alert_rules`; `min_volume` there overrides
/// [`ChurnParams::min_signals`]).
pub const RULE: &str = "customer_churn";

/// Thresholds of the churn rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChurnParams {
    /// Negative or detractor feedback of one customer within the period before an alert.
    pub min_signals: u64,
    /// The period, in days.
    pub period_days: i64,
}

impl Default for ChurnParams {
    fn default() -> Self {
        Self { min_signals: 3, period_days: 7 }
    }
}

/// One customer's feedback within the period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CustomerSignals {
    /// Distinct feedback in the period.
    pub total: u64,
    /// Distinct negative feedback.
    pub negatives: u64,
    /// Distinct NPS answers 0–6 (detractors).
    pub detractors: u64,
    /// Distinct feedback that is negative, a detractor answer, or both.
    pub signals: u64,
}

impl ChurnParams {
    /// Whether the customer is at risk.
    pub fn at_risk(&self, s: &CustomerSignals) -> bool {
        s.signals >= self.min_signals
    }

    /// Severity by how far past the threshold, and how much of the customer's feedback is
    /// negative: the threshold → MEDIUM; twice it, or all feedback negative → HIGH; three times
    /// it → CRITICAL.
    pub fn severity(&self, s: &CustomerSignals) -> AlertSeverity {
        let m = self.min_signals.max(1);
        if s.signals >= 3 * m {
            AlertSeverity::Critical
        } else if s.signals >= 2 * m || (s.total > 0 && s.signals == s.total && s.total > m) {
            AlertSeverity::High
        } else if s.signals >= m {
            AlertSeverity::Medium
        } else {
            AlertSeverity::Low
        }
    }

    /// One line for people.
    pub fn title(&self, customer: &str, s: &CustomerSignals) -> String {
        let mut parts = Vec::new();
        if s.negatives > 0 {
            parts.push(format!("{} negative", s.negatives));
        }
        if s.detractors > 0 {
            parts.push(format!("{} detractor", s.detractors));
        }
        format!(
            "Churn risk: customer {customer} sent {} in {} days ({} feedback in all)",
            parts.join(" and "),
            self.period_days,
            s.total
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(total: u64, negatives: u64, detractors: u64, signals: u64) -> CustomerSignals {
        CustomerSignals { total, negatives, detractors, signals }
    }

    #[test]
    fn three_signals_in_the_period_are_a_risk_and_severity_grows_with_them() {
        let p = ChurnParams::default();
        assert!(!p.at_risk(&s(10, 2, 0, 2)));
        assert!(p.at_risk(&s(10, 2, 1, 3)), "a detractor answer counts");
        assert_eq!(p.severity(&s(10, 3, 0, 3)), AlertSeverity::Medium);
        assert_eq!(p.severity(&s(4, 4, 0, 4)), AlertSeverity::High, "everything negative");
        assert_eq!(p.severity(&s(20, 6, 0, 6)), AlertSeverity::High);
        assert_eq!(p.severity(&s(20, 9, 2, 9)), AlertSeverity::Critical);
        assert_eq!(
            p.title("C-1", &s(5, 3, 1, 3)),
            "Churn risk: customer C-1 sent 3 negative and 1 detractor in 7 days (5 feedback in all)"
        );
    }
}
