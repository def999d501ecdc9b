//! The stored form of a message's sentence embedding: `feedback.embedding` in ClickHouse is
//! `Array(Int8)`, the unit-length embedding scaled so that its largest component is ±127 and
//! rounded. Cosine similarity does not depend on a vector's length, so no scale is stored:
//! ClickHouse's `cosineDistance` reads the column as it is, and [`dequantise`] gives back a
//! unit vector. 384 values (MiniLM) cost 384 bytes before compression; the rounding moves the
//! cosine with the original by less than 0.001 (tested below; docs/clickhouse.md).

/// Largest magnitude of a stored component.
const LEVELS: f32 = 127.0;

/// The stored form of `v`: every component scaled by 127 / max |v_i| and rounded. An empty
/// or all-zero vector (no embedding: the lexicon or the Hugging Face pair) stores as empty, and
/// so does one with a component that is not a number (it has no direction).
pub fn quantise(v: &[f32]) -> Vec<i8> {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    if v.iter().any(|x| !x.is_finite()) || max == 0.0 {
        return Vec::new();
    }
    let scale = LEVELS / max;
    v.iter().map(|x| (x * scale).round().clamp(-LEVELS, LEVELS) as i8).collect()
}

/// The unit-length vector a stored embedding stands for (empty when `q` is empty or zero).
pub fn dequantise(q: &[i8]) -> Vec<f32> {
    let norm = q.iter().map(|&x| f32::from(x) * f32::from(x)).sum::<f32>().sqrt();
    if norm == 0.0 {
        return Vec::new();
    }
    q.iter().map(|&x| f32::from(x) / norm).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(seed: u64, n: usize) -> Vec<f32> {
        // A small xorshift: reproducible, no dependency.
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let v: Vec<f32> = (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / norm).collect()
    }

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn rounding_keeps_the_direction() {
        for seed in 1..200 {
            let v = unit(seed, 384);
            let q = quantise(&v);
            assert_eq!(q.len(), 384);
            assert_eq!(q.iter().map(|x| x.unsigned_abs()).max(), Some(127));
            let back = dequantise(&q);
            assert!((cosine(&back, &back) - 1.0).abs() < 1e-5);
            assert!(cosine(&v, &back) > 0.999, "seed {seed}: {}", cosine(&v, &back));
        }
    }

    #[test]
    fn similarities_survive_rounding() {
        let a = unit(7, 384);
        let b: Vec<f32> = a.iter().zip(unit(8, 384)).map(|(x, y)| x + 0.8 * y).collect();
        let exact = cosine(&a, &b) / cosine(&b, &b).sqrt();
        let stored = cosine(&dequantise(&quantise(&a)), &dequantise(&quantise(&b)));
        assert!((exact - stored).abs() < 0.002, "{exact} vs {stored}");
    }

    #[test]
    fn nothing_stores_as_nothing() {
        assert!(quantise(&[]).is_empty());
        assert!(quantise(&[0.0; 8]).is_empty());
        assert!(quantise(&[f32::NAN, 1.0]).is_empty());
        assert!(dequantise(&[]).is_empty());
        assert!(dequantise(&[0, 0]).is_empty());
    }
}
