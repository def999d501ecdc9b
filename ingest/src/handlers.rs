//! The feedback endpoints.
//!
//! * `POST /v1/feedback`: one event (`application/json`); optional `Idempotency-Key` header.
//! * `POST /v1/feedback/batch`: a JSON array of up to 1 000 events (5 MB).
//! * `POST /v1/feedback/ndjson`: one event per line (`application/x-ndjson`), same limits.
//! * `POST /v1/public/feedback`: one anonymous event (no credentials, strict per-IP limit).
//!
//! Every endpoint answers 202 only after Kafka acknowledged every accepted event.
//!
//! **Partly invalid batches**: valid items are accepted and invalid ones rejected, each with
//! its index and error (a batch is a transport convenience, not a transaction: one bad item
//! from a form must not hold back 999 good ones). The answer is 202 when at least one item
//! was accepted, 400 when none was. Nothing invalid is ever produced. When Kafka fails to
//! acknowledge some items, the answer is 503 with the per-item outcome, so a client may retry
//! only the `failed` ones (ids derived from idempotency keys make retrying all of them safe).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use rtcx_schemas::validation::{ValidationCode, validate_submission};
use rtcx_schemas::{FeedbackEvent, FeedbackSubmission, ValidationError, ValidationErrors};
use serde::Serialize;
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{Principal, authenticate};
use crate::body::{MediaType, check_content_type, parse_event, read_body};
use crate::error::ApiError;
use crate::sink::SinkError;

type AppStateRef = State<Arc<AppState>>;

/// Answer of the single-event endpoints.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Accepted {
    /// The rtcx id of the event (derived from `external_id` / the idempotency key when given).
    pub id: Uuid,
}

/// One accepted item of a batch.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct AcceptedItem {
    /// 0-based index of the item (array position or NDJSON line).
    pub index: usize,
    pub id: Uuid,
}

/// One rejected (or failed) item of a batch.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct RejectedItem {
    /// 0-based index of the item (array position or NDJSON line).
    pub index: usize,
    /// `malformed_json`, `validation_failed` or `unavailable`.
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<ValidationError>>,
}

/// Answer of the batch and NDJSON endpoints.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct BatchResult {
    /// Items Kafka acknowledged.
    pub accepted: Vec<AcceptedItem>,
    /// Invalid items (never produced).
    pub rejected: Vec<RejectedItem>,
    /// Valid items Kafka did not acknowledge (retry them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<RejectedItem>,
}

fn endpoint_metrics(endpoint: &'static str, status: StatusCode) {
    metrics::counter!("rtcx_ingest_requests_total", "endpoint" => endpoint, "status" => status.as_u16().to_string())
        .increment(1);
}

fn rejected_metric(reason: &'static str, n: u64) {
    if n > 0 {
        metrics::counter!("rtcx_ingest_events_rejected_total", "reason" => reason).increment(n);
    }
}

fn retry_after_secs(d: std::time::Duration) -> u64 {
    d.as_secs_f64().ceil().max(1.0) as u64
}

/// Checks the per-IP request limit of the authenticated endpoints, then authenticates.
fn admit(app: &AppState, peer: SocketAddr, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let ip = app.client_ip(peer, headers);
    app.ip_limiter.check(&ip, 1.0).map_err(|d| ApiError::RateLimited { retry_after_secs: retry_after_secs(d) })?;
    authenticate(headers, &app.keys, app.jwt.as_ref())
}

/// Takes `events` tokens from the principal's bucket.
fn charge(app: &AppState, principal: &Principal, events: usize) -> Result<(), ApiError> {
    app.key_limiter
        .check(&principal.rate_key(), events as f64)
        .map_err(|d| ApiError::RateLimited { retry_after_secs: retry_after_secs(d) })
}

fn idempotency_header(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else { return Ok(None) };
    let v = v
        .to_str()
        .map_err(|_| ApiError::InvalidHeader { name: "Idempotency-Key", reason: "must be visible ASCII".into() })?
        .trim();
    if v.is_empty()
        || v.len() > rtcx_schemas::validation::limits::ID_MAX_CHARS
        || !v.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(ApiError::InvalidHeader {
            name: "Idempotency-Key",
            reason: "must have 1..=256 visible ASCII characters (no spaces)".into(),
        });
    }
    Ok(Some(v.to_owned()))
}

