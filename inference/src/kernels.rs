//! Fused CPU kernels for the encoder, as candle custom ops over contiguous `f32` buffers:
//!
//! - [`Attention`]: scaled dot-product self-attention read straight from the fused QKV
//!   projection `[tokens, 3·hidden]`, written token-major `[tokens, hidden]`. It replaces a
//!   permute, three copies, two batched matmuls of tiny per-head matrices (15 × 32 for a
//!   tweet: mostly padding for a GEMM microkernel), the mask addition, the softmax and the
//!   final transpose. Padded keys are skipped (the reference adds −1e9 before the softmax,
//!   which gives them weight exactly 0 in `f32`), and padded query rows are left at zero
//!   (nothing downstream reads them: later attention skips them as keys, pooling masks them).
//!   Each head's queries, keys (transposed) and values are gathered into contiguous buffers,
//!   so that scores for sixteen keys and value sums for sixteen channels are carried in
//!   registers, with no horizontal sum per key and no read-modify-write of the output per key.
//! - [`BiasGelu`]: `gelu(x + bias)` with the exact (erf) GELU, using a rational erf that the
//!   compiler vectorises (max error 1.3e-7 against libm over [-6, 6], tested) instead of
//!   libm's scalar `erff`.
//!
//! All are safe Rust loops, written so LLVM vectorises them, and run inside
//! [`with_wide_vectors`] (compiled for AVX-512 or AVX2 where the CPU has them). Where the CPU
//! has AVX-512, the hottest inner loops (reductions, GELU, attention's query blocks) run the
//! intrinsic versions in [`crate::int8::gemm`] instead; the loops here are their portable
//! twins, tested against them.

use candle_core::{CpuStorage, CustomOp1, InplaceOp1, InplaceOp2, Layout, Shape, bail};

use crate::int8::gemm::{VectorPass, attention, bias_gelu, reduce, with_wide_vectors};

/// The contiguous `f32` data of a storage, or an error naming the op.
fn contiguous<'a>(op: &str, storage: &'a CpuStorage, layout: &Layout) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(all) = storage else { bail!("{op}: expects f32") };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&all[start..end]),
        None => bail!("{op}: expects a contiguous tensor"),
    }
}

/// The contiguous `f32` data of a storage, writable, or an error naming the op.
fn contiguous_mut<'a>(op: &str, storage: &'a mut CpuStorage, layout: &Layout) -> candle_core::Result<&'a mut [f32]> {
    let CpuStorage::F32(all) = storage else { bail!("{op}: expects f32") };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&mut all[start..end]),
        None => bail!("{op}: expects a contiguous tensor"),
    }
}

/// Self-attention over a fused QKV projection (without its bias) of `batch` sequences of
/// `seq` tokens.
pub struct Attention<'a> {
    pub batch: usize,
    pub seq: usize,
    pub heads: usize,
    /// For each sequence, the positions of its real (unpadded) tokens.
    pub valid: &'a [Vec<usize>],
    /// The projection's bias (`3·hidden`), added here as rows are read.
    pub bias: &'a [f32],
}

impl CustomOp1 for Attention<'_> {
    fn name(&self) -> &'static str {
        "rtcx-attention"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let qkv = contiguous(self.name(), storage, layout)?;
        let (b, s, nh) = (self.batch, self.seq, self.heads);
        let tokens = b * s;
        if tokens == 0 || qkv.len() % tokens != 0 || self.valid.len() != b {
            bail!("rtcx-attention: {} values for {b} × {s} tokens", qkv.len());
        }
        let h3 = qkv.len() / tokens;
        if self.bias.len() != h3 {
            bail!("rtcx-attention: bias of {} for width {h3}", self.bias.len());
        }
        let h = h3 / 3;
        if h3 % 3 != 0 || h % nh != 0 {
            bail!("rtcx-attention: width {h3} is not 3 × heads × head size");
        }
        let mut out = vec![0f32; tokens * h];
        with_wide_vectors(AttentionPass { op: self, qkv, out: &mut out, h3 });
        Ok((CpuStorage::F32(out), Shape::from((tokens, h))))
    }
}

/// The work of [`Attention`], compiled for wide vectors ([`with_wide_vectors`]).
struct AttentionPass<'a, 'b> {
    op: &'a Attention<'b>,
    qkv: &'a [f32],
    out: &'a mut [f32],
    h3: usize,
}

