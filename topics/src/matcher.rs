//! Scoring a message against every topic and choosing its topics.
//!
//! A topic's score for a message embedding `x`:
//! - with examples: `w · cos(x, prototype) + (1 − w) · mean of the k highest cos(x, example)`,
//!   where the prototype is the normalised sum of the examples' and the description's
//!   embeddings (`w`: [`Settings::prototype_weight`], `k`: [`Settings::neighbours`]);
//! - without: `cos(x, description)`.
//!
//! A keyword assigns its topic outright and an excluded keyword keeps it off; otherwise the
//! best-scoring topic is assigned when its score reaches that topic's own threshold (see
//! [`crate::calibrate`]), and any other topic too when it also reaches its threshold and is
//! within [`Settings::margin`] of the best: several topics only when the message is really
//! between them. A topic whose nearest counter-example is closer than its nearest example is
//! not assigned. Every assignment carries its [`Reason`].

use rtcx_schemas::text::contains_words;
use serde::Serialize;
use uuid::Uuid;

use crate::calibrate::{Calibration, best_threshold, recall_threshold};
use crate::definition::{TopicDefinition, normalise_phrases};
use crate::probe::{Probe, ProbeSettings};
use crate::{cosine, unit};

/// How scores become assignments.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Settings {
    /// Threshold of a topic with fewer than [`Self::min_calibration_examples`] examples.
    pub threshold: f32,
    /// A runner-up within this much of the best score is assigned too.
    pub margin: f32,
    /// How many nearest examples are averaged into a score.
    pub neighbours: usize,
    /// Weight of the prototype, against the nearest examples, in a score.
    pub prototype_weight: f32,
    /// Examples needed before a topic's threshold is calibrated from them.
    pub min_calibration_examples: usize,
    /// The lowest and highest threshold calibration may choose.
    pub floor: f32,
    pub ceiling: f32,
    /// `Some(r)`: a calibrated threshold keeps at least the share `r` of the topic's own
    /// examples (leave-one-out); `None`: it is the one of best F1 against the other topics'
    /// examples.
    pub calibration_recall: Option<f32>,
    /// With `Some`, a linear classifier trained on the topics' examples and descriptions
    /// chooses between topics (see [`crate::probe`]) once the thresholds say a message is
    /// about at least one; runner-ups within [`Self::probe_margin`] of its probability are
    /// assigned too. Needs at least two topics with examples.
    pub probe: Option<ProbeSettings>,
    pub probe_margin: f32,
    /// At most this many other topics' examples are scored against a topic when calibrating
    /// it (a deterministic spread over all of them): bounds the cost of large catalogues.
    pub max_calibration_negatives: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            threshold: 0.35,
            margin: 0.03,
            neighbours: 3,
            prototype_weight: 0.5,
            min_calibration_examples: 4,
            floor: 0.3,
            ceiling: 0.9,
            max_calibration_negatives: 4000,
            calibration_recall: Some(0.9),
            probe: Some(ProbeSettings::default()),
            probe_margin: 0.1,
        }
    }
}

/// Why a topic was assigned: the contract's type, which the enriched event and the stored
/// row carry as it is.
pub use rtcx_schemas::TopicReason as Reason;

/// One topic given to a message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assignment {
    pub topic: Uuid,
    pub reason: Reason,
}

/// A message's score for one topic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    pub value: f32,
    /// Index of the nearest example and its cosine.
    pub nearest: Option<(usize, f32)>,
}

/// A topic compiled for matching.
#[derive(Debug, Clone)]
struct Compiled {
    def: TopicDefinition,
    /// Sum of the examples' and the description's embeddings (empty when there are none).
    sum: Vec<f32>,
    prototype: Vec<f32>,
    threshold: f32,
    calibration: Calibration,
}

/// A topic's threshold and how it was set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TopicThreshold {
    pub topic: Uuid,
    pub threshold: f32,
    pub calibration: Calibration,
}

/// How well a topic's examples define it (see [`Matcher::quality`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TopicQuality {
    pub topic: Uuid,
    pub examples: usize,
    pub negatives: usize,
    pub threshold: f32,
    pub calibration: Calibration,
    /// The topic its examples score higher for, most often, than for their own topic (each
    /// example left out of its own), and the share of its examples that do.
    pub confused_with: Option<Uuid>,
    pub confusion: f32,
}

/// The catalogue as messages are matched against it.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    topics: Vec<Compiled>,
    settings: Settings,
    probe: Option<Probe>,
}

