//! The int8 GEMM: `out[m, n] = Σ_k a[m, k] · b[n, k]` with `a` unsigned 8-bit (quantised
//! activations), `b` signed 8-bit (quantised weights, packed once by [`PackedB::pack`]) and
//! exact `i32` sums, for the encoder's dense layers (K = 384 and 1 536, M = tokens in the
//! batch, N = 384 … 1 536).
//!
//! Three kernels, one chosen at run time ([`Kernel::detect`]):
//! - [`Kernel::Avx512Vnni`]: `vpdpbusd` (u8 × s8, four products summed into each `i32` lane),
//!   a 6-row × 64-column register tile (24 accumulators);
//! - [`Kernel::Avx2`]: weights sign-extended to `i16` and `vpmaddwd`, exact (`vpmaddubsw` would
//!   saturate `255 · 127 + 255 · 127` in 16 bits, wrong answers on large activations), a 4 × 16
//!   tile of paired partial sums;
//! - [`Kernel::Portable`]: plain Rust over the same packing.
//!
//! The only `unsafe` code of the workspace lives in this module: the intrinsics need it. Every
//! bound is checked by the safe entry point [`gemm`] before a kernel runs, and the kernels read
//! only inside the padded buffers those checks cover (see each `SAFETY:` comment).
#![allow(unsafe_code)]

use std::mem::MaybeUninit;

/// Work whose loops should be compiled for the widest vector instructions this CPU has: a
/// pass of the quantiser, the dequantiser or a fused `f32` kernel ([`crate::kernels`]). Its
/// `run` must be `#[inline(always)]` (and so must any helper its loops call), so that it is
/// compiled into [`with_wide_vectors`]' AVX-512 or AVX2 body; a closure would not be (closures
/// are not forced inline, and were measured running SSE2 code).
pub trait VectorPass {
    type Output;
    fn run(self) -> Self::Output;
}

/// Runs `pass` inside a function compiled for the widest vector instructions this CPU has
/// (AVX-512, else AVX2 + FMA, else the x86-64 baseline), so that its loops are vectorised 16
/// or 8 lanes wide instead of SSE2's 4. Numerically the same: no fast-math and no contraction
/// into FMAs (Rust never contracts), only wider registers.
#[inline]
pub fn with_wide_vectors<P: VectorPass>(pass: P) -> P::Output {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            // SAFETY: the CPU has every feature `wide512` is compiled for (checked above).
            return unsafe { x86::wide512(pass) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA (checked above).
            return unsafe { x86::wide256(pass) };
        }
    }
    pass.run()
}

/// Reductions over `f32` rows (sum, sum of squared deviations, maximum, minimum and maximum)
/// with AVX-512 intrinsics where the CPU has it; `None` elsewhere (the callers
/// then run their portable 16-lane loops). Written by hand because LLVM vectorised those loops
/// *across* their 16-float chunks, with `vgatherdps`, which is slow on Intel cores under the
/// Gather Data Sampling mitigation: the layer norm alone took 23 % of an int8 profile on a
/// Xeon. Each is `#[inline(always)]`, so that its AVX-512 body is inlined into the
/// [`with_wide_vectors`] pass that calls it.
pub mod reduce {
    #[cfg(target_arch = "x86_64")]
    use super::x86;

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn avx512() -> bool {
        std::arch::is_x86_feature_detected!("avx512f")
    }

    /// `Σ x`.
    #[inline(always)]
    pub fn sum(x: &[f32]) -> Option<f32> {
        #[cfg(target_arch = "x86_64")]
        if avx512() {
            // SAFETY: the CPU has AVX-512 F (checked above).
            return Some(unsafe { x86::sum(x) });
        }
        let _ = x;
        None
    }

    /// `Σ (x − mean)²`.
    #[inline(always)]
    pub fn sum_sq_dev(x: &[f32], mean: f32) -> Option<f32> {
        #[cfg(target_arch = "x86_64")]
        if avx512() {
            // SAFETY: the CPU has AVX-512 F (checked above).
            return Some(unsafe { x86::sum_sq_dev(x, mean) });
        }
        let _ = (x, mean);
        None
    }

    /// `max x` (−∞ for an empty slice).
    #[inline(always)]
    pub fn max(x: &[f32]) -> Option<f32> {
        #[cfg(target_arch = "x86_64")]
        if avx512() {
            // SAFETY: the CPU has AVX-512 F (checked above).
            return Some(unsafe { x86::max(x) });
        }
        let _ = x;
        None
    }

    /// `(min(0, min x), max(0, max x))`: the range of `x` widened to include zero.
    #[inline(always)]
    pub fn range_with_zero(x: &[f32]) -> Option<(f32, f32)> {
        #[cfg(target_arch = "x86_64")]
        if avx512() {
            // SAFETY: the CPU has AVX-512 F (checked above).
            return Some(unsafe { x86::range_with_zero(x) });
        }
        let _ = x;
        None
    }
}

/// `q[i] = round(clamp(x[i] · inv + zero, 0, 255))` (ties to even) over the shorter of the
/// two, with AVX-512 where the CPU has it (`false` elsewhere: the caller runs its portable
/// loop). LLVM left the portable loop scalar (a byte store per value): the activations'
/// quantiser took 10 % of an int8 profile.
#[inline(always)]
pub fn quantize_u8(x: &[f32], inv: f32, zero: f32, q: &mut [u8]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512 F (checked above).
        unsafe { x86::quantize_u8(x, inv, zero, q) };
        return true;
    }
    let _ = (x, inv, zero, q);
    false
}

/// `x[i] = gelu(x[i] + bias[i])` (exact GELU, `0.5·v·(1 + erf(v/√2))`, with the rational erf
/// of [`crate::kernels::erf`]) over the shorter of the two, with AVX-512 where the CPU has it
/// (`false` elsewhere: the caller runs its portable loop). The erf's division becomes a
/// reciprocal estimate and one Newton step (the division was half of GELU's time), and the
/// polynomials use FMA.
#[inline(always)]
pub fn bias_gelu(x: &mut [f32], bias: &[f32]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512 F (checked above).
        unsafe { x86::bias_gelu(x, bias) };
        return true;
    }
    let _ = (x, bias);
    false
}

/// The attention kernel's inner loops ([`crate::kernels`]) with AVX-512 intrinsics where the
/// CPU has it (`false` elsewhere: the caller runs its portable loops). The portable loops keep
/// their sums in `[f32; 16]` arrays, and whether LLVM turns those into registers depends on
/// the build: in the release build (thin LTO) it kept them on the stack, one float at a time,
/// and attention took twice its dev-build share. Vector types do not depend on that.
pub mod attention {
    #[cfg(target_arch = "x86_64")]
    use super::x86;

    /// Queries per block, as [`crate::kernels`] lays them out.
    pub const QB: usize = 4;

    /// `scores[r, j] = Σ_c q[c, r] · kt[c, j]` for a block of QB queries `q` (`[d, QB]`) and
    /// keys transposed `kt` (`[d, np]`, `np = scores.len() / QB`, a multiple of 16).
    #[inline(always)]
    pub fn block_scores(q: &[f32], kt: &[f32], scores: &mut [f32]) -> bool {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512 F (checked above).
            unsafe { x86::block_scores(q, kt, scores) };
            return true;
        }
        let _ = (q, kt, scores);
        false
    }

    /// `ctx[r, c] = inv[r] · Σ_{j < n} p[r · np + j] · v[j, c]` for QB queries and a head of
    /// `16 · C` channels (`v` `[n, 16·C]`, `ctx` `[QB, 16·C]`).
    #[inline(always)]
    pub fn block_values<const C: usize>(
        p: &[f32],
        np: usize,
        n: usize,
        v: &[f32],
        inv: &[f32; QB],
        ctx: &mut [f32],
    ) -> bool {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512 F (checked above).
            unsafe { x86::block_values::<C>(p, np, n, v, inv, ctx) };
            return true;
        }
        let _ = (p, np, n, v, inv, ctx);
        false
    }
}

