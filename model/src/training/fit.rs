//! Training a head on fixed embeddings: soft-target cross-entropy with per-sample class
//! weights (inverse class frequency, square-rooted), AdamW, seeded initialisation and
//! shuffling so the same data and seed give the same head.

use candle_core::{D, DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use rtcx_inference::InferenceError;
use rtcx_inference::heads::Head;

/// Hyper-parameters.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FitParams {
    /// Hidden layer widths (empty: a linear head).
    pub hidden: Vec<usize>,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub seed: u64,
    /// Train the output layer as an ordinal (adjacent-categories) model: see [`fit`].
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ordinal: bool,
}

/// `n × k` soft targets from gold label sets, and per-sample weights.
pub fn targets(gold: &[Vec<usize>], k: usize) -> (Vec<f32>, Vec<f32>) {
    let mut counts = vec![0f64; k];
    for g in gold {
        for &c in g {
            counts[c] += 1.0 / g.len() as f64;
        }
    }
    let n = gold.len() as f64;
    // sqrt of inverse frequency: helps rare classes without drowning the frequent ones.
    let class_w: Vec<f64> = counts.iter().map(|&c| if c > 0.0 { (n / (k as f64 * c)).sqrt() } else { 0.0 }).collect();
    let mut y = vec![0f32; gold.len() * k];
    let mut w = Vec::with_capacity(gold.len());
    for (i, g) in gold.iter().enumerate() {
        let share = 1.0 / g.len() as f32;
        let mut wi = 0.0;
        for &c in g {
            y[i * k + c] += share;
            wi += class_w[c] * f64::from(share);
        }
        w.push(wi as f32);
    }
    (y, w)
}

/// [`targets`] computed per source (`sources[i]` names row `i`'s), so each source's classes
/// are balanced within it, with each source's total weight scaled to `√n_source` (instead of
/// `n_source`): a small customer-domain source is not drowned by a large Reddit one, and
/// still weighs less than it. Weights are scaled to average 1.
pub fn source_balanced_targets(gold: &[Vec<usize>], sources: &[&str], k: usize) -> (Vec<f32>, Vec<f32>) {
    let mut y = vec![0f32; gold.len() * k];
    let mut w = vec![0f32; gold.len()];
    let mut names: Vec<&str> = sources.to_vec();
    names.sort_unstable();
    names.dedup();
    for name in names {
        let rows: Vec<usize> = (0..gold.len()).filter(|&i| sources[i] == name).collect();
        let part: Vec<Vec<usize>> = rows.iter().map(|&i| gold[i].clone()).collect();
        let (py, pw) = targets(&part, k);
        let total: f32 = pw.iter().sum();
        let scale = if total > 0.0 { (rows.len() as f32).sqrt() / total } else { 0.0 };
        for (j, &i) in rows.iter().enumerate() {
            y[i * k..(i + 1) * k].copy_from_slice(&py[j * k..(j + 1) * k]);
            w[i] = pw[j] * scale;
        }
    }
    let mean = w.iter().sum::<f32>() / gold.len().max(1) as f32;
    if mean > 0.0 {
        w.iter_mut().for_each(|v| *v /= mean);
    }
    (y, w)
}

fn init(rng: &mut StdRng, out: usize, inp: usize) -> Result<(Var, Var), InferenceError> {
    use rand::Rng as _;
    let bound = (6.0 / (inp + out) as f64).sqrt() as f32; // Glorot uniform
    let w: Vec<f32> = (0..out * inp).map(|_| rng.random_range(-bound..bound)).collect();
    Ok((
        Var::from_tensor(&Tensor::from_vec(w, (out, inp), &Device::Cpu)?)?,
        Var::from_tensor(&Tensor::zeros(out, DType::F32, &Device::Cpu)?)?,
    ))
}

/// Trains a head named `name` on `x` (`[n, d]`) with soft targets `y` (`n × k`, row-major)
/// and sample weights `w` (see [`targets`], [`source_balanced_targets`]).
///
/// With `p.ordinal` the classes are taken as ordered (negative < neutral < positive) and the
/// output layer is the adjacent-categories logit model: one direction `u` and `k − 1`
/// thresholds, `log P(c+1)/P(c) = u·h + b_c`, i.e. logits `[0, s+b₁, 2s+b₁+b₂, …]` with
/// `s = u·h`. The trained head is returned as an ordinary linear layer with those rows, so
/// inference and fine-tuning need nothing new.
pub fn fit(
    name: &str,
    labels: &[&str],
    x: &Tensor,
    (y, w): (&[f32], &[f32]),
    p: &FitParams,
) -> Result<Head, InferenceError> {
    let d = x.dim(1)?;
    let mut rng = StdRng::seed_from_u64(p.seed);
    let mut dims = vec![d];
    dims.extend(&p.hidden);
    dims.push(if p.ordinal { 1 } else { labels.len() });
    let mut vars = Vec::new();
    for pair in dims.windows(2) {
        vars.push(init(&mut rng, pair[1], pair[0])?);
    }
    let k = labels.len();
    let labels = labels.iter().map(|s| (*s).to_owned()).collect();
    if p.ordinal {
        let last = vars.len() - 1;
        vars[last].1 = Var::from_tensor(&Tensor::zeros(k - 1, DType::F32, &Device::Cpu)?)?;
    }
    train_vars(name, labels, vars, x, (y, w), p, &mut rng, None)
}

