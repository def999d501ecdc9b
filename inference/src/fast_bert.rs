//! A BERT encoder forward pass tuned for CPU inference: every dense layer runs as one 2-D
//! matmul over all tokens of the batch (no broadcast batched matmuls), query/key/value are one
//! fused projection, attention is one fused kernel reading that projection and skipping
//! padding, bias + GELU one fused kernel (both in [`super::kernels`]), and layer norm uses
//! candle's fused last-dimension kernel. The dense layers may run in int8 instead
//! ([`FastBert::quantize`], [`crate::int8`]). In `f32` it matches
//! `candle_transformers::models::bert::BertModel` (tested to 1e-4).

use std::collections::HashMap;

use candle_core::{Device, Tensor};

use super::error::InferenceError;
use super::int8::{Activations, Kernel, QuantizedLinear};
use super::kernels::{Attention, BiasGelu, BiasResidualNorm};

/// Input channels of the int8 layers after a layer norm (QKV, intermediate) kept in `f32`:
/// the largest by the norm's parameters ([`NormVecs::channel_max`]); measured in
/// docs/benchmarks.md, "int8".
const OUTLIER_CHANNELS: usize = 4;

/// The indices of the `t` largest values of `v`, largest first.
fn largest(v: &[f32], t: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[b].total_cmp(&v[a]));
    idx.truncate(t);
    idx
}

struct Norm {
    weight: Tensor,
    bias: Tensor,
}

/// A layer norm's parameters as plain vectors, for the fused kernels.
struct NormVecs {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

impl NormVecs {
    /// An estimate of each output channel's magnitude, `|β| + 4·|γ|` (the normalised value is
    /// within ±4 almost always): which channels the layer norm makes large.
    fn channel_max(&self) -> Vec<f32> {
        self.gamma.iter().zip(&self.beta).map(|(g, b)| b.abs() + 4.0 * g.abs()).collect()
    }

    /// `layer_norm(x + bias + residual)` with these parameters.
    fn fused<'a>(&'a self, bias: &'a [f32], eps: f32) -> BiasResidualNorm<'a> {
        BiasResidualNorm { bias, gamma: &self.gamma, beta: &self.beta, eps }
    }
}

/// A dense layer's weights (without the bias, which the fused kernels add).
enum Dense {
    /// `f32`, transposed to `[in, out]` for the matmul.
    F32(Tensor),
    /// int8 ([`crate::int8`]).
    Int8(QuantizedLinear),
}

impl Dense {
    /// `x · Wᵀ` for `x` `[tokens, in]`.
    fn apply(&self, x: &Tensor) -> Result<Tensor, InferenceError> {
        Ok(match self {
            Dense::F32(t) => x.matmul(t)?,
            Dense::Int8(q) => x.apply_op1_no_bwd(q)?,
        })
    }

    /// `gelu(x · Wᵀ + bias)`: in int8 one op (the activation applied in the GEMM's registers),
    /// in `f32` the matmul then bias + GELU in place.
    fn apply_gelu(&self, x: &Tensor, bias: &[f32]) -> Result<Tensor, InferenceError> {
        Ok(match self {
            Dense::F32(t) => {
                let y = x.matmul(t)?;
                y.inplace_op1(&BiasGelu { bias })?;
                y
            }
            Dense::Int8(q) => x.apply_op1_no_bwd(&q.with_gelu(bias))?,
        })
    }