/// Columns per packed panel: four 16-lane AVX-512 vectors.
pub const PANEL: usize = 64;
/// Products per `i32` lane per step (`vpdpbusd`).
pub const GROUP: usize = 4;

/// A GEMM kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// AVX-512 VNNI (`vpdpbusd` on 512-bit vectors).
    Avx512Vnni,
    /// AVX2, exact 16-bit products (`vpmaddwd`).
    Avx2,
    /// Plain Rust, any CPU.
    Portable,
}

impl Kernel {
    /// The fastest kernel this CPU runs.
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512vnni")
            {
                return Kernel::Avx512Vnni;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return Kernel::Avx2;
            }
        }
        Kernel::Portable
    }

    /// Whether this CPU can run the kernel.
    pub fn available(self) -> bool {
        match self {
            Kernel::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512Vnni => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// Its name, for logs and benchmarks.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Avx512Vnni => "avx512-vnni",
            Kernel::Avx2 => "avx2",
            Kernel::Portable => "portable",
        }
    }
}

/// The weights `b` (`[n, k]`, row `j` = output channel `j`), padded with zeros to `np`
/// (a multiple of [`PANEL`]) columns and `kp` (a multiple of [`GROUP`]) and packed panel by
/// panel: for panel `p`, step `g`, column `c` of the panel, the bytes
/// `b[64p + c, 4g .. 4g + 4]` at `((p · kp/4 + g) · 64 + c) · 4`. One step of a panel is 256
/// contiguous bytes: four 64-byte vectors of 16 columns × 4 products.
#[derive(Debug, Clone)]
pub struct PackedB {
    data: Vec<i8>,
    n: usize,
    k: usize,
    np: usize,
    kp: usize,
}

impl PackedB {
    /// Packs `b` (`n` rows of `k` values).
    ///
    /// # Panics
    /// If `b.len() != n · k` (a programming error: the caller builds `b` from a weight matrix
    /// of that shape).
    pub fn pack(b: &[i8], n: usize, k: usize) -> Self {
        assert_eq!(b.len(), n * k, "PackedB::pack: {} values for {n} × {k}", b.len());
        let np = n.div_ceil(PANEL) * PANEL;
        let kp = k.div_ceil(GROUP) * GROUP;
        let steps = kp / GROUP;
        let mut data = vec![0i8; np * kp];
        for j in 0..n {
            let (p, c) = (j / PANEL, j % PANEL);
            for kk in 0..k {
                let (g, e) = (kk / GROUP, kk % GROUP);
                data[((p * steps + g) * PANEL + c) * GROUP + e] = b[j * k + kk];
            }
        }
        Self { data, n, k, np, kp }
    }

    /// Output channels.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Inner dimension.
    pub fn k(&self) -> usize {
        self.k
    }

    /// The inner dimension padded to a multiple of [`GROUP`]: the row stride `a` needs.
    pub fn k_padded(&self) -> usize {
        self.kp
    }
}

/// Why [`gemm`] refused its arguments.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GemmError {
    #[error("int8 gemm: a has {len} bytes, {m} rows of {kp} need {need}")]
    A { len: usize, m: usize, kp: usize, need: usize },
    #[error("int8 gemm: out has {len} values, {m} × {n} need {need}")]
    Out { len: usize, m: usize, n: usize, need: usize },
    #[error("int8 gemm: the {0} kernel does not run on this CPU")]
    Unavailable(&'static str),
    #[error("int8 gemm: scales for {rows} rows and {cols} columns, the product is {m} × {n}")]
    Scales { rows: usize, cols: usize, m: usize, n: usize },
    #[error("int8 gemm: a bias of {len} values for {n} columns")]
    Bias { len: usize, n: usize },
    #[error("int8 layer: an input of {len} values is not {m} rows of {k}")]
    Input { len: usize, m: usize, k: usize },
    #[error("int8 gemm: {channels} f32 channels with {inputs} inputs and {weights} weights")]
    F32Channels { channels: usize, inputs: usize, weights: usize },
}

/// `out[i · n + j] = Σ_k a[i · kp + k] · b[j, k]` for `i < m`, `j < b.n()`, where `kp` is
/// `b.k_padded()` (the bytes of `a` past `k` in each row are multiplied by zero weights, so
/// any value is fine there).
pub fn gemm(kernel: Kernel, a: &[u8], m: usize, b: &PackedB, out: &mut [i32]) -> Result<(), GemmError> {
    check(kernel, a, m, b, out.len())?;
    run(kernel, a, m, b, &mut Sink::I32(out));
    Ok(())
}

/// How a GEMM's exact `i32` sums become `f32` outputs (the int8 layer's dequantisation):
/// `out[i, j] = row_scales[i] · (col_scales[j] · sum[i, j] − row_zeros[i] · col_sums[j])`,
/// then `+= f32_inputs[i, t] · f32_weights[t, j]` for each input channel `t` kept in `f32`,
/// in turn, then optionally bias + GELU.
#[derive(Debug, Clone, Copy)]
pub struct Dequantization<'a> {
    /// Per row of `a`: the activations' scale.
    pub row_scales: &'a [f32],
    /// Per row of `a`: the activations' zero point.
    pub row_zeros: &'a [f32],
    /// Per column (output channel): the weights' scale.
    pub col_scales: &'a [f32],
    /// Per column: the weights' scale times the sum of its quantised weights.
    pub col_sums: &'a [f32],
    /// Input channels computed in `f32` (none: 0).
    pub channels: usize,
    /// Their values, `channels` per row of `a`.
    pub f32_inputs: &'a [f32],
    /// Their weights, `channels` rows of `n`.
    pub f32_weights: &'a [f32],
    /// When set, each output becomes `gelu(y + gelu_bias[j])` (`n` values): the bias and
    /// activation of the intermediate layer, applied while the value is in a register.
    pub gelu_bias: Option<&'a [f32]>,
}

/// [`gemm`] followed by `deq`, into `f32` `out` (`m · n`). The AVX-512 VNNI kernel
/// dequantises each tile in registers, so the `i32` sums never reach memory; the other kernels
/// write them to `sums` (resized as needed, reused between calls) and dequantise after.
pub fn gemm_dequantized(
    kernel: Kernel,
    a: &[u8],
    m: usize,
    b: &PackedB,
    deq: &Dequantization<'_>,
    sums: &mut Vec<i32>,
    out: &mut [f32],
) -> Result<(), GemmError> {
    check(kernel, a, m, b, out.len())?;
    check_scales(m, b.n, deq)?;
    if kernel == Kernel::Avx512Vnni {
        run(kernel, a, m, b, &mut Sink::F32 { out: write_only(out), deq });
        return Ok(());
    }
    sums.resize(m * b.n, 0);
    run(kernel, a, m, b, &mut Sink::I32(sums));
    with_wide_vectors(DequantizeRows { deq, sums, out, n: b.n });
    Ok(())
}