impl VectorPass for AttentionPass<'_, '_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let AttentionPass { op: a, qkv, out, h3 } = self;
        let (s, nh, h) = (a.seq, a.heads, h3 / 3);
        let d = h / nh;
        let scale = 1.0 / (d as f32).sqrt();
        let longest = a.valid.iter().map(Vec::len).max().unwrap_or(0);
        let (padded, blocks) = (longest.next_multiple_of(LANES), longest.div_ceil(QB));
        // One head of one sequence at a time, gathered (bias added) into contiguous buffers:
        // queries scaled, in blocks of QB laid out `[block][d][QB]` (zero past the n real
        // queries); keys transposed `[d, padded]` (zero past the n real keys); values `[n, d]`.
        // Then QB rows of scores and QB rows of output at a time.
        let mut q = vec![0f32; blocks * QB * d];
        let mut kt = vec![0f32; d * padded];
        let mut v = vec![0f32; longest * d];
        let mut scores = vec![0f32; QB * padded];
        let mut ctx = vec![0f32; QB * d];
        for (bi, keys) in a.valid.iter().enumerate() {
            let n = keys.len();
            let (np, nq) = (n.next_multiple_of(LANES), n.next_multiple_of(QB));
            for head in 0..nh {
                let (qo, ko, vo) = (head * d, h + head * d, 2 * h + head * d);
                for (r, &t) in keys.iter().enumerate() {
                    let row = &qkv[(bi * s + t) * h3..(bi * s + t + 1) * h3];
                    let block = &mut q[(r / QB) * QB * d..(r / QB + 1) * QB * d];
                    for (c, (&x, &b)) in row[qo..qo + d].iter().zip(&a.bias[qo..qo + d]).enumerate() {
                        block[c * QB + r % QB] = (x + b) * scale;
                    }
                    for (c, (&x, &b)) in row[ko..ko + d].iter().zip(&a.bias[ko..ko + d]).enumerate() {
                        kt[c * np + r] = x + b;
                    }
                    for ((v, &x), &b) in v[r * d..(r + 1) * d].iter_mut().zip(&row[vo..vo + d]).zip(&a.bias[vo..vo + d])
                    {
                        *v = x + b;
                    }
                }
                for r in n..nq {
                    let block = &mut q[(r / QB) * QB * d..(r / QB + 1) * QB * d];
                    for c in 0..d {
                        block[c * QB + r % QB] = 0.0;
                    }
                }
                for c in 0..d {
                    kt[c * np + n..(c + 1) * np].fill(0.0);
                }
                let (kt, v) = (&kt[..d * np], &v[..n * d]);
                for (block, first) in (0..n).step_by(QB).enumerate() {
                    let rows = (n - first).min(QB);
                    let scores = &mut scores[..QB * np];
                    block_scores(&q[block * QB * d..(block + 1) * QB * d], kt, scores);
                    // Max, exponentials and sum as separate passes: each vectorises (a loop
                    // that also carries a running sum or max would be a serial chain). Rows past
                    // the real queries keep their (zero) scores: nothing reads their output.
                    let mut inv = [0f32; QB];
                    for (r, inv) in inv.iter_mut().enumerate().take(rows) {
                        let scores = &mut scores[r * np..r * np + n];
                        let max = lanes_max(scores);
                        for w in scores.iter_mut() {
                            *w = exp(*w - max);
                        }
                        *inv = 1.0 / lanes_sum(scores);
                    }
                    match d {
                        16 => block_values::<1>(scores, np, n, v, &inv, &mut ctx),
                        32 => block_values::<2>(scores, np, n, v, &inv, &mut ctx),
                        48 => block_values::<3>(scores, np, n, v, &inv, &mut ctx),
                        64 => block_values::<4>(scores, np, n, v, &inv, &mut ctx),
                        _ => {
                            for (r, &inv) in inv.iter().enumerate().take(rows) {
                                weighted_values(&scores[r * np..r * np + n], v, inv, &mut ctx[r * d..(r + 1) * d]);
                            }
                        }
                    }
                    for (r, &i) in keys[first..first + rows].iter().enumerate() {
                        out[(bi * s + i) * h + qo..(bi * s + i) * h + qo + d].copy_from_slice(&ctx[r * d..(r + 1) * d]);
                    }
                }
            }
        }
    }
}

