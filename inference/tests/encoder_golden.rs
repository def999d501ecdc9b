//! The default encoder (all-MiniLM-L6-v2 from the model cache) reproduces the reference
//! embedding recorded in ../shared/README.md, and padding never changes an embedding.
//!
//! Note: the reference values in ../shared/README.md are those of the *L2-normalised*
//! mean-pooled embedding (the README calls them unnormalised): the raw mean-pooled vector of
//! that sentence has norm 4.3989 and first components [-0.05689, 0.40395, 0.27845, ...], and
//! dividing by the norm gives the reference to 6 digits. The test checks both.

use std::path::PathBuf;

use rtcx_inference::SentenceEncoder;

fn model_dir() -> PathBuf {
    PathBuf::from(rtcx_service_kit::testing::env("RTCX_MODEL_DIR"))
}

#[test]
fn mean_pooled_embedding_matches_the_reference_vector() {
    let enc = SentenceEncoder::load(&model_dir(), 128).expect("load all-MiniLM-L6-v2");
    assert_eq!(enc.hidden_size(), 384);
    let out = enc.embed(&["The delivery was very late and the box was damaged."]).expect("embed");
    assert_eq!(out.tensor.dims(), &[1, 384]);
    let v: Vec<f32> = out.tensor.get(0).expect("row").to_vec1().expect("vec");
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 4.3989).abs() < 1e-3, "norm {norm}");
    let expected = [-0.012933f32, 0.091829, 0.063301, 0.052187, 0.023907];
    for (i, (a, b)) in v.iter().map(|x| x / norm).zip(expected).enumerate() {
        assert!((a - b).abs() < 2e-6, "component {i}: {a} vs reference {b}");
    }
}

#[test]
fn batch_padding_does_not_change_embeddings() {
    let enc = SentenceEncoder::load(&model_dir(), 128).expect("load");
    let short = "Great app!";
    let long =
        "I have been waiting for three weeks for a refund and nobody from support has answered any of my emails.";
    let alone = enc.embed(&[short]).expect("alone").tensor.get(0).expect("row").to_vec1::<f32>().expect("vec");
    let batch = enc.embed(&[long, short]).expect("batch");
    let padded = batch.tensor.get(1).expect("row").to_vec1::<f32>().expect("vec");
    let max_diff = alone.iter().zip(&padded).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(max_diff < 1e-4, "padding changed the embedding by {max_diff}");
    assert_eq!(batch.truncated, 0);
}

#[test]
fn odd_inputs_never_panic_and_long_inputs_are_truncated() {
    let enc = SentenceEncoder::load(&model_dir(), 32).expect("load");
    let long = "word ".repeat(500);
    let texts = ["", "   ", "😡😡😡", "\u{0}\u{fffd}", "日本語のフィードバック", long.as_str()];
    let out = enc.embed(&texts).expect("embed odd inputs");
    assert_eq!(out.tensor.dims(), &[texts.len(), 384]);
    assert_eq!(out.truncated, 1, "only the 500-word text exceeds 32 tokens");
    assert_eq!(enc.embed(&[]).expect("empty batch").tensor.dims(), &[0, 384]);
}

#[test]
fn the_fast_encoder_matches_candles_reference_bert() {
    use candle_core::{DType, Device, Tensor};
    use candle_transformers::models::bert::{BertModel, Config};
    use rtcx_inference::fast_bert::FastBert;

    let dir = model_dir();
    let bytes = std::fs::read(dir.join("model.safetensors")).expect("weights");
    let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).expect("tensors");
    let cfg: Config = serde_json::from_slice(&std::fs::read(dir.join("config.json")).expect("config")).expect("cfg");
    let reference =
        BertModel::load(candle_nn::VarBuilder::from_tensors(tensors.clone(), DType::F32, &Device::Cpu), &cfg)
            .expect("reference");
    let fast = FastBert::from_tensors(&tensors, 6, 12, 1e-12).expect("fast");
    // Two rows, the second padded: compare real-token positions only.
    let ids =
        Tensor::new(&[[101u32, 1996, 6959, 2001, 2397, 102], [101, 2307, 999, 102, 0, 0]], &Device::Cpu).expect("ids");
    let mask = Tensor::new(&[[1u32, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]], &Device::Cpu).expect("mask");
    let a: Vec<Vec<Vec<f32>>> =
        reference.forward(&ids, &ids.zeros_like().expect("types"), Some(&mask)).expect("ref").to_vec3().expect("v");
    let b: Vec<Vec<Vec<f32>>> = fast.forward(&ids, &mask).expect("fast").to_vec3().expect("v");
    for (row, len) in [(0usize, 6usize), (1, 4)] {
        for t in 0..len {
            let diff = a[row][t].iter().zip(&b[row][t]).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
            assert!(diff < 1e-4, "row {row} token {t}: max difference {diff}");
        }
    }
}
