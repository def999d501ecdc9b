//! The default rules: which detector watches which measure of which dimensions, per alert
//! type. Live evaluation and `detect backtest --from/--to` run this same catalogue over
//! [`WindowStats`] series read from the minute rollups ([`crate::history`]).
//!
//! CUSTOMER_CHURN_RISK is not a time-series rule (one customer's repeated negative feedback)
//! and is not in this catalogue.

use std::collections::BTreeMap;

use rtcx_schemas::AlertType;

use crate::backtest::Judge;
use crate::baseline::{Calendar, Side, expected_count};
use crate::detectors::{
    Evaluation, MeanParams, MeanWindow, ShareParams, ShareWindow, Thresholds, VolumeParams, mean_drop, share, volume,
    volume_scaled,
};
use crate::lifecycle::LifecycleParams;
use crate::severity::Measure;

/// One window of one dimension, as summed from the minute rollups.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct WindowStats {
    pub count: f64,
    pub negatives: f64,
    pub sentiment_sum: f64,
    pub sentiment_sq_sum: f64,
    pub csat_count: f64,
    pub csat_sum: f64,
    pub csat_sq_sum: f64,
    /// Feedback analysed by the lexicon fallback instead of the model.
    pub lexicon: f64,
    /// Feedback of the same window outside this dimension (topic series: all feedback
    /// without the topic's; see [`Check::TopicVolume`]).
    pub others: f64,
}

impl WindowStats {
    /// The window left out of baselines (an incident's).
    pub fn blank(self) -> Self {
        let nan = f64::NAN;
        Self {
            count: nan,
            negatives: nan,
            sentiment_sum: nan,
            sentiment_sq_sum: nan,
            csat_count: nan,
            csat_sum: nan,
            csat_sq_sum: nan,
            lexicon: nan,
            others: nan,
        }
    }
}

/// Which dimensions a rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// All feedback together.
    Global,
    /// Each channel.
    Channel,
    /// Each catalogue topic.
    Topic,
}

/// What a rule measures and how.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Check {
    /// Feedback volume against its expectation (surges or drops).
    Volume(VolumeParams),
    /// A topic's mentions against their expectation, scaled up by as much as the rest of the
    /// feedback surged (`others` against its own expectation): a topic trends when its share
    /// of all feedback grows, not when everything grows together.
    TopicVolume(VolumeParams),
    /// Negative feedback volume (surges).
    Negatives(VolumeParams),
    /// Feedback analysed by the lexicon fallback (surges).
    Fallback(VolumeParams),
    /// Share of negative feedback.
    NegativeShare(ShareParams),
    /// Mean sentiment score.
    Sentiment(MeanParams),
    /// Mean CSAT answer.
    Csat(MeanParams),
}

/// A rule of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    pub name: &'static str,
    pub alert_type: AlertType,
    pub scope: Scope,
    pub check: Check,
}

/// Topic bursts need a few more reports than other surges (topics are many and small).
const TOPIC_SURGE: VolumeParams = VolumeParams { min_count: 10, ..VolumeParams::SURGE };

/// Events a traffic surge estimate is shrunk by (a quiet rest of the traffic moving by a
/// few events is noise, not a surge).
const SURGE_PRIOR: f64 = 10.0;

/// How far the traffic `others` stands above its expectation (at least 1: a general drop
/// does not make the topics that kept their volume trend).
fn traffic_surge(history: &[f64], observed: f64, cal: Calendar) -> f64 {
    expected_count(history, cal, Side::Upper)
        .map_or(1.0, |e| ((observed.max(0.0) + SURGE_PRIOR) / (e.mean + SURGE_PRIOR)).max(1.0))
}

/// The default catalogue.
pub const DEFAULT_RULES: &[Rule] = &[
    Rule {
        name: "negative_share",
        alert_type: AlertType::SentimentSpike,
        scope: Scope::Global,
        check: Check::NegativeShare(ShareParams::NEGATIVE_SHARE),
    },
    Rule {
        name: "channel_negative_share",
        alert_type: AlertType::SentimentSpike,
        scope: Scope::Channel,
        check: Check::NegativeShare(ShareParams::NEGATIVE_SHARE),
    },
    Rule {
        name: "channel_negative_volume",
        alert_type: AlertType::HighVolumeNegative,
        scope: Scope::Channel,
        check: Check::Negatives(VolumeParams::SURGE),
    },
    Rule {
        name: "topic_volume",
        alert_type: AlertType::TrendingTopic,
        scope: Scope::Topic,
        check: Check::TopicVolume(TOPIC_SURGE),
    },
    Rule {
        name: "channel_volume_drop",
        alert_type: AlertType::ChannelPerformance,
        scope: Scope::Channel,
        check: Check::Volume(VolumeParams::DROP),
    },
    Rule {
        name: "channel_sentiment_drop",
        alert_type: AlertType::ChannelPerformance,
        scope: Scope::Channel,
        check: Check::Sentiment(MeanParams::SENTIMENT),
    },
    Rule {
        name: "channel_csat_drop",
        alert_type: AlertType::ChannelPerformance,
        scope: Scope::Channel,
        check: Check::Csat(MeanParams::CSAT),
    },
    Rule {
        name: "intake_drop",
        alert_type: AlertType::SystemAnomaly,
        scope: Scope::Global,
        check: Check::Volume(VolumeParams::DROP),
    },
    Rule {
        name: "model_fallback",
        alert_type: AlertType::SystemAnomaly,
        scope: Scope::Global,
        check: Check::Fallback(VolumeParams::SURGE),
    },
];

