//! int8 inference for the encoder's dense layers: weights quantised once at load, per output
//! channel and symmetric (`w ≈ s_w[j] · q_w[j, k]`, `q_w ∈ [−127, 127]`); activations quantised
//! per row (token) as each layer runs, to unsigned 8 bits with a zero point
//! (`x ≈ s_x[i] · (q_x[i, k] − z[i])`); products summed exactly in `i32` by [`gemm`]; the
//! result dequantised as
//! `y[i, j] = s_x[i] · s_w[j] · (Σ_k q_x[i, k] · q_w[j, k] − z[i] · Σ_k q_w[j, k])`.
//! Bias, GELU, residual and layer norm stay in the fused `f32` kernels that follow
//! ([`crate::kernels`]), as do attention and softmax.
//!
//! Two activation schemes ([`Activations`]): `asymmetric` (the row's own range `[min, max]`
//! over 256 levels) and `symmetric` (`±max |x|` over 255 levels, zero point 128); the
//! accuracy of each is measured in docs/benchmarks.md.

pub mod gemm;

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, bail};

pub use gemm::{GemmError, Kernel, PackedB};

/// How activations are quantised (weights are always symmetric per output channel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Activations {
    /// Each row over its own `[min(x, 0), max(x, 0)]`, 256 levels and a zero point.
    #[default]
    Asymmetric,
    /// Each row over `[−max |x|, max |x|]`, 255 levels, zero point 128.
    Symmetric,
}

/// How the encoder runs in int8: the GEMM kernel and the activation scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Int8Settings {
    pub kernel: Kernel,
    pub activations: Activations,
}

impl Default for Int8Settings {
    /// The fastest kernel of this CPU, asymmetric activations.
    fn default() -> Self {
        Self { kernel: Kernel::detect(), activations: Activations::default() }
    }
}

/// `x` rounded to the nearest integer (ties to even) for `0 ≤ x ≤ 255`, as a byte: adding
/// 1.5 · 2²³ leaves the integer in the low mantissa bits. Plain float and bit operations,
/// which the compiler vectorises on any x86-64 (`round` would be a libm call without SSE4.1).
#[inline(always)]
fn round_to_u8(x: f32) -> u8 {
    const MAGIC: f32 = 12_582_912.0;
    (x + MAGIC).to_bits() as u8
}

