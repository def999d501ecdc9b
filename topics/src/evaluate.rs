//! Scoring topic assignment against labels: each message has at most one gold topic (none:
//! it is about no catalogue topic) and may be given several or none.

use serde::Serialize;

/// One topic's figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TopicFigures {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Messages whose gold topic this is.
    pub support: usize,
}

/// How "no topic" was answered.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NoTopic {
    /// Of the messages given no topic, the share that is about none (out of scope).
    pub precision: f64,
    /// Of the out-of-scope messages, the share given no topic.
    pub recall: f64,
    /// Messages given no topic.
    pub answered: usize,
    /// Out-of-scope messages.
    pub out_of_scope: usize,
}

/// Figures of one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Mean F1 over the catalogue's topics (multi-label answers: a wrong extra topic is a
    /// false positive of that topic).
    pub macro_f1: f64,
    /// In-scope messages whose gold topic is among those given.
    pub hit_rate: f64,
    /// Of all topics given, the share that is right.
    pub precision: f64,
    /// Mean number of topics given per message.
    pub topics_per_message: f64,
    pub no_topic: NoTopic,
    pub per_topic: Vec<TopicFigures>,
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Scores `answers` (gold topic or none, topics given) over a catalogue of `topics` topics.
pub fn evaluate(topics: usize, answers: &[(Option<usize>, Vec<usize>)]) -> Report {
    let (mut tp, mut fp, mut fn_) = (vec![0usize; topics], vec![0usize; topics], vec![0usize; topics]);
    let (mut hits, mut in_scope, mut given, mut right) = (0, 0, 0, 0);
    let (mut none_answered, mut none_right, mut oos) = (0, 0, 0);
    for (gold, predicted) in answers {
        given += predicted.len();
        for &p in predicted.iter().filter(|&&p| p < topics) {
            if Some(p) == *gold {
                tp[p] += 1;
                right += 1;
            } else {
                fp[p] += 1;
            }
        }
        match gold {
            Some(g) if *g < topics => {
                in_scope += 1;
                if predicted.contains(g) {
                    hits += 1;
                } else {
                    fn_[*g] += 1;
                }
            }
            _ => oos += 1,
        }
        if predicted.is_empty() {
            none_answered += 1;
            if gold.is_none() {
                none_right += 1;
            }
        }
    }
    let per_topic: Vec<TopicFigures> = (0..topics)
        .map(|t| {
            let (precision, recall) = (ratio(tp[t], tp[t] + fp[t]), ratio(tp[t], tp[t] + fn_[t]));
            let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
            TopicFigures { precision, recall, f1, support: tp[t] + fn_[t] }
        })
        .collect();
    Report {
        macro_f1: if topics == 0 { 0.0 } else { per_topic.iter().map(|f| f.f1).sum::<f64>() / topics as f64 },
        hit_rate: ratio(hits, in_scope),
        precision: ratio(right, given),
        topics_per_message: ratio(given, answers.len()),
        no_topic: NoTopic {
            precision: ratio(none_right, none_answered),
            recall: ratio(none_right, oos),
            answered: none_answered,
            out_of_scope: oos,
        },
        per_topic,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_by_hand() {
        // Two topics. Gold 0 → {0}; gold 0 → {0, 1}; gold 1 → {}; none → {}; none → {1}.
        let r = evaluate(
            2,
            &[(Some(0), vec![0]), (Some(0), vec![0, 1]), (Some(1), vec![]), (None, vec![]), (None, vec![1])],
        );
        assert_eq!(r.per_topic[0], TopicFigures { precision: 1.0, recall: 1.0, f1: 1.0, support: 2 });
        assert_eq!(r.per_topic[1], TopicFigures { precision: 0.0, recall: 0.0, f1: 0.0, support: 1 });
        assert!((r.macro_f1 - 0.5).abs() < 1e-12);
        assert!((r.hit_rate - 2.0 / 3.0).abs() < 1e-12);
        assert!((r.precision - 0.5).abs() < 1e-12, "2 right of 4 given");
        assert_eq!(r.no_topic, NoTopic { precision: 0.5, recall: 0.5, answered: 2, out_of_scope: 2 });
        assert!((r.topics_per_message - 0.8).abs() < 1e-12);
    }
}