fn unavailable(app: &AppState, e: &SinkError) -> ApiError {
    ApiError::Unavailable { reason: format!("event not accepted: {e}"), retry_after_secs: app.unavailable_retry_after }
}

fn ensure_sink_available(app: &AppState) -> Result<(), ApiError> {
    if app.sink.is_available() {
        Ok(())
    } else {
        Err(ApiError::Unavailable {
            reason: "Kafka is unavailable; no event was accepted".into(),
            retry_after_secs: app.unavailable_retry_after,
        })
    }
}

fn record_usage(app: &AppState, principal: &Principal, accepted: usize, rejected: usize) {
    if let Principal::ApiKey(k) = principal {
        app.usage.record(k.id, &k.source, accepted as u64, rejected as u64);
    }
}

/// Parses, validates and produces one event.
async fn single(
    app: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
    body: Body,
    anonymous: bool,
) -> Result<Response, ApiError> {
    check_content_type(headers, MediaType::Json)?;
    let bytes = read_body(headers, body, app.limits.single_body_bytes).await?;
    let mut sub: FeedbackSubmission = parse_event(&bytes).map_err(ApiError::MalformedJson)?;
    if let Some(key) = idempotency_header(headers)? {
        match &sub.idempotency_key {
            Some(k) if *k != key => {
                return Err(ApiError::InvalidHeader {
                    name: "Idempotency-Key",
                    reason: "differs from the body's idempotency_key".into(),
                });
            }
            _ => sub.idempotency_key = Some(key),
        }
    }
    let now = Utc::now();
    validate_submission(&sub, now).map_err(|e| {
        rejected_metric("validation", 1);
        ApiError::Validation(e)
    })?;
    charge(app, principal, 1)?;
    ensure_sink_available(app)?;
    let event = FeedbackEvent::from_submission(sub, &principal.source(), now, anonymous);
    let results = app.sink.send_all(std::slice::from_ref(&event)).await;
    match results.into_iter().next() {
        Some(Ok(())) => {
            metrics::counter!("rtcx_ingest_events_accepted_total").increment(1);
            Ok((StatusCode::ACCEPTED, Json(Accepted { id: event.id })).into_response())
        }
        Some(Err(e)) => {
            rejected_metric(if e == SinkError::QueueFull { "queue_full" } else { "kafka_unavailable" }, 1);
            Err(unavailable(app, &e))
        }
        None => Err(ApiError::Internal("no delivery result".into())),
    }
}

/// `POST /v1/feedback`
pub async fn post_single(
    State(app): AppStateRef,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let principal = admit(&app, peer, &headers)?;
        let r = single(&app, &principal, &headers, body, false).await;
        record_usage(&app, &principal, usize::from(r.is_ok()), usize::from(r.is_err()));
        r
    }
    .await;
    finish("single", result)
}

/// `POST /v1/public/feedback`
pub async fn post_public(
    State(app): AppStateRef,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let ip = app.client_ip(peer, &headers);
        app.public_limiter
            .check(&ip, 1.0)
            .map_err(|d| ApiError::RateLimited { retry_after_secs: retry_after_secs(d) })?;
        single(&app, &Principal::Anonymous, &headers, body, true).await
    }
    .await;
    finish("public", result)
}

fn finish(endpoint: &'static str, result: Result<Response, ApiError>) -> Response {
    let resp = result.unwrap_or_else(IntoResponse::into_response);
    endpoint_metrics(endpoint, resp.status());
    resp
}

/// One item of a batch before validation: its raw JSON, or why it could not be split out.
type RawItem<'a> = (usize, Result<&'a RawValue, String>);

/// `POST /v1/feedback/batch`
pub async fn post_batch(
    State(app): AppStateRef,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = many_endpoint(&app, peer, &headers, body, MediaType::Json, |bytes| {
        let items: Vec<&RawValue> = parse_json_borrowed(bytes)
            .map_err(|e| ApiError::MalformedJson(format!("body must be a JSON array: {e}")))?;
        Ok(items.into_iter().enumerate().map(|(i, v)| (i, Ok(v))).collect())
    })
    .await;
    finish("batch", result)
}

