//! The OpenAPI document: the committed copy is current; every operation is documented with
//! examples and its error answers; the document and the docs UI are served with no asset
//! from elsewhere; the roles each operation lists are exactly the roles the service lets in;
//! real answers validate against the documented schemas; framework rejections use the same
//! error body.

mod common;

use std::collections::{BTreeSet, HashSet};

use chrono::{Duration, Utc};
use reqwest::{Method, StatusCode};
use rtcx_query_api::app::document;
use rtcx_query_api::auth::Role;
use rtcx_schemas::rows::FeedbackRow;
use serde_json::{Value, json};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];
/// Operations anyone may call (they authenticate by other means or not at all).
const PUBLIC: [&str; 5] = ["auth_register", "auth_login", "auth_refresh", "auth_request_reset", "auth_confirm_reset"];

fn doc() -> Value {
    serde_json::to_value(document()).expect("document is JSON")
}

/// (path, method, operation) of every operation.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                out.push((path.clone(), m.to_owned(), op.clone()));
            }
        }
    }
    out
}

/// Follows a `$ref` inside the document.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => doc.pointer(r.trim_start_matches('#')).unwrap_or_else(|| panic!("dangling {r}")),
        None => v,
    }
}

/// Whether a schema (or, for arrays, its items) carries an example.
fn has_example(doc: &Value, schema: &Value) -> bool {
    let s = resolve(doc, schema);
    s.get("example").is_some() || s.get("examples").is_some() || s.get("items").is_some_and(|i| has_example(doc, i))
}

#[test]
fn committed_document_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
    let committed = std::fs::read_to_string(path).expect("docs/openapi.json");
    let current = rtcx_query_api::openapi::to_pretty_json(&document()).expect("serialise");
    assert!(
        committed == current,
        "docs/openapi.json drifted from the code: run `cargo run -p rtcx-query-api --bin rtcx-openapi` and commit"
    );
}

#[test]
fn every_operation_is_documented_with_examples_and_error_answers() {
    let doc = doc();
    assert_eq!(doc["openapi"], "3.1.0");
    let ops = operations(&doc);
    assert_eq!(ops.len(), 83, "operations in the document");
    let mut ids = HashSet::new();
    // Every `$ref` anywhere in the document resolves.
    fn refs(doc: &Value, v: &Value) {
        match v {
            Value::Object(m) => {
                if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                    assert!(doc.pointer(r.trim_start_matches('#')).is_some(), "dangling {r}");
                }
                m.values().for_each(|x| refs(doc, x));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(doc, x)),
            _ => {}
        }
    }
    refs(&doc, &doc);

    for (path, method, op) in &ops {
        let at = format!("{method} {path}");
        let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{at}: operationId"));
        assert!(ids.insert(id.to_owned()), "{at}: duplicate operationId {id}");
        assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()), "{at}: summary");
        assert_eq!(op["tags"].as_array().map(Vec::len), Some(1), "{at}: one tag");
        let responses = op["responses"].as_object().unwrap_or_else(|| panic!("{at}: responses"));
        // (The WebSocket route's success is 101 Switching Protocols.)
        let success = |k: &str| k.starts_with('2') || k == "101";
        let ok: Vec<_> = responses.keys().filter(|k| success(k)).collect();
        assert_eq!(ok.len(), 1, "{at}: one success answer");
        for (status, r) in responses {
            let r = resolve(&doc, r);
            assert!(r["description"].as_str().is_some_and(|d| !d.is_empty()), "{at} {status}: description");
            if !success(status) {
                let example = &r["content"]["application/json"]["example"];
                let examples = &r["content"]["application/json"]["examples"];
                assert!(example.is_object() || examples.is_object(), "{at} {status}: error example");
            }
        }
        // JSON success bodies and request bodies carry examples.
        if let Some(schema) = responses[ok[0].as_str()]["content"].get("application/json").map(|c| &c["schema"]) {
            assert!(has_example(&doc, schema), "{at}: success example");
        }
        if let Some(body) = op.get("requestBody") {
            assert!(has_example(&doc, &body["content"]["application/json"]["schema"]), "{at}: request example");
            assert!(responses.contains_key("400") && responses.contains_key("413"), "{at}: 400 and 413");
        }
        if op.get("parameters").and_then(Value::as_array).is_some_and(|p| p.iter().any(|p| p["in"] == "query")) {
            assert!(responses.contains_key("400"), "{at}: query parameters can be invalid");
        }
        assert!(responses.contains_key("503"), "{at}: 503");
        let public = PUBLIC.contains(&id);
        assert_eq!(op.get("security").is_none(), public, "{at}: security");
        if !public {
            for s in ["401", "403"] {
                assert!(responses.contains_key(s), "{at}: {s}");
            }
            let roles = op["x-rtcx-access"]["roles"].as_array().unwrap_or_else(|| panic!("{at}: x-rtcx-access"));
            assert!(roles.contains(&json!("ADMIN")), "{at}: admins may do everything");
            assert!(
                op["description"].as_str().is_some_and(|d| d.contains("Roles: ")),
                "{at}: roles in the description"
            );
        }
    }
    assert!(doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer");

    // The examples themselves follow their schemas, error examples included.
    let mut examples = 0;
    for (name, schema) in doc["components"]["schemas"].as_object().expect("schemas") {
        if let Some(example) = schema.get("example") {
            validate(&doc, &json!({"$ref": format!("#/components/schemas/{name}")}), example, name);
            examples += 1;
        }
    }
    for (name, response) in doc["components"]["responses"].as_object().expect("responses") {
        let content = &response["content"]["application/json"];
        let mut values: Vec<&Value> = content.get("example").into_iter().collect();
        if let Some(named) = content.get("examples").and_then(Value::as_object) {
            values.extend(named.values().map(|e| &e["value"]));
        }
        assert!(!values.is_empty(), "{name}: example");
        for v in values {
            validate(&doc, &content["schema"], v, name);
            examples += 1;
        }
    }
    assert!(examples >= 35, "{examples} examples checked");
}

