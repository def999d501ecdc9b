//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations and
//! served at `/v1/openapi.json`, and the docs UI at `/v1/docs` (Swagger UI whose assets are
//! compiled into the binary: no CDN, works offline).
//!
//! The router is built from the same annotations ([`crate::app::router`] registers every
//! route through `utoipa_axum::routes!`), so a route cannot exist without its documentation.
//! Each protected operation names the permission it needs in `x-rtcx-permission`; [`finish`]
//! turns that into the security requirement, its error answers and the roles allowed, from the same matrix [`crate::auth::AuthUser::require`]
//! enforces.

use axum::Router;
use axum::http::{HeaderValue, header};
use serde_json::json;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, Ref, RefOr};
use utoipa::{Modify, OpenApi, ToResponse};
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::{Permission, Role};
use crate::error::ErrorBody;

/// Where the document is served.
pub const DOCUMENT_PATH: &str = "/v1/openapi.json";
/// Where the docs UI is served.
pub const UI_PATH: &str = "/v1/docs";
/// Name of the bearer security scheme.
pub const BEARER: &str = "bearer";
/// Operation extension naming the permission a route needs (in the annotations).
pub const PERMISSION_EXTENSION: &str = "x-rtcx-permission";
/// Operation extension marking the operations answered through the answer cache.
pub const CACHED_EXTENSION: &str = "x-rtcx-cached";
/// Operation extension in the finished document: `{"permission", "roles"}`.
pub const ACCESS_EXTENSION: &str = "x-rtcx-access";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "rtcx query API",
        description = "Auth, users and roles, API keys, topics, feedback search and export, dashboard \
analytics, saved dashboards, and alerts (workflow, rules, silences, previews) of rtcx.\n\n\
Authenticate with `POST /v1/auth/login` and send the access token as `Authorization: Bearer <token>`. \
Every error answers `{\"error\": {\"code\", \"message\", \"details\"}}`, unknown routes and \
unparsable path parameters included; `details` maps field paths to \
messages on `validation_failed`. Every answer carries an `x-request-id` header (sent one is kept).",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    modifiers(&BearerAuth),
    components(
        schemas(ErrorBody, crate::error::ErrorDetail),
        responses(BadRequest, Unauthorized, Forbidden, NotFound, Conflict, PayloadTooLarge, RateLimited, TooManyConnections, UpgradeRequired, Unavailable)
    ),
    tags(
        (name = "auth", description = "Login, tokens, sessions, passwords."),
        (name = "users", description = "User administration and roles."),
        (name = "api-keys", description = "Keys integrations send to ingest."),
        (name = "topics", description = "The topic catalogue, its analytics and suggestions."),
        (name = "feedback", description = "Search, read and export enriched feedback."),
        (name = "dashboard", description = "Dashboard analytics from the ClickHouse rollups."),
        (name = "saved-dashboards", description = "Each user's saved dashboard layouts."),
        (name = "alerts", description = "Alerts raised by the detectors or by hand, and their workflow."),
        (name = "alert-rules", description = "The rules the alert evaluator runs, and their preview over history."),
        (name = "alert-silences", description = "Muting matching alerts for a while."),
        (name = "live", description = "Live updates over a WebSocket or Server-Sent Events (docs/live.md)."),
        (name = "webhooks", description = "Endpoints the notifier delivers alert events to, signed, and their delivery log."),
    )
)]
pub struct ApiDoc;

/// Declares the bearer (JWT) security scheme.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.bearer_format = Some("JWT".to_owned());
        http.description =
            Some("Access token from `POST /v1/auth/login` or `/v1/auth/refresh` (15 minutes).".to_owned());
        components.add_security_scheme(BEARER, SecurityScheme::Http(http));
    }
}

/// Completes the document the router produced: every operation may answer 503; each one
/// that names a permission (`x-rtcx-permission`) needs the bearer token, may answer 401 and
/// 403, and lists the roles allowed (`x-rtcx-access` and a sentence in its description), from
/// the same matrix [`crate::auth::AuthUser::require`] enforces.
pub fn finish(doc: Document) -> Document {
    state_field_rules(finish_operations(doc))
}

