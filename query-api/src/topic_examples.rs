//! Topics defined by example: a topic's example messages and counter-examples
//! (`/v1/topics/{id}/examples`), corrections of an assignment that become examples
//! (`/v1/feedback/{id}/topics`), and what the processors measured of each topic
//! (`/v1/topics/{id}/quality`).
//!
//! The processors embed the examples and calibrate each topic's threshold from them; any
//! change here changes their catalogue fingerprint, so assignment follows within their
//! refresh interval (docs/models.md, "Topic assignment").

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{AuthUser, Permission};
use crate::error::ApiError;

/// Longest example text (characters); most examples in one request.
pub const EXAMPLE_MAX: usize = 2000;
pub const EXAMPLES_PER_REQUEST: usize = 200;

/// One example message of a topic (or, with `positive: false`, a counter-example).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(example = json!({"id": "0190f5c9-3d4e-7f50-8a61-72839405a6b7", "topic_id": "0190f5c3-1a2b-7c3d-8e4f-5a6b7c8d9e0f", "text": "Tracking has said out for delivery for three days.", "positive": true, "source": "USER", "feedback_id": null, "created_at": "2026-12-01T09:00:00Z"}))]
pub struct TopicExample {
    pub id: Uuid,
    pub topic_id: Uuid,
    pub text: String,
    /// False: a counter-example, a message that is not about the topic.
    pub positive: bool,
    /// `USER` (added here), `SUGGESTION` (from an accepted suggestion), `CORRECTION` (from a
    /// correction of a feedback's topics).
    pub source: String,
    /// The feedback a correction or suggestion example came from.
    pub feedback_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, topic_id, text, positive, source, feedback_id, created_at";

/// A message to add.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewExample {
    pub text: String,
    /// False: a counter-example. Default true.
    #[serde(default = "yes")]
    pub positive: bool,
}

fn yes() -> bool {
    true
}

/// Messages to add to a topic.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"examples": [{"text": "Tracking has said out for delivery for three days."}, {"text": "How long does delivery to Ireland take?", "positive": false}]}))]
pub struct NewExamples {
    pub examples: Vec<NewExample>,
}

async fn topic_exists(app: &AppState, id: Uuid) -> Result<(), ApiError> {
    let found: Option<bool> =
        sqlx::query_scalar("SELECT true FROM topics WHERE id = $1").bind(id).fetch_optional(&app.pg).await?;
    found.map(|_| ()).ok_or(ApiError::NotFound("topic"))
}

fn check_text(field: &str, text: &str, errors: &mut Vec<(String, String)>) {
    if !crate::text_input::name_ok(text, EXAMPLE_MAX) {
        errors.push((field.to_owned(), format!("must have 1..={EXAMPLE_MAX} characters, something visible")));
    }
}

/// Inserts or updates (same topic and text) one example.
async fn upsert(
    tx: &mut sqlx::PgConnection,
    topic: Uuid,
    (text, positive): (&str, bool),
    (source, feedback_id, user): (&str, Option<Uuid>, Uuid),
) -> Result<TopicExample, ApiError> {
    Ok(sqlx::query_as(&format!(
        "INSERT INTO topic_examples (topic_id, text, positive, source, feedback_id, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (topic_id, md5(text)) DO UPDATE SET positive = EXCLUDED.positive, source = EXCLUDED.source, \
         feedback_id = COALESCE(EXCLUDED.feedback_id, topic_examples.feedback_id), created_by = EXCLUDED.created_by \
         RETURNING {COLUMNS}"
    ))
    .bind(topic)
    .bind(text)
    .bind(positive)
    .bind(source)
    .bind(feedback_id)
    .bind(user)
    .fetch_one(tx)
    .await?)
}