/// Vector width of the attention loops: scores for this many keys, and value sums for this
/// many channels, are carried in registers.
const LANES: usize = 16;

/// Queries per block of the attention loops: each key (or value) vector loaded is used for
/// this many queries, and their sums are independent chains of adds.
const QB: usize = attention::QB;

/// Scores of QB queries against every key: `scores[r, j] = Σ_c q[c, r] · kt[c, j]` for `q`
/// `[d, QB]` (a block of queries, channel-major) and `kt` `[d, np]` (keys transposed, `np`
/// a multiple of [`LANES`]), into `scores` `[QB, np]`. Sixteen keys × QB queries at a time,
/// in registers: one load of keys and QB broadcasts per channel, no horizontal sums.
#[inline(always)]
fn block_scores(q: &[f32], kt: &[f32], scores: &mut [f32]) {
    if !attention::block_scores(q, kt, scores) {
        portable_block_scores(q, kt, scores);
    }
}

/// [`block_scores`] in plain Rust.
#[inline(always)]
fn portable_block_scores(q: &[f32], kt: &[f32], scores: &mut [f32]) {
    let np = scores.len() / QB;
    for kb in 0..np / LANES {
        let mut acc = [[0f32; LANES]; QB];
        for (qc, keys) in q.chunks_exact(QB).zip(kt.chunks_exact(np)) {
            let k = &keys[kb * LANES..(kb + 1) * LANES];
            for r in 0..QB {
                for l in 0..LANES {
                    acc[r][l] = qc[r].mul_add(k[l], acc[r][l]);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            scores[r * np + kb * LANES..r * np + (kb + 1) * LANES].copy_from_slice(acc);
        }
    }
}

/// The attention output of QB queries, `ctx[r, c] = inv[r] · Σ_j p[r, j] · v[j, c]`, for
/// `p` `[QB, np]` (the first `n` of each row are the weights), `v` `[n, 16·C]`, into `ctx`
/// `[QB, 16·C]`: QB × C vectors of sums in registers, each value vector loaded once for the
/// QB queries.
#[inline(always)]
fn block_values<const C: usize>(p: &[f32], np: usize, n: usize, v: &[f32], inv: &[f32; QB], ctx: &mut [f32]) {
    if !attention::block_values::<C>(p, np, n, v, inv, ctx) {
        portable_block_values::<C>(p, np, n, v, inv, ctx);
    }
}

/// [`block_values`] in plain Rust.
#[inline(always)]
fn portable_block_values<const C: usize>(p: &[f32], np: usize, n: usize, v: &[f32], inv: &[f32; QB], ctx: &mut [f32]) {
    let d = C * LANES;
    let mut acc = [[[0f32; LANES]; C]; QB];
    // Sixteen-float arrays and constant trip counts, so that the loops unroll and the sums
    // stay in registers (with `chunks_exact` LLVM kept them on the stack, one float at a time).
    let (chunks, _) = v[..n * d].as_chunks::<LANES>();
    for j in 0..n {
        let mut w = [0f32; QB];
        for (r, w) in w.iter_mut().enumerate() {
            *w = p[r * np + j];
        }
        for ch in 0..C {
            let vv = &chunks[j * C + ch];
            for r in 0..QB {
                fma16(&mut acc[r][ch], w[r], vv);
            }
        }
    }
    for (r, (acc, ctx)) in acc.iter().zip(ctx.chunks_exact_mut(d)).enumerate() {
        for (acc, ctx) in acc.iter().zip(ctx.chunks_exact_mut(LANES)) {
            for (o, &a) in ctx.iter_mut().zip(acc) {
                *o = a * inv[r];
            }
        }
    }
}

/// `acc += w · v`, sixteen lanes.
#[inline(always)]
fn fma16(acc: &mut [f32; LANES], w: f32, v: &[f32; LANES]) {
    for l in 0..LANES {
        acc[l] = w.mul_add(v[l], acc[l]);
    }
}

/// `out[c] = inv · Σ_j w[j] · v[j, c]` for `v` `[w.len(), out.len()]` (head sizes
/// [`block_values`] does not take): sixteen channels at a time, in two register accumulators
/// (even and odd keys); channels past the last full sixteen one by one.
#[inline(always)]
fn weighted_values(w: &[f32], v: &[f32], inv: f32, out: &mut [f32]) {
    let d = out.len();
    let full = d - d % LANES;
    for c0 in (0..full).step_by(LANES) {
        let (mut even, mut odd) = ([0f32; LANES], [0f32; LANES]);
        let mut j = 0;
        while j + 1 < w.len() {
            let (v0, v1) = (&v[j * d + c0..][..LANES], &v[(j + 1) * d + c0..][..LANES]);
            for l in 0..LANES {
                even[l] = w[j].mul_add(v0[l], even[l]);
                odd[l] = w[j + 1].mul_add(v1[l], odd[l]);
            }
            j += 2;
        }
        if j < w.len() {
            let v0 = &v[j * d + c0..][..LANES];
            for l in 0..LANES {
                even[l] = w[j].mul_add(v0[l], even[l]);
            }
        }
        for l in 0..LANES {
            out[c0 + l] = (even[l] + odd[l]) * inv;
        }
    }
    for c in full..d {
        let mut sum = 0f32;
        for (j, &w) in w.iter().enumerate() {
            sum += w * v[j * d + c];
        }
        out[c] = sum * inv;
    }
}

/// Sum: with AVX-512 intrinsics where the CPU has them ([`reduce`]), else in sixteen
/// independent lanes (so it vectorises without fast-math: a single running sum is a serial
/// chain of dependent adds).
#[inline(always)]
fn lanes_sum(x: &[f32]) -> f32 {
    if let Some(s) = reduce::sum(x) {
        return s;
    }
    let mut acc = [0f32; 16];
    let chunks = x.chunks_exact(16);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for k in 0..16 {
            acc[k] += c[k];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `Σ (x − mean)²` in sixteen independent lanes.
#[inline(always)]
fn lanes_sum_sq_dev(x: &[f32], mean: f32) -> f32 {
    if let Some(s) = reduce::sum_sq_dev(x, mean) {
        return s;
    }
    let mut acc = [0f32; 16];
    let chunks = x.chunks_exact(16);
    let tail: f32 = chunks.remainder().iter().map(|v| (v - mean) * (v - mean)).sum();
    for c in chunks {
        for k in 0..16 {
            acc[k] += (c[k] - mean) * (c[k] - mean);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Maximum in sixteen independent lanes (−∞ for an empty slice).
#[inline(always)]
fn lanes_max(x: &[f32]) -> f32 {
    if let Some(m) = reduce::max(x) {
        return m;
    }
    let mut acc = [f32::NEG_INFINITY; 16];
    let chunks = x.chunks_exact(16);
    let tail = chunks.remainder().iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    for c in chunks {
        for k in 0..16 {
            acc[k] = if c[k] > acc[k] { c[k] } else { acc[k] };
        }
    }
    acc.iter().fold(tail, |m, &v| m.max(v))
}

/// `layer_norm(x + bias + residual)` over rows of `bias.len()`: the dense output's bias, the
/// residual connection and the layer norm after it, in one pass.
pub struct BiasResidualNorm<'a> {
    pub bias: &'a [f32],
    pub gamma: &'a [f32],
    pub beta: &'a [f32],
    pub eps: f32,
}

/// In place on the dense output (the first tensor); the residual is the second. The dense
/// output is a fresh tensor of the layer, so writing over it saves an allocation (and its
/// zeroing) per layer.
impl InplaceOp2 for BiasResidualNorm<'_> {
    fn name(&self) -> &'static str {
        "rtcx-bias-residual-norm"
    }

    fn cpu_fwd(&self, s1: &mut CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> candle_core::Result<()> {
        let x = contiguous_mut(self.name(), s1, l1)?;
        let r = contiguous(self.name(), s2, l2)?;
        let n = self.bias.len();
        if n == 0 || x.len() % n != 0 || x.len() != r.len() || self.gamma.len() != n || self.beta.len() != n {
            bail!("rtcx-bias-residual-norm: shapes do not match rows of {n}");
        }
        with_wide_vectors(NormPass { op: self, x, r });
        Ok(())
    }
}

/// `gelu(x + bias)` (exact GELU, `0.5·x·(1 + erf(x/√2))`) over `[rows, bias.len()]`.
pub struct BiasGelu<'a> {
    pub bias: &'a [f32],
}

/// In place on the dense output (see [`BiasResidualNorm`]).
impl InplaceOp1 for BiasGelu<'_> {
    fn name(&self) -> &'static str {
        "rtcx-bias-gelu"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> candle_core::Result<()> {
        let x = contiguous_mut(self.name(), storage, layout)?;
        let n = self.bias.len();
        if n == 0 || x.len() % n != 0 {
            bail!("rtcx-bias-gelu: {} values are not rows of {n}", x.len());
        }
        with_wide_vectors(GeluPass { bias: self.bias, x });
        Ok(())
    }
}

/// The work of [`BiasResidualNorm`], compiled for wide vectors.
struct NormPass<'a, 'b> {
    op: &'a BiasResidualNorm<'b>,
    /// The dense output, overwritten with the result.
    x: &'a mut [f32],
    r: &'a [f32],
}

impl VectorPass for NormPass<'_, '_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let NormPass { op, x, r } = self;
        let n = op.bias.len();
        for (o, r) in x.chunks_exact_mut(n).zip(r.chunks_exact(n)) {
            for ((o, &r), &b) in o.iter_mut().zip(r).zip(op.bias) {
                *o = *o + r + b;
            }
            let mean = lanes_sum(o) / n as f32;
            let var = lanes_sum_sq_dev(o, mean) / n as f32;
            let inv = 1.0 / (var + op.eps).sqrt();
            for ((o, &g), &b) in o.iter_mut().zip(op.gamma).zip(op.beta) {
                *o = (*o - mean) * inv * g + b;
            }
        }
    }
}

/// The work of [`BiasGelu`], compiled for wide vectors.
struct GeluPass<'a> {
    bias: &'a [f32],
    /// The dense output, overwritten with the result.
    x: &'a mut [f32],
}

