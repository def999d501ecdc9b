//! Fine-tuning the encoder's top layer(s) together with both heads (`rtcx-model train
//! --tune-layers N`).
//!
//! The layers below stay frozen, so their output is computed once per text and kept
//! ([`TokenStates`]); each training step then runs only the tuned layers, pooling and heads,
//! with candle's autograd over differentiable standard ops (the inference kernels in
//! [`rtcx_inference::kernels`] have no backward pass). The heads start from the ones trained
//! on the frozen encoder (linear probing, then fine-tuning: the usual recipe that keeps the
//! pretrained features from being wrecked by random heads' first gradients).
//!
//! The sentence embedding is also what topic matching compares (cosine against each topic's
//! embedding, see `topics::matcher`), so the loss keeps it close to the base encoder's:
//! `keep_similarity × mean(1 − cos(tuned, base))` next to the two heads' weighted cross-entropy.
//! Only the tuned layers' tensors are written, weight matrices as 8-bit deltas from the base
//! encoder's (about 1.8 MB per layer); the reported metrics are measured with the stored
//! weights, through the inference kernels.

use std::collections::HashMap;

use candle_core::{D, DType, Device, Tensor, Var};
use candle_nn::ParamsAdamW;
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::Serialize;

use crate::training::checkpoint::{AdamW, Checkpoint, Progress, fingerprint};
use crate::training::fit::trainable_head;
use rtcx_inference::InferenceError;
use rtcx_inference::encoder::{mean_pool, unit_rows};
use rtcx_inference::fast_bert::{DELTA_Q8, DELTA_SCALE, FastBert, checkpoint_prefix, layer_tensor_names, pack_delta};
use rtcx_inference::heads::Head;

/// Hyper-parameters of fine-tuning.
#[derive(Debug, Clone, Serialize)]
pub struct TuneParams {
    /// How many of the encoder's top layers are tuned (0: none, heads only).
    pub layers: usize,
    pub epochs: usize,
    /// Texts per step.
    pub batch_size: usize,
    /// Peak learning rate of the tuned layers (linear warm-up over the first 5 % of steps,
    /// then linear decay to 0).
    pub encoder_lr: f64,
    /// Peak learning rate of the heads (same schedule).
    pub head_lr: f64,
    pub weight_decay: f64,
    /// Weight of `mean(1 − cos(tuned embedding, base embedding))` in the loss.
    pub keep_similarity: f64,
    pub seed: u64,
    /// Where the run is checkpointed and resumed from (`None`: not checkpointed).
    #[serde(skip)]
    pub checkpoint: Option<std::path::PathBuf>,
    /// Minutes between checkpoints (one is also written at the end of every epoch).
    #[serde(skip)]
    pub checkpoint_minutes: f64,
}

/// The frozen part's output for a set of texts: each text's real-token hidden states at the
/// input of the first tuned layer, plus the base encoder's unit-length sentence embedding.
pub struct TokenStates {
    pub hidden: usize,
    /// Per text, `tokens × hidden` values, row-major.
    pub states: Vec<Vec<f32>>,
    /// Per text, the base encoder's unit-length embedding.
    pub base: Vec<Vec<f32>>,
}

/// A head's soft target and sample weight for one text (`None`: the text has no label for it).
pub type Target = Option<(Vec<f32>, f32)>;

/// One training text: index into [`TokenStates`] and its targets for each head.
pub struct TuneExample {
    pub row: usize,
    pub sentiment: Target,
    pub emotion: Target,
}

/// What fine-tuning produced.
pub struct Tuned {
    /// The tuned layers' tensors as stored: named as in the checkpoint, weight matrices as
    /// 8-bit deltas from the base (see [`rtcx_inference::fast_bert::DELTA_Q8`]).
    pub tensors: HashMap<String, Tensor>,
    pub sentiment: Head,
    pub emotion: Head,
}