fn finish_operations(mut doc: Document) -> Document {
    for item in doc.paths.paths.values_mut() {
        for op in
            [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete].into_iter().flatten()
        {
            add_response(op, 503, "Unavailable");
            if op.request_body.is_some() {
                add_response(op, 413, "PayloadTooLarge");
            }
            // Anything the client sends can break a rule: a path id that is not a UUID, a
            // control character in a query parameter or body string (`text_input`).
            if op.request_body.is_some() || op.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
                add_response(op, 400, "BadRequest");
            }
            // Handler names repeat across modules; the tag (one per module) makes them unique.
            if let (Some(tag), Some(id)) = (op.tags.as_ref().and_then(|t| t.first()), op.operation_id.as_mut()) {
                *id = format!("{}_{id}", tag.replace('-', "_"));
            }
            describe_shared_behaviour(op);
            for response in op.responses.responses.values_mut() {
                if let RefOr::T(r) = response
                    && r.description.is_empty()
                {
                    r.description = "Success".to_owned();
                }
            }
            let permission = op
                .extensions
                .as_ref()
                .and_then(|e| e.get(PERMISSION_EXTENSION))
                .and_then(|v| v.as_str())
                .and_then(Permission::parse);
            let Some(permission) = permission else { continue };
            add_response(op, 401, "Unauthorized");
            add_response(op, 403, "Forbidden");
            op.security = Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
            let roles: Vec<&str> = Role::ALL.into_iter().filter(|r| r.allows(permission)).map(Role::as_str).collect();
            add_to_description(op, format!("Roles: {}.", roles.join(", ")), false);
            // One extension per operation keeps the document's key order stable.
            let mut ext = Extensions::default();
            ext.insert(ACCESS_EXTENSION.to_owned(), json!({"permission": permission.as_str(), "roles": roles}));
            op.extensions = Some(ext);
        }
    }
    doc
}

/// Required names: something visible, at most this many characters ([`crate::text_input::name_ok`]).
/// `(schema, property, max characters)`.
pub const NAME_FIELDS: &[(&str, &str, usize)] = &[
    ("NewTopic", "name", crate::topics::NAME_MAX),
    ("NewTopic", "category", crate::topics::CATEGORY_MAX),
    ("TopicPatch", "name", crate::topics::NAME_MAX),
    ("TopicPatch", "category", crate::topics::CATEGORY_MAX),
    ("Accept", "name", crate::topics::NAME_MAX),
    ("Accept", "category", crate::topics::CATEGORY_MAX),
    ("DashboardBody", "name", crate::saved_dashboards::NAME_MAX),
    ("CreateKey", "name", crate::api_keys::NAME_MAX),
    ("NewAlert", "title", crate::alerts::TITLE_MAX),
    ("NewComment", "text", crate::alerts::TEXT_MAX),
    ("StatusChange", "resolution_notes", crate::alerts::TEXT_MAX),
    ("ManualDimension", "customer_id", 256),
    ("NewSilence", "comment", crate::alerts::silences::COMMENT_MAX),
    ("NewWebhook", "name", crate::webhooks::NAME_MAX),
    ("WebhookPatch", "name", crate::webhooks::NAME_MAX),
    ("NewExample", "text", crate::topic_examples::EXAMPLE_MAX),
];
/// Optional free text: at most this many characters. `(schema, property, max characters)`.
pub const TEXT_FIELDS: &[(&str, &str, usize)] = &[
    ("NewAlert", "description", crate::alerts::TEXT_MAX),
    ("StatusChange", "note", crate::alerts::TEXT_MAX),
    ("SeverityChange", "note", crate::alerts::TEXT_MAX),
];