/// The adjacent-categories output layer of `(u [1, h], b [k − 1])` as an ordinary `[k, h]`
/// layer: row `c` is `c·u`, bias `c` is `b₁ + … + b_c` (0 for the first class).
fn ordinal_layer(u: &Tensor, b: &Tensor) -> Result<(Tensor, Tensor), InferenceError> {
    let k = b.dim(0)? + 1;
    let steps: Vec<f32> = (0..k).map(|c| c as f32).collect();
    let steps = Tensor::from_vec(steps, (k, 1), u.device())?;
    let weight = steps.broadcast_mul(u)?;
    let zero = Tensor::zeros(1, DType::F32, u.device())?;
    let bias = Tensor::cat(&[&zero, &b.cumsum(0)?], 0)?;
    Ok((weight, bias))
}

/// Continues training `start` (same shape) on `x` with soft targets and weights `(y, w)`,
/// pulled towards its starting weights by `anchor × Σ‖W − W₀‖²` (L2-SP), so a few epochs
/// on a narrow domain adjust the head instead of replacing it. `p.hidden` is ignored.
pub fn refit(
    start: &Head,
    x: &Tensor,
    (y, w): (&[f32], &[f32]),
    p: &FitParams,
    anchor: f64,
) -> Result<Head, InferenceError> {
    let mut vars = Vec::new();
    let mut initial = Vec::new();
    for (wt, b) in &start.layers {
        vars.push((Var::from_tensor(&wt.copy()?)?, Var::from_tensor(&b.copy()?)?));
        initial.extend([wt.clone(), b.clone()]);
    }
    let mut rng = StdRng::seed_from_u64(p.seed);
    train_vars(&start.name, start.labels.clone(), vars, x, (y, w), p, &mut rng, Some((initial, anchor)))
}

/// The training loop shared by [`fit`] and [`refit`]: `vars` are the head's layers;
/// `anchor` (initial tensors in optimiser order, weight) adds the L2-SP term.
#[allow(clippy::too_many_arguments)]
fn train_vars(
    name: &str,
    labels: Vec<String>,
    vars: Vec<(Var, Var)>,
    x: &Tensor,
    (y, w): (&[f32], &[f32]),
    p: &FitParams,
    rng: &mut StdRng,
    anchor: Option<(Vec<Tensor>, f64)>,
) -> Result<Head, InferenceError> {
    let n = x.dim(0)?;
    let k = labels.len();
    let y = Tensor::from_slice(y, (n, k), &Device::Cpu)?;
    let w = Tensor::from_slice(w, n, &Device::Cpu)?;
    let (mut head, params) = trainable_head(name, labels, vars);
    // The ordinal output layer is a function of its parameters `(u, b)`: rebuilt at every step.
    let last = head.layers.len() - 1;
    let (u, b) = head.layers[last].clone();
    let anchored: Vec<(Var, Tensor)> = match &anchor {
        Some((initial, _)) => params.iter().cloned().zip(initial.iter().cloned()).collect(),
        None => Vec::new(),
    };
    let anchor_weight = anchor.as_ref().map_or(0.0, |(_, a)| *a);
    let mut opt = AdamW::new(
        params,
        ParamsAdamW { lr: p.learning_rate, weight_decay: p.weight_decay, ..ParamsAdamW::default() },
    )?;
    let steps_per_epoch = n.div_ceil(p.batch_size);
    let bar = ProgressBar::new((p.epochs * steps_per_epoch) as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix} {wide_bar} {pos}/{len} steps {per_sec} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_prefix(name.to_owned());
    let mut order: Vec<u32> = (0..n as u32).collect();
    for epoch in 0..p.epochs {
        order.shuffle(rng);
        let mut epoch_loss = 0.0;
        for chunk in order.chunks(p.batch_size) {
            let idx = Tensor::from_slice(chunk, chunk.len(), &Device::Cpu)?;
            let (xb, yb, wb) = (x.index_select(&idx, 0)?, y.index_select(&idx, 0)?, w.index_select(&idx, 0)?);
            if p.ordinal {
                head.layers[last] = ordinal_layer(&u, &b)?;
            }
            let h = head.logits(&xb)?;
            let logp = candle_nn::ops::log_softmax(&h, D::Minus1)?;
            let per_row = (yb * logp)?.sum(1)?.neg()?;
            let mut loss = ((per_row * &wb)?.sum_all()? / wb.sum_all()?)?;
            for (v, w0) in &anchored {
                loss = (loss + ((v.as_tensor() - w0)?.sqr()?.sum_all()? * anchor_weight)?)?;
            }
            opt.backward_step(&loss)?;
            epoch_loss += f64::from(loss.to_scalar::<f32>()?) * chunk.len() as f64;
            bar.inc(1);
        }
        bar.set_message(format!("epoch {} loss {:.4}", epoch + 1, epoch_loss / n as f64));
    }
    bar.finish();
    if p.ordinal {
        // Detached: the plain layer the analyzer runs.
        let (weight, bias) = ordinal_layer(&u, &b)?;
        head.layers[last] = (weight.detach(), bias.detach());
    }
    Ok(head)
}