/// `GET /v1/topics/{id}/examples`.
#[utoipa::path(
    get,
    path = "/v1/topics/{id}/examples",
    tag = "topics",
    operation_id = "topic_examples_list",
    summary = "A topic's example messages and counter-examples",
    params(("id" = Uuid, Path, description = "Topic id")),
    responses((status = 200, description = "Oldest first", body = Vec<TopicExample>), (status = 404, response = crate::openapi::NotFound)),
    extensions(("x-rtcx-permission" = json!("read_analytics")))
)]
pub async fn list(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<Vec<TopicExample>>, ApiError> {
    user.require(Permission::ReadAnalytics)?;
    topic_exists(&app, id).await?;
    let rows =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM topic_examples WHERE topic_id = $1 ORDER BY created_at, id"))
            .bind(id)
            .fetch_all(&app.pg)
            .await?;
    Ok(Json(rows))
}

/// `POST /v1/topics/{id}/examples`: adds messages (the same text again updates its row).
#[utoipa::path(
    post,
    path = "/v1/topics/{id}/examples",
    tag = "topics",
    operation_id = "topic_examples_add",
    summary = "Add example messages or counter-examples to a topic",
    description = "Up to 200 per request; a text the topic already has updates that example (e.g. turns it into a counter-example). With four or more examples a topic's threshold is calibrated from them.",
    params(("id" = Uuid, Path, description = "Topic id")),
    request_body = NewExamples,
    responses((status = 201, description = "The examples as stored", body = Vec<TopicExample>), (status = 400, response = crate::openapi::BadRequest), (status = 404, response = crate::openapi::NotFound)),
    extensions(("x-rtcx-permission" = json!("manage_topics")))
)]
pub async fn add(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    body: Result<Json<NewExamples>, JsonRejection>,
) -> Result<(StatusCode, Json<Vec<TopicExample>>), ApiError> {
    user.require(Permission::ManageTopics)?;
    let Json(b) = body?;
    let mut errors = Vec::new();
    if b.examples.is_empty() || b.examples.len() > EXAMPLES_PER_REQUEST {
        errors.push(("examples".to_owned(), format!("1..={EXAMPLES_PER_REQUEST} examples")));
    }
    for (i, e) in b.examples.iter().enumerate() {
        check_text(&format!("examples[{i}].text"), &e.text, &mut errors);
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    topic_exists(&app, id).await?;
    let mut tx = app.pg.begin().await?;
    let mut out = Vec::with_capacity(b.examples.len());
    for e in &b.examples {
        out.push(upsert(&mut tx, id, (e.text.trim(), e.positive), ("USER", None, user.id)).await?);
    }
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(out)))
}

/// `DELETE /v1/topics/{id}/examples/{example_id}`.
#[utoipa::path(
    delete,
    path = "/v1/topics/{id}/examples/{example_id}",
    tag = "topics",
    operation_id = "topic_examples_remove",
    summary = "Remove an example from a topic",
    params(("id" = Uuid, Path, description = "Topic id"), ("example_id" = Uuid, Path, description = "Example id")),
    responses((status = 204, description = "Done"), (status = 404, response = crate::openapi::NotFound)),
    extensions(("x-rtcx-permission" = json!("manage_topics")))
)]
pub async fn remove(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path((id, example)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    user.require(Permission::ManageTopics)?;
    let r = sqlx::query("DELETE FROM topic_examples WHERE id = $1 AND topic_id = $2")
        .bind(example)
        .bind(id)
        .execute(&app.pg)
        .await?;
    if r.rows_affected() == 1 { Ok(StatusCode::NO_CONTENT) } else { Err(ApiError::NotFound("example")) }
}

/// A correction of one feedback's topics.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"topic_id": "0190f5c3-1a2b-7c3d-8e4f-5a6b7c8d9e0f", "about": false}))]
pub struct Correction {
    pub topic_id: Uuid,
    /// True: the feedback is about the topic (it becomes an example); false: it is not (a
    /// counter-example).
    pub about: bool,
}

/// `POST /v1/feedback/{id}/topics`: "this feedback is (not) about that topic". The feedback's
/// text becomes an example or counter-example of the topic; the assignment of new feedback
/// follows once the processors reload their catalogue.
#[utoipa::path(
    post,
    path = "/v1/feedback/{id}/topics",
    tag = "topics",
    operation_id = "topic_examples_correct",
    summary = "Correct a feedback's topics",
    description = "The feedback's text becomes an example (`about: true`) or a counter-example (`about: false`) of the topic; correcting the same feedback again replaces the earlier correction. Stored feedback keeps its topics: the correction teaches the assignment of new feedback.",
    params(("id" = Uuid, Path, description = "Feedback id")),
    request_body = Correction,
    responses((status = 201, description = "The example made from the feedback", body = TopicExample), (status = 400, response = crate::openapi::BadRequest), (status = 404, response = crate::openapi::NotFound)),
    extensions(("x-rtcx-permission" = json!("manage_topics")))
)]
pub async fn correct(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path(feedback): Path<Uuid>,
    body: Result<Json<Correction>, JsonRejection>,
) -> Result<(StatusCode, Json<TopicExample>), ApiError> {
    user.require(Permission::ManageTopics)?;
    let Json(c) = body?;
    topic_exists(&app, c.topic_id).await?;
    let text: Option<String> = app
        .ch
        .query("SELECT text FROM feedback WHERE id = toUUID(?) LIMIT 1")
        .bind(feedback.to_string())
        .fetch_optional()
        .await
        .map_err(ApiError::from)?;
    let text = text.ok_or(ApiError::NotFound("feedback"))?;
    let text: String = text.trim().chars().take(EXAMPLE_MAX).collect();
    if text.is_empty() {
        return Err(ApiError::invalid("id", "the feedback has no text to learn from"));
    }
    let mut tx = app.pg.begin().await?;
    let example = upsert(&mut tx, c.topic_id, (&text, c.about), ("CORRECTION", Some(feedback), user.id)).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(example)))
}

