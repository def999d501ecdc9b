//! A linear classifier over the catalogue (multinomial logistic regression on the sentence
//! embeddings), trained on every topic's examples and description: where topics are close
//! (pending vs declined card payments), it weighs the directions that tell them apart, which
//! plain similarity to examples cannot. It chooses *between* topics; whether a message is
//! about any of them at all stays with the similarity thresholds.

/// Training settings.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ProbeSettings {
    pub iterations: usize,
    pub learning_rate: f32,
    /// Heavy-ball momentum of the gradient descent.
    pub momentum: f32,
    /// L2 penalty on the weights.
    pub l2: f32,
    /// Embeddings are unit vectors whose cosines differ by little: inputs are scaled by this
    /// much so that the weights need not grow large.
    pub input_scale: f32,
    /// Examples of one topic it is trained on at most (a spread over all of them).
    pub max_examples_per_topic: usize,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        Self {
            iterations: 120,
            learning_rate: 0.1,
            momentum: 0.9,
            l2: 1e-3,
            input_scale: 8.0,
            max_examples_per_topic: 100,
        }
    }
}

/// The trained classifier.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    /// `classes × dim`, row-major.
    weights: Vec<f32>,
    bias: Vec<f32>,
    dim: usize,
    scale: f32,
}

fn softmax(logits: &mut [f32]) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for l in logits.iter_mut() {
        *l = (*l - max).exp();
        sum += *l;
    }
    logits.iter_mut().for_each(|l| *l /= sum);
}

impl Probe {
    /// Trains on `(class, embedding)` pairs over `classes` classes, each class weighing the
    /// same in total whatever its number of examples. `None` when fewer than two classes
    /// have data.
    pub fn train(classes: usize, data: &[(usize, &[f32])], s: &ProbeSettings) -> Option<Self> {
        let dim = data.first()?.1.len();
        let mut counts = vec![0usize; classes];
        for (c, x) in data {
            if *c < classes && x.len() == dim {
                counts[*c] += 1;
            }
        }
        if counts.iter().filter(|&&n| n > 0).count() < 2 {
            return None;
        }
        let present = counts.iter().filter(|&&n| n > 0).count() as f32;
        let weight: Vec<f32> = counts.iter().map(|&n| if n == 0 { 0.0 } else { 1.0 / (n as f32 * present) }).collect();
        let mut p = Self { weights: vec![0.0; classes * dim], bias: vec![0.0; classes], dim, scale: s.input_scale };
        let mut grad_w = vec![0.0f32; classes * dim];
        let mut grad_b = vec![0.0f32; classes];
        let (mut vel_w, mut vel_b) = (vec![0.0f32; classes * dim], vec![0.0f32; classes]);
        let mut probs = vec![0.0f32; classes];
        for _ in 0..s.iterations {
            grad_w.fill(0.0);
            grad_b.fill(0.0);
            for (c, x) in data.iter().filter(|(c, x)| *c < classes && x.len() == dim) {
                p.logits_into(x, &mut probs);
                softmax(&mut probs);
                let w = weight[*c];
                for k in 0..classes {
                    let g = w * (probs[k] - f32::from(k == *c));
                    grad_b[k] += g;
                    let row = &mut grad_w[k * dim..(k + 1) * dim];
                    row.iter_mut().zip(x.iter()).for_each(|(r, xi)| *r += g * xi * p.scale);
                }
            }
            for ((wv, v), g) in p.weights.iter_mut().zip(&mut vel_w).zip(&grad_w) {
                *v = s.momentum * *v - s.learning_rate * (g + s.l2 * *wv);
                *wv += *v;
            }
            for ((b, v), g) in p.bias.iter_mut().zip(&mut vel_b).zip(&grad_b) {
                *v = s.momentum * *v - s.learning_rate * g;
                *b += *v;
            }
        }
        Some(p)
    }

    fn logits_into(&self, x: &[f32], out: &mut [f32]) {
        for (k, o) in out.iter_mut().enumerate() {
            let row = &self.weights[k * self.dim..(k + 1) * self.dim];
            *o = self.bias[k] + self.scale * crate::dot(row, x);
        }
    }

    /// Class probabilities of `x` (empty when `x` does not fit the classifier).
    pub fn probabilities(&self, x: &[f32]) -> Vec<f32> {
        if x.len() != self.dim || self.bias.is_empty() {
            return Vec::new();
        }
        let mut out = vec![0.0; self.bias.len()];
        self.logits_into(x, &mut out);
        softmax(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_the_direction_that_separates_close_classes() {
        // Two classes that differ only in a small second coordinate.
        let a: Vec<Vec<f32>> = (0..10).map(|i| crate::unit(vec![1.0, 0.05, 0.01 * i as f32])).collect();
        let b: Vec<Vec<f32>> = (0..10).map(|i| crate::unit(vec![1.0, -0.05, 0.01 * i as f32])).collect();
        let data: Vec<(usize, &[f32])> =
            a.iter().map(|x| (0, x.as_slice())).chain(b.iter().map(|x| (1, x.as_slice()))).collect();
        let p =
            Probe::train(2, &data, &ProbeSettings { iterations: 500, ..ProbeSettings::default() }).expect("trained");
        let pa = p.probabilities(&crate::unit(vec![1.0, 0.04, 0.05]));
        let pb = p.probabilities(&crate::unit(vec![1.0, -0.04, 0.05]));
        assert!(pa[0] > 0.7 && pb[1] > 0.7, "{pa:?} {pb:?}");
        assert!(p.probabilities(&[1.0]).is_empty());
        assert!(Probe::train(2, &data[..10], &ProbeSettings::default()).is_none(), "one class only");
    }
}
