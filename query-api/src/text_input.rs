//! The character rule of [`rtcx_schemas::text`] applied to every request, in one place:
//! each query parameter and each string (and object key) of a JSON body is checked before any
//! handler runs, so no control character can reach Postgres (which refuses U+0000 with an
//! error), a CSV export or an e-mail, whatever route a future change adds.
//!
//! A violation answers 400 `validation_failed` whose `details` name the field by its path
//! (`name`, `layout.widgets[2].kind`, `query.q`). Bodies that are not JSON pass through
//! untouched: the handler's own extractor reports them as `malformed_json`.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rtcx_schemas::text::{TextKind, first_forbidden};
use serde_json::Value;

use crate::error::ApiError;

/// Whether a required name (topic, category, keyword, dashboard, API key) is acceptable:
/// something visible ([`rtcx_schemas::text::has_visible`]) and at most `max` characters as
/// sent (surrounding whitespace is trimmed before storing, but counts here, so that the
/// document's `maxLength` states the rule exactly).
pub fn name_ok(s: &str, max: usize) -> bool {
    rtcx_schemas::text::has_visible(s) && s.chars().count() <= max
}

/// At most this many violations are reported in one answer.
const MAX_REPORTED: usize = 20;

/// Middleware: refuses requests whose query or JSON body holds a forbidden character.
pub async fn refuse_control_characters(req: Request, next: Next) -> Response {
    let mut found = Vec::new();
    if let Some(query) = req.uri().query() {
        check_query(query, &mut found);
    }
    if !is_json(&req) {
        return respond(found, req, next).await;
    }
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, crate::app::BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };
    check_body(&bytes, &mut found);
    respond(found, Request::from_parts(parts, Body::from(bytes)), next).await
}

async fn respond(found: Vec<(String, String)>, req: Request, next: Next) -> Response {
    if found.is_empty() { next.run(req).await } else { ApiError::Validation(found).into_response() }
}

fn is_json(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|ct| ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .is_some_and(|essence| essence == "application/json" || essence.ends_with("+json"))
}

/// Checks every parameter name and value of a query string (percent-decoded).
pub fn check_query(query: &str, found: &mut Vec<(String, String)>) {
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        let field = format!("query.{name}");
        if let Some(bad) = first_forbidden(&name, TextKind::SingleLine) {
            push(found, field, format!("parameter name {bad}"));
        } else if let Some(bad) = first_forbidden(&value, TextKind::MultiLine) {
            push(found, field, bad.to_string());
        }
    }
}

/// Checks every string and key of a JSON body; a body that is not JSON is left alone.
pub fn check_body(bytes: &Bytes, found: &mut Vec<(String, String)>) {
    if let Ok(value) = serde_json::from_slice::<Value>(bytes) {
        walk(&value, &mut String::new(), found);
    }
}

fn walk(v: &Value, path: &mut String, found: &mut Vec<(String, String)>) {
    match v {
        Value::String(s) => {
            if let Some(bad) = first_forbidden(s, TextKind::MultiLine) {
                push(found, display(path), bad.to_string());
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(item, path, found);
                path.truncate(len);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                if let Some(bad) = first_forbidden(key, TextKind::SingleLine) {
                    push(found, display(path), format!("key {bad}"));
                } else {
                    walk(item, path, found);
                }
                path.truncate(len);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn display(path: &str) -> String {
    if path.is_empty() { "body".to_owned() } else { path.escape_default().to_string() }
}

fn push(found: &mut Vec<(String, String)>, field: String, message: String) {
    if found.len() < MAX_REPORTED {
        found.push((field, message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: &str) -> Vec<(String, String)> {
        let mut found = Vec::new();
        check_body(&Bytes::from(json.to_owned()), &mut found);
        found
    }

    #[test]
    fn names_the_field_that_holds_a_control_character() {
        let found = body(r#"{"name": "a\u0000b", "layout": {"widgets": [{"kind": "ok"}, {"kind": "x\u0001"}]}}"#);
        let mut found = found;
        found.sort();
        let fields: Vec<&str> = found.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["layout.widgets[1].kind", "name"]);
        assert!(found[1].1.contains("U+0000"), "{found:?}");
        assert_eq!(body(r#""\u0000""#)[0].0, "body");
        assert_eq!(body(r#"{"k\u0000": 1}"#)[0].1, "key must not contain control characters (U+0000 at position 1)");
    }

    #[test]
    fn line_breaks_and_non_json_pass() {
        assert!(body(r#"{"description": "one\ntwo\tthree\r\n"}"#).is_empty());
        assert!(body("not json \u{0}").is_empty());
        let mut found = Vec::new();
        check_query("q=a%00b&limit=5", &mut found);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "query.q");
        let mut found = Vec::new();
        check_query("q=caf%C3%A9&range=24h", &mut found);
        assert!(found.is_empty());
    }
}
