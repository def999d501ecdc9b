//! Ingest's OpenAPI document: the committed copy is current, the service serves it, every
//! documented operation exists with the documented authentication, and the examples and
//! answers validate against the documented schemas.

mod common;

use common::TestApp;
use reqwest::StatusCode;
use rtcx_ingest::app::Limits;
use rtcx_ingest::openapi::{DOCUMENT_PATH, document, to_pretty_json};
use serde_json::{Value, json};

/// A validator for `#/components/schemas/{name}` of `doc`.
fn validator(doc: &Value, name: &str) -> jsonschema::Validator {
    let mut root = doc.clone();
    root["$ref"] = json!(format!("#/components/schemas/{name}"));
    jsonschema::validator_for(&root).expect("schema compiles")
}

#[test]
fn committed_document_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/ingest-openapi.json");
    let committed = std::fs::read_to_string(path).expect("docs/ingest-openapi.json");
    assert!(
        committed == to_pretty_json(&document(&Limits::default())),
        "docs/ingest-openapi.json is stale: run `cargo run -p rtcx-ingest --bin rtcx-ingest-openapi`"
    );
}

#[test]
fn examples_validate_and_the_rules_are_stated() {
    let doc = document(&Limits::default());
    let submission = validator(&doc, "FeedbackSubmission");
    for (path, op) in doc["paths"].as_object().expect("paths") {
        let op = &op["post"];
        if let Some(example) = op["requestBody"]["content"]["application/json"].get("example") {
            assert!(submission.is_valid(example), "{path}: example {example}");
        }
        for status in ["400", "413", "415", "429", "503"] {
            assert!(op["responses"].get(status).is_some(), "{path} documents {status}");
        }
    }
    // What the validation refuses, the schema refuses too.
    for bad in [
        json!({"channel": "fax", "text": "x"}),
        json!({"channel": "web", "text": ""}),
        json!({"channel": "web", "text": "a\u{0}b"}),
        json!({"channel": "web", "text": "\u{200b}\u{feff}"}),
        json!({"channel": "web", "text": "x", "rating": 6}),
        json!({"channel": "web", "text": "x", "customer_id": "a\nb"}),
        json!({"channel": "web", "text": "x", "metadata": {"k\u{0}": "v"}}),
        json!({"channel": "web", "text": "x", "unknown": 1}),
    ] {
        assert!(!submission.is_valid(&bad), "schema should refuse {bad}");
    }
}

#[tokio::test]
async fn served_document_and_documented_operations() {
    let app = TestApp::start().await;
    let served: Value =
        app.http.get(format!("{}{DOCUMENT_PATH}", app.url)).send().await.expect("get").json().await.expect("json");
    assert_eq!(served, document(&Limits::default()));

    let accepted = validator(&served, "Accepted");
    let batch = validator(&served, "BatchResult");
    let error = validator(&served, "ErrorBody");
    for (path, item) in served["paths"].as_object().expect("paths") {
        let op = &item["post"];
        let public = op["security"].as_array().is_some_and(Vec::is_empty);
        // Without credentials: 401 where credentials are documented, never 404.
        let resp = app.post_with(path, &[("content-type", "application/json")], "{}").await;
        let status = resp.status();
        let body: Value = resp.json().await.expect("json");
        assert!(error.is_valid(&body) || batch.is_valid(&body), "{path}: {body}");
        if public {
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        } else {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        }
    }
    // Answers match their schemas.
    let resp = app.post("/v1/feedback", r#"{"channel": "web", "text": "documented"}"#).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert!(accepted.is_valid(&resp.json::<Value>().await.expect("json")));
    let resp =
        app.post("/v1/feedback/batch", r#"[{"channel": "web", "text": "ok"}, {"channel": "web", "text": ""}]"#).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let body: Value = resp.json().await.expect("json");
    assert!(batch.is_valid(&body), "{body}");
    let resp = app.post("/v1/feedback", r#"{"channel": "web", "text": "", "rating": 9}"#).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.expect("json");
    assert!(error.is_valid(&body), "{body}");
    app.consume(2).await;
}
