//! Hugging Face sequence-classification checkpoints (BERT and DistilBERT families) load from a
//! local folder in the real format. The tests generate tiny randomly initialised models
//! (config.json with id2label, a WordPiece tokenizer.json with a small vocabulary,
//! model.safetensors with the checkpoints' tensor names) and check label mapping and logits
//! against a direct computation of the classification head.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, IndexOp, Tensor};
use candle_nn::{VarBuilder, VarMap};
use candle_transformers::models::{bert, distilbert, xlm_roberta};
use rtcx_inference::hf_classifier::HfClassifier;
use serde_json::json;

const VOCAB: &[&str] = &[
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "delivery", "was", "late", "great", "service", "box", "damaged", "i",
    "love", "it", "refund", "please", ".", "!", ",",
];
const LABELS: [&str; 3] = ["NEGATIVE", "NEUTRAL", "POSITIVE"];

fn tokenizer_json() -> serde_json::Value {
    let vocab: serde_json::Map<String, serde_json::Value> =
        VOCAB.iter().enumerate().map(|(i, t)| ((*t).to_owned(), json!(i))).collect();
    let special = |id: usize, t: &str| json!({"id": id, "content": t, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true});
    json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": [special(0, "[PAD]"), special(1, "[UNK]"), special(2, "[CLS]"), special(3, "[SEP]")],
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}}, {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {
                "[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}
            }
        },
        "decoder": null,
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": vocab}
    })
}

fn id2label() -> serde_json::Value {
    json!({"0": LABELS[0], "1": LABELS[1], "2": LABELS[2]})
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(rtcx_service_kit::testing::unique(name));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn write(dir: &Path, config: &serde_json::Value, varmap: &VarMap) {
    std::fs::write(dir.join("config.json"), config.to_string()).expect("config");
    std::fs::write(dir.join("tokenizer.json"), tokenizer_json().to_string()).expect("tokenizer");
    varmap.save(dir.join("model.safetensors")).expect("weights");
}

fn tensors(dir: &Path) -> std::collections::HashMap<String, Tensor> {
    candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu).expect("load weights")
}

/// y = W x + b, by hand.
fn linear(w: &Tensor, b: &Tensor, x: &[f32]) -> Vec<f32> {
    let w: Vec<Vec<f32>> = w.to_vec2().expect("w");
    let b: Vec<f32> = b.to_vec1().expect("b");
    w.iter().zip(&b).map(|(row, bias)| row.iter().zip(x).map(|(a, b)| a * b).sum::<f32>() + bias).collect()
}

fn assert_close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 1e-4, "{what}: {a:?} vs {b:?}");
    }
}

const TEXTS: [&str; 2] = ["The delivery was late, the box damaged!", "great service"];