/// `(min(0, min x), max(0, max x))` in sixteen independent lanes, so that the reduction
/// vectorises (a single running min/max is a serial chain: float min/max are not reassociated
/// without fast-math); comparisons and selects, not `f32::min`/`max`, whose NaN rules kept the
/// loop scalar.
#[inline(always)]
fn portable_range_with_zero(x: &[f32]) -> (f32, f32) {
    let (mut lo16, mut hi16) = ([0f32; 16], [0f32; 16]);
    let (chunks, tail) = x.as_chunks::<16>();
    for c in chunks {
        for l in 0..16 {
            lo16[l] = if c[l] < lo16[l] { c[l] } else { lo16[l] };
            hi16[l] = if c[l] > hi16[l] { c[l] } else { hi16[l] };
        }
    }
    let (mut lo, mut hi) = (0f32, 0f32);
    for l in 0..16 {
        lo = lo.min(lo16[l]);
        hi = hi.max(hi16[l]);
    }
    for &v in tail {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    (lo, hi)
}

/// One row quantised: `scale`, `zero` and `q` (`q.len()` ≥ `x.len()`; the rest is left as is).
#[inline(always)]
fn quantize_row(x: &[f32], q: &mut [u8], scheme: Activations) -> (f32, i32) {
    // (A `match`, not `unwrap_or_else`: a closure would not be inlined into the wide body.)
    let (lo, hi) = match gemm::reduce::range_with_zero(x) {
        Some(range) => range,
        None => portable_range_with_zero(x),
    };
    let (scale, zero) = match scheme {
        Activations::Asymmetric => {
            let scale = (hi - lo) / 255.0;
            if scale <= 0.0 || !scale.is_finite() {
                (1.0, 0.0)
            } else {
                (scale, (-lo / scale).round().clamp(0.0, 255.0))
            }
        }
        Activations::Symmetric => {
            let scale = hi.max(-lo) / 127.0;
            if scale <= 0.0 || !scale.is_finite() { (1.0, 128.0) } else { (scale, 128.0) }
        }
    };
    let inv = 1.0 / scale;
    if !gemm::quantize_u8(x, inv, zero, q) {
        for (q, &v) in q.iter_mut().zip(x) {
            *q = round_to_u8((v * inv + zero).clamp(0.0, 255.0));
        }
    }
    (scale, zero as i32)
}

thread_local! {
    /// Per thread: the quantised activations and (for kernels that do not dequantise in
    /// registers) the `i32` sums of the layer being run.
    static SCRATCH: std::cell::RefCell<(Vec<u8>, Vec<i32>)> = const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
    /// Per thread, for [`QuantizedLinear::feed_forward`]: the second layer's quantised
    /// activations, the first layer's block of rows, the second layer's `i32` sums.
    static FEED_FORWARD: std::cell::RefCell<FeedForwardScratch> =
        const { std::cell::RefCell::new((Vec::new(), Vec::new(), Vec::new())) };
}

/// See `FEED_FORWARD`.
type FeedForwardScratch = (Vec<u8>, Vec<f32>, Vec<i32>);

/// A dense layer's weights in int8, applied as a candle op to `[m, k]` `f32` activations,
/// giving `[m, n]` (`x · Wᵀ`, without the bias).
#[derive(Debug, Clone)]
pub struct QuantizedLinear {
    packed: PackedB,
    /// Per output channel: the weight scale `s_w[j]`.
    scales: Vec<f32>,
    /// Per output channel: `s_w[j] · Σ_k q_w[j, k]`, for the zero-point correction.
    scaled_sums: Vec<f32>,
    kernel: Kernel,
    scheme: Activations,
    /// Input channels computed in `f32`: see [`QuantizedLinear::with_outliers`].
    outliers: Option<Outliers>,
}

/// Input channels of a layer kept in `f32`, and their weights (`[channels, n]`).
#[derive(Debug, Clone)]
struct Outliers {
    channels: Vec<usize>,
    weights: Vec<f32>,
}

impl QuantizedLinear {
    /// Quantises `w` (`n` rows of `k`: row `j` is output channel `j`, as checkpoints store
    /// dense weights).
    ///
    /// # Panics
    /// If `w.len() != n · k`.
    pub fn new(w: &[f32], n: usize, k: usize, kernel: Kernel, scheme: Activations) -> Self {
        assert_eq!(w.len(), n * k, "QuantizedLinear::new: {} weights for {n} × {k}", w.len());
        let mut q = vec![0i8; n * k];
        let mut scales = Vec::with_capacity(n);
        let mut scaled_sums = Vec::with_capacity(n);
        for j in 0..n {
            let row = &w[j * k..(j + 1) * k];
            let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
            let scale = if max > 0.0 && max.is_finite() { max / 127.0 } else { 1.0 };
            let mut sum = 0i32;
            for (q, &v) in q[j * k..(j + 1) * k].iter_mut().zip(row) {
                *q = (v / scale).round().clamp(-127.0, 127.0) as i8;
                sum += i32::from(*q);
            }
            scales.push(scale);
            scaled_sums.push(scale * sum as f32);
        }
        Self { packed: PackedB::pack(&q, n, k), scales, scaled_sums, kernel, scheme, outliers: None }
    }

    /// As [`QuantizedLinear::new`], with the input channels `outliers` kept in `f32` (the
    /// decomposition of LLM.int8(), Dettmers et al. 2022): after a layer norm a few channels
    /// are far larger than the rest (MiniLM: up to 30 against a median of 1.8), and in int8
    /// they would stretch every token's range. Those channels are left out of the quantised
    /// activations and their products added in `f32` (the encoder keeps 4 of 384 channels:
    /// about 1 % of the work).
    ///
    /// # Panics
    /// If `w.len() != n · k` or a channel is not below `k`.
    pub fn with_outliers(
        w: &[f32],
        n: usize,
        k: usize,
        kernel: Kernel,
        scheme: Activations,
        outliers: &[usize],
    ) -> Self {
        assert!(outliers.iter().all(|&c| c < k), "QuantizedLinear::with_outliers: a channel ≥ k = {k}");
        let mut rest = w.to_vec();
        let mut wo = vec![0f32; outliers.len() * n];
        for (t, &c) in outliers.iter().enumerate() {
            for j in 0..n {
                wo[t * n + j] = w[j * k + c];
                rest[j * k + c] = 0.0;
            }
        }
        let mut layer = Self::new(&rest, n, k, kernel, scheme);
        layer.outliers = Some(Outliers { channels: outliers.to_vec(), weights: wo });
        layer
    }

    /// Output channels.
    pub fn n(&self) -> usize {
        self.packed.n()
    }

    /// Inner dimension.
    pub fn k(&self) -> usize {
        self.packed.k()
    }

    /// `x · Wᵀ` (with `gelu_bias`, `gelu(x · Wᵀ + bias)`) for `m` rows of `x`, as a new vector
    /// (not zero-filled first where the kernel writes every value:
    /// [`gemm::gemm_dequantized_vec`]).
    pub fn forward(&self, x: &[f32], m: usize, gelu_bias: Option<&[f32]>) -> Result<Vec<f32>, GemmError> {
        self.quantized(x, m, gelu_bias, |q, deq, sums| {
            gemm::gemm_dequantized_vec(self.kernel, q, m, &self.packed, deq, sums)
        })
    }

    /// This layer followed by bias + exact GELU, as one candle op: the activation is applied
    /// while each output is in a register (the intermediate layer's output is the largest
    /// tensor of the encoder; a separate pass reads it back from memory).
    pub fn with_gelu<'a>(&'a self, bias: &'a [f32]) -> Int8Linear<'a> {
        Int8Linear { layer: self, gelu_bias: Some(bias) }
    }

    /// `next(gelu(x · Wᵀ + bias))`: this layer (the intermediate one) feeding `next` (the
    /// output one), without the `m × n` activations in between ever being written out in
    /// `f32`. Each block of finished rows ([`gemm::ROW_BLOCK`]) is quantised for `next` while it is in cache
    /// ([`gemm::gemm_dequantized_rows`]); the result equals `next.forward(&self.forward(x, m,
    /// Some(bias)), m, None)` exactly. Where `next` keeps input channels in `f32` (the
    /// encoder's output layers do not), it is that.
    pub fn feed_forward(
        &self,
        x: &[f32],
        m: usize,
        bias: &[f32],
        next: &QuantizedLinear,
    ) -> Result<Vec<f32>, GemmError> {
        let n = self.n();
        if next.outliers.is_some() || next.k() != n {
            let hidden = self.forward(x, m, Some(bias))?;
            return next.forward(&hidden, m, None);
        }
        FEED_FORWARD.with_borrow_mut(|(q, block, sums)| {
            let kp = next.packed.k_padded();
            q.resize(m * kp, 0);
            let mut rows = RowScales { scales: vec![0.0; m], zeros: vec![0.0; m] };
            self.quantized(x, m, Some(bias), |a, deq, first_sums| {
                let mut each = |i0: usize, block: &[f32]| {
                    for (r, row) in block.chunks_exact(n).enumerate() {
                        let i = i0 + r;
                        let (scale, zero) = quantize_row(row, &mut q[i * kp..(i + 1) * kp], next.scheme);
                        rows.scales[i] = scale;
                        rows.zeros[i] = zero as f32;
                    }
                };
                gemm::gemm_dequantized_rows(self.kernel, a, m, &self.packed, deq, first_sums, block, &mut each)
            })?;
            let deq = gemm::Dequantization {
                row_scales: &rows.scales,
                row_zeros: &rows.zeros,
                col_scales: &next.scales,
                col_sums: &next.scaled_sums,
                channels: 0,
                f32_inputs: &[],
                f32_weights: &[],
                gelu_bias: None,
            };
            gemm::gemm_dequantized_vec(next.kernel, q, m, &next.packed, &deq, sums)
        })
    }

    /// The feed-forward block ([`QuantizedLinear::feed_forward`]) as one candle op.
    pub fn feed_forward_op<'a>(&'a self, bias: &'a [f32], next: &'a QuantizedLinear) -> FeedForward<'a> {
        FeedForward { first: self, bias, next }
    }

    /// Quantises the `m` rows of `x` and runs `gemm` on them with their dequantisation.
    fn quantized<R>(
        &self,
        x: &[f32],
        m: usize,
        gelu_bias: Option<&[f32]>,
        gemm: impl FnOnce(&[u8], &gemm::Dequantization<'_>, &mut Vec<i32>) -> Result<R, GemmError>,
    ) -> Result<R, GemmError> {
        let (k, kp) = (self.k(), self.packed.k_padded());
        if x.len() != m * k {
            return Err(GemmError::Input { len: x.len(), m, k });
        }
        SCRATCH.with_borrow_mut(|(q, sums)| {
            // Reused per thread: no allocation (and no page faults) per layer.
            q.resize(m * kp, 0);
            let skip = self.outliers.as_ref().map(|o| o.channels.as_slice()).unwrap_or_default();
            let rows = gemm::with_wide_vectors(Quantize { x, k, kp, q, scheme: self.scheme, skip });
            // The f32 channels' values, gathered per row.
            let (channels, weights) = match &self.outliers {
                Some(o) => (o.channels.as_slice(), o.weights.as_slice()),
                None => (&[][..], &[][..]),
            };
            let mut inputs = Vec::with_capacity(m * channels.len());
            for row in x.chunks_exact(k) {
                inputs.extend(channels.iter().map(|&c| row[c]));
            }
            let deq = gemm::Dequantization {
                row_scales: &rows.scales,
                row_zeros: &rows.zeros,
                col_scales: &self.scales,
                col_sums: &self.scaled_sums,
                channels: channels.len(),
                f32_inputs: &inputs,
                f32_weights: weights,
                gelu_bias,
            };
            gemm(q, &deq, sums)
        })
    }
}

