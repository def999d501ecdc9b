//! The int8 accuracy guard: the default model with its encoder in int8 (the service's default,
//! `--precision int8`) against the same model in f32, on every committed held-out sample —
//! mean cosine of the sentence embeddings ≥ 0.99 and each macro-F1 within 0.01 of f32's —
//! and int8 answers that do not depend on the batch a text is in (activations are quantised
//! per token).

use std::path::PathBuf;

use rtcx_inference::int8::{Activations, Int8Settings, Kernel};
use rtcx_inference::{Analysis, Analyzer, Batching};
use rtcx_model::training::metrics::evaluate;
use rtcx_model::training::train::{EMOTION_LABELS, SENTIMENT_LABELS};
use rtcx_schemas::SentimentLabel;

fn load(int8: Option<Int8Settings>) -> Analyzer {
    let model = PathBuf::from(rtcx_service_kit::testing::env("RTCX_MODEL_DIR"));
    let heads = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/rtcx-heads");
    let mut a = Analyzer::load(&model, &heads, 128, Batching::default()).expect("load the default analyzer");
    if let Some(s) = int8 {
        a.quantize(s).expect("quantize");
    }
    a
}

/// A committed held-out sample.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Sample {
    file: String,
    task: &'static str,
    gold: Vec<Vec<usize>>,
    texts: Vec<String>,
}

/// The committed held-out samples.
fn samples() -> Vec<Sample> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("tests/data") {
        let name = entry.expect("entry").file_name().to_string_lossy().into_owned();
        let task = match name.split('-').next() {
            Some("sentiment") if name.ends_with(".tsv") => "sentiment",
            Some("emotion") if name.ends_with(".tsv") => "emotion",
            _ => continue,
        };
        let content = std::fs::read_to_string(dir.join(&name)).expect("read sample");
        let (gold, texts): (Vec<Vec<usize>>, Vec<String>) = content
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(labels, text)| (labels.split(',').filter_map(|x| x.parse().ok()).collect(), text.to_owned()))
            .unzip();
        out.push(Sample { file: name, task, gold, texts });
    }
    out.sort();
    assert!(out.len() >= 7, "the committed samples: {:?}", out.iter().map(|s| &s.file).collect::<Vec<_>>());
    out
}

fn macro_f1(task: &str, gold: &[Vec<usize>], out: &[Analysis]) -> f64 {
    let predicted: Vec<usize> = out
        .iter()
        .map(|a| match task {
            "sentiment" => SentimentLabel::ALL.iter().position(|l| *l == a.sentiment.label).expect("a sentiment label"),
            _ => {
                let p = a.emotions.to_array();
                (0..p.len()).max_by(|&x, &y| p[x].total_cmp(&p[y])).expect("emotions")
            }
        })
        .collect();
    let labels: &[&str] = if task == "sentiment" { &SENTIMENT_LABELS } else { &EMOTION_LABELS };
    evaluate(labels, gold, &predicted).macro_f1
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

#[test]
fn int8_stays_within_the_guard_of_f32_on_every_held_out_sample() {
    let f32_model = load(None);
    let int8_model = load(Some(Int8Settings { kernel: Kernel::detect(), activations: Activations::Asymmetric }));
    assert!(int8_model.model().version.ends_with("-int8"), "{:?}", int8_model.model());
    for Sample { file, task, gold, texts } in samples() {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let a = f32_model.analyze(&refs).expect("f32");
        let b = int8_model.analyze(&refs).expect("int8");
        let cos: Vec<f64> = a.iter().zip(&b).map(|(x, y)| cosine(&x.embedding, &y.embedding)).collect();
        let mean = cos.iter().sum::<f64>() / cos.len() as f64;
        let min = cos.iter().copied().fold(f64::INFINITY, f64::min);
        let (fa, fb) = (macro_f1(task, &gold, &a), macro_f1(task, &gold, &b));
        eprintln!("{file}: cosine mean {mean:.5} min {min:.5}; macro-F1 f32 {fa:.4} int8 {fb:.4}");
        assert!(mean >= 0.99, "{file}: mean cosine int8 vs f32 {mean:.4} < 0.99");
        assert!((fa - fb).abs() <= 0.01, "{file}: macro-F1 f32 {fa:.4}, int8 {fb:.4}: more than 0.01 apart");
    }
}

#[test]
fn int8_answers_do_not_depend_on_the_batch() {
    let a = load(Some(Int8Settings::default()));
    let texts =
        ["The delivery was very late and the box was damaged.", "ok", "Thanks, great service!", "Where is my refund?"];
    let together = a.analyze(&texts).expect("batch");
    for (i, t) in texts.iter().enumerate() {
        let alone = a.analyze(&[t]).expect("alone");
        assert_eq!(alone[0].sentiment.label, together[i].sentiment.label, "{t}");
        let d = (alone[0].sentiment.score - together[i].sentiment.score).abs();
        assert!(d < 1e-4, "{t}: score {} alone, {} in a batch", alone[0].sentiment.score, together[i].sentiment.score);
    }
}

/// Every kernel of this CPU gives the model the same answers (they compute the same exact
/// integer sums).
#[test]
fn every_int8_kernel_gives_the_same_answers() {
    let texts =
        ["The app crashes every time I open it.", "Lovely staff and quick delivery.", "Is the store open on Sundays?"];
    let mut answers = Vec::new();
    for kernel in [Kernel::Avx512Vnni, Kernel::Avx2, Kernel::Portable].into_iter().filter(|k| k.available()) {
        let a = load(Some(Int8Settings { kernel, activations: Activations::Asymmetric }));
        answers.push((kernel, a.analyze(&texts).expect("analyze")));
    }
    let (first, reference) = &answers[0];
    for (kernel, out) in &answers[1..] {
        for (x, y) in reference.iter().zip(out) {
            assert_eq!(x.embedding, y.embedding, "{kernel:?} vs {first:?}");
        }
    }
}