/// Email addresses checked by [`crate::auth::handlers::normalize_email`]: `(schema, property)`.
pub const EMAIL_FIELDS: &[(&str, &str)] = &[("RegisterRequest", "email"), ("CreateUser", "email")];

/// Keyword lists of topics: `(schema, property)`.
pub const KEYWORD_FIELDS: &[(&str, &str)] = &[
    ("NewTopic", "keywords"),
    ("TopicPatch", "keywords"),
    ("Accept", "keywords"),
    ("NewTopic", "excluded_keywords"),
    ("TopicPatch", "excluded_keywords"),
];

/// States in the document the field rules the validation enforces, from the same constants:
/// every string without a format, enum or pattern of its own gets the character rule of
/// [`rtcx_schemas::text`] (what [`crate::text_input`] enforces on every request); required
/// names need something visible and have their length limits; topic keyword lists their
/// count and keyword length.
fn state_field_rules(doc: Document) -> Document {
    use rtcx_schemas::text::{MULTI_LINE_PATTERN, SINGLE_LINE_PATTERN, VISIBLE_MULTI_LINE_PATTERN};
    let Ok(mut v) = serde_json::to_value(&doc) else { return doc };
    let schemas = &mut v["components"]["schemas"];
    for (schema, property, max) in NAME_FIELDS {
        patch_property(schemas, schema, property, |p| {
            p.insert("pattern".into(), json!(VISIBLE_MULTI_LINE_PATTERN));
            p.insert("minLength".into(), json!(1));
            p.insert("maxLength".into(), json!(max));
        });
    }
    for (schema, property, max) in TEXT_FIELDS {
        patch_property(schemas, schema, property, |p| {
            p.insert("maxLength".into(), json!(max));
        });
    }
    // Alert rules: detectors and channels from the lists the checks use.
    let channels: Vec<&str> = rtcx_schemas::Channel::ALL.iter().map(|c| c.as_str()).collect();
    for schema in ["RuleDraft", "RulePatch"] {
        patch_property(schemas, schema, "channels", |p| {
            p.insert("items".into(), json!({"type": "string", "enum": channels}));
        });
    }
    patch_property(schemas, "RuleDraft", "detector", |p| {
        p.insert("enum".into(), json!(crate::alerts::rules::detector_names()));
    });
    let types = crate::alerts::type_names();
    for (schema, property) in [("NewAlert", "alert_type"), ("Matcher", "alert_type")] {
        patch_property(schemas, schema, property, |p| {
            p.insert("enum".into(), json!(types));
        });
    }
    let severities = crate::alerts::severity_names();
    for (schema, property) in [("NewAlert", "severity"), ("SeverityChange", "severity")] {
        patch_property(schemas, schema, property, |p| {
            p.insert("enum".into(), json!(severities));
        });
    }
    // A silence's matcher names keys with values: `null` is no value.
    for property in ["rule", "alert_type", "channel", "topic_id"] {
        patch_property(schemas, "Matcher", property, |p| {
            if let Some(types) = p.get_mut("type").and_then(|t| t.as_array_mut()) {
                types.retain(|t| t != "null");
            }
        });
    }
    // Tagged enums refuse unknown fields like the structs do (serde `deny_unknown_fields`).
    if let Some(variants) = schemas.pointer_mut("/StatusChange/oneOf").and_then(|v| v.as_array_mut()) {
        for v in variants.iter_mut().filter_map(|v| v.as_object_mut()) {
            v.insert("additionalProperties".into(), json!(false));
        }
    }
    // A reassignment covers the last `days` days or `[from, to)`: one of the two (the
    // handler refuses a body giving both, or neither). (`allOf`: the document's object schema
    // has no `oneOf` of its own.)
    if let Some(body) = schemas.get_mut("ReassignmentBody") {
        let mut fields = body.take();
        let example = fields.as_object_mut().and_then(|f| f.remove("example"));
        *body = json!({"example": example, "allOf": [fields, {"oneOf": [
            {"type": "object", "required": ["days"], "properties": {"days": {"type": "integer"}, "from": {"type": "null"}, "to": {"type": "null"}}},
            {"type": "object", "required": ["from"], "properties": {"from": {"type": "string"}, "days": {"type": "null"}}},
        ]}]});
    }
    for (schema, property) in [("Matcher", "channel"), ("ManualDimension", "channel")] {
        patch_property(schemas, schema, property, |p| {
            p.insert("enum".into(), json!(channels));
        });
    }
    for (schema, property) in EMAIL_FIELDS {
        if let Some(p) = schema_property(schemas, schema, property) {
            p.insert("pattern".into(), json!(crate::auth::handlers::EMAIL_PATTERN));
            p.insert("maxLength".into(), json!(crate::auth::handlers::EMAIL_MAX));
        }
    }
    for (schema, property) in KEYWORD_FIELDS {
        if let Some(p) = schema_property(schemas, schema, property) {
            p.insert("maxItems".into(), json!(crate::topics::KEYWORDS_MAX));
            p.insert(
                "items".into(),
                json!({"type": "string", "minLength": 1, "maxLength": crate::topics::KEYWORD_MAX, "pattern": VISIBLE_MULTI_LINE_PATTERN}),
            );
        }
    }
    // Saved dashboards' free-form JSON: the character rule on every key and string, numbers
    // within what Postgres gives back unchanged (`saved_dashboards::MAX_NUMBER`).
    let max = crate::saved_dashboards::MAX_NUMBER;
    let data = json!({
        "description": "Any JSON value whose keys have no control character, whose strings have none but TAB, LF and CR, and whose numbers lie strictly between -1e15 and 1e15.",
        "anyOf": [
            {"type": "null"},
            {"type": "boolean"},
            {"type": "number", "exclusiveMinimum": -max, "exclusiveMaximum": max},
            {"type": "string", "pattern": MULTI_LINE_PATTERN},
            {"type": "array", "items": {"$ref": "#/components/schemas/JsonData"}},
            {"type": "object", "propertyNames": {"type": "string", "pattern": SINGLE_LINE_PATTERN}, "additionalProperties": {"$ref": "#/components/schemas/JsonData"}},
        ],
    });
    for property in ["layout", "filters"] {
        if let Some(p) = schema_property(schemas, "DashboardBody", property) {
            p.insert("propertyNames".into(), json!({"type": "string", "pattern": SINGLE_LINE_PATTERN}));
            p.insert("additionalProperties".into(), json!({"$ref": "#/components/schemas/JsonData"}));
        }
    }
    if let Some(map) = schemas.as_object_mut() {
        map.insert("JsonData".into(), data);
    }
    if let Some(p) = schema_property(schemas, "NewExamples", "examples") {
        p.insert("minItems".into(), json!(1));
        p.insert("maxItems".into(), json!(crate::topic_examples::EXAMPLES_PER_REQUEST));
    }
    for schema in ["NewTopic", "TopicPatch"] {
        if let Some(p) = schema_property(schemas, schema, "description") {
            p.insert("maxLength".into(), json!(crate::topics::DESCRIPTION_MAX));
        }
    }
    // What clients send: every parameter, and the schemas of request bodies. (Answers carry
    // stored data and are left as they are.)
    let mut request_schemas = Vec::new();
    if let Some(paths) = v["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            for op in item.as_object_mut().into_iter().flat_map(|m| m.values_mut()) {
                if let Some(params) = op.get_mut("parameters") {
                    for param in params.as_array_mut().into_iter().flatten() {
                        if let Some(rule) = parameter_rule(path, param["name"].as_str().unwrap_or_default()) {
                            param["schema"] = rule;
                        }
                    }
                    add_string_pattern(params, MULTI_LINE_PATTERN);
                }
                for media in
                    op.pointer("/requestBody/content").and_then(|c| c.as_object()).into_iter().flat_map(|c| c.values())
                {
                    if let Some(name) =
                        media.pointer("/schema/$ref").and_then(|r| r.as_str()).and_then(|r| r.rsplit('/').next())
                    {
                        request_schemas.push(name.to_owned());
                    }
                }
            }
        }
    }
    for name in request_schemas {
        if let Some(schema) = v["components"]["schemas"].get_mut(&name) {
            add_string_pattern(schema, MULTI_LINE_PATTERN);
        }
    }
    match serde_json::from_value(v) {
        Ok(finished) => finished,
        Err(e) => {
            // A bug here would silently drop the stated rules: fail loudly in tests and logs.
            debug_assert!(false, "the finished OpenAPI document does not deserialize: {e}");
            tracing::error!(error = %e, "the finished OpenAPI document does not deserialize; serving it without field rules");
            doc
        }
    }
}