    /// The same layer in int8 (quantised from the `f32` weights, tuned deltas included). When
    /// its input comes from a layer norm whose channel sizes `act_max` estimates, the largest
    /// [`OUTLIER_CHANNELS`] input channels stay in `f32` (LLM.int8's decomposition).
    fn quantize(&mut self, kernel: Kernel, scheme: Activations, act_max: Option<&[f32]>) -> Result<(), InferenceError> {
        if let Dense::F32(t) = self {
            let w = t.t()?.contiguous()?;
            let (n, k) = w.dims2()?;
            let values = w.flatten_all()?.to_vec1::<f32>()?;
            *self = Dense::Int8(match act_max {
                Some(a) => QuantizedLinear::with_outliers(&values, n, k, kernel, scheme, &largest(a, OUTLIER_CHANNELS)),
                None => QuantizedLinear::new(&values, n, k, kernel, scheme),
            });
        }
        Ok(())
    }
}

struct Layer {
    qkv: Dense,
    qkv_b: Vec<f32>,
    out: Dense,
    out_b: Vec<f32>,
    attn_norm: NormVecs,
    inter: Dense,
    inter_b: Vec<f32>,
    down: Dense,
    down_b: Vec<f32>,
    out_norm: NormVecs,
}

/// The encoder.
pub struct FastBert {
    word: Tensor,
    position: Tensor,
    token_type0: Tensor,
    emb_norm: Norm,
    layers: Vec<Layer>,
    heads: usize,
    eps: f32,
}

fn take(t: &HashMap<String, Tensor>, prefix: &str, name: &str) -> Result<Tensor, InferenceError> {
    let key = format!("{prefix}{name}");
    t.get(&key).cloned().ok_or_else(|| InferenceError::Config {
        path: "model.safetensors".into(),
        message: format!("tensor {key} missing"),
    })
}

fn norm(t: &HashMap<String, Tensor>, p: &str, name: &str) -> Result<Norm, InferenceError> {
    // Old checkpoints name LayerNorm parameters gamma/beta.
    let weight = take(t, p, &format!("{name}.weight")).or_else(|_| take(t, p, &format!("{name}.gamma")))?;
    let bias = take(t, p, &format!("{name}.bias")).or_else(|_| take(t, p, &format!("{name}.beta")))?;
    Ok(Norm { weight, bias })
}

impl Norm {
    fn vecs(&self) -> Result<NormVecs, InferenceError> {
        Ok(NormVecs { gamma: self.weight.to_vec1()?, beta: self.bias.to_vec1()? })
    }

    fn forward(&self, x: &Tensor, eps: f32) -> Result<Tensor, InferenceError> {
        Ok(candle_nn::ops::layer_norm(x, &self.weight, &self.bias, eps)?)
    }
}

/// The prefix of a checkpoint's tensor names: `""`, or `"bert."` for checkpoints saved from a
/// model with a task head.
pub fn checkpoint_prefix(t: &HashMap<String, Tensor>) -> &'static str {
    if t.contains_key("embeddings.word_embeddings.weight") { "" } else { "bert." }
}

/// The tensors of encoder layer `i`, as checkpoints name them (without a `bert.` prefix):
/// what a fine-tuned top layer replaces.
pub fn layer_tensor_names(i: usize) -> Vec<String> {
    [
        "attention.self.query.weight",
        "attention.self.query.bias",
        "attention.self.key.weight",
        "attention.self.key.bias",
        "attention.self.value.weight",
        "attention.self.value.bias",
        "attention.output.dense.weight",
        "attention.output.dense.bias",
        "attention.output.LayerNorm.weight",
        "attention.output.LayerNorm.bias",
        "intermediate.dense.weight",
        "intermediate.dense.bias",
        "output.dense.weight",
        "output.dense.bias",
        "output.LayerNorm.weight",
        "output.LayerNorm.bias",
    ]
    .iter()
    .map(|n| format!("encoder.layer.{i}.{n}"))
    .collect()
}

/// Suffix of a weight matrix stored as an 8-bit delta from the base encoder's: `u8` values
/// `q` (`[out, in]`), with [`DELTA_SCALE`] holding one `f32` scale per output row; the tuned
/// weight is `base + (q − 128) · scale`. A fine-tuned layer moves little, so 8 bits of the
/// difference keep the weights to ~1e-4 of their size while halving the file of `f16` weights.
pub const DELTA_Q8: &str = ".delta_q8";
/// Suffix of the per-row scales of a [`DELTA_Q8`] tensor.
pub const DELTA_SCALE: &str = ".delta_scale";

/// Packs `tuned − base` (both `[out, in]`) as [`DELTA_Q8`] values and [`DELTA_SCALE`] scales.
pub fn pack_delta(base: &Tensor, tuned: &Tensor) -> Result<(Tensor, Tensor), InferenceError> {
    let delta = (tuned.to_dtype(candle_core::DType::F32)? - base.to_dtype(candle_core::DType::F32)?)?;
    let (rows, cols) = delta.dims2()?;
    let scale = (delta.abs()?.max_keepdim(1)? / 127.0)?.clamp(1e-12, f64::MAX)?;
    let q = ((delta.broadcast_div(&scale)?.round()? + 128.0)?.clamp(1.0, 255.0)?).to_dtype(candle_core::DType::U8)?;
    debug_assert_eq!(q.dims(), &[rows, cols]);
    Ok((q, scale.flatten_all()?))
}