/// [`gemm_dequantized`] into a new vector of `m · n` values. With the AVX-512 VNNI kernel the
/// vector is not zero-filled first, since the tiles write every value: zeroing the outputs
/// cost ~5 % of an int8 profile.
pub fn gemm_dequantized_vec(
    kernel: Kernel,
    a: &[u8],
    m: usize,
    b: &PackedB,
    deq: &Dequantization<'_>,
    sums: &mut Vec<i32>,
) -> Result<Vec<f32>, GemmError> {
    let len = m.saturating_mul(b.n);
    if kernel != Kernel::Avx512Vnni {
        let mut out = vec![0f32; len];
        gemm_dequantized(kernel, a, m, b, deq, sums, &mut out)?;
        return Ok(out);
    }
    check(kernel, a, m, b, len)?;
    check_scales(m, b.n, deq)?;
    let mut out = Vec::<f32>::with_capacity(len);
    run(kernel, a, m, b, &mut Sink::F32 { out: &mut out.spare_capacity_mut()[..len], deq });
    // SAFETY: the VNNI kernel wrote all `m · n` values: its row blocks cover rows `0 .. m`,
    // its panels columns `0 .. np` (np ≥ n), and each tile's masked stores exactly the columns
    // below `n` of its sixteen (`lane_mask`); `len ≤ capacity`.
    unsafe { out.set_len(len) };
    Ok(out)
}

/// What [`gemm_dequantized_rows`] hands each block of rows to: `(first row, [rows, n])`.
pub type RowBlocks<'a> = dyn FnMut(usize, &[f32]) + 'a;

/// Rows per block of the AVX-512 VNNI kernel (four 6-row tiles): within a block it runs panel
/// by panel, so a panel of weights is read from L2 once per 24 rows instead of once per tile.
/// Measured on m = 480 rows (`int8` section of docs/benchmarks.md): 165–180 GMAC/s for
/// all the weights per tile, 230–310 for blocks of 24 (12, 36, 48 and 96 rows were slower).
/// Also the blocks of [`gemm_dequantized_rows`].
pub const ROW_BLOCK: usize = 24;

/// [`gemm_dequantized`] without an `m × n` output: each block of finished rows (at most
/// [`ROW_BLOCK`], dequantised, with the epilogue) is handed to `each(first_row, rows)` as
/// `[rows, n]` while it is in cache. The feed-forward block quantises the intermediate layer's
/// activations for the next layer this way, instead of writing them out in `f32` and reading
/// them back twice (range, then quantisation). `block` is scratch, reused between calls.
#[allow(clippy::too_many_arguments)]
pub fn gemm_dequantized_rows(
    kernel: Kernel,
    a: &[u8],
    m: usize,
    b: &PackedB,
    deq: &Dequantization<'_>,
    sums: &mut Vec<i32>,
    block: &mut Vec<f32>,
    each: &mut RowBlocks<'_>,
) -> Result<(), GemmError> {
    let n = b.n;
    if kernel != Kernel::Avx512Vnni {
        block.resize(m * n, 0.0);
        gemm_dequantized(kernel, a, m, b, deq, sums, &mut block[..m * n])?;
        for (i, rows) in block[..m * n].chunks(ROW_BLOCK * n.max(1)).enumerate() {
            each(i * ROW_BLOCK, rows);
        }
        return Ok(());
    }
    check(kernel, a, m, b, m.saturating_mul(n))?;
    check_scales(m, n, deq)?;
    block.resize(ROW_BLOCK * n, 0.0);
    run(kernel, a, m, b, &mut Sink::Rows { block: write_only(block), deq, each });
    Ok(())
}

/// Initialised `f32`s as the write-only view the dequantising sinks take.
fn write_only(out: &mut [f32]) -> &mut [MaybeUninit<f32>] {
    // SAFETY: `MaybeUninit<f32>` has the layout of `f32`, and the sinks only ever write
    // initialised values through this view (never uninitialised ones), so `out` stays valid
    // `f32`s.
    unsafe { &mut *(std::ptr::from_mut::<[f32]>(out) as *mut [MaybeUninit<f32>]) }
}

/// The bounds a dequantising sink relies on: scales for `m` rows and `n` columns, and the
/// `f32` channels' values and weights.
fn check_scales(m: usize, n: usize, deq: &Dequantization<'_>) -> Result<(), GemmError> {
    let rows = deq.row_scales.len().min(deq.row_zeros.len());
    let cols = deq.col_scales.len().min(deq.col_sums.len());
    if rows < m || cols < n {
        return Err(GemmError::Scales { rows, cols, m, n });
    }
    let t = deq.channels;
    if deq.f32_inputs.len() < m.saturating_mul(t) || deq.f32_weights.len() < t.saturating_mul(n) {
        return Err(GemmError::F32Channels {
            channels: t,
            inputs: deq.f32_inputs.len(),
            weights: deq.f32_weights.len(),
        });
    }
    if let Some(bias) = deq.gelu_bias
        && bias.len() < n
    {
        return Err(GemmError::Bias { len: bias.len(), n });
    }
    Ok(())
}

/// Dequantises `i32` sums written by a kernel that does not do it in registers.
struct DequantizeRows<'a, 'd> {
    deq: &'a Dequantization<'d>,
    sums: &'a [i32],
    out: &'a mut [f32],
    n: usize,
}

impl VectorPass for DequantizeRows<'_, '_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let DequantizeRows { deq, sums, out, n } = self;
        let t = deq.channels;
        let rows = deq.row_scales.iter().zip(deq.row_zeros);
        for (i, ((out, sums), (&sx, &z))) in out.chunks_exact_mut(n).zip(sums.chunks_exact(n)).zip(rows).enumerate() {
            // The operations of the AVX-512 tile's in-register dequantisation, in its order.
            for (((o, &acc), &sw), &ss) in out.iter_mut().zip(sums).zip(deq.col_scales).zip(deq.col_sums) {
                *o = sx * (sw * acc as f32 - z * ss);
            }
            for (&v, w) in deq.f32_inputs[i * t..(i + 1) * t].iter().zip(deq.f32_weights.chunks_exact(n)) {
                for (o, &w) in out.iter_mut().zip(w) {
                    *o += v * w;
                }
            }
            if let Some(bias) = deq.gelu_bias {
                crate::kernels::bias_gelu_row(out, bias);
            }
        }
    }
}