/// Each row's activation scale and zero point, from [`Quantize`].
struct RowScales {
    scales: Vec<f32>,
    zeros: Vec<f32>,
}

/// Quantises every row of `x` (`k` wide) into `q` (`kp` wide): the rows' scales and zero points.
struct Quantize<'a> {
    x: &'a [f32],
    k: usize,
    kp: usize,
    q: &'a mut [u8],
    scheme: Activations,
    /// Channels left out (set to 0 before quantising: computed in `f32`).
    skip: &'a [usize],
}

impl gemm::VectorPass for Quantize<'_> {
    type Output = RowScales;

    #[inline(always)]
    fn run(self) -> RowScales {
        let Quantize { x, k, kp, q, scheme, skip } = self;
        // Plain loops: a closure (as in `.map(…)`) would not be inlined into the wide body.
        let m = x.len() / k.max(1);
        let mut rows = RowScales { scales: Vec::with_capacity(m), zeros: Vec::with_capacity(m) };
        let mut copy = vec![0f32; if skip.is_empty() { 0 } else { k }];
        for (x, q) in x.chunks_exact(k).zip(q.chunks_exact_mut(kp)) {
            let (scale, zero) = if skip.is_empty() {
                quantize_row(x, q, scheme)
            } else {
                copy.copy_from_slice(x);
                for &c in skip {
                    copy[c] = 0.0;
                }
                quantize_row(&copy, q, scheme)
            };
            rows.scales.push(scale);
            rows.zeros.push(zero as f32);
        }
        rows
    }
}