/// Unpacks a [`pack_delta`] pair onto `base`.
pub fn unpack_delta(base: &Tensor, q: &Tensor, scale: &Tensor) -> Result<Tensor, InferenceError> {
    let delta = (q.to_dtype(candle_core::DType::F32)? - 128.0)?.broadcast_mul(&scale.unsqueeze(1)?)?;
    Ok((base.to_dtype(candle_core::DType::F32)? + delta)?)
}

/// Replaces tensors of a checkpoint's map by `overrides`, named as [`layer_tensor_names`]
/// names them: plain tensors (converted to `f32`), or weight matrices stored as 8-bit deltas
/// (`name` + [`DELTA_Q8`] and `name` + [`DELTA_SCALE`]). Each must exist in the checkpoint
/// with the same shape.
pub fn apply_overrides(
    t: &mut HashMap<String, Tensor>,
    overrides: &HashMap<String, Tensor>,
) -> Result<(), InferenceError> {
    let p = checkpoint_prefix(t);
    for (stored, value) in overrides {
        if stored.ends_with(DELTA_SCALE) {
            continue; // read with its DELTA_Q8 partner
        }
        let name = stored.strip_suffix(DELTA_Q8).unwrap_or(stored);
        let key = format!("{p}{name}");
        let base =
            t.get(&key).ok_or_else(|| InferenceError::Model(format!("tuned tensor {name}: not in the encoder")))?;
        if base.dims() != value.dims() {
            return Err(InferenceError::Model(format!(
                "tuned tensor {name}: shape {:?}, the encoder's is {:?}",
                value.dims(),
                base.dims()
            )));
        }
        let tuned = if stored.ends_with(DELTA_Q8) {
            let scale = overrides
                .get(&format!("{name}{DELTA_SCALE}"))
                .ok_or_else(|| InferenceError::Model(format!("tuned tensor {name}: scales missing")))?;
            if scale.dims() != [base.dims()[0]] {
                return Err(InferenceError::Model(format!("tuned tensor {name}: {:?} scales", scale.dims())));
            }
            unpack_delta(base, value, scale)?
        } else {
            value.to_dtype(candle_core::DType::F32)?
        };
        t.insert(key, tuned);
    }
    Ok(())
}

impl FastBert {
    /// Builds the encoder from a checkpoint's tensors (with or without a `bert.` prefix).
    pub fn from_tensors(
        t: &HashMap<String, Tensor>,
        layers: usize,
        heads: usize,
        eps: f64,
    ) -> Result<Self, InferenceError> {
        let p = checkpoint_prefix(t);
        let mut out = Vec::with_capacity(layers);
        for i in 0..layers {
            let l = format!("{p}encoder.layer.{i}.");
            let w = |n: &str| take(t, &l, n);
            let qkv = Tensor::cat(
                &[
                    w("attention.self.query.weight")?,
                    w("attention.self.key.weight")?,
                    w("attention.self.value.weight")?,
                ],
                0,
            )?;
            let qkv_b = Tensor::cat(
                &[w("attention.self.query.bias")?, w("attention.self.key.bias")?, w("attention.self.value.bias")?],
                0,
            )?;
            out.push(Layer {
                qkv: Dense::F32(qkv.t()?.contiguous()?),
                qkv_b: qkv_b.to_vec1()?,
                out: Dense::F32(w("attention.output.dense.weight")?.t()?.contiguous()?),
                out_b: w("attention.output.dense.bias")?.to_vec1()?,
                attn_norm: norm(t, &l, "attention.output.LayerNorm")?.vecs()?,
                inter: Dense::F32(w("intermediate.dense.weight")?.t()?.contiguous()?),
                inter_b: w("intermediate.dense.bias")?.to_vec1()?,
                down: Dense::F32(w("output.dense.weight")?.t()?.contiguous()?),
                down_b: w("output.dense.bias")?.to_vec1()?,
                out_norm: norm(t, &l, "output.LayerNorm")?.vecs()?,
            });
        }
        let e = format!("{p}embeddings.");
        Ok(Self {
            word: take(t, &e, "word_embeddings.weight")?,
            position: take(t, &e, "position_embeddings.weight")?,
            token_type0: take(t, &e, "token_type_embeddings.weight")?.get(0)?,
            emb_norm: norm(t, &e, "LayerNorm")?,
            layers: out,
            heads,
            eps: eps as f32,
        })
    }