/// The schema of a query parameter whose values the handlers check against a fixed set or range
/// (the same lists and bounds the checks use).
fn parameter_rule(path: &str, name: &str) -> Option<serde_json::Value> {
    use rtcx_schemas::{Channel, Emotion, SentimentLabel};
    let names = |all: Vec<&'static str>| Some(json!({"type": "string", "enum": all}));
    match name {
        "channel" => names(Channel::ALL.iter().map(|c| c.as_str()).collect()),
        "sentiment" => names(SentimentLabel::ALL.iter().map(|s| s.as_str()).collect()),
        "emotion" => names(Emotion::ALL.iter().map(|e| e.as_str()).collect()),
        "interval" => names(crate::dashboard::INTERVALS.to_vec()),
        "min_score" | "max_score" => Some(json!({"type": "number", "minimum": -1, "maximum": 1})),
        "limit" if path == "/v1/feedback" => {
            Some(json!({"type": "integer", "minimum": 1, "maximum": crate::feedback::PAGE_MAX}))
        }
        "alert_type" if path == "/v1/alerts" => names(crate::alerts::type_names()),
        "severity" if path == "/v1/alerts" => names(crate::alerts::severity_names()),
        "status" if path == "/v1/alerts" => names(crate::alerts::status_names()),
        "assignee" if path == "/v1/alerts" => {
            Some(json!({"type": "string", "pattern": crate::alerts::ASSIGNEE_PATTERN}))
        }
        "limit" if path == "/v1/alerts" => {
            Some(json!({"type": "integer", "minimum": 1, "maximum": crate::alerts::PAGE_MAX}))
        }
        "limit" if path == "/v1/feedback/similar" => {
            Some(json!({"type": "integer", "minimum": 1, "maximum": crate::similar::MAX_NEIGHBOURS}))
        }
        "min_similarity" => Some(json!({"type": "number", "minimum": -1, "maximum": 1})),
        "limit" if path == "/v1/feedback/export" => {
            Some(json!({"type": "integer", "minimum": 1, "maximum": crate::feedback::EXPORT_MAX_ROWS}))
        }
        _ => None,
    }
}