#[test]
fn bert_classifier_matches_a_direct_computation() {
    let dir = temp_dir("tiny-bert");
    let config = json!({
        "model_type": "bert", "vocab_size": VOCAB.len(), "hidden_size": 32, "num_hidden_layers": 2,
        "num_attention_heads": 4, "intermediate_size": 64, "hidden_act": "gelu", "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0, "max_position_embeddings": 64, "type_vocab_size": 2,
        "initializer_range": 0.02, "layer_norm_eps": 1e-12, "pad_token_id": 0, "id2label": id2label()
    });
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let cfg: bert::Config = serde_json::from_value(config.clone()).expect("bert config");
    bert::BertModel::load(vb.pp("bert"), &cfg).expect("init backbone");
    candle_nn::linear(32, 32, vb.pp("bert.pooler.dense")).expect("init pooler");
    candle_nn::linear(32, 3, vb.pp("classifier")).expect("init classifier");
    write(&dir, &config, &varmap);

    let clf = HfClassifier::load(&dir, 64).expect("load tiny BERT");
    assert_eq!(clf.labels(), LABELS);
    let logits: Vec<Vec<f32>> = clf.logits(&TEXTS).expect("logits").to_vec2().expect("vec");
    assert_eq!((logits.len(), logits[0].len()), (2, 3));

    // Direct computation: backbone → [CLS] → tanh(pooler) → classifier, by hand.
    let t = tensors(&dir);
    let backbone =
        bert::BertModel::load(VarBuilder::from_tensors(t.clone(), DType::F32, &Device::Cpu), &cfg).expect("backbone");
    for (i, text) in TEXTS.iter().enumerate() {
        let tok = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).expect("tokenizer");
        let ids = tok.encode(*text, true).expect("encode").get_ids().to_vec();
        let ids = Tensor::new(ids.as_slice(), &Device::Cpu).expect("ids").unsqueeze(0).expect("batch");
        let hidden = backbone.forward(&ids, &ids.zeros_like().expect("types"), None).expect("forward");
        let cls: Vec<f32> = hidden.i((0, 0)).expect("cls").to_vec1().expect("vec");
        let pooled: Vec<f32> = linear(&t["bert.pooler.dense.weight"], &t["bert.pooler.dense.bias"], &cls)
            .iter()
            .map(|v| v.tanh())
            .collect();
        let expected = linear(&t["classifier.weight"], &t["classifier.bias"], &pooled);
        assert_close(&logits[i], &expected, "BERT logits (batched and padded vs alone)");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn distilbert_classifier_matches_a_direct_computation() {
    let dir = temp_dir("tiny-distilbert");
    let config = tiny_distilbert(&dir, &LABELS);
    let cfg: distilbert::Config = serde_json::from_value(config).expect("distilbert config");

    let clf = HfClassifier::load(&dir, 64).expect("load tiny DistilBERT");
    assert_eq!(clf.labels(), LABELS);
    let logits: Vec<Vec<f32>> = clf.logits(&TEXTS).expect("logits").to_vec2().expect("vec");
    let probs = clf.probabilities(&TEXTS).expect("probabilities");
    assert!(probs.iter().all(|p| (p.iter().sum::<f32>() - 1.0).abs() < 1e-5));

    let t = tensors(&dir);
    let backbone =
        distilbert::DistilBertModel::load(VarBuilder::from_tensors(t.clone(), DType::F32, &Device::Cpu), &cfg)
            .expect("backbone");
    for (i, text) in TEXTS.iter().enumerate() {
        let tok = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).expect("tokenizer");
        let ids = tok.encode(*text, true).expect("encode").get_ids().to_vec();
        let n = ids.len();
        let ids = Tensor::new(ids.as_slice(), &Device::Cpu).expect("ids").unsqueeze(0).expect("batch");
        let no_padding = Tensor::zeros((1, 1, 1, n), DType::U8, &Device::Cpu).expect("mask");
        let hidden = backbone.forward(&ids, &no_padding).expect("forward");
        let cls: Vec<f32> = hidden.i((0, 0)).expect("cls").to_vec1().expect("vec");
        let pre: Vec<f32> =
            linear(&t["pre_classifier.weight"], &t["pre_classifier.bias"], &cls).iter().map(|v| v.max(0.0)).collect();
        let expected = linear(&t["classifier.weight"], &t["classifier.bias"], &pre);
        assert_close(&logits[i], &expected, "DistilBERT logits (batched and padded vs alone)");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn roberta_classifier_matches_a_direct_computation() {
    let dir = temp_dir("tiny-roberta");
    let config = tiny_roberta(&dir, &LABELS);
    let cfg: xlm_roberta::Config = serde_json::from_value(config).expect("roberta config");

    let clf = HfClassifier::load(&dir, 60).expect("load tiny RoBERTa");
    assert_eq!(clf.labels(), LABELS);
    let logits: Vec<Vec<f32>> = clf.logits(&TEXTS).expect("logits").to_vec2().expect("vec");

    let t = tensors(&dir);
    let backbone = xlm_roberta::XLMRobertaModel::new(
        &cfg,
        VarBuilder::from_tensors(t.clone(), DType::F32, &Device::Cpu).pp("roberta"),
    )
    .expect("backbone");
    for (i, text) in TEXTS.iter().enumerate() {
        let tok = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).expect("tokenizer");
        let ids = tok.encode(*text, true).expect("encode").get_ids().to_vec();
        let ids = Tensor::new(ids.as_slice(), &Device::Cpu).expect("ids").unsqueeze(0).expect("batch");
        let hidden = backbone
            .forward(&ids, &ids.ones_like().expect("mask"), &ids.zeros_like().expect("types"), None, None, None)
            .expect("forward");
        let cls: Vec<f32> = hidden.i((0, 0)).expect("cls").to_vec1().expect("vec");
        let dense: Vec<f32> =
            linear(&t["classifier.dense.weight"], &t["classifier.dense.bias"], &cls).iter().map(|v| v.tanh()).collect();
        let expected = linear(&t["classifier.out_proj.weight"], &t["classifier.out_proj.bias"], &dense);
        assert_close(&logits[i], &expected, "RoBERTa logits (batched and padded vs alone)");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn unsupported_families_and_missing_labels_are_clear_errors() {
    let dir = temp_dir("tiny-unknown");
    std::fs::write(dir.join("config.json"), json!({"model_type": "gpt2", "id2label": id2label()}).to_string())
        .expect("config");
    std::fs::write(dir.join("model.safetensors"), b"").expect("weights");
    let err = HfClassifier::load(&dir, 64).err().expect("must fail").to_string();
    assert!(err.contains("\"gpt2\" is not supported"), "{err}");
    std::fs::write(dir.join("config.json"), json!({"model_type": "bert"}).to_string()).expect("config");
    let err = HfClassifier::load(&dir, 64).err().expect("must fail").to_string();
    assert!(err.contains("id2label"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

fn labels_json(labels: &[&str]) -> serde_json::Value {
    serde_json::Value::Object(labels.iter().enumerate().map(|(i, l)| (i.to_string(), json!(l))).collect())
}

/// Writes a tiny random DistilBERT classifier and returns its config.
fn tiny_distilbert(dir: &Path, labels: &[&str]) -> serde_json::Value {
    let config = json!({
        "model_type": "distilbert", "vocab_size": VOCAB.len(), "dim": 32, "n_layers": 1, "n_heads": 4,
        "hidden_dim": 64, "activation": "gelu", "max_position_embeddings": 64, "initializer_range": 0.02,
        "pad_token_id": 0, "id2label": labels_json(labels)
    });
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let cfg: distilbert::Config = serde_json::from_value(config.clone()).expect("config");
    distilbert::DistilBertModel::load(vb.pp("distilbert"), &cfg).expect("init");
    candle_nn::linear(32, 32, vb.pp("pre_classifier")).expect("init");
    candle_nn::linear(32, labels.len(), vb.pp("classifier")).expect("init");
    write(dir, &config, &varmap);
    config
}

/// Writes a tiny random RoBERTa classifier and returns its config.
fn tiny_roberta(dir: &Path, labels: &[&str]) -> serde_json::Value {
    let config = json!({
        "model_type": "roberta", "vocab_size": VOCAB.len(), "hidden_size": 32, "num_hidden_layers": 1,
        "num_attention_heads": 4, "intermediate_size": 64, "hidden_act": "gelu", "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0, "max_position_embeddings": 64, "type_vocab_size": 1,
        "layer_norm_eps": 1e-5, "pad_token_id": 0, "position_embedding_type": "absolute", "id2label": labels_json(labels)
    });
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let cfg: xlm_roberta::Config = serde_json::from_value(config.clone()).expect("config");
    xlm_roberta::XLMRobertaForSequenceClassification::new(labels.len(), &cfg, vb).expect("init");
    write(dir, &config, &varmap);
    config
}

#[test]
fn a_pair_of_checkpoints_maps_onto_rtcx_labels() {
    use rtcx_inference::Engine;
    use rtcx_inference::engine::HfPair;

    // The seed's shapes: SST-2 style two-class sentiment, seven emotions in another order.
    let (s_dir, e_dir) = (temp_dir("tiny-sst2"), temp_dir("tiny-emotion"));
    tiny_distilbert(&s_dir, &["NEGATIVE", "POSITIVE"]);
    let emotion_order = ["joy", "anger", "surprise", "neutral", "disgust", "sadness", "fear"];
    tiny_roberta(&e_dir, &emotion_order);
    let engine = Engine::HfPair(Box::new(HfPair::load(&s_dir, &e_dir, 64).expect("load pair")));
    assert!(engine.model().name.starts_with("hf:"));
    let out = engine.analyze(&TEXTS).expect("analyze");
    let s = HfClassifier::load(&s_dir, 64).expect("sentiment").probabilities(&TEXTS).expect("p");
    let e = HfClassifier::load(&e_dir, 64).expect("emotion").probabilities(&TEXTS).expect("p");
    for (i, a) in out.iter().enumerate() {
        assert!((a.sentiment.score - (s[i][1] - s[i][0])).abs() < 1e-5, "score = P(positive) - P(negative)");
        let expected_label = if s[i][1] > s[i][0] { "positive" } else { "negative" };
        assert_eq!(a.sentiment.label.as_str(), expected_label, "no neutral class in SST-2");
        let ours = a.emotions.to_array();
        let rtcx_order = ["anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"];
        for (j, name) in emotion_order.iter().enumerate() {
            let k = rtcx_order.iter().position(|n| n == name).expect("known emotion");
            assert!((ours[k] - e[i][j]).abs() < 1e-5, "{name} mapped to the wrong slot");
        }
    }
    // A label rtcx cannot map is a clear error.
    let bad = temp_dir("tiny-bad");
    tiny_distilbert(&bad, &["SPAM", "HAM"]);
    let err = HfPair::load(&bad, &e_dir, 64).err().expect("unmappable").to_string();
    assert!(err.contains("spam"), "{err}");
    for d in [s_dir, e_dir, bad] {
        let _ = std::fs::remove_dir_all(d);
    }
}