/// `POST /v1/feedback/ndjson`
pub async fn post_ndjson(
    State(app): AppStateRef,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = many_endpoint(&app, peer, &headers, body, MediaType::Ndjson, |bytes| {
        let text = std::str::from_utf8(bytes)
            .map_err(|e| ApiError::MalformedJson(format!("NDJSON body is not UTF-8: {e}")))?;
        // Index = 0-based line number; blank lines are skipped.
        Ok(text
            .split('\n')
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, line)| {
                (i, serde_json::from_str::<&RawValue>(line.trim_end_matches('\r')).map_err(|e| e.to_string()))
            })
            .collect())
    })
    .await;
    finish("ndjson", result)
}

/// The shared path of the multi-event endpoints: admit, read the body, split it into items
/// with `split`, then validate and produce them.
async fn many_endpoint(
    app: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    body: Body,
    media: MediaType,
    split: impl for<'a> FnOnce(&'a [u8]) -> Result<Vec<RawItem<'a>>, ApiError>,
) -> Result<Response, ApiError> {
    let principal = admit(app, peer, headers)?;
    check_content_type(headers, media)?;
    let bytes = read_body(headers, body, app.limits.batch_body_bytes).await?;
    let raw = split(&bytes)?;
    many(app, &principal, raw).await
}

fn parse_json_borrowed(bytes: &[u8]) -> Result<Vec<&RawValue>, String> {
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}

/// Validates every item, produces the valid ones, and reports per item.
async fn many(app: &AppState, principal: &Principal, raw: Vec<RawItem<'_>>) -> Result<Response, ApiError> {
    if raw.is_empty() {
        return Err(ApiError::Validation(ValidationErrors(vec![ValidationError {
            field: "body".into(),
            code: ValidationCode::Empty,
            message: "the batch holds no events".into(),
        }])));
    }
    if raw.len() > app.limits.batch_max_events {
        return Err(ApiError::PayloadTooLarge(format!(
            "{} events in one request; at most {} allowed",
            raw.len(),
            app.limits.batch_max_events
        )));
    }
    let now = Utc::now();
    let source = principal.source();
    let mut events = Vec::with_capacity(raw.len());
    let mut indices = Vec::with_capacity(raw.len());
    let mut rejected = Vec::new();
    for (index, item) in raw {
        let parsed = item.and_then(|v| parse_event::<FeedbackSubmission>(v.get().as_bytes()));
        match parsed {
            Err(message) => {
                rejected.push(RejectedItem { index, code: "malformed_json", message, details: None });
            }
            Ok(sub) => match validate_submission(&sub, now) {
                Err(errors) => rejected.push(RejectedItem {
                    index,
                    code: "validation_failed",
                    message: errors.to_string(),
                    details: Some(errors.0),
                }),
                Ok(()) => {
                    events.push(FeedbackEvent::from_submission(sub, &source, now, false));
                    indices.push(index);
                }
            },
        }
    }
    rejected_metric("validation", rejected.len() as u64);
    if events.is_empty() {
        record_usage(app, principal, 0, rejected.len());
        let body = BatchResult { accepted: Vec::new(), rejected, failed: Vec::new() };
        return Ok((StatusCode::BAD_REQUEST, Json(body)).into_response());
    }
    charge(app, principal, events.len())?;
    ensure_sink_available(app)?;
    let results = app.sink.send_all(&events).await;
    let mut accepted = Vec::with_capacity(events.len());
    let mut failed = Vec::new();
    for ((ev, index), r) in events.iter().zip(indices).zip(results) {
        match r {
            Ok(()) => accepted.push(AcceptedItem { index, id: ev.id }),
            Err(e) => failed.push(RejectedItem { index, code: "unavailable", message: e.to_string(), details: None }),
        }
    }
    metrics::counter!("rtcx_ingest_events_accepted_total").increment(accepted.len() as u64);
    rejected_metric("kafka_unavailable", failed.len() as u64);
    record_usage(app, principal, accepted.len(), rejected.len() + failed.len());
    let status = if failed.is_empty() { StatusCode::ACCEPTED } else { StatusCode::SERVICE_UNAVAILABLE };
    let mut resp = (status, Json(BatchResult { accepted, rejected, failed })).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(app.unavailable_retry_after.max(1)));
    }
    Ok(resp)
}
