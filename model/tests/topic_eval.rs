//! Topic assignment measured on the hand-written labelled set (`tests/data/topics/own.tsv`,
//! its catalogue in `catalogues.json`) with the real encoder and heads: the calibrated matcher
//! beats the rule it replaces without examples, gains with examples, and still gives no topic
//! to messages about none. Floors sit a few points under the figures in docs/models.md.

use std::path::PathBuf;

use rtcx_inference::{Analyzer, Batching};
use rtcx_model::topic_eval::{CatalogueFile, Embed, Protocol, TopicEvalError, run_set};
use rtcx_topics::matcher::Settings;

struct ModelEmbed(Analyzer);

impl Embed for ModelEmbed {
    fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, TopicEvalError> {
        let analyses = self.0.analyze(texts).map_err(|e| TopicEvalError::Embed(e.to_string()))?;
        Ok(analyses.into_iter().map(|a| a.embedding).collect())
    }
}

#[test]
fn the_calibrated_matcher_reads_the_hand_written_set() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/topics");
    let catalogue = CatalogueFile::read(&dir.join("catalogues.json")).expect("the catalogue file");
    let spec = catalogue.sets.iter().find(|s| s.name == "own").expect("the own set");
    let rows = spec.rows(&dir, &dir).expect("the own set's rows");
    assert_eq!(rows.len(), 280, "30 messages for each of 8 topics and 40 about none");
    let model = PathBuf::from(rtcx_service_kit::testing::env("RTCX_MODEL_DIR"));
    let heads = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/rtcx-heads");
    let analyzer = Analyzer::load(&model, &heads, 128, Batching::default()).expect("load the default analyzer");
    let protocol =
        Protocol { shots: vec![0, 20], seed: 7, settings: Settings::default(), baseline: true, phrasings: true };
    let results = run_set(spec, &rows, &mut ModelEmbed(analyzer), &protocol).expect("the protocol runs");
    let find = |method: &str, shots: usize| {
        results
            .iter()
            .find(|m| m.method == method && m.shots == shots)
            .unwrap_or_else(|| panic!("{method} with {shots} examples measured"))
    };
    let (old, zero, twenty) = (find("fixed cosine 0.5", 0), find("calibrated", 0), find("calibrated", 20));
    for m in [old, zero, twenty] {
        eprintln!("{} {}: {:?}", m.method, m.shots, m.report);
    }
    assert!(zero.report.macro_f1 >= 0.58, "no examples: macro-F1 {}", zero.report.macro_f1);
    assert!(zero.report.macro_f1 >= old.report.macro_f1 + 0.15, "better than the fixed rule");
    assert!(twenty.report.macro_f1 >= 0.72, "20 examples: macro-F1 {}", twenty.report.macro_f1);
    assert_eq!(twenty.scored, 8 * 10 + 40, "examples are not scored");
    assert!(twenty.report.no_topic.recall >= 0.85, "out of scope given none: {:?}", twenty.report.no_topic);
    assert!(zero.report.no_topic.recall >= 0.85, "out of scope given none: {:?}", zero.report.no_topic);
}