/// A head whose layers are the tensors of `vars` (the optimiser updates them in place, so the
/// head always holds the current weights and its logits carry gradients to them), and the
/// vars in optimiser order.
pub fn trainable_head(name: &str, labels: Vec<String>, vars: Vec<(Var, Var)>) -> (Head, Vec<Var>) {
    let layers = vars.iter().map(|(w, b)| (w.as_tensor().clone(), b.as_tensor().clone())).collect();
    let flat = vars.into_iter().flat_map(|(w, b)| [w, b]).collect();
    (Head { name: name.to_owned(), labels, layers }, flat)
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

    #[test]
    fn sources_weigh_by_square_root_of_size_and_balance_classes_within() -> TestResult {
        // Source "big": 8 rows (6 of class 0, 2 of class 1); source "small": 2 rows (class 1).
        let gold: Vec<Vec<usize>> = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1].iter().map(|&c| vec![c]).collect();
        let sources = ["big", "big", "big", "big", "big", "big", "big", "big", "small", "small"];
        let (y, w) = source_balanced_targets(&gold, &sources, 2);
        assert_eq!(&y[..4], &[1.0, 0.0, 1.0, 0.0]);
        let mean = w.iter().sum::<f32>() / 10.0;
        assert!((mean - 1.0).abs() < 1e-5, "weights average 1, got {mean}");
        let big: f32 = w[..8].iter().sum();
        let small: f32 = w[8..].iter().sum();
        assert!((big / small - (8f32 / 2.0).sqrt()).abs() < 1e-4, "totals ∝ √n: {big} vs {small}");
        // Within "big", the rarer class 1 weighs more per row than class 0.
        assert!(w[6] > w[0]);
        Ok(())
    }

    #[test]
    fn an_ordinal_head_orders_the_classes_along_one_direction() -> TestResult {
        // Points on a line: x < -1 class 0, -1..1 class 1, > 1 class 2 (plus noise dimension).
        let mut xs = Vec::new();
        let mut gold = Vec::new();
        for i in 0..300 {
            let v = -3.0 + 6.0 * i as f32 / 299.0;
            xs.extend([v, ((i * 7) % 5) as f32 * 0.1]);
            gold.push(vec![if v < -1.0 {
                0
            } else if v < 1.0 {
                1
            } else {
                2
            }]);
        }
        let x = Tensor::from_vec(xs, (300, 2), &Device::Cpu)?;
        let (y, w) = targets(&gold, 3);
        let p = FitParams {
            hidden: vec![],
            epochs: 200,
            batch_size: 64,
            learning_rate: 0.05,
            weight_decay: 0.0,
            seed: 1,
            ordinal: true,
        };
        let head = fit("sentiment", &["negative", "neutral", "positive"], &x, (&y, &w), &p)?;
        let (weight, bias) = &head.layers[0];
        let rows = weight.to_vec2::<f32>()?;
        assert_eq!(rows.len(), 3);
        assert!(rows[0].iter().all(|v| *v == 0.0), "the first class's row is 0");
        for (a, b) in rows[1].iter().zip(&rows[2]) {
            assert!((2.0 * a - b).abs() < 1e-5, "row 2 is twice row 1: {rows:?}");
        }
        assert_eq!(bias.to_vec1::<f32>()?[0], 0.0);
        let predicted = crate::training::train::predict(&head, &x)?;
        let right = predicted.iter().zip(&gold).filter(|(p, g)| **p == g[0]).count();
        assert!(right >= 270, "{right} of 300 ordered points classified right");
        Ok(())
    }
}