/// What is known of how well a topic is defined.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"topic_id": "0190f5c3-1a2b-7c3d-8e4f-5a6b7c8d9e0f", "examples": 24, "counter_examples": 3, "corrections": 5, "threshold": 0.41, "calibration": "LEAVE_ONE_OUT", "estimated_recall": 0.9, "estimated_precision": 0.83, "confused_with": "0190f5c3-7a2b-7c3d-8e4f-5a6b7c8d9e10", "confusion": 0.125, "feedback_last_30_days": 1840, "model_version": "59e9caba801d-int8", "measured_at": "2026-12-01T09:00:30Z", "advice": ["Its examples are often closer to another topic: add examples that tell them apart, or counter-examples."]}))]
pub struct TopicQuality {
    pub topic_id: Uuid,
    /// Example messages and counter-examples stored (corrections included).
    pub examples: i64,
    pub counter_examples: i64,
    /// Of those, the ones made from corrections.
    pub corrections: i64,
    /// The score a feedback needs, as the processors last loaded the topic (null before
    /// they have).
    pub threshold: Option<f32>,
    /// `LEAVE_ONE_OUT` (calibrated from the examples) or `DEFAULT` (too few examples).
    pub calibration: Option<String>,
    /// Leave-one-out estimates: the share of its examples the topic would take, and of what
    /// it would take among the catalogue's examples, the share that is its own.
    pub estimated_recall: Option<f32>,
    pub estimated_precision: Option<f32>,
    /// The topic its examples are most often closer to, and the share of its examples that
    /// are.
    pub confused_with: Option<Uuid>,
    pub confusion: Option<f32>,
    /// Feedback assigned to the topic over the last 30 days.
    pub feedback_last_30_days: u64,
    pub model_version: Option<String>,
    pub measured_at: Option<DateTime<Utc>>,
    /// What would make the topic more reliable.
    pub advice: Vec<String>,
}

#[derive(sqlx::FromRow)]
struct QualityRow {
    examples: i64,
    counter_examples: i64,
    corrections: i64,
    threshold: Option<f32>,
    calibration: Option<String>,
    recall: Option<f32>,
    precision: Option<f32>,
    confused_with: Option<Uuid>,
    confusion: Option<f32>,
    model_version: Option<String>,
    measured_at: Option<DateTime<Utc>>,
}

/// Examples a topic needs before its threshold is calibrated (the processors' rule).
const CALIBRATION_EXAMPLES: i64 = 4;

