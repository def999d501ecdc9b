//! The ingest OpenAPI 3.1 document, served at `/v1/openapi.json` and committed as
//! `docs/ingest-openapi.json` (a test fails when the two drift apart).
//!
//! The request schema is the one the `schemas` crate generates from [`FeedbackSubmission`]
//! for integrations that produce straight to Kafka (OpenAPI 3.1 speaks JSON Schema 2020-12),
//! so the document states exactly the limits, enums and character rules the validation
//! enforces; the answer schemas come from the handlers' own answer types.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::routing::get;
use rtcx_schemas::FeedbackSubmission;
use rtcx_schemas::validation::ValidationError;
use schemars::JsonSchema;
use serde_json::{Map, Value, json};

use crate::app::Limits;
use crate::handlers::{Accepted, BatchResult};

/// Where the document is served.
pub const DOCUMENT_PATH: &str = "/v1/openapi.json";

/// How a schema is used: what clients send, or what the service answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Request,
    Answer,
}

/// The schemas of `T` with its `$defs` lifted into `components/schemas`.
fn component<T: JsonSchema>(schemas: &mut Map<String, Value>, direction: Direction) {
    let settings = schemars::generate::SchemaSettings::draft2020_12();
    let settings = if direction == Direction::Answer { settings.for_serialize() } else { settings.for_deserialize() };
    let generator = settings.into_generator();
    let mut schema = generator.into_root_schema_for::<T>().to_value();
    if let Some(obj) = schema.as_object_mut() {
        obj.remove("$schema");
        if let Some(Value::Object(defs)) = obj.remove("$defs") {
            for (name, mut def) in defs {
                rewrite_refs(&mut def);
                schemas.insert(name, def);
            }
        }
    }
    rewrite_refs(&mut schema);
    schemas.insert(T::schema_name().into_owned(), schema);
}

fn rewrite_refs(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                if k == "$ref"
                    && let Value::String(r) = item
                    && let Some(name) = r.strip_prefix("#/$defs/")
                {
                    *r = format!("#/components/schemas/{name}");
                } else {
                    rewrite_refs(item);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

fn error_response(description: &str, code: &str, retry_after: bool) -> Value {
    let mut r = json!({
        "description": description,
        "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/ErrorBody"},
            "example": {"error": {"code": code, "message": description}},
        }},
    });
    if retry_after {
        r["headers"] =
            json!({"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer", "minimum": 1}}});
    }
    r
}

fn errors(authenticated: bool) -> Value {
    let mut r = json!({
        "400": {"$ref": "#/components/responses/BadRequest"},
        "413": {"$ref": "#/components/responses/PayloadTooLarge"},
        "415": {"$ref": "#/components/responses/UnsupportedMediaType"},
        "429": {"$ref": "#/components/responses/RateLimited"},
        "503": {"$ref": "#/components/responses/Unavailable"},
    });
    if authenticated {
        r["401"] = json!({"$ref": "#/components/responses/Unauthorized"});
        r["403"] = json!({"$ref": "#/components/responses/Forbidden"});
    }
    r
}

fn single_operation(summary: &str, description: &str, authenticated: bool, limits: &Limits) -> Value {
    let mut responses = errors(authenticated);
    responses["202"] = json!({
        "description": "Kafka acknowledged the event (acks=all): it will be counted exactly once",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}},
    });
    let mut op = json!({
        "summary": summary,
        "description": format!("{description} Body at most {} bytes after gzip decompression.", limits.single_body_bytes),
        "parameters": [{"$ref": "#/components/parameters/IdempotencyKey"}],
        "requestBody": {"required": true, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/FeedbackSubmission"},
            "example": {"channel": "chat", "text": "Courier left my parcel in the rain, again.", "rating": 2,
                        "customer_id": "C-20931", "external_id": "zd-4411"},
        }}},
        "responses": responses,
    });
    if authenticated {
        op["security"] = json!([{"bearer": []}, {"apiKey": []}]);
    } else {
        op["security"] = json!([]);
    }
    op
}

fn many_operation(summary: &str, description: &str, media: &str, schema: Value, limits: &Limits) -> Value {
    let mut responses = errors(true);
    let batch = json!({"application/json": {"schema": {"$ref": "#/components/schemas/BatchResult"}}});
    responses["202"] =
        json!({"description": "At least one item accepted; each item's outcome by index", "content": batch});
    responses["400"] = json!({
        "description": "No item was valid (`BatchResult` with every item rejected), or the body itself is malformed",
        "content": {"application/json": {"schema": {"oneOf": [
            {"$ref": "#/components/schemas/BatchResult"},
            {"$ref": "#/components/schemas/ErrorBody"},
        ]}}},
    });
    responses["503"] = json!({
        "description": "Kafka did not acknowledge some items: `failed` lists them (retry those), or Kafka is unreachable",
        "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer", "minimum": 1}}},
        "content": {"application/json": {"schema": {"oneOf": [
            {"$ref": "#/components/schemas/BatchResult"},
            {"$ref": "#/components/schemas/ErrorBody"},
        ]}}},
    });
    json!({
        "summary": summary,
        "description": format!(
            "{description} At most {} events and {} bytes (after gzip decompression). A batch is not a \
             transaction: valid items are accepted, invalid ones rejected with their index.",
            limits.batch_max_events, limits.batch_body_bytes
        ),
        "security": [{"bearer": []}, {"apiKey": []}],
        "requestBody": {"required": true, "content": {media: {"schema": schema}}},
        "responses": responses,
    })
}