#[tokio::test]
async fn the_document_and_an_offline_docs_ui_are_served() {
    let api = common::start(false, 50).await;
    let resp = api.http.get(format!("{}/v1/openapi.json", api.base)).send().await.expect("request");
    assert_eq!(resp.status(), StatusCode::OK);
    let served: Value = resp.json().await.expect("json");
    assert_eq!(served, doc(), "the served document is the generated one");

    let resp = api.http.get(format!("{}/v1/docs/", api.base)).send().await.expect("request");
    assert_eq!(resp.status(), StatusCode::OK);
    let csp = resp.headers()["content-security-policy"].to_str().expect("csp").to_owned();
    assert!(csp.contains("script-src 'self'") && !csp.contains("http"), "{csp}");
    let html = resp.text().await.expect("html");
    assert!(!html.contains("http://") && !html.contains("https://"), "the page loads nothing from elsewhere");
    // Every script and stylesheet the page names is served here, and they point at our document.
    let assets: Vec<String> = html
        .split(['"', '\''])
        .filter(|s| s.ends_with(".js") || s.ends_with(".css"))
        .map(|s| s.trim_start_matches("./").to_owned())
        .collect();
    assert!(assets.iter().any(|a| a.contains("swagger-ui-bundle")), "{html}");
    let mut initializer = String::new();
    for a in &assets {
        let resp = api.http.get(format!("{}/v1/docs/{a}", api.base)).send().await.expect("asset");
        assert_eq!(resp.status(), StatusCode::OK, "{a}");
        let body = resp.text().await.expect("asset body");
        assert!(body.len() > 100, "{a} is empty");
        if a.contains("initializer") {
            initializer = body;
        }
    }
    let config = api.http.get(format!("{}/v1/docs/swagger-config.json", api.base)).send().await.expect("config");
    let config = if config.status() == StatusCode::OK { config.text().await.expect("config") } else { String::new() };
    assert!(
        initializer.contains("/v1/openapi.json") || config.contains("/v1/openapi.json"),
        "the UI loads /v1/openapi.json"
    );
}