impl Rule {
    /// How severity is read for this rule.
    pub fn measure(&self) -> Measure {
        match self.check {
            Check::Volume(p) | Check::TopicVolume(p) | Check::Negatives(p) | Check::Fallback(p) => match p.side {
                Side::Upper => Measure::Surge,
                Side::Lower => Measure::Drop,
            },
            Check::NegativeShare(_) => Measure::Share,
            Check::Sentiment(p) | Check::Csat(p) => Measure::MeanDrop { min_drop: p.min_drop },
        }
    }

    /// The rule's detector over [`WindowStats`] histories.
    pub fn evaluate(
        &self,
        history: &[WindowStats],
        cur: WindowStats,
        cal: Calendar,
        th: &Thresholds,
    ) -> Option<Evaluation> {
        let counts = |f: fn(&WindowStats) -> f64| history.iter().map(f).collect::<Vec<f64>>();
        match self.check {
            Check::Volume(p) => volume(&counts(|w| w.count), cur.count, cal, &p, th),
            Check::TopicVolume(p) => {
                let scale = traffic_surge(&counts(|w| w.others), cur.others, cal);
                volume_scaled(&counts(|w| w.count), cur.count, cal, &p, th, scale)
            }
            Check::Negatives(p) => volume(&counts(|w| w.negatives), cur.negatives, cal, &p, th),
            Check::Fallback(p) => volume(&counts(|w| w.lexicon), cur.lexicon, cal, &p, th),
            Check::NegativeShare(p) => {
                let as_share = |w: &WindowStats| ShareWindow { total: w.count, hits: w.negatives };
                let h: Vec<ShareWindow> = history.iter().map(as_share).collect();
                share(&h, as_share(&cur), &p, th)
            }
            Check::Sentiment(p) => {
                let m =
                    |w: &WindowStats| MeanWindow { count: w.count, sum: w.sentiment_sum, sum_sq: w.sentiment_sq_sum };
                let h: Vec<MeanWindow> = history.iter().map(m).collect();
                mean_drop(&h, m(&cur), &p, th)
            }
            Check::Csat(p) => {
                let m = |w: &WindowStats| MeanWindow { count: w.csat_count, sum: w.csat_sum, sum_sq: w.csat_sq_sum };
                let h: Vec<MeanWindow> = history.iter().map(m).collect();
                mean_drop(&h, m(&cur), &p, th)
            }
        }
    }

    /// One line for people: what changed, where, against what.
    pub fn title(&self, dimension: &BTreeMap<String, String>, observed: f64, expected: f64) -> String {
        let on = match (dimension.get("channel"), dimension.get("topic_id")) {
            (Some(c), _) => format!("channel {c}"),
            (_, Some(t)) => format!("topic {t}"),
            _ => "all feedback".to_owned(),
        };
        let counts = format!("{observed:.0} against {expected:.1} expected");
        match (self.check, self.scope) {
            (Check::NegativeShare(_), _) => format!(
                "Negative share up on {on}: {:.0} % against {:.0} % expected",
                100.0 * observed,
                100.0 * expected
            ),
            (Check::Negatives(_), _) => format!("Negative feedback surge on {on}: {counts}"),
            (Check::Fallback(_), _) => format!("Model fallback: {observed:.0} texts analysed by the lexicon"),
            (Check::TopicVolume(_), _) => {
                format!("Trending {on}: {observed:.0} mentions against {expected:.1} expected")
            }
            (Check::Volume(p), _) if p.side == Side::Upper => format!("Volume surge on {on}: {counts}"),
            (Check::Volume(_), Scope::Global) => {
                format!("Intake near zero: {observed:.0} events against {expected:.1} expected")
            }
            (Check::Volume(_), _) => format!("Volume collapse on {on}: {counts}"),
            (Check::Sentiment(_), _) => format!("Sentiment down on {on}: mean {observed:.2} against {expected:.2}"),
            (Check::Csat(_), _) => format!("CSAT down on {on}: mean {observed:.2} against {expected:.2}"),
        }
    }