/// Fewest rows one thread takes when a layer's rows are split over threads.
const MIN_ROWS_PER_THREAD: usize = 24;

/// A [`QuantizedLinear`] as a candle op, optionally followed by bias + GELU
/// ([`QuantizedLinear::with_gelu`]).
pub struct Int8Linear<'a> {
    layer: &'a QuantizedLinear,
    gelu_bias: Option<&'a [f32]>,
}

impl CustomOp1 for QuantizedLinear {
    fn name(&self) -> &'static str {
        "rtcx-int8-linear"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        Int8Linear { layer: self, gelu_bias: None }.cpu_fwd(storage, layout)
    }
}

impl CustomOp1 for Int8Linear<'_> {
    fn name(&self) -> &'static str {
        if self.gelu_bias.is_some() { "rtcx-int8-linear-gelu" } else { "rtcx-int8-linear" }
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (layer, gelu_bias) = (self.layer, self.gelu_bias);
        by_rows(self.name(), storage, layout, layer.k(), layer.n(), |x, m| layer.forward(x, m, gelu_bias))
    }
}

/// Two int8 layers with bias + GELU between them, as one candle op
/// ([`QuantizedLinear::feed_forward_op`]).
pub struct FeedForward<'a> {
    first: &'a QuantizedLinear,
    bias: &'a [f32],
    next: &'a QuantizedLinear,
}