/// Applies `f` to the schema of `property` in the component schema `schema` and in each of its
/// `oneOf` variants (a tagged enum), where they exist.
fn patch_property(
    schemas: &mut serde_json::Value,
    schema: &str,
    property: &str,
    f: impl Fn(&mut serde_json::Map<String, serde_json::Value>),
) {
    if let Some(p) = schema_property(schemas, schema, property) {
        f(p);
    }
    let variants = schemas.pointer_mut(&format!("/{schema}/oneOf")).and_then(|v| v.as_array_mut());
    for variant in variants.into_iter().flatten() {
        if let Some(p) = variant.pointer_mut(&format!("/properties/{property}")).and_then(|p| p.as_object_mut()) {
            f(p);
        }
    }
}

/// The schema of `property` in the component schema `schema`, when both exist.
fn schema_property<'a>(
    schemas: &'a mut serde_json::Value,
    schema: &str,
    property: &str,
) -> Option<&'a mut serde_json::Map<String, serde_json::Value>> {
    schemas.pointer_mut(&format!("/{schema}/properties/{property}")).and_then(|p| p.as_object_mut())
}

/// Adds `pattern` to every string schema that has no format, enum, const or pattern.
fn add_string_pattern(v: &mut serde_json::Value, pattern: &str) {
    match v {
        serde_json::Value::Object(map) => {
            let is_string = match map.get("type") {
                Some(serde_json::Value::String(t)) => t == "string",
                Some(serde_json::Value::Array(ts)) => ts.iter().any(|t| t == "string"),
                _ => false,
            };
            let constrained = ["format", "enum", "const", "pattern"].iter().any(|k| map.contains_key(*k));
            if is_string && !constrained {
                map.insert("pattern".into(), json!(pattern));
            }
            for (key, item) in map.iter_mut() {
                // Examples are data, not schemas.
                if key != "example" && key != "examples" {
                    add_string_pattern(item, pattern);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|i| add_string_pattern(i, pattern)),
        _ => {}
    }
}

/// States once, for every operation it applies to, what all of them share: the time range
/// parameters, and the answer cache for the operations marked `x-rtcx-cached` (the marker is
/// consumed here).
fn describe_shared_behaviour(op: &mut Operation) {
    let mut notes = Vec::new();
    if op.parameters.iter().flatten().any(|p| matches!(p, RefOr::T(p) if p.name == "range")) {
        notes.push(
            "Time range: `range` = 1h, 24h (default), 7d, 30d or 90d, or explicit `from` / `to` (RFC 3339, at most \
             400 days, between 2000-01-01 and 2100-01-01).",
        );
    }
    if op.extensions.as_mut().and_then(|e| e.remove(CACHED_EXTENSION)).is_some() {
        notes.push("Answers are cached for a few seconds (`RTCX_QUERY_CACHE_TTL_MS`).");
    }
    if notes.is_empty() {
        return;
    }
    add_to_description(op, notes.join(" "), true);
}

/// Puts `text` before (`first`) or after the operation's own description.
fn add_to_description(op: &mut Operation, text: String, first: bool) {
    op.description = Some(match op.description.take().filter(|d| !d.is_empty()) {
        Some(d) if first => format!("{text} {d}"),
        Some(d) => format!("{d}\n\n{text}"),
        None => text,
    });
}

/// Adds a reference to the reusable response `name` under `status` (unless one is there).
fn add_response(op: &mut Operation, status: u16, name: &str) {
    op.responses.responses.entry(status.to_string()).or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
}

/// `400`: malformed JSON, or a field that breaks a rule.
#[derive(ToResponse)]
#[response(
    description = "The body is not JSON of the expected shape (`malformed_json`), or a field or query parameter \
breaks a rule (`validation_failed`; `details` maps each field path to its message).",
    examples(
        ("validation_failed" = (value = json!({"error": {"code": "validation_failed", "message": "validation failed",
            "details": {"range": "must be 1h, 24h, 7d, 30d or 90d"}}}))),
        ("malformed_json" = (value = json!({"error": {"code": "malformed_json",
            "message": "malformed JSON: Failed to deserialize the JSON body into the target type: missing field `email`"}}))),
    )
)]
pub struct BadRequest(pub ErrorBody);