impl VectorPass for GeluPass<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let n = self.bias.len();
        for o in self.x.chunks_exact_mut(n) {
            bias_gelu_row(o, self.bias);
        }
    }
}

/// `eˣ` for `x ≤ 0` (softmax arguments after the maximum is subtracted; larger `x` is
/// clamped to 0): `x = n·ln 2 + r` with `|r| ≤ ln 2 / 2`, a degree-6 polynomial for `eʳ`
/// (relative error < 2e-7 on that range, tested) and `2ⁿ` built in the exponent bits.
/// Branch-free, so the softmax loop vectorises (libm's `expf` is a call per element).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    // Rounding and the exponent bits by the 1.5·2²³ trick (see `int8::round_to_u8`): no
    // `ceil` (a libm call before SSE4.1) and no float-to-int cast (saturating, not vectorised).
    const MAGIC: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 0.0);
    let n = (x * std::f32::consts::LOG2_E + MAGIC) - MAGIC;
    // ln 2 in two parts (Cody–Waite): `n · LN2_HI` is exact, so r keeps its precision for
    // n down to −126.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let mut p = 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    // n + 127 ∈ [1, 127]: the biased exponent of 2ⁿ, read from the low mantissa bits.
    p * f32::from_bits(((n + (127.0 + MAGIC)).to_bits() & 0xff) << 23)
}

