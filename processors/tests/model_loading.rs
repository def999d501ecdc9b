//! The stream service does not start without its model: a folder that cannot be loaded stops
//! `rtcx-processors run` with the reason and the folder, never a silent switch to the lexicon
//! (the commands of `rtcx-model`: model/tests/model_loading.rs).

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const MISSING: &str = "/nonexistent/rtcx-model";

fn processors(args: &[&str], model_dir: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rtcx-processors"))
        .args(args)
        .env("RTCX_MODEL_DIR", model_dir)
        .env_remove("RTCX_LEXICON_ONLY")
        .env_remove("RTCX_SENTIMENT_MODEL_DIR")
        .env_remove("RTCX_EMOTION_MODEL_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rtcx-processors");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("rtcx-processors {args:?} still running after 60 s: it did not stop on a missing model");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

#[test]
fn the_service_does_not_start_without_its_model() {
    let out = processors(&["run"], MISSING);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("loading the engine"), "the reason is stated: {stderr}");
    assert!(stderr.contains(MISSING), "and names the folder: {stderr}");
}