impl CustomOp1 for FeedForward<'_> {
    fn name(&self) -> &'static str {
        "rtcx-int8-feed-forward"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (first, bias, next) = (self.first, self.bias, self.next);
        by_rows(self.name(), storage, layout, first.k(), next.n(), |x, m| first.feed_forward(x, m, bias, next))
    }
}

/// The body of the int8 candle ops: `rows(x, m)` maps `m` rows of the contiguous `[m, k]`
/// input (`k` = `width`) to `m · n` outputs. Rows are independent (each token is quantised on
/// its own): with more than one thread in rayon's pool (one instance × several threads),
/// blocks of rows run side by side; the service's single-threaded workers take the first
/// branch.
fn by_rows(
    name: &str,
    storage: &CpuStorage,
    layout: &Layout,
    width: usize,
    n: usize,
    rows: impl Fn(&[f32], usize) -> Result<Vec<f32>, GemmError> + Sync,
) -> candle_core::Result<(CpuStorage, Shape)> {
    let CpuStorage::F32(all) = storage else { bail!("{name}: expects f32") };
    let Some((start, end)) = layout.contiguous_offsets() else { bail!("{name}: expects a contiguous tensor") };
    let (m, k) = layout.shape().dims2()?;
    if k != width {
        bail!("{name}: input width {k}, the layer takes {width}");
    }
    let x = &all[start..end];
    let threads = rayon::current_num_threads();
    let out = if threads <= 1 || m < 2 * MIN_ROWS_PER_THREAD {
        rows(x, m).map_err(candle_core::Error::wrap)?
    } else {
        use rayon::prelude::*;
        let block = m.div_ceil(threads).max(MIN_ROWS_PER_THREAD);
        let parts: Vec<Vec<f32>> = x
            .par_chunks(block * k)
            .map(|x| rows(x, x.len() / k))
            .collect::<Result<_, _>>()
            .map_err(candle_core::Error::wrap)?;
        parts.concat()
    };
    Ok((CpuStorage::F32(out), Shape::from((m, n))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    #[test]
    fn round_to_u8_rounds_half_to_even_on_the_whole_range() {
        for i in 0..=255u16 {
            assert_eq!(round_to_u8(f32::from(i)), i as u8);
            assert_eq!(round_to_u8(f32::from(i) + 0.3), i as u8);
            if i < 255 {
                assert_eq!(round_to_u8(f32::from(i) + 0.7), (i + 1) as u8);
            }
        }
        assert_eq!(round_to_u8(2.5), 2);
        assert_eq!(round_to_u8(3.5), 4);
    }

    #[test]
    fn quantized_rows_reconstruct_within_half_a_step() {
        let mut seed = 3;
        for scheme in [Activations::Asymmetric, Activations::Symmetric] {
            for shift in [0.0, 0.8, -0.8] {
                let x: Vec<f32> = (0..97).map(|_| lcg(&mut seed) * 3.0 + shift).collect();
                let mut q = vec![0u8; 100];
                let (s, z) = quantize_row(&x, &mut q, scheme);
                for (v, q) in x.iter().zip(&q) {
                    let back = s * (i32::from(*q) - z) as f32;
                    assert!((back - v).abs() <= s * 0.5 + 1e-6, "{scheme:?}: {v} → {q} → {back} (step {s})");
                }
                assert_eq!(q[97..], [0, 0, 0], "bytes past the row are left alone");
            }
        }
        // An all-zero row quantises to its zero point, not NaN.
        let mut q = [9u8; 4];
        let (s, z) = quantize_row(&[0.0; 4], &mut q, Activations::Asymmetric);
        assert!(s.is_finite() && q.iter().all(|&q| i32::from(q) == z));
    }

    #[test]
    fn the_int8_layer_is_close_to_the_f32_product() {
        let mut seed = 11;
        let (m, n, k) = (37, 70, 131);
        let w: Vec<f32> = (0..n * k).map(|_| lcg(&mut seed) * 0.1).collect();
        // GELU-like activations: mostly positive, a small negative tail.
        let x: Vec<f32> = (0..m * k).map(|_| (lcg(&mut seed) * 2.0).max(-0.17)).collect();
        for scheme in [Activations::Asymmetric, Activations::Symmetric] {
            let layer = QuantizedLinear::new(&w, n, k, Kernel::detect(), scheme);
            let got = layer.forward(&x, m, None).expect("shapes");
            let (mut err, mut norm) = (0f64, 0f64);
            for i in 0..m {
                for j in 0..n {
                    let want: f32 = (0..k).map(|t| x[i * k + t] * w[j * k + t]).sum();
                    err += f64::from(got[i * n + j] - want).powi(2);
                    norm += f64::from(want).powi(2);
                }
            }
            let rel = (err / norm).sqrt();
            assert!(rel < 0.02, "{scheme:?}: relative error {rel}");
        }
    }

    #[test]
    fn rows_split_over_threads_give_the_single_threaded_result() {
        let mut seed = 5;
        let (m, n, k) = (101, 40, 96);
        let w: Vec<f32> = (0..n * k).map(|_| lcg(&mut seed) * 0.1).collect();
        let x: Vec<f32> = (0..m * k).map(|_| lcg(&mut seed)).collect();
        let layer = QuantizedLinear::with_outliers(&w, n, k, Kernel::detect(), Activations::Asymmetric, &[3, 50]);
        let want = layer.forward(&x, m, None).expect("shapes");
        let threads = rayon::ThreadPoolBuilder::new().num_threads(3).build().expect("thread pool");
        let got = threads
            .install(|| {
                candle_core::Tensor::from_vec(x.clone(), (m, k), &candle_core::Device::Cpu)?
                    .apply_op1_no_bwd(&layer)?
                    .flatten_all()?
                    .to_vec1::<f32>()
            })
            .expect("forward");
        assert_eq!(got, want);
        // With bias + GELU: split or not, the same values; and the exact GELU of the plain
        // layer's output, to float precision.
        let bias: Vec<f32> = (0..n).map(|j| j as f32 * 0.01 - 0.2).collect();
        let fused = layer.forward(&x, m, Some(&bias)).expect("shapes");
        let split = threads
            .install(|| {
                candle_core::Tensor::from_vec(x.clone(), (m, k), &candle_core::Device::Cpu)?
                    .apply_op1_no_bwd(&layer.with_gelu(&bias))?
                    .flatten_all()?
                    .to_vec1::<f32>()
            })
            .expect("forward");
        assert_eq!(split, fused);
        // The feed-forward block equals the two layers run one after the other, split over
        // threads or not, on every kernel this CPU has.
        let down: Vec<f32> = (0..k * n).map(|_| lcg(&mut seed) * 0.1).collect();
        for kernel in [Kernel::Portable, Kernel::Avx2, Kernel::Avx512Vnni].into_iter().filter(|k| k.available()) {
            let first = QuantizedLinear::with_outliers(&w, n, k, kernel, Activations::Asymmetric, &[3, 50]);
            let next = QuantizedLinear::new(&down, k, n, kernel, Activations::Asymmetric);
            let hidden = first.forward(&x, m, Some(&bias)).expect("shapes");
            let want = next.forward(&hidden, m, None).expect("shapes");
            assert_eq!(first.feed_forward(&x, m, &bias, &next).expect("shapes"), want, "{kernel:?}");
            let split = threads
                .install(|| {
                    candle_core::Tensor::from_vec(x.clone(), (m, k), &candle_core::Device::Cpu)?
                        .apply_op1_no_bwd(&first.feed_forward_op(&bias, &next))?
                        .flatten_all()?
                        .to_vec1::<f32>()
                })
                .expect("forward");
            assert_eq!(split, want, "{kernel:?}, split over threads");
        }
        for (e, (&f, &y)) in fused.iter().zip(&want).enumerate() {
            let v = y + bias[e % n];
            let g = crate::kernels::gelu(v);
            assert!((f - g).abs() <= 1e-6 * v.abs().max(1.0), "{f} vs {g}");
        }
    }
}
