//! Speed of the int8 GEMM kernels on MiniLM's dense-layer shapes for a batch of 480 tokens
//! (16 texts × 30): `cargo run --release -p rtcx-inference --example gemm_speed`. Prints
//! GMAC/s per kernel available on this CPU (figures in docs/benchmarks.md, "int8").

use std::time::Instant;

use rtcx_inference::int8::{Kernel, PackedB, gemm::gemm};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const ITERATIONS: usize = 50;
    for kernel in [Kernel::Avx512Vnni, Kernel::Avx2, Kernel::Portable].into_iter().filter(|k| k.available()) {
        // QKV, output, intermediate and down projections.
        for (m, n, k) in [(480usize, 1152usize, 384usize), (480, 384, 384), (480, 1536, 384), (480, 384, 1536)] {
            let b: Vec<i8> = (0..n * k).map(|i| (i % 251) as i8).collect();
            let packed = PackedB::pack(&b, n, k);
            let a: Vec<u8> = (0..m * packed.k_padded()).map(|i| (i % 253) as u8).collect();
            let mut out = vec![0i32; m * n];
            gemm(kernel, &a, m, &packed, &mut out)?; // warm-up
            let iterations = if kernel == Kernel::Portable { 2 } else { ITERATIONS };
            let started = Instant::now();
            for _ in 0..iterations {
                gemm(kernel, &a, m, &packed, &mut out)?;
            }
            let macs = (m * n * k * iterations) as f64;
            println!(
                "{:>12} m={m} n={n:>4} k={k:>4}: {:6.1} GMAC/s",
                kernel.name(),
                macs / started.elapsed().as_secs_f64() / 1e9
            );
        }
    }
    Ok(())
}