/// `row[j] = gelu(row[j] + bias[j])`: with AVX-512 where the CPU has it
/// ([`crate::int8::gemm::bias_gelu`]), else with [`gelu`]. Must be inlined into a
/// [`with_wide_vectors`] pass for the portable loop to vectorise.
#[inline(always)]
pub(crate) fn bias_gelu_row(row: &mut [f32], bias: &[f32]) {
    if !bias_gelu(row, bias) {
        for (o, &b) in row.iter_mut().zip(bias) {
            *o = gelu(*o + b);
        }
    }
}

/// The exact GELU, `0.5·v·(1 + erf(v/√2))`, with [`erf`].
#[inline(always)]
pub fn gelu(v: f32) -> f32 {
    0.5 * v * (1.0 + erf(v * std::f32::consts::FRAC_1_SQRT_2))
}

/// erf's numerator coefficients for [`erf`], highest power of x² first.
pub(crate) const ERF_P: [f32; 7] =
    [-2.726_142_3e-10, 2.770_681_4e-8, -2.101_024e-6, -5.692_506_4e-5, -7.349_906_3e-4, -2.954_6e-3, -1.609_603_3e-2];
/// erf's denominator coefficients for [`erf`], highest power of x² first.
pub(crate) const ERF_Q: [f32; 5] = [-1.456_607_2e-5, -2.133_740_6e-4, -1.682_827e-3, -7.373_329e-3, -1.426_474e-2];