/// Fills the path parameters of `path` with a fresh id.
fn concrete(path: &str) -> String {
    path.replace("{id}", &uuid::Uuid::now_v7().to_string()).replace("{example_id}", &uuid::Uuid::now_v7().to_string())
}

#[tokio::test]
async fn documented_roles_are_exactly_the_roles_let_in() {
    let (api, database) = common::start_with_clickhouse().await;
    let doc = doc();
    let mut tokens = Vec::new();
    for role in Role::ALL {
        tokens.push((role, api.logged_in(role).await.1));
    }
    let mut checked = 0;
    for (path, method, op) in operations(&doc) {
        let Some(roles) = op["x-rtcx-access"]["roles"].as_array() else { continue };
        let allowed: BTreeSet<&str> = roles.iter().filter_map(Value::as_str).collect();
        for (role, token) in &tokens {
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let in_role = allowed.contains(role.as_str());
            // Only reads are sent for allowed roles: a write would change the fixture (logout!).
            if in_role && m != Method::GET {
                continue;
            }
            let body = (m != Method::GET && m != Method::DELETE).then(|| json!({}));
            let (status, answer) = api.send(m, &concrete(&path), token, body).await;
            if in_role {
                assert!(
                    status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
                    "{method} {path} as {role:?}: {status} {answer}"
                );
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path} as {role:?}: {answer}");
            }
            checked += 1;
        }
    }
    assert!(checked > 80, "only {checked} checks");
    common::drop_clickhouse(&database).await;
}

/// Validates `value` against the schema `schema` of the document.
fn validate(doc: &Value, schema: &Value, value: &Value, at: &str) {
    let mut root = json!({"components": doc["components"].clone()});
    if let Value::Object(m) = schema {
        for (k, v) in m {
            root[k] = v.clone();
        }
    }
    let validator = jsonschema::validator_for(&root).unwrap_or_else(|e| panic!("{at}: schema: {e}"));
    let errors: Vec<String> = validator.iter_errors(value).map(|e| format!("{} at {}", e, e.instance_path)).collect();
    assert!(errors.is_empty(), "{at}: answer does not match its schema: {errors:?}\n{value}");
}