fn add(sum: &mut Vec<f32>, v: &[f32]) {
    if v.is_empty() {
        return;
    }
    if sum.is_empty() {
        sum.resize(v.len(), 0.0);
    }
    if sum.len() == v.len() {
        sum.iter_mut().zip(v).for_each(|(s, x)| *s += x);
    }
}

impl Compiled {
    fn new(mut def: TopicDefinition) -> Self {
        def.keywords = normalise_phrases(&def.keywords);
        def.excluded_keywords = normalise_phrases(&def.excluded_keywords);
        let mut sum = Vec::new();
        add(&mut sum, &def.description);
        for e in &def.examples {
            add(&mut sum, &e.embedding);
        }
        let prototype = unit(sum.clone());
        Self { def, sum, prototype, threshold: 0.0, calibration: Calibration::Default }
    }

    /// The score of `x`, as if example `leave_out` were not one of the topic's.
    fn score(&self, x: &[f32], leave_out: Option<usize>, s: &Settings) -> Score {
        let k = s.neighbours.max(1);
        // The k highest cosines, kept sorted (k is small: no sort of all of them).
        let mut top: Vec<(usize, f32)> = Vec::with_capacity(k + 1);
        for (i, e) in self.def.examples.iter().enumerate() {
            if Some(i) == leave_out {
                continue;
            }
            let c = cosine(x, &e.embedding);
            if top.len() < k || c > top[top.len() - 1].1 {
                let at = top.iter().position(|(_, t)| c > *t).unwrap_or(top.len());
                top.insert(at, (i, c));
                top.truncate(k);
            }
        }
        if top.is_empty() {
            let value =
                self.def.phrasings.iter().map(|p| cosine(x, p)).fold(cosine(x, &self.def.description), f32::max);
            return Score { value, nearest: None };
        }
        let prototype = match leave_out {
            Some(i) => {
                let mut sum = self.sum.clone();
                sum.iter_mut().zip(&self.def.examples[i].embedding).for_each(|(s, e)| *s -= e);
                cosine(x, &unit(sum))
            }
            None => cosine(x, &self.prototype),
        };
        let knn = top.iter().map(|(_, c)| c).sum::<f32>() / top.len() as f32;
        let w = s.prototype_weight;
        Score { value: w * prototype + (1.0 - w) * knn, nearest: top.first().copied() }
    }

    /// True when the message is closer to one of the topic's counter-examples than to what
    /// stands for the topic (its nearest example, or its description).
    fn vetoed(&self, x: &[f32], score: &Score) -> bool {
        let own = score.nearest.map_or(score.value, |(_, c)| c);
        self.def.negatives.iter().any(|n| cosine(x, &n.embedding) > own)
    }
}

impl Matcher {
    /// Compiles `topics` and calibrates each one's threshold from its examples.
    pub fn new(topics: Vec<TopicDefinition>, settings: Settings) -> Self {
        let mut compiled: Vec<Compiled> = topics.into_iter().map(Compiled::new).collect();
        let thresholds: Vec<(f32, Calibration)> =
            (0..compiled.len()).map(|t| calibrate(&compiled, t, &settings)).collect();
        for (c, (threshold, calibration)) in compiled.iter_mut().zip(thresholds) {
            c.threshold = threshold;
            c.calibration = calibration;
        }
        let probe = settings.probe.and_then(|ps| {
            let data: Vec<(usize, &[f32])> = compiled
                .iter()
                .enumerate()
                .flat_map(|(t, c)| {
                    // At most `ps.max_examples_per_topic`, spread over all of them: training
                    // costs examples × topics × dimensions per iteration.
                    let stride = c.def.examples.len().div_ceil(ps.max_examples_per_topic.max(1)).max(1);
                    c.def
                        .examples
                        .iter()
                        .step_by(stride)
                        .map(move |e| (t, e.embedding.as_slice()))
                        .chain((!c.def.description.is_empty()).then_some((t, c.def.description.as_slice())))
                        .chain(c.def.phrasings.iter().map(move |p| (t, p.as_slice())))
                })
                .collect();
            Probe::train(compiled.len(), &data, &ps)
        });
        Self { topics: compiled, settings, probe }
    }

    pub fn len(&self) -> usize {
        self.topics.len()
    }