/// erf for `f32` as a rational function of x (odd degree 13 over even degree 8: `x · P(x²) /
/// Q(x²)`, [`ERF_P`], [`ERF_Q`]), on x clamped to [-4, 4] (beyond it erf is ±1 in `f32`).
/// Branch-free, so loops over it vectorise.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = ERF_P[0];
    for c in &ERF_P[1..] {
        p = x2 * p + c;
    }
    let mut q = ERF_Q[0];
    for c in &ERF_Q[1..] {
        q = x2 * q + c;
    }
    x * p / q
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    #[test]
    fn erf_matches_libm() {
        let mut worst = 0f32;
        for i in -60_000..=60_000 {
            let x = i as f32 / 10_000.0;
            worst = worst.max((erf(x) - libm::erff(x)).abs());
        }
        assert!(worst < 5e-7, "max error {worst}");
    }

    #[test]
    fn the_vector_gelu_matches_the_portable_one() {
        let x: Vec<f32> = (-60_000..=60_000).map(|i| i as f32 / 7_000.0).collect();
        let bias = vec![0.01f32; x.len()];
        let mut got = x.clone();
        if !bias_gelu(&mut got, &bias) {
            return; // no AVX-512 here: the portable loop is the only one
        }
        let mut worst = 0f32;
        for (&x, &g) in x.iter().zip(&got) {
            let v = x + 0.01;
            let want = 0.5 * v * (1.0 + libm::erff(v * std::f32::consts::FRAC_1_SQRT_2));
            worst = worst.max((want - g).abs() / want.abs().max(1.0));
        }
        assert!(worst < 1e-6, "max error {worst}");
    }

    #[test]
    fn exp_matches_libm_on_softmax_arguments() {
        let mut worst = 0f32;
        for i in 0..=870_000 {
            let x = -(i as f32) / 10_000.0;
            let (got, want) = (exp(x), libm::expf(x));
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 5e-7, "max relative error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(3.0), 1.0, "clamped to 0");
    }

    #[test]
    fn bias_gelu_matches_candles_exact_gelu() {
        let x = Tensor::new(&[[-3.0f32, -0.5, 0.0, 0.7], [1.5, 2.5, -1.25, 9.0]], &Device::Cpu).expect("x");
        let bias = vec![0.1f32, -0.2, 0.3, 0.0];
        let b = Tensor::new(bias.as_slice(), &Device::Cpu).expect("b");
        let want: Vec<Vec<f32>> =
            x.broadcast_add(&b).and_then(|t| t.gelu_erf()).and_then(|t| t.to_vec2()).expect("ref");
        let got: Vec<Vec<f32>> = x.inplace_op1(&BiasGelu { bias: &bias }).and_then(|()| x.to_vec2()).expect("fused");
        for (w, g) in want.iter().flatten().zip(got.iter().flatten()) {
            assert!((w - g).abs() < 1e-6, "{w} vs {g}");
        }
    }

    #[test]
    fn bias_residual_norm_matches_candles_ops() {
        let x = Tensor::new(&[[0.5f32, -1.0, 2.0, 0.25], [3.0, 0.0, -2.5, 1.0]], &Device::Cpu).expect("x");
        let r = Tensor::new(&[[0.1f32, 0.2, -0.3, 0.4], [-1.0, 0.5, 0.5, 2.0]], &Device::Cpu).expect("r");
        let (bias, gamma, beta) = ([0.01f32, -0.02, 0.03, 0.0], [1.0f32, 0.5, 2.0, -1.0], [0.0f32, 0.1, -0.1, 0.2]);
        let t = |v: &[f32]| Tensor::new(v, &Device::Cpu).expect("vec");
        let want: Vec<Vec<f32>> = (x.broadcast_add(&t(&bias)).expect("b") + &r)
            .and_then(|s| candle_nn::ops::layer_norm(&s, &t(&gamma), &t(&beta), 1e-12))
            .and_then(|t| t.to_vec2())
            .expect("ref");
        let op = BiasResidualNorm { bias: &bias, gamma: &gamma, beta: &beta, eps: 1e-12 };
        let got: Vec<Vec<f32>> = x.inplace_op2(&r, &op).and_then(|()| x.to_vec2()).expect("fused");
        for (w, g) in want.iter().flatten().zip(got.iter().flatten()) {
            assert!((w - g).abs() < 1e-5, "{w} vs {g}");
        }
    }

    /// Runs [`Attention`] on `b` sequences of `s` tokens (the real ones: `valid`), `nh` heads
    /// of size `d`, and checks it against the computation written out.
    fn check_attention(s: usize, nh: usize, d: usize, valid: &[Vec<usize>]) {
        let (b, h) = (valid.len(), nh * d);
        let data: Vec<f32> = (0..b * s * 3 * h).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0).collect();
        let qkv = Tensor::from_vec(data, (b * s, 3 * h), &Device::Cpu).expect("qkv");
        let bias: Vec<f32> = (0..3 * h).map(|i| (i % 23) as f32 / 100.0 - 0.1).collect();
        let got: Vec<Vec<f32>> = qkv
            .apply_op1_no_bwd(&Attention { batch: b, seq: s, heads: nh, valid, bias: &bias })
            .and_then(|t| t.to_vec2())
            .expect("fused");
        let b_t = Tensor::new(bias.as_slice(), &Device::Cpu).expect("bias");
        let rows: Vec<Vec<f32>> = qkv.broadcast_add(&b_t).and_then(|t| t.to_vec2()).expect("rows");
        for (bi, keys) in valid.iter().enumerate() {
            for head in 0..nh {
                for &i in keys {
                    let q = &rows[bi * s + i][head * d..(head + 1) * d];
                    let scores: Vec<f32> = keys
                        .iter()
                        .map(|&j| {
                            let k = &rows[bi * s + j][h + head * d..h + (head + 1) * d];
                            q.iter().zip(k).map(|(a, b)| a * b).sum::<f32>() / (d as f32).sqrt()
                        })
                        .collect();
                    let max = scores.iter().copied().fold(f32::MIN, f32::max);
                    let e: Vec<f32> = scores.iter().map(|x| (x - max).exp()).collect();
                    let total: f32 = e.iter().sum();
                    for t in 0..d {
                        let want: f32 =
                            keys.iter().zip(&e).map(|(&j, w)| w / total * rows[bi * s + j][2 * h + head * d + t]).sum();
                        let g = got[bi * s + i][head * d + t];
                        assert!((want - g).abs() < 1e-5, "d {d}, seq {bi} head {head} token {i}: {want} vs {g}");
                    }
                }
            }
            // Padded query rows stay zero.
            for t in (0..s).filter(|t| !keys.contains(t)) {
                assert!(got[bi * s + t].iter().all(|&v| v == 0.0), "padded row {t} of sequence {bi}");
            }
        }
    }

    #[test]
    fn the_attention_blocks_match_their_portable_loops() {
        let (d, n) = (32usize, 37usize);
        let np = n.next_multiple_of(LANES);
        let q: Vec<f32> = (0..d * QB).map(|i| ((i * 13 % 29) as f32 - 14.0) * 0.07).collect();
        let kt: Vec<f32> = (0..d * np).map(|i| ((i * 7 % 31) as f32 - 15.0) * 0.05).collect();
        let (mut got, mut want) = (vec![0f32; QB * np], vec![0f32; QB * np]);
        block_scores(&q, &kt, &mut got);
        portable_block_scores(&q, &kt, &mut want);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "scores: {g} vs {w}");
        }
        let v: Vec<f32> = (0..n * d).map(|i| ((i * 11 % 23) as f32 - 11.0) * 0.09).collect();
        let inv = [0.5f32, 0.25, 1.0, 2.0];
        let (mut got, mut want) = (vec![0f32; QB * d], vec![0f32; QB * d]);
        block_values::<2>(&kt[..QB * np], np, n, &v, &inv, &mut got);
        portable_block_values::<2>(&kt[..QB * np], np, n, &v, &inv, &mut want);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "values: {g} vs {w}");
        }
    }

    #[test]
    fn attention_matches_the_unfused_computation() {
        // 2 sequences × 3 tokens, 2 heads of size 4; the second sequence has one padded token.
        check_attention(3, 2, 4, &[vec![0, 1, 2], vec![0, 1]]);
        // MiniLM's head size (32) and one with a ragged tail (20 = 16 + 4); sequences longer
        // than one block of 16 keys, of odd and even lengths, one of a single token.
        let long: Vec<usize> = (0..37).collect();
        let gappy: Vec<usize> = (0..40).filter(|t| t % 3 != 1).collect();
        for d in [32, 64, 16, 48, 20, 7] {
            check_attention(40, 3, d, &[long.clone(), gappy.clone(), vec![5]]);
        }
    }
}