/// `401`: no valid access token, or wrong credentials.
#[derive(ToResponse)]
#[response(
    description = "Missing, invalid or expired access token, an ended session, wrong credentials, or an unknown, \
used or expired refresh / reset token.",
    example = json!({"error": {"code": "unauthorized", "message": "invalid or expired token"}})
)]
pub struct Unauthorized(pub ErrorBody);

/// `403`: the caller's role may not use this route.
#[derive(ToResponse)]
#[response(
    description = "The caller's role may not use this route.",
    example = json!({"error": {"code": "forbidden", "message": "your role may not do this"}})
)]
pub struct Forbidden(pub ErrorBody);

/// `404`: no such resource.
#[derive(ToResponse)]
#[response(
    description = "No such resource (or not the caller's).",
    example = json!({"error": {"code": "not_found", "message": "topic not found"}})
)]
pub struct NotFound(pub ErrorBody);

/// `409`: the change conflicts with stored state.
#[derive(ToResponse)]
#[response(
    description = "The change conflicts with what is stored (a taken name or email, the last administrator, a topic \
still referenced by feedback).",
    example = json!({"error": {"code": "conflict", "message": "email already registered"}})
)]
pub struct Conflict(pub ErrorBody);

/// `413`: the body is over the limit.
#[derive(ToResponse)]
#[response(
    description = "The request body is over 64 KiB.",
    example = json!({"error": {"code": "payload_too_large", "message": "length limit exceeded"}})
)]
pub struct PayloadTooLarge(pub ErrorBody);