#[tokio::test]
async fn answers_match_the_documented_schemas() {
    let (api, database) = common::start_with_clickhouse().await;
    let doc = doc();
    let (_, token) = api.logged_in(Role::Admin).await;
    // Something to read everywhere: feedback rows, a topic, a saved dashboard, a key.
    let (_, topic) = api
        .send(
            Method::POST,
            "/v1/topics",
            &token,
            Some(json!({"name": rtcx_service_kit::testing::unique("schema topic"), "keywords": ["parcel"]})),
        )
        .await;
    let topic_id: uuid::Uuid = topic["id"].as_str().expect("topic id").parse().expect("uuid");
    let now = Utc::now();
    let mut insert = api.state.ch.insert::<FeedbackRow>("feedback").await.expect("insert");
    for i in 0..30i64 {
        let row = FeedbackRow {
            text: format!("parcel {i} late"),
            sentiment_label: ["negative", "neutral", "positive"][(i % 3) as usize].into(),
            sentiment_score: (i % 3 - 1) as f32 * 0.6,
            nps: (i % 2 == 0).then_some((i % 11) as u8),
            csat: (i % 3 == 0).then_some((i % 5 + 1) as u8),
            topic_ids: vec![topic_id],
            segment: "smb".into(),
            embedding: vec![127, (i % 7) as i8, -(i as i8)],
            ..FeedbackRow::blank(now - Duration::hours(i * 3 + 1))
        };
        insert.write(&row).await.expect("write");
    }
    insert.end().await.expect("end");
    api.send(Method::POST, "/v1/dashboards", &token, Some(json!({"name": "schema check", "layout": {"widgets": []}})))
        .await;
    api.send(Method::POST, "/v1/api-keys", &token, Some(json!({"name": "schema check", "source": "schema"}))).await;
    let (_, page) = api.send(Method::GET, "/v1/feedback?range=7d&limit=1", &token, None).await;
    let feedback_id = page["items"][0]["id"].as_str().expect("a feedback id").to_owned();
    let (_, dashboards) = api.send(Method::GET, "/v1/dashboards", &token, None).await;
    let dashboard_id = dashboards[0]["id"].as_str().expect("a dashboard id").to_owned();
    let (_, me) = api.send(Method::GET, "/v1/auth/me", &token, None).await;
    let (status, alert) = api
        .send(
            Method::POST,
            "/v1/alerts",
            &token,
            Some(json!({"alert_type": "SYSTEM_ANOMALY", "severity": "LOW", "title": "schema check"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{alert}");
    let alert_id = alert["id"].as_str().expect("an alert id").to_owned();
    let (status, hook) = api
        .send(
            Method::POST,
            "/v1/webhooks",
            &token,
            Some(
                json!({"name": "schema check", "url": "https://hooks.example.com/h", "event_types": ["alert.created"]}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let hook_id = hook["id"].as_str().expect("a webhook id").to_owned();
    let (status, job) = api
        .send(Method::POST, "/v1/topic-reassignments", &token, Some(json!({"days": 1, "topic_ids": [topic_id]})))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let job_id = job["id"].as_str().expect("a job id").to_owned();

    let mut checked = 0;
    for (path, method, op) in operations(&doc) {
        // Exports and the live streams are not JSON answers (tests/live.rs checks the streams).
        if method != "get" || path.ends_with("/export") || path == "/v1/ws" || path == "/v1/events" {
            continue;
        }
        let id = match path.as_str() {
            p if p.starts_with("/v1/topics/") => topic_id.to_string(),
            p if p.starts_with("/v1/feedback/") => feedback_id.clone(),
            p if p.starts_with("/v1/dashboards/") => dashboard_id.clone(),
            p if p.starts_with("/v1/users/") => me["id"].as_str().expect("my id").to_owned(),
            p if p.starts_with("/v1/alerts/") => alert_id.clone(),
            p if p.starts_with("/v1/webhooks/") => hook_id.clone(),
            p if p.starts_with("/v1/topic-reassignments/") => job_id.clone(),
            _ => String::new(),
        };
        let query = if path == "/v1/feedback/similar" {
            // Found through the newest row's stored embedding (no model is loaded here).
            format!("?id={feedback_id}&range=7d")
        } else if path.starts_with("/v1/dashboard/") || path.ends_with("/stats") || path.ends_with("/trending") {
            "?range=7d".to_owned()
        } else {
            String::new()
        };
        let url = format!("{}{query}", path.replace("{id}", &id).replace("{name}", "negative_share"));
        let (status, answer) = api.send(Method::GET, &url, &token, None).await;
        assert_eq!(status, StatusCode::OK, "GET {url}: {answer}");
        let schema = &op["responses"]["200"]["content"]["application/json"]["schema"];
        validate(&doc, schema, &answer, &format!("GET {url}"));
        checked += 1;
    }
    assert_eq!(checked, 37, "JSON reads checked");
    api.send(Method::POST, &format!("/v1/topic-reassignments/{job_id}/cancel"), &token, None).await;

    // A few error answers against the error schema, framework rejections included.
    let error_schema = json!({"$ref": "#/components/schemas/ErrorBody"});
    for (m, url, expected) in [
        (Method::GET, "/v1/topics/not-a-uuid".to_owned(), StatusCode::BAD_REQUEST),
        (Method::GET, "/v1/no-such-route".to_owned(), StatusCode::NOT_FOUND),
        (Method::PUT, "/v1/users".to_owned(), StatusCode::METHOD_NOT_ALLOWED),
        (Method::GET, "/v1/dashboard/overview?range=2y".to_owned(), StatusCode::BAD_REQUEST),
        (Method::GET, format!("/v1/topics/{}", uuid::Uuid::now_v7()), StatusCode::NOT_FOUND),
    ] {
        let (status, answer) = api.send(m.clone(), &url, &token, None).await;
        assert_eq!(status, expected, "{m} {url}: {answer}");
        validate(&doc, &error_schema, &answer, &format!("{m} {url}"));
    }
    common::drop_clickhouse(&database).await;
}