/// One padded batch of token states.
struct Batch {
    /// `[b·s, h]`
    x: Tensor,
    /// `[b, s]` u32
    mask: Tensor,
    valid: Vec<Vec<usize>>,
    b: usize,
    s: usize,
}

fn batch_of(states: &TokenStates, rows: &[usize]) -> Result<Batch, InferenceError> {
    let h = states.hidden;
    let lens: Vec<usize> = rows.iter().map(|&r| states.states[r].len() / h).collect();
    let s = lens.iter().copied().max().unwrap_or(1).max(1);
    let b = rows.len();
    let mut x = vec![0f32; b * s * h];
    let mut mask = vec![0u32; b * s];
    for (i, &r) in rows.iter().enumerate() {
        let src = &states.states[r];
        x[i * s * h..i * s * h + src.len()].copy_from_slice(src);
        mask[i * s..i * s + lens[i]].fill(1);
    }
    Ok(Batch {
        x: Tensor::from_vec(x, (b * s, h), &Device::Cpu)?,
        mask: Tensor::from_vec(mask, (b, s), &Device::Cpu)?,
        valid: lens.iter().map(|&l| (0..l).collect()).collect(),
        b,
        s,
    })
}

/// Unit-length embeddings `[n, h]` of `rows` through `model`'s layers from `first` up (the
/// inference kernels), in batches of `batch` texts.
pub fn embed_states(
    model: &FastBert,
    states: &TokenStates,
    rows: &[usize],
    first: usize,
    batch: usize,
) -> Result<Tensor, InferenceError> {
    let mut out = Vec::new();
    for chunk in rows.chunks(batch.max(1)) {
        let bt = batch_of(states, chunk)?;
        let top = model.run_layers(bt.x, bt.b, bt.s, &bt.valid, first..model.num_layers())?;
        out.push(unit_rows(&mean_pool(&top.reshape((bt.b, bt.s, states.hidden))?, &bt.mask)?)?);
    }
    if out.is_empty() {
        return Ok(Tensor::zeros((0, states.hidden), DType::F32, &Device::Cpu)?);
    }
    Ok(Tensor::cat(&out, 0)?)
}

/// A trainable encoder layer: its tensors as [`Var`]s, in [`layer_tensor_names`] order.
struct TrainLayer {
    vars: Vec<Var>,
}

fn linear(x: &Tensor, w: &Var, b: &Var) -> candle_core::Result<Tensor> {
    x.matmul(&w.as_tensor().t()?)?.broadcast_add(b.as_tensor())
}

impl TrainLayer {
    /// `x`: `[b·s, h]`; `key_bias`: `[b, 1, 1, s]` (0 for real keys, −1e9 for padding).
    fn forward(
        &self,
        x: &Tensor,
        key_bias: &Tensor,
        b: usize,
        s: usize,
        heads: usize,
        eps: f32,
    ) -> candle_core::Result<Tensor> {
        let v = &self.vars;
        let h = x.dim(1)?;
        let dh = h / heads;
        let split = |t: Tensor| t.reshape((b, s, heads, dh))?.transpose(1, 2)?.contiguous();
        let q = split(linear(x, &v[0], &v[1])?)?;
        let k = split(linear(x, &v[2], &v[3])?)?;
        let val = split(linear(x, &v[4], &v[5])?)?;
        let scores = (q.matmul(&k.t()?.contiguous()?)? * (1.0 / (dh as f64).sqrt()))?.broadcast_add(key_bias)?;
        let p = candle_nn::ops::softmax(&scores, D::Minus1)?;
        let ctx = p.matmul(&val)?.transpose(1, 2)?.reshape((b * s, h))?;
        let attn = candle_nn::ops::layer_norm_slow(
            &(linear(&ctx, &v[6], &v[7])? + x)?,
            v[8].as_tensor(),
            v[9].as_tensor(),
            eps,
        )?;
        let inter = linear(&attn, &v[10], &v[11])?.gelu_erf()?;
        candle_nn::ops::layer_norm_slow(
            &(linear(&inter, &v[12], &v[13])? + attn)?,
            v[14].as_tensor(),
            v[15].as_tensor(),
            eps,
        )
    }
}

