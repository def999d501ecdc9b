//! Per-topic thresholds from the topic's own examples.
//!
//! Each example is scored against its topic as if it were a new message: the topic's
//! prototype and neighbours are recomputed without it (leave-one-out). Those scores are what
//! the topic's real messages look like; the other topics' examples and the topic's
//! counter-examples, scored against it, are what it must not take. The threshold is the one
//! that separates the two best (F1 over both), kept within `[floor, ceiling]` so that a topic
//! with few or odd examples cannot open itself to everything.

use serde::Serialize;

/// How a topic's threshold was set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "method")]
pub enum Calibration {
    /// Too few examples: the catalogue-wide threshold.
    Default,
    /// From leave-one-out scores of `positives` examples against `negatives` other messages;
    /// `recall` and `precision` are the estimates at the chosen threshold.
    LeaveOneOut { positives: usize, negatives: usize, recall: f32, precision: f32 },
}

/// The threshold, within `[floor, ceiling]`, that maximises F1 of "score ≥ threshold" with
/// `positives` as the messages to take and `negatives` as those to leave; ties go to the
/// higher threshold (fewer wrong assignments), and when none takes any positive, the floor
/// wins. Returns the threshold and the recall and
/// precision it has on these scores.
pub fn best_threshold(positives: &[f32], negatives: &[f32], floor: f32, ceiling: f32) -> (f32, f32, f32) {
    let mut candidates: Vec<f32> = positives.iter().copied().filter(|s| s.is_finite()).collect();
    candidates.push(floor);
    candidates.push(ceiling);
    let mut best = (ceiling, 0.0f32, 0.0f32, -1.0f32);
    for &c in &candidates {
        let t = c.clamp(floor, ceiling);
        let tp = positives.iter().filter(|&&s| s >= t).count() as f32;
        let fp = negatives.iter().filter(|&&s| s >= t).count() as f32;
        let recall = if positives.is_empty() { 0.0 } else { tp / positives.len() as f32 };
        let precision = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
        let f1 = if recall + precision > 0.0 { 2.0 * recall * precision / (recall + precision) } else { 0.0 };
        if f1 > best.3 || (f1 == best.3 && t > best.0) {
            best = (t, recall, precision, f1);
        }
    }
    if best.3 <= 0.0 {
        // No threshold in range takes any example: the loosest one allowed.
        return (floor, 0.0, 0.0);
    }
    (best.0, best.1, best.2)
}

/// The highest threshold within `[floor, ceiling]` that keeps at least `recall` of
/// `positives`, with the recall and precision (against `negatives`) it has.
pub fn recall_threshold(
    positives: &[f32],
    negatives: &[f32],
    recall: f32,
    floor: f32,
    ceiling: f32,
) -> (f32, f32, f32) {
    let mut sorted: Vec<f32> = positives.iter().copied().filter(|s| s.is_finite()).collect();
    if sorted.is_empty() {
        return (floor, 0.0, 0.0);
    }
    sorted.sort_by(|a, b| b.total_cmp(a));
    let keep = ((recall.clamp(0.0, 1.0) * sorted.len() as f32).ceil() as usize).clamp(1, sorted.len());
    let t = sorted[keep - 1].clamp(floor, ceiling);
    let tp = sorted.iter().filter(|&&s| s >= t).count() as f32;
    let fp = negatives.iter().filter(|&&s| s >= t).count() as f32;
    (t, tp / sorted.len() as f32, if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separates_positives_from_negatives() {
        let (t, recall, precision) = best_threshold(&[0.7, 0.8, 0.9], &[0.3, 0.4, 0.65], 0.2, 0.95);
        assert!((t - 0.7).abs() < 1e-6, "{t}");
        assert_eq!((recall, precision), (1.0, 1.0));
    }

    #[test]
    fn stays_within_floor_and_ceiling() {
        let (t, _, _) = best_threshold(&[0.1, 0.15], &[], 0.3, 0.9);
        assert!((t - 0.3).abs() < 1e-6, "a topic cannot open below the floor: {t}");
        let (t, _, _) = best_threshold(&[0.99], &[0.1], 0.3, 0.9);
        assert!((t - 0.9).abs() < 1e-6, "nor close above the ceiling: {t}");
    }

    #[test]
    fn prefers_the_higher_of_equally_good_thresholds() {
        // 0.6 and 0.7 both take the two positives and leave the negative.
        let (t, _, _) = best_threshold(&[0.7, 0.8], &[0.5], 0.0, 1.0);
        assert!((t - 0.7).abs() < 1e-6, "{t}");
    }
}
