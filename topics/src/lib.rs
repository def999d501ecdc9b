//! Topic assignment by meaning and by rule, with nothing but vectors and text: the pipeline
//! (`rtcx-processors`), the evaluation command (`rtcx-model eval-topics`) and, later, the
//! retroactive assignment job share this code.
//!
//! - [`definition`]: a topic as a user defines it (keywords, excluded keywords) and as it is
//!   embedded (its description, its example messages, its counter-examples).
//! - [`matcher`]: scores a message against every topic, chooses by calibrated score with a
//!   margin over the runner-up, and says why ([`matcher::Reason`]).
//! - [`calibrate`]: per-topic thresholds from the topic's own examples (leave-one-out).
//! - [`evaluate`]: macro-F1 of multi-label answers against single gold labels, and the
//!   precision of "no topic".

pub mod calibrate;
pub mod definition;
pub mod evaluate;
pub mod matcher;
pub mod probe;

/// Cosine similarity of two unit-length vectors (their dot product); 0 when either is empty
/// or the lengths differ.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.is_empty() || a.len() != b.len() {
        return 0.0;
    }
    dot(a, b)
}

/// Dot product of two equally long slices, in eight independent sums that the compiler can
/// keep in one SIMD register (a single running sum must be added in order, which it cannot
/// vectorise): the matcher's inner loop.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `v` scaled to unit length (unchanged when it is all zeros).
pub fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}