/// A trainable copy of `h` (see [`trainable_head`]).
fn trainable_copy(h: &Head) -> Result<(Head, Vec<Var>), InferenceError> {
    let vars = h
        .layers
        .iter()
        .map(|(w, b)| Ok((Var::from_tensor(&w.copy()?)?, Var::from_tensor(&b.copy()?)?)))
        .collect::<Result<Vec<_>, InferenceError>>()?;
    Ok(trainable_head(&h.name, h.labels.clone(), vars))
}

/// Weighted soft-target cross-entropy of one head over the rows of a batch that carry its
/// label; `None` when none does.
fn head_loss(logits: &Tensor, targets: &[&Target]) -> Result<Option<Tensor>, InferenceError> {
    let k = logits.dim(1)?;
    let mut y = vec![0f32; targets.len() * k];
    let mut w = vec![0f32; targets.len()];
    for (i, t) in targets.iter().enumerate() {
        if let Some((target, weight)) = t {
            y[i * k..(i + 1) * k].copy_from_slice(target);
            w[i] = *weight;
        }
    }
    let total: f32 = w.iter().sum();
    if total <= 0.0 {
        return Ok(None);
    }
    let y = Tensor::from_vec(y, (targets.len(), k), &Device::Cpu)?;
    let w = Tensor::from_vec(w, targets.len(), &Device::Cpu)?;
    let logp = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let per_row = (y * logp)?.sum(1)?.neg()?;
    Ok(Some(((per_row * w)?.sum_all()? / f64::from(total))?))
}

/// Learning-rate factor at `step` of `total`: linear warm-up over 5 %, then linear decay.
fn schedule(step: usize, total: usize) -> f64 {
    let warm = (total / 20).max(1);
    if step < warm { (step + 1) as f64 / warm as f64 } else { (total - step) as f64 / (total - warm).max(1) as f64 }
}