    /// The rule bound to a calendar and thresholds, for [`crate::backtest::run_series`].
    pub fn judge(self, cal: Calendar, th: Thresholds, life: LifecycleParams) -> Judge<'static, WindowStats> {
        Judge {
            life,
            rule: self.name,
            measure: self.measure(),
            evaluate: Box::new(move |h: &[WindowStats], cur: WindowStats| self.evaluate(h, cur, cal, &th)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::{Level, Sensitivity};

    #[test]
    fn names_are_unique_and_every_time_series_type_has_a_rule() {
        let mut names: Vec<&str> = DEFAULT_RULES.iter().map(|r| r.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DEFAULT_RULES.len());
        for t in [
            AlertType::SentimentSpike,
            AlertType::HighVolumeNegative,
            AlertType::TrendingTopic,
            AlertType::ChannelPerformance,
            AlertType::SystemAnomaly,
        ] {
            assert!(DEFAULT_RULES.iter().any(|r| r.alert_type == t), "{t:?}");
        }
    }

    #[test]
    fn titles_say_what_and_where() {
        let email = BTreeMap::from([("channel".to_owned(), "email".to_owned())]);
        let rule = |name: &str| DEFAULT_RULES.iter().find(|r| r.name == name).expect("rule");
        assert_eq!(
            rule("channel_negative_share").title(&email, 0.5, 0.2),
            "Negative share up on channel email: 50 % against 20 % expected"
        );
        assert_eq!(
            rule("intake_drop").title(&BTreeMap::new(), 0.0, 40.0),
            "Intake near zero: 0 events against 40.0 expected"
        );
        let topic = BTreeMap::from([("topic_id".to_owned(), "t1".to_owned())]);
        assert_eq!(
            rule("topic_volume").title(&topic, 30.0, 2.0),
            "Trending topic t1: 30 mentions against 2.0 expected"
        );
        for r in DEFAULT_RULES {
            let t = r.title(&email, 1.0, 2.0);
            assert!(t.contains("channel email") || r.scope == Scope::Global, "{}: {t}", r.name);
        }
    }

    #[test]
    fn a_topic_trends_when_its_share_grows_not_when_all_feedback_does() {
        let th = Sensitivity::Medium.thresholds();
        let cal = Calendar::for_window_secs(300);
        let w = |topic: f64, others: f64| WindowStats { count: topic, others, ..WindowStats::default() };
        let history: Vec<WindowStats> = (0..288).map(|i| w(10.0 + (i % 3) as f64, 200.0 + (i % 5) as f64)).collect();
        let rule = DEFAULT_RULES.iter().find(|r| r.name == "topic_volume").expect("rule");
        let burst = rule.evaluate(&history, w(40.0, 200.0), cal, &th).expect("baseline");
        assert_eq!(burst.level, Level::Strong, "{burst:?}");
        // Everything tripled (a campaign, an outage elsewhere): the topic kept its share.
        let surge = rule.evaluate(&history, w(33.0, 600.0), cal, &th).expect("baseline");
        assert_eq!(surge.level, Level::None, "{surge:?}");
        assert!((surge.expected - 33.0).abs() < 4.0, "expected scaled with the traffic: {surge:?}");
        // A topic rising faster than a general surge still trends.
        let both = rule.evaluate(&history, w(120.0, 600.0), cal, &th).expect("baseline");
        assert_eq!(both.level, Level::Strong, "{both:?}");
        // The rest of the traffic falling does not make a steady topic trend.
        let drop = rule.evaluate(&history, w(11.0, 20.0), cal, &th).expect("baseline");
        assert_eq!(drop.level, Level::None, "{drop:?}");
    }

    #[test]
    fn a_channel_whose_sentiment_sinks_breaches_the_sentiment_rule() {
        let th = Sensitivity::Medium.thresholds();
        let cal = Calendar::for_window_secs(300);
        let w = |n: f64, mean: f64| WindowStats {
            count: n,
            negatives: n * 0.2,
            sentiment_sum: n * mean,
            sentiment_sq_sum: n * (0.25 + mean * mean),
            ..WindowStats::default()
        };
        let history = vec![w(40.0, 0.3); 288];
        let rule = DEFAULT_RULES.iter().find(|r| r.name == "channel_sentiment_drop").expect("rule");
        let e = rule.evaluate(&history, w(40.0, -0.2), cal, &th).expect("baseline");
        assert!(e.level >= Level::Moderate, "{e:?}");
        let calm = rule.evaluate(&history, w(40.0, 0.28), cal, &th).expect("baseline");
        assert_eq!(calm.level, Level::None);
    }
}
