//! A BERT encoder forward pass tuned for CPU inference: every dense layer runs as one 2-D
//! matmul over all tokens of the batch (no broadcast batched matmuls), query/key/value are one
//! fused projection, the query is scaled before the score matmul, and softmax and layer norm
//! use candle's fused last-dimension kernels. Numerically it matches
//! `candle_transformers::models::bert::BertModel` (tested to 1e-4).

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};

use super::error::InferenceError;

struct Norm {
    weight: Tensor,
    bias: Tensor,
}

struct Layer {
    qkv_t: Tensor,
    qkv_b: Tensor,
    out_t: Tensor,
    out_b: Tensor,
    attn_norm: Norm,
    inter_t: Tensor,
    inter_b: Tensor,
    down_t: Tensor,
    down_b: Tensor,
    out_norm: Norm,
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
    fn forward(&self, x: &Tensor, eps: f32) -> Result<Tensor, InferenceError> {
        Ok(candle_nn::ops::layer_norm(x, &self.weight, &self.bias, eps)?)
    }
}

impl FastBert {
    /// Builds the encoder from a checkpoint's tensors (with or without a `bert.` prefix).
    pub fn from_tensors(
        t: &HashMap<String, Tensor>,
        layers: usize,
        heads: usize,
        eps: f64,
    ) -> Result<Self, InferenceError> {
        let p = if t.contains_key("embeddings.word_embeddings.weight") { "" } else { "bert." };
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
                qkv_t: qkv.t()?.contiguous()?,
                qkv_b,
                out_t: w("attention.output.dense.weight")?.t()?.contiguous()?,
                out_b: w("attention.output.dense.bias")?,
                attn_norm: norm(t, &l, "attention.output.LayerNorm")?,
                inter_t: w("intermediate.dense.weight")?.t()?.contiguous()?,
                inter_b: w("intermediate.dense.bias")?,
                down_t: w("output.dense.weight")?.t()?.contiguous()?,
                down_b: w("output.dense.bias")?,
                out_norm: norm(t, &l, "output.LayerNorm")?,
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
        let h = self.word.dim(1)?;
        let d = h / self.heads;
        let words = self.word.index_select(&ids.flatten_all()?, 0)?.reshape((b, s, h))?;
        let pos = self.position.narrow(0, 0, s)?;
        let x = words.broadcast_add(&pos)?.broadcast_add(&self.token_type0)?.reshape((b * s, h))?;
        let mut x = self.emb_norm.forward(&x, self.eps)?;
        // Additive mask [b, 1, 1, s]: 0 for tokens, a large negative number for padding.
        let add_mask = ((mask.to_dtype(DType::F32)? - 1.0)? * 1e9)?.reshape((b, 1, 1, s))?;
        let scale = 1.0 / (d as f64).sqrt();
        for l in &self.layers {
            let qkv = x.matmul(&l.qkv_t)?.broadcast_add(&l.qkv_b)?;
            let qkv = qkv.reshape((b, s, 3, self.heads, d))?.permute((2, 0, 3, 1, 4))?;
            let q = (qkv.get(0)? * scale)?.contiguous()?;
            let k = qkv.get(1)?.contiguous()?;
            let v = qkv.get(2)?.contiguous()?;
            let scores = q.matmul(&k.transpose(2, 3)?)?.broadcast_add(&add_mask)?;
            let probs = candle_nn::ops::softmax_last_dim(&scores)?;
            let ctx = probs.matmul(&v)?.transpose(1, 2)?.contiguous()?.reshape((b * s, h))?;
            let attn = (ctx.matmul(&l.out_t)?.broadcast_add(&l.out_b)? + &x)?;
            let attn = l.attn_norm.forward(&attn, self.eps)?;
            let inter = attn.matmul(&l.inter_t)?.broadcast_add(&l.inter_b)?.gelu_erf()?;
            let out = (inter.matmul(&l.down_t)?.broadcast_add(&l.down_b)? + &attn)?;
            x = l.out_norm.forward(&out, self.eps)?;
        }
        Ok(x.reshape((b, s, h))?)
    }

    /// The device tensors live on.
    pub fn device(&self) -> &Device {
        self.word.device()
    }
}
