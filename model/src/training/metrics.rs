//! Classification metrics: accuracy, per-class precision/recall/F1, macro-F1, confusion matrix.
//!
//! For multi-label gold rows (≈9 % of GoEmotions) a prediction that matches any gold label
//! counts as correct; otherwise the row counts against its first gold label.

use serde::Serialize;

/// Scores of one class.
#[derive(Debug, Clone, Serialize)]
pub struct ClassScore {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

/// Scores of a classifier on one data set.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub n: usize,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub classes: Vec<ClassScore>,
    /// `confusion[gold][predicted]`.
    pub confusion: Vec<Vec<usize>>,
}

/// Scores `predicted` against `gold` (each gold entry non-empty).
pub fn evaluate(labels: &[&str], gold: &[Vec<usize>], predicted: &[usize]) -> Report {
    let k = labels.len();
    let mut confusion = vec![vec![0usize; k]; k];
    let mut correct = 0;
    for (g, &p) in gold.iter().zip(predicted) {
        let truth = if g.contains(&p) { p } else { g.first().copied().unwrap_or(0) };
        if truth == p {
            correct += 1;
        }
        if truth < k && p < k {
            confusion[truth][p] += 1;
        }
    }
    let classes: Vec<ClassScore> = (0..k)
        .map(|c| {
            let tp = confusion[c][c] as f64;
            let predicted_c: usize = (0..k).map(|g| confusion[g][c]).sum();
            let support: usize = confusion[c].iter().sum();
            let precision = if predicted_c > 0 { tp / predicted_c as f64 } else { 0.0 };
            let recall = if support > 0 { tp / support as f64 } else { 0.0 };
            let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
            ClassScore { label: labels[c].to_owned(), precision, recall, f1, support }
        })
        .collect();
    let present: Vec<&ClassScore> = classes.iter().filter(|c| c.support > 0).collect();
    let macro_f1 =
        if present.is_empty() { 0.0 } else { present.iter().map(|c| c.f1).sum::<f64>() / present.len() as f64 };
    let n = gold.len();
    Report { n, accuracy: if n > 0 { correct as f64 / n as f64 } else { 0.0 }, macro_f1, classes, confusion }
}

impl Report {
    /// A human-readable table.
    pub fn render(&self, title: &str) -> String {
        let mut s = format!(
            "{title}: n={} accuracy={:.4} macro-F1={:.4}\n  {:<10} {:>9} {:>9} {:>9} {:>8}\n",
            self.n, self.accuracy, self.macro_f1, "class", "precision", "recall", "F1", "support"
        );
        for c in &self.classes {
            s.push_str(&format!(
                "  {:<10} {:>9.4} {:>9.4} {:>9.4} {:>8}\n",
                c.label, c.precision, c.recall, c.f1, c.support
            ));
        }
        s.push_str("  confusion (rows gold, columns predicted):\n");
        for (c, row) in self.classes.iter().zip(&self.confusion) {
            s.push_str(&format!("  {:<10} {:?}\n", c.label, row));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macro_f1_by_hand() {
        // gold: a a b b ; predicted: a b b b
        let r = evaluate(&["a", "b"], &[vec![0], vec![0], vec![1], vec![1]], &[0, 1, 1, 1]);
        assert!((r.accuracy - 0.75).abs() < 1e-12);
        // a: P=1 R=0.5 F1=2/3; b: P=2/3 R=1 F1=0.8
        assert!((r.classes[0].f1 - 2.0 / 3.0).abs() < 1e-12);
        assert!((r.classes[1].f1 - 0.8).abs() < 1e-12);
        assert!((r.macro_f1 - (2.0 / 3.0 + 0.8) / 2.0).abs() < 1e-12);
        assert_eq!(r.confusion, vec![vec![1, 1], vec![0, 2]]);
    }

    #[test]
    fn any_gold_label_counts_for_multi_label_rows() {
        let r = evaluate(&["a", "b", "c"], &[vec![0, 2], vec![1, 2]], &[2, 0]);
        assert!((r.accuracy - 0.5).abs() < 1e-12);
        assert_eq!(r.confusion[2][2], 1);
        assert_eq!(r.confusion[1][0], 1);
    }
}