/// Where a GEMM's sums go: `i32` rows of `n`, or dequantised `f32` rows of `n`.
enum Sink<'a, 'd> {
    I32(&'a mut [i32]),
    /// Written, never read: possibly uninitialised memory ([`gemm_dequantized_vec`]).
    F32 {
        out: &'a mut [MaybeUninit<f32>],
        deq: &'a Dequantization<'d>,
    },
    /// Dequantised rows into `block` (≥ ROW_BLOCK · n values), handed to `each` a row block
    /// at a time ([`gemm_dequantized_rows`]).
    Rows {
        block: &'a mut [MaybeUninit<f32>],
        deq: &'a Dequantization<'d>,
        each: &'a mut RowBlocks<'a>,
    },
}

/// The bounds every kernel relies on: `a` holds `m` rows of `kp`, the output `m · n` values,
/// and the kernel runs on this CPU.
fn check(kernel: Kernel, a: &[u8], m: usize, b: &PackedB, out_len: usize) -> Result<(), GemmError> {
    let (n, kp) = (b.n, b.kp);
    let need = m.saturating_mul(kp);
    if a.len() < need {
        return Err(GemmError::A { len: a.len(), m, kp, need });
    }
    let need = m.saturating_mul(n);
    if out_len < need {
        return Err(GemmError::Out { len: out_len, m, n, need });
    }
    if !kernel.available() {
        return Err(GemmError::Unavailable(kernel.name()));
    }
    debug_assert_eq!(b.data.len(), b.np * kp);
    Ok(())
}

/// Runs `kernel` after [`check`] (and, for [`Sink::F32`], the scales' lengths) passed.
fn run(kernel: Kernel, a: &[u8], m: usize, b: &PackedB, sink: &mut Sink<'_, '_>) {
    match (kernel, sink) {
        (Kernel::Portable, Sink::I32(out)) => portable(a, m, b, out),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX-512 F/BW/VNNI (`check` called `available`), `a` holds
        // `m · kp` bytes and the sink `m · n` values (checked by `check`), a dequantising
        // sink has scales for `m` rows and `n` columns (checked by `gemm_dequantized`), and
        // `b.data` holds `np · kp` bytes by construction (`PackedB::pack`).
        (Kernel::Avx512Vnni, sink) => unsafe { x86::vnni(a, m, b, sink) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, with AVX2.
        (Kernel::Avx2, Sink::I32(out)) => unsafe { x86::avx2(a, m, b, out) },
        _ => unreachable!("only the AVX-512 VNNI kernel dequantises in place; elsewhere available() is false"),
    }
}

fn portable(a: &[u8], m: usize, b: &PackedB, out: &mut [i32]) {
    let (n, kp) = (b.n, b.kp);
    let steps = kp / GROUP;
    for i in 0..m {
        let row = &a[i * kp..(i + 1) * kp];
        for j in 0..n {
            let (p, c) = (j / PANEL, j % PANEL);
            let mut acc = 0i32;
            for g in 0..steps {
                let w = &b.data[((p * steps + g) * PANEL + c) * GROUP..][..GROUP];
                for e in 0..GROUP {
                    acc += i32::from(row[g * GROUP + e]) * i32::from(w[e]);
                }
            }
            out[i * n + j] = acc;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use std::mem::MaybeUninit;

    use super::{Dequantization, GROUP, PANEL, PackedB, Sink};

    /// Rows per AVX-512 tile.
    const MR: usize = 6;

    /// Sixteen floats as one vector.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn load16(c: &[f32; 16]) -> __m512 {
        // SAFETY: `c` is 16 floats, the 64 bytes the unaligned load reads.
        unsafe { _mm512_loadu_ps(c.as_ptr()) }
    }

    /// # Safety
    /// The CPU has AVX-512 F.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(super) unsafe fn bias_gelu(x: &mut [f32], bias: &[f32]) {
        let n = x.len().min(bias.len());
        let ((xc, xt), (bc, bt)) = (x[..n].as_chunks_mut::<16>(), bias[..n].as_chunks::<16>());
        for (x, b) in xc.iter_mut().zip(bc) {
            let y = gelu16(_mm512_add_ps(load16(x), load16(b)));
            // SAFETY: `x` is 16 floats, the 64 bytes the unaligned store writes.
            unsafe { _mm512_storeu_ps(x.as_mut_ptr(), y) };
        }
        for (x, &b) in xt.iter_mut().zip(bt) {
            *x = crate::kernels::gelu(*x + b);
        }
    }

    /// Exact GELU of sixteen values: `0.5·v·(1 + erf(v/√2))` with the rational erf of
    /// [`crate::kernels::erf`], its polynomials by FMA and `1/Q` as a 14-bit reciprocal
    /// estimate plus one Newton step (≈ 28 bits) instead of a division.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn gelu16(v: __m512) -> __m512 {
        use crate::kernels::{ERF_P, ERF_Q};
        let t = _mm512_mul_ps(v, _mm512_set1_ps(std::f32::consts::FRAC_1_SQRT_2));
        let t = _mm512_min_ps(_mm512_max_ps(t, _mm512_set1_ps(-4.0)), _mm512_set1_ps(4.0));
        let t2 = _mm512_mul_ps(t, t);
        let mut p = _mm512_set1_ps(ERF_P[0]);
        for &c in &ERF_P[1..] {
            p = _mm512_fmadd_ps(t2, p, _mm512_set1_ps(c));
        }
        let mut q = _mm512_set1_ps(ERF_Q[0]);
        for &c in &ERF_Q[1..] {
            q = _mm512_fmadd_ps(t2, q, _mm512_set1_ps(c));
        }
        let r = _mm512_rcp14_ps(q);
        let r = _mm512_mul_ps(r, _mm512_fnmadd_ps(q, r, _mm512_set1_ps(2.0)));
        let erf = _mm512_mul_ps(_mm512_mul_ps(t, p), r);
        _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5), v), _mm512_add_ps(_mm512_set1_ps(1.0), erf))
    }

    /// Sixteen floats stored.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn store16(c: &mut [f32; 16], v: __m512) {
        // SAFETY: `c` is 16 floats, the 64 bytes the unaligned store writes.
        unsafe { _mm512_storeu_ps(c.as_mut_ptr(), v) }
    }

    /// # Safety
    /// The CPU has AVX-512 F.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(super) unsafe fn block_scores(q: &[f32], kt: &[f32], scores: &mut [f32]) {
        use super::attention::QB;
        let np = scores.len() / QB;
        let (q, _) = q.as_chunks::<QB>();
        for kb in 0..np / 16 {
            let mut acc = [_mm512_setzero_ps(); QB];
            for (c, qc) in q.iter().enumerate() {
                let (keys, _) = kt[c * np..(c + 1) * np].as_chunks::<16>();
                let k = load16(&keys[kb]);
                for r in 0..QB {
                    acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(qc[r]), k, acc[r]);
                }
            }
            for (r, acc) in acc.iter().enumerate() {
                let (row, _) = scores[r * np..(r + 1) * np].as_chunks_mut::<16>();
                store16(&mut row[kb], *acc);
            }
        }
    }

    /// # Safety
    /// The CPU has AVX-512 F.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(super) unsafe fn block_values<const C: usize>(
        p: &[f32],
        np: usize,
        n: usize,
        v: &[f32],
        inv: &[f32; super::attention::QB],
        ctx: &mut [f32],
    ) {
        use super::attention::QB;
        let d = 16 * C;
        let mut acc = [[_mm512_setzero_ps(); C]; QB];
        let (values, _) = v[..n * d].as_chunks::<16>();
        for j in 0..n {
            let mut w = [_mm512_setzero_ps(); QB];
            for (r, w) in w.iter_mut().enumerate() {
                *w = _mm512_set1_ps(p[r * np + j]);
            }
            for ch in 0..C {
                let vv = load16(&values[j * C + ch]);
                for r in 0..QB {
                    acc[r][ch] = _mm512_fmadd_ps(w[r], vv, acc[r][ch]);
                }
            }
        }
        let (out, _) = ctx[..QB * d].as_chunks_mut::<16>();
        for r in 0..QB {
            let scale = _mm512_set1_ps(inv[r]);
            for ch in 0..C {
                store16(&mut out[r * C + ch], _mm512_mul_ps(acc[r][ch], scale));
            }
        }
    }

    /// # Safety
    /// The CPU has AVX-512 F.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(super) unsafe fn quantize_u8(x: &[f32], inv: f32, zero: f32, q: &mut [u8]) {
        let n = x.len().min(q.len());
        let ((xc, xt), (qc, qt)) = (x[..n].as_chunks::<16>(), q[..n].as_chunks_mut::<16>());
        let (vinv, vzero) = (_mm512_set1_ps(inv), _mm512_set1_ps(zero));
        let (lo, hi) = (_mm512_setzero_ps(), _mm512_set1_ps(255.0));
        for (x, q) in xc.iter().zip(qc) {
            // As the portable loop: a multiply and an add (no FMA), clamped, rounded to
            // nearest even (the default MXCSR mode); every value fits a byte, so the
            // truncating narrow is exact.
            let v = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(_mm512_mul_ps(load16(x), vinv), vzero), lo), hi);
            let bytes = _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(v));
            // SAFETY: `q` is 16 bytes, the 16 the unaligned store writes.
            unsafe { _mm_storeu_si128(q.as_mut_ptr().cast(), bytes) };
        }
        for (q, &v) in qt.iter_mut().zip(xt) {
            *q = ((v * inv + zero).clamp(0.0, 255.0) + 12_582_912.0).to_bits() as u8;
        }
    }

    /// # Safety
    /// The CPU has AVX-512 F.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(super) unsafe fn sum(x: &[f32]) -> f32 {
        let (chunks, tail) = x.as_chunks::<16>();
        let mut acc = _mm512_setzero_ps();
        for c in chunks {
            acc = _mm512_add_ps(acc, load16(c));
        }
        _mm512_reduce_add_ps(acc) + tail.iter().sum::<f32>()
    }

    /// # Safety
    /// The CPU has AVX-512 F.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(super) unsafe fn sum_sq_dev(x: &[f32], mean: f32) -> f32 {
        let (chunks, tail) = x.as_chunks::<16>();
        let (mut acc, m) = (_mm512_setzero_ps(), _mm512_set1_ps(mean));
        for c in chunks {
            let d = _mm512_sub_ps(load16(c), m);
            acc = _mm512_add_ps(acc, _mm512_mul_ps(d, d));
        }
        _mm512_reduce_add_ps(acc) + tail.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>()
    }

    /// # Safety
    /// The CPU has AVX-512 F.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(super) unsafe fn max(x: &[f32]) -> f32 {
        let (chunks, tail) = x.as_chunks::<16>();
        let mut acc = _mm512_set1_ps(f32::NEG_INFINITY);
        for c in chunks {
            acc = _mm512_max_ps(acc, load16(c));
        }
        tail.iter().fold(_mm512_reduce_max_ps(acc), |m, &v| m.max(v))
    }

    /// # Safety
    /// The CPU has AVX-512 F.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(super) unsafe fn range_with_zero(x: &[f32]) -> (f32, f32) {
        let (chunks, tail) = x.as_chunks::<16>();
        let (mut lo, mut hi) = (_mm512_setzero_ps(), _mm512_setzero_ps());
        for c in chunks {
            let v = load16(c);
            lo = _mm512_min_ps(lo, v);
            hi = _mm512_max_ps(hi, v);
        }
        tail.iter().fold((_mm512_reduce_min_ps(lo), _mm512_reduce_max_ps(hi)), |(l, h), &v| (l.min(v), h.max(v)))
    }

    /// `pass`, compiled (its `run` inlined) with AVX-512 enabled.
    ///
    /// # Safety
    /// The CPU has AVX-512 F, BW, DQ and VL.
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
    pub(super) unsafe fn wide512<P: super::VectorPass>(pass: P) -> P::Output {
        pass.run()
    }

    /// `pass`, compiled (its `run` inlined) with AVX2 and FMA enabled.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn wide256<P: super::VectorPass>(pass: P) -> P::Output {
        pass.run()
    }

    /// # Safety
    /// The CPU has AVX-512 F, BW and VNNI; `a.len() >= m · b.kp`, `out` holds `m · b.n`
    /// values (and, if it dequantises, scales for `m` rows and `b.n` columns),
    /// `b.data.len() == b.np · b.kp`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn vnni(a: &[u8], m: usize, b: &PackedB, out: &mut Sink<'_, '_>) {
        let n = b.n;
        // SAFETY: the caller's bounds, passed on.
        unsafe {
            match out {
                Sink::I32(out) => vnni_into(a, m, b, &mut SumStore { out, n }),
                Sink::F32 { out, deq } => {
                    vnni_into(a, m, b, &mut DequantizedStore { out, n, deq, first: 0, each: None })
                }
                Sink::Rows { block, deq, each } => {
                    vnni_into(a, m, b, &mut DequantizedStore { out: block, n, deq, first: 0, each: Some(&mut **each) })
                }
            }
        }
    }

    /// # Safety
    /// As [`vnni`], for the product `store` writes.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn vnni_into<S: TileStore>(a: &[u8], m: usize, b: &PackedB, out: &mut S) {
        // Blocks of ROW_BLOCK rows; within one, panel by panel (see `ROW_BLOCK`).
        const RB: usize = super::ROW_BLOCK;
        let mut i0 = 0;
        while i0 < m {
            let end = (i0 + RB).min(m);
            for p in 0..b.np / PANEL {
                let mut i = i0;
                while i < end {
                    let rows = (end - i).min(MR);
                    // SAFETY: rows `i .. i + rows` are below `end ≤ m`, panel `p` below
                    // `np / 64`; the caller's bounds cover every access of `tile` (see there).
                    unsafe {
                        match rows {
                            6 => tile_vnni::<6, S>(a, i, b, p, out),
                            5 => tile_vnni::<5, S>(a, i, b, p, out),
                            4 => tile_vnni::<4, S>(a, i, b, p, out),
                            3 => tile_vnni::<3, S>(a, i, b, p, out),
                            2 => tile_vnni::<2, S>(a, i, b, p, out),
                            _ => tile_vnni::<1, S>(a, i, b, p, out),
                        }
                    }
                    i += rows;
                }
            }
            out.rows_done(i0, end - i0);
            i0 = end;
        }
    }

    /// Lanes of `out` row part `[col, col + 16)` that are real columns (`< n`).
    #[inline(always)]
    fn lane_mask(col: usize, n: usize) -> u16 {
        if col + 16 <= n {
            u16::MAX
        } else if col >= n {
            0
        } else {
            (1u16 << (n - col)) - 1
        }
    }

    /// One `R × 64` tile: rows `i0 .. i0 + R` of `a`, panel `p` of `b`.
    ///
    /// # Safety
    /// AVX-512 F/BW/VNNI; `i0 + R <= m`; `p < b.np / 64`; the slices as for [`vnni`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn tile_vnni<const R: usize, S: TileStore>(a: &[u8], i0: usize, b: &PackedB, p: usize, out: &mut S) {
        let (n, kp) = (b.n, b.kp);
        let steps = kp / GROUP;
        let mut acc = [[_mm512_setzero_si512(); 4]; R];
        let panel = b.data.as_ptr().wrapping_add(p * steps * PANEL * GROUP);
        let mut rows = [a.as_ptr(); R];
        for (r, row) in rows.iter_mut().enumerate() {
            *row = a.as_ptr().wrapping_add((i0 + r) * kp);
        }
        for g in 0..steps {
            // SAFETY: step `g < kp / 4` of panel `p < np / 64` is the 256 bytes at
            // `(p · kp/4 + g) · 256 < np · kp = b.data.len()`; the four loads read them.
            let at = panel.wrapping_add(g * PANEL * GROUP);
            let w: [__m512i; 4] = unsafe {
                [
                    _mm512_loadu_si512(at.cast()),
                    _mm512_loadu_si512(at.wrapping_add(64).cast()),
                    _mm512_loadu_si512(at.wrapping_add(128).cast()),
                    _mm512_loadu_si512(at.wrapping_add(192).cast()),
                ]
            };
            for r in 0..R {
                // SAFETY: row `i0 + r < m` of `a` spans `kp` bytes inside `a` (the caller
                // checked `a.len() >= m · kp`); bytes `4g .. 4g + 4` are in it as `g < kp / 4`.
                let x = unsafe { _mm512_set1_epi32(rows[r].wrapping_add(g * GROUP).cast::<i32>().read_unaligned()) };
                for v in 0..4 {
                    acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], x, w[v]);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            for (v, &acc) in acc.iter().enumerate() {
                let col = p * PANEL + v * 16;
                let mask = lane_mask(col, n);
                if mask != 0 {
                    // SAFETY: row `i0 + r < m`, the masked lanes are columns `col .. min(col +
                    // 16, n)`: the bounds `TileStore::put` needs.
                    unsafe { out.put(i0 + r, col, mask, acc) };
                }
            }
        }
    }

    /// Where a tile's sums go: one 16-lane vector of row `i`, columns `col ..`, at a time.
    pub(super) trait TileStore {
        /// Writes the lanes of `mask`.
        ///
        /// # Safety
        /// AVX-512 F; `i < m`, and the masked lanes are columns below `n`, for the `m × n`
        /// product whose bounds were checked when the store was made.
        unsafe fn put(&mut self, i: usize, col: usize, mask: u16, acc: __m512i);

        /// Rows `i0 .. i0 + rows` are complete (every panel stored).
        fn rows_done(&mut self, _i0: usize, _rows: usize) {}
    }

    /// `i32` sums, rows of `n`.
    pub(super) struct SumStore<'a> {
        pub out: &'a mut [i32],
        pub n: usize,
    }

    impl TileStore for SumStore<'_> {
        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn put(&mut self, i: usize, col: usize, mask: u16, acc: __m512i) {
            // SAFETY: the masked lanes are columns `col .. min(col + 16, n)` of row `i < m`,
            // inside `out` (`check` verified `out.len() >= m · n`); masked-off lanes are not
            // written.
            unsafe { _mm512_mask_storeu_epi32(self.out.as_mut_ptr().wrapping_add(i * self.n + col).cast(), mask, acc) };
        }
    }

    /// Dequantised `f32` values, rows of `n`: all `m` rows (`each` unset), or the current
    /// block of at most `ROW_BLOCK` rows, starting at row `first`, handed to `each` when done.
    pub(super) struct DequantizedStore<'a, 'd> {
        pub out: &'a mut [MaybeUninit<f32>],
        pub n: usize,
        pub deq: &'a Dequantization<'d>,
        pub first: usize,
        pub each: Option<&'a mut super::RowBlocks<'a>>,
    }

    impl TileStore for DequantizedStore<'_, '_> {
        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn put(&mut self, i: usize, col: usize, mask: u16, acc: __m512i) {
            let deq = self.deq;
            let (sx, z) = (_mm512_set1_ps(deq.row_scales[i]), _mm512_set1_ps(deq.row_zeros[i]));
            // SAFETY: the masked lanes are columns `col .. min(col + 16, n)`: inside
            // `col_scales` and `col_sums` (both ≥ n long, checked by `gemm_dequantized`), and of
            // row `i − first` inside `out` (all rows: `first` = 0, `i < m` and `out` ≥ m · n,
            // checked by `check`; a row block: `first ≤ i < first + ROW_BLOCK` and `out` ≥
            // ROW_BLOCK · n, sized by `gemm_dequantized_rows`); masked-off lanes are neither
            // read nor written. The f32 channels' weights and the bias: see below.
            unsafe {
                let sw = _mm512_maskz_loadu_ps(mask, deq.col_scales.as_ptr().wrapping_add(col));
                let ss = _mm512_maskz_loadu_ps(mask, deq.col_sums.as_ptr().wrapping_add(col));
                // `sx · (sw · acc − z · ss)`, then each f32 channel's product, as
                // `DequantizeRows` computes them.
                let mut y =
                    _mm512_mul_ps(sx, _mm512_sub_ps(_mm512_mul_ps(sw, _mm512_cvtepi32_ps(acc)), _mm512_mul_ps(z, ss)));
                for t in 0..deq.channels {
                    // Row `t` of the weights, columns `col .. min(col + 16, n)`: inside
                    // `channels · n ≤ f32_weights.len()` (checked by `gemm_dequantized`).
                    let w = _mm512_maskz_loadu_ps(mask, deq.f32_weights.as_ptr().wrapping_add(t * self.n + col));
                    y = _mm512_add_ps(y, _mm512_mul_ps(_mm512_set1_ps(deq.f32_inputs[i * deq.channels + t]), w));
                }
                if let Some(bias) = deq.gelu_bias {
                    // Columns `col .. min(col + 16, n)` of the bias: inside its `≥ n` values
                    // (checked by `gemm_dequantized`).
                    y = gelu16(_mm512_add_ps(y, _mm512_maskz_loadu_ps(mask, bias.as_ptr().wrapping_add(col))));
                }
                let row = i - self.first;
                _mm512_mask_storeu_ps(self.out.as_mut_ptr().cast::<f32>().wrapping_add(row * self.n + col), mask, y);
            }
        }

        fn rows_done(&mut self, i0: usize, rows: usize) {
            let Some(each) = self.each.as_mut() else { return };
            let len = (rows * self.n).min(self.out.len());
            // SAFETY: a store with `each` views a block of initialised `f32`s (the `Vec<f32>`
            // that `gemm_dequantized_rows` resized), `len` of them; and every panel of rows
            // `i0 .. i0 + rows` was stored before this call (`vnni_into` calls it after the
            // last), each tile writing every column below `n` (`lane_mask`).
            let block = unsafe { std::slice::from_raw_parts(self.out.as_ptr().cast::<f32>(), len) };
            each(i0, block);
            self.first = i0 + rows;
        }
    }

    /// Rows per AVX2 tile.
    const MR2: usize = 4;

    /// # Safety
    /// The CPU has AVX2; the slices as for [`vnni`].
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn avx2(a: &[u8], m: usize, b: &PackedB, out: &mut [i32]) {
        let mut i = 0;
        while i < m {
            let rows = (m - i).min(MR2);
            // Sixteen columns at a time: a quarter of a panel.
            for q in 0..b.np / 16 {
                // SAFETY: as in `vnni`.
                unsafe {
                    match rows {
                        4 => tile_avx2::<4>(a, i, b, q, out),
                        3 => tile_avx2::<3>(a, i, b, q, out),
                        2 => tile_avx2::<2>(a, i, b, q, out),
                        _ => tile_avx2::<1>(a, i, b, q, out),
                    }
                }
            }
            i += rows;
        }
    }

    /// One `R × 16` tile: rows `i0 .. i0 + R`, columns `16q .. 16q + 16`. Each 16-byte load
    /// of weights (4 columns × 4 products) is widened to `i16` and multiplied with the row's
    /// four activations by `vpmaddwd`, giving two partial sums per column, added up at the end.
    ///
    /// # Safety
    /// AVX2; `i0 + R <= m`; `q < b.np / 16`; the slices as for [`vnni`].
    #[target_feature(enable = "avx2")]
    unsafe fn tile_avx2<const R: usize>(a: &[u8], i0: usize, b: &PackedB, q: usize, out: &mut [i32]) {
        let (n, kp) = (b.n, b.kp);
        let steps = kp / GROUP;
        let (p, part) = (q / 4, q % 4);
        // acc[r][h]: columns 4h .. 4h + 4 of the 16, two partial sums each.
        let mut acc = [[_mm256_setzero_si256(); 4]; R];
        let panel = b.data.as_ptr().wrapping_add(p * steps * PANEL * GROUP + part * 16 * GROUP);
        let mut rows = [a.as_ptr(); R];
        for (r, row) in rows.iter_mut().enumerate() {
            *row = a.as_ptr().wrapping_add((i0 + r) * kp);
        }
        for g in 0..steps {
            // SAFETY: the 64 bytes of columns `16q .. 16q + 16` at step `g` lie inside the
            // step's 256 bytes, inside `b.data` (as in `tile_vnni`).
            let at = panel.wrapping_add(g * PANEL * GROUP);
            let w: [__m256i; 4] = unsafe {
                [
                    _mm256_cvtepi8_epi16(_mm_loadu_si128(at.cast())),
                    _mm256_cvtepi8_epi16(_mm_loadu_si128(at.wrapping_add(16).cast())),
                    _mm256_cvtepi8_epi16(_mm_loadu_si128(at.wrapping_add(32).cast())),
                    _mm256_cvtepi8_epi16(_mm_loadu_si128(at.wrapping_add(48).cast())),
                ]
            };
            for r in 0..R {
                // SAFETY: bytes `4g .. 4g + 4` of row `i0 + r < m`, inside `a` (as in `tile_vnni`).
                let four = unsafe { rows[r].wrapping_add(g * GROUP).cast::<u32>().read_unaligned() };
                // The four activations as i16, repeated for the four columns of a load.
                let lo = _mm256_set1_epi32(((four & 0xff) | ((four & 0xff00) << 8)) as i32);
                let hi = _mm256_set1_epi32((((four >> 16) & 0xff) | ((four >> 24) << 16)) as i32);
                let x = _mm256_blend_epi32::<0b1010_1010>(lo, hi);
                for h in 0..4 {
                    acc[r][h] = _mm256_add_epi32(acc[r][h], _mm256_madd_epi16(x, w[h]));
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            // Pairs of partial sums → one sum per column: hadd of (cols 0–3, cols 4–7) gives
            // [c0 c1 c4 c5 | c2 c3 c6 c7]; the permute puts them in order.
            let order = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);
            let first = _mm256_permutevar8x32_epi32(_mm256_hadd_epi32(acc[0], acc[1]), order);
            let second = _mm256_permutevar8x32_epi32(_mm256_hadd_epi32(acc[2], acc[3]), order);
            let mut sums = [0i32; 16];
            // SAFETY: `sums` holds 16 i32, the two stores write 8 each.
            unsafe {
                _mm256_storeu_si256(sums.as_mut_ptr().cast(), first);
                _mm256_storeu_si256(sums.as_mut_ptr().wrapping_add(8).cast(), second);
            }
            let col = q * 16;
            let end = (col + 16).min(n);
            if col < end {
                out[(i0 + r) * n + col..(i0 + r) * n + end].copy_from_slice(&sums[..end - col]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_quantiser_matches_the_portable_rounding_on_every_length() {
        let portable =
            |v: f32, inv: f32, zero: f32| ((v * inv + zero).clamp(0.0, 255.0) + 12_582_912.0).to_bits() as u8;
        for n in 0..70usize {
            // Values below, inside and above the range, and exact ties (x.5 after scaling).
            let x: Vec<f32> = (0..n).map(|i| ((i * 53 % 61) as f32 - 20.0) * 0.25 + 0.125 * (i % 2) as f32).collect();
            for (inv, zero) in [(19.0f32, 100.0f32), (1.0, 0.0), (2.0, 128.0)] {
                let mut q = vec![7u8; n + 2];
                if !quantize_u8(&x, inv, zero, &mut q) {
                    return; // no AVX-512 here: the portable loop is the only one
                }
                let want: Vec<u8> = x.iter().map(|&v| portable(v, inv, zero)).collect();
                assert_eq!(q[..n], want[..], "n = {n}, inv {inv}, zero {zero}");
                assert_eq!(q[n..], [7, 7], "bytes past the row are left alone");
            }
        }
    }

    #[test]
    fn reductions_match_plain_loops_on_every_length() {
        for n in 0..70usize {
            let x: Vec<f32> = (0..n).map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.37).collect();
            let close = |got: Option<f32>, want: f32| {
                // `None`: no AVX-512 here, the callers' portable loops run instead.
                if let Some(got) = got {
                    assert!(got == want || (got - want).abs() <= 1e-4 * (1.0 + want.abs()), "n = {n}: {got} vs {want}");
                }
            };
            let sum: f32 = x.iter().sum();
            close(reduce::sum(&x), sum);
            let mean = if n == 0 { 0.0 } else { sum / n as f32 };
            close(reduce::sum_sq_dev(&x, mean), x.iter().map(|v| (v - mean) * (v - mean)).sum());
            close(reduce::max(&x), x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)));
            if let Some((lo, hi)) = reduce::range_with_zero(&x) {
                assert_eq!(lo, x.iter().fold(0f32, |m, &v| m.min(v)), "n = {n}");
                assert_eq!(hi, x.iter().fold(0f32, |m, &v| m.max(v)), "n = {n}");
            }
        }
    }

    /// The scalar reference on the unpacked matrices.
    fn reference(a: &[u8], m: usize, kp: usize, b: &[i8], n: usize, k: usize) -> Vec<i32> {
        let mut out = vec![0i32; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|t| i32::from(a[i * kp + t]) * i32::from(b[j * k + t])).sum();
            }
        }
        out
    }

    fn kernels() -> Vec<Kernel> {
        let all = [Kernel::Portable, Kernel::Avx2, Kernel::Avx512Vnni];
        let here: Vec<Kernel> = all.into_iter().filter(|k| k.available()).collect();
        // On the CI machine (AVX-512 VNNI) every kernel is exercised; elsewhere the test says
        // which were not.
        if here.len() < all.len() {
            eprintln!("kernels not available on this CPU, not tested here: {:?}", &all[here.len()..]);
        }
        here
    }

    /// Deterministic bytes covering the extremes (0, 255, −127, 127, and −128, which the
    /// quantiser never produces but the kernels must still multiply exactly).
    fn fill(seed: u64, len: usize) -> Vec<u8> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|i| match i % 17 {
                0 => 255,
                5 => 0,
                _ => {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    (s >> 24) as u8
                }
            })
            .collect()
    }

    fn check(m: usize, n: usize, k: usize, seed: u64) {
        let b: Vec<i8> = fill(seed, n * k).into_iter().map(|v| v as i8).collect();
        let packed = PackedB::pack(&b, n, k);
        let kp = packed.k_padded();
        // Padding bytes of `a` hold garbage: they must not matter.
        let a = fill(seed + 1, m * kp);
        let want = reference(&a, m, kp, &b, n, k);
        for kernel in kernels() {
            // A sentinel past the end: nothing is written beyond m · n.
            let mut out = vec![i32::MIN; m * n + 3];
            gemm(kernel, &a, m, &packed, &mut out).expect("valid shapes");
            assert_eq!(&out[..m * n], &want[..], "{kernel:?}: m={m} n={n} k={k}");
            assert_eq!(&out[m * n..], &[i32::MIN; 3], "{kernel:?}: wrote past the output");
        }
        // Dequantised: the same operations on the reference sums, bit for bit.
        let row_scales: Vec<f32> = (0..m).map(|i| 0.01 + i as f32 * 0.003).collect();
        let row_zeros: Vec<f32> = (0..m).map(|i| (i * 37 % 256) as f32).collect();
        let col_scales: Vec<f32> = (0..n).map(|j| 0.002 + j as f32 * 1e-4).collect();
        let col_sums: Vec<f32> = (0..n).map(|j| (j as f32 - 40.0) * 0.37).collect();
        // With no f32 channels, and with two.
        for channels in [0, 2] {
            let f32_inputs: Vec<f32> = (0..m * channels).map(|e| (e % 7) as f32 * 1.7 - 5.0).collect();
            let f32_weights: Vec<f32> = (0..channels * n).map(|e| (e % 11) as f32 * 0.013 - 0.05).collect();
            let deq = Dequantization {
                row_scales: &row_scales,
                row_zeros: &row_zeros,
                col_scales: &col_scales,
                col_sums: &col_sums,
                channels,
                f32_inputs: &f32_inputs,
                f32_weights: &f32_weights,
                gelu_bias: None,
            };
            let expected: Vec<f32> = (0..m * n)
                .map(|e| {
                    let (i, j) = (e / n, e % n);
                    let mut y = row_scales[i] * (col_scales[j] * want[e] as f32 - row_zeros[i] * col_sums[j]);
                    for t in 0..channels {
                        y += f32_inputs[i * channels + t] * f32_weights[t * n + j];
                    }
                    y
                })
                .collect();
            for kernel in kernels() {
                let mut out = vec![f32::MAX; m * n + 3];
                gemm_dequantized(kernel, &a, m, &packed, &deq, &mut Vec::new(), &mut out).expect("valid shapes");
                assert_eq!(&out[..m * n], &expected[..], "{kernel:?} dequantised ({channels} f32): m={m} n={n} k={k}");
                assert_eq!(&out[m * n..], &[f32::MAX; 3], "{kernel:?}: wrote past the output");
                // Into a new vector (not zero-filled first on AVX-512 VNNI): the same values.
                let fresh = gemm_dequantized_vec(kernel, &a, m, &packed, &deq, &mut Vec::new()).expect("valid shapes");
                assert_eq!(fresh, expected, "{kernel:?} into a new vector: m={m} n={n} k={k}");
                // With bias + GELU: the exact GELU of the same values, to float precision
                // (the AVX-512 path's FMAs and reciprocal round differently from the portable
                // erf in the last bits; where erf → −1, 1 + erf cancels, so the bound scales
                // with the input).
                let bias: Vec<f32> = (0..n).map(|j| (j % 5) as f32 * 0.1 - 0.2).collect();
                let gelu = Dequantization { gelu_bias: Some(&bias), ..deq };
                let got = gemm_dequantized_vec(kernel, &a, m, &packed, &gelu, &mut Vec::new()).expect("valid shapes");
                for (e, (&g, &y)) in got.iter().zip(&expected).enumerate() {
                    let v = y + bias[e % n];
                    let want = crate::kernels::gelu(v);
                    assert!((g - want).abs() <= 1e-6 * v.abs().max(1.0), "{kernel:?} GELU m={m} n={n}: {g} vs {want}");
                }
            }
        }
    }

    #[test]
    fn every_kernel_equals_the_scalar_reference_on_many_shapes() {
        let mut seed = 1;
        for m in [1, 2, 3, 5, 6, 7, 12, 13, 31] {
            for n in [1, 15, 16, 17, 63, 64, 65, 130] {
                for k in [1, 3, 4, 5, 64, 67, 384] {
                    check(m, n, k, seed);
                    seed += 1;
                }
            }
        }
    }

    #[test]
    fn minilm_shapes() {
        for (m, n, k) in [(1, 1152, 384), (29, 384, 384), (30, 1536, 384), (45, 384, 1536)] {
            check(m, n, k, (m * n + k) as u64);
        }
    }

    #[test]
    fn extreme_values_do_not_saturate() {
        // 255 · −128 summed over K = 1536: −50 135 040, far inside i32; every kernel exact.
        let (m, n, k) = (7, 33, 1536);
        let b = vec![-128i8; n * k];
        let packed = PackedB::pack(&b, n, k);
        let a = vec![255u8; m * packed.k_padded()];
        for kernel in kernels() {
            let mut out = vec![0; m * n];
            gemm(kernel, &a, m, &packed, &mut out).expect("valid");
            assert!(out.iter().all(|&v| v == 255 * -128 * k as i32), "{kernel:?}");
        }
        let b = vec![127i8; n * k];
        let packed = PackedB::pack(&b, n, k);
        for kernel in kernels() {
            let mut out = vec![0; m * n];
            gemm(kernel, &a, m, &packed, &mut out).expect("valid");
            assert!(out.iter().all(|&v| v == 255 * 127 * k as i32), "{kernel:?}");
        }
    }

    #[test]
    fn short_buffers_are_refused_before_any_kernel_runs() {
        let packed = PackedB::pack(&[1i8; 16 * 8], 16, 8);
        let mut out = vec![0; 3 * 16];
        assert!(matches!(gemm(Kernel::detect(), &[0u8; 23], 3, &packed, &mut out), Err(GemmError::A { need: 24, .. })));
        let mut short = vec![0; 3 * 16 - 1];
        assert!(matches!(gemm(Kernel::detect(), &[0u8; 24], 3, &packed, &mut short), Err(GemmError::Out { .. })));
        assert!(gemm(Kernel::detect(), &[0u8; 24], 0, &packed, &mut []).is_ok(), "m = 0 is an empty product");
        // Dequantising needs scales for every row and column.
        let (three, sixteen) = ([1f32; 3], [1f32; 16]);
        let deq = Dequantization {
            row_scales: &three,
            row_zeros: &three,
            col_scales: &sixteen,
            col_sums: &sixteen[..15],
            channels: 0,
            f32_inputs: &[],
            f32_weights: &[],
            gelu_bias: None,
        };
        let mut out = vec![0f32; 3 * 16];
        for kernel in kernels() {
            let result = gemm_dequantized(kernel, &[0u8; 24], 3, &packed, &deq, &mut Vec::new(), &mut out);
            assert!(matches!(result, Err(GemmError::Scales { rows: 3, cols: 15, .. })), "{kernel:?}");
            // One f32 channel needs a value per row and a row of weights.
            let short = Dequantization {
                col_sums: &sixteen,
                channels: 1,
                f32_inputs: &three,
                f32_weights: &sixteen[..15],
                ..deq
            };
            let result = gemm_dequantized(kernel, &[0u8; 24], 3, &packed, &short, &mut Vec::new(), &mut out);
            assert!(
                matches!(result, Err(GemmError::F32Channels { channels: 1, inputs: 3, weights: 15 })),
                "{kernel:?}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn kernels_agree_with_the_reference(
            m in 1usize..20,
            n in 1usize..140,
            k in 1usize..200,
            seed in any::<u64>(),
        ) {
            check(m, n, k, seed);
        }
    }
}
