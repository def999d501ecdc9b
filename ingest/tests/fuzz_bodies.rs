//! Property test: random bodies, content types and encodings sent to every endpoint never
//! crash the service and never get a 5xx (bad input is always a 4xx).

mod common;

use common::TestApp;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn body_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // arbitrary bytes
        proptest::collection::vec(any::<u8>(), 0..512),
        // JSON-looking text with random structure
        "[\\[\\]{}\":,a-z0-9 \\-\\.\\n]{0,300}".prop_map(String::into_bytes),
        // submissions with random field values
        (any::<u8>(), "\\PC{0,40}", prop::option::of(any::<i64>()), prop::option::of("\\PC{0,12}")).prop_map(
            |(c, text, rating, lang)| {
                let channels = ["web", "email", "fax", "", "chat"];
                let mut v = serde_json::json!({"channel": channels[usize::from(c) % channels.len()], "text": text});
                if let Some(r) = rating {
                    v["rating"] = serde_json::json!(r);
                }
                if let Some(l) = lang {
                    v["language"] = serde_json::json!(l);
                }
                if c % 3 == 0 { serde_json::json!([v, v]) } else { v }.to_string().into_bytes()
            }
        ),
    ]
}

#[test]
fn random_bodies_never_yield_a_5xx() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let app = rt.block_on(TestApp::start());
    let mut runner = TestRunner::new(Config { cases: 300, failure_persistence: None, ..Config::default() });
    let paths = ["/v1/feedback", "/v1/feedback/batch", "/v1/feedback/ndjson", "/v1/public/feedback"];
    let types = ["application/json", "application/x-ndjson", "text/plain", ""];
    let encodings = ["", "gzip", "identity", "deflate"];
    let strategy = (0..paths.len(), 0..types.len(), 0..encodings.len(), body_strategy());
    runner
        .run(&strategy, |(p, t, e, body)| {
            let status = rt.block_on(async {
                let mut req = app.http.post(format!("{}{}", app.url, paths[p])).bearer_auth(&app.key).body(body);
                if !types[t].is_empty() {
                    req = req.header("content-type", types[t]);
                }
                if !encodings[e].is_empty() {
                    req = req.header("content-encoding", encodings[e]);
                }
                req.send().await.map(|r| r.status())
            });
            let status = status.map_err(|e| TestCaseError::fail(format!("request failed (server crashed?): {e}")))?;
            prop_assert!(!status.is_server_error(), "{} {} {}: {status}", paths[p], types[t], encodings[e]);
            Ok(())
        })
        .expect("property holds");
}