    /// Last hidden states `[b, s, h]` for token ids and attention mask `[b, s]` (u32).
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor, InferenceError> {
        let (b, s) = ids.dims2()?;
        let (x, valid) = self.embed(ids, mask)?;
        let x = self.run_layers(x, b, s, &valid, 0..self.layers.len())?;
        Ok(x.reshape((b, s, self.hidden()))?)
    }

    /// Embedding-layer output `[b·s, h]` and, for each sequence, the positions of its real
    /// (unpadded) tokens.
    pub fn embed(&self, ids: &Tensor, mask: &Tensor) -> Result<(Tensor, Vec<Vec<usize>>), InferenceError> {
        let (b, s) = ids.dims2()?;
        let h = self.hidden();
        let words = self.word.index_select(&ids.flatten_all()?, 0)?.reshape((b, s, h))?;
        let pos = self.position.narrow(0, 0, s)?;
        let x = words.broadcast_add(&pos)?.broadcast_add(&self.token_type0)?.reshape((b * s, h))?;
        let x = self.emb_norm.forward(&x, self.eps)?;
        // The real (unpadded) positions of each sequence: attention reads only those keys.
        let valid: Vec<Vec<usize>> = mask
            .to_vec2::<u32>()?
            .into_iter()
            .map(|m| m.iter().enumerate().filter(|(_, v)| **v != 0).map(|(i, _)| i).collect())
            .collect();
        Ok((x, valid))
    }

    /// Runs encoder layers `layers` over hidden states `x` (`[b·s, h]`, the input of the first
    /// of them); returns the output of the last, `[b·s, h]`.
    pub fn run_layers(
        &self,
        mut x: Tensor,
        b: usize,
        s: usize,
        valid: &[Vec<usize>],
        layers: std::ops::Range<usize>,
    ) -> Result<Tensor, InferenceError> {
        for l in &self.layers[layers] {
            let attention = Attention { batch: b, seq: s, heads: self.heads, valid, bias: &l.qkv_b };
            let ctx = l.qkv.apply(&x)?.apply_op1_no_bwd(&attention)?;
            // Bias + residual + norm run in place on the dense outputs (fresh tensors no one
            // else holds); bias + GELU too, or inside the int8 GEMM.
            let attn = l.out.apply(&ctx)?;
            attn.inplace_op2(&x, &l.attn_norm.fused(&l.out_b, self.eps))?;
            let out = match (&l.inter, &l.down) {
                // int8: one op, the intermediate activations quantised for the output layer
                // as they are produced (never written out in f32).
                (Dense::Int8(inter), Dense::Int8(down)) => {
                    attn.apply_op1_no_bwd(&inter.feed_forward_op(&l.inter_b, down))?
                }
                (inter, down) => down.apply(&inter.apply_gelu(&attn, &l.inter_b)?)?,
            };
            out.inplace_op2(&attn, &l.out_norm.fused(&l.down_b, self.eps))?;
            x = out;
        }
        Ok(x)
    }

    /// Runs every dense layer in int8 from now on ([`crate::int8`]: weights quantised per
    /// output channel now, activations per token as they come, with `kernel`); the layers that
    /// read a layer norm's output keep its largest channels in `f32`.
    pub fn quantize(&mut self, kernel: Kernel, scheme: Activations) -> Result<(), InferenceError> {
        // The first layer's input is the embeddings' layer norm; each later one's, the
        // previous layer's output norm.
        let mut input_max = self.emb_norm.vecs()?.channel_max();
        for l in &mut self.layers {
            let attn_max = l.attn_norm.channel_max();
            l.qkv.quantize(kernel, scheme, Some(&input_max))?;
            l.out.quantize(kernel, scheme, None)?;
            l.inter.quantize(kernel, scheme, Some(&attn_max))?;
            l.down.quantize(kernel, scheme, None)?;
            input_max = l.out_norm.channel_max();
        }
        Ok(())
    }

    /// Number of encoder layers.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// Attention heads per layer.
    pub fn heads(&self) -> usize {
        self.heads
    }

    /// Layer-norm epsilon.
    pub fn eps(&self) -> f32 {
        self.eps
    }

    /// Hidden width.
    pub fn hidden(&self) -> usize {
        self.word.dims()[1]
    }

    /// The device tensors live on.
    pub fn device(&self) -> &Device {
        self.word.device()
    }
}