/// Fine-tunes the top `p.layers` layers of the encoder whose tensors are `base` (a checkpoint
/// map, layers `first..first + p.layers` where `first = num_layers − p.layers`) together with
/// `sentiment` and `emotion`, on `examples` whose frozen states are in `states`.
#[allow(clippy::too_many_arguments)]
pub fn finetune(
    base: &HashMap<String, Tensor>,
    num_layers: usize,
    heads: usize,
    eps: f32,
    states: &TokenStates,
    examples: &[TuneExample],
    (sentiment, emotion): (&Head, &Head),
    p: &TuneParams,
) -> Result<Tuned, InferenceError> {
    let first = num_layers - p.layers;
    let prefix = checkpoint_prefix(base);
    let mut layers = Vec::new();
    for i in first..num_layers {
        let vars = layer_tensor_names(i)
            .iter()
            .map(|n| {
                let t = base
                    .get(&format!("{prefix}{n}"))
                    .ok_or_else(|| InferenceError::Model(format!("tensor {n} missing")))?;
                Ok(Var::from_tensor(&t.to_dtype(DType::F32)?.copy()?)?)
            })
            .collect::<Result<Vec<_>, InferenceError>>()?;
        layers.push(TrainLayer { vars });
    }
    let ((sent, sent_vars), (emo, emo_vars)) = (trainable_copy(sentiment)?, trainable_copy(emotion)?);
    let params = |lr| ParamsAdamW { lr, weight_decay: p.weight_decay, ..ParamsAdamW::default() };
    let mut enc_opt = AdamW::new(layers.iter().flat_map(|l| l.vars.clone()).collect(), params(p.encoder_lr))?;
    let mut head_opt = AdamW::new([sent_vars, emo_vars].concat(), params(p.head_lr))?;

    // Length-sorted batches (little padding), visited in a seeded random order each epoch.
    let mut order: Vec<usize> = (0..examples.len()).collect();
    order.sort_by_key(|&i| states.states[examples[i].row].len());
    let batches: Vec<Vec<usize>> = order.chunks(p.batch_size.max(1)).map(<[usize]>::to_vec).collect();
    let total = p.epochs * batches.len();
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("fine-tuning {wide_bar} {pos}/{len} steps {per_sec} eta {eta} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let params_json = serde_json::to_string(p).map_err(|e| InferenceError::Model(e.to_string()))?;
    let run_id = fingerprint(&params_json, &batches);
    let checkpoint = p.checkpoint.as_deref().map(Checkpoint::new);
    let mut progress =
        Progress { fingerprint: run_id.clone(), step: 0, loss_sum: 0.0, cos_sum: 0.0, batches: 0, texts: 0 };
    if let Some(cp) = &checkpoint
        && let Some(saved) = cp.load(&run_id, &mut [("encoder", &mut enc_opt), ("heads", &mut head_opt)])?
    {
        eprintln!("resuming fine-tuning at step {} of {total}", saved.step);
        progress = saved;
    }
    let mut rng = StdRng::seed_from_u64(p.seed);
    let mut visit: Vec<usize> = (0..batches.len()).collect();
    let started = std::time::Instant::now();
    let mut saved_at = started;
    let resumed_at = progress.step;
    bar.set_position(resumed_at as u64);
    for epoch in 0..p.epochs {
        // Every epoch's shuffle is drawn, also those a resumed run skips, so that it visits
        // the batches in the same order as a run that never stopped.
        visit.shuffle(&mut rng);
        let done_before = epoch * batches.len();
        if progress.step >= done_before + batches.len() {
            continue;
        }
        if progress.step <= done_before {
            (progress.loss_sum, progress.cos_sum, progress.batches) = (0.0, 0.0, 0);
        }
        for &bi in &visit[progress.step - done_before.min(progress.step)..] {
            let ex: Vec<&TuneExample> = batches[bi].iter().map(|&i| &examples[i]).collect();
            let rows: Vec<usize> = ex.iter().map(|e| e.row).collect();
            let bt = batch_of(states, &rows)?;
            let key_bias = ((bt.mask.to_dtype(DType::F32)? - 1.0)? * 1e9)?.reshape((bt.b, 1, 1, bt.s))?;
            let mut x = bt.x.clone();
            for l in &layers {
                x = l.forward(&x, &key_bias, bt.b, bt.s, heads, eps)?;
            }
            let emb = unit_rows(&mean_pool(&x.reshape((bt.b, bt.s, states.hidden))?, &bt.mask)?)?;
            let base_rows: Vec<f32> = rows.iter().flat_map(|&r| states.base[r].iter().copied()).collect();
            let base_emb = Tensor::from_vec(base_rows, (bt.b, states.hidden), &Device::Cpu)?;
            let cos = (&emb * base_emb)?.sum(1)?;
            let mut loss = ((1.0 - &cos)?.mean_all()? * p.keep_similarity)?;
            let s_targets: Vec<&Target> = ex.iter().map(|e| &e.sentiment).collect();
            if let Some(l) = head_loss(&sent.logits(&emb)?, &s_targets)? {
                loss = (loss + l)?;
            }
            let e_targets: Vec<&Target> = ex.iter().map(|e| &e.emotion).collect();
            if let Some(l) = head_loss(&emo.logits(&emb)?, &e_targets)? {
                loss = (loss + l)?;
            }
            let factor = schedule(progress.step, total);
            enc_opt.set_learning_rate(p.encoder_lr * factor);
            head_opt.set_learning_rate(p.head_lr * factor);
            let grads = loss.backward()?;
            enc_opt.step(&grads)?;
            head_opt.step(&grads)?;
            progress.loss_sum += f64::from(loss.to_scalar::<f32>()?);
            progress.cos_sum += f64::from(cos.mean_all()?.to_scalar::<f32>()?);
            progress.batches += 1;
            progress.step += 1;
            progress.texts += bt.b;
            bar.inc(1);
            let rate = |p: &Progress| (p.step - resumed_at) as f64 / started.elapsed().as_secs_f64().max(1e-9);
            if progress.step.is_multiple_of(20) {
                bar.set_message(format!(
                    "epoch {} loss {:.4} cos {:.3} {:.2} steps/s",
                    epoch + 1,
                    progress.loss_sum / progress.batches as f64,
                    progress.cos_sum / progress.batches as f64,
                    rate(&progress)
                ));
            }
            let epoch_done = progress.step == done_before + batches.len();
            if let Some(cp) = &checkpoint
                && (epoch_done || saved_at.elapsed().as_secs_f64() >= p.checkpoint_minutes * 60.0)
            {
                cp.save(&progress, &[("encoder", &enc_opt), ("heads", &head_opt)])?;
                saved_at = std::time::Instant::now();
                if bar.is_hidden() {
                    eprintln!("checkpoint at step {} of {total} ({:.2} steps/s)", progress.step, rate(&progress));
                }
            }
        }
        let line = format!(
            "epoch {}: mean loss {:.4}, mean cos(tuned, base) {:.4}",
            epoch + 1,
            progress.loss_sum / progress.batches.max(1) as f64,
            progress.cos_sum / progress.batches.max(1) as f64,
        );
        // Without a terminal the bar is hidden (and so would be its println): log plainly.
        if bar.is_hidden() { eprintln!("{line}") } else { bar.println(line) }
    }
    bar.finish();
    // Stored: weight matrices as 8-bit deltas from the base, vectors as f32.
    let mut tensors = HashMap::new();
    for (i, l) in (first..num_layers).zip(&layers) {
        for (name, v) in layer_tensor_names(i).into_iter().zip(&l.vars) {
            let t = v.as_tensor();
            if t.rank() == 2 {
                let (q, scale) = pack_delta(&base[&format!("{prefix}{name}")], t)?;
                tensors.insert(format!("{name}{DELTA_SCALE}"), scale);
                tensors.insert(format!("{name}{DELTA_Q8}"), q);
            } else {
                tensors.insert(name, t.copy()?);
            }
        }
    }
    Ok(Tuned { tensors, sentiment: sent, emotion: emo })
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

    /// A random 1-layer BERT checkpoint (hidden 8, 2 heads, intermediate 16).
    fn tiny_checkpoint() -> TestResult<HashMap<String, Tensor>> {
        let dev = &Device::Cpu;
        let mut t = HashMap::new();
        let mut put = |name: String, shape: &[usize]| -> TestResult {
            t.insert(name, Tensor::randn(0f32, 0.3, shape, dev)?);
            Ok(())
        };
        put("embeddings.word_embeddings.weight".into(), &[20, 8])?;
        put("embeddings.position_embeddings.weight".into(), &[16, 8])?;
        put("embeddings.token_type_embeddings.weight".into(), &[2, 8])?;
        put("embeddings.LayerNorm.weight".into(), &[8])?;
        put("embeddings.LayerNorm.bias".into(), &[8])?;
        for name in layer_tensor_names(0) {
            let (out, inp) = if name.contains("intermediate.") {
                (16, 8)
            } else if name.contains("layer.0.output.dense") {
                (8, 16)
            } else {
                (8, 8)
            };
            let shape =
                if name.ends_with("weight") && !name.contains("LayerNorm") { vec![out, inp] } else { vec![out] };
            put(name, &shape)?;
        }
        Ok(t)
    }

    #[test]
    fn trainable_layer_matches_the_inference_kernels() -> TestResult {
        let base = tiny_checkpoint()?;
        let model = FastBert::from_tensors(&base, 1, 2, 1e-12)?;
        // Two texts of 3 and 5 tokens: the first is padded in the batch.
        let states = TokenStates {
            hidden: 8,
            states: vec![
                Tensor::randn(0f32, 1.0, 24, &Device::Cpu)?.to_vec1()?,
                Tensor::randn(0f32, 1.0, 40, &Device::Cpu)?.to_vec1()?,
            ],
            base: vec![vec![0.0; 8]; 2],
        };
        let expected = embed_states(&model, &states, &[0, 1], 0, 8)?;
        let vars =
            layer_tensor_names(0).iter().map(|n| Var::from_tensor(&base[n])).collect::<candle_core::Result<_>>()?;
        let layer = TrainLayer { vars };
        let bt = batch_of(&states, &[0, 1])?;
        let key_bias = ((bt.mask.to_dtype(DType::F32)? - 1.0)? * 1e9)?.reshape((bt.b, 1, 1, bt.s))?;
        let x = layer.forward(&bt.x, &key_bias, bt.b, bt.s, 2, 1e-12)?;
        let got = unit_rows(&mean_pool(&x.reshape((bt.b, bt.s, 8))?, &bt.mask)?)?;
        let diff = (got - expected)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-5, "max difference {diff}");
        Ok(())
    }

    #[test]
    fn overrides_replace_tensors_and_refuse_mismatches() -> TestResult {
        use rtcx_inference::fast_bert::apply_overrides;
        let mut t = tiny_checkpoint()?;
        let name = "encoder.layer.0.output.dense.bias".to_owned();
        let new = Tensor::ones(8, DType::F16, &Device::Cpu)?;
        apply_overrides(&mut t, &HashMap::from([(name.clone(), new)]))?;
        assert_eq!(t[&name].dtype(), DType::F32, "overrides are converted to f32");
        assert_eq!(t[&name].to_vec1::<f32>()?, vec![1.0; 8]);
        let wrong = HashMap::from([(name, Tensor::ones(9, DType::F32, &Device::Cpu)?)]);
        assert!(apply_overrides(&mut t, &wrong).err().ok_or("expected an error")?.to_string().contains("shape"));
        let unknown = HashMap::from([(
            "encoder.layer.7.output.dense.bias".to_owned(),
            Tensor::ones(8, DType::F32, &Device::Cpu)?,
        )]);
        assert!(
            apply_overrides(&mut t, &unknown)
                .err()
                .ok_or("expected an error")?
                .to_string()
                .contains("not in the encoder")
        );
        Ok(())
    }

    #[test]
    fn delta_packing_round_trips_within_a_step() -> TestResult {
        use rtcx_inference::fast_bert::{apply_overrides, unpack_delta};
        let base = Tensor::randn(0f32, 0.05, (6, 10), &Device::Cpu)?;
        let tuned = (&base + Tensor::randn(0f32, 0.002, (6, 10), &Device::Cpu)?)?;
        let (q, scale) = pack_delta(&base, &tuned)?;
        assert_eq!(q.dtype(), DType::U8);
        let back = unpack_delta(&base, &q, &scale)?;
        let err = (&back - &tuned)?.abs()?.max_keepdim(1)?.flatten_all()?.to_vec1::<f32>()?;
        for (e, s) in err.iter().zip(scale.to_vec1::<f32>()?) {
            assert!(*e <= s * 0.5 + 1e-7, "error {e} over half a step {s}");
        }
        // And through apply_overrides, as the analyzer loads it.
        let mut t = tiny_checkpoint()?;
        let name = "encoder.layer.0.attention.self.query.weight";
        let new = (&t[name] + 0.01)?;
        let (q, scale) = pack_delta(&t[name], &new)?;
        let stored = HashMap::from([(format!("{name}{DELTA_Q8}"), q), (format!("{name}{DELTA_SCALE}"), scale)]);
        apply_overrides(&mut t, &stored)?;
        let diff = (&t[name] - &new)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-4, "{diff}");
        Ok(())
    }

    #[test]
    fn a_finished_checkpoint_resumes_to_the_same_weights() -> TestResult {
        let base = tiny_checkpoint()?;
        let dev = &Device::Cpu;
        let states = TokenStates {
            hidden: 8,
            states: (0..6)
                .map(|i| Tensor::randn(0f32, 1.0, 8 * (2 + i % 3), dev)?.to_vec1())
                .collect::<Result<_, _>>()?,
            base: vec![vec![0.5f32.sqrt(); 2].into_iter().chain(vec![0.0; 6]).collect(); 6],
        };
        let head = |name: &str, k: usize| -> TestResult<Head> {
            Ok(Head {
                name: name.into(),
                labels: (0..k).map(|i| i.to_string()).collect(),
                layers: vec![(Tensor::randn(0f32, 0.3, (k, 8), dev)?, Tensor::zeros(k, DType::F32, dev)?)],
            })
        };
        let (sent, emo) = (head("sentiment", 3)?, head("emotion", 7)?);
        let examples: Vec<TuneExample> = (0..6)
            .map(|row| TuneExample {
                row,
                sentiment: Some((vec![(row % 3 == 0) as u8 as f32, 0.0, (row % 3 != 0) as u8 as f32], 1.0)),
                emotion: None,
            })
            .collect();
        let dir = std::env::temp_dir().join(format!("rtcx-finetune-resume-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let p = TuneParams {
            layers: 1,
            epochs: 2,
            batch_size: 2,
            encoder_lr: 1e-2,
            head_lr: 1e-2,
            weight_decay: 1e-4,
            keep_similarity: 0.5,
            seed: 3,
            checkpoint: Some(dir.clone()),
            checkpoint_minutes: 10.0,
        };
        let first = finetune(&base, 1, 2, 1e-12, &states, &examples, (&sent, &emo), &p)?;
        // Started again, the run finds its last checkpoint (end of epoch 2) and trains no
        // further: the result is the checkpoint's weights, which are the first run's.
        let again = finetune(&base, 1, 2, 1e-12, &states, &examples, (&sent, &emo), &p)?;
        for (name, t) in &first.tensors {
            let diff = (t.to_dtype(DType::F32)? - again.tensors[name].to_dtype(DType::F32)?)?.abs()?.max_all()?;
            assert!(diff.to_scalar::<f32>()? < 1e-6, "{name} differs");
        }
        let moved = (&first.sentiment.layers[0].0 - &sent.layers[0].0)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(moved > 1e-4, "the run trained the head");
        let (w1, w2) = (&first.sentiment.layers[0].0, &again.sentiment.layers[0].0);
        assert!((w1 - w2)?.abs()?.max_all()?.to_scalar::<f32>()? < 1e-6);
        // Other settings: refused, not continued.
        let other = TuneParams { encoder_lr: 2e-2, ..p.clone() };
        let err = finetune(&base, 1, 2, 1e-12, &states, &examples, (&sent, &emo), &other).err().ok_or("refused")?;
        assert!(err.to_string().contains("another run"), "{err}");
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn schedule_warms_up_then_decays_to_zero() -> TestResult {
        let total = 100;
        assert!((schedule(0, total) - 0.2).abs() < 1e-9);
        assert!((schedule(4, total) - 1.0).abs() < 1e-9);
        assert!(schedule(50, total) < 1.0 && schedule(50, total) > schedule(80, total));
        assert!(schedule(99, total) > 0.0 && schedule(99, total) <= 1.0 / 95.0 + 1e-9);
        Ok(())
    }

    #[test]
    fn head_loss_ignores_rows_without_a_label() -> TestResult {
        let logits = Tensor::new(&[[2f32, 0.0, 0.0], [0.0, 0.0, 9.0]], &Device::Cpu)?;
        let first: Target = Some((vec![1.0, 0.0, 0.0], 1.0));
        let none: Target = None;
        let l = head_loss(&logits, &[&first, &none])?.ok_or("a loss")?.to_scalar::<f32>()?;
        let expected = -(2f32.exp() / (2f32.exp() + 2.0)).ln();
        assert!((l - expected).abs() < 1e-5, "{l} vs {expected}");
        assert!(head_loss(&logits, &[&none, &none])?.is_none());
        Ok(())
    }
}
