//! The stream service does not start without its model: a folder that cannot be loaded stops
//! `rtcx-processors run` with the reason and the folder, never a silent switch to the lexicon
//! (the commands of `rtcx-model`: model/tests/model_loading.rs).

use std::process::{Command, Output};
use std::time::Duration;

use rtcx_service_kit::testing::output_within;

const MISSING: &str = "/nonexistent/rtcx-model";

/// Runs `rtcx-processors ARGS` on `model_dir`; it must stop within 60 s (a missing model must not
/// leave it waiting).
fn processors(args: &[&str], model_dir: &str) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rtcx-processors"));
    cmd.args(args)
        .env("RTCX_MODEL_DIR", model_dir)
        .env_remove("RTCX_LEXICON_ONLY")
        .env_remove("RTCX_SENTIMENT_MODEL_DIR")
        .env_remove("RTCX_EMOTION_MODEL_DIR");
    output_within(&mut cmd, Duration::from_secs(60))
}

#[test]
fn the_service_does_not_start_without_its_model() {
    let out = processors(&["run"], MISSING);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("loading the engine"), "the reason is stated: {stderr}");
    assert!(stderr.contains(MISSING), "and names the folder: {stderr}");
}
