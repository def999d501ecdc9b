//! Model loading is explicit: a model folder that cannot be loaded stops a command with the
//! reason, never a silent switch to the lexicon; the lexicon runs only when chosen with
//! `--lexicon` (the stream service: processors/tests/model_loading.rs). `eval` says which model it measured and refuses labels
//! it cannot map instead of leaving rows out.

use std::process::{Command, Output};
use std::time::Duration;

use rtcx_service_kit::testing::output_within;

const MISSING: &str = "/nonexistent/rtcx-model";

/// Runs `rtcx-model ARGS` on `model_dir`; it must stop within 60 s (a missing model must not
/// leave it waiting).
fn model(args: &[&str], model_dir: &str) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rtcx-model"));
    cmd.args(args)
        .env("RTCX_MODEL_DIR", model_dir)
        .env_remove("RTCX_LEXICON_ONLY")
        .env_remove("RTCX_SENTIMENT_MODEL_DIR")
        .env_remove("RTCX_EMOTION_MODEL_DIR");
    output_within(&mut cmd, Duration::from_secs(60))
}

#[test]
fn a_missing_model_is_an_error_not_the_lexicon() {
    let out = model(&["analyze", "the refund never came"], MISSING);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "analyze succeeded without a model: {}", String::from_utf8_lossy(&out.stdout));
    assert!(stderr.contains("loading the model"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("lexicon"), "no lexicon results");

    let out = model(&["analyze", "--lexicon", "the refund never came"], MISSING);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("lexicon-en") && stdout.contains("negative"), "chosen, the lexicon runs: {stdout}");
}

#[test]
fn eval_names_its_model_and_refuses_unknown_labels() {
    let dir = std::env::temp_dir().join(format!("rtcx-eval-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let good = dir.join("good.tsv");
    std::fs::write(&good, "negative\tthe refund never came, awful\npositive\tgreat, friendly staff\n").expect("write");
    let data = good.to_string_lossy().into_owned();
    let out = model(&["eval", "--lexicon", "--format", "tsv-label", "--data", &data], MISSING);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("model: lexicon-en "), "{stdout}");

    let bad = dir.join("bad.tsv");
    std::fs::write(&bad, "negative\tthe refund never came\nmixed\tok and not ok\n").expect("write");
    let data = bad.to_string_lossy().into_owned();
    let out = model(&["eval", "--lexicon", "--format", "tsv-label", "--data", &data], MISSING);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "an unknown label was left out silently");
    assert!(stderr.contains("bad.tsv:2: label \"mixed\""), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