/// `429`: too many attempts.
#[derive(ToResponse)]
#[response(
    description = "Too many failed logins for the account or from the client; retry after `Retry-After` seconds.",
    headers(("Retry-After" = u64, description = "Seconds to wait")),
    example = json!({"error": {"code": "rate_limited", "message": "too many attempts; retry in 840 s"}})
)]
pub struct RateLimited(pub ErrorBody);

/// An alert type, as the fields that take one document it (`rtcx_schemas::AlertType`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlertTypeName {
    SentimentSpike,
    HighVolumeNegative,
    TrendingTopic,
    ChannelPerformance,
    CustomerChurnRisk,
    SystemAnomaly,
}

/// An alert severity, as the fields that take one document it (`rtcx_schemas::AlertSeverity`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SeverityName {
    Low,
    Medium,
    High,
    Critical,
}

/// How often a digest is mailed (`rtcx_schemas::notifications::DigestFrequency`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "lowercase")]
pub enum DigestName {
    None,
    Daily,
    Weekly,
}

/// `429` of the live routes: too many live connections.
#[derive(ToResponse)]
#[response(
    description = "The user, or this instance, holds as many live connections (WebSocket and Server-Sent Events) as \
allowed; close one, or retry after `Retry-After` seconds.",
    headers(("Retry-After" = u64, description = "Seconds to wait")),
    example = json!({"error": {"code": "too_many_connections", "message": "you have as many live connections as allowed"}})
)]
pub struct TooManyConnections(pub ErrorBody);

/// `426`: a plain request to the WebSocket route.
#[derive(ToResponse)]
#[response(
    description = "Not a WebSocket upgrade request (GET with `Connection: upgrade`, `Upgrade: websocket`, \
`Sec-WebSocket-Version: 13` and a `Sec-WebSocket-Key`).",
    example = json!({"error": {"code": "upgrade_required", "message": "Connection header did not include 'upgrade'"}})
)]
pub struct UpgradeRequired(pub ErrorBody);

/// `503`: a backing store is unreachable.
#[derive(ToResponse)]
#[response(
    description = "Postgres or ClickHouse is unreachable (or the request ran past 30 s); retry after `Retry-After` \
seconds.",
    headers(("Retry-After" = u64, description = "Seconds to wait")),
    example = json!({"error": {"code": "unavailable", "message": "ClickHouse is unavailable"}})
)]
pub struct Unavailable(pub ErrorBody);

/// The document route and the docs UI, for `doc`.
pub fn routes<S: Clone + Send + Sync + 'static>(doc: Document) -> Router<S> {
    // The UI page loads its own scripts and styles; the API's `default-src 'none'` would block them.
    let csp = HeaderValue::from_static(
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
         connect-src 'self'; frame-ancestors 'none'",
    );
    Router::from(SwaggerUi::new(UI_PATH).url(DOCUMENT_PATH, doc))
        .layer(tower_http::set_header::SetResponseHeaderLayer::overriding(header::CONTENT_SECURITY_POLICY, csp))
}

/// The document as committed in `docs/openapi.json` (pretty, trailing newline).
pub fn to_pretty_json(doc: &Document) -> Result<String, serde_json::Error> {
    Ok(serde_json::to_string_pretty(doc)? + "\n")
}