/// The document for `limits`.
pub fn document(limits: &Limits) -> Value {
    let mut schemas = Map::new();
    component::<FeedbackSubmission>(&mut schemas, Direction::Request);
    component::<Accepted>(&mut schemas, Direction::Answer);
    component::<BatchResult>(&mut schemas, Direction::Answer);
    component::<ValidationError>(&mut schemas, Direction::Answer);
    schemas.insert(
        "ErrorBody".into(),
        json!({
            "type": "object",
            "required": ["error"],
            "properties": {"error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "description": "Stable machine-readable code", "enum": [
                        "malformed_json", "validation_failed", "invalid_header", "unauthorized", "forbidden",
                        "payload_too_large", "unsupported_media_type", "rate_limited", "unavailable", "internal"]},
                    "message": {"type": "string"},
                    "details": {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"},
                                "description": "On `validation_failed`: every violated rule"},
                },
            }},
        }),
    );
    let array_schema = json!({
        "type": "array",
        "minItems": 1,
        "maxItems": limits.batch_max_events,
        "items": {"$ref": "#/components/schemas/FeedbackSubmission"},
    });
    // NDJSON is the same list of events written one JSON object per line (blank lines are
    // skipped; an item's index is its 0-based line number).
    let mut ndjson_schema = array_schema.clone();
    ndjson_schema["description"] = json!(
        "The events, one JSON object per line (blank lines skipped; an item's index is its 0-based line number)."
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "rtcx ingest API",
            "version": env!("CARGO_PKG_VERSION"),
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
            "description": "Customer feedback in, to Kafka. Every 2xx means Kafka acknowledged the events durably \
    (acks=all). Send the same `external_id` or `Idempotency-Key` again and the event keeps its id and is counted once. \
    Bodies may be gzip-compressed (`Content-Encoding: gzip`, every member read). Every error answers \
    `{\"error\": {\"code\", \"message\", \"details\"}}`. Text fields refuse control characters other than TAB, LF and \
    CR (identifiers refuse those too) and text made only of whitespace or invisible characters. `occurred_at` may lie at \
    most 5 minutes in the future and not before 2000-01-01.",
        },
        "paths": {
            "/v1/feedback": {"post": single_operation(
                "Submit one feedback",
                "Authenticated with an API key (scope `ingest`) or a user's access token.",
                true, limits)},
            "/v1/feedback/batch": {"post": many_operation(
                "Submit a JSON array of feedback", "Authenticated like `/v1/feedback`.",
                "application/json", array_schema, limits)},
            "/v1/feedback/ndjson": {"post": many_operation(
                "Submit newline-delimited feedback", "Authenticated like `/v1/feedback`.",
                "application/x-ndjson", ndjson_schema, limits)},
            "/v1/public/feedback": {"post": single_operation(
                "Submit one anonymous feedback (web widget)",
                "No credentials; a strict per-IP rate limit; CORS open to any origin.",
                false, limits)},
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "`Authorization: Bearer <API key or access token>`"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
            },
            "parameters": {
                "IdempotencyKey": {"name": "Idempotency-Key", "in": "header", "required": false,
                    "description": "Retries with the same key (from the same source) get the same id; must equal the body's `idempotency_key` when both are sent.",
                    "schema": {"type": "string", "minLength": 1, "maxLength": rtcx_schemas::validation::limits::ID_MAX_CHARS,
                               "pattern": "^[!-~]+$"}}
            },
            "responses": {
                "BadRequest": error_response(
                    "The body is not JSON of the expected shape (`malformed_json`), a field breaks a rule \
    (`validation_failed`, `details` lists each), or a header is invalid (`invalid_header`)", "validation_failed", false),
                "Unauthorized": error_response("Missing, unknown, expired or revoked credentials", "unauthorized", false),
                "Forbidden": error_response("The credentials lack the `ingest` scope or role", "forbidden", false),
                "PayloadTooLarge": error_response("Body over the limit (after decompression) or too many events", "payload_too_large", false),
                "UnsupportedMediaType": error_response("Wrong `Content-Type` or an unsupported `Content-Encoding`", "unsupported_media_type", false),
                "RateLimited": error_response("A per-key or per-IP rate limit", "rate_limited", true),
                "Unavailable": error_response("Kafka unreachable, delivery timed out, or the producer queue is full", "unavailable", true),
            },
        },
    })
}

/// The document route.
pub fn routes<S: Clone + Send + Sync + 'static>(limits: &Limits) -> Router<S> {
    let body = serde_json::to_string(&document(limits)).unwrap_or_default();
    Router::new().route(
        DOCUMENT_PATH,
        get(move || {
            let body = body.clone();
            async move { ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body) }
        }),
    )
}

/// The document as committed in `docs/ingest-openapi.json` (default limits, pretty, trailing newline).
pub fn to_pretty_json(doc: &Value) -> String {
    serde_json::to_string_pretty(doc).unwrap_or_default() + "\n"
}