fn advice(q: &QualityRow) -> Vec<String> {
    let mut out = Vec::new();
    if q.examples < CALIBRATION_EXAMPLES {
        out.push(format!(
            "Add example messages: with {CALIBRATION_EXAMPLES} or more the topic gets its own threshold; 20 measurably improve assignment."
        ));
    } else if q.examples < 20 {
        out.push("More example messages (20 or more) make assignment more reliable.".to_owned());
    }
    if q.recall.is_some_and(|r| r < 0.8) {
        out.push("Its examples are varied: the topic may be too broad, consider splitting it.".to_owned());
    }
    if q.confusion.is_some_and(|c| c >= 0.1) {
        out.push(
            "Its examples are often closer to another topic: add examples that tell them apart, or counter-examples."
                .to_owned(),
        );
    }
    out
}

/// `GET /v1/topics/{id}/quality`.
#[utoipa::path(
    get,
    path = "/v1/topics/{id}/quality",
    tag = "topics",
    operation_id = "topic_examples_quality",
    summary = "How well a topic is defined",
    description = "Examples and corrections, the threshold the processors use and how they set it, leave-one-out estimates of recall and precision, the topic its examples are mistaken for, volume, and advice.",
    params(("id" = Uuid, Path, description = "Topic id")),
    responses((status = 200, body = TopicQuality), (status = 404, response = crate::openapi::NotFound)),
    extensions(("x-rtcx-permission" = json!("read_analytics")))
)]
pub async fn quality(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<TopicQuality>, ApiError> {
    user.require(Permission::ReadAnalytics)?;
    topic_exists(&app, id).await?;
    let q: QualityRow = sqlx::query_as(
        "SELECT (SELECT count(*) FROM topic_examples WHERE topic_id = $1 AND positive) AS examples, \
         (SELECT count(*) FROM topic_examples WHERE topic_id = $1 AND NOT positive) AS counter_examples, \
         (SELECT count(*) FROM topic_examples WHERE topic_id = $1 AND source = 'CORRECTION') AS corrections, \
         q.threshold, q.calibration, q.recall, q.precision, q.confused_with, q.confusion, q.model_version, q.measured_at \
         FROM (SELECT 1) one LEFT JOIN topic_quality q ON q.topic_id = $1",
    )
    .bind(id)
    .fetch_one(&app.pg)
    .await?;
    let volume = app
        .ch
        .query(
            "SELECT toUInt64(ifNull(sum(feedback_count), 0)) FROM feedback_topic_daily \
             WHERE topic_id = toUUID(?) AND day >= today() - 30",
        )
        .bind(id.to_string())
        .fetch_one::<u64>()
        .await
        .map_err(ApiError::from)?;
    Ok(Json(TopicQuality {
        topic_id: id,
        advice: advice(&q),
        examples: q.examples,
        counter_examples: q.counter_examples,
        corrections: q.corrections,
        threshold: q.threshold,
        calibration: q.calibration,
        estimated_recall: q.recall,
        estimated_precision: q.precision,
        confused_with: q.confused_with,
        confusion: q.confusion,
        feedback_last_30_days: volume,
        model_version: q.model_version,
        measured_at: q.measured_at,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(examples: i64, recall: Option<f32>, confusion: Option<f32>) -> QualityRow {
        QualityRow {
            examples,
            counter_examples: 0,
            corrections: 0,
            threshold: None,
            calibration: None,
            recall,
            precision: None,
            confused_with: None,
            confusion,
            model_version: None,
            measured_at: None,
        }
    }

    #[test]
    fn advice_follows_the_figures() {
        assert!(advice(&row(0, None, None))[0].contains("own threshold"));
        assert!(advice(&row(10, Some(0.9), Some(0.0)))[0].contains("20 or more"));
        assert!(advice(&row(30, Some(0.95), Some(0.05))).is_empty());
        let a = advice(&row(30, Some(0.6), Some(0.3)));
        assert!(a.iter().any(|s| s.contains("splitting")) && a.iter().any(|s| s.contains("another topic")));
    }
}