    pub fn is_empty(&self) -> bool {
        self.topics.is_empty()
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Every topic's threshold and how it was set, in catalogue order.
    pub fn thresholds(&self) -> Vec<TopicThreshold> {
        self.topics
            .iter()
            .map(|c| TopicThreshold { topic: c.def.id, threshold: c.threshold, calibration: c.calibration })
            .collect()
    }

    /// Per topic: its examples, threshold and calibration estimates, and which other topic
    /// its examples are mistaken for (an example counts when another topic scores it higher
    /// than its own topic does without it).
    pub fn quality(&self) -> Vec<TopicQuality> {
        self.topics
            .iter()
            .enumerate()
            .map(|(t, c)| {
                let mut confused = vec![0usize; self.topics.len()];
                for (i, e) in c.def.examples.iter().enumerate() {
                    let own = c.score(&e.embedding, Some(i), &self.settings).value;
                    let rival = self
                        .topics
                        .iter()
                        .enumerate()
                        .filter(|(u, o)| *u != t && !o.sum.is_empty())
                        .map(|(u, o)| (u, o.score(&e.embedding, None, &self.settings).value))
                        .max_by(|a, b| a.1.total_cmp(&b.1));
                    if let Some((u, score)) = rival
                        && score > own
                    {
                        confused[u] += 1;
                    }
                }
                let worst = confused.iter().enumerate().max_by_key(|(_, n)| **n).filter(|(_, n)| **n > 0);
                let n = c.def.examples.len();
                TopicQuality {
                    topic: c.def.id,
                    examples: n,
                    negatives: c.def.negatives.len(),
                    threshold: c.threshold,
                    calibration: c.calibration,
                    confused_with: worst.map(|(u, _)| self.topics[u].def.id),
                    confusion: if n == 0 { 0.0 } else { confused.iter().sum::<usize>() as f32 / n as f32 },
                }
            })
            .collect()
    }

    /// The topics of `text`, whose unit-length embedding is `x` (possibly empty: then only
    /// keywords match): keyword assignments first, then by descending score.
    pub fn assign(&self, text: &str, x: &[f32]) -> Vec<Assignment> {
        if self.topics.is_empty() {
            return Vec::new();
        }
        let lower = text.to_lowercase();
        let mut out = Vec::new();
        // Per topic, its score when neither a keyword nor an excluded keyword decided it.
        let mut open: Vec<Option<Score>> = vec![None; self.topics.len()];
        let mut candidates: Vec<(usize, Score)> = Vec::new();
        for (i, c) in self.topics.iter().enumerate() {
            if c.def.excluded_keywords.iter().any(|k| contains_words(&lower, k)) {
                continue;
            }
            if let Some(k) = c.def.keywords.iter().find(|k| contains_words(&lower, k)) {
                out.push(Assignment { topic: c.def.id, reason: Reason::Keyword { keyword: k.clone() } });
                continue;
            }
            if x.is_empty() {
                continue;
            }
            let score = c.score(x, None, &self.settings);
            open[i] = Some(score);
            if !c.sum.is_empty() && score.value >= c.threshold && !c.vetoed(x, &score) {
                candidates.push((i, score));
            }
        }
        if candidates.is_empty() {
            return out;
        }
        // About at least one topic: the classifier, when there is one, chooses which.
        if let Some(probe) = &self.probe {
            let p = probe.probabilities(x);
            let best = p.iter().copied().fold(0.0f32, f32::max);
            let mut chosen: Vec<(usize, f32, Score)> = open
                .iter()
                .enumerate()
                .filter_map(|(i, score)| Some((i, *p.get(i)?, (*score)?)))
                .filter(|(_, q, _)| best - q <= self.settings.probe_margin)
                .collect();
            chosen.sort_by(|a, b| b.1.total_cmp(&a.1));
            out.extend(chosen.into_iter().map(|(i, _, score)| self.similarity(&self.topics[i], score)));
            return out;
        }
        candidates.sort_by(|a, b| b.1.value.total_cmp(&a.1.value));
        let best = candidates[0].1;
        for (i, score) in candidates.into_iter().take_while(|(_, s)| best.value - s.value <= self.settings.margin) {
            out.push(self.similarity(&self.topics[i], score));
        }
        out
    }
}

impl Matcher {
    fn similarity(&self, c: &Compiled, score: Score) -> Assignment {
        Assignment {
            topic: c.def.id,
            reason: Reason::Similarity {
                score: score.value,
                threshold: c.threshold,
                example_id: score.nearest.map(|(e, _)| c.def.examples[e].id),
                example_cosine: score.nearest.map(|(_, cos)| cos),
            },
        }
    }
}

/// Topic `t`'s threshold: from leave-one-out scores of its examples against the other
/// topics' examples and its counter-examples, or the default with too few examples.
fn calibrate(topics: &[Compiled], t: usize, s: &Settings) -> (f32, Calibration) {
    let topic = &topics[t];
    let n = topic.def.examples.len();
    if n < s.min_calibration_examples.max(2) {
        return (s.threshold, Calibration::Default);
    }
    let positives: Vec<f32> = (0..n).map(|i| topic.score(&topic.def.examples[i].embedding, Some(i), s).value).collect();
    let others: Vec<&[f32]> = topics
        .iter()
        .enumerate()
        .filter(|(j, _)| *j != t)
        .flat_map(|(_, o)| o.def.examples.iter().map(|e| e.embedding.as_slice()))
        .collect();
    let stride = others.len().div_ceil(s.max_calibration_negatives.max(1)).max(1);
    let negatives: Vec<f32> = others
        .iter()
        .step_by(stride)
        .copied()
        .chain(topic.def.negatives.iter().map(|e| e.embedding.as_slice()))
        .map(|x| topic.score(x, None, s).value)
        .collect();
    let (threshold, recall, precision) = match s.calibration_recall {
        Some(r) => recall_threshold(&positives, &negatives, r, s.floor, s.ceiling),
        None => best_threshold(&positives, &negatives, s.floor, s.ceiling),
    };
    (threshold, Calibration::LeaveOneOut { positives: n, negatives: negatives.len(), recall, precision })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::Embedded;

    fn v(a: f32, b: f32, c: f32) -> Vec<f32> {
        unit(vec![a, b, c])
    }

    fn topic(n: u128, keywords: &[&str], description: Vec<f32>, examples: Vec<Vec<f32>>) -> TopicDefinition {
        TopicDefinition {
            id: Uuid::from_u128(n),
            name: format!("t{n}"),
            keywords: keywords.iter().map(|s| (*s).to_owned()).collect(),
            description,
            examples: examples
                .into_iter()
                .enumerate()
                .map(|(i, embedding)| Embedded { id: Uuid::from_u128(n * 1000 + i as u128), embedding })
                .collect(),
            ..TopicDefinition::default()
        }
    }

    fn ids(a: &[Assignment]) -> Vec<Uuid> {
        a.iter().map(|a| a.topic).collect()
    }

    #[test]
    fn keywords_match_whole_words_and_excluded_keywords_win() {
        let mut refunds = topic(1, &["Refund", "money back"], vec![], vec![]);
        refunds.excluded_keywords = vec!["refund policy".into()];
        let m = Matcher::new(vec![refunds, topic(2, &["app"], vec![], vec![])], Settings::default());
        let a = m.assign("I want my MONEY BACK", &[]);
        assert_eq!(
            a,
            vec![Assignment { topic: Uuid::from_u128(1), reason: Reason::Keyword { keyword: "money back".into() } }]
        );
        assert!(m.assign("the application crashed", &[]).is_empty(), "app must not match application");
        assert!(m.assign("where is your refund policy? I want a refund", &[]).is_empty(), "excluded wins");
    }

    #[test]
    fn the_best_topic_wins_unless_a_runner_up_is_within_the_margin() {
        let s = Settings { threshold: 0.5, margin: 0.05, probe: None, ..Settings::default() };
        let m = Matcher::new(vec![topic(1, &[], v(1.0, 0.0, 0.0), vec![]), topic(2, &[], v(0.0, 1.0, 0.0), vec![])], s);
        assert_eq!(ids(&m.assign("x", &v(1.0, 0.6, 0.0))), vec![Uuid::from_u128(1)], "clear winner only");
        assert_eq!(ids(&m.assign("x", &v(1.0, 0.97, 0.0))), vec![Uuid::from_u128(1), Uuid::from_u128(2)]);
        assert!(m.assign("x", &v(0.0, 0.0, 1.0)).is_empty(), "no topic close enough");
        assert!(m.assign("x", &[]).is_empty(), "no embedding, no similarity match");
    }

    #[test]
    fn examples_carry_a_topic_its_description_misses_and_say_which_matched() {
        // The description points one way; the examples show what the topic's messages are like.
        let t = topic(1, &[], v(1.0, 0.0, 0.0), vec![v(0.0, 1.0, 0.1), v(0.1, 1.0, 0.0), v(0.0, 1.0, -0.1)]);
        let s = Settings { min_calibration_examples: 10, ..Settings::default() };
        let m = Matcher::new(vec![t], s);
        let a = m.assign("x", &v(0.05, 1.0, 0.1));
        let Some(Assignment { reason: Reason::Similarity { example_id, example_cosine, .. }, .. }) = a.first() else {
            panic!("expected a similarity assignment, got {a:?}");
        };
        assert_eq!(*example_id, Some(Uuid::from_u128(1000)));
        assert!(example_cosine.is_some_and(|c| c > 0.99));
    }

    #[test]
    fn the_classifier_chooses_between_close_topics_once_one_threshold_is_met() {
        // Two topics whose examples differ only in the third coordinate, one more spread out.
        let a: Vec<Vec<f32>> = (0..6).map(|i| v(1.0, 0.1 * i as f32, 0.15)).collect();
        let b: Vec<Vec<f32>> = (0..6).map(|i| v(1.0, 0.1 * i as f32, -0.15)).collect();
        let m = Matcher::new(vec![topic(1, &[], vec![], a), topic(2, &[], vec![], b)], Settings::default());
        assert_eq!(ids(&m.assign("x", &v(1.0, 0.25, 0.12))), vec![Uuid::from_u128(1)]);
        assert_eq!(ids(&m.assign("x", &v(1.0, 0.25, -0.12))), vec![Uuid::from_u128(2)]);
        eprintln!("{:?}", m.probe.as_ref().map(|p| p.probabilities(&v(1.0, 0.25, 0.0))));
        let both = ids(&m.assign("x", &v(1.0, 0.25, 0.0)));
        assert_eq!(both.len(), 2, "right between them the classifier hesitates: both, {both:?}");
        assert!(m.assign("x", &v(0.0, 0.0, 1.0)).is_empty(), "about neither: no threshold is met");
    }

    #[test]
    fn quality_names_the_topic_examples_are_mistaken_for() {
        // Topic 1's last example sits among topic 2's.
        let mut a: Vec<Vec<f32>> = (0..4).map(|i| v(1.0, 0.05 * i as f32, 0.0)).collect();
        a.push(v(0.0, 1.0, 0.02));
        let b: Vec<Vec<f32>> = (0..4).map(|i| v(0.05 * i as f32, 1.0, 0.0)).collect();
        let m = Matcher::new(vec![topic(1, &[], vec![], a), topic(2, &[], vec![], b)], Settings::default());
        let q = m.quality();
        assert_eq!(q[0].examples, 5);
        assert_eq!(q[0].confused_with, Some(Uuid::from_u128(2)));
        assert!((q[0].confusion - 0.2).abs() < 1e-6, "{q:?}");
        assert_eq!(q[1].confused_with, None);
        assert_eq!(q[1].confusion, 0.0);
    }

    #[test]
    fn dot_matches_the_plain_sum_on_every_length() {
        for n in 0..40 {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((crate::dot(&a, &b) - plain).abs() < 1e-5, "length {n}");
        }
    }

    #[test]
    fn a_closer_counter_example_keeps_the_topic_off() {
        let mut t = topic(1, &[], v(1.0, 0.0, 0.0), vec![v(1.0, 0.1, 0.0), v(1.0, -0.1, 0.0)]);
        t.negatives = vec![Embedded { id: Uuid::from_u128(9), embedding: v(1.0, 0.0, 0.6) }];
        let m = Matcher::new(vec![t], Settings { threshold: 0.5, ..Settings::default() });
        assert_eq!(m.assign("x", &v(1.0, 0.0, 0.1)).len(), 1);
        assert!(m.assign("x", &v(1.0, 0.0, 0.7)).is_empty(), "nearer the counter-example");
    }

    #[test]
    fn thresholds_are_calibrated_per_topic_from_examples() {
        // A tight topic (examples near one direction) and a loose one.
        let tight: Vec<Vec<f32>> = (0..6).map(|i| v(1.0, 0.02 * i as f32, 0.0)).collect();
        let loose: Vec<Vec<f32>> = (0..6).map(|i| v(0.2 * i as f32, 1.0, 0.3 * (i % 2) as f32)).collect();
        let s = Settings { min_calibration_examples: 4, ..Settings::default() };
        let m = Matcher::new(
            vec![topic(1, &[], vec![], tight), topic(2, &[], vec![], loose), topic(3, &[], v(0.0, 0.0, 1.0), vec![])],
            s,
        );
        let th = m.thresholds();
        assert!(matches!(th[0].calibration, Calibration::LeaveOneOut { positives: 6, .. }));
        assert!(th[0].threshold > th[1].threshold, "the tight topic asks for more: {th:?}");
        assert_eq!(th[2].calibration, Calibration::Default);
        assert!((th[2].threshold - s.threshold).abs() < 1e-6);
    }
}
