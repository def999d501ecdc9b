//! How long building the matcher (calibration and the classifier's training) and assigning
//! one message take, for catalogues of several sizes, on random unit vectors of the encoder's
//! width: `cargo run --release -p rtcx-topics --example matcher_speed`.

use std::time::Instant;

use rtcx_topics::definition::{Embedded, TopicDefinition};
use rtcx_topics::matcher::{Matcher, Settings};
use rtcx_topics::unit;
use uuid::Uuid;

/// A deterministic pseudo-random unit vector near `centre` (xorshift).
fn near(centre: &[f32], seed: &mut u64, spread: f32) -> Vec<f32> {
    unit(
        centre
            .iter()
            .map(|c| {
                *seed ^= *seed << 13;
                *seed ^= *seed >> 7;
                *seed ^= *seed << 17;
                c + spread * ((*seed % 2001) as f32 / 1000.0 - 1.0)
            })
            .collect(),
    )
}

fn main() {
    let dim = 384;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for (topics, examples) in [(8, 20), (20, 50), (50, 100), (50, 300)] {
        let centres: Vec<Vec<f32>> = (0..topics).map(|_| near(&vec![0.0; dim], &mut seed, 1.0)).collect();
        let defs: Vec<TopicDefinition> = centres
            .iter()
            .enumerate()
            .map(|(t, c)| TopicDefinition {
                id: Uuid::from_u128(t as u128),
                name: format!("topic {t}"),
                description: near(c, &mut seed, 0.05),
                examples: (0..examples)
                    .map(|i| Embedded {
                        id: Uuid::from_u128((t * 100_000 + i) as u128),
                        embedding: near(c, &mut seed, 0.08),
                    })
                    .collect(),
                ..TopicDefinition::default()
            })
            .collect();
        let messages: Vec<Vec<f32>> = (0..1000).map(|i| near(&centres[i % topics], &mut seed, 0.1)).collect();
        let started = Instant::now();
        let m = Matcher::new(defs, Settings::default());
        let build = started.elapsed();
        let started = Instant::now();
        let assigned: usize = messages.iter().map(|x| m.assign("", x).len()).sum();
        let per_message = started.elapsed() / messages.len() as u32;
        println!(
            "{topics} topics x {examples} examples: build {:.2} s, assign {:.1} µs per message ({assigned} topics given to 1000)",
            build.as_secs_f64(),
            per_message.as_secs_f64() * 1e6
        );
    }
}
